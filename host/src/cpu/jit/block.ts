// Compiled basic blocks: a straight run of decoded instructions (up to a branch) turned into one JS function.
// Hot instructions are inlined from templates.ts with the status flags computed only where a later reader,
// a block exit or a possible fault needs them; the rest call their cached closures. A block whose branch
// returns to its own start loops inside the function while the instruction budget lasts. Invalidation: the
// decode cache drops a block (dead = true) when any page its bytes come from is written; a block that writes
// memory re-checks `dead` after the store and leaves at the next instruction (self-modifying code).
import type { CachedInsn } from '../cache.js';
import type { Decoded } from '../decode.js';
import { PARITY, STATUS } from '../alu.js';
import { formatInsn } from '../format.js';
import type { Vcpu } from '../vcpu.js';
import { condExpr } from './flags.js';
import { Gen } from './gen.js';
import { planInsn, type Plan } from './templates.js';

const TWO32 = 4294967296;
/** Longest block (instructions): bounds compile time and the budget granularity. */
export const MAX_BLOCK_INSNS = 64;

export type BlockFn = (c: Vcpu, budget: number) => void;

export class Block {
  /** Set when a page of the block is written: callers must not run it (or follow links to it) any more. */
  dead = false;
  run: BlockFn = () => { throw new Error('block not compiled'); };
  /** Successor links (fall-through / branch target or last dynamic target), checked against `dead`. */
  s0: Block | undefined;
  s0Ip = -1;
  s1: Block | undefined;
  s1Ip = -1;
  /** Times run (stats). */
  runs = 0;

  constructor(
    readonly ip: number,
    readonly mode64: boolean,
    /** Instructions in one pass. */
    readonly count: number,
    /** Guest pages the block's bytes come from. */
    readonly pages: readonly number[],
    /** How many instructions are inlined (the rest call closures). */
    readonly inlined: number,
  ) {}

  /** Generated JS (kept for debugging and tests). */
  source = '';
}

/** Instructions that end a block: every control transfer, HLT/INT/UD2, and anything the decoder rejected. */
export function endsBlock(d: Decoded): boolean {
  const op = d.op;
  if (!d.valid) return true;
  if ((op >= 0x70 && op <= 0x7f) || (op >= 0x180 && op <= 0x18f) || (op >= 0xe0 && op <= 0xe3)) return true;
  switch (op) {
    case 0xe8: case 0xe9: case 0xea: case 0xeb: case 0x9a: case 0xc2: case 0xc3: case 0xca: case 0xcb: case 0xcf:
    case 0xcc: case 0xcd: case 0xce: case 0xf4: case 0x105: case 0x107: case 0x10b: case 0x134: case 0x135:
      return true;
    case 0xff: { const k = d.reg & 7; return k >= 2 && k <= 5; }
    default: return false;
  }
}

interface Item {
  insn: CachedInsn;
  ip: number;
  next: number;
  plan: Plan | undefined;
  fallible: boolean;
}

/**
 * Build the block starting at `ip` from instructions `fetch` decodes (which may throw a guest fault: the block
 * then ends before that instruction). Undefined when the block would be a single closure call (no gain).
 */
export function buildBlock(ip: number, mode64: boolean, fetch: (ip: number) => CachedInsn, pageOf: (ip: number, len: number) => number[]): Block | undefined {
  const items: Item[] = [];
  let a = ip;
  const pages = new Set<number>();
  for (let i = 0; i < MAX_BLOCK_INSNS; i++) {
    let insn: CachedInsn;
    try {
      insn = fetch(a);
    } catch {
      break; // the interpreter reports the fault when execution gets there
    }
    const d = insn.d;
    const next = mode64 ? a + insn.len : (a + insn.len) % TWO32;
    const plan = planInsn(d, next, mode64);
    const op = d.op;
    const fallible = plan === undefined || d.mem || (op >= 0x50 && op <= 0x5f) || op === 0xe8;
    items.push({ insn, ip: a, next, plan, fallible });
    for (const p of pageOf(a, insn.len)) pages.add(p);
    if (endsBlock(d)) break;
    a = next;
  }
  const inlined = items.filter((x) => x.plan !== undefined).length;
  if (items.length === 0 || inlined === 0) return undefined;

  // Backward liveness of the status flags: every exit of the block and every instruction that may fault or
  // call out needs them exact; an instruction's own writes only count where a later reader needs them.
  const liveAfter: number[] = new Array(items.length);
  let live = STATUS;
  for (let i = items.length - 1; i >= 0; i--) {
    liveAfter[i] = live;
    const it = items[i]!;
    const use = it.plan === undefined ? STATUS : it.plan.use;
    const def = it.plan === undefined ? 0 : it.plan.def;
    live = use | (live & ~def) | (it.fallible ? STATUS : 0);
    // Leaving early after a store or a closure (dead block / trap exit) also needs every flag exact.
    if (it.fallible) liveAfter[i] = STATUS;
  }

  const count = items.length;
  const last = items[count - 1]!;
  const end = last.plan?.end;
  const loops = end !== undefined && end.kind !== 'dyn' && end.target === ip;
  const blk = new Block(ip, mode64, count, [...pages], inlined);
  const g = new Gen(mode64);
  const B = g.k(blk);
  const ips = g.k(items.map((x) => x.ip));
  if (loops) g.line('for (;;) {');
  items.forEach((it, i) => {
    g.begin(i, it.ip, it.next);
    g.line(`// ${it.ip.toString(16)}: ${formatInsn(it.insn.d)}`);
    const isLast = i === count - 1;
    if (it.plan === undefined) {
      const X = g.k(it.insn.exec);
      g.line(`k = ${i}; c.curIp = ${it.ip}; c.nextIp = ${it.next}; c.fl = fl; c.icount = ic0 + n + ${i};`);
      g.line(`${X}(c);`);
      g.line('fl = c.fl;');
      if (isLast && endsBlock(it.insn.d)) g.line(g.leave('c.nextIp', i + 1));
      else g.line(`if (c.nextIp !== ${it.next} || c.exit !== undefined || ${B}.dead) { ${g.leave('c.nextIp', i + 1)} }`);
      return;
    }
    it.plan.emit(g, liveAfter[i]!);
    if (g.touched && !isLast) g.line(`if (${B}.dead || c.exit !== undefined) { ${g.leave(it.next, i + 1)} }`);
  });
  // The block's exit edges.
  if (end === undefined) {
    if (last.plan !== undefined || !endsBlock(last.insn.d)) g.line(g.leave(last.next, count));
  } else if (end.kind !== 'dyn') {
    const taken = loops
      ? `n += ${count}; if (n + ${count} <= budget) continue; ${g.leave(end.target, 0)}`
      : g.leave(end.target, count);
    if (end.kind === 'jcc') {
      g.line(`if (${condExpr(end.cc)}) { ${taken} }`);
      g.line(g.leave(last.next, count));
    } else g.line(taken);
  }
  if (loops) g.line('}');

  const fnName = `blk_${ip.toString(16)}`;
  const src = [
    `return function ${fnName}(c, budget) {`,
    'const L = c.lo, H = c.hi, ic0 = c.icount;',
    'let fl = c.fl, n = 0, k = 0, a = 0, ah = 0, b = 0, bh = 0, r = 0, rh = 0, t = 0, th = 0, v = 0, vh = 0, ea = 0;',
    'try {',
    g.source,
    `} catch (e) { c.fl = fl; c.icount = ic0 + n + k; c.ip = c.curIp = ${ips}[k]; throw e; }`,
    '};',
  ].join('\n');
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const factory = new Function('PAR', ...g.constNames, src) as (...args: unknown[]) => BlockFn;
  blk.run = factory(PARITY, ...g.constValues);
  blk.source = src;
  return blk;
}
