// Multiply/divide and bit operations: MUL/IMUL/DIV/IDIV, BSF/BSR/TZCNT/LZCNT/POPCNT, BT*, BSWAP (SDM Vol. 2).
import type { Exec } from './cache.js';
import type { Vcpu } from './vcpu.js';
import type { Opr } from './operands.js';
import { AF, CF, OF, PF, SF, ZF } from './alu.js';
import { Fault } from './fault.js';
import { readBig, regBig, setRegBig, writeBig } from './bigops.js';

/**
 * Group 3 multiply/divide on rAX/rDX (F6/F7 /4../7). MUL/IMUL: CF = OF = upper half significant.
 * DIV/IDIV: #DE on zero divisor or quotient overflow.
 */
export function mulDiv(kind: number, size: number, src: Opr): Exec {
  const bits = size * 8;
  const B = BigInt(bits);
  const mask = (1n << B) - 1n;
  return (c) => {
    const s = readBig(c, src, size);
    const a = size === 1 ? BigInt(c.getR(0, 1)) : regBig(c, 0, size);
    const hiIn = size === 1 ? BigInt(c.getR(16, 1)) : regBig(c, 2, size);
    switch (kind) {
      case 4: case 5: {
        const p = kind === 4 ? a * s : BigInt.asIntN(bits, a) * BigInt.asIntN(bits, s);
        const lo = BigInt.asUintN(bits, p);
        const hi = BigInt.asUintN(bits, p >> B);
        const big = kind === 4 ? hi !== 0n : BigInt.asIntN(bits, lo) !== p;
        if (size === 1) setRegBig(c, 0, 2, (hi << 8n) | lo);
        else {
          setRegBig(c, 0, size, lo);
          setRegBig(c, 2, size, hi);
        }
        // SF ZF AF PF are undefined; AMD leaves them unchanged (native harness), so only CF/OF are written.
        c.setFlags(big ? CF | OF : 0, CF | OF);
        return;
      }
      default: {
        if (s === 0n) throw new Fault(0, 'divide by zero');
        const dividend = (hiIn << B) | a;
        let q: bigint, r: bigint;
        if (kind === 6) {
          q = dividend / s;
          r = dividend % s;
          if (q > mask) throw new Fault(0, 'divide overflow (quotient too large)');
        } else {
          const sd = BigInt.asIntN(bits * 2, dividend);
          const ss = BigInt.asIntN(bits, s);
          q = sd / ss;
          r = sd % ss;
          const lim = 1n << (B - 1n);
          if (q >= lim || q < -lim) throw new Fault(0, 'divide overflow (quotient out of range)');
        }
        if (size === 1) setRegBig(c, 0, 2, (BigInt.asUintN(8, r) << 8n) | BigInt.asUintN(8, q));
        else {
          setRegBig(c, 0, size, q);
          setRegBig(c, 2, size, r);
        }
        // All six flags are undefined; AMD sets AF, clears SF ZF PF and keeps CF OF (native harness).
        c.setFlags(AF, AF | SF | ZF | PF);
      }
    }
  };
}

/** IMUL r, r/m (0F AF) and IMUL r, r/m, imm (69/6B): CF = OF = truncation. */
export function imul2(size: number, dstReg: number, a: Opr, b: Opr): Exec {
  const bits = size * 8;
  return (c) => {
    const x = readBig(c, a, size);
    const y = readBig(c, b, size);
    const p = BigInt.asIntN(bits, x) * BigInt.asIntN(bits, y);
    const lo = BigInt.asUintN(bits, p);
    setRegBig(c, dstReg, size, lo);
    c.setFlags(BigInt.asIntN(bits, lo) !== p ? CF | OF : 0, CF | OF); // SF ZF AF PF kept, as on AMD
  };
}

/** BSF/BSR (0F BC/BD): zero source -> ZF = 1, destination unchanged; other flags unchanged here. */
export function bitScan(size: number, dstReg: number, src: Opr, reverse: boolean): Exec {
  return (c) => {
    const v = readBig(c, src, size);
    if (v === 0n) {
      c.setFlags(ZF, ZF);
      return;
    }
    let i: number;
    if (reverse) i = v.toString(2).length - 1;
    else {
      i = 0;
      while (((v >> BigInt(i)) & 1n) === 0n) i++;
    }
    setRegBig(c, dstReg, size, BigInt(i));
    c.setFlags(0, ZF);
  };
}

/** TZCNT/LZCNT (F3 0F BC/BD, BMI1/ABM): CF = source zero, ZF = result zero. */
export function countZeros(size: number, dstReg: number, src: Opr, leading: boolean): Exec {
  const bits = size * 8;
  return (c) => {
    const v = readBig(c, src, size);
    let n: number;
    if (v === 0n) n = bits;
    else if (leading) n = bits - v.toString(2).length;
    else {
      n = 0;
      while (((v >> BigInt(n)) & 1n) === 0n) n++;
    }
    setRegBig(c, dstReg, size, BigInt(n));
    // SF PF AF are undefined: AMD clears them and keeps OF (native harness).
    c.setFlags((v === 0n ? CF : 0) | (n === 0 ? ZF : 0), CF | ZF | SF | PF | AF);
  };
}

/** POPCNT (F3 0F B8): ZF = source zero; OF SF AF CF PF cleared. */
export function popcnt(size: number, dstReg: number, src: Opr): Exec {
  return (c) => {
    const v = readBig(c, src, size);
    let n = 0;
    for (const ch of v.toString(2)) if (ch === '1') n++;
    setRegBig(c, dstReg, size, BigInt(n));
    c.setFlags(v === 0n ? ZF : 0);
  };
}

/**
 * BT/BTS/BTR/BTC (0F A3/AB/B3/BB, 0F BA /4-/7). A register bit offset on a memory operand addresses the bit
 * string beyond the operand (SDM "BT": signed offset); an immediate offset is taken modulo the size.
 */
export function bitTest(
  kind: number, size: number, dstIsMem: boolean, dst: Opr, memAt: ((c: Vcpu) => number) | undefined,
  offset: (c: Vcpu) => bigint, immOffset: boolean,
): Exec {
  const bits = size * 8;
  const B = BigInt(bits);
  return (c) => {
    let off = offset(c);
    let v: bigint;
    let addr = 0;
    if (dstIsMem && !immOffset) {
      off = BigInt.asIntN(bits, off);
      const words = off >= 0n ? off / B : -((-off + B - 1n) / B);
      const base = memAt!(c);
      addr = base + Number(words) * size;
      off -= words * B;
      const lo = c.rd(addr, size);
      v = size === 8 ? (BigInt(c.vh) << 32n) | BigInt(lo) : BigInt(lo);
    } else {
      off = off % B;
      v = readBig(c, dst, size);
    }
    const bit = (v >> off) & 1n;
    let r = v;
    if (kind === 5) r = v | (1n << off);
    else if (kind === 6) r = v & ~(1n << off);
    else if (kind === 7) r = v ^ (1n << off);
    if (kind !== 4) {
      if (dstIsMem && !immOffset) {
        const m = BigInt.asUintN(bits, r);
        c.wr(addr, size, Number(m & 0xffffffffn), Number(m >> 32n));
      } else writeBig(c, dst, size, r);
    }
    c.setFlags(Number(bit), CF);
  };
}

export function bswap(n: number, size: number): Exec {
  return (c) => {
    if (size === 8) {
      const lo = c.lo[n]!, hi = c.hi[n]!;
      c.lo[n] = swap32(hi);
      c.hi[n] = swap32(lo);
    } else if (size === 4) {
      c.setR(n, 4, swap32(c.lo[n]!), 0);
    } else {
      c.setR(n, 2, 0, 0); // BSWAP r16 is undefined (SDM); real CPUs zero the low word.
    }
  };
}

function swap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

