// CPUID answers of a bare vCPU (no hypervisor personality): vendor, family/features that match what the engine
// executes. Sources: SDM Vol. 2 "CPUID" (leaf 0, 1, 0x80000000, 0x80000001), AMD APM Vol. 3 E.3.
import { CPUID_1_ECX_HYPERVISOR_BIT, signatureToRegs } from '@pvkit/shared-abi';
import type { CpuidResult, Vendor } from './types.js';

/** CPUID.1:EDX bits the engine implements (SDM Table 3-11): FPU absent; TSC 4, MSR 5, CX8 8, CMOV 15. */
const LEAF1_EDX = (1 << 4) | (1 << 5) | (1 << 8) | (1 << 15);
/** CPUID.1:ECX (SDM Table 3-10): POPCNT 23. */
const LEAF1_ECX = 1 << 23;
/** CPUID.7.0:EBX BMI1 bit 3 (TZCNT). */
const LEAF7_EBX = 1 << 3;
/** CPUID.80000001:ECX LAHF/SAHF in 64-bit 0, ABM/LZCNT 5 (AMD APM E.4.2); EDX LM 29, SYSCALL 11 not claimed. */
const EXT1_ECX = (1 << 0) | (1 << 5);
const EXT1_EDX = 1 << 29;

/** Leaf 0 spells the vendor in EBX, EDX, ECX order (SDM "CPUID" leaf 0), unlike hypervisor leaves (EBX ECX EDX). */
function vendorOrder(sig: string): { ebx: number; ecx: number; edx: number } {
  const s = signatureToRegs(sig);
  return { ebx: s.ebx, edx: s.ecx, ecx: s.edx };
}
// Computed once: CPUID is a hot exit and the signature never changes.
const VENDOR_REGS = { intel: vendorOrder('GenuineIntel'), amd: vendorOrder('AuthenticAMD') } as const;

/** A fresh object each call (callers may keep or change it). */
export function defaultCpuid(vendor: Vendor, leaf: number, subleaf: number, hypervisorPresent: boolean): CpuidResult {
  const vendorRegs = vendor === 'intel' ? VENDOR_REGS.intel : VENDOR_REGS.amd;
  switch (leaf >>> 0) {
    case 0:
      return { eax: 7, ebx: vendorRegs.ebx, edx: vendorRegs.edx, ecx: vendorRegs.ecx }; // key order as before (JSON traces)
    case 1:
      return {
        // Family 6 model 0 stepping 0 (Intel) / family 0x17 (AMD: base 0xf + extended 0x8).
        eax: vendor === 'intel' ? 0x00000600 : 0x00800f00,
        ebx: 0,
        ecx: (LEAF1_ECX | (hypervisorPresent ? 1 << CPUID_1_ECX_HYPERVISOR_BIT : 0)) >>> 0,
        edx: LEAF1_EDX,
      };
    case 7:
      return subleaf === 0 ? { eax: 0, ebx: LEAF7_EBX, ecx: 0, edx: 0 } : { eax: 0, ebx: 0, ecx: 0, edx: 0 };
    case 0x80000000:
      return vendor === 'amd'
        ? { eax: 0x80000001, ebx: vendorRegs.ebx, edx: vendorRegs.edx, ecx: vendorRegs.ecx }
        : { eax: 0x80000001, ebx: 0, ecx: 0, edx: 0 };
    case 0x80000001:
      return { eax: 0, ebx: 0, ecx: EXT1_ECX, edx: EXT1_EDX };
    default:
      // Leaves above the maximum: Intel returns the highest basic leaf's data, AMD zeros (SDM "CPUID" note);
      // zeros for both keeps guests' hypervisor scans simple.
      return { eax: 0, ebx: 0, ecx: 0, edx: 0 };
  }
}
