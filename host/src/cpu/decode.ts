// x86 instruction decoder for the integer subset the engine executes (SDM Vol. 2 ch. 2 encoding,
// Appendix A opcode maps). It produces the plain fields the compiler needs; instruction lengths are
// cross-checked against GNU objdump in host/test/cpu-decode.test.ts.

/** Segment prefix numbers (SDM Vol. 2 2.1.1 group 2): ES CS SS DS FS GS. */
export const SEG_ES = 0, SEG_CS = 1, SEG_SS = 2, SEG_DS = 3, SEG_FS = 4, SEG_GS = 5;

/** Maximum instruction length (SDM Vol. 2 2.3.11): longer -> #GP(0). */
export const MAX_INSN_LEN = 15;

export interface Decoded {
  /** Length in bytes. */
  len: number;
  /** Opcode: 0x000-0x0ff one-byte map, 0x100|b two-byte (0F b), 0x200|b (0F 38 b), 0x300|b (0F 3A b). */
  op: number;
  /** Operand size for word/dword/qword-sized operations: 2, 4 or 8. */
  osz: 2 | 4 | 8;
  /** Address size: 2, 4 or 8. */
  asz: 2 | 4 | 8;
  rex: number;
  rep: 0 | 0xf2 | 0xf3;
  lock: boolean;
  /** Segment override (SEG_*) or -1. */
  seg: number;
  has66: boolean;
  hasModrm: boolean;
  mod: number;
  /** ModRM.reg with REX.R. */
  reg: number;
  /** ModRM.rm with REX.B (meaningful when mod == 3). */
  rm: number;
  /** Memory operand present (ModRM with mod != 3, or a moffs form). */
  mem: boolean;
  /** Base register number or -1. */
  base: number;
  /** Index register number or -1. */
  index: number;
  scale: number;
  /** Signed displacement (for moffs forms: the low 32 bits of the offset, `dispHi` the upper). */
  disp: number;
  dispHi: number;
  ripRel: boolean;
  /** First immediate (sign- or zero-extension is up to the compiler; raw value here, unsigned). */
  imm: number;
  immSize: number;
  /** Upper 32 bits of a 64-bit immediate (mov r64, imm64). */
  immHi: number;
  /** Second immediate (ENTER's imm8). */
  imm2: number;
  /** False when the opcode is not one the engine knows how to decode (the compiler makes it #UD). */
  valid: boolean;
  mode64: boolean;
  bytes: Uint8Array;
}

export type DecodeResult =
  | { ok: true; d: Decoded }
  /** The byte at `at` (offset from the start) could not be fetched. */
  | { ok: false; fault: 'fetch'; at: number }
  /** More than 15 bytes. */
  | { ok: false; fault: 'toolong' };

// Immediate kinds: 0 none, 1 ib, 2 iw, 3 iz (2 or 4 by osz), 4 iv (2/4/8 by osz), 5 iw+ib (ENTER),
// 6 moffs (address-size bytes), 7 far pointer (iz + iw), 8 rel32/iz for near branches.
const I_NONE = 0, I_B = 1, I_W = 2, I_Z = 3, I_V = 4, I_WB = 5, I_O = 6, I_P = 7, I_J = 8;

function oneByteModrm(b: number): boolean {
  if (b < 0x40) return (b & 7) < 4;
  return b === 0x62 || b === 0x63 || b === 0x69 || b === 0x6b || (b >= 0x80 && b <= 0x8f) || b === 0xc0 ||
    b === 0xc1 || (b >= 0xc4 && b <= 0xc7) || (b >= 0xd0 && b <= 0xd3) || (b >= 0xd8 && b <= 0xdf) ||
    b === 0xf6 || b === 0xf7 || b === 0xfe || b === 0xff;
}

function oneByteImm(b: number): number {
  if (b < 0x40) return (b & 7) === 4 ? I_B : (b & 7) === 5 ? I_Z : I_NONE;
  if (b >= 0x70 && b <= 0x7f) return I_B;
  if (b >= 0xb0 && b <= 0xb7) return I_B;
  if (b >= 0xb8 && b <= 0xbf) return I_V;
  if (b >= 0xe0 && b <= 0xe7) return I_B;
  switch (b) {
    case 0x68: case 0x69: case 0x81: case 0xa9: case 0xc7: return I_Z;
    case 0x6a: case 0x6b: case 0x80: case 0x82: case 0x83: case 0xa8: case 0xc0: case 0xc1: case 0xc6:
    case 0xcd: case 0xd4: case 0xd5: case 0xeb: return I_B;
    case 0xa0: case 0xa1: case 0xa2: case 0xa3: return I_O;
    case 0xc2: case 0xca: return I_W;
    case 0xc8: return I_WB;
    case 0x9a: case 0xea: return I_P;
    case 0xe8: case 0xe9: return I_J;
    default: return I_NONE;
  }
}

function twoByteModrm(b: number): boolean {
  if (b >= 0x80 && b <= 0x8f) return false;
  if (b >= 0xc8 && b <= 0xcf) return false;
  switch (b) {
    case 0x05: case 0x06: case 0x07: case 0x08: case 0x09: case 0x0b: case 0x0e: case 0x30: case 0x31:
    case 0x32: case 0x33: case 0x34: case 0x35: case 0x37: case 0x77: case 0xa0: case 0xa1: case 0xa2:
    case 0xa8: case 0xa9: case 0xaa: case 0xff: return false;
    default: return true;
  }
}

function twoByteImm(b: number): number {
  if (b >= 0x80 && b <= 0x8f) return I_J;
  switch (b) {
    case 0x70: case 0x71: case 0x72: case 0x73: case 0xa4: case 0xac: case 0xba: case 0xc2: case 0xc4:
    case 0xc5: case 0xc6: return I_B;
    default: return I_NONE;
  }
}

/** Opcodes that are invalid in 64-bit mode (SDM Vol. 2 Appendix A, "i64"). */
function invalid64(b: number): boolean {
  switch (b) {
    case 0x06: case 0x07: case 0x0e: case 0x16: case 0x17: case 0x1e: case 0x1f: case 0x27: case 0x2f:
    case 0x37: case 0x3f: case 0x60: case 0x61: case 0x62: case 0x82: case 0x9a: case 0xc4: case 0xc5:
    case 0xce: case 0xd4: case 0xd5: case 0xd6: case 0xea: return true;
    default: return false;
  }
}

/** Opcodes whose operand size defaults to 64 bits in long mode (SDM Vol. 2 2.2.1.7 / Table 2-5 "d64", "f64"). */
function default64(op: number): boolean {
  if (op >= 0x50 && op <= 0x5f) return true;
  if (op >= 0x70 && op <= 0x7f) return true;
  if (op >= 0x180 && op <= 0x18f) return true;
  switch (op) {
    case 0x68: case 0x6a: case 0x8f: case 0x9c: case 0x9d: case 0xc2: case 0xc3: case 0xc8: case 0xc9:
    case 0xe0: case 0xe1: case 0xe2: case 0xe3: case 0xe8: case 0xe9: case 0xeb: return true;
    default: return false;
  }
}

/**
 * Decode one instruction from `buf[0..avail)` (bytes past `avail` are not fetchable).
 * `mode64`: long mode (64-bit code segment); otherwise 32-bit protected mode.
 */
// The byte cursor of the instruction being decoded (module state, not closures made per call: decode is hot on
// first execution, and it never re-enters).
let p = 0;
let limit = 0;
let cur: Uint8Array = new Uint8Array(0);

function need(): number {
  if (p >= limit) throw p >= MAX_INSN_LEN ? TOO_LONG : new FetchAt(p);
  return cur[p++]!;
}

function readN(n: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) v += need() * 2 ** (8 * i);
  return v;
}

export function decode(buf: Uint8Array, avail: number, mode64: boolean): DecodeResult {
  p = 0;
  limit = Math.min(avail, MAX_INSN_LEN);
  cur = buf;
  try {
    let rex = 0, rep: 0 | 0xf2 | 0xf3 = 0, lock = false, seg = -1, has66 = false, has67 = false;
    let b = need();
    for (;;) {
      if (b === 0x66) has66 = true;
      else if (b === 0x67) has67 = true;
      else if (b === 0xf0) lock = true;
      else if (b === 0xf2 || b === 0xf3) rep = b;
      else if (b === 0x26) seg = SEG_ES;
      else if (b === 0x2e) seg = SEG_CS;
      else if (b === 0x36) seg = SEG_SS;
      else if (b === 0x3e) seg = SEG_DS;
      else if (b === 0x64) seg = SEG_FS;
      else if (b === 0x65) seg = SEG_GS;
      else if (mode64 && (b & 0xf0) === 0x40) {
        rex = b;
        b = need();
        // REX counts only immediately before the opcode (SDM Vol. 2 2.2.1).
        if (b === 0x66 || b === 0x67 || b === 0xf0 || b === 0xf2 || b === 0xf3 || b === 0x26 || b === 0x2e ||
          b === 0x36 || b === 0x3e || b === 0x64 || b === 0x65 || (b & 0xf0) === 0x40) {
          rex = 0;
          continue;
        }
        break;
      } else break;
      b = need();
    }
    let op = b;
    let valid = true;
    let modrmNeeded: boolean;
    let immKind: number;
    if (b === 0x0f) {
      const b2 = need();
      if (b2 === 0x38) {
        op = 0x200 | need();
        modrmNeeded = true;
        immKind = I_NONE;
      } else if (b2 === 0x3a) {
        op = 0x300 | need();
        modrmNeeded = true;
        immKind = I_B;
      } else {
        op = 0x100 | b2;
        modrmNeeded = twoByteModrm(b2);
        immKind = twoByteImm(b2);
      }
    } else {
      modrmNeeded = oneByteModrm(b);
      immKind = oneByteImm(b);
      if (mode64 && invalid64(b)) valid = false;
    }
    const rexW = (rex & 8) !== 0;
    let osz: 2 | 4 | 8 = rexW ? 8 : has66 ? 2 : 4;
    if (mode64 && default64(op) && !rexW) osz = has66 ? 2 : 8;
    if (!mode64) osz = has66 ? 2 : 4;
    const asz: 2 | 4 | 8 = mode64 ? (has67 ? 4 : 8) : has67 ? 2 : 4;
    const d: Decoded = {
      len: 0, op, osz, asz, rex, rep, lock, seg, has66, hasModrm: modrmNeeded, mod: 0, reg: 0, rm: 0, mem: false,
      base: -1, index: -1, scale: 1, disp: 0, dispHi: 0, ripRel: false, imm: 0, immSize: 0, immHi: 0, imm2: 0,
      valid, mode64, bytes: buf,
    };
    if (modrmNeeded) {
      const m = need();
      d.mod = m >> 6;
      d.reg = ((m >> 3) & 7) | ((rex & 4) << 1);
      const rm = m & 7;
      d.rm = rm | ((rex & 1) << 3);
      if (d.mod !== 3) {
        d.mem = true;
        if (asz === 2) {
          // 16-bit addressing (SDM Vol. 2 Table 2-1): BX+SI, BX+DI, BP+SI, BP+DI, SI, DI, BP (disp16 if mod 0), BX.
          if (d.mod === 0 && rm === 6) {
            d.disp = ((need() | (need() << 8)) << 16) >> 16;
          } else {
            d.base = [3, 3, 5, 5, 6, 7, 5, 3][rm]!;
            d.index = [6, 7, 6, 7, -1, -1, -1, -1][rm]!;
            if (d.mod === 1) d.disp = (need() << 24) >> 24;
            else if (d.mod === 2) d.disp = ((need() | (need() << 8)) << 16) >> 16;
          }
        } else {
          let noBaseDisp32 = false;
          if (rm === 4) {
            const sib = need();
            d.scale = 1 << (sib >> 6);
            const ix = ((sib >> 3) & 7) | ((rex & 2) << 2);
            d.index = ix === 4 ? -1 : ix;
            if ((sib & 7) === 5 && d.mod === 0) noBaseDisp32 = true;
            else d.base = (sib & 7) | ((rex & 1) << 3);
          } else if (rm === 5 && d.mod === 0) {
            noBaseDisp32 = true;
            if (mode64) d.ripRel = true;
          } else {
            d.base = d.rm;
          }
          if (d.mod === 1) d.disp = (need() << 24) >> 24;
          else if (d.mod === 2 || noBaseDisp32) d.disp = need() | (need() << 8) | (need() << 16) | (need() << 24);
        }
      }
    }
    // Group-dependent immediates: F6/F7 /0 and /1 are TEST with an immediate.
    if ((op === 0xf6 || op === 0xf7) && (d.reg & 7) < 2) immKind = op === 0xf6 ? I_B : I_Z;
    switch (immKind) {
      case I_B: d.imm = readN(1); d.immSize = 1; break;
      case I_W: d.imm = readN(2); d.immSize = 2; break;
      case I_Z: { const n = osz === 2 ? 2 : 4; d.imm = readN(n); d.immSize = n; break; }
      case I_J: { const n = mode64 ? 4 : osz === 2 ? 2 : 4; d.imm = readN(n); d.immSize = n; break; }
      case I_V:
        if (osz === 8) {
          d.imm = readN(4);
          d.immHi = readN(4);
          d.immSize = 8;
        } else {
          d.imm = readN(osz);
          d.immSize = osz;
        }
        break;
      case I_WB: d.imm = readN(2); d.imm2 = readN(1); d.immSize = 2; break;
      case I_O:
        d.mem = true;
        if (asz === 8) {
          d.disp = readN(4);
          d.dispHi = readN(4);
        } else d.disp = readN(asz);
        break;
      case I_P: d.imm = readN(osz === 2 ? 2 : 4); d.imm2 = readN(2); valid = false; break;
    }
    d.len = p;
    d.valid = valid && d.valid;
    d.bytes = buf.slice(0, p);
    return { ok: true, d };
  } catch (e) {
    if (e === TOO_LONG) return { ok: false, fault: 'toolong' };
    if (e instanceof FetchAt) return { ok: false, fault: 'fetch', at: e.at };
    throw e;
  }
}

class FetchAt {
  constructor(readonly at: number) {}
}
const TOO_LONG = { tooLong: true };

export function hexBytes(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}
