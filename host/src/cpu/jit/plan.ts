// What a template is (the Plan block.ts compiles) and the register helpers every template uses.
import type { Gen } from './gen.js';

/** How a block ends at an instruction. */
export type End =
  | { kind: 'jcc'; cc: number; target: number }
  | { kind: 'jmp'; target: number }
  /** RET: the target (in local `t`) comes off the stack; block.ts may predict it from a call it followed. */
  | { kind: 'ret' }
  /** Indirect JMP/CALL (FF /4, FF /2): the target is in local `t`; block.ts predicts it from the last one seen. */
  | { kind: 'ind'; call: boolean };

export interface Plan {
  /** Status flags read. */
  readonly use: number;
  /** Status flags written in full. */
  readonly def: number;
  /** Emit the instruction; flags in `live` must be exact after it. */
  emit(g: Gen, live: number): void;
  readonly end?: End;
}

/** Write a 32-bit (zero-extending) or 64-bit register from JS expressions for the halves. */
export function writeReg(g: Gen, n: number, size: 4 | 8, lo: string, hi: string): void {
  g.line(`L[${n}] = ${lo}; H[${n}] = ${size === 8 ? hi : '0'};`);
}

/** Value of byte register n (16..19 = AH CH DH BH). */
export function byteReg(n: number): string {
  return n < 16 ? `(L[${n}] & 255)` : `((L[${n - 16}] >>> 8) & 255)`;
}

export function setByteReg(g: Gen, n: number, v: string): void {
  g.line(n < 16 ? `L[${n}] = (L[${n}] & 0xffffff00) | ${v};` : `L[${n - 16}] = (L[${n - 16}] & 0xffff00ff) | (${v} << 8);`);
}
