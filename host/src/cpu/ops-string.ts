// String instructions MOVS/STOS/LODS/CMPS/SCAS and port I/O IN/OUT/INS/OUTS (SDM Vol. 2 "REP", "INS", "OUTS";
// ABI-FACTS §7): rSI/rDI/rCX at the address size, DF = direction, REP repeats while rCX != 0 (REPE/REPNE also
// stop on ZF for CMPS/SCAS). A REP instruction runs at most STRING_CHUNK elements per step and then
// re-executes (RIP unchanged), so budgets and exits interrupt long strings cleanly.
import type { Exec } from './cache.js';
import type { Decoded } from './decode.js';
import { SEG_FS, SEG_GS } from './decode.js';
import type { Vcpu } from './vcpu.js';
import { DF, IOPL_MASK, ZF, sub } from './alu.js';
import { gp } from './fault.js';

const TWO32 = 4294967296;
export const STRING_CHUNK = 4096;

function advance(c: Vcpu, r: number, asz: number, delta: number): void {
  if (asz === 8) {
    let lo = c.lo[r]! + delta;
    let hi = c.hi[r]!;
    if (lo >= TWO32) { lo -= TWO32; hi = (hi + 1) >>> 0; } else if (lo < 0) { lo += TWO32; hi = (hi - 1) >>> 0; }
    c.lo[r] = lo;
    c.hi[r] = hi;
  } else if (asz === 4) c.setR(r, 4, (c.lo[r]! + delta) >>> 0, 0);
  else c.setR(r, 2, (c.lo[r]! + delta) & 0xffff, 0);
}

/** Linear address of rSI/rDI at the address size, with the FS/GS base when `seg` says so. */
function strAddr(c: Vcpu, r: number, asz: number, seg: number): number {
  let lo = asz === 2 ? c.lo[r]! & 0xffff : c.lo[r]!;
  let hi = asz === 8 ? c.hi[r]! : 0;
  if (seg === SEG_FS || seg === SEG_GS) {
    lo += seg === SEG_FS ? c.fsLo : c.gsLo;
    if (c.mode64) hi += seg === SEG_FS ? c.fsHi : c.gsHi;
    if (lo >= TWO32) { lo -= TWO32; hi += 1; }
    if (!c.mode64) return lo;
  }
  if (!c.mode64) return lo;
  return c.addr64(lo, hi >>> 0, false);
}

function countZero(c: Vcpu, asz: number): boolean {
  return asz === 8 ? (c.lo[1]! | c.hi[1]!) === 0 : asz === 4 ? c.lo[1] === 0 : (c.lo[1]! & 0xffff) === 0;
}

/** I/O privilege (SDM Vol. 1 18.5.1): CPL > IOPL needs the TSS I/O bitmap, which this engine does not model -> #GP(0). */
export function ioAllowed(c: Vcpu, what: string): void {
  if (c.cpl > ((c.fl & IOPL_MASK) >>> 12)) throw gp(`${what} at CPL ${c.cpl} with IOPL ${(c.fl & IOPL_MASK) >>> 12}`);
}

type Element = (c: Vcpu, step: number) => void;

function stringOp(d: Decoded, el: Element, size: number, cmpLike: boolean): Exec {
  const asz = d.asz;
  const rep = d.rep;
  if (rep === 0) {
    return (c) => el(c, (c.fl & DF) !== 0 ? -size : size);
  }
  return (c) => {
    const step = (c.fl & DF) !== 0 ? -size : size;
    for (let i = 0; i < STRING_CHUNK; i++) {
      if (countZero(c, asz)) return;
      el(c, step);
      advance(c, 1, asz, -1);
      c.commitCompletions();
      const done = countZero(c, asz);
      if (cmpLike) {
        const zf = (c.fl & ZF) !== 0;
        if ((rep === 0xf3 && !zf) || (rep === 0xf2 && zf)) return;
      }
      if (done) return;
      if (c.exit !== undefined) break;
    }
    c.nextIp = c.curIp; // not finished: run the instruction again
  };
}

export function stringInsn(d: Decoded, op: number): Exec {
  const size = (op & 1) === 0 ? 1 : d.osz;
  const asz = d.asz;
  const seg = d.mode64 ? (d.seg === SEG_FS || d.seg === SEG_GS ? d.seg : -1) : d.seg;
  switch (op) {
    case 0xa4: case 0xa5: // MOVS
      return stringOp(d, (c, step) => {
        const v = c.rd(strAddr(c, 6, asz, seg), size);
        c.wr(strAddr(c, 7, asz, -1), size, v, c.vh);
        advance(c, 6, asz, step);
        advance(c, 7, asz, step);
      }, size, false);
    case 0xaa: case 0xab: // STOS
      return stringOp(d, (c, step) => {
        const v = c.getR(0, size);
        c.wr(strAddr(c, 7, asz, -1), size, v, c.vh);
        advance(c, 7, asz, step);
      }, size, false);
    case 0xac: case 0xad: // LODS
      return stringOp(d, (c, step) => {
        const v = c.rd(strAddr(c, 6, asz, seg), size);
        c.setR(0, size, v, c.vh);
        advance(c, 6, asz, step);
      }, size, false);
    case 0xa6: case 0xa7: // CMPS: [rSI] - [rDI]
      return stringOp(d, (c, step) => {
        const a = c.rd(strAddr(c, 6, asz, seg), size);
        const ah = c.vh;
        const b = c.rd(strAddr(c, 7, asz, -1), size);
        sub(c.o, size, a, ah, b, c.vh, 0);
        c.setFlags(c.o.f);
        advance(c, 6, asz, step);
        advance(c, 7, asz, step);
      }, size, true);
    default: // AE/AF SCAS: rAX - [rDI]
      return stringOp(d, (c, step) => {
        const b = c.rd(strAddr(c, 7, asz, -1), size);
        const bh = c.vh;
        const a = c.getR(0, size);
        sub(c.o, size, a, c.vh, b, bh, 0);
        c.setFlags(c.o.f);
        advance(c, 7, asz, step);
      }, size, true);
  }
}

/** IN/OUT with imm8 or DX (E4-E7, EC-EF). No 64-bit port I/O: REX.W is ignored (ABI-FACTS §7). */
export function inOut(d: Decoded, op: number): Exec {
  const size = ((op & 1) === 0 ? 1 : d.osz === 2 ? 2 : 4) as 1 | 2 | 4;
  const immPort = op < 0xe8;
  const port = d.imm & 0xff;
  const isIn = (op & 2) === 0;
  if (isIn) {
    return (c) => {
      ioAllowed(c, 'IN');
      const p = immPort ? port : c.lo[2]! & 0xffff;
      const v = c.pioRead(p, size);
      c.setR(0, size, v, 0);
    };
  }
  return (c) => {
    ioAllowed(c, 'OUT');
    const p = immPort ? port : c.lo[2]! & 0xffff;
    c.pioWrite(p, size, c.getR(0, size));
  };
}

/** INS (6C/6D) and OUTS (6E/6F), with or without REP. INS always writes ES:rDI; OUTS reads DS:rSI (overridable). */
export function insOuts(d: Decoded, op: number): Exec {
  const size = ((op & 1) === 0 ? 1 : d.osz === 2 ? 2 : 4) as 1 | 2 | 4;
  const asz = d.asz;
  const seg = d.mode64 ? (d.seg === SEG_FS || d.seg === SEG_GS ? d.seg : -1) : d.seg;
  const isIns = op < 0x6e;
  const el: Element = isIns
    ? (c, step) => {
        ioAllowed(c, 'INS');
        const v = c.pioRead(c.lo[2]! & 0xffff, size);
        c.wr(strAddr(c, 7, asz, -1), size, v, 0);
        advance(c, 7, asz, step);
      }
    : (c, step) => {
        ioAllowed(c, 'OUTS');
        const v = c.rd(strAddr(c, 6, asz, seg), size);
        c.pioWrite(c.lo[2]! & 0xffff, size, v);
        advance(c, 6, asz, step);
      };
  // F2 on INS/OUTS acts as REP (ABI-FACTS §7, SDM).
  return stringOp({ ...d, rep: d.rep === 0 ? 0 : 0xf3 }, el, size, false);
}
