// Operands: immediates, label addresses and memory references (base + index*scale + disp, RIP-relative, absolute).

import { AsmError } from './errors.js';
import type { Reg, RegSize } from './registers.js';

export type Size = RegSize;
export type Imm = number | bigint;

/** The address of a label (or external symbol) plus an addend, used as an immediate, data value or displacement. */
export interface LabelRef {
  readonly kind: 'label';
  readonly name: string;
  readonly addend: bigint;
}

export interface Mem {
  readonly kind: 'mem';
  /** Access size; may be left out when a register operand fixes it. */
  readonly size?: Size;
  readonly base?: Reg;
  readonly index?: Reg;
  readonly scale: 1 | 2 | 4 | 8;
  /** Numeric displacement (absolute address when there is no base or index). */
  readonly disp: bigint;
  /** Label part of the displacement: always encoded as disp32. */
  readonly label?: LabelRef;
  /** RIP-relative (64-bit only): disp32 = target - end of instruction (SDM 2.2.1.6). */
  readonly rip: boolean;
}

export type Operand = Reg | Mem | Imm | LabelRef;

/** `addr('msg', 4)`: the address msg+4 as an immediate or data value. */
export function addr(name: string, addend: Imm = 0n): LabelRef {
  return Object.freeze({ kind: 'label', name, addend: BigInt(addend) });
}

export interface MemOpts {
  index?: Reg;
  scale?: number;
  disp?: Imm | LabelRef | string;
}

function toDisp(d: Imm | LabelRef | string | undefined): { disp: bigint; label?: LabelRef } {
  if (d === undefined) return { disp: 0n };
  if (typeof d === 'string') return { disp: 0n, label: addr(d) };
  if (typeof d === 'object') return { disp: 0n, label: d };
  if (typeof d === 'number' && !Number.isSafeInteger(d)) throw new AsmError('mem', `displacement ${d} is not a safe integer; pass a bigint`);
  return { disp: BigInt(d) };
}

function build(where: string, base: Reg | undefined, o: MemOpts, rip = false): Mem {
  const scale = o.scale ?? 1;
  if (scale !== 1 && scale !== 2 && scale !== 4 && scale !== 8) {
    throw new AsmError(where, `scale ${scale} is not 1, 2, 4 or 8 (SIB.scale is 2 bits, SDM 2.1.5)`);
  }
  if (o.index && o.index.num === 4 && o.index.size >= 32) {
    throw new AsmError(where, `${o.index.name} cannot be an index register (SIB.index 100b means no index, SDM 2.1.5)`);
  }
  for (const r of [base, o.index]) {
    if (r && r.size < 32) throw new AsmError(where, `${r.name} cannot address memory: 16-bit addressing is not supported, use a 32- or 64-bit register`);
  }
  if (base && o.index && base.size !== o.index.size) {
    throw new AsmError(where, `base ${base.name} and index ${o.index.name} differ in width`);
  }
  // [reg*1] with no base is the same address as [reg] and shorter; nasm encodes it that way, so do we.
  if (!base && o.index && scale === 1) return build(where, o.index, { disp: o.disp }, rip);
  // Likewise [reg*2] is [reg+reg*1], which needs no disp32 (nasm's default split).
  if (!base && o.index && scale === 2) return build(where, o.index, { index: o.index, disp: o.disp }, rip);
  const { disp, label } = toDisp(o.disp);
  // With base + index*1 and a label plus addend, nasm takes the alphabetically first register as base (esp
  // excepted: it cannot be an index). Same address either way; follow nasm so toNasm() round-trips.
  if (base && o.index && scale === 1 && label && label.addend !== 0n) {
    const [b, i] = [base, o.index].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
    const [nb, ni] = i!.num === 4 ? [i!, b!] : [b!, i!];
    if (nb !== base) return build(where, nb, { ...o, index: ni }, rip);
  }
  if (disp < -(1n << 63n) || disp >= 1n << 64n) throw new AsmError(where, `displacement ${hex(disp)} is not a 64-bit value`);
  const m: Mem = { kind: 'mem', base, index: o.index, scale: scale as 1 | 2 | 4 | 8, disp, label, rip };
  return Object.freeze(m);
}

export interface MemBuilder {
  /** `mem(rbx, { index: rcx, scale: 4, disp: 8 })`, or `mem(0x1000)` / `mem('label')` for an absolute address. */
  (base: Reg | Imm | string | LabelRef, opts?: MemOpts): Mem;
  /** RIP-relative reference to a label in 64-bit mode; in 32-bit mode the label's absolute address. */
  rip(label: string | LabelRef, addend?: Imm): Mem;
}

export const mem: MemBuilder = Object.assign(
  (base: Reg | Imm | string | LabelRef, opts: MemOpts = {}): Mem => {
    if (typeof base === 'object' && base.kind === 'reg') return build(`mem(${base.name})`, base, opts);
    if (opts.disp !== undefined) throw new AsmError('mem', 'give either an absolute address or a base register with disp, not both');
    return build('mem(absolute)', undefined, { ...opts, disp: base as Imm | string | LabelRef });
  },
  {
    rip(label: string | LabelRef, addend: Imm = 0n): Mem {
      const ref = typeof label === 'string' ? addr(label, addend) : addr(label.name, label.addend + BigInt(addend));
      return build('mem.rip', undefined, { disp: ref }, true);
    },
  },
);

function sized(size: Size) {
  return (m: Mem): Mem => Object.freeze({ ...m, size });
}
export const byte = sized(8);
export const word = sized(16);
export const dword = sized(32);
export const qword = sized(64);

export function isReg(o: Operand): o is Reg {
  return typeof o === 'object' && o.kind === 'reg';
}
export function isMem(o: Operand): o is Mem {
  return typeof o === 'object' && o.kind === 'mem';
}
export function isLabel(o: Operand): o is LabelRef {
  return typeof o === 'object' && o.kind === 'label';
}
export function isImm(o: Operand): o is Imm {
  return typeof o === 'number' || typeof o === 'bigint';
}

export function hex(v: bigint): string {
  return v < 0n ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`;
}

/** Operand as nasm prints it; `size` for memory when known. */
export function showOperand(o: Operand): string {
  if (isReg(o)) return o.name;
  if (isImm(o)) return hex(BigInt(o));
  if (isLabel(o)) return showLabel(o);
  return showMem(o, false);
}

export function showLabel(l: LabelRef): string {
  return l.addend === 0n ? nasmName(l.name) : `${nasmName(l.name)}${l.addend < 0n ? '-' : '+'}${hex(l.addend < 0n ? -l.addend : l.addend)}`;
}

const NASM_RESERVED = /^(byte|word|dword|qword|tword|oword|strict|near|short|far|rel|abs|nosplit|seg|wrt|[re]?[abcd]x|[abcd][lh]|[re]?(si|di|sp|bp)|(si|di|sp|bp)l|r\d+[bwd]?|[cdefgs]s|st\d?|cr\d|dr\d|xmm\d+|ymm\d+|zmm\d+|k\d|times|db|dw|dd|dq|resb|equ|align|section|bits|org)$/i;

/** A label as nasm source: `$name` when the bare name would read as a register or keyword. */
export function nasmName(name: string): string {
  return NASM_RESERVED.test(name) ? `$${name}` : name;
}

/**
 * Memory operand in nasm syntax. `forceDisp` is the displacement width the encoder chose when nasm would
 * otherwise pick another (label displacements are always disp32).
 */
export function showMem(m: Mem, withSize: boolean, dispWidth?: 0 | 8 | 32): string {
  const sz = withSize && m.size ? `${({ 8: 'byte', 16: 'word', 32: 'dword', 64: 'qword' } as const)[m.size]} ` : '';
  if (m.rip) return `${sz}[rel ${showLabel(m.label!)}]`;
  const parts: string[] = [];
  let pre = '';
  if (m.base) parts.push(m.base.name);
  if (m.index) parts.push(`${m.index.name}*${m.scale}`);
  if (m.index && !m.base) pre = 'nosplit ';
  if (!m.base && !m.index) pre = m.label ? '' : 'abs ';
  if (m.base && dispWidth === 8) pre = 'byte ';
  if (m.base && dispWidth === 32) pre = 'dword ';
  let text = parts.join('+');
  if (m.label) text += (text ? '+' : '') + showLabel(m.label);
  if (m.disp !== 0n || text === '') text += m.disp < 0n ? hex(m.disp) : `${text ? '+' : ''}${hex(m.disp)}`;
  if (pre === 'nosplit ' && m.label) pre = 'nosplit ';
  return `${sz}[${pre}${text}]`;
}
