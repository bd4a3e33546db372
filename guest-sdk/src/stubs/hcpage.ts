// Hypercall-page setup: the MSR write that makes the hypervisor fill a guest page with its call stub.
//  xen    : MSR index = CPUID leaf base+2 EBX; value = page GPA | page index 0 (xen/arch/x86/msr.c
//           guest_wrmsr_xen); calls go to page + nr*32 (xen-x86_64.h).
//  hyperv : HV_X64_MSR_GUEST_OS_ID first (the HYPERCALL MSR stays disabled while it is 0, TLFS "Establishing
//           the Hypercall Interface"), then HV_X64_MSR_HYPERCALL = GPA | enable; calls go to page + 0.
//  leaf   : pvio: MSR index = leaf base+2 EAX, value GPA | enable (pvio spec §7); page + 0.
//  fixed  : a user ABI: its first MSR with a `gpa` field, plus its `enable` flag when it has one; page + 0.

import { AbiError, HV_X64_MSR, type AbiDefinition } from '@pvkit/shared-abi';
import type { Asm } from '../x86/asm.js';
import { type Mem, dword } from '../x86/operands.js';
import { CFunc, reg } from './cabi.js';
import { dataRef, names } from './names.js';

export type PageStyle =
  | { readonly kind: 'xen'; readonly slotSize: 32 }
  | { readonly kind: 'hyperv'; readonly slotSize: 0; readonly guestOsIdMsr: number; readonly hypercallMsr: number }
  | { readonly kind: 'leaf'; readonly slotSize: 0; readonly leaf: 2; readonly enable: bigint }
  | { readonly kind: 'fixed'; readonly slotSize: 0; readonly msr: number; readonly enable: bigint };

export function pageStyle(abi: AbiDefinition): PageStyle {
  if (abi.name === 'xen') return { kind: 'xen', slotSize: 32 }; // xen-x86_64.h: hypercall_page + nr * 32
  if (abi.name === 'hyperv') return { kind: 'hyperv', slotSize: 0, guestOsIdMsr: HV_X64_MSR.GUEST_OS_ID, hypercallMsr: HV_X64_MSR.HYPERCALL };
  if (abi.name === 'pvio') return { kind: 'leaf', slotSize: 0, leaf: 2, enable: 1n }; // pvio spec §7: leaf base+2 EAX, bit 0 enable
  const msr = abi.msrs.find((m) => m.layout.some((f) => f.kind === 'gpa'));
  if (!msr) {
    throw new AbiError([{ path: `${abi.name}.msrs`, value: abi.msrs.map((m) => m.name), message: `ABI ${abi.name} has no MSR with a 'gpa' field to place a hypercall page, so strategy hcpage cannot work` }]);
  }
  const en = msr.layout.find((f) => f.kind === 'flag' && f.name === 'enable');
  return { kind: 'fixed', slotSize: 0, msr: msr.index, enable: en ? 1n << BigInt(en.lsb) : 0n };
}

export const HCPAGE_SETUP_PARAMS = [
  { name: 'base', ctype: 'uint32_t' }, { name: 'page', ctype: 'ptr' }, { name: 'gpa', ctype: 'uint64_t' }, { name: 'guest_os_id', ctype: 'uint64_t' },
] as const;

/**
 * `uint32_t pvkit_<abi>_hcpage_setup(uint32_t base, void *page, uint64_t gpa, uint64_t guest_os_id)`:
 * remembers `page` (its address as mapped, which the stubs call) and writes the MSR(s) with `gpa`
 * (its guest-physical address). `base` is pvkit_detect.base; guest_os_id is used by Hyper-V only. Returns 0.
 */
export function emitHcpageSetup(a: Asm, abi: AbiDefinition): void {
  const st = pageStyle(abi);
  const n = names(abi);
  const f = new CFunc(a, HCPAGE_SETUP_PARAMS);
  const w = a.bits === 64;
  const eax = reg('eax'), ebx = reg('ebx'), ecx = reg('ecx'), edx = reg('edx');
  a.global(n.hcpageSetup).label(n.hcpageSetup);
  f.save([ebx.num]);
  // Load (lo, hi) of a u64 parameter into eax/edx, and the wrmsr around it.
  const load64 = (i: number, or: bigint): void => {
    if (w) {
      a.mov(reg('rax'), reg(i === 2 ? 'r8' : 'r9'));
      if (or) a.or(reg('rax'), Number(or));
      a.mov(reg('rdx'), reg('rax')).shr(reg('rdx'), 32);
    } else {
      const l = f.loc(i) as { mem: Mem; hiMem: Mem };
      a.mov(eax, dword(l.mem)).mov(edx, dword(l.hiMem));
      if (or) a.or(eax, Number(or));
    }
  };
  const baseTo = (r: typeof eax): void => {
    const l = f.loc(0);
    if ('reg' in l) a.mov(r, reg('edi'));
    else a.mov(r, dword(l.mem));
  };
  // Remember the page pointer; keep gpa/os-id out of rdx/rcx, which cpuid and wrmsr use.
  if (w) {
    a.mov(dataRef(a, n.hcpageVar), reg('rsi'));
    a.mov(reg('r8'), reg('rdx')).mov(reg('r9'), reg('rcx'));
  } else {
    a.mov(eax, dword((f.loc(1) as { mem: Mem }).mem)).mov(dword(dataRef(a, n.hcpageVar)), eax);
  }
  switch (st.kind) {
    case 'xen':
    case 'leaf':
      // CPUID leaf base+2: Xen EBX / pvio EAX = the MSR index.
      baseTo(eax);
      a.add(eax, 2).xor(ecx, ecx).cpuid().mov(ecx, st.kind === 'xen' ? ebx : eax);
      load64(2, st.kind === 'leaf' ? st.enable : 0n);
      a.wrmsr();
      break;
    case 'hyperv':
      a.mov(ecx, st.guestOsIdMsr);
      load64(3, 0n);
      a.wrmsr().mov(ecx, st.hypercallMsr);
      load64(2, 1n); // HV_X64_MSR_HYPERCALL_ENABLE (hvgdk_mini.h)
      a.wrmsr();
      break;
    case 'fixed':
      a.mov(ecx, st.msr);
      load64(2, st.enable);
      a.wrmsr();
      break;
  }
  a.xor(eax, eax);
  f.ret();
  a.endSymbol(n.hcpageSetup);
  a.section('.data').align(a.bits / 8).global(n.hcpageVar, 'object').label(n.hcpageVar);
  if (w) a.dq(0);
  else a.dd(0);
  a.endSymbol(n.hcpageVar).section('.text');
}
