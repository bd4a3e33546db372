// Shifts and rotates: group 2 (C0/C1/D0-D3) and SHLD/SHRD (SDM Vol. 2 "SAL/SAR/SHL/SHR", "RCL/RCR/ROL/ROR",
// "SHLD", "SHRD"). Undefined flags follow what this machine's AMD CPU produces (checked with the native harness).
import type { Exec } from './cache.js';
import type { Vcpu } from './vcpu.js';
import type { Opr } from './operands.js';
import { AF, CF, OF, SF, ZF, PARITY, szpBig } from './alu.js';
import { readBig, writeBig } from './bigops.js';
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

