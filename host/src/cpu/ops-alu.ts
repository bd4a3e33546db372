// Add/subtract/logic/inc/dec/neg/not, XADD and CMPXCHG (SDM Vol. 2, each instruction's "Flags Affected").
// Shifts live in ops-shift.ts, multiply/divide and bit operations in ops-muldiv.ts.
import type { Exec } from './cache.js';
import type { Opr } from './operands.js';
import { CF, STATUS, ZF, add, sub, logicFlags, type AluOut } from './alu.js';

/** Group-1 operation numbers (ModRM.reg of 80-83; also opcode bits 5:3 of 00-3F). */
export const ALU_ADD = 0, ALU_OR = 1, ALU_ADC = 2, ALU_SBB = 3, ALU_AND = 4, ALU_SUB = 5, ALU_XOR = 6, ALU_CMP = 7;

/** One group-1 operation on (a:ah, b:bh): the low result, with the high half and the flags in `o`. */
function aluOp(kind: number, o: AluOut, size: number, a: number, ah: number, b: number, bh: number, cf: number): number {
  switch (kind) {
    case ALU_ADD: return add(o, size, a, ah, b, bh, 0);
    case ALU_ADC: return add(o, size, a, ah, b, bh, cf);
    case ALU_SBB: return sub(o, size, a, ah, b, bh, cf);
    case ALU_SUB: case ALU_CMP: return sub(o, size, a, ah, b, bh, 0);
    case ALU_OR: o.hi = (ah | bh) >>> 0; logicFlags(o, size, (a | b) >>> 0, o.hi); return (a | b) >>> 0;
    case ALU_AND: o.hi = (ah & bh) >>> 0; logicFlags(o, size, (a & b) >>> 0, o.hi); return (a & b) >>> 0;
    default: o.hi = (ah ^ bh) >>> 0; logicFlags(o, size, (a ^ b) >>> 0, o.hi); return (a ^ b) >>> 0;
  }
}

export function aluBin(kind: number, size: number, dst: Opr, src: Opr): Exec {
  const store = kind !== ALU_CMP;
  return (c) => {
    const b = src.rd(c);
    const bh = c.vh;
    const a = dst.rd(c);
    const ah = c.vh;
    const o = c.o;
    const r = aluOp(kind, o, size, a, ah, b, bh, c.fl & CF);
    if (store) dst.wr(c, r, o.hi);
    c.setFlags(o.f);
  };
}

export function testOp(size: number, a: Opr, b: Opr): Exec {
  return (c) => {
    const y = b.rd(c);
    const yh = c.vh;
    const x = a.rd(c);
    const xh = c.vh;
    logicFlags(c.o, size, (x & y) >>> 0, (xh & yh) >>> 0);
    c.setFlags(c.o.f);
  };
}

/** INC/DEC: CF unchanged. */
export function incDec(size: number, dst: Opr, dec: boolean): Exec {
  return (c) => {
    const a = dst.rd(c);
    const ah = c.vh;
    const r = dec ? sub(c.o, size, a, ah, 1, 0, 0) : add(c.o, size, a, ah, 1, 0, 0);
    dst.wr(c, r, c.o.hi);
    c.setFlags(c.o.f, STATUS & ~CF);
  };
}

export function notOp(dst: Opr): Exec {
  return (c) => {
    const a = dst.rd(c);
    dst.wr(c, ~a >>> 0, ~c.vh >>> 0);
  };
}

export function negOp(size: number, dst: Opr): Exec {
  return (c) => {
    const a = dst.rd(c);
    const ah = c.vh;
    const r = sub(c.o, size, 0, 0, a, ah, 0);
    dst.wr(c, r, c.o.hi);
    c.setFlags(c.o.f);
  };
}

/** XADD (0F C0/C1): tmp = dst + src; src = dst; dst = tmp. */
export function xadd(size: number, dst: Opr, src: Opr): Exec {
  return (c) => {
    const b = src.rd(c);
    const bh = c.vh;
    const a = dst.rd(c);
    const ah = c.vh;
    const r = add(c.o, size, a, ah, b, bh, 0);
    const rh = c.o.hi;
    const f = c.o.f;
    src.wr(c, a, ah); // SRC <- DEST, then DEST <- sum: with the same register for both, the sum wins
    dst.wr(c, r, rh);
    c.setFlags(f);
  };
}

/** CMPXCHG (0F B0/B1): compare rAX with dst; equal -> dst = src, else rAX = dst (dst written back anyway). */
export function cmpxchg(size: number, dst: Opr, src: Opr, acc: Opr, dstIsMem: boolean): Exec {
  return (c) => {
    const a = acc.rd(c);
    const ah = c.vh;
    const d = dst.rd(c);
    const dh = c.vh;
    sub(c.o, size, a, ah, d, dh, 0);
    const f = c.o.f;
    if ((f & ZF) !== 0) {
      const s = src.rd(c);
      dst.wr(c, s, c.vh);
    } else {
      if (dstIsMem) dst.wr(c, d, dh);
      acc.wr(c, d, dh);
    }
    c.setFlags(f);
  };
}


/**
 * Register-only fast form of aluBin (no operand objects: the hot path of compiled code). `src` is a register
 * number, or -1 with the immediate in (imm, immHi). Same results and flags as aluBin.
 */
export function aluBinReg(kind: number, size: number, dst: number, src: number, imm: number, immHi: number): Exec {
  if (size === 1 || dst >= 16 || src >= 16) return aluBinByte(kind, size, dst, src, imm, immHi);
  const store = kind !== ALU_CMP;
  const m = size === 2 ? 0xffff : -1; // & -1 would make values >= 2^31 negative: only mask 16-bit operands
  return (c) => {
    const lo = c.lo, hi = c.hi;
    const b = src < 0 ? imm : m === -1 ? lo[src]! : lo[src]! & m;
    const bh = src < 0 ? immHi : hi[src]!;
    const a = m === -1 ? lo[dst]! : lo[dst]! & m;
    const ah = hi[dst]!;
    const o = c.o;
    const r = aluOp(kind, o, size, a, ah, b, bh, c.fl & CF);
    if (store) {
      if (size === 8) { lo[dst] = r; hi[dst] = o.hi; }
      else if (size === 4) { lo[dst] = r; hi[dst] = 0; }
      else lo[dst] = (lo[dst]! & 0xffff0000) | r;
    }
    c.fl = (c.fl & ~STATUS) | o.f;
  };
}

function aluBinByte(kind: number, size: number, dst: number, src: number, imm: number, immHi: number): Exec {
  const d: Opr = { rd: (c) => c.getR(dst, size), wr: (c, v, vh) => c.setR(dst, size, v, vh), st: (c, v, vh) => c.setR(dst, size, v, vh) };
  const s: Opr = src < 0
    ? { rd: (c) => { c.vh = immHi; return imm; }, wr: () => {}, st: () => {} }
    : { rd: (c) => c.getR(src, size), wr: () => {}, st: () => {} };
  return aluBin(kind, size, d, s);
}
