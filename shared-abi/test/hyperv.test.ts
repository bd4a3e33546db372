import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AbiError, HVCALL, HV_HYPERCALL_RSVD_MASK, HV_MMIO_READ_INPUT, HV_MMIO_READ_OUTPUT, HV_MMIO_WRITE_INPUT, HV_STATUS, HV_X64_MSR,
  HYPERV_HYPERCALLS, checkFeatureDefs, checkHvParamBlocks, checkLayout, decodeFeatures, decodeFields, decodeHvControl, decodeHvResult,
  encodeFeatures, encodeHvControl, encodeHvGuestOsIdOpenSource, encodeHvGuestOsIdProprietary, encodeHvHypercallMsr, encodeHvResult,
  hypervAbi, hypervHypercallPage, hypervHypercallStub, signatureToRegs, validateHvControl, HV_GUEST_OS_ID_OPEN_SOURCE_LAYOUT,
} from '../src/index.js';
import type { HvHypercallDef } from '../src/index.js';

const hasObjdump = (() => { try { execFileSync('objdump', ['--version'], { stdio: 'ignore' }); return true; } catch { return false; } })();
if (!hasObjdump) console.warn('hyperv.test: objdump (GNU binutils) missing, hypercall-page disassembly checks skipped');

/** Disassembles raw bytes with GNU objdump (Intel syntax) into [bytes-hex, text] rows. */
function objdump(bytes: Uint8Array, arch: 'i386:x86-64' | 'i386'): { hex: string; text: string }[] {
  const dir = mkdtempSync(join(tmpdir(), 'pvkit-hv-'));
  const file = join(dir, 'code.bin');
  writeFileSync(file, bytes);
  const out = execFileSync('objdump', ['-D', '-b', 'binary', '-m', arch, '-M', 'intel', file], { encoding: 'utf8' });
  return out.split('\n').map((l) => /^\s+[0-9a-f]+:\t([0-9a-f ]+)\t(.*)$/.exec(l)).filter((m): m is RegExpExecArray => !!m)
    .map((m) => ({ hex: m[1]!.trim(), text: m[2]!.replace(/\s+/g, ' ').trim() }));
}

const call = (code: number): HvHypercallDef => {
  const d = HYPERV_HYPERCALLS.find((c) => c.nr === code);
  if (!d) throw new Error(`no call 0x${code.toString(16)}`);
  return d;
};

describe('Hyper-V control word (TLFS "Hypercall Inputs")', () => {
  it('encodes the worked vectors bit-exactly', () => {
    // HvCallFlushVirtualAddressList, rep count 5, start index 2: code 15:0, count 43:32, start 59:48
    expect(encodeHvControl({ code: HVCALL.FLUSH_VIRTUAL_ADDRESS_LIST, fast: false, varHeaderQwords: 0, repCount: 5, repStart: 2 })).toBe(0x0002_0005_0000_0003n);
    // fast HvCallSignalEvent: bit 16
    expect(encodeHvControl({ code: HVCALL.SIGNAL_EVENT, fast: true, varHeaderQwords: 0, repCount: 0, repStart: 0 })).toBe(0x1_005dn);
    // HvCallSendSyntheticClusterIpiEx with a 2-qword variable header: 26:17
    expect(encodeHvControl({ code: HVCALL.SEND_IPI_EX, fast: false, varHeaderQwords: 2, repCount: 0, repStart: 0 })).toBe(0x4_0015n);
    // all fields at their maximum, plus the nested bit 31
    expect(encodeHvControl({ code: 0xffff, fast: true, varHeaderQwords: 0x3ff, repCount: 0xfff, repStart: 0xfff, nested: true })).toBe(0x0fff_0fff_87ff_ffffn);
  });
  it('decodes in the other direction and reports reserved bits', () => {
    expect(decodeHvControl(0x0002_0005_0000_0003n)).toEqual({ code: 3, fast: false, varHeaderQwords: 0, nested: false, repCount: 5, repStart: 2, reservedBits: 0n });
    const d = decodeHvControl(0xffff_ffff_ffff_ffffn);
    expect(d.reservedBits).toBe(HV_HYPERCALL_RSVD_MASK & ~(1n << 31n));
    expect(d.reservedBits).toBe(0xf000_f000_7800_0000n);
    expect(d.nested).toBe(true);
  });
  it('rejects out-of-range fields with located errors', () => {
    expect(() => encodeHvControl({ code: 0x10000, fast: false, varHeaderQwords: 0, repCount: 0, repStart: 0 })).toThrow(/control\.code: must be an integer 0\.\.65535/);
    expect(() => encodeHvControl({ code: 1, fast: false, varHeaderQwords: 1024, repCount: 4096, repStart: -1 })).toThrow(AbiError);
    try {
      encodeHvControl({ code: 1, fast: false, varHeaderQwords: 1024, repCount: 4096, repStart: -1 });
    } catch (e) {
      expect((e as AbiError).problems.map((p) => p.path)).toEqual(['control.varHeaderQwords', 'control.repCount', 'control.repStart']);
    }
    expect(() => decodeHvControl(1n << 64n)).toThrow(/unsigned 64-bit/);
  });
  it('property: encode -> decode is the identity on every field', () => {
    fc.assert(fc.property(
      fc.record({ code: fc.integer({ min: 0, max: 0xffff }), fast: fc.boolean(), varHeaderQwords: fc.integer({ min: 0, max: 0x3ff }),
        repCount: fc.integer({ min: 0, max: 0xfff }), repStart: fc.integer({ min: 0, max: 0xfff }), nested: fc.boolean() }),
      (c) => {
        const w = encodeHvControl(c);
        expect(decodeHvControl(w)).toEqual({ ...c, reservedBits: 0n });
        expect(w & HV_HYPERCALL_RSVD_MASK & ~(1n << 31n)).toBe(0n);
      },
    ), { numRuns: 500 });
  });
  it('property: decode -> encode restores every value without reserved bits', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (v) => {
      const d = decodeHvControl(v);
      expect(encodeHvControl(d) | d.reservedBits).toBe(v);
    }), { numRuns: 500 });
  });
});

describe('Hyper-V result word', () => {
  it('encodes and decodes status and reps completed', () => {
    expect(encodeHvResult({ status: HV_STATUS.SUCCESS, repsCompleted: 5 })).toBe(0x5_0000_0000n);
    expect(encodeHvResult({ status: HV_STATUS.INVALID_HYPERCALL_CODE, repsCompleted: 0 })).toBe(2n);
    expect(decodeHvResult(0x0000_0abc_1234_0003n)).toEqual({ status: 3, repsCompleted: 0xabc, otherBits: 0x1234_0000n });
    expect(() => encodeHvResult({ status: 0x10000, repsCompleted: 0x1000 })).toThrow(/result\.status[\s\S]*result\.repsCompleted/);
  });
  it('property: encode -> decode identity', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xfff }), (status, repsCompleted) => {
      expect(decodeHvResult(encodeHvResult({ status, repsCompleted }))).toEqual({ status, repsCompleted, otherBits: 0n });
    }));
  });
});

describe('validateHvControl: the status the hypervisor must answer', () => {
  const w = (code: number, o: Partial<{ fast: boolean; varHeaderQwords: number; repCount: number; repStart: number; nested: boolean }> = {}): bigint =>
    encodeHvControl({ code, fast: false, varHeaderQwords: 0, repCount: 0, repStart: 0, ...o });
  const list = call(HVCALL.FLUSH_VIRTUAL_ADDRESS_LIST);
  const space = call(HVCALL.FLUSH_VIRTUAL_ADDRESS_SPACE);
  it('accepts well-formed calls', () => {
    expect(validateHvControl(w(3, { repCount: 5, repStart: 2 }), list).status).toBe(HV_STATUS.SUCCESS);
    expect(validateHvControl(w(HVCALL.SIGNAL_EVENT, { fast: true }), call(HVCALL.SIGNAL_EVENT)).status).toBe(0);
    expect(validateHvControl(w(HVCALL.SEND_IPI_EX, { varHeaderQwords: 2 }), call(HVCALL.SEND_IPI_EX)).status).toBe(0);
  });
  it('INVALID_HYPERCALL_CODE for an unknown code', () => {
    expect(validateHvControl(w(0x7777), undefined)).toEqual({ status: HV_STATUS.INVALID_HYPERCALL_CODE, reason: 'call code 0x7777 is not implemented' });
  });
  it('INVALID_HYPERCALL_INPUT for each broken rule', () => {
    const bad = (v: bigint, d: HvHypercallDef, re: RegExp): void => {
      const r = validateHvControl(v, d);
      expect(r.status).toBe(HV_STATUS.INVALID_HYPERCALL_INPUT);
      expect(r.reason).toMatch(re);
    };
    bad(w(3), list, /rep count 0/);
    bad(w(3, { repCount: 5, repStart: 5 }), list, /start index 5 >= rep count 5/);
    bad(w(2, { repCount: 1 }), space, /simple hypercall with rep count 1/);
    bad(w(2) | (1n << 44n), space, /reserved bits set: 0x100000000000/);
    bad(w(2, { nested: true }), space, /bit 31/);
    bad(w(2, { varHeaderQwords: 1 }), space, /variable header/);
    bad(w(2, { fast: true }), space, /fast bit/);
    expect(validateHvControl(w(2, { nested: true }), space, { allowNested: true }).status).toBe(0);
  });
});

describe('hypervAbi consistency', () => {
  it('unique call names and codes; rep/varHeader flags as the header comments say', () => {
    const codes = HYPERV_HYPERCALLS.map((c) => c.nr);
    expect(new Set(codes).size).toBe(codes.length);
    expect(new Set(HYPERV_HYPERCALLS.map((c) => c.name)).size).toBe(codes.length);
    expect(Object.values(HVCALL).sort((a, b) => a - b)).toEqual([...codes].sort((a, b) => a - b));
    expect(HYPERV_HYPERCALLS.filter((c) => c.rep).map((c) => c.nr)).toEqual([0x3, 0x14, 0x50, 0x51, 0xb0]);
    expect(call(0x0106).name).toBe('HVCALL_MMIO_READ');
    expect(call(0x0107).name).toBe('HVCALL_MMIO_WRITE');
    for (const c of HYPERV_HYPERCALLS) for (const id of c.conventions ?? []) expect(hypervAbi.conventions.map((k) => k.id)).toContain(id);
  });
  it('MSR layouts pass checkLayout, indices are unique, HYPERCALL is bits 0/1/11:2/63:12', () => {
    for (const m of hypervAbi.msrs) expect(checkLayout(m.layout, 64, m.name)).toEqual([]);
    expect(new Set(hypervAbi.msrs.map((m) => m.index)).size).toBe(hypervAbi.msrs.length);
    const hc = hypervAbi.msrs.find((m) => m.index === HV_X64_MSR.HYPERCALL)!;
    expect(hc.layout.map((f) => [f.name, f.lsb, f.width])).toEqual([['enable', 0, 1], ['locked', 1, 1], ['preserved', 2, 10], ['gpa', 12, 52]]);
    const at = (i: number): string | undefined => hypervAbi.msrs.find((m) => m.index === i)?.name;
    expect([at(0x4000009f), at(0x400000b6), at(0x400000b7), at(0x40000104), at(0x40000105)])
      .toEqual(['HV_X64_MSR_SINT15', 'HV_X64_MSR_STIMER3_CONFIG', 'HV_X64_MSR_STIMER3_COUNT', 'HV_X64_MSR_CRASH_P4', 'HV_X64_MSR_CRASH_CTL']);
  });
  it('feature bits are unique and inside the advertised leaves', () => {
    expect(checkFeatureDefs(hypervAbi.features, hypervAbi.cpuid.maxLeafOffset)).toEqual([]);
    expect(encodeFeatures(hypervAbi.features, ['HV_MSR_HYPERCALL_AVAILABLE', 'HV_MSR_VP_INDEX_AVAILABLE'], 3, 'eax')).toBe(0x60);
    expect(decodeFeatures(hypervAbi.features, 0x8010, 3, 'edx')).toEqual(['HV_X64_HYPERCALL_XMM_INPUT_AVAILABLE', 'HV_X64_HYPERCALL_XMM_OUTPUT_AVAILABLE']);
    // leaf 0x40000004 EAX: the hint that tells Linux pci-hyperv to use HVCALL_MMIO_READ/WRITE
    expect(encodeFeatures(hypervAbi.features, ['HV_X64_USE_MMIO_HYPERCALLS'], 4, 'eax')).toBe(1 << 21);
  });
  it('CPUID signature and interface id are the TLFS words', () => {
    expect(signatureToRegs(hypervAbi.cpuid.signature)).toEqual({ ebx: 0x7263694d, ecx: 0x666f736f, edx: 0x76482074 });
    expect(Buffer.from('Hv#1', 'latin1').readUInt32LE(0)).toBe(0x31237648);
    expect(hypervAbi.cpuid.defaultBase + hypervAbi.cpuid.minLeaves).toBe(0x40000005);
  });
  it('error model: unknown code and CPL > 0 as the TLFS says', () => {
    expect(hypervAbi.errors.unknownHypercall).toBe('HV_STATUS_INVALID_HYPERCALL_CODE');
    expect(hypervAbi.errors.cplNonZero).toBe('#UD');
    expect(hypervAbi.errors.codes.find((c) => c.name === 'HV_STATUS_INVALID_ALIGNMENT')?.value).toBe(4);
  });
  it('conventions: x64 RCX/RDX/R8 -> RAX; x86 EDX:EAX, EBX:ECX, EDI:ESI -> EDX:EAX', () => {
    const x64 = hypervAbi.conventions.find((c) => c.id === 'x64')!;
    expect([x64.number, ...x64.args, ...x64.results]).toEqual(['rcx', 'rdx', 'r8', 'rax']);
    const x86 = hypervAbi.conventions.find((c) => c.id === 'x86')!;
    expect([x86.number, ...x86.args, ...x86.results]).toEqual([{ hi: 'edx', lo: 'eax' }, { hi: 'ebx', lo: 'ecx' }, { hi: 'edi', lo: 'esi' }, { hi: 'edx', lo: 'eax' }]);
  });
  it('MMIO read/write parameter blocks: contiguous fields, sizes 16/64/80 (hvgdk_mini.h)', () => {
    for (const s of [HV_MMIO_READ_INPUT, HV_MMIO_READ_OUTPUT, HV_MMIO_WRITE_INPUT, ...HYPERV_HYPERCALLS.flatMap((c) => [c.input, c.output]).filter((x) => !!x)]) {
      let at = 0;
      for (const fl of s!.fields) { expect(fl.offset, `${s!.name}.${fl.name}`).toBe(at); at += fl.size; }
      expect(at, s!.name).toBe(s!.size);
      expect(s!.size % 8, `${s!.name} padded to 8 bytes (TLFS alignment)`).toBe(0);
    }
    expect([HV_MMIO_READ_INPUT.size, HV_MMIO_READ_OUTPUT.size, HV_MMIO_WRITE_INPUT.size]).toEqual([16, 64, 80]);
  });
});

describe('GUEST_OS_ID and HYPERCALL MSR values', () => {
  it('open-source id: Linux = HV_LINUX_VENDOR_ID << 48 | version << 16 (hyperv-tlfs.h hv_generate_guest_id)', () => {
    const v = encodeHvGuestOsIdOpenSource({ osType: 1, version: 0x060100 });
    expect(v).toBe((0x8100n << 48n) | (0x060100n << 16n));
    expect(decodeFields(HV_GUEST_OS_ID_OPEN_SOURCE_LAYOUT, v)).toEqual({ build: 0n, version: 0x060100n, osId: 0n, osType: 1n, openSource: true });
    expect(() => encodeHvGuestOsIdOpenSource({ osType: 0x80, version: 0 })).toThrow(/osType: does not fit in 7 bit/);
  });
  it('proprietary id: Microsoft vendor 1, bit 63 clear', () => {
    expect(encodeHvGuestOsIdProprietary({ vendor: 1, osId: 4, major: 10, minor: 0, build: 19041 })).toBe(0x0001_040a_0000_0000n | 19041n);
  });
  it('HYPERCALL MSR: GPA | enable, alignment enforced', () => {
    expect(encodeHvHypercallMsr({ gpa: 0x7ffff000n, enable: true })).toBe(0x7ffff001n);
    expect(encodeHvHypercallMsr({ gpa: 0xfffff_ffff_f000n, enable: true, locked: true })).toBe(0xfffff_ffff_f003n);
    expect(() => encodeHvHypercallMsr({ gpa: 0x1008n, enable: true })).toThrow(/HV_X64_MSR_HYPERCALL\.gpa: address must be aligned to 4096/);
  });
});

describe('hypercall page', () => {
  it('stub bytes: [or eax,0x80000000] vmcall|vmmcall ret', () => {
    expect([...hypervHypercallStub('vmcall')]).toEqual([0x0f, 0x01, 0xc1, 0xc3]);
    expect([...hypervHypercallStub('vmmcall', { xenViridian: true })]).toEqual([0x0d, 0, 0, 0, 0x80, 0x0f, 0x01, 0xd9, 0xc3]);
    const page = hypervHypercallPage('vmcall');
    expect(page.length).toBe(4096);
    expect(page.slice(4).every((b) => b === 0xcc)).toBe(true);
    expect(hypervHypercallPage('vmcall', { fill: 0 }).slice(4).every((b) => b === 0)).toBe(true);
    expect(() => hypervHypercallStub('syscall' as 'vmcall')).toThrow(/vmcall or vmmcall/);
  });
  it.skipIf(!hasObjdump)('objdump reads the page as the intended instructions in 64- and 32-bit mode', () => {
    for (const arch of ['i386:x86-64', 'i386'] as const) {
      const rows = objdump(hypervHypercallPage('vmmcall', { xenViridian: true }).slice(0, 10), arch);
      expect(rows.map((r) => r.text)).toEqual(['or eax,0x80000000', 'vmmcall', 'ret', 'int3']);
      expect(objdump(hypervHypercallStub('vmcall'), arch).map((r) => r.text)).toEqual(['vmcall', 'ret']);
    }
  });
});

describe('parameter block alignment (TLFS "Alignment Requirements")', () => {
  it('8-byte aligned, inside one page, not overlapping', () => {
    expect(checkHvParamBlocks({ gpa: 0x1000n, size: 16 }, { gpa: 0x1010n, size: 64 }).status).toBe(HV_STATUS.SUCCESS);
    expect(checkHvParamBlocks({ gpa: 0x1004n, size: 16 })).toEqual({ status: HV_STATUS.INVALID_ALIGNMENT, reason: 'input GPA 0x1004 not 8-byte aligned' });
    expect(checkHvParamBlocks({ gpa: 0x1ff8n, size: 16 }).reason).toMatch(/crosses a page/);
    expect(checkHvParamBlocks({ gpa: 0x1000n, size: 16 }, { gpa: 0x1008n, size: 8 }).reason).toMatch(/overlap/);
  });
});
