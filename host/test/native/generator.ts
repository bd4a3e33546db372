// Seeded generator of differential cases: one op from OPS with random operands, sometimes followed by a
// setcc/cmovcc, then encoded by GNU as (see assemble.ts).
import { CaseContext } from './context.js';
import type { Bits } from './layout.js';
import { OPS, appendConditional, type OpGen } from './ops.js';
import { Rng } from './rng.js';

export interface GenCase {
  readonly id: number;
  readonly group: string;
  /** Intel-syntax lines, as assembled. */
  readonly asm: readonly string[];
  readonly regs: readonly bigint[];
  readonly flags: number;
  readonly scratch: Uint8Array;
  /** Flags whose final value the SDM leaves undefined for this case. */
  readonly undefinedFlags: number;
  /** Registers whose final value the SDM leaves undefined. */
  readonly undefinedRegs: readonly number[];
  readonly undefinedScratch: boolean;
}

export interface GenOptions {
  readonly bits: Bits;
  readonly seed: number;
  readonly count: number;
  /** Restrict to these groups (OpGen.group); default all. */
  readonly groups?: readonly string[];
}

export function generateCases(opts: GenOptions): GenCase[] {
  const rng = new Rng(opts.seed);
  const ops = opts.groups ? OPS.filter((o) => opts.groups!.includes(o.group)) : OPS;
  if (ops.length === 0) throw new Error(`no op groups match ${JSON.stringify(opts.groups)}`);
  const out: GenCase[] = [];
  for (let id = 0; out.length < opts.count; id++) {
    // Round-robin over the ops so every group gets the same share.
    const op = ops[id % ops.length]!;
    const c = buildOne(rng, opts.bits, op);
    if (!c) continue;
    out.push({ id: out.length, ...c });
  }
  return out;
}

function buildOne(rng: Rng, bits: Bits, op: OpGen): Omit<GenCase, 'id'> | undefined {
  for (let tries = 0; tries < 50; tries++) {
    const c = new CaseContext(rng, bits);
    if (!op.gen(c)) continue;
    if (op.setsFlags && rng.chance(0.4)) appendConditional(c);
    return {
      group: op.group,
      asm: c.lines,
      regs: c.regs,
      flags: c.flags,
      scratch: c.scratch,
      undefinedFlags: c.undefinedFlags,
      undefinedRegs: [...c.undefinedRegs].sort((a, b) => a - b),
      undefinedScratch: c.undefinedScratch,
    };
  }
  return undefined; // e.g. movsxd in 32-bit mode
}
