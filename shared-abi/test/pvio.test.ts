import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Decoder, DecoderOptions, InstructionInfoFactory, MemorySizeExt, Mnemonic, OpAccess, Register, RegisterExt } from 'iced-x86';
import { describe, expect, it } from 'vitest';
import {
  PVIO_DESC_LAYOUT, PVIO_HC, PVIO_HC_FEATURE, PVIO_PLAIN_EQUIVALENT, PVIO_STATUS, PvioError, checkFeatureDefs, checkLayout, checkPvioDesc,
  decodeHvControl, decodePvioDesc, encodeFeatures, encodeFields, encodePvioDesc, hypervAbi, kvmAbi, makePvioAbi, parsePvioCall, plainInstruction, pvioAbi,
  pvioHypercallPage, pvioPlainEquivalent, pvioRegStatus, pvioStatusReg, signatureToRegs, vmwareAbi, xenAbi,
} from '../src/index.js';
import type { PvioAccess, PvioHcName, PvioOp, PvioSize, PvioStatusName } from '../src/index.js';

const has = (tool: string, arg = '--version'): boolean => { try { execFileSync(tool, [arg], { stdio: 'ignore' }); return true; } catch { return false; } };
const hasNasm = has('nasm', '-v');
const hasObjdump = has('objdump');
if (!hasNasm) console.warn('pvio.test: nasm missing, plain-instruction assembly checks skipped');
if (!hasObjdump) console.warn('pvio.test: objdump missing, hypercall-page disassembly check skipped');

const mmio = (address: bigint, size: PvioSize, write = false): PvioAccess => ({ space: 'mmio', address, size, write });
const pio = (address: bigint, size: PvioSize, write = false): PvioAccess => ({ space: 'pio', address, size, write });

/** Arbitrary valid access (aligned MMIO below 2^52, in-range ports). */
const arbAccess: fc.Arbitrary<PvioAccess> = fc.oneof(
  fc.tuple(fc.constantFrom<PvioSize>(1, 2, 4, 8), fc.bigInt({ min: 0n, max: (1n << 52n) - 1n }), fc.boolean())
    .map(([size, a, write]) => mmio(a - (a % BigInt(size)), size, write)),
  fc.tuple(fc.constantFrom<PvioSize>(1, 2, 4), fc.integer({ min: 0, max: 0xffff }), fc.boolean())
    .map(([size, p, write]) => pio(BigInt(Math.min(p, 0x10000 - size)), size, write)),
);

describe('pvio access descriptor (spec §4.0)', () => {
  it('encodes the vectors bit-exactly and decodes them back', () => {
    const vectors: [PvioAccess, bigint][] = [
      [mmio(0xfee0_0000n, 4), 0x0020_0000_fee0_0000n], // sizeLog2 2 at 53:52
      [mmio(0xf_ffff_fff8n, 8, true), 0x0070_000f_ffff_fff8n], // sizeLog2 3, write bit 54
      [pio(0x3f8n, 1, true), 0x00c0_0000_0000_03f8n], // pio bit 55, write bit 54
      [pio(0xcfcn, 2), 0x0090_0000_0000_0cfcn],
      [mmio((1n << 52n) - 8n, 8), 0x003f_ffff_ffff_fff8n],
    ];
    for (const [a, d] of vectors) {
      expect(encodePvioDesc(a)).toBe(d);
      expect(decodePvioDesc(d)).toEqual({ ...a, reservedBits: 0n });
      // the data table describes the same bits as the codec
      expect(encodeFields(PVIO_DESC_LAYOUT, { address: a.address, sizeLog2: BigInt(Math.log2(a.size)), write: a.write, pio: a.space === 'pio' })).toBe(d);
    }
    expect(checkLayout(PVIO_DESC_LAYOUT)).toEqual([]);
  });
  it('rejects bad accesses with located errors and the status the host returns (EINVAL)', () => {
    const err = (a: PvioAccess): PvioError => {
      try { encodePvioDesc(a); } catch (e) { return e as PvioError; }
      throw new Error('expected an error');
    };
    const cases: [PvioAccess, string, RegExp][] = [
      [mmio(0x1000n, 3 as PvioSize), 'desc.size', /mmio access size must be 1, 2, 4, 8/],
      [mmio(0x1002n, 4), 'desc.address', /misaligned: a 4-byte MMIO access needs a multiple of 4/],
      [mmio(1n << 52n, 1), 'desc.address', /beyond the 52-bit guest-physical space/],
      [pio(0x60n, 8), 'desc.size', /pio access size must be 1, 2, 4/],
      [pio(0x10000n, 1), 'desc.address', /port beyond 0xFFFF/],
      [pio(0xffffn, 2), 'desc.address', /port \+ size runs past 0xFFFF/],
      [mmio(-1n, 1), 'desc.address', /non-negative/],
    ];
    for (const [a, path, re] of cases) {
      const e = err(a);
      expect(e).toBeInstanceOf(PvioError);
      expect(e.status).toBe('EINVAL');
      expect(e.problems[0]!.path).toBe(path);
      expect(e.problems[0]!.message).toMatch(re);
    }
  });
  it('checkPvioDesc: reserved bits, space mismatch and a smaller advertised address width', () => {
    const r = checkPvioDesc(encodePvioDesc(mmio(0x1000n, 4)) | (1n << 60n), 'mmio');
    expect(r).toMatchObject({ ok: false, status: 'EINVAL', code: 22, problems: [{ path: 'desc.reserved', value: 1n << 60n }] });
    expect(checkPvioDesc(encodePvioDesc(pio(0x60n, 1)), 'mmio')).toMatchObject({ ok: false, problems: [{ path: 'desc.pio', message: 'descriptor says pio, the call is mmio' }] });
    expect(checkPvioDesc(encodePvioDesc(mmio(1n << 40n, 4)), 'mmio', { physBits: 39 })).toMatchObject({ ok: false, problems: [{ message: 'address beyond the 39-bit guest-physical space' }] });
    expect(checkPvioDesc(encodePvioDesc(mmio(1n << 40n, 4)), 'mmio')).toEqual({ ok: true, value: mmio(1n << 40n, 4) });
  });
  it('property: encode -> decode is the identity; decode -> encode restores any valid descriptor', () => {
    fc.assert(fc.property(arbAccess, (a) => {
      const d = encodePvioDesc(a);
      expect(decodePvioDesc(d)).toEqual({ ...a, reservedBits: 0n });
      expect(checkPvioDesc(d, a.space)).toEqual({ ok: true, value: a });
    }), { numRuns: 1000 });
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (d) => {
      const x = decodePvioDesc(d);
      const r = checkPvioDesc(d, x.space);
      if (r.ok) expect(encodePvioDesc(r.value)).toBe(d);
      else expect(r.status).toBe('EINVAL');
    }), { numRuns: 1000 });
  });
});

describe('pvio status in the result register (spec §5)', () => {
  it('is -errno at the caller width, like KVM', () => {
    expect(pvioStatusReg('OK', 64)).toBe(0n);
    expect(pvioStatusReg('EINVAL', 64)).toBe(0xffff_ffff_ffff_ffean);
    expect(pvioStatusReg('EINVAL', 32)).toBe(0xffff_ffean);
    expect(pvioStatusReg('ENOSYS', 64)).toBe(0xffff_ffff_ffff_ffdan);
    for (const k of Object.keys(PVIO_STATUS) as PvioStatusName[]) for (const bits of [64, 32] as const) expect(pvioRegStatus(pvioStatusReg(k, bits), bits)).toBe(k);
    // KVM's -KVM_ENOSYS is not a pvio status: the guest treats it as "not available" and falls back
    expect(pvioRegStatus(0xffff_ffff_ffff_fc18n, 64)).toBeUndefined();
    expect(pvioRegStatus(1n << 40n, 32)).toBeUndefined();
  });
});

describe('parsePvioCall: what the host answers before touching a device', () => {
  const ctx = { bits: 64 as const };
  const nr = (k: PvioHcName): bigint => BigInt(PVIO_HC[k]);
  it('turns well-formed calls into operations', () => {
    expect(parsePvioCall(nr('MMIO'), encodePvioDesc(mmio(0xfe00_0000n, 8, true)), 0x1122_3344_5566_7788n, ctx))
      .toEqual({ ok: true, value: { kind: 'access', access: mmio(0xfe00_0000n, 8, true), data: 0x1122_3344_5566_7788n } });
    expect(parsePvioCall(nr('PIO'), encodePvioDesc(pio(0x3f8n, 1)), 0n, ctx)).toMatchObject({ ok: true, value: { kind: 'access' } });
    expect(parsePvioCall(nr('DOORBELL_REGISTER'), encodePvioDesc(pio(0xc050n, 2, true)), 0n, ctx))
      .toEqual({ ok: true, value: { kind: 'doorbell-register', access: pio(0xc050n, 2, true) } });
    expect(parsePvioCall(nr('DOORBELL_RING'), 7n, 0xffffn, ctx)).toEqual({ ok: true, value: { kind: 'doorbell-ring', id: 7, data: 0xffffn } });
    expect(parsePvioCall(nr('DOORBELL_UNREGISTER'), 7n, 0n, ctx)).toEqual({ ok: true, value: { kind: 'doorbell-unregister', id: 7 } });
  });
  it('answers EPERM, ENOSYS and EINVAL with the reason', () => {
    const st = (r: ReturnType<typeof parsePvioCall>): string => (r.ok ? 'OK' : `${r.status}: ${r.problems[0]!.path}: ${r.problems[0]!.message}`);
    const d4 = encodePvioDesc(mmio(0x1000n, 4, true));
    expect(st(parsePvioCall(nr('MMIO'), d4, 0n, { bits: 64, cpl: 3 }))).toBe('EPERM: cpl: pvio calls are CPL 0 only');
    expect(st(parsePvioCall(0x5056_0000n, 0n, 0n, ctx))).toBe('ENOSYS: nr: unassigned number in the pvio range');
    expect(st(parsePvioCall(0x1_5056_0001n, d4, 0n, ctx))).toBe('ENOSYS: nr: not a pvio number');
    expect(st(parsePvioCall(12n, d4, 0n, ctx))).toBe('ENOSYS: nr: not a pvio number');
    expect(st(parsePvioCall(nr('MMIO'), d4, 0n, { bits: 64, features: ['PIO_HCALL'] }))).toBe('ENOSYS: nr: PVIO_FEATURE_MMIO_HCALL is not advertised');
    expect(st(parsePvioCall(nr('MMIO'), d4, 0x1_0000_0000n, ctx))).toBe('EINVAL: data: does not fit a 4-byte write (no silent truncation)');
    expect(st(parsePvioCall(nr('MMIO'), encodePvioDesc(mmio(0x1000n, 4)), 5n, ctx))).toBe('EINVAL: data: must be 0 for a read (reserved)');
    expect(st(parsePvioCall(nr('PIO'), d4, 0n, ctx))).toBe('EINVAL: desc.pio: descriptor says mmio, the call is pio');
    expect(st(parsePvioCall(nr('DOORBELL_REGISTER'), encodePvioDesc(mmio(0x1000n, 4)), 0n, ctx))).toBe('EINVAL: desc.write: a doorbell is a write');
    expect(st(parsePvioCall(nr('DOORBELL_RING'), 0n, 0n, ctx))).toBe('EINVAL: id: doorbell id is 1..0xFFFFFFFF');
    expect(st(parsePvioCall(nr('DOORBELL_UNREGISTER'), 1n, 9n, ctx))).toBe('EINVAL: zero: must be 0 (reserved)');
  });
  it('every call is gated by a feature bit that exists in the ABI', () => {
    for (const k of Object.keys(PVIO_HC) as PvioHcName[]) {
      expect(pvioAbi.features.map((f) => f.name)).toContain(`PVIO_FEATURE_${PVIO_HC_FEATURE[k]}`);
      expect(parsePvioCall(nr(k), 0n, 0n, { bits: 32, features: [] })).toMatchObject({ ok: false, status: 'ENOSYS' });
    }
  });
});

describe('THE RULE: every pvio operation has a plain MMIO or port-I/O equivalent (spec §6)', () => {
  it('every hypercall names its plain equivalent in the data', () => {
    expect(Object.keys(PVIO_PLAIN_EQUIVALENT).sort()).toEqual(Object.keys(PVIO_HC).sort());
    for (const h of pvioAbi.hypercalls) expect(h.doc).toMatch(/Plain equivalent: /);
  });
  it('property: the plain equivalent of an access or a ring touches the same place, size, direction and data', () => {
    fc.assert(fc.property(arbAccess, fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.constantFrom<64 | 32>(64, 32), (a, raw, bits) => {
      const data = a.write ? raw & ((1n << BigInt(a.size * 8)) - 1n) : 0n;
      const op = parsePvioCall(BigInt(a.space === 'mmio' ? PVIO_HC.MMIO : PVIO_HC.PIO), encodePvioDesc(a), data, { bits });
      expect(op.ok).toBe(true);
      const p = pvioPlainEquivalent((op as { value: PvioOp }).value, { bits });
      expect(p).toEqual({ kind: a.space, address: a.address, size: a.size, write: a.write, ...(a.write ? { data } : {}), insn: plainInstruction(a, bits) });
      if (a.write) {
        const ring = pvioPlainEquivalent({ kind: 'doorbell-ring', id: 3, data }, { bits, doorbells: new Map([[3, a]]) });
        expect(ring).toEqual(p);
      }
    }), { numRuns: 500 });
  });
  it('registration and unknown rings touch no device', () => {
    expect(pvioPlainEquivalent({ kind: 'doorbell-register', access: mmio(0x1000n, 4, true) }).kind).toBe('none');
    expect(pvioPlainEquivalent({ kind: 'doorbell-unregister', id: 1 }).kind).toBe('none');
    expect(pvioPlainEquivalent({ kind: 'doorbell-ring', id: 9, data: 1n })).toEqual({ kind: 'none', why: expect.stringMatching(/ENOENT/) });
  });
  it.skipIf(!hasNasm)('each plain instruction, assembled by nasm and decoded by iced-x86, is one access of the right size and direction', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvkit-pvio-'));
    const factory = new InstructionInfoFactory();
    let n = 0;
    try {
      for (const bits of [64, 32] as const) {
        for (const space of ['mmio', 'pio'] as const) {
          for (const size of (space === 'pio' ? [1, 2, 4] : [1, 2, 4, 8]) as PvioSize[]) {
            for (const write of [false, true]) {
              const a: PvioAccess = { space, address: 0x1000n, size, write };
              const insn = plainInstruction(a, bits);
              const asm = join(dir, `i${n}.asm`);
              const bin = join(dir, `i${n++}.bin`);
              writeFileSync(asm, `bits ${bits}\n${insn.replace('[addr]', '[0x1000]')}\n`);
              execFileSync('nasm', ['-f', 'bin', '-o', bin, asm]);
              const bytes = new Uint8Array(readFileSync(bin));
              const dec = new Decoder(bits, bytes, DecoderOptions.None);
              const ins = dec.decode();
              const what = `${bits}-bit ${insn}`;
              expect(ins.length, `${what}: one instruction`).toBe(bytes.length);
              if (space === 'mmio') {
                const info = factory.info(ins);
                const mem = info.usedMemory();
                expect(mem.length, what).toBe(1);
                expect(MemorySizeExt.size(mem[0].memorySize), what).toBe(size);
                expect(mem[0].access, what).toBe(write ? OpAccess.Write : OpAccess.Read);
                expect(mem[0].displacement, what).toBe(0x1000n);
                for (const m of mem) m.free();
                info.free();
              } else {
                expect(ins.mnemonic, what).toBe(write ? Mnemonic.Out : Mnemonic.In);
                const [portReg, dataReg] = write ? [ins.op0Register, ins.op1Register] : [ins.op1Register, ins.op0Register];
                expect(portReg, what).toBe(Register.DX);
                expect(RegisterExt.size(dataReg), what).toBe(size);
              }
              ins.free();
              dec.free();
            }
          }
        }
      }
    } finally {
      factory.free();
    }
    expect(n).toBe(28);
  });
});

describe('pvioAbi consistency', () => {
  it('names and numbers unique, all inside the claimed range, gated by features inside the advertised leaves', () => {
    const nrs = pvioAbi.hypercalls.map((h) => h.nr);
    expect(new Set(nrs).size).toBe(nrs.length);
    expect(new Set(pvioAbi.hypercalls.map((h) => h.name)).size).toBe(nrs.length);
    for (const n of nrs) expect(n >= pvioAbi.space.lo && n <= pvioAbi.space.hi).toBe(true);
    expect(checkFeatureDefs(pvioAbi.features, pvioAbi.cpuid.maxLeafOffset)).toEqual([]);
    for (const m of pvioAbi.msrs) expect(checkLayout(m.layout, 64, m.name)).toEqual([]);
    expect(new Set(pvioAbi.errors.codes.map((c) => c.value)).size).toBe(pvioAbi.errors.codes.length);
    expect(pvioAbi.errors.codes.map((c) => c.name)).toEqual(expect.arrayContaining([pvioAbi.errors.unknownHypercall, pvioAbi.errors.cplNonZero]));
    expect(encodeFeatures(pvioAbi.features, ['PVIO_FEATURE_MMIO_HCALL', 'PVIO_FEATURE_PIO_HCALL', 'PVIO_FEATURE_DOORBELL', 'PVIO_FEATURE_HCPAGE'], 1, 'eax')).toBe(0xf);
  });
  it('its number range collides with no other built-in ABI on the same selector (KVM, Xen, VMware magic)', () => {
    for (const other of [kvmAbi, xenAbi, vmwareAbi, hypervAbi]) {
      if (other.space.selector !== pvioAbi.space.selector) continue;
      const disjoint = pvioAbi.space.hi < other.space.lo || pvioAbi.space.lo > other.space.hi;
      expect(disjoint, `pvio vs ${other.name}`).toBe(true);
    }
    // a 32-bit Hyper-V caller's control word is EDX:EAX: no pvio number is a valid one (RsvdZ bits 30, 28 set)
    for (const h of pvioAbi.hypercalls) expect(decodeHvControl(BigInt(h.nr)).reservedBits, h.name).toBe((1n << 30n) | (1n << 28n));
    // Xen's Viridian routing uses EAX bit 31; pvio numbers keep it clear
    expect(pvioAbi.space.hi & 0x8000_0000).toBe(0);
  });
  it('signature leaf: 12 bytes at a configurable base; bad bases rejected with a located error', () => {
    expect(signatureToRegs(pvioAbi.cpuid.signature)).toEqual({ ebx: 0x696b7650, ecx: 0x69765074, edx: 0x4942416f });
    expect(pvioAbi.cpuid.defaultBase).toBe(0x40000100);
    const moved = makePvioAbi({ base: 0x40000200 });
    expect(moved.cpuid.defaultBase).toBe(0x40000200);
    expect(moved.constants.find((c) => c.name === 'PVIO_CPUID_BASE')?.value).toBe(0x40000200);
    expect(() => makePvioAbi({ base: 0x40000180 })).toThrow(/base: pvio base must be 0x40000000\.\.0x4000FF00 in steps of 0x100/);
    expect(() => makePvioAbi({ base: 0x40010000 })).toThrow(/steps of 0x100/);
  });
  it('x64 and x86 conventions: status apart from data, so a 64-bit read is unambiguous', () => {
    const x64 = pvioAbi.conventions.find((c) => c.id === 'x64')!;
    expect([x64.number, ...x64.args]).toEqual(['rax', 'rbx', 'rcx']);
    expect(x64.results).toEqual(['rax', 'rcx']);
    const x86 = pvioAbi.conventions.find((c) => c.id === 'x86')!;
    expect(x86.results).toEqual(['eax', { hi: 'esi', lo: 'edx' }]);
  });
  it.skipIf(!hasObjdump)('the hypercall page reads as vmcall|vmmcall; ret; int3...', () => {
    for (const insn of ['vmcall', 'vmmcall'] as const) {
      const page = pvioHypercallPage(insn);
      expect(page.length).toBe(4096);
      const dir = mkdtempSync(join(tmpdir(), 'pvkit-pvio-'));
      writeFileSync(join(dir, 'p.bin'), page.slice(0, 8));
      const out = execFileSync('objdump', ['-D', '-b', 'binary', '-m', 'i386:x86-64', '-M', 'intel', join(dir, 'p.bin')], { encoding: 'utf8' });
      const mnems = [...out.matchAll(/^\s+[0-9a-f]+:\t[0-9a-f ]+\t(\S+)/gm)].map((m) => m[1]);
      expect(mnems).toEqual([insn, 'ret', 'int3', 'int3', 'int3', 'int3']);
      expect(page.slice(4).every((b) => b === 0xcc)).toBe(true);
    }
  });
});
