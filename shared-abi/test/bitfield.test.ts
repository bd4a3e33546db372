import { describe, expect, it } from 'vitest';
import { AbiError, checkLayout, decodeFields, encodeFields, regsToSignature, signatureToRegs } from '../src/index.js';
import type { BitFieldDef } from '../src/index.js';

// HV_X64_MSR_HYPERCALL (TLFS "Hypercall Interface"): bit 0 enable, bit 1 locked, 11:2 RsvdP, 63:12 GPFN.
const hypercallMsr: BitFieldDef[] = [
  { name: 'enable', lsb: 0, width: 1, kind: 'flag', doc: '' },
  { name: 'locked', lsb: 1, width: 1, kind: 'flag', doc: '' },
  { name: 'rsvd', lsb: 2, width: 10, kind: 'reserved', doc: '' },
  { name: 'gpa', lsb: 12, width: 52, kind: 'gpa', doc: '' },
];

describe('bit-field codec', () => {
  it('encodes and decodes in both directions', () => {
    const v = encodeFields(hypercallMsr, { enable: true, gpa: 0x7f_ffff_f000n });
    expect(v).toBe(0x7f_ffff_f001n);
    expect(decodeFields(hypercallMsr, 0xffff_ffff_ffff_f003n)).toEqual({ enable: true, locked: true, rsvd: 0n, gpa: 0xffff_ffff_ffff_f000n });
  });
  it('rejects misaligned addresses, overflow and unknown fields with located errors', () => {
    expect(() => encodeFields(hypercallMsr, { gpa: 0x1234n }, 'HV_X64_MSR_HYPERCALL')).toThrow(/HV_X64_MSR_HYPERCALL\.gpa: address must be aligned to 4096/);
    expect(() => encodeFields(hypercallMsr, { enable: 2n })).toThrow(/does not fit in 1 bit/);
    expect(() => encodeFields(hypercallMsr, { enabled: true })).toThrow(AbiError);
    expect(() => encodeFields(hypercallMsr, { rsvd: 1n })).toThrow(/reserved/);
  });
  it('checks layouts for overlap and range', () => {
    expect(checkLayout(hypercallMsr)).toEqual([]);
    const bad: BitFieldDef[] = [...hypercallMsr, { name: 'x', lsb: 60, width: 8, kind: 'uint', doc: '' }, { name: 'enable', lsb: 1, width: 1, kind: 'flag', doc: '' }];
    const msgs = checkLayout(bad).map((p) => p.message);
    expect(msgs).toContain('field must lie within bits 0..63');
    expect(msgs.some((m) => m.startsWith('duplicate field name'))).toBe(true);
    expect(msgs).toContain('overlaps an earlier field');
  });
});

describe('CPUID signatures', () => {
  it('matches linux/kvm_para.h and the Xen and Hyper-V signature words', () => {
    expect(signatureToRegs('KVMKVMKVM\0\0\0')).toEqual({ ebx: 0x4b4d564b, ecx: 0x564b4d56, edx: 0x4d });
    expect(signatureToRegs('XenVMMXenVMM')).toEqual({ ebx: 0x566e6558, ecx: 0x65584d4d, edx: 0x4d4d566e });
    expect(signatureToRegs('Microsoft Hv')).toEqual({ ebx: 0x7263694d, ecx: 0x666f736f, edx: 0x76482074 });
    expect(regsToSignature({ ebx: 0x4b4d564b, ecx: 0x564b4d56, edx: 0x4d })).toBe('KVMKVMKVM\0\0\0');
    expect(() => signatureToRegs('short')).toThrow(/exactly 12 bytes/);
  });
});
