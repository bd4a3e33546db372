// Inline templates for the instructions gcc code spends its time in: MOV/MOVZX/MOVSX/LEA, the ALU group,
// TEST/INC/DEC/NEG/NOT, shifts by an immediate, CMOVcc/SETcc (branches, stack and port I/O: templates-flow.ts).
// Each template computes exactly what the closure of the same instruction (compile.ts) computes; everything
// else runs that closure (see block.ts). Only 32- and 64-bit operand sizes are inlined (and byte MOVs).
import type { Decoded } from '../decode.js';
import { immParts, immSigned, reg8 } from '../operands.js';
import { STATUS } from '../alu.js';
import { aluStmt, condExpr, condUses, flagsStmt, INC_DEC_DEFS, type AluKind } from './flags.js';
import type { Gen } from './gen.js';
import { byteReg, setByteReg, writeReg, type Plan } from './plan.js';
import { planFlow } from './templates-flow.js';

export type { End, Plan } from './plan.js';

const TWO32 = 4294967296;
const SHIFT_DEFS = STATUS;

/** Group-1 kinds the templates inline (ADC/SBB run their closures). */
const ALU_KIND: readonly (AluKind | undefined)[] = ['add', 'or', undefined, undefined, 'and', 'sub', 'xor', 'sub'];

type Loc = { reg: number } | { imm: number; hi: number } | 'mem';

function readLoc(g: Gen, x: 'a' | 'b', loc: Loc, size: 4 | 8): void {
  if (loc === 'mem') g.load(x, size, size === 8);
  else if ('reg' in loc) g.line(size === 8 ? `${x} = L[${loc.reg}]; ${x}h = H[${loc.reg}];` : `${x} = L[${loc.reg}];`);
  else g.line(size === 8 ? `${x} = ${loc.imm}; ${x}h = ${loc.hi};` : `${x} = ${loc.imm};`);
}

/** a OP b -> dst (unless `store` is false), flags as `def` limited to what is live. */
function aluPlan(kind: AluKind, size: 4 | 8, dst: Loc, src: Loc, store: boolean, d: Decoded, def = STATUS): Plan {
  return {
    use: 0, def,
    emit(g, live) {
      if (dst === 'mem' || src === 'mem') g.ea(d);
      readLoc(g, 'b', src, size);
      readLoc(g, 'a', dst, size);
      g.line(aluStmt(kind, size));
      if (store) {
        if (dst === 'mem') g.store(size, 'r', 'rh');
        else if (dst !== undefined && 'reg' in dst) writeReg(g, dst.reg, size, 'r', 'rh');
      }
      g.line(flagsStmt(kind, size, def & live));
    },
  };
}

/** The instruction's immediate, sign-extended to the operand size, as a Loc. */
function immLoc(d: Decoded, size: 4 | 8): { imm: number; hi: number } {
  const [imm, hi] = immParts(immSigned(d), size);
  return { imm, hi };
}

/** r/m operand (reg or memory) at an inlined size. */
function rm(d: Decoded): Loc {
  return d.mem ? 'mem' : { reg: d.rm };
}

/** The plan for `d` at `ip` (next = following address), or undefined to run its closure. */
export function planInsn(d: Decoded, next: number, mode64: boolean): Plan | undefined {
  if (!d.valid || d.lock) return undefined;
  const op = d.op;
  const osz = d.osz;
  const wide = osz === 4 || osz === 8;
  const size = osz as 4 | 8;

  const flow = planFlow(d, next, mode64);
  if (flow !== null) return flow;
  if (op === 0x90 && (d.rex & 1) === 0) return { use: 0, def: 0, emit() {} }; // NOP, PAUSE
  if (d.rep !== 0) return undefined; // other REP-prefixed forms: closures
  if (op === 0x88 || op === 0x8a || (op === 0xc6 && (d.reg & 7) === 0)) return movBytePlan(d);
  if (!wide) return undefined; // 16-bit operands: closures
  if (op === 0x98) return { use: 0, def: 0, emit(g) { g.line(size === 8 ? 'H[0] = L[0] >>> 31 !== 0 ? 4294967295 : 0;' : 'L[0] = ((L[0] << 16) >> 16) >>> 0; H[0] = 0;'); } };
  if (op === 0x99) {
    return {
      use: 0, def: 0,
      emit(g) { g.line(size === 8 ? 'L[2] = H[2] = H[0] >>> 31 !== 0 ? 4294967295 : 0;' : 'L[2] = L[0] >>> 31 !== 0 ? 4294967295 : 0; H[2] = 0;'); },
    };
  }

  // ---- ALU group 1 ----
  if (op < 0x40 && (op & 7) < 6) {
    const kind = ALU_KIND[op >> 3];
    if (kind === undefined || (op & 1) === 0 && (op & 7) < 4) return undefined; // ADC/SBB and byte forms
    const store = op >> 3 !== 7;
    switch (op & 7) {
      case 1: return aluPlan(kind, size, rm(d), { reg: d.reg }, store, d);
      case 3: return aluPlan(kind, size, { reg: d.reg }, rm(d), store, d);
      case 5: return aluPlan(kind, size, { reg: 0 }, immLoc(d, size), store, d);
      default: return undefined;
    }
  }
  if (op === 0x81 || op === 0x83) {
    const kind = ALU_KIND[d.reg & 7];
    if (kind === undefined) return undefined;
    return aluPlan(kind, size, rm(d), immLoc(d, size), (d.reg & 7) !== 7, d);
  }
  if (op === 0x85) return aluPlan('and', size, rm(d), { reg: d.reg }, false, d);
  if (op === 0xa9) return aluPlan('and', size, { reg: 0 }, immLoc(d, size), false, d);
  if (op === 0xf7) {
    const k = d.reg & 7;
    if (k < 2) return aluPlan('and', size, rm(d), immLoc(d, size), false, d);
    if (k === 2) return notPlan(d, size);
    if (k === 3) return negPlan(d, size);
    return undefined;
  }
  if (op === 0xff && (d.reg & 7) < 2) return aluPlan((d.reg & 7) === 0 ? 'add' : 'sub', size, rm(d), { imm: 1, hi: 0 }, true, d, INC_DEC_DEFS);
  if (op >= 0x40 && op <= 0x4f && !mode64) return aluPlan(op < 0x48 ? 'add' : 'sub', size, { reg: op & 7 }, { imm: 1, hi: 0 }, true, d, INC_DEC_DEFS);

  // ---- moves ----
  if (op === 0x89 || op === 0x8b) return movPlan(d, size, op === 0x89);
  if (op >= 0xb8 && op <= 0xbf) {
    const r = (op & 7) | ((d.rex & 1) << 3);
    return { use: 0, def: 0, emit(g) { writeReg(g, r, size, String(d.imm >>> 0), String(d.immHi >>> 0)); } };
  }
  if (op === 0xc7 && (d.reg & 7) === 0) {
    const { imm, hi } = immLoc(d, size);
    return {
      use: 0, def: 0,
      emit(g) {
        if (!d.mem) return writeReg(g, d.rm, size, String(imm), String(hi));
        g.ea(d);
        g.store(size, String(imm), String(hi));
      },
    };
  }
  if (op === 0x8d && d.mem) return leaPlan(d, size, next, mode64);
  if (op === 0x63 && mode64) return movsxdPlan(d, size);
  if (op === 0x1b6 || op === 0x1b7 || op === 0x1be || op === 0x1bf) return movxPlan(d, size);
  if (op >= 0x140 && op <= 0x14f) return cmovPlan(d, size);
  if (op >= 0x190 && op <= 0x19f && !d.mem) return setccPlan(d);
  if ((op === 0xc1 || op === 0xd1) && !d.mem && ((d.reg & 7) === 4 || (d.reg & 7) === 5 || (d.reg & 7) === 7 || (d.reg & 7) === 6)) {
    const n = (op === 0xd1 ? 1 : d.imm) & (size === 8 ? 63 : 31);
    return shiftPlan((d.reg & 7) === 6 ? 4 : d.reg & 7, size, d.rm, n);
  }

  if (op === 0x11f) return { use: 0, def: 0, emit() {} }; // NOP r/m
  return undefined;
}

/** MOV r/m8, r8 (88), MOV r8, r/m8 (8A), MOV r/m8, imm8 (C6 /0). */
function movBytePlan(d: Decoded): Plan {
  const reg = reg8(d, d.reg), rmr = reg8(d, d.rm);
  return {
    use: 0, def: 0,
    emit(g) {
      const src = d.op === 0xc6 ? String(d.imm & 0xff) : d.op === 0x88 ? byteReg(reg) : undefined;
      if (src !== undefined) {
        if (!d.mem) return setByteReg(g, rmr, src);
        g.ea(d);
        g.line(`v = ${src};`);
        return g.store(1, 'v', '0');
      }
      if (d.mem) { g.ea(d); g.load('v', 1, false); setByteReg(g, reg, 'v'); }
      else setByteReg(g, reg, byteReg(rmr));
    },
  };
}

function movPlan(d: Decoded, size: 4 | 8, toRm: boolean): Plan {
  const r = d.reg;
  return {
    use: 0, def: 0,
    emit(g) {
      if (!d.mem) {
        const from = toRm ? r : d.rm, to = toRm ? d.rm : r;
        return writeReg(g, to, size, `L[${from}]`, `H[${from}]`);
      }
      g.ea(d);
      if (toRm) return g.store(size, `L[${r}]`, `H[${r}]`);
      g.load('v', size, false);
      writeReg(g, r, size, 'v', 'vh');
    },
  };
}

/** LEA: the raw effective address (no segment base, no canonical check), truncated to the operand size. */
function leaPlan(d: Decoded, size: 4 | 8, next: number, mode64: boolean): Plan | undefined {
  const r = d.reg;
  if (d.ripRel) {
    if (!mode64 || d.asz !== 8) return undefined;
    const a = BigInt.asUintN(64, BigInt(next) + BigInt(d.disp));
    const lo = Number(a & 0xffffffffn), hi = Number(a >> 32n);
    return { use: 0, def: 0, emit(g) { writeReg(g, r, size, String(lo), String(hi)); } };
  }
  if (d.asz === 8) {
    const dl = d.disp >>> 0, dh = d.disp < 0 ? -1 : 0;
    return {
      use: 0, def: 0,
      emit(g) {
        const lo = [String(dl)], hi = [String(dh)];
        if (d.base >= 0) { lo.push(`L[${d.base}]`); hi.push(`H[${d.base}]`); }
        if (d.index >= 0) { lo.push(`L[${d.index}] * ${d.scale}`); hi.push(`H[${d.index}] * ${d.scale}`); }
        g.line(`t = ${lo.join(' + ')};`);
        if (size === 8) g.line(`th = ${hi.join(' + ')} + Math.floor(t / ${TWO32});`);
        writeReg(g, r, size, 't', 'th');
      },
    };
  }
  if (d.asz === 4) {
    return {
      use: 0, def: 0,
      emit(g) {
        const lo = [String(d.disp)];
        if (d.base >= 0) lo.push(`L[${d.base}]`);
        if (d.index >= 0) lo.push(`L[${d.index}] * ${d.scale}`);
        writeReg(g, r, size, `(${lo.join(' + ')}) >>> 0`, '0');
      },
    };
  }
  return undefined;
}

function movsxdPlan(d: Decoded, size: 4 | 8): Plan {
  const r = d.reg;
  return {
    use: 0, def: 0,
    emit(g) {
      if (d.mem) { g.ea(d); g.load('v', 4, false); } else g.line(`v = L[${d.rm}];`);
      writeReg(g, r, size, 'v', '(v >>> 31 !== 0 ? 4294967295 : 0)');
    },
  };
}

/** MOVZX/MOVSX r32/64, r/m8 or r/m16. */
function movxPlan(d: Decoded, size: 4 | 8): Plan {
  const byte = (d.op & 1) === 0;
  const signed = d.op >= 0x1be;
  const r = d.reg;
  return {
    use: 0, def: 0,
    emit(g) {
      if (d.mem) { g.ea(d); g.load('v', byte ? 1 : 2, false); }
      else if (byte) {
        const n = reg8(d, d.rm);
        g.line(n < 16 ? `v = L[${n}] & 255;` : `v = (L[${n - 16}] >>> 8) & 255;`);
      } else g.line(`v = L[${d.rm}] & 65535;`);
      if (signed) g.line(byte ? 'v = (v << 24) >> 24;' : 'v = (v << 16) >> 16;');
      writeReg(g, r, size, signed ? 'v >>> 0' : 'v', signed ? '(v < 0 ? 4294967295 : 0)' : '0');
    },
  };
}

function cmovPlan(d: Decoded, size: 4 | 8): Plan {
  const cc = d.op & 15, r = d.reg;
  return {
    use: condUses(cc), def: 0,
    emit(g) {
      // The source is read (and may fault) whatever the condition; a 32-bit CMOV zero-extends even when not moving.
      if (d.mem) { g.ea(d); g.load('v', size, false); } else g.line(size === 8 ? `v = L[${d.rm}]; vh = H[${d.rm}];` : `v = L[${d.rm}];`);
      g.line(`if (${condExpr(cc)}) { L[${r}] = v; H[${r}] = ${size === 8 ? 'vh' : '0'}; }${size === 4 ? ` else H[${r}] = 0;` : ''}`);
    },
  };
}

function setccPlan(d: Decoded): Plan {
  const cc = d.op & 15, n = reg8(d, d.rm);
  return {
    use: condUses(cc), def: 0,
    emit(g) {
      g.line(`v = ${condExpr(cc)} ? 1 : 0;`);
      setByteReg(g, n, 'v');
    },
  };
}

function notPlan(d: Decoded, size: 4 | 8): Plan {
  return {
    use: 0, def: 0,
    emit(g) {
      if (d.mem) { g.ea(d); g.load('a', size, size === 8); g.store(size, '~a >>> 0', '~ah >>> 0'); }
      else writeReg(g, d.rm, size, `~L[${d.rm}] >>> 0`, `~H[${d.rm}] >>> 0`);
    },
  };
}

function negPlan(d: Decoded, size: 4 | 8): Plan {
  return {
    use: 0, def: STATUS,
    emit(g, live) {
      // sub(0, x): x is "b"; the result goes back to x's place.
      if (d.mem) g.ea(d);
      readLoc(g, 'b', rm(d), size);
      g.line(size === 8 ? 'a = 0; ah = 0;' : 'a = 0;');
      g.line(aluStmt('sub', size));
      if (d.mem) g.store(size, 'r', 'rh'); else writeReg(g, d.rm, size, 'r', 'rh');
      g.line(flagsStmt('sub', size, STATUS & live));
    },
  };
}

/**
 * SHL/SHR/SAR register by a constant count (ops-shift.ts shiftFast): count 0 changes no flags (a 32-bit
 * register is still zero-extended); CF = last bit out, OF as shiftFast, AF = 1 (what AMD produces).
 */
function shiftPlan(kind: number, size: 4 | 8, reg: number, n: number): Plan {
  if (n === 0) return { use: 0, def: 0, emit(g) { if (size === 4) g.line(`H[${reg}] = 0;`); } };
  return {
    use: 0, def: SHIFT_DEFS,
    emit(g, live) {
      g.line(`v = L[${reg}];${size === 8 ? ` vh = H[${reg}];` : ''}`);
      let cf: string, of: string;
      if (size === 4) {
        if (kind === 4) { g.line(`r = (v << ${n}) >>> 0;`); cf = `((v >>> ${32 - n}) & 1)`; of = `((r >>> 31) ^ ${cf})`; }
        else if (kind === 5) { g.line(`r = v >>> ${n};`); cf = `((v >>> ${n - 1}) & 1)`; of = n === 1 ? '(v >>> 31)' : '0'; }
        else { g.line(`r = ((v | 0) >> ${n}) >>> 0;`); cf = `(((v | 0) >> ${n - 1}) & 1)`; of = '0'; }
        g.line(`L[${reg}] = r; H[${reg}] = 0;`);
      } else {
        if (kind === 4) {
          if (n < 32) { g.line(`rh = ((vh << ${n}) | (v >>> ${32 - n})) >>> 0; r = (v << ${n}) >>> 0;`); cf = `((vh >>> ${32 - n}) & 1)`; }
          else if (n === 32) { g.line('rh = v; r = 0;'); cf = '(vh & 1)'; }
          else { g.line(`rh = (v << ${n - 32}) >>> 0; r = 0;`); cf = `((v >>> ${64 - n}) & 1)`; }
          of = `((rh >>> 31) ^ ${cf})`;
        } else {
          const arith = kind === 7;
          if (n < 32) {
            g.line(`r = ((v >>> ${n}) | (vh << ${32 - n})) >>> 0; rh = ${arith ? `((vh | 0) >> ${n}) >>> 0` : `vh >>> ${n}`};`);
            cf = `((v >>> ${n - 1}) & 1)`;
          } else if (n === 32) {
            g.line(`r = vh; rh = ${arith ? '((vh | 0) >> 31) >>> 0' : '0'};`);
            cf = '(v >>> 31)';
          } else {
            g.line(`r = ${arith ? `((vh | 0) >> ${n - 32}) >>> 0` : `vh >>> ${n - 32}`}; rh = ${arith ? '((vh | 0) >> 31) >>> 0' : '0'};`);
            cf = arith ? `(((vh | 0) >> ${n - 33}) & 1)` : `((vh >>> ${n - 33}) & 1)`;
          }
          of = arith ? '0' : n === 1 ? '(vh >>> 31)' : '0';
        }
        g.line(`L[${reg}] = r; H[${reg}] = rh;`);
      }
      const need = SHIFT_DEFS & live;
      if (need === 0) return;
      const z = size === 8 ? '((r | rh) === 0 ? 64 : 0)' : '(r === 0 ? 64 : 0)';
      const s = size === 8 ? '((rh >>> 24) & 128)' : '((r >>> 24) & 128)';
      g.line(`fl = (fl & ${~need}) | ((${z} | ${s} | PAR[r & 255] | 16 | ${cf} | (${of} << 11)) & ${need});`);
    },
  };
}
