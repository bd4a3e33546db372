// C calling conventions the stubs are callable from: System V x86-64 (AMD64 psABI 3.2.3) and i386 cdecl
// (i386 psABI 2.2: every argument on the stack, 4-byte slots, 64-bit values as two slots low first).
// A CFunc tracks pushes so parameters can be addressed after the prologue saved callee-saved registers.

import { AbiError, type Gpr, type Slot } from '@pvkit/shared-abi';
import type { Asm } from '../x86/asm.js';
import { type Mem, byte, dword, mem, qword, word } from '../x86/operands.js';
import { REGISTERS, type Reg } from '../x86/registers.js';

export type CType = 'uint8_t' | 'uint16_t' | 'uint32_t' | 'int32_t' | 'uint64_t' | 'int64_t' | 'ptr';

export interface CParam {
  readonly name: string;
  readonly ctype: CType;
}

/** SysV x86-64 integer argument registers, in order (psABI Figure 3.4). */
export const SYSV_ARGS = ['rdi', 'rsi', 'rdx', 'rcx', 'r8', 'r9'] as const;
/** Callee-saved ("preserved") registers: psABI Figure 3.4 (x86-64), i386 psABI Table 2.3 (ebx, esi, edi, ebp). */
export const CALLEE_SAVED: Readonly<Record<64 | 32, readonly string[]>> = {
  64: ['rbx', 'rbp', 'r12', 'r13', 'r14', 'r15'],
  32: ['ebx', 'esi', 'edi', 'ebp'],
};

export function reg(name: string): Reg {
  const r = REGISTERS.get(name);
  if (!r) throw new AbiError([{ path: 'register', value: name, message: 'not an x86 general-purpose register' }]);
  return r;
}

/** The register of encoding number `num` at `size` bits. */
export function regOf(num: number, size: 8 | 16 | 32 | 64): Reg {
  for (const r of REGISTERS.values()) if (r.num === num && r.size === size && !r.high8) return r;
  throw new Error(`internal: no ${size}-bit register number ${num}`);
}

/** Encoding numbers a slot occupies. */
export function slotNums(s: Slot | 'dx'): number[] {
  if (s === 'dx') return [2];
  return typeof s === 'string' ? [reg(s).num] : [reg(s.hi).num, reg(s.lo).num];
}

export function isPair(s: Slot): s is Exclude<Slot, Gpr> {
  return typeof s !== 'string';
}

/** Width in bits of a C type as passed. */
export function cbits(t: CType, bits: 64 | 32): 8 | 16 | 32 | 64 {
  switch (t) {
    case 'uint8_t': return 8;
    case 'uint16_t': return 16;
    case 'uint32_t': case 'int32_t': return 32;
    case 'ptr': return bits;
    default: return 64;
  }
}

/** C spelling for prototypes. */
export function cdecl(t: CType): string {
  return t === 'ptr' ? 'void *' : t;
}

export type ParamLoc = { readonly reg: Reg } | { readonly mem: Mem; readonly hiMem?: Mem };

export class CFunc {
  /** Bytes pushed since entry (return address excluded). */
  pushed = 0;
  private readonly saved: Reg[] = [];

  constructor(readonly a: Asm, readonly params: readonly CParam[]) {
    if (a.bits === 64 && params.length > 6) {
      // Stack parameters work, but none of the stubs needs them; refuse rather than emit untested code.
      throw new AbiError([{ path: 'params', value: params.length, message: 'more than 6 parameters: stack-passed SysV arguments are not generated' }]);
    }
  }

  /** Where parameter i is now. i386: stack slot; x86-64: its argument register. */
  loc(i: number): ParamLoc {
    const a = this.a;
    if (a.bits === 64) return { reg: reg(SYSV_ARGS[i]!) };
    let slot = 0;
    for (let k = 0; k < i; k++) slot += cbits(this.params[k]!.ctype, 32) === 64 ? 2 : 1;
    const off = 4 + this.pushed + 4 * slot;
    const is64 = cbits(this.params[i]!.ctype, 32) === 64;
    return { mem: mem(reg('esp'), { disp: off }), hiMem: is64 ? mem(reg('esp'), { disp: off + 4 }) : undefined };
  }

  index(name: string): number {
    const i = this.params.findIndex((p) => p.name === name);
    if (i < 0) throw new Error(`internal: no parameter ${name}`);
    return i;
  }

  push(r: Reg): void {
    this.a.push(r);
    this.pushed += this.a.bits / 8;
  }

  pop(r: Reg): void {
    this.a.pop(r);
    this.pushed -= this.a.bits / 8;
  }

  /** Push the callee-saved registers among `used` (encoding numbers). */
  save(used: Iterable<number>): void {
    const u = new Set(used);
    for (const n of CALLEE_SAVED[this.a.bits]) {
      const r = reg(n);
      if (u.has(r.num)) {
        this.push(r);
        this.saved.push(r);
      }
    }
  }

  /** Pop what save() pushed and return; may be emitted on several exit paths. */
  ret(): void {
    const w = this.a.bits / 8;
    if (this.pushed !== this.saved.length * w) throw new Error(`internal: stack unbalanced by ${this.pushed - this.saved.length * w} bytes at ret`);
    for (const r of [...this.saved].reverse()) this.a.pop(r);
    this.a.ret();
  }

  /**
   * Load parameter i into `dst` (a register of the destination's width), extending by C type:
   * u8/u16 zero-extend, i32 sign-extends into a 64-bit destination. 64-bit i386 values need a pair target.
   */
  loadFromStack(i: number, dst: Reg): void {
    const l = this.loc(i);
    if (!('mem' in l)) throw new Error('internal: loadFromStack on a register parameter');
    const t = this.params[i]!.ctype;
    const w = cbits(t, 32);
    if (w === 8) this.a.movzx(regOf(dst.num, 32), byte(l.mem));
    else if (w === 16) this.a.movzx(regOf(dst.num, 32), word(l.mem));
    else this.a.mov(regOf(dst.num, 32), dword(l.mem));
  }
}

export interface RegMove {
  readonly dst: Reg;
  /** 64-bit source register. */
  readonly src: Reg;
  readonly ctype: CType;
}

/** One move with the C type's extension; the destination width decides 32- or 64-bit forms. */
function emitMove(a: Asm, dst: Reg, src: Reg, t: CType): void {
  const w = cbits(t, 64);
  const d32 = regOf(dst.num, 32);
  if (w === 8) a.movzx(d32, regOf(src.num, 8));
  else if (w === 16) a.movzx(d32, regOf(src.num, 16));
  else if (dst.size === 64 && t === 'int32_t') a.movsxd(dst, regOf(src.num, 32));
  else if (dst.size === 64 && w === 64) {
    if (dst.num !== src.num) a.mov(dst, src);
  } else a.mov(d32, regOf(src.num, 32)); // also to itself: writing r32 clears bits 63:32 a C caller may leave set (SDM 3.4.1.1)
}

/**
 * Parallel register move (x86-64 only; i386 parameters come from memory): emit moves in an order that never
 * overwrites a source still needed; break cycles through `scratch`.
 */
export function parallelMove(a: Asm, moves: readonly RegMove[], scratch: Reg): void {
  const pending = moves.filter((m) => !(m.dst.num === m.src.num && m.dst.size === 64 && cbits(m.ctype, 64) === 64)).map((m) => ({ ...m }));
  while (pending.length) {
    const i = pending.findIndex((m) => !pending.some((o) => o !== m && o.src.num === m.dst.num));
    if (i >= 0) {
      const m = pending.splice(i, 1)[0]!;
      emitMove(a, m.dst, m.src, m.ctype);
      continue;
    }
    const m = pending[0]!;
    const s64 = regOf(scratch.num, 64);
    a.mov(s64, regOf(m.src.num, 64));
    for (const o of pending) if (o.src.num === m.src.num) (o as { src: Reg }).src = s64;
  }
}

/** Store a 32- or 64-bit register to memory with the right size. */
export function store(a: Asm, m: Mem, r: Reg): void {
  a.mov(r.size === 64 ? qword(m) : dword(m), r);
}
