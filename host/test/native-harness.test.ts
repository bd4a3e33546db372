// The native harness itself: registers, flags and scratch memory make the round trip through the real CPU
// exactly, and results match a small bigint model for the simple ALU ops (which proves the transport, not the CPU).
import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { assembleSnippets, hasGnuAs } from './native/assemble.js';
import { generateCases } from './native/generator.js';
import { type HarnessBuild, type MachineCase, buildHarness, runNative } from './native/harness.js';
import { AF, CF, CODE_BASE, FLAG_MASK, OF, PF, SCRATCH_BASE, SF, ZF, type Bits } from './native/layout.js';
import { regName, widthMask, type Width } from './native/context.js';
import { Rng } from './native/rng.js';
import { OPS } from './native/ops.js';

const builds: Record<Bits, HarnessBuild> = { 64: buildHarness(64), 32: buildHarness(32) };
const asOk = hasGnuAs();
for (const bits of [64, 32] as const) {
  const b = builds[bits];
  if (!b.ok) console.warn(`native ${bits}-bit harness tests skipped: ${b.reason}`);
}
if (!asOk) console.warn('native harness tests skipped: GNU as/objcopy/nm (binutils) not installed');

function run(bits: Bits, cases: MachineCase[]) {
  const b = builds[bits];
  if (!b.ok) throw new Error(b.reason);
  return runNative(b, cases);
}

function parity(v: bigint): boolean {
  let x = Number(v & 0xffn);
  x ^= x >> 4; x ^= x >> 2; x ^= x >> 1;
  return (x & 1) === 0;
}

/** Reference for add/adc/sub/sbb/and/or/xor (SDM Vol.2 "Operation" and "Flags Affected" of each). */
function aluModel(op: string, a: bigint, b: bigint, cfIn: boolean, w: number): { r: bigint; flags: number } {
  const m = widthMask(w);
  const carry = (op === 'adc' || op === 'sbb') && cfIn ? 1n : 0n;
  let r: bigint; let cf = false; let of = false; let af = false;
  if (op === 'add' || op === 'adc') {
    const full = a + b + carry;
    r = full & m; cf = full > m;
    of = ((a ^ r) & (b ^ r) & (1n << BigInt(w - 1))) !== 0n;
    af = ((a ^ b ^ r) & 0x10n) !== 0n;
  } else if (op === 'sub' || op === 'sbb') {
    const full = a - b - carry;
    r = full & m; cf = full < 0n;
    of = ((a ^ b) & (a ^ r) & (1n << BigInt(w - 1))) !== 0n;
    af = ((a ^ b ^ r) & 0x10n) !== 0n;
  } else {
    r = op === 'and' ? a & b : op === 'or' ? a | b : a ^ b;
  }
  let flags = 0;
  if (cf) flags |= CF;
  if (of) flags |= OF;
  if (af) flags |= AF;
  if (r === 0n) flags |= ZF;
  if (r >> BigInt(w - 1)) flags |= SF;
  if (parity(r)) flags |= PF;
  return { r, flags };
}

describe.each([64, 32] as const)('native harness, %i-bit', (bits) => {
  const ready = builds[bits].ok && asOk;
  const nregs = bits === 64 ? 16 : 8;

  it.skipIf(!ready)('returns every GPR, flag combination and scratch byte unchanged through nop', () => {
    const rng = new Rng(7);
    const [nop] = assembleSnippets([['nop']], bits);
    const cases: MachineCase[] = [];
    for (let f = 0; f < 128; f++) {
      // all 2^7 combinations of CF PF AF ZF SF DF OF
      const flags = [CF, PF, AF, ZF, SF, 1 << 10, OF].reduce((acc, bit, i) => ((f >> i) & 1 ? acc | bit : acc), 0);
      cases.push({ code: nop!, regs: Array.from({ length: nregs }, () => rng.value(bits)), flags, scratch: rng.bytes(64) });
    }
    const res = run(bits, cases);
    res.forEach((r, i) => {
      const c = cases[i]!;
      expect(r.kind).toBe('ok');
      if (r.kind !== 'ok') return;
      expect(r.regs).toEqual(c.regs);
      expect(r.flags).toBe(c.flags & FLAG_MASK);
      expect(r.scratch.subarray(0, 64)).toEqual(c.scratch);
    });
  });

  it.skipIf(!ready)('reports #DE as SIGFPE instead of dying', () => {
    const [code] = assembleSnippets([[bits === 64 ? 'div rcx' : 'div ecx']], bits);
    const regs = Array.from({ length: nregs }, () => 0n);
    const [r, after] = run(bits, [{ code: code!, regs, flags: 0 }, { code: code!, regs: regs.map((_, i) => (i === 1 ? 3n : 0n)), flags: 0 }]);
    // a fault: RIP still at the div (nothing retired), registers as loaded
    expect(r).toEqual({ kind: 'fault', signal: constants.signals.SIGFPE, rip: CODE_BASE, regs, flags: 0 });
    expect(after?.kind).toBe('ok'); // the harness keeps going after a fault
  });

  it.skipIf(!ready)('agrees with a bigint model of add/adc/sub/sbb/and/or/xor on registers and memory', () => {
    const rng = new Rng(11);
    const widths: Width[] = bits === 64 ? [8, 16, 32, 64] : [8, 16, 32];
    const ops = ['add', 'adc', 'sub', 'sbb', 'and', 'or', 'xor'];
    const specs: { op: string; w: Width; mem: boolean; a: bigint; b: bigint; regs: bigint[]; flags: number; scratch: Uint8Array }[] = [];
    for (let i = 0; i < 400; i++) {
      const op = ops[i % ops.length]!; const w = widths[(i >> 3) % widths.length]!; const mem = i % 5 === 0;
      const regs = Array.from({ length: nregs }, () => rng.value(bits));
      const scratch = rng.bytes(16);
      const flags = rng.u32() & FLAG_MASK;
      const a = mem ? BigInt(`0x${Buffer.from(scratch.subarray(0, w / 8)).reverse().toString('hex')}`) : regs[0]! & widthMask(w);
      if (mem) regs[3] = SCRATCH_BASE;
      specs.push({ op, w, mem, a, b: regs[1]! & widthMask(w), regs, flags, scratch });
    }
    const ptr = { 8: 'byte', 16: 'word', 32: 'dword', 64: 'qword' } as const;
    const codes = assembleSnippets(
      specs.map((s) => [`${s.op} ${s.mem ? `${ptr[s.w]} ptr [${regName(3, bits)}]` : regName(0, s.w)}, ${regName(1, s.w)}`]),
      bits,
    );
    const res = run(bits, specs.map((s, i) => ({ code: codes[i]!, regs: s.regs, flags: s.flags, scratch: s.scratch })));
    res.forEach((r, i) => {
      const s = specs[i]!;
      const want = aluModel(s.op, s.a, s.b, (s.flags & CF) !== 0, s.w);
      expect(r.kind).toBe('ok');
      if (r.kind !== 'ok') return;
      const logic = s.op === 'and' || s.op === 'or' || s.op === 'xor';
      const mask = logic ? FLAG_MASK & ~AF : FLAG_MASK; // AF undefined after logic ops
      expect(r.flags & mask & ~(1 << 10), `${s.op} w${s.w} a=${s.a} b=${s.b}`).toBe(want.flags & mask);
      const got = s.mem
        ? BigInt(`0x${Buffer.from(r.scratch.subarray(0, s.w / 8)).reverse().toString('hex')}`)
        : s.w === 32 && bits === 64 ? r.regs[0]! : r.regs[0]! & widthMask(s.w);
      // 32-bit destinations zero-extend into the 64-bit register (SDM Vol.1 3.4.1.1).
      expect(got).toBe(want.r);
      if (!s.mem && s.w < 32) expect(r.regs[0]! & ~widthMask(s.w)).toBe(s.regs[0]! & ~widthMask(s.w) & widthMask(bits));
    });
  });

  it.skipIf(!ready)('runs a few thousand generated cases of every op group without a fault', () => {
    const cases = generateCases({ bits, seed: 3, count: 3000 });
    const codes = assembleSnippets(cases.map((c) => c.asm), bits);
    const res = run(bits, cases.map((c, i) => ({ code: codes[i]!, regs: c.regs, flags: c.flags, scratch: c.scratch })));
    const faults = res.flatMap((r, i) => (r.kind === 'fault' ? [`${cases[i]!.asm.join('; ')}: signal ${r.signal}`] : []));
    expect(faults).toEqual([]);
    const groups = new Set(cases.map((c) => c.group));
    const expected = OPS.map((o) => o.group).filter((g) => bits === 64 || g !== 'movsxd');
    expect([...groups].sort()).toEqual([...new Set(expected)].sort());
    // the same seed gives the same batch
    expect(generateCases({ bits, seed: 3, count: 50 }).map((c) => c.asm)).toEqual(cases.slice(0, 50).map((c) => c.asm));
  });
});
