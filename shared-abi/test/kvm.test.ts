import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import {
  AbiError, KVM_CONVENTION_X64, KVM_CONVENTION_X86, KVM_GUEST_STRUCTS, KVM_HC, KVM_HC_ARCH, KVM_MAP_GPA_RANGE_ATTRS,
  KVM_MSR_LAYOUTS, KVM_SIGNATURE, MSR_KVM, PVCLOCK_VCPU_TIME_INFO, VMCALL_BYTES, VMMCALL_BYTES, checkLayout,
  decodeKvmMsr, decodeMapGpaAttrs, encodeKvmMsr, encodeMapGpaAttrs, kvmAbi, kvmEffectiveMaxLeaf, kvmErrorName,
  kvmErrorResult, kvmHypercallInputs, kvmResult, kvmResultValue, pvclockNs, signatureToRegs,
} from '../src/index.js';
import { abiProblems } from './support/abi-checks.js';
import { hasIced, icedDisasm, icedMissingReason } from './support/iced.js';
import { hasTool, objdumpRaw, run, withTmp } from './support/tools.js';

const hasNasm = hasTool('nasm');
const hasObjdump = hasTool('objdump');
if (!hasNasm) console.warn('nasm not found: skipping the nasm encoding check of VMCALL/VMMCALL (install nasm)');
if (!hasObjdump) console.warn('objdump not found: skipping the objdump decoding check (install binutils)');
if (!hasIced) console.warn(`skipping iced-x86 decoding checks: ${icedMissingReason}`);

describe('VMCALL / VMMCALL bytes', () => {
  it.skipIf(!hasNasm)('are what nasm assembles for vmcall and vmmcall', () => {
    const bytes = withTmp((dir) => {
      writeFileSync(join(dir, 'a.asm'), 'bits 64\nvmcall\nvmmcall\n');
      run('nasm', ['-f', 'bin', '-o', join(dir, 'a.bin'), join(dir, 'a.asm')]);
      return [...readFileSync(join(dir, 'a.bin'))];
    });
    expect(bytes).toEqual([...VMCALL_BYTES, ...VMMCALL_BYTES]);
  });
  it.skipIf(!hasObjdump)('decode as vmcall / vmmcall with objdump in 64- and 32-bit mode', () => {
    for (const bits of [64, 32] as const) {
      const d = objdumpRaw(Uint8Array.from([...VMCALL_BYTES, ...VMMCALL_BYTES]), bits);
      expect(d.map((x) => x.text)).toEqual(['vmcall', 'vmmcall']);
    }
  });
  it.skipIf(!hasIced)('decode as vmcall / vmmcall with iced-x86', () => {
    const d = icedDisasm(Uint8Array.from([...VMCALL_BYTES, ...VMMCALL_BYTES]), 64);
    expect(d.map((x) => [x.text, x.length])).toEqual([['vmcall', 3], ['vmmcall', 3]]);
  });
});

describe('KVM hypercall results', () => {
  it('encodes signed results for 64- and 32-bit callers (x86.c: ret = (u32)ret for 32-bit)', () => {
    expect(kvmResult(-1000, 64)).toBe(0xfffffffffffffc18n);
    expect(kvmResult(-1000, 32)).toBe(0xfffffc18n);
    expect(kvmErrorResult('ENOSYS', 64)).toBe(0xfffffffffffffc18n);
    expect(kvmErrorResult('EPERM', 32)).toBe(0xffffffffn);
    expect(kvmErrorResult('EOPNOTSUPP', 64)).toBe(0xffffffffffffffa1n);
    expect(kvmResult(0, 64)).toBe(0n);
    expect(kvmResult(128, 32)).toBe(128n); // SEND_IPI count
    expect(kvmResult(0xffffffffn, 32)).toBe(0xffffffffn);
  });
  it('decodes RAX back to the signed value and error name', () => {
    expect(kvmResultValue(0xfffffffffffffc18n, 64)).toBe(-1000n);
    expect(kvmResultValue(0xfffffc18n, 32)).toBe(-1000n);
    expect(kvmResultValue(0xdeadbeef_fffffc18n, 32)).toBe(-1000n); // upper half ignored by a 32-bit caller
    expect(kvmErrorName(kvmResultValue(0xfffffffffffffff2n, 64))).toBe('EFAULT');
    expect(kvmErrorName(3n)).toBeUndefined();
    for (const v of [-1000, -95, -22, -14, -7, -1, 0, 1, 1000]) {
      for (const bits of [64, 32] as const) expect(kvmResultValue(kvmResult(v, bits), bits)).toBe(BigInt(v));
    }
  });
  it('reads nr and a0..a3 from rax, rbx, rcx, rdx, rsi, masked to 32 bits for a 32-bit caller', () => {
    const regs = { rax: 0xffff_ffff_0000_0005n, rbx: 0x1_0000_0000n, rcx: 2n, rdx: 0xdead_beef_cafe_f00dn, rsi: 4n };
    expect(kvmHypercallInputs((r) => regs[r], 64)).toEqual({ nr: 0xffff_ffff_0000_0005n, args: [0x1_0000_0000n, 2n, 0xdead_beef_cafe_f00dn, 4n] });
    expect(kvmHypercallInputs((r) => regs[r], 32)).toEqual({ nr: 5n, args: [0n, 2n, 0xcafe_f00dn, 4n] });
  });
  it('rejects results that do not fit the register', () => {
    expect(() => kvmResult(2 ** 32, 32)).toThrow(AbiError);
    expect(() => kvmResult(-(2 ** 31) - 1, 32)).toThrow(/32-bit register/);
    expect(() => kvmResult(1.5, 64)).toThrow(/safe integer/);
  });
});

describe('kvmAbi', () => {
  it('is internally consistent', () => {
    expect(abiProblems(kvmAbi)).toEqual([]);
  });
  it('lists x86 hypercalls only; CLOCK_PAIRING is 64-bit only', () => {
    const nrs = kvmAbi.hypercalls.map((h) => h.nr);
    for (const [k, arch] of Object.entries(KVM_HC_ARCH)) {
      expect(nrs.includes(KVM_HC[k as keyof typeof KVM_HC])).toBe(arch === 'x86');
    }
    expect(kvmAbi.hypercalls.find((h) => h.nr === KVM_HC.CLOCK_PAIRING)?.bits).toEqual([64]);
    expect(kvmAbi.hypercalls.find((h) => h.nr === KVM_HC.SEND_IPI)?.args.length).toBe(4);
  });
  it('has the hypercalls.rst registers and error rules', () => {
    expect(KVM_CONVENTION_X64).toMatchObject({ number: 'rax', args: ['rbx', 'rcx', 'rdx', 'rsi'], results: ['rax'], clobbers: [] });
    expect(KVM_CONVENTION_X86).toMatchObject({ bits: 32, number: 'eax', args: ['ebx', 'ecx', 'edx', 'esi'], results: ['eax'] });
    expect(kvmAbi.errors).toMatchObject({ encoding: 'neg-errno', unknownHypercall: 'KVM_ENOSYS', cplNonZero: 'KVM_EPERM' });
  });
  it('advertises the signature at 0x40000000 with max leaf 0x40000001 (0 on old hosts)', () => {
    expect(signatureToRegs(KVM_SIGNATURE)).toEqual({ ebx: 0x4b4d564b, ecx: 0x564b4d56, edx: 0x4d });
    expect(kvmEffectiveMaxLeaf(0)).toBe(0x40000001);
    expect(kvmEffectiveMaxLeaf(0, 0x40000100)).toBe(0x40000101);
    expect(kvmEffectiveMaxLeaf(0x40000001)).toBe(0x40000001);
  });
});

describe('KVM MSR values', () => {
  it('every layout covers its field bits without overlap', () => {
    for (const [k, l] of Object.entries(KVM_MSR_LAYOUTS)) expect(checkLayout(l, 64, k)).toEqual([]);
    expect(kvmAbi.msrs.map((m) => m.index)).toEqual(Object.values(MSR_KVM));
  });
  it('encodes and decodes SYSTEM_TIME_NEW (GPA | enable)', () => {
    expect(encodeKvmMsr('SYSTEM_TIME_NEW', { enable: true, gpa: 0x7fff_f040n })).toBe(0x7fff_f041n);
    expect(decodeKvmMsr('SYSTEM_TIME_NEW', 0x1_0000_0005n)).toEqual({ enable: true, rsvd1: 0n, gpa: 0x1_0000_0004n });
    expect(() => encodeKvmMsr('SYSTEM_TIME_NEW', { gpa: 0x1002n })).toThrow(/aligned to 4 bytes/);
  });
  it('encodes and decodes ASYNC_PF_EN flags and the 64-byte-aligned GPA', () => {
    const v = encodeKvmMsr('ASYNC_PF_EN', { enabled: true, delivery_as_int: true, gpa: 0x12340n });
    expect(v).toBe(0x12349n);
    expect(decodeKvmMsr('ASYNC_PF_EN', 0xffffffff_ffffffcfn)).toEqual({
      enabled: true, send_always: true, delivery_as_pf_vmexit: true, delivery_as_int: true, rsvd: 0n, gpa: 0xffffffff_ffffffc0n,
    });
    expect(() => encodeKvmMsr('ASYNC_PF_EN', { gpa: 0x12320n })).toThrow(/aligned to 64 bytes/);
  });
  it('decode then encode reproduces every value without reserved bits, for every KVM MSR (property)', () => {
    for (const msr of Object.keys(MSR_KVM) as (keyof typeof MSR_KVM)[]) {
      fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (v) => {
        const f = decodeKvmMsr(msr, v);
        const noRsvd = Object.fromEntries(Object.entries(f).filter(([k]) => !KVM_MSR_LAYOUTS[msr].some((x) => x.name === k && x.kind === 'reserved')));
        const rsvdMask = KVM_MSR_LAYOUTS[msr].filter((x) => x.kind === 'reserved').reduce((m, x) => m | (((1n << BigInt(x.width)) - 1n) << BigInt(x.lsb)), 0n);
        const defined = KVM_MSR_LAYOUTS[msr].reduce((m, x) => m | (((1n << BigInt(x.width)) - 1n) << BigInt(x.lsb)), 0n);
        expect(encodeKvmMsr(msr, noRsvd)).toBe(v & defined & ~rsvdMask);
      }), { numRuns: 200 });
    }
  });
  it('flags reserved bits in STEAL_TIME when strict (KVM_STEAL_RESERVED_MASK)', () => {
    expect(decodeKvmMsr('STEAL_TIME', 0x2000n | 0x3en)).toMatchObject({ enable: false, gpa: 0x2000n, rsvd: 0x1fn });
    expect(() => decodeKvmMsr('STEAL_TIME', 0x2002n, true)).toThrow(/reserved bits set \(0x2\)/);
    expect(() => encodeKvmMsr('STEAL_TIME', { rsvd: 1n })).toThrow(/reserved/);
    expect(encodeKvmMsr('ASYNC_PF_INT', { vector: 0xecn })).toBe(0xecn);
    expect(() => encodeKvmMsr('ASYNC_PF_INT', { vector: 0x100n })).toThrow(/does not fit in 8 bit/);
  });
});

describe('KVM_HC_MAP_GPA_RANGE attributes', () => {
  it('round-trips every page size and encryption state', () => {
    expect(encodeMapGpaAttrs({ pageSize: '4K', encrypted: false })).toBe(0n);
    expect(encodeMapGpaAttrs({ pageSize: '2M', encrypted: true })).toBe(0x11n);
    expect(encodeMapGpaAttrs({ pageSize: '1G', encrypted: false })).toBe(0x2n);
    expect(decodeMapGpaAttrs(0x12n)).toEqual({ pageSize: '1G', encrypted: true });
    for (const pageSize of ['4K', '2M', '1G'] as const) {
      for (const encrypted of [false, true]) expect(decodeMapGpaAttrs(encodeMapGpaAttrs({ pageSize, encrypted }))).toEqual({ pageSize, encrypted });
    }
    expect(checkLayout(KVM_MAP_GPA_RANGE_ATTRS)).toEqual([]);
  });
  it('rejects MBZ bits and unknown page sizes with located errors', () => {
    expect(() => decodeMapGpaAttrs(0x20n)).toThrow(/attrs\.mbz: bits 63:5 must be zero/);
    expect(() => decodeMapGpaAttrs(0x3n)).toThrow(/attrs\.page_size: page size must be/);
    expect(() => encodeMapGpaAttrs({ pageSize: '4M' as '4K', encrypted: false })).toThrow(/attrs\.pageSize/);
  });
});

describe('guest-memory structures', () => {
  it('fields are contiguous and sum to the struct size', () => {
    for (const s of KVM_GUEST_STRUCTS) {
      let off = 0;
      for (const f of s.fields) {
        expect(f.offset, `${s.name}.${f.name}`).toBe(off);
        off += f.size;
      }
      expect(off, s.name).toBe(s.size);
    }
    expect(PVCLOCK_VCPU_TIME_INFO.size).toBe(32);
    expect(PVCLOCK_VCPU_TIME_INFO.fields.find((f) => f.name === 'flags')?.offset).toBe(29);
  });
  it('pvclockNs follows the msr.rst formula', () => {
    // mul = 2^31 means 0.5 ns per (shifted) tick.
    const base = { tscTimestamp: 1000n, systemTime: 5_000_000n, tscToSystemMul: 0x8000_0000 };
    expect(pvclockNs({ ...base, tscShift: 0 }, 3000n)).toBe(5_001_000n);
    expect(pvclockNs({ ...base, tscShift: 1 }, 3000n)).toBe(5_002_000n);
    expect(pvclockNs({ ...base, tscShift: -1 }, 3000n)).toBe(5_000_500n);
    // mul = 0xffffffff: (t * mul) >> 32 = t - 1 for t = 2^32.
    expect(pvclockNs({ tscTimestamp: 0n, systemTime: 0n, tscToSystemMul: 0xffffffff, tscShift: 0 }, 1n << 32n)).toBe((1n << 32n) - 1n);
  });
});
