// ModRM / SIB / displacement encoding of a register or memory operand (Intel SDM Vol. 2 section 2.1.5,
// Tables 2-2 and 2-3; RIP-relative 2.2.1.6; disp32 sign-extension in long mode 2.2.1.3).

import { AsmError } from './errors.js';
import { type LabelRef, type Mem, hex, isReg, showLabel } from './operands.js';
import type { Reg } from './registers.js';

export type Bits = 32 | 64;

const POW = (n: number): bigint => 1n << BigInt(n);
export function fitsS(v: bigint, bits: number): boolean {
  return v >= -POW(bits - 1) && v < POW(bits - 1);
}

export function immBytes(v: bigint, n: number, out: number[]): void {
  const u = BigInt.asUintN(n * 8, v);
  for (let i = 0; i < n; i++) out.push(Number((u >> BigInt(8 * i)) & 0xffn));
}


export interface ModRM {
  bytes: number[];
  rexB: boolean;
  rexX: boolean;
  /** Displacement location relative to the ModRM byte and its label, if any. */
  fix?: { at: number; ref: LabelRef; pcrel: boolean };
}

export function encodeModRM(where: () => string, regField: number, rm: Reg | Mem, bits: Bits): ModRM {
  if (isReg(rm)) return { bytes: [0xc0 | ((regField & 7) << 3) | (rm.num & 7)], rexB: rm.num >= 8, rexX: false };
  const m = rm;
  const r3 = (regField & 7) << 3;
  if (m.rip) {
    return { bytes: [r3 | 5, 0, 0, 0, 0], rexB: false, rexX: false, fix: { at: 1, ref: m.label!, pcrel: true } };
  }
  for (const r of [m.base, m.index]) {
    if (r && r.size !== bits) throw new AsmError(where(), `${r.name} cannot address memory in ${bits}-bit mode (address-size override is not supported); use a ${bits}-bit register`);
  }
  if (m.label && bits === 64) {
    throw new AsmError(where(), `absolute label address ${showLabel(m.label)} in 64-bit mode needs a sign-extended 32-bit relocation; use mem.rip(label) instead`);
  }
  // disp32 is sign-extended to 64 bits in long mode (SDM 2.2.1.3) and wraps at 2^32 in 32-bit mode.
  const disp = bits === 64 ? BigInt.asIntN(64, m.disp) : BigInt.asIntN(32, m.disp);
  if (bits === 64 ? !fitsS(disp, 32) : m.disp < -POW(31) || m.disp >= POW(32)) {
    throw new AsmError(where(), `displacement ${hex(m.disp)} does not fit ${bits === 64 ? 'a sign-extended 32-bit field (64-bit absolute addresses must be below 0x80000000 or at/above 0xffffffff80000000)' : '32 bits'}`);
  }
  const out: number[] = [];
  const dispBytes = (n: number): void => immBytes(disp, n, out);
  if (!m.base) {
    // No base: disp32 alone (rm=101 in 32-bit; SIB with base=101,index=100 in 64-bit, where rm=101 means RIP).
    if (!m.index && bits === 32) {
      out.push(r3 | 5);
    } else {
      out.push(r3 | 4);
      const idx = m.index ? m.index.num & 7 : 4;
      out.push((m.index ? Math.log2(m.scale) << 6 : 0) | (idx << 3) | 5);
    }
    const at = out.length;
    dispBytes(4);
    return { bytes: out, rexB: false, rexX: !!m.index && m.index.num >= 8, fix: m.label ? { at, ref: m.label, pcrel: false } : undefined };
  }
  const b = m.base.num & 7;
  const mod = m.label ? 2 : disp === 0n && b !== 5 ? 0 : fitsS(disp, 8) ? 1 : 2;
  if (m.index || b === 4) {
    out.push((mod << 6) | r3 | 4);
    const idx = m.index ? m.index.num & 7 : 4;
    out.push((m.index ? Math.log2(m.scale) << 6 : 0) | (idx << 3) | b);
  } else {
    out.push((mod << 6) | r3 | b);
  }
  const at = out.length;
  if (mod === 1) dispBytes(1);
  if (mod === 2) dispBytes(4);
  return {
    bytes: out,
    rexB: m.base.num >= 8,
    rexX: !!m.index && m.index.num >= 8,
    fix: m.label ? { at, ref: m.label, pcrel: false } : undefined,
  };
}

