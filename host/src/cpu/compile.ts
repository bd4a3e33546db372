// Decoded instruction -> closure. One switch over the opcode maps (SDM Vol. 2 Appendix A); anything not
// handled here compiles to a closure raising #UD that names the instruction.
import type { Exec } from './cache.js';
import type { Decoded } from './decode.js';
import type { Vcpu } from './vcpu.js';
import {
  eaLinear, eaRaw, immOpr, immParts, immSigned, memOpr, reg8, regField, regOpr, rmOpr, type Opr,
} from './operands.js';
import { aluBin, aluBinReg, cmpxchg, incDec, negOp, notOp, testOp, xadd } from './ops-alu.js';
import { shiftOp, shldShrd } from './ops-shift.js';
import { bitScan, bitTest, bswap, countZeros, imul2, mulDiv, popcnt } from './ops-muldiv.js';
import {
  callInd, callRel, cond, enter, jcc, jmpInd, jmpRel, leave, loopOp, popMem, popReg, pushOp, ret,
} from './ops-flow.js';
import { inOut, insOuts, stringInsn } from './ops-string.js';
import {
  cpuid, flagOp, hlt, hypercall, lahfSahf, popf, privileged, pushf, rdmsr, rdtsc, softInt, wrmsr,
} from './ops-sys.js';
import { Fault, ud } from './fault.js';
import { ZF } from './alu.js';
import { formatInsn } from './format.js';

const nop: Exec = () => {};

function undef(d: Decoded, why = 'instruction not supported by the engine'): Exec {
  const text = formatInsn(d);
  return () => { throw ud(`${why}: ${text}`); };
}

/** Instructions that accept LOCK with a memory destination (SDM Vol. 2 "LOCK"). */
function lockable(d: Decoded): boolean {
  const op = d.op;
  if (!d.mem) return false;
  if (op < 0x40) return (op & 7) < 2 && (op & 0x38) !== 0x38;
  if (op === 0x80 || op === 0x81 || op === 0x83) return (d.reg & 7) !== 7;
  if (op === 0x86 || op === 0x87) return true;
  if (op === 0xf6 || op === 0xf7) return (d.reg & 7) === 2 || (d.reg & 7) === 3;
  if (op === 0xfe || op === 0xff) return (d.reg & 7) < 2;
  if (op === 0x1ab || op === 0x1b3 || op === 0x1bb || op === 0x1b0 || op === 0x1b1 || op === 0x1c0 || op === 0x1c1) return true;
  if (op === 0x1ba) return (d.reg & 7) >= 5;
  if (op === 0x1c7) return (d.reg & 7) === 1;
  return false;
}

export function compile(d: Decoded): Exec {
  if (!d.valid) return undef(d, 'invalid opcode');
  if (d.lock && !lockable(d)) return undef(d, 'LOCK prefix not allowed');
  try {
    return compileValid(d) ?? undef(d);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return undef(d, `cannot compile (${why})`);
  }
}

function compileValid(d: Decoded): Exec | undefined {
  const op = d.op;
  const osz = d.osz;
  // ---- one-byte map ----
  if (op < 0x40 && (op & 7) < 6) {
    const kind = op >> 3;
    const size = (op & 1) === 0 ? 1 : osz;
    switch (op & 7) {
      case 0: case 1:
        if (!d.mem) return aluBinReg(kind, size, rmReg(d, size), fieldReg(d, size), 0, 0);
        return aluBin(kind, size, rmOpr(d, size), regField(d, size));
      case 2: case 3:
        if (!d.mem) return aluBinReg(kind, size, fieldReg(d, size), rmReg(d, size), 0, 0);
        return aluBin(kind, size, regField(d, size), rmOpr(d, size));
      default: return aluBinReg(kind, size, 0, -1, ...immParts(immSigned(d), size));
    }
  }
  if (op >= 0x40 && op <= 0x4f && !d.mode64) return incDec(osz, regOpr(op & 7, osz), op >= 0x48);
  if (op >= 0x50 && op <= 0x57) return pushOp(osz, regOpr((op & 7) | ((d.rex & 1) << 3), osz));
  if (op >= 0x58 && op <= 0x5f) return popReg(osz, (op & 7) | ((d.rex & 1) << 3));
  if (op >= 0x70 && op <= 0x7f) return jcc(op & 15, immSigned(d), osz);
  if (op >= 0x91 && op <= 0x97) return xchg(regOpr(0, osz), regOpr((op & 7) | ((d.rex & 1) << 3), osz));
  if (op >= 0xb0 && op <= 0xb7) {
    const r = reg8(d, (op & 7) | ((d.rex & 1) << 3));
    const v = d.imm;
    return (c) => c.setR(r, 1, v, 0);
  }
  if (op >= 0xb8 && op <= 0xbf) {
    const r = (op & 7) | ((d.rex & 1) << 3);
    const v = d.imm, vh = d.immHi;
    return (c) => c.setR(r, osz, v, vh);
  }
  if (op >= 0x180 && op <= 0x18f) return jcc(op & 15, immSigned(d), osz);
  if (op >= 0x140 && op <= 0x14f) {
    const cc = op & 15, src = rmOpr(d, osz), r = d.reg;
    return (c) => {
      const v = src.rd(c); // the source is read (and may fault) whatever the condition
      const vh = c.vh;
      if (cond(c.fl, cc)) c.setR(r, osz, v, vh);
      else if (osz === 4) c.hi[r] = 0; // 32-bit CMOVcc zero-extends even when not moving (SDM "CMOVcc")
    };
  }
  if (op >= 0x190 && op <= 0x19f) {
    const cc = op & 15, dst = rmOpr(d, 1);
    return (c) => dst.st(c, cond(c.fl, cc) ? 1 : 0, 0);
  }
  if (op >= 0x1c8 && op <= 0x1cf) return bswap((op & 7) | ((d.rex & 1) << 3), osz);

  switch (op) {
    case 0x63: // MOVSXD r, r/m32 (64-bit); without REX.W a plain 32-bit move
      if (!d.mode64) return undefined; // ARPL
      {
        const src = rmOpr(d, 4), r = d.reg;
        if (osz === 8) return (c) => { const v = src.rd(c); c.setR(r, 8, v, (v & 0x80000000) !== 0 ? 0xffffffff : 0); };
        return (c) => { const v = src.rd(c); c.setR(r, osz, v, 0); };
      }
    case 0x68: case 0x6a: return pushOp(osz, immOpr(immSigned(d), osz));
    case 0x69: case 0x6b: return imul2(osz, d.reg, rmOpr(d, osz), immOpr(immSigned(d), osz));
    case 0x6c: case 0x6d: case 0x6e: case 0x6f: return insOuts(d, op);
    case 0x80: case 0x81: case 0x83: {
      const size = op === 0x80 ? 1 : osz;
      if (!d.mem) return aluBinReg(d.reg & 7, size, rmReg(d, size), -1, ...immParts(immSigned(d), size));
      return aluBin(d.reg & 7, size, rmOpr(d, size), immOpr(immSigned(d), size));
    }
    case 0x84: case 0x85: { const s = op === 0x84 ? 1 : osz; return testOp(s, rmOpr(d, s), regField(d, s)); }
    case 0x86: case 0x87: { const s = op === 0x86 ? 1 : osz; return xchg(rmOpr(d, s), regField(d, s)); }
    case 0x88: case 0x89: {
      const s = op === 0x88 ? 1 : osz;
      if (s >= 4) return movFast(d, s, true);
      return mov(rmOpr(d, s), regField(d, s), d);
    }
    case 0x8a: case 0x8b: {
      const s = op === 0x8a ? 1 : osz;
      if (s >= 4) return movFast(d, s, false);
      return mov(regField(d, s), rmOpr(d, s), d);
    }
    case 0x8d: { // LEA: the raw effective address, truncated to the operand size; no memory access
      if (!d.mem) return undefined;
      const ea = eaRaw(d), r = d.reg;
      return (c) => { const lo = ea(c); c.setR(r, osz, lo, c.vh); };
    }
    case 0x8f: if ((d.reg & 7) !== 0) return undefined;
      return d.mem ? popMem(osz, memOpr(d, osz)) : popReg(osz, d.rm);
    case 0x90:
      if (d.rex & 1) return xchg(regOpr(0, osz), regOpr(8, osz));
      return nop; // NOP; F3 90 = PAUSE
    case 0x98: // CBW/CWDE/CDQE
      return (c) => {
        if (osz === 2) c.setR(0, 2, ((c.lo[0]! << 24) >> 24) & 0xffff, 0);
        else if (osz === 4) c.setR(0, 4, ((c.lo[0]! << 16) >> 16) >>> 0, 0);
        else c.hi[0] = (c.lo[0]! & 0x80000000) !== 0 ? 0xffffffff : 0;
      };
    case 0x99: // CWD/CDQ/CQO
      return (c) => {
        if (osz === 2) c.setR(2, 2, (c.lo[0]! & 0x8000) !== 0 ? 0xffff : 0, 0);
        else if (osz === 4) c.setR(2, 4, (c.lo[0]! & 0x80000000) !== 0 ? 0xffffffff : 0, 0);
        else c.setR(2, 8, (c.hi[0]! & 0x80000000) !== 0 ? 0xffffffff : 0, (c.hi[0]! & 0x80000000) !== 0 ? 0xffffffff : 0);
      };
    case 0x9b: return nop; // FWAIT: no x87 state to wait for
    case 0x9c: return pushf(osz);
    case 0x9d: return popf(osz);
    case 0x9e: return lahfSahf(true);
    case 0x9f: return lahfSahf(false);
    case 0xa0: case 0xa1: case 0xa2: case 0xa3: { // MOV AL/rAX <-> moffs
      const size = (op & 1) === 0 ? 1 : osz;
      const m = moffsOpr(d, size);
      return op < 0xa2 ? mov(regOpr(0, size), m, d) : mov(m, regOpr(0, size), d);
    }
    case 0xa4: case 0xa5: case 0xa6: case 0xa7: case 0xaa: case 0xab: case 0xac: case 0xad: case 0xae: case 0xaf:
      return stringInsn(d, op);
    case 0xa8: case 0xa9: { const s = op === 0xa8 ? 1 : osz; return testOp(s, regOpr(0, s), immOpr(immSigned(d), s)); }
    case 0xc0: case 0xc1: case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
      const size = (op & 1) === 0 ? 1 : osz;
      const imm = d.imm;
      const count = op <= 0xc1 ? () => imm : op <= 0xd1 ? () => 1 : (c: Vcpu) => c.lo[1]! & 0xff;
      return shiftOp(d.reg & 7, size, rmOpr(d, size), count, d.mem);
    }
    case 0xc2: return ret(osz, d.imm);
    case 0xc3: return ret(osz, 0);
    case 0xc6: case 0xc7: {
      if ((d.reg & 7) !== 0) return undefined;
      const s = op === 0xc6 ? 1 : osz;
      return mov(rmOpr(d, s), immOpr(immSigned(d), s), d);
    }
    case 0xc8: return d.imm2 === 0 ? enter(osz, d.imm) : undefined;
    case 0xc9: return leave(osz);
    case 0xcc: return softInt(3, 'int3');
    case 0xcd: return softInt(d.imm, `int 0x${d.imm.toString(16)}`);
    case 0xe0: case 0xe1: case 0xe2: case 0xe3: return loopOp(op, immSigned(d), d.asz, osz);
    case 0xe4: case 0xe5: case 0xe6: case 0xe7: case 0xec: case 0xed: case 0xee: case 0xef: return inOut(d, op);
    case 0xe8: return callRel(immSigned(d), osz);
    case 0xe9: case 0xeb: return jmpRel(immSigned(d), osz);
    case 0xf4: return hlt();
    case 0xf5: case 0xf8: case 0xf9: case 0xfa: case 0xfb: case 0xfc: case 0xfd: return flagOp(op);
    case 0xf6: case 0xf7: {
      const size = op === 0xf6 ? 1 : osz;
      const k = d.reg & 7;
      if (k < 2) return testOp(size, rmOpr(d, size), immOpr(immSigned(d), size));
      if (k === 2) return notOp(rmOpr(d, size));
      if (k === 3) return negOp(size, rmOpr(d, size));
      return mulDiv(k, size, rmOpr(d, size));
    }
    case 0xfe: {
      const k = d.reg & 7;
      return k < 2 ? incDec(1, rmOpr(d, 1), k === 1) : undefined;
    }
    case 0xff: {
      const k = d.reg & 7;
      if (k < 2) return incDec(osz, rmOpr(d, osz), k === 1);
      const bsz = d.mode64 ? (d.has66 ? 2 : 8) : osz; // near branches: 64-bit operand in long mode
      if (k === 2) return callInd(rmOpr(d, bsz), bsz);
      if (k === 4) return jmpInd(rmOpr(d, bsz), bsz);
      if (k === 6) return pushOp(bsz, rmOpr(d, bsz));
      return undefined;
    }
    // ---- two-byte map ----
    case 0x101: return group7(d);
    case 0x105: return undefined; // SYSCALL (not modelled)
    case 0x10b: return undef(d, 'UD2');
    case 0x10d: case 0x118: case 0x119: case 0x11a: case 0x11b: case 0x11c: case 0x11d: case 0x11e: case 0x11f:
      return nop; // PREFETCH / hint NOPs (0F 18-1F, incl. NOP r/m and ENDBR64)
    case 0x130: return wrmsr();
    case 0x131: return privilegedTsc(d, false);
    case 0x132: return rdmsr();
    case 0x1a2: return cpuid();
    case 0x1a3: case 0x1ab: case 0x1b3: case 0x1bb: { // BT/BTS/BTR/BTC r/m, r
      const kind = op === 0x1a3 ? 4 : op === 0x1ab ? 5 : op === 0x1b3 ? 6 : 7;
      const offReg = regField(d, osz);
      const off = (c: Vcpu): bigint => { const lo = offReg.rd(c); return osz === 8 ? (BigInt(c.vh) << 32n) | BigInt(lo) : BigInt(lo); };
      return bitTest(kind, osz, d.mem, rmOpr(d, osz), d.mem ? eaLinear(d) : undefined, off, false);
    }
    case 0x1ba: {
      const kind = d.reg & 7;
      if (kind < 4) return undefined;
      const imm = BigInt(d.imm);
      return bitTest(kind, osz, d.mem, rmOpr(d, osz), undefined, () => imm, true);
    }
    case 0x1a4: case 0x1a5: case 0x1ac: case 0x1ad: {
      const imm = d.imm;
      const count = (op & 1) === 0 ? () => imm : (c: Vcpu) => c.lo[1]! & 0xff;
      return shldShrd(osz, rmOpr(d, osz), regField(d, osz), count, op >= 0x1ac, d.mem);
    }
    case 0x1ae: // fences (mod = 3: LFENCE /5, MFENCE /6, SFENCE /7); CLFLUSH /7 mem
      if ((d.mod === 3 && (d.reg & 7) >= 5) || (d.mem && (d.reg & 7) === 7)) return nop;
      return undefined;
    case 0x1af: return imul2(osz, d.reg, regField(d, osz), rmOpr(d, osz));
    case 0x1b0: case 0x1b1: {
      const s = op === 0x1b0 ? 1 : osz;
      return cmpxchg(s, rmOpr(d, s), regField(d, s), regOpr(0, s), d.mem);
    }
    case 0x1b6: case 0x1b7: case 0x1be: case 0x1bf: { // MOVZX / MOVSX
      const ss = (op & 1) === 0 ? 1 : 2;
      const src = rmOpr(d, ss), r = d.reg;
      const signed = op >= 0x1be;
      return (c) => {
        let v = src.rd(c);
        let vh = 0;
        if (signed) {
          v = ss === 1 ? (v << 24) >> 24 : (v << 16) >> 16;
          vh = v < 0 ? 0xffffffff : 0;
          v = osz === 2 ? v & 0xffff : v >>> 0;
        }
        c.setR(r, osz, v, vh);
      };
    }
    case 0x1b8: return d.rep === 0xf3 ? popcnt(osz, d.reg, rmOpr(d, osz)) : undefined;
    case 0x1bc: return d.rep === 0xf3 ? countZeros(osz, d.reg, rmOpr(d, osz), false) : bitScan(osz, d.reg, rmOpr(d, osz), false);
    case 0x1bd: return d.rep === 0xf3 ? countZeros(osz, d.reg, rmOpr(d, osz), true) : bitScan(osz, d.reg, rmOpr(d, osz), true);
    case 0x1c0: case 0x1c1: { const s = op === 0x1c0 ? 1 : osz; return xadd(s, rmOpr(d, s), regField(d, s)); }
    case 0x1c7: return (d.reg & 7) === 1 && d.mem ? cmpxchg8b16b(d) : undefined;
    case 0xd7: { // XLAT: AL = [rBX + zero-extended AL] (address size)
      const seg = d.seg;
      const md: Decoded = { ...d, mem: true, base: 3, index: -1, scale: 1, disp: 0, ripRel: false, seg };
      const ea = eaLinear(md);
      return (c) => {
        const bx = ea(c);
        const a = d.asz === 8 ? bx + (c.lo[0]! & 0xff) : d.asz === 4 ? (bx + (c.lo[0]! & 0xff)) >>> 0 : (bx + (c.lo[0]! & 0xff)) & 0xffff;
        c.setR(0, 1, c.rd(a, 1), 0);
      };
    }
    default: return undefined;
  }
}

/** Internal register number of the r/m operand (mod = 3), with the byte-register rule. */
function rmReg(d: Decoded, size: number): number {
  return size === 1 ? reg8(d, d.rm) : d.rm;
}

function fieldReg(d: Decoded, size: number): number {
  return size === 1 ? reg8(d, d.reg) : d.reg;
}

/** MOV of 32/64 bits between a register and a register or memory, without operand objects (hot path). */
function movFast(d: Decoded, size: number, toRm: boolean): Exec {
  const r = d.reg;
  const wide = size === 8;
  if (!d.mem) {
    const from = toRm ? r : d.rm, to = toRm ? d.rm : r;
    return (c) => { c.lo[to] = c.lo[from]!; c.hi[to] = wide ? c.hi[from]! : 0; };
  }
  const ea = eaLinear(d);
  if (toRm) return (c) => { c.wr(ea(c), size, c.lo[r]!, c.hi[r]!); };
  return (c) => {
    const v = c.rd(ea(c), size);
    c.lo[r] = v;
    c.hi[r] = wide ? c.vh : 0;
  };
}

function mov(dst: Opr, src: Opr, d: Decoded): Exec {
  void d;
  return (c) => { const v = src.rd(c); dst.st(c, v, c.vh); };
}

/** XCHG: both operands read before either is written. */
function xchg(a: Opr, b: Opr): Exec {
  return (c) => {
    const y = b.rd(c);
    const yh = c.vh;
    const x = a.rd(c);
    const xh = c.vh;
    a.wr(c, y, yh);
    b.wr(c, x, xh);
  };
}

/** MOV moffs (A0-A3): the offset has the address size (8 bytes in long mode), plus an FS/GS base. */
function moffsOpr(d: Decoded, size: number): Opr {
  const dd: Decoded = { ...d, base: -1, index: -1, scale: 1, disp: d.disp | 0, ripRel: false };
  if (d.asz === 8 && d.dispHi !== 0) {
    const lo = d.disp >>> 0, hi = d.dispHi >>> 0;
    return {
      rd: (c) => { c.ea = c.addr64(lo, hi, false); return c.rd(c.ea, size); },
      wr: (c, v, vh) => c.wr(c.ea, size, v, vh),
      st: (c, v, vh) => { c.ea = c.addr64(lo, hi, false); c.wr(c.ea, size, v, vh); },
    };
  }
  if (d.asz === 8) {
    // disp is an unsigned 32-bit value here: present it as a 64-bit address with hi = 0.
    const lo = d.disp >>> 0;
    const seg = d.seg;
    if (seg !== 4 && seg !== 5) {
      return {
        rd: (c) => { c.ea = lo; return c.rd(lo, size); },
        wr: (c, v, vh) => c.wr(c.ea, size, v, vh),
        st: (c, v, vh) => { c.ea = lo; c.wr(lo, size, v, vh); },
      };
    }
  }
  return memOpr(dd, size);
}

/**
 * CMPXCHG8B / CMPXCHG16B (0F C7 /1, REX.W = 16B): compare EDX:EAX (RDX:RAX) with m64 (m128); equal -> store
 * ECX:EBX (RCX:RBX) and ZF = 1, else load the memory into EDX:EAX and ZF = 0 (the memory is written either way).
 * CMPXCHG16B needs a 16-byte aligned operand (#GP(0) otherwise).
 */
function cmpxchg8b16b(d: Decoded): Exec {
  const ea = eaLinear(d);
  const wide = d.osz === 8;
  const half = wide ? 8 : 4;
  return (c) => {
    const a = ea(c);
    if (wide && a % 16 !== 0) throw new Fault(13, `CMPXCHG16B operand 0x${a.toString(16)} not 16-byte aligned`, 0);
    const lo = c.rd(a, half);
    const loH = c.vh;
    const hi = c.rd(a + half, half);
    const hiH = c.vh;
    const eq = wide
      ? lo === c.lo[0] && loH === c.hi[0] && hi === c.lo[2] && hiH === c.hi[2]
      : lo === c.lo[0] && hi === c.lo[2];
    if (eq) {
      c.wr(a, half, c.lo[3]!, c.hi[3]!);
      c.wr(a + half, half, c.lo[1]!, c.hi[1]!);
      c.setFlags(ZF, ZF);
    } else {
      c.wr(a, half, lo, loH);
      c.wr(a + half, half, hi, hiH);
      c.setR(0, half, lo, loH);
      c.setR(2, half, hi, hiH);
      c.setFlags(0, ZF);
    }
  };
}

/** 0F 01 group: VMCALL (C1), VMMCALL (D9), RDTSCP (F9); the rest (descriptor tables etc.) is not modelled. */
function group7(d: Decoded): Exec | undefined {
  if (d.mod !== 3) return undefined;
  const modrm = 0xc0 | ((d.reg & 7) << 3) | (d.rm & 7);
  if (modrm === 0xc1) return hypercall('vmcall');
  if (modrm === 0xd9) return hypercall('vmmcall');
  if (modrm === 0xf9) return privilegedTsc(d, true);
  return undefined;
}

function privilegedTsc(d: Decoded, aux: boolean): Exec {
  void d;
  return rdtsc(aux);
}

export { privileged, Fault };
