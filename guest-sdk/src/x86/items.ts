// What a section holds before layout: encoded instructions, relaxable branches, data, alignment and labels.

import type { Encoded, Prefix } from './encode.js';
import type { LabelRef } from './operands.js';
import { hex, showLabel } from './operands.js';

export interface CodeItem {
  readonly k: 'code';
  readonly enc: Encoded;
  readonly patch?: 'vmcall' | 'vmmcall';
}
export interface BranchItem {
  readonly k: 'branch';
  /** jmp, call, or jcc with its condition name and number. */
  readonly mn: 'jmp' | 'call' | 'jcc';
  readonly cc?: { readonly name: string; readonly num: number };
  readonly target: LabelRef;
  readonly force?: 'short' | 'near';
  /** Chosen by relaxation: false = rel8, true = rel32. */
  near: boolean;
  readonly where: string;
}
export interface DataItem {
  readonly k: 'data';
  readonly unit: 1 | 2 | 4 | 8;
  readonly values: readonly (bigint | LabelRef)[];
}
export interface AlignItem {
  readonly k: 'align';
  readonly n: number;
  readonly nops: boolean;
  /** Padding chosen by layout. */
  pad: number;
}
export interface LabelItem {
  readonly k: 'label';
  readonly name: string;
}
export type Item = CodeItem | BranchItem | DataItem | AlignItem | LabelItem;

export function branchSize(b: BranchItem): number {
  if (b.mn === 'call') return 5;
  if (!b.near) return 2;
  return b.mn === 'jmp' ? 5 : 6;
}

export function itemSize(it: Item): number {
  switch (it.k) {
    case 'code': return it.enc.bytes.length;
    case 'branch': return branchSize(it);
    case 'data': return it.unit * it.values.length;
    case 'align': return it.pad;
    case 'label': return 0;
  }
}

/**
 * Intel-recommended multi-byte NOPs, 1..9 bytes (SDM Vol. 2B NOP, Table 4-12), with the nasm text that
 * reproduces each (the byte/dword inside brackets forces the displacement width).
 */
export const NOPS: readonly (readonly number[])[] = [
  [],
  [0x90],
  [0x66, 0x90],
  [0x0f, 0x1f, 0x00],
  [0x0f, 0x1f, 0x40, 0x00],
  [0x0f, 0x1f, 0x44, 0x00, 0x00],
  [0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00],
  [0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00],
  [0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
  [0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
];

export function nopText(n: number, bits: 32 | 64): string {
  const a = bits === 64 ? 'rax' : 'eax';
  return [
    '',
    'nop',
    'o16 nop',
    `nop dword [${a}]`,
    `nop dword [byte ${a}+0]`,
    `nop dword [byte ${a}+${a}*1+0]`,
    `nop word [byte ${a}+${a}*1+0]`,
    `nop dword [dword ${a}+0]`,
    `nop dword [dword ${a}+${a}*1+0]`,
    `nop word [dword ${a}+${a}*1+0]`,
  ][n]!;
}

/** Split n bytes of padding into the fewest recommended NOPs (9 bytes at most each). */
export function nopRun(n: number): number[] {
  const out: number[] = [];
  while (n > 0) {
    const k = Math.min(9, n);
    out.push(k);
    n -= k;
  }
  return out;
}

const DIRECTIVE = { 1: 'db', 2: 'dw', 4: 'dd', 8: 'dq' } as const;

/** nasm text for a data item: printable ASCII runs of db as quoted strings, the rest as hex. */
export function dataText(it: DataItem): string {
  const parts: string[] = [];
  let run = '';
  const flush = (): void => {
    if (run) parts.push(`'${run}'`);
    run = '';
  };
  for (const v of it.values) {
    if (typeof v === 'bigint') {
      const u = BigInt.asUintN(it.unit * 8, v);
      if (it.unit === 1 && u >= 0x20n && u < 0x7fn && u !== 0x27n) {
        run += String.fromCharCode(Number(u));
        continue;
      }
      flush();
      parts.push(hex(u));
    } else {
      flush();
      parts.push(showLabel(v));
    }
  }
  flush();
  return `${DIRECTIVE[it.unit]} ${parts.join(', ')}`;
}

export type { Prefix };
