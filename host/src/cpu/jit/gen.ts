// Source builder for one compiled block: JS statements, captured constants (closures, helpers), and the
// protocol every emitted instruction follows (fault bookkeeping, memory operands, leaving the block).
import type { Decoded } from '../decode.js';
import { SEG_FS, SEG_GS } from '../decode.js';
import { eaLinear } from '../operands.js';

const TWO32 = 4294967296;
/** Canonical low half ends at 2^47 (SDM Vol. 1 3.3.7.1): inline addresses below it need no check. */
const CANON = 2 ** 47;

export class Gen {
  private readonly body: string[] = [];
  private readonly consts: unknown[] = [];
  /** Index, address and next address of the instruction being emitted. */
  i = 0;
  ip = 0;
  next = 0;
  private marked = false;
  /** The instruction accessed memory or called out: the block re-checks `B.dead` / `c.exit` after it. */
  touched = false;

  constructor(readonly mode64: boolean) {}

  begin(i: number, ip: number, next: number): void {
    this.i = i;
    this.ip = ip;
    this.next = next;
    this.marked = false;
    this.touched = false;
  }

  /** Capture a value for the generated code; returns its name. */
  k(v: unknown): string {
    this.consts.push(v);
    return `K${this.consts.length - 1}`;
  }

  line(s: string): void {
    this.body.push(s);
  }

  get source(): string {
    return this.body.join('\n');
  }

  get constNames(): string[] {
    return this.consts.map((_, i) => `K${i}`);
  }

  get constValues(): unknown[] {
    return this.consts;
  }

  /** Before anything that may fault or exit: the catch handler finds the instruction by `k`; exits read curIp. */
  fallible(): void {
    if (!this.marked) {
      this.line(`k = ${this.i}; c.curIp = ${this.ip};`);
      this.marked = true;
    }
    this.touched = true;
  }

  /** `c.fl = fl; c.icount = ...; c.ip = ...; return;` — leave the block with `retired` instructions of this pass done. */
  leave(ip: string | number, retired: number | string): string {
    return `c.fl = fl; c.icount = ic0 + n + ${retired}; c.ip = ${ip}; return;`;
  }

  /**
   * Emit `ea = <linear address of d's memory operand>;`: inline for the common forms, with the exact
   * computation (eaLinear: FS/GS bases, 32-bit addressing, non-canonical faults) off the fast path.
   */
  ea(d: Decoded): void {
    this.fallible();
    const fsgs = d.seg === SEG_FS || d.seg === SEG_GS;
    if (d.ripRel) {
      const a = this.next + d.disp;
      if (this.mode64 && d.asz === 8 && !fsgs && a >= 0 && a < CANON) this.line(`ea = ${a};`);
      else this.line(`c.nextIp = ${this.next}; ea = ${this.k(eaLinear(d))}(c);`); // RIP-relative: from the next RIP
      return;
    }
    if (this.mode64 && d.asz === 8 && !fsgs) {
      const terms: string[] = [];
      if (d.base >= 0) terms.push(`H[${d.base}] * ${TWO32} + L[${d.base}]`);
      if (d.index >= 0) terms.push(`(H[${d.index}] * ${TWO32} + L[${d.index}]) * ${d.scale}`);
      if (d.disp !== 0 || terms.length === 0) terms.push(String(d.disp));
      // Every term is non-negative except disp (> -2^31): a sum in [0, 2^47) is exact and needs no wrap.
      this.line(`ea = ${terms.join(' + ')};`);
      this.line(`if (ea < 0 || ea >= ${CANON}) ea = ${this.k(eaLinear(d))}(c);`);
      return;
    }
    if (!this.mode64 && d.asz === 4 && !fsgs) {
      const terms: string[] = [];
      if (d.base >= 0) terms.push(`L[${d.base}]`);
      if (d.index >= 0) terms.push(`L[${d.index}] * ${d.scale}`);
      terms.push(String(d.disp));
      this.line(`ea = (${terms.join(' + ')}) >>> 0;`);
      return;
    }
    this.line(`ea = ${this.k(eaLinear(d))}(c);`);
  }

  /** `x = c.rd(ea, size)` (and `xh = c.vh` for 8 bytes; `xh = 0` otherwise when `withHi`). */
  load(x: string, size: number, withHi: boolean): void {
    this.fallible();
    if (size === 8) this.line(`${x} = c.rd(ea, 8); ${x}h = c.vh;`);
    else {
      this.line(`${x} = c.rd(ea, ${size});`);
      if (withHi) this.line(`${x}h = 0;`);
    }
  }

  store(size: number, lo: string, hi: string): void {
    this.fallible();
    this.line(`c.wr(ea, ${size}, ${lo}, ${size === 8 ? hi : '0'});`);
  }
}
