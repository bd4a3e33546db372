// Stack and control transfer: PUSH/POP, CALL/RET/JMP/Jcc/LOOP/JrCXZ, LEAVE/ENTER, conditions (SDM Vol. 1 6.2-6.3,
// Vol. 2 "Jcc" condition table B-1).
import type { Exec } from './cache.js';
import type { Vcpu } from './vcpu.js';
import type { Opr } from './operands.js';
import { CF, OF, PF, SF, ZF } from './alu.js';
import { Fault } from './fault.js';

const TWO32 = 4294967296;
const CANON_LOW_END = 2 ** 47;

/** Condition code cc (0..15, SDM Vol. 2 Table B-1) on packed RFLAGS. */
export function cond(f: number, cc: number): boolean {
  let r: boolean;
  switch (cc >> 1) {
    case 0: r = (f & OF) !== 0; break;
    case 1: r = (f & CF) !== 0; break;
    case 2: r = (f & ZF) !== 0; break;
    case 3: r = (f & (CF | ZF)) !== 0; break;
    case 4: r = (f & SF) !== 0; break;
    case 5: r = (f & PF) !== 0; break;
    case 6: r = ((f & SF) !== 0) !== ((f & OF) !== 0); break;
    default: r = (f & ZF) !== 0 || ((f & SF) !== 0) !== ((f & OF) !== 0);
  }
  return (cc & 1) !== 0 ? !r : r;
}

/** Push `size` bytes (value lo/hi) on the stack: the write happens before RSP changes (a fault leaves RSP). */
export function push(c: Vcpu, size: number, v: number, vh: number): void {
  if (c.mode64) {
    let lo = c.lo[4]! - size;
    let hi = c.hi[4]!;
    if (lo < 0) { lo += TWO32; hi = (hi - 1) >>> 0; }
    c.wr(c.addr64(lo, hi, true), size, v, vh);
    c.lo[4] = lo;
    c.hi[4] = hi;
  } else {
    const lo = (c.lo[4]! - size) >>> 0;
    c.wr(lo, size, v, vh);
    c.lo[4] = lo;
  }
}

/** Read the stack top (value in return / c.vh) without changing RSP. */
export function peek(c: Vcpu, size: number, offset = 0): number {
  if (c.mode64) {
    let lo = c.lo[4]! + offset;
    let hi = c.hi[4]!;
    if (lo >= TWO32) { lo -= TWO32; hi = (hi + 1) >>> 0; }
    return c.rd(c.addr64(lo, hi, true), size);
  }
  return c.rd((c.lo[4]! + offset) >>> 0, size);
}

export function addRsp(c: Vcpu, n: number): void {
  if (c.mode64) {
    let lo = c.lo[4]! + n;
    let hi = c.hi[4]!;
    if (lo >= TWO32) { lo -= TWO32; hi = (hi + 1) >>> 0; }
    c.lo[4] = lo;
    c.hi[4] = hi;
  } else c.lo[4] = (c.lo[4]! + n) >>> 0;
}

/** Set the next RIP from a 64-bit target (lo, hi); non-canonical -> #GP(0) at the branch. */
export function jumpTo(c: Vcpu, lo: number, hi: number, osz: number): void {
  if (!c.mode64) {
    c.nextIp = osz === 2 ? lo & 0xffff : lo >>> 0;
    return;
  }
  if (osz === 2) { c.nextIp = lo & 0xffff; return; }
  const t = hi >>> 15;
  if (t === 0) { c.nextIp = hi * TWO32 + lo; return; }
  const a = (BigInt(hi) << 32n) | BigInt(lo);
  if (t === 0x1ffff) throw new Fault(14, `instruction fetch from 0x${a.toString(16)}: no RAM there`, 0x10, a, a);
  throw new Fault(13, `branch to non-canonical address 0x${a.toString(16)}`, 0, a);
}

/** Relative target: nextIp + rel (rel a signed JS int). */
export function jumpRel(c: Vcpu, rel: number, osz: number): void {
  const t = c.nextIp + rel;
  if (!c.mode64) { c.nextIp = osz === 2 ? t & 0xffff : ((t % TWO32) + TWO32) % TWO32; return; }
  if (t >= 0 && t < CANON_LOW_END) { c.nextIp = t; return; }
  const b = BigInt.asUintN(64, BigInt(t));
  jumpTo(c, Number(b & 0xffffffffn), Number(b >> 32n), osz);
}

function pushIp(c: Vcpu, size: number): void {
  const ip = c.nextIp;
  push(c, size, ip % TWO32, Math.floor(ip / TWO32));
}

export function jcc(cc: number, rel: number, osz: number): Exec {
  return (c) => { if (cond(c.fl, cc)) jumpRel(c, rel, osz); };
}

export function jmpRel(rel: number, osz: number): Exec {
  return (c) => jumpRel(c, rel, osz);
}

export function callRel(rel: number, osz: number): Exec {
  const size = osz;
  return (c) => {
    const ret = c.nextIp;
    jumpRel(c, rel, osz); // may fault before anything is pushed
    const target = c.nextIp;
    c.nextIp = ret;
    pushIp(c, size);
    c.nextIp = target;
  };
}

export function jmpInd(target: Opr, osz: number): Exec {
  return (c) => { const lo = target.rd(c); jumpTo(c, lo, c.vh, osz); };
}

export function callInd(target: Opr, osz: number): Exec {
  return (c) => {
    const lo = target.rd(c);
    const hi = c.vh;
    const ret = c.nextIp;
    jumpTo(c, lo, hi, osz);
    const t = c.nextIp;
    c.nextIp = ret;
    pushIp(c, osz);
    c.nextIp = t;
  };
}

export function ret(osz: number, imm: number): Exec {
  return (c) => {
    const lo = peek(c, osz);
    jumpTo(c, lo, osz === 8 ? c.vh : 0, osz);
    addRsp(c, osz + imm);
  };
}

export function pushOp(size: number, src: Opr): Exec {
  return (c) => { const v = src.rd(c); push(c, size, v, c.vh); };
}

export function popReg(size: number, n: number): Exec {
  return (c) => {
    const v = peek(c, size);
    const vh = c.vh;
    addRsp(c, size);
    c.setR(n, size, v, vh);
  };
}

/** POP r/m: RSP is incremented before the destination address is computed (SDM "POP"). */
export function popMem(size: number, dst: Opr): Exec {
  return (c) => {
    const v = peek(c, size);
    const vh = c.vh;
    const lo = c.lo[4]!, hi = c.hi[4]!;
    addRsp(c, size);
    try {
      dst.st(c, v, vh);
    } catch (e) {
      c.lo[4] = lo;
      c.hi[4] = hi;
      throw e;
    }
  };
}

export function leave(osz: number): Exec {
  return (c) => {
    const sl = c.lo[4]!, sh = c.hi[4]!;
    c.lo[4] = c.lo[5]!;
    c.hi[4] = c.hi[5]!;
    try {
      const v = peek(c, osz);
      const vh = c.vh;
      addRsp(c, osz);
      c.setR(5, osz, v, vh);
    } catch (e) {
      c.lo[4] = sl;
      c.hi[4] = sh;
      throw e;
    }
  };
}

/** ENTER imm16, 0 (nesting level 0 only; gcc does not emit ENTER). */
export function enter(osz: number, frame: number): Exec {
  return (c) => {
    const rbp = c.getR(5, osz);
    push(c, osz, rbp, c.vh);
    c.setR(5, osz, c.lo[4]!, c.hi[4]!);
    addRsp(c, -frame);
  };
}

/** LOOP/LOOPE/LOOPNE (E2/E1/E0): rCX (address size) -= 1, no flags; JrCXZ (E3). */
export function loopOp(op: number, rel: number, asz: number, osz: number): Exec {
  return (c) => {
    if (op === 0xe3) {
      const z = asz === 8 ? (c.lo[1]! | c.hi[1]!) === 0 : asz === 4 ? c.lo[1] === 0 : (c.lo[1]! & 0xffff) === 0;
      if (z) jumpRel(c, rel, osz);
      return;
    }
    let nz: boolean;
    if (asz === 8) {
      let lo = c.lo[1]! - 1;
      let hi = c.hi[1]!;
      if (lo < 0) { lo += TWO32; hi = (hi - 1) >>> 0; }
      c.lo[1] = lo;
      c.hi[1] = hi;
      nz = (lo | hi) !== 0;
    } else if (asz === 4) {
      c.setR(1, 4, (c.lo[1]! - 1) >>> 0, 0);
      nz = c.lo[1] !== 0;
    } else {
      c.setR(1, 2, (c.lo[1]! - 1) & 0xffff, 0);
      nz = (c.lo[1]! & 0xffff) !== 0;
    }
    const zf = (c.fl & ZF) !== 0;
    if (nz && (op === 0xe2 || (op === 0xe1 && zf) || (op === 0xe0 && !zf))) jumpRel(c, rel, osz);
  };
}
