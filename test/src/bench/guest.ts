// Small helpers to put an assembled guest program into a VM: RAM at the image origin, a stack, RIP at entry.
import { toBinary, type Image } from '@pvkit/guest-sdk';
import { Vm, type VmOptions } from '@pvkit/host';

export const CODE_BASE = 0x10000n;
export const RAM_SIZE = 0x100000; // 1 MiB at 0: code at 64 KiB, stack below 1 MiB

export function loadGuest(img: Image, opts: VmOptions = {}): Vm {
  const vm = new Vm(opts);
  vm.memory.addRam(0, RAM_SIZE);
  vm.memory.writeBytes(img.origin, toBinary(img));
  const entry = img.symbols.find((s) => s.name === 'entry');
  for (const v of vm.vcpus) {
    v.rip = img.origin + BigInt(entry?.offset ?? 0);
    v.setReg('rsp', BigInt(RAM_SIZE - 0x1000 * (v.id + 1)));
  }
  return vm;
}
