// Compiled blocks: a trace of decoded instructions from a hot block head turned into one JS function. The
// trace runs past conditional branches (the taken side leaves), follows direct JMP/CALL, and follows RET and
// indirect branches to a predicted target (checked at run time). Instructions are inlined from templates.ts
// with the status flags computed only where a later reader, a block exit or a possible fault needs them; the
// rest call their cached closures. A branch back to the trace's start loops inside the function while the
// instruction budget lasts. Invalidation: the decode cache drops a block (dead = true) when any page its
// bytes come from is written; a block that writes memory re-checks `dead` after the store and leaves at the
// next instruction (self-modifying code).
import type { CachedInsn } from '../cache.js';
import type { Decoded } from '../decode.js';
import { PARITY, STATUS } from '../alu.js';
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

type Factory = (...args: unknown[]) => BlockFn;

/**
 * Generated code by source text, shared by every VM of the process: the same guest code compiles to the same
 * source (constants are parameters), and closures made by one factory share V8's optimized code, so a fresh VM
 * running a known guest starts warm. Bounded: cleared when full.
 */
const factories = new Map<string, Factory>();
/** Bound on the cached source text (V8 keeps bytecode and feedback per cached factory, several times this). */
const MAX_CACHED_SOURCE = 4 * 1024 * 1024;
let cachedSource = 0;

function factoryFor(src: string, names: readonly string[]): Factory {
  let f = factories.get(src);
  if (f === undefined) {
    if (cachedSource + src.length > MAX_CACHED_SOURCE) {
      factories.clear();
      cachedSource = 0;
    }
    cachedSource += src.length;
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    f = new Function('PAR', ...names, src) as Factory;
    factories.set(src, f);
  }
  return f;
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
 * then ends before that instruction). The block is a trace: it goes on past a conditional branch (the taken
 * side leaves the block) and follows direct JMP/CALL targets; a branch back to its start loops inside it.
 * Undefined when nothing in it would be inlined (no gain over the interpreter).
 */
export function buildBlock(ip: number, mode64: boolean, fetch: (ip: number) => CachedInsn, pageOf: (ip: number, len: number) => number[]): Block | undefined {
  const items: Item[] = [];
  const seen = new Set<number>();
  const calls: number[] = []; // return addresses of the calls followed, innermost last
  const predicted = new Map<number, number>(); // item index of a RET -> its predicted target
  let a = ip;
  const pages = new Set<number>();
  for (let i = 0; i < MAX_BLOCK_INSNS; i++) {
    if (seen.has(a)) break; // a jump back into the trace (not to its start): leave there
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
    const fallible = plan === undefined || d.mem || (op >= 0x50 && op <= 0x5f) || op === 0xe8 || op === 0xc3 || op === 0xc2 || (op === 0xff && ((d.reg & 7) === 2 || (d.reg & 7) === 4));
    items.push({ insn, ip: a, next, plan, fallible });
    seen.add(a);
    for (const p of pageOf(a, insn.len)) pages.add(p);
    const end = plan?.end;
    if (end === undefined) {
      if (!endsBlock(d)) { a = next; continue; }
      // An indirect JMP/CALL (FF /4, FF /2): predict the target the interpreter saw last (checked at run time).
      const k = d.reg & 7;
      const pred = insn.targetIp;
      if (op !== 0xff || (k !== 2 && k !== 4) || pred === undefined) break;
      predicted.set(items.length - 1, pred);
      if (k === 2) calls.push(next);
      if (pred === ip || seen.has(pred)) break;
      a = pred;
    } else if (end.kind === 'jcc') a = next;
    else if (end.kind === 'jmp') {
      if (end.target === ip || seen.has(end.target)) break;
      if (op === 0xe8) calls.push(next);
      a = end.target;
    } else if (end.kind === 'ret' && (calls.length > 0 || insn.targetIp !== undefined)) {
      // Returning from a call this trace followed: predict the return address (checked at run time); else the
      // address the interpreter saw last.
      const back = calls.pop() ?? insn.targetIp!;
      predicted.set(items.length - 1, back);
      if (back === ip || seen.has(back)) break;
      a = back;
    } else if (end.kind === 'ind' && insn.targetIp !== undefined) {
      predicted.set(items.length - 1, insn.targetIp);
      if (end.call) calls.push(next);
      if (insn.targetIp === ip || seen.has(insn.targetIp)) break;
      a = insn.targetIp;
    } else break;
  }
  const inlined = items.filter((x) => x.plan !== undefined).length;
  if (items.length === 0 || inlined === 0) return undefined;
  const count = items.length;

  // Backward liveness of the status flags: every exit of the block (side exits at conditional branches, the
  // end) and every instruction that may fault or call out needs them exact; an instruction's own writes only
  // count where a later reader needs them.
  const liveAfter: number[] = new Array(count);
  let live = STATUS;
  for (let i = count - 1; i >= 0; i--) {
    const it = items[i]!;
    const exits = it.fallible || it.plan?.end?.kind === 'jcc';
    // Leaving early after a store or a closure (dead block / trap exit) also needs every flag exact.
    liveAfter[i] = exits ? STATUS : live;
    const use = it.plan === undefined ? STATUS : it.plan.use;
    const def = it.plan === undefined ? 0 : it.plan.def;
    live = use | (liveAfter[i]! & ~def) | (exits ? STATUS : 0);
  }

  const loops = items.some((it, i) => { const e = it.plan?.end; return e !== undefined && (e.kind === 'jcc' || e.kind === 'jmp') ? e.target === ip : predicted.get(i) === ip; });
  const blk = new Block(ip, mode64, count, [...pages], inlined);
  const g = new Gen(mode64);
  const B = g.k(blk);
  const ips = g.k(items.map((x) => x.ip));
  /** Go to `target` after `retired` instructions of this pass: loop when it is the block's start. */
  const goTo = (target: number, retired: number): string => target === ip
    ? `n += ${retired}; if (n + ${count} <= budget) continue; ${g.leave(target, 0)}`
    : g.leave(target, retired);
  if (loops) g.line('for (;;) {');
  let open = true; // the code falls through past the last emitted instruction
  items.forEach((it, i) => {
    g.begin(i, it.ip, it.next);
    g.line(`// ${it.ip.toString(16)}`);
    const isLast = i === count - 1;
    if (it.plan === undefined) {
      const X = g.k(it.insn.exec);
      // A closure (and the hooks it calls) sees what the interpreter shows: ip = curIp = this instruction.
      g.line(`k = ${i}; c.ip = c.curIp = ${it.ip}; c.nextIp = ${it.next}; c.fl = fl; c.icount = ic0 + n + ${i};`);
      g.line(`${X}(c);`);
      g.line('fl = c.fl;');
      const p = predicted.get(i);
      if (isLast && endsBlock(it.insn.d) && p === undefined) { g.line(g.leave('c.nextIp', i + 1)); open = false; return; }
      g.line(`if (c.nextIp !== ${p ?? it.next} || c.exit !== undefined || ${B}.dead) { ${g.leave('c.nextIp', i + 1)} }`);
      if (isLast && p !== undefined) { g.line(goTo(p, i + 1)); open = false; }
      return;
    }
    it.plan.emit(g, liveAfter[i]!);
    const end = it.plan.end;
    if (g.touched && (end === undefined || end.kind === 'jcc')) {
      g.line(`if (${B}.dead || c.exit !== undefined) { ${g.leave(it.next, i + 1)} }`);
    }
    if (end === undefined) return;
    if (end.kind === 'jcc') g.line(`if (${condExpr(end.cc)}) { ${goTo(end.target, i + 1)} }`);
    else if (end.kind === 'jmp') {
      // Followed inside the trace unless it is the last item (back to the start or into the trace).
      if (isLast) { g.line(goTo(end.target, i + 1)); open = false; }
      else if (g.touched) g.line(`if (${B}.dead || c.exit !== undefined) { ${g.leave(end.target, i + 1)} }`);
    } else if (end.kind === 'ret' || end.kind === 'ind') {
      const p = predicted.get(i);
      if (p === undefined) { g.line(g.leave('t', i + 1)); open = false; return; }
      g.line(`if (t !== ${p} || ${B}.dead || c.exit !== undefined) { ${g.leave('t', i + 1)} }`);
      if (isLast) { g.line(goTo(p, i + 1)); open = false; }
    }
  });
  if (open) g.line(g.leave(items[count - 1]!.next, count));
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
  blk.run = factoryFor(src, g.constNames)(PARITY, ...g.constValues);
  blk.source = src;
  return blk;
}
