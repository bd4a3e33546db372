// Integer ALU with exact EFLAGS (SDM Vol. 1 3.4.3, Vol. 2 per-instruction "Flags Affected").
// Values of 8/16/32 bits are unsigned numbers; 64-bit values are (lo, hi) pairs of unsigned 32-bit numbers,
// the hi half of a result returned through `out.hi`. Flags come back packed at their RFLAGS positions.

/** RFLAGS bits (SDM Vol. 1 Figure 3-8). */
export const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, TF = 0x100, IF = 0x200, DF = 0x400, OF = 0x800;
export const IOPL_MASK = 0x3000, NT = 0x4000, RF = 0x10000, AC = 0x40000, ID = 0x200000;
/** The six status flags. */
export const STATUS = CF | PF | AF | ZF | SF | OF;

/** PF: set when the low byte of the result has an even number of 1 bits. */
export const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let n = 0;
  for (let b = i; b !== 0; b >>= 1) n += b & 1;
  PARITY[i] = (n & 1) === 0 ? PF : 0;
}

export const MASK = [0, 0xff, 0xffff, 0, 0xffffffff] as const;
export const SIGN = [0, 0x80, 0x8000, 0, 0x80000000] as const;

/** Scratch returned alongside a result. */
export interface AluOut {
  /** Upper 32 bits of a 64-bit result. */
  hi: number;
  /** Packed status flags of the result. */
  f: number;
}

function szp(res: number, size: number): number {
  return (res === 0 ? ZF : 0) | ((res & SIGN[size]!) !== 0 ? SF : 0) | PARITY[res & 0xff]!;
}

function szp64(lo: number, hi: number): number {
  return ((lo | hi) === 0 ? ZF : 0) | (hi >>> 31 !== 0 ? SF : 0) | PARITY[lo & 0xff]!;
}

/** ADD/ADC: a + b + cin. */
export function add(o: AluOut, size: number, a: number, ah: number, b: number, bh: number, cin: number): number {
  if (size === 8) {
    let lo = a + b + cin;
    const c1 = lo > 0xffffffff ? 1 : 0;
    lo >>>= 0;
    let hi = ah + bh + c1;
    const cf = hi > 0xffffffff ? CF : 0;
    hi >>>= 0;
    o.hi = hi;
    o.f = cf | szp64(lo, hi) | ((a ^ b ^ lo) & AF) | ((((ah ^ hi) & (bh ^ hi)) >>> 31) !== 0 ? OF : 0);
    return lo;
  }
  const m = MASK[size]!;
  const r = a + b + cin;
  const res = size === 4 ? r >>> 0 : r & m;
  o.f = (r > m ? CF : 0) | szp(res, size) | ((a ^ b ^ res) & AF) |
    (((a ^ res) & (b ^ res) & SIGN[size]!) !== 0 ? OF : 0);
  return res;
}

/** SUB/SBB/CMP/NEG: a - b - bin. */
export function sub(o: AluOut, size: number, a: number, ah: number, b: number, bh: number, bin: number): number {
  if (size === 8) {
    let lo = a - b - bin;
    const b1 = lo < 0 ? 1 : 0;
    lo >>>= 0;
    let hi = ah - bh - b1;
    const cf = hi < 0 ? CF : 0;
    hi >>>= 0;
    o.hi = hi;
    o.f = cf | szp64(lo, hi) | ((a ^ b ^ lo) & AF) | ((((ah ^ bh) & (ah ^ hi)) >>> 31) !== 0 ? OF : 0);
    return lo;
  }
  const m = MASK[size]!;
  const r = a - b - bin;
  const res = size === 4 ? r >>> 0 : r & m;
  o.f = (r < 0 ? CF : 0) | szp(res, size) | ((a ^ b ^ res) & AF) |
    (((a ^ b) & (a ^ res) & SIGN[size]!) !== 0 ? OF : 0);
  return res;
}

/** Flags of AND/OR/XOR/TEST: CF = OF = 0, AF undefined (0 here, as on this machine's CPUs). */
export function logicFlags(o: AluOut, size: number, res: number, hi: number): void {
  o.f = size === 8 ? szp64(res, hi) : szp(res, size);
}

export function toBig(lo: number, hi: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo);
}

export function signExt(v: number, size: number): number {
  if (size === 1) return (v << 24) >> 24;
  if (size === 2) return (v << 16) >> 16;
  return v | 0;
}

/** Big value (masked to `bits`) to a signed bigint. */
export function bigSigned(v: bigint, bits: number): bigint {
  return BigInt.asIntN(bits, v);
}

/** Packed ZF/SF/PF of a bigint result of `bits` width. */
export function szpBig(v: bigint, bits: number): number {
  return (v === 0n ? ZF : 0) | (((v >> BigInt(bits - 1)) & 1n) !== 0n ? SF : 0) | PARITY[Number(v & 0xffn)]!;
}
