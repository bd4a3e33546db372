// Property: random programs (instructions from every form in the table, random operands, labels, branches,
// alignment, data) printed by toNasm() and assembled by the real nasm give exactly our bytes. Branch widths
// are left out of the printed source, so nasm's own optimiser must also agree with our relaxation.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Asm, AsmError, FORMS, REGISTERS, addr, mem, type Mem, type Operand, type Reg } from '@pvkit/guest-sdk';
import { flatten } from '../src/x86/layout.js';
import { hasNasm, nasm } from './x86-tools.js';

type Bits = 32 | 64;
const LABELS = ['L0', 'L1', 'L2', 'L3', 'L4'];
const MNEMONICS = Object.keys(FORMS).filter((m) => m !== 'nop');

function regs(bits: Bits, size: number): Reg[] {
  const all = [...REGISTERS.values()].filter((r) => r.size === size);
  const ok = all.filter((r) => bits === 64 || (r.num < 8 && !r.needsRex && r.size !== 64));
  // A form with r64 in 32-bit mode still gets a register, which the encoder must reject.
  return ok.length ? ok : all;
}

const interesting = [0n, 1n, 2n, 3n, 0x7fn, 0x80n, 0xffn, 0x100n, -1n, -0x80n, -0x81n, 0x7fffn, 0x8000n, 0xffffn, 0x10000n,
  0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, -0x80000000n, 0x7fffffffffffffffn, -0x8000000000000000n, 0xffffffffffffffffn];
const immArb = fc.oneof(fc.constantFrom(...interesting), fc.bigInt(-(1n << 63n), (1n << 64n) - 1n), fc.bigInt(-300n, 300n));

function memArb(bits: Bits, size: number | undefined): fc.Arbitrary<Mem> {
  const addrRegs = regs(bits, bits);
  const disp = fc.oneof(fc.constant(0n), fc.bigInt(-0x90n, 0x90n), fc.bigInt(-(1n << 31n), (1n << 31n) - 1n));
  const sized = (m: Mem): Mem => (size === undefined ? m : { ...m, size: size as 8 });
  const based = fc.record({
    base: fc.option(fc.constantFrom(...addrRegs), { nil: undefined }),
    index: fc.option(fc.constantFrom(...addrRegs.filter((r) => r.num !== 4)), { nil: undefined }),
    scale: fc.constantFrom(1, 2, 4, 8),
    disp,
  }).map(({ base, index, scale, disp: d }) => sized(base ? mem(base, { index, scale, disp: d }) : mem(d, { index, scale })));
  // Labels in .text and in .rodata ('ro'): RIP-relative in 64-bit; absolute, alone or after base+index, in 32-bit.
  const anyLabel = fc.tuple(fc.constantFrom(...LABELS, 'ro'), fc.bigInt(-8n, 8n));
  const label = bits === 64
    ? anyLabel.map(([l, k]) => sized(mem.rip(l, k)))
    : fc.tuple(anyLabel, fc.option(fc.constantFrom(...addrRegs), { nil: undefined }), fc.option(fc.constantFrom(...addrRegs.filter((r) => r.num !== 4)), { nil: undefined }), fc.constantFrom(1, 2, 4, 8))
      .map(([[l, k], base, index, scale]) => sized(base ? mem(base, { index, scale, disp: addr(l, k) }) : mem(addr(l, k), { index, scale })));
  return fc.oneof({ arbitrary: based, weight: 4 }, { arbitrary: label, weight: 1 });
}

function sizesFor(s: string, bits: Bits): number[] {
  return { v: bits === 64 ? [16, 32, 64] : [16, 32], y: bits === 64 ? [32, 64] : [32], z: [16, 32], n: bits === 64 ? [16, 64] : [16, 32], p: [bits] }[s] ?? [Number(s)];
}

function operandArb(p: string, osz: number, bits: Bits): fc.Arbitrary<Operand> {
  const m = /^(rm|r|m|acc)(8|16|32|64|v|y|z|n|p)?$/.exec(p);
  if (m) {
    const size = m[2] && /\d/.test(m[2]) ? Number(m[2]) : osz;
    const unsizedOk = fc.boolean();
    const memA = unsizedOk.chain((u) => memArb(bits, u && m[1] !== 'm' ? undefined : m[1] === 'm' && !m[2] ? undefined : size));
    if (m[1] === 'acc') return fc.constant(regs(bits, size).find((r) => r.num === 0 && !r.high8)!);
    if (m[1] === 'r') return fc.constantFrom(...regs(bits, size));
    if (m[1] === 'm') return memA;
    return fc.oneof(fc.constantFrom(...regs(bits, size)), memA);
  }
  switch (p) {
    case 'cl': return fc.constant(REGISTERS.get('cl')!);
    case 'dx': return fc.constant(REGISTERS.get('dx')!);
    case 'one': return fc.constant(1);
    case 'moffs': return fc.bigInt(0n, 0xffffffffn).map((d) => ({ ...mem(d), size: osz as 8 }));
    case 'iv': return fc.oneof({ arbitrary: immArb, weight: 5 }, { arbitrary: fc.constantFrom(...LABELS, 'ro').map((l) => addr(l)), weight: 1 });
    case 'i64': return fc.oneof(immArb, fc.constantFrom(...LABELS, 'ro').map((l) => addr(l)));
    default: return immArb;
  }
}

type Entry =
  | { k: 'insn'; mn: string; ops: Operand[]; prefix?: 'lock' | 'rep' | 'repe' | 'repne' }
  | { k: 'branch'; mn: 'jmp' | 'call' | 'jcc'; cc: string; target: string; near: boolean }
  | { k: 'dref'; unit: 4 | 8; target: string; addend: bigint }
  | { k: 'label'; name: string }
  | { k: 'align'; n: number }
  | { k: 'nop'; n: number }
  | { k: 'data'; bytes: number[] };

function insnArb(bits: Bits): fc.Arbitrary<Entry> {
  return fc.constantFrom(...MNEMONICS).chain((mn) => {
    const forms = FORMS[mn]!.filter((f) => !f.mode || f.mode === bits);
    if (!forms.length) return fc.constant<Entry>({ k: 'nop', n: 1 });
    return fc.constantFrom(...forms).chain((f) => {
      const generic = f.ops.map((p) => /(v|y|z|n|p)$/.exec(p)?.[1]).find((x) => x);
      return fc.constantFrom(...(generic ? sizesFor(generic, bits) : [f.size ?? bits])).chain((osz) =>
        fc.tuple(fc.tuple(...f.ops.map((p) => operandArb(p, osz, bits))), fc.oneof({ arbitrary: fc.constant(undefined), weight: 12 }, fc.constantFrom('lock', 'rep', 'repe', 'repne')))
          .map(([ops, prefix]) => ({ k: 'insn', mn, ops: ops as Operand[], prefix }) as Entry));
    });
  });
}

function entryArb(bits: Bits): fc.Arbitrary<Entry> {
  return fc.oneof(
    { arbitrary: insnArb(bits), weight: 12 },
    { arbitrary: fc.record({ mn: fc.constantFrom('jmp', 'call', 'jcc'), cc: fc.constantFrom('e', 'ne', 'b', 'ae', 'l', 'g', 'o', 'np'), target: fc.constantFrom(...LABELS), near: fc.oneof({ arbitrary: fc.constant(false), weight: 5 }, { arbitrary: fc.constant(true), weight: 1 }) }).map((b) => ({ k: 'branch', ...b }) as Entry), weight: 3 },
    { arbitrary: fc.record({ unit: fc.constantFrom(...(bits === 64 ? [4, 8] as const : [4] as const)), target: fc.constantFrom(...LABELS, 'ro'), addend: fc.bigInt(-4n, 4n) }).map((d) => ({ k: 'dref', ...d }) as Entry), weight: 1 },
    { arbitrary: fc.constantFrom(...LABELS).map((name) => ({ k: 'label', name }) as Entry), weight: 2 },
    { arbitrary: fc.constantFrom(2, 4, 8, 16, 32).map((n) => ({ k: 'align', n }) as Entry), weight: 1 },
    { arbitrary: fc.integer({ min: 1, max: 9 }).map((n) => ({ k: 'nop', n }) as Entry), weight: 1 },
    { arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 140 }).map((bytes) => ({ k: 'data', bytes }) as Entry), weight: 1 },
  );
}

const stats = { tried: 0, accepted: 0 };
/** PVKIT_FUZZ_RUNS raises the run count for a longer local search. */
const RUNS = Number(process.env.PVKIT_FUZZ_RUNS ?? 120);

function assemble(bits: Bits, entries: Entry[]): Asm {
  const a = new Asm({ bits, origin: 0x100000n });
  const defined = new Set<string>();
  for (const e of entries) {
    switch (e.k) {
      case 'insn': {
        stats.tried++;
        try {
          if (e.prefix) (a[e.prefix] as Asm).insn(e.mn, ...e.ops);
          else a.insn(e.mn, ...e.ops);
          stats.accepted++;
        } catch (err) {
          if (!(err instanceof AsmError)) throw err;
          // A rejected prefix must not leak onto the next instruction.
          (a as unknown as { pending: undefined }).pending = undefined;
        }
        break;
      }
      case 'branch':
        if (e.mn === 'jcc') a.jcc(e.cc as 'e', e.target, { near: e.near });
        else if (e.mn === 'jmp') a.jmp(e.target, { near: e.near });
        else a.call(e.target);
        break;
      case 'dref':
        if (e.unit === 4) a.dd(addr(e.target, e.addend));
        else a.dq(addr(e.target, e.addend));
        break;
      case 'label':
        if (!defined.has(e.name)) a.label(e.name);
        defined.add(e.name);
        break;
      case 'align': a.align(e.n); break;
      case 'nop': a.nop(e.n); break;
      case 'data': a.db(e.bytes); break;
    }
  }
  for (const l of LABELS) if (!defined.has(l)) a.label(l);
  a.section('.rodata').label('ro').db('x').align(8).dd(1);
  return a;
}

describe.skipIf(!hasNasm)('random programs: toNasm() through nasm -f bin gives our bytes', () => {
  for (const bits of [64, 32] as const) {
    it(`${bits}-bit`, () => {
      stats.tried = stats.accepted = 0;
      fc.assert(
        fc.property(fc.array(entryArb(bits), { minLength: 1, maxLength: 60 }), (entries) => {
          const a = assemble(bits, entries);
          const ours = flatten(a.finish());
          // Widths our relaxation chose are left to nasm; widths the program forced stay in the source.
          const forced = entries.flatMap((e) => (e.k === 'branch' && e.mn !== 'call' ? [e.near] : []));
          let n = 0;
          const src = a.toNasm().replace(/^(\s+j\w+) (short|near) /gm, (m: string, head: string) => (forced[n++] ? m : `${head} `));
          expect(n).toBe(forced.length);
          expect(Buffer.from(nasm(src)).toString('hex')).toBe(Buffer.from(ours).toString('hex'));
        }),
        { numRuns: RUNS },
      );
      // The generator must exercise the encoder, not mostly produce rejected combinations.
      expect(stats.accepted / stats.tried).toBeGreaterThan(0.4);
    }, Math.max(60_000, RUNS * 300));
  }
});

if (!hasNasm) console.warn('x86-fuzz: nasm not found; the nasm round-trip property is skipped');
