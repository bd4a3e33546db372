// Arithmetic, logic, shifts, rotates, multiply/divide and bit operations (SDM Vol. 2, each instruction's
// "Flags Affected"). Undefined flags: chosen to match the AMD/Intel behaviour noted per op; helper E3's
// native comparison checks them against this machine's CPU.
import type { Exec } from './cache.js';
import type { Vcpu } from './vcpu.js';
import type { Opr } from './operands.js';
import { AF, CF, OF, PF, SF, STATUS, ZF, PARITY, add, sub, logicFlags, szpBig } from './alu.js';
import { Fault } from './fault.js';

/** Group-1 operation numbers (ModRM.reg of 80-83; also opcode bits 5:3 of 00-3F). */
export const ALU_ADD = 0, ALU_OR = 1, ALU_ADC = 2, ALU_SBB = 3, ALU_AND = 4, ALU_SUB = 5, ALU_XOR = 6, ALU_CMP = 7;

export function aluBin(kind: number, size: number, dst: Opr, src: Opr): Exec {
  const store = kind !== ALU_CMP;
  return (c) => {
    const b = src.rd(c);
    const bh = c.vh;
    const a = dst.rd(c);
    const ah = c.vh;
    const o = c.o;
    let r: number;
    switch (kind) {
      case ALU_ADD: r = add(o, size, a, ah, b, bh, 0); break;
      case ALU_ADC: r = add(o, size, a, ah, b, bh, c.fl & CF); break;
      case ALU_SBB: r = sub(o, size, a, ah, b, bh, c.fl & CF); break;
      case ALU_SUB: case ALU_CMP: r = sub(o, size, a, ah, b, bh, 0); break;
      case ALU_OR: r = (a | b) >>> 0; o.hi = (ah | bh) >>> 0; logicFlags(o, size, r, o.hi); break;
      case ALU_AND: r = (a & b) >>> 0; o.hi = (ah & bh) >>> 0; logicFlags(o, size, r, o.hi); break;
      default: r = (a ^ b) >>> 0; o.hi = (ah ^ bh) >>> 0; logicFlags(o, size, r, o.hi); break;
    }
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

// ---- bigint helpers for the less frequent operations ----
function readBig(c: Vcpu, o: Opr, size: number): bigint {
  const lo = o.rd(c);
  return size === 8 ? (BigInt(c.vh) << 32n) | BigInt(lo) : BigInt(lo);
}

function writeBig(c: Vcpu, o: Opr, size: number, v: bigint): void {
  const m = BigInt.asUintN(size * 8, v);
  o.wr(c, Number(m & 0xffffffffn), Number(m >> 32n));
}

function regBig(c: Vcpu, n: number, size: number): bigint {
  const lo = c.getR(n, size);
  return size === 8 ? (BigInt(c.vh) << 32n) | BigInt(lo) : BigInt(lo);
}

function setRegBig(c: Vcpu, n: number, size: number, v: bigint): void {
  const m = BigInt.asUintN(size * 8, v);
  c.setR(n, size, Number(m & 0xffffffffn), Number(m >> 32n));
}

/**
 * Shift/rotate group 2 (C0/C1/D0-D3): /0 ROL /1 ROR /2 RCL /3 RCR /4 SHL /5 SHR /6 SAL /7 SAR.
 * Count masked to 5 bits (6 with REX.W); a masked count of 0 changes no flags (SDM "SAL/SAR/SHL/SHR").
 * OF is defined for count 1; for larger counts this uses the same formula on the final step, AF = 0.
 */
export function shiftOp(kind: number, size: number, dst: Opr, count: (c: Vcpu) => number, isMem: boolean): Exec {
  if (kind >= 4) return shiftFast(kind, size, dst, count, isMem);
  const bits = size * 8;
  const B = BigInt(bits);
  const mask = (1n << B) - 1n;
  const msb = (v: bigint): number => Number((v >> (B - 1n)) & 1n);
  return (c) => {
    const n = count(c) & (size === 8 ? 63 : 31);
    const v = readBig(c, dst, size);
    // A zero count changes no flags, but a 32-bit register destination is still written (zero-extended).
    const keep = (): void => { if (!isMem) writeBig(c, dst, size, v); };
    if (n === 0) return keep();
    const N = BigInt(n);
    let r: bigint;
    let cf: number;
    let of: number;
    let szp = -1;
    switch (kind & 7) {
      case 0: { // ROL
        const k = BigInt(n % bits);
        r = ((v << k) | (v >> (B - k))) & mask;
        cf = Number(r & 1n);
        of = msb(r) ^ cf;
        break;
      }
      case 1: { // ROR
        const k = BigInt(n % bits);
        r = ((v >> k) | (v << (B - k))) & mask;
        cf = msb(r);
        of = msb(r) ^ Number((r >> (B - 2n)) & 1n);
        break;
      }
      case 2: { // RCL through CF: width bits+1
        const k = BigInt(n % (bits + 1));
        if (k === 0n) return keep();
        const wide = (BigInt(c.fl & CF) << B) | v;
        const W = B + 1n;
        const wm = (1n << W) - 1n;
        const rw = ((wide << k) | (wide >> (W - k))) & wm;
        r = rw & mask;
        cf = Number(rw >> B);
        of = msb(r) ^ cf;
        break;
      }
      case 3: { // RCR
        const k = BigInt(n % (bits + 1));
        if (k === 0n) return keep();
        const wide = (BigInt(c.fl & CF) << B) | v;
        const W = B + 1n;
        const wm = (1n << W) - 1n;
        const rw = ((wide >> k) | (wide << (W - k))) & wm;
        r = rw & mask;
        cf = Number(rw >> B);
        // MSB(r) ^ next bit: the SDM's count-1 rule (MSB(src) ^ old CF), extended as AMD does for larger counts.
        of = msb(r) ^ Number((r >> (B - 2n)) & 1n);
        break;
      }
      case 4: case 6: // SHL/SAL
        r = (v << N) & mask;
        cf = N <= B ? Number((v >> (B - N)) & 1n) : 0;
        of = msb(r) ^ cf;
        szp = szpBig(r, bits);
        break;
      case 5: // SHR
        r = v >> N;
        cf = Number((v >> (N - 1n)) & 1n);
        of = n === 1 ? msb(v) : msb(v >> (N - 1n)) ;
        szp = szpBig(r, bits);
        break;
      default: { // SAR
        const s = BigInt.asIntN(bits, v);
        r = BigInt.asUintN(bits, s >> N);
        cf = Number((s >> (N - 1n)) & 1n);
        of = 0;
        szp = szpBig(r, bits);
      }
    }
    writeBig(c, dst, size, r);
    if (szp < 0) c.setFlags((cf ? CF : 0) | (of ? OF : 0), CF | OF);
    else c.setFlags(szp | (cf ? CF : 0) | (of ? OF : 0));
  };
}

/**
 * SHL/SHR/SAL/SAR on numbers (64-bit as lo/hi halves). CF = last bit out; OF: SHL MSB^CF, SHR MSB of the
 * source at count 1 else 0, SAR 0; AF = 1 (undefined in the SDM; what AMD EPYC produces).
 */
function shiftFast(kind: number, size: number, dst: Opr, count: (c: Vcpu) => number, isMem: boolean): Exec {
  const bits = size * 8;
  const cmask = size === 8 ? 63 : 31;
  const mask = bits === 32 ? 0xffffffff : (1 << bits) - 1;
  const right = kind === 5, arith = kind === 7;
  return (c) => {
    const n = count(c) & cmask;
    const v = dst.rd(c);
    const vh = c.vh;
    if (n === 0) {
      if (!isMem) dst.wr(c, v, vh);
      return;
    }
    let r: number, rh = 0, cf: number, of: number, f: number;
    if (size === 8) {
      if (!right && !arith) {
        if (n < 32) { rh = ((vh << n) | (v >>> (32 - n))) >>> 0; r = (v << n) >>> 0; cf = (vh >>> (32 - n)) & 1; }
        else if (n === 32) { rh = v; r = 0; cf = vh & 1; }
        else { rh = (v << (n - 32)) >>> 0; r = 0; cf = (v >>> (64 - n)) & 1; }
        of = (rh >>> 31) ^ cf;
      } else {
        const sh = arith ? vh | 0 : vh;
        if (n < 32) {
          r = ((v >>> n) | (vh << (32 - n))) >>> 0;
          rh = arith ? (sh >> n) >>> 0 : vh >>> n;
          cf = (v >>> (n - 1)) & 1;
        } else if (n === 32) {
          r = vh;
          rh = arith ? (sh >> 31) >>> 0 : 0;
          cf = v >>> 31;
        } else {
          r = arith ? (sh >> (n - 32)) >>> 0 : vh >>> (n - 32);
          rh = arith ? (sh >> 31) >>> 0 : 0;
          cf = arith ? (sh >> (n - 33)) & 1 : (vh >>> (n - 33)) & 1;
        }
        of = arith ? 0 : n === 1 ? vh >>> 31 : 0;
      }
      f = ((r | rh) === 0 ? ZF : 0) | (rh >>> 31 !== 0 ? SF : 0) | PARITY[r & 0xff]!;
    } else {
      if (!right && !arith) {
        r = bits === 32 ? (v << n) >>> 0 : (v << n) & mask;
        cf = n <= bits ? (v >>> (bits - n)) & 1 : 0;
        of = ((r >>> (bits - 1)) & 1) ^ cf;
      } else if (right) {
        r = v >>> n;
        cf = (v >>> (n - 1)) & 1;
        of = n === 1 ? (v >>> (bits - 1)) & 1 : 0;
      } else {
        const sv = bits === 32 ? v | 0 : bits === 16 ? (v << 16) >> 16 : (v << 24) >> 24;
        r = bits === 32 ? (sv >> n) >>> 0 : (sv >> n) & mask;
        cf = (sv >> (n - 1)) & 1;
        of = 0;
      }
      f = (r === 0 ? ZF : 0) | ((r >>> (bits - 1)) & 1 ? SF : 0) | PARITY[r & 0xff]!;
    }
    dst.wr(c, r, rh);
    // AF is undefined for shifts; AMD (this machine, checked with the native harness) sets it.
    c.setFlags(f | AF | (cf ? CF : 0) | (of ? OF : 0));
  };
}

/** SHLD/SHRD (0F A4/A5/AC/AD): dst shifted, bits filled from src. */
export function shldShrd(size: number, dst: Opr, src: Opr, count: (c: Vcpu) => number, right: boolean, isMem: boolean): Exec {
  const bits = size * 8;
  const B = BigInt(bits);
  const mask = (1n << B) - 1n;
  return (c) => {
    const n = count(c) & (size === 8 ? 63 : 31);
    const s = readBig(c, src, size);
    const v = readBig(c, dst, size);
    if (n === 0) {
      if (!isMem) writeBig(c, dst, size, v); // 32-bit register destination still zero-extends
      return;
    }
    const N = BigInt(n);
    let r: bigint;
    let cf: number;
    if (!right) {
      const wide = (v << B) | s; // 16-bit with count > 16: undefined; this takes bits from src then dst
      r = (wide << N >> B) & mask;
      cf = Number((v >> (B - N)) & 1n) & (N <= B ? 1 : 0);
      if (N > B) cf = Number((s >> (2n * B - N)) & 1n);
    } else {
      const wide = (s << B) | v;
      r = (wide >> N) & mask;
      cf = Number((wide >> (N - 1n)) & 1n);
    }
    // OF: count 1 = sign change (SDM); larger counts as AMD: SHLD MSB(r)^CF, SHRD MSB(r)^next bit. AF = 1 (AMD).
    const top = Number((r >> (B - 1n)) & 1n);
    const of = right ? top ^ Number((r >> (B - 2n)) & 1n) : top ^ cf;
    writeBig(c, dst, size, r);
    c.setFlags(szpBig(r, bits) | AF | (cf ? CF : 0) | (of ? OF : 0));
  };
}

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

export const FLAG_BITS = { CF, PF, AF, ZF, SF, OF, PARITY };
