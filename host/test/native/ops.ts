// Op generators: each writes one flag-affecting integer instruction (Intel syntax) into a CaseContext with
// operands and initial values, and records which results the SDM leaves undefined for these exact inputs.
// In a chain (several ops in a row) constraints are set by instructions (`mov cl, n`, `or r, 1`, ...) because
// the registers no longer hold their initial values; such helper instructions are part of the op.
import { AF, ARITH, CF, OF, PF, SF, ZF } from './layout.js';
import { branch, stack, stringOp } from './ops-flow.js';
import { type CaseContext, type Operand, type RegOp, type Width, toSigned, widthMask } from './context.js';
import { CC_NAMES, CC_READS } from './undefined.js';

export interface OpGen {
  readonly group: string;
  /** Adds the instruction; returns false when the case should be regenerated (e.g. it would raise #DE). */
  gen(c: CaseContext): boolean;
  /** Whether a setcc/cmovcc may follow (the op writes flags). */
  readonly setsFlags: boolean;
}


function nonByte(c: CaseContext): Width[] {
  return c.widths.filter((w) => w !== 8);
}

function imm(c: CaseContext, width: Width): bigint {
  // imm8 (sign-extended) or the widest immediate the form takes (imm32 sign-extended for 64-bit).
  const w = c.rng.chance(0.4) ? 8 : Math.min(width, 32);
  return toSigned(c.rng.value(w), w);
}

function alu(mn: string): OpGen {
  const logic = mn === 'and' || mn === 'or' || mn === 'xor';
  const readsCf = mn === 'adc' || mn === 'sbb';
  return {
    group: mn,
    setsFlags: true,
    gen(c) {
      if (readsCf && !c.canRead(CF)) return false;
      const w = c.rng.pick(c.widths);
      const form = c.rng.int(4);
      if (form === 0) {
        const src = c.reg(w);
        c.emit(`${mn} ${c.rm(w).text}, ${src.text}`);
      } else if (form === 1) {
        const dst = c.reg(w);
        c.emit(`${mn} ${dst.text}, ${c.rm(w).text}`);
      } else if (form === 2) {
        c.emit(`${mn} ${c.rm(w).text}, ${imm(c, w)}`);
      } else {
        const acc = c.fixedReg(0, w);
        c.emit(`${mn} ${acc.text}, ${imm(c, w)}`);
      }
      c.flagsOp(ARITH, logic ? AF : 0); // SDM: AND/OR/XOR leave AF undefined
      return true;
    },
  };
}

function test(): OpGen {
  return {
    group: 'test',
    setsFlags: true,
    gen(c) {
      const w = c.rng.pick(c.widths);
      if (c.rng.chance(0.5)) {
        const src = c.reg(w);
        c.emit(`test ${c.rm(w).text}, ${src.text}`);
      } else {
        c.emit(`test ${c.rm(w).text}, ${imm(c, w)}`);
      }
      c.flagsOp(ARITH, AF);
      return true;
    },
  };
}

function unary(mn: 'inc' | 'dec' | 'neg' | 'not'): OpGen {
  return {
    group: mn,
    setsFlags: mn !== 'not',
    gen(c) {
      c.emit(`${mn} ${c.rm(c.rng.pick(c.widths)).text}`);
      // SDM: INC/DEC leave CF unaffected; NOT affects no flag
      c.flagsOp(mn === 'not' ? 0 : mn === 'neg' ? ARITH : ARITH & ~CF);
      return true;
    },
  };
}

function countMask(w: Width): number {
  return w === 64 ? 0x3f : 0x1f; // SDM Vol.2 SAL/SAR/SHL/SHR: count masked to 5 bits (6 with REX.W)
}

/** 64-bit mode, 32-bit register destination, masked count 0: see known.ts 'shift-count0-no-zero-extend'. */
function tagCount0(c: CaseContext, dst: Operand, n: number): void {
  if (n === 0 && c.bits === 64 && dst.kind === 'reg' && dst.width === 32) c.tags.add('shift-count0-no-zero-extend');
}

/** Sets CL to `count` for the next instruction: by initial value (single op) or by `mov cl, n` (chain). */
function countInCl(c: CaseContext, dst: Operand, count: number): number {
  if (c.chain) {
    c.emit(`mov cl, ${count}`);
    return count;
  }
  if (dst.kind === 'reg' && dst.idx === 1 && !dst.high) return Number(c.read(dst) & 0xffn);
  c.setLow8(1, count);
  return count;
}

function shift(mn: 'shl' | 'shr' | 'sar' | 'rol' | 'ror' | 'rcl' | 'rcr'): OpGen {
  const rotate = mn === 'rol' || mn === 'ror' || mn === 'rcl' || mn === 'rcr';
  return {
    group: mn,
    setsFlags: true,
    gen(c) {
      if ((mn === 'rcl' || mn === 'rcr') && !c.canRead(CF)) return false;
      const w = c.rng.pick(c.widths);
      const form = c.rng.int(3);
      let count: number;
      if (form === 0) c.reserve(1);
      const dst = c.rm(w);
      if (form === 0) {
        count = countInCl(c, dst, c.rng.int(71));
        c.emit(`${mn} ${dst.text}, cl`);
      } else {
        count = form === 1 ? c.rng.int(71) : 1;
        c.emit(`${mn} ${dst.text}, ${count}`);
      }
      const n = count & countMask(w);
      tagCount0(c, dst, n);
      if (n === 0) return true; // flags unaffected
      if (rotate) {
        c.flagsOp(CF | OF, n > 1 ? OF : 0); // SDM: rotates write CF and OF only; OF undefined for counts > 1
      } else {
        let undef = AF | (n > 1 ? OF : 0);
        if (mn !== 'sar' && n >= w) undef |= CF; // SDM: CF undefined for SHL/SHR when count >= width
        c.flagsOp(ARITH, undef);
      }
      return true;
    },
  };
}

/** Dividend/divisor check so that a single-op case never raises #DE (SDM Vol.2 DIV/IDIV "Exceptions"). */
function divides(c: CaseContext, w: Width, src: Operand, signed: boolean): boolean {
  const lowOp = c.fixedReg(0, w);
  const highOp: RegOp = w === 8 ? c.fixedReg(0, 8, true) : c.fixedReg(2, w);
  const d = c.read(src);
  if (d === 0n) return false;
  // Make the dividend's high half small most of the time (zero or a sign extension), as compilers do.
  const srcIsHigh = src.kind === 'reg' && (w === 8 ? src.idx === 0 : src.idx === 2 || src.idx === 0);
  if (!srcIsHigh && c.rng.chance(0.7)) {
    const low = c.read(lowOp);
    c.write(highOp, signed && toSigned(low, w) < 0n ? widthMask(w) : 0n);
  }
  const hi = c.read(highOp);
  const lo = c.read(lowOp);
  const bw = BigInt(w);
  if (!signed) return ((hi << bw) | lo) / d < 1n << bw;
  const q = toSigned((hi << bw) | lo, 2 * w) / toSigned(d, w);
  return q >= -(1n << (bw - 1n)) && q < 1n << (bw - 1n);
}

/**
 * Chain form of the #DE guard: the divisor is made positive and nonzero and the dividend's high half a zero or
 * sign extension, by instructions, so the quotient always fits.
 */
function chainDivide(c: CaseContext, w: Width, signed: boolean): Operand {
  const src = c.rng.chance(0.7) ? c.reg(w, [0, 2]) : c.mem(w);
  if (signed) c.emit(`and ${src.text}, ${w === 8 ? 0x7f : w === 16 ? 0x7fff : 0x7fffffff}`);
  c.emit(`or ${src.text}, 1`);
  if (signed) c.emit({ 8: 'cbw', 16: 'cwd', 32: 'cdq', 64: 'cqo' }[w]);
  else c.emit(w === 8 ? 'mov ah, 0' : `mov ${c.fixedReg(2, w).text}, 0`);
  return src;
}

function muldiv(mn: 'mul' | 'imul' | 'div' | 'idiv'): OpGen {
  const isDiv = mn === 'div' || mn === 'idiv';
  return {
    group: `${mn}1`,
    setsFlags: true,
    gen(c) {
      let w = c.rng.pick(c.widths);
      c.reserve(0, 2);
      if (isDiv && c.chain) {
        // `mov ah, 0` cannot sit next to a REX register in 64-bit mode
        if (w === 8 && c.bits === 64 && !c.legacy8) w = 16;
        c.emit(`${mn} ${chainDivide(c, w, mn === 'idiv').text}`);
        c.flagsOp(ARITH, ARITH);
        return true;
      }
      const src = c.rm(w);
      c.emit(`${mn} ${src.text}`);
      if (isDiv) {
        c.flagsOp(ARITH, ARITH); // SDM: all six undefined after DIV/IDIV
        return divides(c, w, src, mn === 'idiv');
      }
      c.flagsOp(ARITH, SF | ZF | AF | PF); // SDM: only CF/OF defined after MUL/IMUL
      return true;
    },
  };
}

function imulN(): OpGen {
  return {
    group: 'imul2/3',
    setsFlags: true,
    gen(c) {
      const w = c.rng.pick(nonByte(c));
      const dst = c.reg(w);
      const src = c.rm(w);
      c.emit(c.rng.chance(0.5) ? `imul ${dst.text}, ${src.text}` : `imul ${dst.text}, ${src.text}, ${imm(c, w)}`);
      c.flagsOp(ARITH, SF | ZF | AF | PF);
      return true;
    },
  };
}

function bitTest(mn: 'bt' | 'bts' | 'btr' | 'btc'): OpGen {
  return {
    group: mn,
    setsFlags: true,
    gen(c) {
      const w = c.rng.pick(nonByte(c));
      if (c.rng.chance(0.5)) {
        // Register bit offset only with a register base: with memory it may address outside the scratch buffer.
        const src = c.reg(w);
        c.emit(`${mn} ${c.reg(w).text}, ${src.text}`);
      } else {
        c.emit(`${mn} ${c.rm(w).text}, ${c.rng.int(256)}`);
      }
      c.flagsOp(CF | OF | SF | AF | PF, OF | SF | AF | PF); // SDM: ZF unaffected
      return true;
    },
  };
}

function bitScan(mn: 'bsf' | 'bsr'): OpGen {
  return {
    group: mn,
    setsFlags: true,
    gen(c) {
      const w = c.rng.pick(nonByte(c));
      const dst = c.reg(w);
      const src = c.rm(w);
      if (c.chain) {
        // The source value is not known here; a set bit keeps the destination defined.
        c.emit(`bts ${src.text}, ${c.rng.int(w)}`);
      } else if (c.rng.chance(0.2) && src.kind === 'reg' && src.idx !== dst.idx) {
        c.write(src, 0n);
      }
      c.emit(`${mn} ${dst.text}, ${src.text}`);
      c.flagsOp(ARITH, CF | OF | SF | AF | PF);
      if (!c.chain && c.read(src) === 0n) c.undefinedRegs.add(dst.idx); // SDM: destination undefined when the source is 0
      return true;
    },
  };
}

function bswap(): OpGen {
  return {
    group: 'bswap',
    setsFlags: false,
    gen(c) {
      // bswap r16 is undefined (SDM Vol.2 BSWAP) and GNU as rejects it, so only 32/64.
      c.emit(`bswap ${c.reg(c.rng.pick(c.widths.filter((w) => w >= 32))).text}`);
      return true;
    },
  };
}

function extend(mn: 'movzx' | 'movsx' | 'movsxd'): OpGen {
  return {
    group: mn,
    setsFlags: false,
    gen(c) {
      if (mn === 'movsxd') {
        if (c.bits !== 64) return false;
        const dst = c.reg(64);
        c.emit(`movsxd ${dst.text}, ${c.rm(32).text}`);
        return true;
      }
      const srcW: Width = c.rng.pick([8, 16] as const);
      let dstW = c.rng.pick(c.widths.filter((w) => w > srcW));
      if (c.legacy8 && dstW === 64) dstW = 32; // REX.W cannot sit next to ah..bh
      const dst = c.reg(dstW);
      const src = srcW === 8 ? c.rm(8) : c.rm(16);
      c.emit(`${mn} ${dst.text}, ${src.text}`);
      return true;
    },
  };
}

function convert(): OpGen {
  return {
    group: 'cbw..cqo',
    setsFlags: false,
    gen(c) {
      const forms = c.bits === 64 ? ['cbw', 'cwde', 'cdqe', 'cwd', 'cdq', 'cqo'] : ['cbw', 'cwde', 'cwd', 'cdq'];
      c.emit(c.rng.pick(forms));
      return true;
    },
  };
}

function exchange(mn: 'xadd' | 'cmpxchg'): OpGen {
  return {
    group: mn,
    setsFlags: true,
    gen(c) {
      const w = c.rng.pick(c.widths);
      if (mn === 'cmpxchg') c.reserve(0);
      const src = c.reg(w);
      const dst = c.rm(w);
      // Equal accumulator and destination half of the time, so both cmpxchg outcomes occur.
      if (mn === 'cmpxchg' && c.rng.chance(0.5)) {
        const acc = c.fixedReg(0, w);
        if (!c.chain) c.write(acc, c.read(dst));
        else if (!(dst.kind === 'reg' && dst.idx === 0)) c.emit(`mov ${acc.text}, ${dst.text}`);
      }
      if (mn === 'xadd' && dst.kind === 'reg' && dst.idx === src.idx && dst.high === src.high) c.tags.add('xadd-same-register');
      const lock = dst.kind === 'mem' && c.rng.chance(0.5) ? 'lock ' : '';
      c.emit(`${lock}${mn} ${dst.text}, ${src.text}`);
      c.flagsOp(ARITH);
      return true;
    },
  };
}

function doubleShift(mn: 'shld' | 'shrd'): OpGen {
  return {
    group: mn,
    setsFlags: true,
    gen(c) {
      const w = c.rng.pick(nonByte(c));
      const useCl = c.rng.chance(0.5);
      if (useCl) c.reserve(1);
      const src = c.reg(w, useCl ? [1] : []);
      const dst = c.rm(w);
      let count = c.rng.int(71);
      if (useCl) count = countInCl(c, dst, count);
      c.emit(`${mn} ${dst.text}, ${src.text}, ${useCl ? 'cl' : count}`);
      const n = count & countMask(w);
      tagCount0(c, dst, n);
      if (n === 0) return true;
      if (n > w) {
        if (c.chain) return false; // an undefined destination would make everything after it undefined
        c.flagsOp(ARITH, ARITH); // SDM Vol.2 SHLD/SHRD: count > operand size -> result and flags undefined
        c.markUndefined(dst);
        return true;
      }
      c.flagsOp(ARITH, AF | (n > 1 ? OF : 0));
      return true;
    },
  };
}

function lea(): OpGen {
  return {
    group: 'lea',
    setsFlags: false,
    gen(c) {
      const dstW = c.rng.pick(nonByte(c));
      const dst = c.reg(dstW);
      const aw: Width = c.bits === 64 && c.rng.chance(0.8) ? 64 : 32;
      const base = c.reg(aw);
      const parts = [base.text];
      if (c.rng.chance(0.7)) {
        const index = c.reg(aw, [4]); // rsp cannot be an index (SDM Vol.2 Table 2-3)
        parts.push(`${index.text}*${c.rng.pick([1, 2, 4, 8])}`);
      }
      const disp = toSigned(c.rng.value(32), 32);
      c.emit(`lea ${dst.text}, [${parts.join('+')}${disp < 0n ? '-' : '+'}${disp < 0n ? -disp : disp}]`);
      return true;
    },
  };
}

/** The op table: every operation the generator covers. */
export const OPS: readonly OpGen[] = [
  ...['add', 'adc', 'sub', 'sbb', 'cmp', 'and', 'or', 'xor'].map((m) => alu(m)),
  test(),
  unary('inc'), unary('dec'), unary('neg'), unary('not'),
  shift('shl'), shift('shr'), shift('sar'), shift('rol'), shift('ror'), shift('rcl'), shift('rcr'),
  muldiv('mul'), muldiv('imul'), muldiv('div'), muldiv('idiv'), imulN(),
  bitTest('bt'), bitTest('bts'), bitTest('btr'), bitTest('btc'),
  bitScan('bsf'), bitScan('bsr'), bswap(),
  extend('movzx'), extend('movsx'), extend('movsxd'), convert(),
  exchange('xadd'), exchange('cmpxchg'),
  doubleShift('shld'), doubleShift('shrd'),
  lea(),
  stringOp(),
  branch(),
  stack(),
];

/**
 * Appends setcc or cmovcc reading the flags just produced. In a single-op case its destination is undefined if
 * it reads an undefined flag; a chain only picks conditions on defined flags (an undefined register would make
 * everything after it undefined).
 */
export function appendConditional(c: CaseContext): void {
  const readable = CC_READS.flatMap((f, cc) => (c.canRead(f) ? [cc] : []));
  if (c.chain && readable.length === 0) return;
  const cc = c.chain ? c.rng.pick(readable) : c.rng.int(16);
  let dst: Operand;
  if (c.rng.chance(0.5)) {
    dst = c.reg(8);
    c.emit(`set${CC_NAMES[cc]} ${dst.text}`);
  } else {
    const w = c.rng.pick(nonByte(c));
    dst = c.reg(w);
    c.emit(`cmov${CC_NAMES[cc]} ${dst.text}, ${c.reg(w).text}`);
  }
  if (!c.canRead(CC_READS[cc]!)) c.markUndefined(dst);
}
