// Sections, labels, symbols, branch relaxation and the final Image. Instruction builders live in asm.ts.

import type { Image, PatchSite, Relocation, Section, SectionName, SymbolDef } from '../image.js';
import { type Bits, type Prefix, encode } from './encode.js';
import { printNasm } from './nasm.js';
import { AsmError } from './errors.js';
import { CONDITIONS } from './forms.js';
import { type BranchItem, type Item, NOPS, branchSize, itemSize, nopRun } from './items.js';
import { SECTION_ORDER, sectionAddresses } from './layout.js';
import { type Imm, type LabelRef, type Operand, addr, hex, showLabel } from './operands.js';

export interface AsmOptions {
  bits: Bits;
  /** Load address of the flat image (default 0). */
  origin?: bigint | number;
}

export type SymbolKind = 'func' | 'object' | 'notype';

interface SymInfo {
  kind: SymbolKind;
  global: boolean;
  /** Offset of an explicit end (endSymbol), else size runs to the next typed symbol or the section end. */
  end?: number;
}

interface LabelDef {
  section: SectionName;
  /** Index of the label item in its section. */
  item: number;
}

const LABEL_RE = /^[A-Za-z_?@][A-Za-z0-9_$#@~.?]*$/;

export class AsmCore {
  readonly bits: Bits;
  readonly origin: bigint;
  protected cur: SectionName = '.text';
  protected readonly items = new Map<SectionName, Item[]>(SECTION_ORDER.map((s) => [s, []]));
  protected readonly aligns = new Map<SectionName, number>(SECTION_ORDER.map((s) => [s, 16]));
  protected readonly labels = new Map<string, LabelDef>();
  protected readonly syms = new Map<string, SymInfo>();
  protected readonly externs = new Set<string>();
  /** First use of each referenced label, for "undefined label" errors. */
  protected readonly firstUse = new Map<string, { where: string; section: SectionName; item: number }>();
  protected pending: Prefix | undefined;
  private uniq = 0;

  constructor(opts: AsmOptions) {
    if (opts.bits !== 32 && opts.bits !== 64) throw new AsmError('new Asm', `bits must be 32 or 64, not ${String(opts.bits)}`);
    this.bits = opts.bits;
    this.origin = BigInt(opts.origin ?? 0);
    if (this.origin < 0n || this.origin >= 1n << BigInt(this.bits)) throw new AsmError('new Asm', `origin ${hex(this.origin)} is outside the ${this.bits}-bit address space`);
  }

  /** Switch the current section. */
  section(name: SectionName): this {
    if (!this.items.has(name)) throw new AsmError(`section ${String(name)}`, `unknown section; use ${SECTION_ORDER.join(', ')}`);
    this.cur = name;
    return this;
  }

  /** Define a label at the current position. */
  label(name: string): this {
    if (!LABEL_RE.test(name)) throw new AsmError(`label ${JSON.stringify(name)}`, 'label names start with a letter, _, ? or @ and contain letters, digits and _$#@~.?');
    if (this.labels.has(name)) throw new AsmError(`label ${name}`, `already defined in ${this.labels.get(name)!.section}`);
    if (this.externs.has(name)) throw new AsmError(`label ${name}`, 'already declared extern');
    const list = this.items.get(this.cur)!;
    list.push({ k: 'label', name });
    this.labels.set(name, { section: this.cur, item: list.length - 1 });
    return this;
  }

  /** A fresh label name (`prefix_N`) for generated code; define it later with label(). */
  newLabel(prefix = 'L'): string {
    let n: string;
    do n = `${prefix}_${++this.uniq}`;
    while (this.labels.has(n) || this.syms.has(n));
    return n;
  }

  /** Mark a symbol global (exported) with a type; its size runs to the next typed symbol, endSymbol() or the section end. */
  global(name: string, kind: SymbolKind = 'func'): this {
    return this.symbol(name, { kind, global: true });
  }

  symbol(name: string, opts: { kind?: SymbolKind; global?: boolean } = {}): this {
    const prev = this.syms.get(name);
    this.syms.set(name, { kind: opts.kind ?? 'func', global: opts.global ?? false, end: prev?.end });
    return this;
  }

  /** End a typed symbol here, fixing its size. */
  endSymbol(name: string): this {
    const s = this.syms.get(name);
    if (!s) throw new AsmError(`endSymbol ${name}`, 'not declared with global() or symbol()');
    const def = this.labels.get(name);
    if (!def || def.section !== this.cur) throw new AsmError(`endSymbol ${name}`, `label ${name} is not defined in the current section ${this.cur}`);
    s.end = this.items.get(this.cur)!.length;
    return this;
  }

  /** Declare a symbol defined elsewhere (resolved by the linker through relocations). */
  extern(name: string): this {
    if (this.labels.has(name)) throw new AsmError(`extern ${name}`, 'already defined as a label here');
    this.externs.add(name);
    return this;
  }

  /** Pad to a multiple of n bytes (section-relative): multi-byte NOPs in .text, zeros elsewhere. */
  align(n: number, fill?: 'nop' | 'zero'): this {
    if (!Number.isInteger(n) || n < 1 || (n & (n - 1)) !== 0 || n > 4096) throw new AsmError(`align ${n}`, 'alignment must be a power of two from 1 to 4096');
    this.items.get(this.cur)!.push({ k: 'align', n, nops: (fill ?? (this.cur === '.text' ? 'nop' : 'zero')) === 'nop', pad: 0 });
    if (n > this.aligns.get(this.cur)!) this.aligns.set(this.cur, n);
    return this;
  }

  /** Bytes: numbers (-128..255), strings (UTF-8) or byte arrays. */
  db(...values: (Imm | string | Uint8Array | readonly number[])[]): this {
    const out: bigint[] = [];
    for (const v of values) {
      if (typeof v === 'string') new TextEncoder().encode(v).forEach((b) => out.push(BigInt(b)));
      else if (v instanceof Uint8Array) v.forEach((b) => out.push(BigInt(b)));
      else if (Array.isArray(v)) (v as readonly number[]).forEach((b) => out.push(this.dataValue('db', 1, b) as bigint));
      else out.push(this.dataValue('db', 1, v as Imm) as bigint);
    }
    this.items.get(this.cur)!.push({ k: 'data', unit: 1, values: out });
    return this;
  }
  dw(...values: Imm[]): this {
    return this.data('dw', 2, values);
  }
  /** 32-bit values; a label (or addr(label, addend)) becomes an abs32 relocation. */
  dd(...values: (Imm | LabelRef | string)[]): this {
    return this.data('dd', 4, values);
  }
  /** 64-bit values; a label becomes an abs64 relocation. */
  dq(...values: (Imm | LabelRef | string)[]): this {
    return this.data('dq', 8, values);
  }

  private data(dir: string, unit: 2 | 4 | 8, values: (Imm | LabelRef | string)[]): this {
    const vals = values.map((v) => this.dataValue(dir, unit, v));
    this.items.get(this.cur)!.push({ k: 'data', unit, values: vals });
    return this;
  }

  private dataValue(dir: string, unit: number, v: Imm | LabelRef | string): bigint | LabelRef {
    if (typeof v === 'string' || typeof v === 'object') {
      const ref = typeof v === 'string' ? addr(v) : v;
      if (unit < 4) throw new AsmError(`${dir} ${showLabel(ref)}`, 'a label address needs dd (abs32) or dq (abs64)');
      if (unit === 8 && this.bits === 32) throw new AsmError(`${dir} ${showLabel(ref)}`, 'a 32-bit image has no 64-bit absolute relocation (i386 ELF has no R_386_64); use dd');
      this.use(ref.name, `${dir} ${showLabel(ref)}`);
      return ref;
    }
    if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new AsmError(`${dir} ${v}`, 'not a safe integer; pass a bigint');
    const b = BigInt(v);
    const bits = BigInt(unit * 8);
    if (b < -(1n << (bits - 1n)) || b >= 1n << bits) throw new AsmError(`${dir} ${hex(b)}`, `value does not fit in ${unit * 8} bits`);
    return b;
  }

  protected use(name: string, where: string): void {
    if (!this.firstUse.has(name)) this.firstUse.set(name, { where, section: this.cur, item: this.items.get(this.cur)!.length });
  }

  /** Encode an instruction by mnemonic (any in the form table) at the current position. */
  insn(mn: string, ...ops: Operand[]): this {
    const prefix = this.pending;
    this.pending = undefined;
    const enc = encode(mn, ops, this.bits, prefix);
    for (const f of enc.fixups) this.use(f.ref.name, enc.text);
    this.items.get(this.cur)!.push({ k: 'code', enc });
    return this;
  }

  protected patchSite(insn: 'vmcall' | 'vmmcall'): this {
    const enc = encode(insn, [], this.bits);
    this.items.get(this.cur)!.push({ k: 'code', enc, patch: insn });
    return this;
  }

  protected branch(mn: 'jmp' | 'call' | 'jcc', target: string | LabelRef, cc?: string, force?: 'short' | 'near'): this {
    const ref = typeof target === 'string' ? addr(target) : target;
    const ccNum = cc === undefined ? undefined : CONDITIONS[cc];
    const where = `${mn === 'jcc' ? `j${cc}` : mn}${force ? ' ' + force : ''} ${showLabel(ref)}`;
    if (cc !== undefined && ccNum === undefined) throw new AsmError(where, `unknown condition "${cc}"; use one of ${Object.keys(CONDITIONS).join(' ')}`);
    if (this.pending) throw new AsmError(where, `${this.pending} prefix does not apply to branches`);
    if (mn === 'call' && force === 'short') throw new AsmError(where, 'call has no short form');
    this.use(ref.name, where);
    const it: BranchItem = {
      k: 'branch', mn, target: ref, force, near: force === 'near' || mn === 'call', where,
      cc: cc === undefined ? undefined : { name: cc, num: ccNum! },
    };
    this.items.get(this.cur)!.push(it);
    return this;
  }

  /** Offsets of every item per section, after relaxation. */
  protected layout(): Map<SectionName, number[]> {
    for (const [name, list] of this.items) {
      for (const it of list) {
        if (it.k !== 'branch') continue;
        const def = this.labels.get(it.target.name);
        if (!def) {
          if (!this.externs.has(it.target.name)) throw this.undefinedLabel(it.target.name);
          if (it.force === 'short') throw new AsmError(it.where, 'a short branch cannot reach an external symbol');
          it.near = true;
        } else if (def.section !== name) {
          if (it.force === 'short') throw new AsmError(it.where, `a short branch cannot reach ${def.section} from ${name}`);
          it.near = true;
        }
      }
    }
    // Grow-only relaxation: start short, widen a branch whose rel8 cannot reach, repeat until nothing changes.
    for (;;) {
      const offs = this.offsets();
      let changed = false;
      for (const [name, list] of this.items) {
        const o = offs.get(name)!;
        list.forEach((it, i) => {
          if (it.k !== 'branch' || it.near) return;
          const def = this.labels.get(it.target.name)!;
          const dist = BigInt(o[def.item]!) + it.target.addend - BigInt(o[i]! + 2);
          if (dist < -128n || dist > 127n) {
            if (it.force === 'short') throw new AsmError(it.where, `target is ${dist} bytes away, outside the rel8 range -128..127`);
            it.near = true;
            changed = true;
          }
        });
      }
      if (!changed) return offs;
    }
  }

  private offsets(): Map<SectionName, number[]> {
    const out = new Map<SectionName, number[]>();
    for (const [name, list] of this.items) {
      const o: number[] = [];
      let at = 0;
      for (const it of list) {
        if (it.k === 'align') it.pad = (it.n - (at % it.n)) % it.n;
        o.push(at);
        at += itemSize(it);
      }
      o.push(at);
      out.set(name, o);
    }
    return out;
  }

  protected undefinedLabel(name: string): AsmError {
    const u = this.firstUse.get(name);
    const at = u ? `${u.where} (${u.section}+${hex(BigInt(this.offsets().get(u.section)![u.item]!))})` : name;
    return new AsmError(at, `undefined label "${name}" (define it with label() or declare it with extern())`);
  }

  /** Lay out, resolve every label and return the Image (with `meta` for manifests, if given). */
  finish(meta?: Image['meta']): Image {
    if (this.pending) throw new AsmError(this.pending, 'prefix with no instruction after it');
    for (const name of this.firstUse.keys()) if (!this.labels.has(name) && !this.externs.has(name)) throw this.undefinedLabel(name);
    const offs = this.layout();
    const present = SECTION_ORDER.filter((s) => this.items.get(s)!.length > 0);
    const sizes = new Map(present.map((s) => [s, offs.get(s)![offs.get(s)!.length - 1]!]));
    const addrs = sectionAddresses({
      origin: this.origin,
      sections: present.map((s) => ({ name: s, align: this.aligns.get(s)!, bytes: { length: sizes.get(s)! } as Uint8Array })),
    });
    const labelAddr = (name: string): bigint | undefined => {
      const d = this.labels.get(name);
      return d ? addrs.get(d.section)! + BigInt(offs.get(d.section)![d.item]!) : undefined;
    };
    const relocs: Relocation[] = [];
    const sites: { section: SectionName; offset: number; insn: 'vmcall' | 'vmmcall' }[] = [];
    const sections: Section[] = present.map((name) => {
      const bytes = new Uint8Array(sizes.get(name)!);
      const o = offs.get(name)!;
      const base = addrs.get(name)!;
      const put = (at: number, size: number, v: bigint, where: string, pcrel: boolean): void => {
        const lo = pcrel || size === 8 ? -(1n << BigInt(size * 8 - 1)) : 0n;
        const hi = pcrel ? 1n << BigInt(size * 8 - 1) : 1n << BigInt(size * 8);
        if (v < lo || v >= hi) throw new AsmError(where, `value ${hex(v)} does not fit the ${size * 8}-bit ${pcrel ? 'relative' : 'absolute'} field`);
        const u = BigInt.asUintN(size * 8, v);
        for (let k = 0; k < size; k++) bytes[at + k] = Number((u >> BigInt(8 * k)) & 0xffn);
      };
      const ref = (r: LabelRef, at: number, size: 4 | 8, pcEnd: number | undefined, where: string): void => {
        const tgt = labelAddr(r.name);
        const sameSection = this.labels.get(r.name)?.section === name;
        if (pcEnd !== undefined) {
          if (!sameSection) relocs.push({ section: name, offset: at, kind: 'pc32', symbol: r.name, addend: r.addend - BigInt(pcEnd - at) });
          put(at, 4, tgt === undefined ? 0n : tgt + r.addend - (base + BigInt(pcEnd)), where, true);
        } else {
          relocs.push({ section: name, offset: at, kind: size === 8 ? 'abs64' : 'abs32', symbol: r.name, addend: r.addend });
          put(at, size, tgt === undefined ? 0n : tgt + r.addend, where, false);
        }
      };
      this.items.get(name)!.forEach((it, i) => {
        const at = o[i]!;
        switch (it.k) {
          case 'code':
            bytes.set(it.enc.bytes, at);
            for (const f of it.enc.fixups) ref(f.ref, at + f.at, f.size, f.pcrel ? at + it.enc.bytes.length : undefined, it.enc.text);
            if (it.patch) sites.push({ section: name, offset: at, insn: it.patch });
            break;
          case 'branch': {
            const n = branchSize(it);
            const cc = it.cc?.num ?? 0;
            const op = it.mn === 'call' ? [0xe8] : it.mn === 'jmp' ? [it.near ? 0xe9 : 0xeb] : it.near ? [0x0f, 0x80 + cc] : [0x70 + cc];
            bytes.set(op, at);
            if (it.near) ref(it.target, at + op.length, 4, at + n, it.where);
            else put(at + 1, 1, labelAddr(it.target.name)! + it.target.addend - (base + BigInt(at + 2)), it.where, true);
            break;
          }
          case 'data':
            it.values.forEach((v, k) => {
              if (typeof v === 'bigint') put(at + k * it.unit, it.unit, BigInt.asUintN(it.unit * 8, v), `${it.unit}-byte data`, false);
              else ref(v, at + k * it.unit, it.unit as 4 | 8, undefined, `data ${showLabel(v)}`);
            });
            break;
          case 'align':
            if (it.nops) {
              let p = at;
              for (const n of nopRun(it.pad)) {
                bytes.set(NOPS[n]!, p);
                p += n;
              }
            }
            break;
          case 'label':
            break;
        }
      });
      return { name, bytes, align: this.aligns.get(name)! };
    });
    const symbols = this.symbols(offs, sizes);
    const patchSites: PatchSite[] = sites.map((s) => {
      const symbol = this.containing(symbols, s.section, s.offset);
      if (!symbol) throw new AsmError(`${s.insn} (patch site at ${s.section}+${hex(BigInt(s.offset))})`, 'no label before it: patch tables name the symbol that contains each site, so define one');
      return { ...s, symbol };
    });
    const img: Image = { bits: this.bits, sections, symbols, relocations: relocs, patchSites, origin: this.origin };
    return meta ? { ...img, meta } : img;
  }

  private symbols(offs: Map<SectionName, number[]>, sizes: Map<SectionName, number>): SymbolDef[] {
    for (const name of this.syms.keys()) if (!this.labels.has(name)) throw new AsmError(`symbol ${name}`, 'declared with global()/symbol() but never defined with label()');
    const out: SymbolDef[] = [];
    for (const [name, def] of this.labels) {
      const info = this.syms.get(name);
      const offset = offs.get(def.section)![def.item]!;
      let size = 0;
      if (info && info.kind !== 'notype') {
        let end = info.end !== undefined ? offs.get(def.section)![info.end]! : sizes.get(def.section)!;
        if (info.end === undefined) {
          for (const [other, od] of this.labels) {
            const oi = this.syms.get(other);
            if (other === name || !oi || oi.kind === 'notype' || od.section !== def.section) continue;
            const oo = offs.get(od.section)![od.item]!;
            if (oo > offset && oo < end) end = oo;
          }
        }
        size = end - offset;
      }
      out.push({ name, section: def.section, offset, size, kind: info?.kind ?? 'notype', global: info?.global ?? false });
    }
    return out;
  }

  /** Name of the typed symbol covering an offset, else the nearest label before it. */
  private containing(symbols: readonly SymbolDef[], section: SectionName, offset: number): string {
    const inSec = symbols.filter((s) => s.section === section && s.offset <= offset);
    const typed = inSec.find((s) => s.size > 0 && offset < s.offset + s.size);
    if (typed) return typed.name;
    return inSec.reduce<SymbolDef | undefined>((b, s) => (!b || s.offset >= b.offset ? s : b), undefined)?.name ?? '';
  }

  /** NASM source that `nasm -f bin` assembles to exactly the bytes of finish() (flat layout from origin). */
  toNasm(): string {
    if (this.pending) throw new AsmError(this.pending, 'prefix with no instruction after it');
    for (const name of this.firstUse.keys()) if (!this.labels.has(name) && !this.externs.has(name)) throw this.undefinedLabel(name);
    this.layout();
    return printNasm({ bits: this.bits, origin: this.origin, items: this.items, aligns: this.aligns, externs: this.externs, globals: [...this.syms].filter(([, s]) => s.global).map(([n]) => n) });
  }
}
