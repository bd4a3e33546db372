import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  AbiError, VMCALL_BYTES, VMMCALL_BYTES, XEN_CONVENTION_HCPAGE_X64, XEN_CONVENTION_X64, XEN_CONVENTION_X86, XEN_CPUID,
  XEN_HC, XEN_HYPERCALL_MSR_LAYOUT, XEN_HYPERCALL_MSR_READ_VALUE, XEN_SIGNATURE, checkLayout, decodeXenHypercallMsr,
  encodeXenHypercallMsr, signatureToRegs, xenAbi, xenErrorResult, xenHypercallMsr, xenHypercallPage, xenLayout, xenResult, xenSignatureEax,
} from '../src/index.js';
import { abiProblems } from './support/abi-checks.js';
import { hasIced, icedDisasm, icedMissingReason } from './support/iced.js';
import { hasTool, objdumpRaw } from './support/tools.js';

const hasObjdump = hasTool('objdump');
if (!hasObjdump) console.warn('objdump not found: skipping the objdump check of the Xen hypercall page (install binutils)');
if (!hasIced) console.warn(`skipping iced-x86 checks of the Xen hypercall page: ${icedMissingReason}`);

const INSNS = { vmcall: VMCALL_BYTES, vmmcall: VMMCALL_BYTES } as const;
const hex = (b: Uint8Array | readonly number[]) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');

describe('Xen hypercall page (ABI-FACTS §3.3)', () => {
  for (const insn of ['vmcall', 'vmmcall'] as const) {
    it(`${insn}: 4096 bytes, 128 slots of B8 imm32 / ${insn} / C3 / 0xCC fill, ud2 at slot 23`, () => {
      const page = xenHypercallPage(insn);
      expect(page.length).toBe(4096);
      for (let i = 0; i < 128; i++) {
        const slot = page.subarray(i * 32, i * 32 + 32);
        const expected = i === 23
          ? [0x0f, 0x0b, ...Array<number>(30).fill(0xcc)]
          : [0xb8, i, 0, 0, 0, ...INSNS[insn], 0xc3, ...Array<number>(23).fill(0xcc)];
        expect(hex(slot), `slot ${i}`).toBe(hex(expected));
      }
    });
  }
  it('without the iret special case every slot holds the stub (KVM Xen emulation)', () => {
    const page = xenHypercallPage('vmcall', { iretUd2: false });
    expect(hex(page.subarray(23 * 32, 23 * 32 + 9))).toBe('b8 17 00 00 00 0f 01 c1 c3');
  });
  it('rejects an unknown instruction', () => {
    expect(() => xenHypercallPage('syscall' as 'vmcall')).toThrow(AbiError);
  });

  const expectedText = (i: number, insn: 'vmcall' | 'vmmcall') => (i === 23 ? ['ud2'] : [`mov eax,${i}`, insn, 'ret']);
  it.skipIf(!hasObjdump)('disassembles with objdump into mov eax,i / vmcall / ret per slot (64 and 32 bit)', () => {
    for (const bits of [64, 32] as const) {
      for (const insn of ['vmcall', 'vmmcall'] as const) {
        const d = objdumpRaw(xenHypercallPage(insn), bits); // whole page at once, grouped by slot below
        for (let i = 0; i < 128; i++) {
          const inSlot = d.filter((x) => x.offset >= i * 32 && x.offset < i * 32 + 32);
          const stub = inSlot.filter((x) => x.text !== 'int3');
          expect(stub.map((x) => x.text.replace(/0x([0-9a-f]+)/g, (_, h: string) => String(parseInt(h, 16)))), `slot ${i} ${bits}-bit`).toEqual(expectedText(i, insn));
          expect(inSlot.reduce((n, x) => n + x.bytes.split(' ').length, 0), `slot ${i} length`).toBe(32);
        }
      }
    }
  });
  it.skipIf(!hasIced)('disassembles with iced-x86 into mov eax,i / vmcall|vmmcall / ret per slot, padded with int3', () => {
    for (const bits of [64, 32] as const) {
      for (const insn of ['vmcall', 'vmmcall'] as const) {
        const d = icedDisasm(xenHypercallPage(insn), bits);
        // Group by slot; everything after the stub must be int3 up to the next slot boundary.
        for (let i = 0; i < 128; i++) {
          const inSlot = d.filter((x) => x.offset >= i * 32 && x.offset < i * 32 + 32);
          const stub = inSlot.filter((x) => x.text !== 'int3');
          const dec = (t: string) => t.replace(/\b([0-9][0-9A-F]*)h\b/g, (_, h: string) => String(parseInt(h, 16)));
          expect(stub.map((x) => dec(x.text)), `slot ${i} ${bits}-bit`).toEqual(expectedText(i, insn));
          expect(inSlot.reduce((n, x) => n + x.length, 0)).toBe(32);
        }
      }
    }
  });
});

describe('Xen hypercall-page MSR', () => {
  it('encodes GPA | page index and decodes back (msr.c: gmfn = val >> 12, index = val & 0xfff)', () => {
    expect(encodeXenHypercallMsr({ gpa: 0x7fff_f000n })).toBe(0x7fff_f000n);
    expect(encodeXenHypercallMsr({ gpa: 0x1_2345_6000n, pageIndex: 1 })).toBe(0x1_2345_6001n);
    expect(decodeXenHypercallMsr(0x1_2345_6000n)).toEqual({ ok: true, gmfn: 0x123456n, gpa: 0x1_2345_6000n });
    expect(decodeXenHypercallMsr(0xffff_ffff_ffff_f000n)).toEqual({ ok: true, gmfn: 0xf_ffff_ffff_ffffn, gpa: 0xffff_ffff_ffff_f000n });
  });
  it('encode/decode round-trip for every page-aligned GPA (property)', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 52n) - 1n }), (gmfn) => {
      const gpa = gmfn << 12n;
      expect(decodeXenHypercallMsr(encodeXenHypercallMsr({ gpa }))).toEqual({ ok: true, gmfn, gpa });
    }));
  });
  it('answers #GP for a page index > 0, rejects misaligned encodes', () => {
    expect(decodeXenHypercallMsr(0x5001n)).toMatchObject({ ok: false, fault: '#GP', pageIndex: 1 });
    expect(decodeXenHypercallMsr(0x5fffn)).toMatchObject({ ok: false, pageIndex: 0xfff });
    expect(() => encodeXenHypercallMsr({ gpa: 0x5800n })).toThrow(/aligned to 4096/);
    expect(() => encodeXenHypercallMsr({ gpa: 0x5000n, pageIndex: 0x1000 })).toThrow(/page_index: does not fit in 12 bit/);
    expect(() => decodeXenHypercallMsr(-1n)).toThrow(/64-bit/);
    expect(XEN_HYPERCALL_MSR_READ_VALUE).toBe(0n);
    expect(checkLayout(XEN_HYPERCALL_MSR_LAYOUT)).toEqual([]);
  });
  it('sits at the MSR base from leaf base+2 EBX, moved by Viridian', () => {
    expect(xenLayout(false)).toEqual({ cpuidBase: 0x40000000, msrBase: 0x40000000 });
    expect(xenLayout(true)).toEqual({ cpuidBase: 0x40000100, msrBase: 0x40000200 });
    expect(xenHypercallMsr(true).index).toBe(0x40000200);
    expect(xenAbi.msrs[0]?.index).toBe(0x40000000);
  });
});

describe('xenAbi', () => {
  it('is internally consistent', () => {
    expect(abiProblems(xenAbi)).toEqual([]);
  });
  it('CPUID: signature, 6 leaves (base..base+5), min 2 leaves for Linux detection', () => {
    expect(signatureToRegs(XEN_SIGNATURE)).toEqual({ ebx: 0x566e6558, ecx: 0x65584d4d, edx: 0x4d4d566e });
    expect(XEN_CPUID.leaves.map((l) => l.offset)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(XEN_CPUID).toMatchObject({ detection: 'scan', minLeaves: 2, maxLeafOffset: 5, defaultBase: 0x40000000 });
    expect(xenAbi.features.filter((f) => f.leaf === 4).map((f) => f.bit)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(xenSignatureEax()).toBe(0x40000005);
    expect(xenSignatureEax(0x40000100, 2)).toBe(0x40000102);
    expect(() => xenSignatureEax(0x40000000, 6)).toThrow(/limit: Xen's leaf limit is 2\.\.5/);
  });
  it('conventions: 64-bit rdi rsi rdx r10 r8, 32-bit ebx ecx edx esi edi, arguments clobbered', () => {
    expect(XEN_CONVENTION_X64).toMatchObject({ number: 'rax', args: ['rdi', 'rsi', 'rdx', 'r10', 'r8'], results: ['rax'] });
    expect(XEN_CONVENTION_X64.clobbers).toEqual(XEN_CONVENTION_X64.args);
    expect(XEN_CONVENTION_X86).toMatchObject({ number: 'eax', args: ['ebx', 'ecx', 'edx', 'esi', 'edi'], results: ['eax'] });
    expect(XEN_CONVENTION_HCPAGE_X64.trap).toBe('hcpage');
    expect(xenAbi.errors).toMatchObject({ unknownHypercall: 'XEN_ENOSYS', cplNonZero: 'XEN_EPERM' });
  });
  it('hypercall numbers fit the page and -errno results encode per width', () => {
    expect(Math.max(...Object.values(XEN_HC))).toBeLessThan(128);
    expect(xenErrorResult('ENOSYS', 64)).toBe(0xffffffffffffffdan);
    expect(xenErrorResult('ENOSYS', 32)).toBe(0xffffffdan);
    expect(xenErrorResult('EPERM', 64)).toBe(0xffffffffffffffffn);
    expect(xenResult(0x40011, 64)).toBe(0x40011n); // XENVER_version: 4.17
  });
});
