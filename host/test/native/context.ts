// Per-case builder used by the op generators: picks registers and memory operands, keeps the initial state, and
// records what the SDM leaves undefined for this particular case.
import { type Bits, FLAG_MASK, GPR32, GPR64, SCRATCH_BASE, SCRATCH_SIZE } from './layout.js';
import type { Rng } from './rng.js';

export type Width = 8 | 16 | 32 | 64;

export interface RegOp {
  readonly kind: 'reg';
  readonly idx: number;
  readonly width: Width;
  /** ah/ch/dh/bh: bits 15..8 of register idx (0..3). */
  readonly high: boolean;
  readonly text: string;
}

export interface MemOp {
  readonly kind: 'mem';
  readonly base: number;
  readonly disp: number;
  readonly width: Width;
  readonly text: string;
}

export type Operand = RegOp | MemOp;

const NAMES16 = ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di'];
const NAMES8 = ['al', 'cl', 'dl', 'bl', 'spl', 'bpl', 'sil', 'dil'];
const HIGH8 = ['ah', 'ch', 'dh', 'bh'];
const PTR: Record<Width, string> = { 8: 'byte', 16: 'word', 32: 'dword', 64: 'qword' };

/** Intel-syntax register name (GNU as `.intel_syntax noprefix`). */
export function regName(idx: number, width: Width, high = false): string {
  if (high) return HIGH8[idx]!;
  if (idx >= 8) return `r${idx}${{ 8: 'b', 16: 'w', 32: 'd', 64: '' }[width]}`;
  switch (width) {
    case 8: return NAMES8[idx]!;
    case 16: return NAMES16[idx]!;
    case 32: return GPR32[idx]!;
    case 64: return GPR64[idx]!;
  }
}

export function widthMask(w: number): bigint {
  return (1n << BigInt(w)) - 1n;
}

export function toSigned(v: bigint, w: number): bigint {
  return v >= 1n << BigInt(w - 1) ? v - (1n << BigInt(w)) : v;
}

export class CaseContext {
  readonly regs: bigint[];
  readonly scratch: Uint8Array;
  readonly flags: number;
  readonly lines: string[] = [];
  undefinedFlags = 0;
  readonly undefinedRegs = new Set<number>();
  /** Set when a memory destination's final value is undefined (compared, reported, not failed). */
  undefinedScratch = false;
  /** Labels of notable situations in this case (e.g. a known-issue id), used to steer chain generation. */
  readonly tags = new Set<string>();
  /** Registers already used as operands in this case (never reused as a memory base). */
  private readonly used = new Set<number>();
  /** Registers holding a memory base: later instructions of a chain never pick them. */
  private readonly pinned = new Set<number>();
  /**
   * 64-bit mode only: when true the case may use ah..bh, so it must avoid every REX-requiring register
   * (r8+, spl..dil) and 64-bit operands next to them. Decided once per case.
   */
  readonly legacy8: boolean;

  /**
   * @param chain several ops in a row: constraints (shift counts, divisors) are then set by instructions in the
   *   program instead of by initial register values, because earlier ops change the registers.
   */
  constructor(readonly rng: Rng, readonly bits: Bits, readonly chain = false) {
    const n = bits === 64 ? 16 : 8;
    this.regs = Array.from({ length: n }, () => rng.value(bits));
    this.scratch = rng.bytes(SCRATCH_SIZE);
    this.flags = rng.u32() & FLAG_MASK;
    this.legacy8 = bits === 32 || rng.chance(0.3);
    if (chain) {
      // Bases are fixed before the first op, so no op can have changed them (reg() never picks a pinned one).
      const limit = bits === 64 && !this.legacy8 ? 16 : 8;
      // not rsi/rdi either: string ops in a chain load them with `lea`
      const candidates = Array.from({ length: limit - 3 }, (_, i) => i + 3).filter((i) => i !== 6 && i !== 7);
      for (let k = 0; k < (bits === 64 ? 2 : 1); k++) {
        const base = rng.pick(candidates.filter((i) => !this.pinned.has(i)));
        this.pinned.add(base);
        this.regs[base] = SCRATCH_BASE;
      }
    }
  }

  get widths(): Width[] {
    return this.bits === 64 ? [8, 16, 32, 64] : [8, 16, 32];
  }

  /** Largest register index usable for `width` in this case. */
  private regLimit(width: Width): number {
    if (this.bits === 32) return 8;
    return this.legacy8 && width !== 64 ? 8 : 16;
  }

  /** A random register operand of `width`, not in `avoid`. */
  reg(width: Width, avoid: readonly number[] = []): RegOp {
    for (let tries = 0; tries < 100; tries++) {
      const high = width === 8 && this.legacy8 && this.rng.chance(0.4);
      const idx = this.rng.int(high ? 4 : this.regLimit(width));
      if (avoid.includes(idx) || this.pinned.has(idx)) continue;
      // In 64-bit mode without REX, 8-bit numbers 4..7 mean ah..bh, so spl..dil are out in a legacy8 case.
      if (width === 8 && !high && this.legacy8 && this.bits === 64 && idx >= 4) continue;
      if (width === 8 && !high && this.bits === 32 && idx >= 4) continue;
      return this.fixedReg(idx, width, high);
    }
    throw new Error(`no register of width ${width} left (avoid ${avoid.join(',')})`);
  }

  fixedReg(idx: number, width: Width, high = false): RegOp {
    this.used.add(idx);
    return { kind: 'reg', idx, width, high, text: regName(idx, width, high) };
  }

  /** Starts the next op of a chain: operand registers may be reused (memory bases stay pinned). */
  nextOp(): void {
    this.used.clear();
  }

  /** Marks a register as used without making it an operand (implicit operands such as rax/rdx/cl). */
  reserve(...idx: number[]): void {
    for (const i of idx) this.used.add(i);
  }

  /**
   * `[base+disp]` inside the scratch buffer; base is an unused register loaded with SCRATCH_BASE and pinned for
   * the rest of the case. Never rax/rcx/rdx, which mul/div/cqo/cmpxchg and the `mov cl, n` of a chain write.
   */
  mem(width: Width): MemOp {
    const limit = this.bits === 64 && !this.legacy8 ? 16 : 8;
    const pinned = [...this.pinned];
    const free = Array.from({ length: limit }, (_, i) => i).filter((i) => !this.used.has(i) && i > 2);
    const reuse = this.chain || (pinned.length > 0 && (free.length === 0 || this.rng.chance(0.5)));
    const base = reuse ? this.rng.pick(pinned) : this.rng.pick(free);
    this.used.add(base);
    this.pinned.add(base);
    const disp = this.rng.int(SCRATCH_SIZE - 8);
    this.regs[base] = SCRATCH_BASE;
    const baseName = regName(base, this.bits === 64 ? 64 : 32);
    return { kind: 'mem', base, disp, width, text: `${PTR[width]} ptr [${baseName}+${disp}]` };
  }

  /** Register (most of the time) or memory operand. Pick registers first, then call this, so the base is free. */
  rm(width: Width, memChance = 0.25): Operand {
    return this.rng.chance(memChance) ? this.mem(width) : this.reg(width);
  }

  emit(...lines: string[]): void {
    this.lines.push(...lines);
  }

  /** Initial value of an operand. */
  read(op: Operand): bigint {
    if (op.kind === 'reg') {
      const v = this.regs[op.idx]!;
      return (op.high ? v >> 8n : v) & widthMask(op.width);
    }
    let v = 0n;
    for (let i = op.width / 8 - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.scratch[op.disp + i]!);
    return v;
  }

  /** Overwrites the initial value of a register operand (only its `width` bits). */
  write(op: RegOp, value: bigint): void {
    const shift = op.high ? 8n : 0n;
    const m = widthMask(op.width) << shift;
    const full = widthMask(this.bits);
    this.regs[op.idx] = ((this.regs[op.idx]! & ~m) | ((value << shift) & m)) & full;
  }

  /** Sets the low byte of register idx (e.g. the CL shift count). */
  setLow8(idx: number, value: number): void {
    this.regs[idx] = (this.regs[idx]! & ~0xffn) | BigInt(value & 0xff);
  }

  /**
   * Records an instruction's effect on the flags: `written` flags are replaced, of which `undef` are left
   * undefined by the SDM; flags it does not write keep their state (defined or not).
   */
  flagsOp(written: number, undef = 0): void {
    this.undefinedFlags = (this.undefinedFlags & ~written) | undef;
  }

  /** Whether the instruction about to be emitted may read `flags` (false: one of them is undefined now). */
  canRead(flags: number): boolean {
    return (this.undefinedFlags & flags) === 0;
  }

  markUndefined(op: Operand): void {
    if (op.kind === 'reg') this.undefinedRegs.add(op.idx);
    else this.undefinedScratch = true;
  }
}
