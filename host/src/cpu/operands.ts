// Operand accessors built once per decoded instruction: registers by size, memory effective addresses
// (SDM Vol. 1 3.7.5; Vol. 2 2.1.5 ModRM/SIB; 2.2.1.6 RIP-relative), immediates. Memory operands record their
// linear address in `c.ea` so a read-modify-write instruction stores to the address it loaded from.
import type { Decoded } from './decode.js';
import { SEG_FS, SEG_GS } from './decode.js';
import type { Vcpu } from './vcpu.js';

const TWO32 = 4294967296;

export interface Opr {
  /** Value (size <= 4) or low half (size 8, high half in c.vh). */
  rd(c: Vcpu): number;
  /** Write after rd() in the same instruction (read-modify-write: reuses the address rd() computed). */
  wr(c: Vcpu, v: number, vh: number): void;
  /** Write-only store (computes the address itself). */
  st(c: Vcpu, v: number, vh: number): void;
}

/** Register number for a byte register: without REX, 4..7 are AH CH DH BH (internal 16..19). */
export function reg8(d: Decoded, n: number): number {
  return d.rex === 0 && n >= 4 && n < 8 ? n + 12 : n;
}

export function regOpr(n: number, size: number): Opr {
  return {
    rd: (c) => c.getR(n, size),
    wr: (c, v, vh) => c.setR(n, size, v, vh),
    st: (c, v, vh) => c.setR(n, size, v, vh),
  };
}

/** The raw effective address as (lo, hi) without segment base or canonical check (what LEA computes). */
export function eaRaw(d: Decoded): (c: Vcpu) => number {
  const { base, index, scale, disp, asz } = d;
  if (d.ripRel) {
    return (c) => {
      const ip = c.nextIp;
      let lo = (ip % TWO32) + disp;
      let hi = Math.floor(ip / TWO32);
      if (lo < 0) { lo += TWO32; hi -= 1; } else if (lo >= TWO32) { lo -= TWO32; hi += 1; }
      if (asz === 4) { c.vh = 0; return lo; }
      c.vh = hi >>> 0;
      return lo;
    };
  }
  if (asz === 8) {
    const dh = disp < 0 ? -1 : 0;
    const dl = disp >>> 0;
    return (c) => {
      let lo = dl, hi = dh;
      if (base >= 0) { lo += c.lo[base]!; hi += c.hi[base]!; }
      if (index >= 0) { lo += c.lo[index]! * scale; hi += c.hi[index]! * scale; }
      if (lo >= TWO32) { const k = Math.floor(lo / TWO32); lo -= k * TWO32; hi += k; }
      c.vh = hi >>> 0;
      return lo;
    };
  }
  const m = asz === 4 ? 0 : 0xffff;
  return (c) => {
    let v = disp;
    if (base >= 0) v += c.lo[base]!;
    if (index >= 0) v += c.lo[index]! * scale;
    c.vh = 0;
    return m === 0 ? v >>> 0 : v & m;
  };
}

/** Linear address of the memory operand (adds FS/GS base, checks canonical form). */
export function eaLinear(d: Decoded): (c: Vcpu) => number {
  const raw = eaRaw(d);
  const stack = d.base === 4 || d.base === 5;
  const seg = d.seg === SEG_FS ? 1 : d.seg === SEG_GS ? 2 : 0;
  if (d.mode64) {
    if (seg === 0 && d.asz === 8) return (c) => { const lo = raw(c); return c.addr64(lo, c.vh, stack); };
    if (seg === 0) return (c) => raw(c);
    return (c) => {
      let lo = raw(c);
      let hi = c.vh;
      lo += seg === 1 ? c.fsLo : c.gsLo;
      hi += seg === 1 ? c.fsHi : c.gsHi;
      if (lo >= TWO32) { lo -= TWO32; hi += 1; }
      return c.addr64(lo, hi >>> 0, stack);
    };
  }
  if (seg === 0) return raw;
  return (c) => (raw(c) + (seg === 1 ? c.fsLo : c.gsLo)) >>> 0;
}

/** Memory operand of `size` bytes at the ModRM address. */
export function memOpr(d: Decoded, size: number): Opr {
  const ea = eaLinear(d);
  return {
    rd: (c) => {
      const a = ea(c);
      c.ea = a;
      return c.rd(a, size);
    },
    wr: (c, v, vh) => c.wr(c.ea, size, v, vh),
    st: (c, v, vh) => {
      const a = ea(c);
      c.ea = a;
      c.wr(a, size, v, vh);
    },
  };
}

/** The r/m operand (register or memory). Byte registers follow the REX rule. */
export function rmOpr(d: Decoded, size: number): Opr {
  if (d.mem) return memOpr(d, size);
  return regOpr(size === 1 ? reg8(d, d.rm) : d.rm, size);
}

/** The ModRM.reg operand. */
export function regField(d: Decoded, size: number): Opr {
  return regOpr(size === 1 ? reg8(d, d.reg) : d.reg, size);
}

/** Immediate `v` (already sign-extended to a JS int) presented at operand `size`. */
/** An immediate (sign-extended JS int) as (lo, hi) halves at operand `size`. */
export function immParts(v: number, size: number): [number, number] {
  const lo = size === 1 ? v & 0xff : size === 2 ? v & 0xffff : v >>> 0;
  return [lo, size === 8 && v < 0 ? 0xffffffff : 0];
}

export function immOpr(v: number, size: number): Opr {
  const [lo, hi] = immParts(v, size);
  return {
    rd: (c) => { c.vh = hi; return lo; },
    wr: () => { throw new Error('write to an immediate operand'); },
    st: () => { throw new Error('write to an immediate operand'); },
  };
}

/** Sign-extend the decoded immediate from its encoded size. */
export function immSigned(d: Decoded): number {
  if (d.immSize === 1) return (d.imm << 24) >> 24;
  if (d.immSize === 2) return (d.imm << 16) >> 16;
  return d.imm | 0;
}

/** Size of the "v" operand for a decoded instruction: byte form when `byteForm`, else osz. */
export function vsize(d: Decoded, byteForm: boolean): number {
  return byteForm ? 1 : d.osz;
}
