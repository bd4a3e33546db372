// Migration to the other vendor (ABI-FACTS §1.3, §3.3, pvio spec §7): hypercall pages are rewritten before the
// guest runs again, so calls through them need no #UD patching on the new vendor.
import { describe, expect, it } from 'vitest';
import { Hypervisor } from '../src/hypervisor/compose.js';
import { HypervPersonality } from '../src/hypervisor/hyperv.js';
import { KvmPersonality } from '../src/hypervisor/kvm.js';
import { PvioPersonality } from '../src/hypervisor/pvio.js';
import { XenPersonality } from '../src/hypervisor/xen.js';
import { Vm } from '../src/vm.js';
import { ENABLE_HV, VENDORS, guest, hasNasm, reg, runTo } from './hv-util.js';

if (!hasNasm) console.warn('nasm missing: migration tests skipped');

const calls = `
  mov rcx, 0x7777
  xor edx, edx
  xor r8, r8
  call 0x20000          ; Hyper-V page: unknown call code -> 2
  mov r12, rax
  mov eax, 0x50560000
  call 0x21000          ; pvio page: reserved number -> -38
  mov r13, rax`;

describe.skipIf(!hasNasm)('migration to the other vendor', () => {
  for (const from of VENDORS) {
    const to = from === 'intel' ? 'amd' : 'intel';
    it(`${from} -> ${to}: Hyper-V overlay and pvio page rewritten; no #UD patching after the move`, () => {
      const src = `
        ${ENABLE_HV}
        mov ecx, 0x50564900
        mov eax, 0x21001
        wrmsr
        ${calls}
        hlt
        ${calls}
        hlt`;
      const vm = guest(src, from);
      const hvsr = new Hypervisor([new HypervPersonality(), new KvmPersonality({ base: 0x40000100 }), new PvioPersonality({ base: 0x40000200 })]);
      hvsr.attach(vm);
      runTo(vm);
      expect([reg(vm, 'r12'), reg(vm, 'r13')]).toEqual([2n, BigInt.asUintN(64, -38n)]);
      const vm2 = Vm.restore(vm.snapshot(), {
        vendor: to,
        onVendorChange: (nvm, _f, t) => {
          hvsr.attach(nvm);
          hvsr.onVendorChange(t);
        },
      });
      vm2.vcpus[0]!.halted = false;
      vm2.vcpus[0]!.setReg('r12', 0n);
      vm2.vcpus[0]!.setReg('r13', 0n);
      runTo(vm2);
      expect([reg(vm2, 'r12'), reg(vm2, 'r13')]).toEqual([2n, BigInt.asUintN(64, -38n)]);
      const native = to === 'intel' ? [0x0f, 0x01, 0xc1] : [0x0f, 0x01, 0xd9];
      expect([...vm2.memory.readBytes(0x20000, 3)]).toEqual(native);
      expect([...vm2.memory.readBytes(0x21000, 3)]).toEqual(native);
      expect(vm2.patches).toEqual([]);
    });

    it(`${from} -> ${to}: every slot of the Xen hypercall page rewritten`, () => {
      const src = 'mov ecx, 0x40000000\nmov eax, 0x20000\nxor edx, edx\nwrmsr\nhlt\nmov eax, 0\nxor edi, edi\ncall 0x20220\nhlt';
      const vm = guest(src, from);
      const xen = new XenPersonality();
      xen.attach(vm);
      runTo(vm);
      const vm2 = Vm.restore(vm.snapshot(), { vendor: to, onVendorChange: (nvm, _f, t) => { xen.attach(nvm); xen.onVendorChange(t); } });
      vm2.vcpus[0]!.halted = false;
      runTo(vm2);
      expect(reg(vm2, 'rax')).toBe(0x40011n);
      const native = to === 'intel' ? [0x0f, 0x01, 0xc1] : [0x0f, 0x01, 0xd9];
      for (let i = 0; i < 128; i++) if (i !== 23) expect([...vm2.memory.readBytes(0x20000 + i * 32 + 5, 3)]).toEqual(native);
      expect(vm2.patches).toEqual([]);
    });
  }

  it('state() survives JSON: fresh personalities on the restored VM keep MSRs, the overlay and the doorbell table', () => {
    const src = `
        ${ENABLE_HV}
      mov ecx, 0x4b564d01
      mov eax, 0x30001
      wrmsr
      mov eax, 0x50560003
      mov rbx, 0x00e0000000000600   ; 4-byte port write to 0x600 (size 2^2, write, pio)
      xor ecx, ecx
      vmcall
      hlt
      mov ecx, 0x4b564d01
      rdmsr
      mov r12, rax
      mov ecx, 0x40000001
      rdmsr
      mov r13, rax
      mov eax, 0x50560004
      mov ebx, 1
      mov ecx, 0x55
      vmcall
      hlt`;
    const make = () => new Hypervisor([new HypervPersonality(), new KvmPersonality({ base: 0x40000100 }), new PvioPersonality({ base: 0x40000200 })]);
    const vm = guest(src, 'intel');
    const a = make();
    a.attach(vm);
    runTo(vm);
    expect([reg(vm, 'rax'), reg(vm, 'rcx')]).toEqual([0n, 1n]); // doorbell registered as id 1
    const snap = JSON.parse(JSON.stringify(vm.snapshot(a.state())));
    const b = make();
    const outs: number[] = [];
    const vm2 = Vm.restore(snap, {
      vendor: 'amd',
      onVendorChange: (nvm, _f, t) => {
        b.loadState(snap.extra);
        b.attach(nvm);
        b.onVendorChange(t);
        (nvm as Vm).router = { pioRead: () => undefined, pioWrite: (_p, _s, v) => (outs.push(v), true), mmioRead: () => undefined, mmioWrite: () => false };
      },
    });
    vm2.vcpus[0]!.halted = false;
    runTo(vm2);
    expect(reg(vm2, 'r12')).toBe(0x30001n);
    expect(reg(vm2, 'r13')).toBe(0x20001n);
    expect(reg(vm2, 'rax')).toBe(0n); // the doorbell id 1 still rings
    expect(outs).toEqual([0x55]);
    expect([...vm2.memory.readBytes(0x20000, 3)]).toEqual([0x0f, 0x01, 0xd9]);
  });
});
