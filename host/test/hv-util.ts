// Helpers for the personality tests: guest code assembled with the real nasm, run on a VM until HLT.
import { CODE, hasNasm, nasm, vmWith } from './cpu-util.js';
import type { Vm, VmOptions } from '../src/vm.js';
import type { Exit } from '../src/exits.js';
import type { Vendor } from '../src/cpu/types.js';

export { CODE, hasNasm, nasm };
export const VENDORS: readonly Vendor[] = ['intel', 'amd'];

/** Enable Hyper-V hypercalls: GUEST_OS_ID (open source, Linux) first, then HYPERCALL = page 0x20000 | enable (TLFS 4.2). */
export const ENABLE_HV = `
  mov ecx, 0x40000000
  mov eax, 0x00060000
  mov edx, 0x81000000
  wrmsr
  mov ecx, 0x40000001
  mov eax, 0x20001
  xor edx, edx
  wrmsr`;

/** The vendor's native hypercall mnemonic (VMCALL Intel, VMMCALL AMD; ABI-FACTS §1.2). */
export const native = (v: Vendor): string => (v === 'intel' ? 'vmcall' : 'vmmcall');

/** Assemble `src` (with `HC` replaced by the native hypercall) and build a VM for the vendor/mode. */
export function guest(src: string, vendor: Vendor, bits: 64 | 32 = 64, opts: VmOptions = {}): Vm {
  const code = nasm(src.replaceAll('HC', native(vendor)), bits, CODE);
  return vmWith(code, { vendor, mode: bits === 64 ? 'long64' : 'prot32', ...opts });
}

/** Run until an exit that is not a handled one; fails the test on anything but the expected kind. */
export function runTo(vm: Vm, kind: Exit['kind'] = 'Hlt'): Exit {
  const e = vm.run({ budget: 5_000_000 });
  if (e.kind !== kind) throw new Error(`expected ${kind}, got ${JSON.stringify(e, (_k, x) => (typeof x === 'bigint' ? `0x${x.toString(16)}` : x))}`);
  return e;
}

export const reg = (vm: Vm, r: Parameters<Vm['vcpus'][number]['getReg']>[0], id = 0): bigint => vm.vcpus[id]!.getReg(r);
