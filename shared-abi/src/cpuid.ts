// CPUID signature helpers: a 12-byte vendor string lives in EBX, ECX, EDX (little endian, 4 bytes each).
import { AbiError } from './errors.js';

export interface SignatureRegs {
  readonly ebx: number;
  readonly ecx: number;
  readonly edx: number;
}

/** "KVMKVMKVM\0\0\0" -> { ebx: 0x4b4d564b, ecx: 0x564b4d56, edx: 0x4d } (linux/kvm_para.h KVM_CPUID_SIGNATURE). */
export function signatureToRegs(sig: string, path = 'signature'): SignatureRegs {
  const bytes = Buffer.from(sig, 'latin1');
  if (bytes.length !== 12 || [...sig].some((c) => c.charCodeAt(0) > 0xff)) {
    throw new AbiError([{ path, value: sig, message: `a CPUID signature is exactly 12 bytes (got ${bytes.length})` }]);
  }
  return { ebx: bytes.readUInt32LE(0), ecx: bytes.readUInt32LE(4), edx: bytes.readUInt32LE(8) };
}

export function regsToSignature(r: SignatureRegs): string {
  const b = Buffer.alloc(12);
  b.writeUInt32LE(r.ebx >>> 0, 0);
  b.writeUInt32LE(r.ecx >>> 0, 4);
  b.writeUInt32LE(r.edx >>> 0, 8);
  return b.toString('latin1');
}

/** Linux hypervisor_cpuid_base() candidates: 0x40000000..0x4000FF00 step 0x100 (asm/cpuid/api.h). */
export const HYPERVISOR_CPUID_SCAN = { first: 0x40000000, last: 0x4000ff00, step: 0x100 } as const;

/** CPUID.1:ECX bit 31: hypervisor present (X86_FEATURE_HYPERVISOR, arch/x86/include/asm/cpufeatures.h). */
export const CPUID_1_ECX_HYPERVISOR_BIT = 31;
