// Seeded generator of differential cases: one op from OPS with random operands, sometimes followed by a
// setcc/cmovcc (single mode), or a chain of several ops in a row (chain mode: flags and values flow from one
// instruction into the next). Encoded by GNU as (see assemble.ts).
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
  readonly tags: readonly string[];
}

export interface GenOptions {
  readonly bits: Bits;
  readonly seed: number;
  readonly count: number;
  /** Restrict to these groups (OpGen.group); default all. */
  readonly groups?: readonly string[];
  /** Chain mode: 2..chain ops per case. Default 1 (single op). */
  readonly chain?: number;
  /** Regenerate cases carrying any of these tags (chain mode uses it to steer around known issues). */
  readonly avoidTags?: readonly string[];
}

export function generateCases(opts: GenOptions): GenCase[] {
  const rng = new Rng(opts.seed);
  const ops = opts.groups ? OPS.filter((o) => opts.groups!.includes(o.group)) : OPS;
  if (ops.length === 0) throw new Error(`no op groups match ${JSON.stringify(opts.groups)}`);
  const chain = opts.chain ?? 1;
  if (!Number.isInteger(chain) || chain < 1) throw new Error(`GenOptions.chain: positive integer expected, got ${chain}`);
  const avoid = new Set(opts.avoidTags ?? []);
  const out: GenCase[] = [];
  for (let id = 0; out.length < opts.count; id++) {
    // Single mode goes round-robin over the ops so every group gets the same share.
    const c = chain === 1 ? buildOne(rng, opts.bits, ops[id % ops.length]!, avoid) : buildChain(rng, opts.bits, ops, chain, avoid);
    if (!c) continue;
    out.push({ id: out.length, ...c });
  }
  return out;
}

type Built = Omit<GenCase, 'id'>;

function finish(c: CaseContext, group: string): Built {
  return {
    group,
    asm: c.lines,
    regs: c.regs,
    flags: c.flags,
    scratch: c.scratch,
    undefinedFlags: c.undefinedFlags,
    undefinedRegs: [...c.undefinedRegs].sort((a, b) => a - b),
    undefinedScratch: c.undefinedScratch,
    tags: [...c.tags],
  };
}

function hasAvoided(c: CaseContext, avoid: ReadonlySet<string>): boolean {
  for (const t of c.tags) if (avoid.has(t)) return true;
  return false;
}

function buildOne(rng: Rng, bits: Bits, op: OpGen, avoid: ReadonlySet<string>): Built | undefined {
  for (let tries = 0; tries < 50; tries++) {
    const c = new CaseContext(rng, bits);
    if (!op.gen(c) || hasAvoided(c, avoid)) continue;
    if (op.setsFlags && rng.chance(0.4)) appendConditional(c);
    return finish(c, op.group);
  }
  return undefined; // e.g. movsxd in 32-bit mode
}

function buildChain(rng: Rng, bits: Bits, ops: readonly OpGen[], max: number, avoid: ReadonlySet<string>): Built | undefined {
  for (let tries = 0; tries < 50; tries++) {
    const c = new CaseContext(rng, bits, true);
    const n = 2 + rng.int(max - 1);
    let ok = true;
    for (let i = 0; i < n && ok; i++) {
      const op = rng.pick(ops);
      c.nextOp();
      ok = op.gen(c) && !hasAvoided(c, avoid);
      if (ok && op.setsFlags && rng.chance(0.3)) appendConditional(c);
    }
    if (ok) return finish(c, 'chain');
  }
  return undefined;
}
