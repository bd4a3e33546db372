// NASM and GNU as (AT&T) source from an Image: iced-x86 prints each instruction, branch and RIP-relative
// operands become labels, relocation fields become symbol expressions, and anything the assembler would
// encode differently from our bytes is written as bytes with the instruction in a comment (a "fallback").
import { Decoder, DecoderOptions, Formatter, FormatterSyntax, MemorySizeOptions, OpKind, Register, type Instruction } from 'iced-x86';
import type { Image, Relocation, SectionName } from '../../image.js';
import { layout, orderedSections, sectionIdent, validateImage } from '../layout.js';
import { decodeText, fieldOf, type Insn } from './decode.js';
import { judge } from './rules.js';

export type Syntax = 'nasm' | 'gas';

export interface Fallback { readonly section: SectionName; readonly offset: number; readonly text: string; readonly reason: string }

export interface AsmSource {
  readonly text: string;
  /** Instructions written as bytes because text would not reassemble to them. */
  readonly fallbacks: readonly Fallback[];
}

// A value no real operand uses, printed by iced then replaced by a symbol expression.
const SENT = 0x7eadbeefn;
const SENT_TEXT = '0x7eadbeef';

interface Ctx {
  readonly img: Image;
  readonly syn: Syntax;
  readonly fmt: Formatter;
  /** section -> offset -> label names (symbols first, then generated). */
  readonly labels: Map<SectionName, Map<number, string[]>>;
  readonly fallbacks: Fallback[];
  readonly out: string[];
}

function hex(v: bigint | number): string {
  const b = BigInt(v);
  return b < 0n ? `-0x${(-b).toString(16)}` : `0x${b.toString(16)}`;
}

function plus(expr: string, add: bigint): string {
  return add === 0n ? expr : add < 0n ? `${expr}-0x${(-add).toString(16)}` : `${expr}+0x${add.toString(16)}`;
}

function makeFormatter(syn: Syntax): Formatter {
  const f = new Formatter(syn === 'nasm' ? FormatterSyntax.Nasm : FormatterSyntax.Gas);
  f.hexPrefix = '0x';
  f.hexSuffix = '';
  f.uppercaseHex = false;
  f.spaceAfterOperandSeparator = true;
  f.memorySizeOptions = MemorySizeOptions.Always; // never leave the operand size to the assembler
  f.showBranchSize = false;
  f.nasmShowSignExtendedImmediateSize = true; // `add eax, byte -1` keeps the imm8 form
  f.signedImmediateOperands = false; // both assemblers take 0xffffffff for a sign-extended imm8 and warn on -0x4d for a shift count
  f.signedMemoryDisplacements = true;
  f.gasShowMnemonicSizeSuffix = true;
  f.ripRelativeAddresses = syn === 'gas'; // nasm prints [rel TARGET], gas DISP(%rip); we substitute both
  f.showZeroDisplacements = true;
  f.smallHexNumbersInDecimal = false;
  return f;
}

function genLabel(syn: Syntax, sec: SectionName, off: number): string {
  return syn === 'nasm' ? `..@L_${sectionIdent(sec)}_${off.toString(16)}` : `.L_${sectionIdent(sec)}_${off.toString(16)}`;
}

function endLabel(syn: Syntax, sym: string): string {
  return syn === 'nasm' ? `..@end_${sym}` : `.Lend_${sym}`;
}

function addLabel(c: Ctx, sec: SectionName, off: number, name: string): void {
  let m = c.labels.get(sec);
  if (!m) c.labels.set(sec, (m = new Map()));
  const l = m.get(off) ?? [];
  if (!l.includes(name)) l.push(name);
  m.set(off, l);
}

function labelAt(c: Ctx, sec: SectionName, off: number): string | undefined {
  return c.labels.get(sec)?.get(off)?.[0];
}

/** An absolute address (flat layout) as a label or `$+N`/`.+N` relative to the instruction at `here`. */
function targetExpr(c: Ctx, sec: SectionName, here: number, target: bigint, textStarts: Set<number>): string {
  const lay = layout(c.img);
  const from = lay.sections.find((p) => p.section.name === sec)!.base;
  const abs = BigInt(from) + target; // target is relative to the start of `sec`
  for (const p of lay.sections) {
    const rel = Number(abs - BigInt(p.base));
    if (abs < BigInt(p.base) || rel > p.section.bytes.length) continue;
    const have = labelAt(c, p.section.name, rel);
    // GNU as keeps a relocation for a reference to a global symbol (it could be preempted) where our bytes
    // are resolved; a local label at the same place makes as resolve it too.
    const isGlobal = have !== undefined && c.img.symbols.some((s) => s.global && s.name === have);
    if (have && !(c.syn === 'gas' && isGlobal)) return have;
    if (p.section.name !== '.text' || textStarts.has(rel)) {
      const l = genLabel(c.syn, p.section.name, rel);
      addLabel(c, p.section.name, rel, l);
      return l;
    }
  }
  return `${c.syn === 'nasm' ? '$' : '.'}${target - BigInt(here) < 0n ? '' : '+'}${hex(target - BigInt(here))}`;
}

function relocExpr(r: Relocation, extra: bigint): string {
  return plus(r.symbol, r.addend + extra);
}

/** Bytes [from, to) of a section as data lines, relocation fields as dd/dq (or .long/.quad) expressions. */
function emitBytes(c: Ctx, sec: SectionName, bytes: Uint8Array, from: number, to: number, comment?: string): void {
  const rels = c.img.relocations.filter((r) => r.section === sec && r.offset >= from && r.offset < to).sort((a, b) => a.offset - b.offset);
  const nasm = c.syn === 'nasm';
  let at = from;
  let first = true;
  const note = () => { const t = first && comment ? `  ${nasm ? ';' : '#'} ${comment}` : ''; first = false; return t; };
  const flush = (end: number) => {
    while (at < end) {
      const n = Math.min(16, end - at);
      const list = Array.from(bytes.subarray(at, at + n), (b) => `0x${b.toString(16).padStart(2, '0')}`).join(', ');
      c.out.push(`  ${nasm ? 'db' : '.byte'} ${list}${note()}`);
      at += n;
    }
  };
  for (const r of rels) {
    flush(r.offset);
    const w = r.kind === 'abs64' ? 8 : 4;
    const dir = nasm ? (w === 8 ? 'dq' : 'dd') : w === 8 ? '.quad' : '.long';
    const e = r.kind === 'pc32' ? `${relocExpr(r, 0n)} - ${nasm ? '$' : '.'}` : relocExpr(r, 0n);
    c.out.push(`  ${dir} ${e}${note()}`);
    at = r.offset + w;
  }
  flush(to);
}

function emitLabels(c: Ctx, sec: SectionName, off: number): void {
  for (const l of c.labels.get(sec)?.get(off) ?? []) c.out.push(`${l}:`);
}

/** Format one instruction; returns undefined when it must be written as bytes (reason in `why`). */
function formatInsn(c: Ctx, sec: SectionName, i: Insn, ins: Instruction, bytes: Uint8Array, starts: Set<number>, why: { reason: string }): string | undefined {
  const { syn, fmt, img } = c;
  const rels = img.relocations.filter((r) => r.section === sec && r.offset >= i.offset && r.offset < i.offset + i.length);
  const fields = rels.map((r) => ({ r, f: fieldOf(i, r) }));
  if (fields.some((x) => x.f === undefined)) { why.reason = 'a relocation that is not a whole displacement or immediate'; return undefined; }
  const plain = fmt.format(ins);
  fmt.showUselessPrefixes = true;
  const withAll = fmt.format(ins);
  fmt.showUselessPrefixes = false;
  const v = judge(ins, bytes, img.bits, rels.length > 0, plain !== withAll);
  if (!v.ok) { why.reason = v.reason; return undefined; }
  if (syn === 'nasm' && v.nasmFallback) { why.reason = v.nasmFallback; return undefined; }
  if (syn === 'gas' && v.gasFallback) { why.reason = v.gasFallback; return undefined; }
  const name = /^(\w+?)_/.exec(`${i.code}_`)![1]!;
  const nextIp = BigInt(i.offset + i.length);
  // Direct branches: the target as a label (or the relocation), the size forced to ours.
  if (i.branchTarget !== undefined) {
    if (/_rel16/.test(i.code ?? '')) { why.reason = '16-bit branch displacement'; return undefined; }
    const br = fields.find((x) => x.f === 'branch');
    const secLen = img.sections.find((x) => x.name === sec)!.bytes.length;
    if (!br && (i.branchTarget < 0 || i.branchTarget > secLen)) { why.reason = 'branch target outside the section and no relocation'; return undefined; }
    const target = br ? relocExpr(br.r, nextIp - BigInt(br.r.offset)) : targetExpr(c, sec, i.offset, BigInt(i.branchTarget), starts);
    const mn = fmt.formatMnemonic(ins);
    const sized = /^(Jmp|J[a-z]+)$/.test(name) && !/^(Jcxz|Jecxz|Jrcxz)$/.test(name);
    if (syn === 'nasm') return `${mn} ${sized ? (i.shortBranch ? 'strict short ' : 'strict near ') : ''}${target}`;
    return `${sized && !i.shortBranch ? '{disp32} ' : ''}${mn} ${target}`;
  }
  // Operand values that print as something else: relocation fields and RIP-relative targets.
  let subst: string | undefined;
  const disp = fields.find((x) => x.f === 'disp');
  const immF = fields.find((x) => x.f === 'imm');
  if (i.ripRelative) {
    const e = disp ? relocExpr(disp.r, nextIp - BigInt(disp.r.offset)) : targetExpr(c, sec, i.offset, ins.ipRelMemoryAddress, starts);
    if (e.startsWith('$') || e.startsWith('.+') || e.startsWith('.-')) { why.reason = 'RIP-relative target outside the image and no relocation'; return undefined; }
    ins.memoryDisplacement = syn === 'nasm' ? SENT : SENT + nextIp;
    subst = e;
  } else if (disp) {
    ins.memoryDisplacement = SENT;
    subst = relocExpr(disp.r, 0n);
  }
  if (immF) {
    if (subst !== undefined) { why.reason = 'two relocated fields'; return undefined; }
    for (let k = 0; k < ins.opCount; k++) {
      const kind = ins.opKind(k);
      if (kind === OpKind.Immediate64) ins.setImmediateU64(k, SENT);
      else if (kind === OpKind.Immediate32 || kind === OpKind.Immediate32to64) ins.setImmediateU32(k, Number(SENT));
    }
    subst = relocExpr(immF.r, 0n);
  }
  let text = fmt.format(ins);
  if (subst !== undefined) {
    if (text.split(SENT_TEXT).length !== 2) { why.reason = 'relocated operand not printable'; return undefined; }
    text = text.replace(SENT_TEXT, subst);
  }
  // Displacement size as in our bytes (assemblers would otherwise shrink or drop it).
  const dispSize = i.disp && !i.ripRelative && (ins.memoryBase !== Register.None) ? i.disp.size : 0;
  if (syn === 'nasm') {
    if (dispSize) text = text.replace(/\[((?:[cdefgs]s:)?)/, `[${dispSize === 1 ? 'byte' : 'dword'} $1`);
    if (ins.memoryBase === Register.None && ins.memoryIndex !== Register.None && !i.ripRelative) text = text.replace('[', '[nosplit ');
    if (i.code === 'Mov_r64_imm64') text = text.replace(/, (?!.*,)/, ', strict qword ');
  } else {
    const pre = [v.gasPrefix, dispSize ? (dispSize === 1 ? '{disp8}' : '{disp32}') : undefined].filter(Boolean).join(' ');
    if (pre) text = `${pre} ${text}`;
  }
  return text;
}

function emitText(c: Ctx, sec: SectionName, bytes: Uint8Array, insns: readonly Insn[]): void {
  const starts = new Set(insns.map((i) => i.offset));
  const nasm = c.syn === 'nasm';
  const sites = new Map(c.img.patchSites.filter((p) => p.section === sec).map((p) => [p.offset, p]));
  // Format everything before printing: operands may add labels at earlier offsets.
  const lines: { i: Insn; text?: string; shown?: string; why: string }[] = [];
  for (const i of insns) {
    if (!i.code) { lines.push({ i, shown: '(no instruction)', why: 'bytes do not decode as one instruction' }); continue; }
    const dec = new Decoder(c.img.bits, bytes.subarray(i.offset, i.offset + i.length), DecoderOptions.None);
    dec.ip = BigInt(i.offset);
    const ins = dec.decode();
    try {
      const why = { reason: '' };
      const text = formatInsn(c, sec, i, ins, bytes.subarray(i.offset, i.offset + i.length), starts, why);
      if (text === undefined) {
        const shown = makeFormatter(c.syn);
        const dec2 = new Decoder(c.img.bits, bytes.subarray(i.offset, i.offset + i.length), DecoderOptions.None);
        dec2.ip = BigInt(i.offset);
        const orig = dec2.decode();
        lines.push({ i, shown: shown.format(orig), why: why.reason });
        orig.free(); dec2.free(); shown.free();
      } else lines.push({ i, text, why: '' });
    } finally {
      ins.free();
      dec.free();
    }
  }
  for (const { i, text, shown, why } of lines) {
    emitLabels(c, sec, i.offset);
    const site = sites.get(i.offset);
    if (site) c.out.push(`  ${nasm ? ';' : '#'} pvkit patch site: ${site.insn} in ${site.symbol} (3 bytes a host or the guest-patch routine may rewrite)`);
    if (text !== undefined) c.out.push(`  ${text}`);
    else {
      c.fallbacks.push({ section: sec, offset: i.offset, text: shown ?? '', reason: why });
      emitBytes(c, sec, bytes, i.offset, i.offset + i.length, `${shown} (${why})`);
    }
  }
  emitLabels(c, sec, bytes.length);
}

function emitData(c: Ctx, sec: SectionName, bytes: Uint8Array): void {
  const cuts = [...(c.labels.get(sec)?.keys() ?? [])].filter((o) => o > 0 && o < bytes.length).sort((a, b) => a - b);
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    emitLabels(c, sec, at);
    // validateImage rejects labels inside relocation fields, so each chunk holds whole fields
    emitBytes(c, sec, bytes, at, cut);
    at = cut;
  }
  if (bytes.length > 0) emitLabels(c, sec, bytes.length);
}

/** Assembler source for the image in the given syntax, with the list of byte fallbacks. */
export function asmSource(img: Image, syn: Syntax): AsmSource {
  validateImage(img);
  const fmt = makeFormatter(syn);
  const c: Ctx = { img, syn, fmt, labels: new Map(), fallbacks: [], out: [] };
  try {
    const secs = orderedSections(img);
    for (const s of img.symbols) {
      addLabel(c, s.section, s.offset, s.name);
      if (s.size > 0) addLabel(c, s.section, s.offset + s.size, endLabel(syn, s.name));
    }
    const text = secs.find((s) => s.name === '.text');
    const decoded = text ? decodeText(img) : undefined;
    if (decoded) for (const off of decoded.labels) if (!labelAt(c, '.text', off)) addLabel(c, '.text', off, genLabel(syn, '.text', off));
    // Text first: its RIP-relative operands may create labels in the data sections.
    const textLines: string[] = [];
    if (text) { emitText(c, '.text', text.bytes, decoded!.insns); textLines.push(...c.out); }
    const final: string[] = [];
    for (const sec of secs) {
      final.push('', ...sectionHeader(c, sec.name, sec.align));
      if (sec.name === '.text') { final.push(...textLines); continue; }
      c.out.length = 0;
      emitData(c, sec.name, sec.bytes);
      final.push(...c.out);
    }
    const head = fileHeader(c, secs.map((s) => s.name));
    const tail = syn === 'gas' ? symbolTypes(c) : [];
    return { text: [...head, ...final, ...tail].join('\n') + '\n', fallbacks: c.fallbacks };
  } finally {
    fmt.free();
  }
}

function describe(img: Image): string {
  const m = img.meta;
  const parts = [`${img.bits}-bit image, origin 0x${img.origin.toString(16)}`];
  if (m?.abi) parts.push(`abi ${m.abi}${m.abiVersion ? ' ' + m.abiVersion : ''}`);
  if (m?.strategy) parts.push(`strategy ${m.strategy}`);
  return parts.join(', ');
}

function externals(img: Image): string[] {
  const def = new Set(img.symbols.map((s) => s.name));
  return [...new Set(img.relocations.map((r) => r.symbol).filter((n) => !def.has(n)))];
}

function fileHeader(c: Ctx, secs: SectionName[]): string[] {
  const { img } = c;
  const ext = externals(img);
  if (c.syn === 'gas') {
    return [
      `# Generated by pvkit: ${describe(img)}.`,
      `# Assemble: as --${img.bits} (AT&T syntax); the object's sections hold exactly the image's bytes.`,
      ...img.symbols.filter((s) => s.global).map((s) => `  .globl ${s.name}`),
    ];
  }
  const L = [
    `; Generated by pvkit: ${describe(img)}.`,
    `; Assemble: nasm -f bin (the flat image at the origin) or nasm -f elf${img.bits === 64 ? '64' : '32'} (a relocatable object).`,
    `bits ${img.bits}`,
    '%ifidn __OUTPUT_FORMAT__, bin',
  ];
  if (ext.length) L.push(`  %error "the image references external symbols (${ext.join(', ')}); assemble it as ELF and link"`);
  L.push(`  org 0x${img.origin.toString(16)}`);
  let prev: SectionName | undefined;
  for (const n of secs) {
    const a = img.sections.find((s) => s.name === n)!.align;
    L.push(`  section ${n} align=${a}${prev ? ` follows=${prev}` : ''}`);
    prev = n;
  }
  L.push('%else');
  for (const n of secs) {
    const a = img.sections.find((s) => s.name === n)!.align;
    const attrs = n === '.text' ? 'progbits alloc exec nowrite' : n === '.rodata' ? 'progbits alloc noexec nowrite' : 'progbits alloc noexec write';
    L.push(`  section ${n} ${attrs} align=${a}`);
  }
  for (const s of img.symbols.filter((x) => x.global)) {
    const type = s.kind === 'func' ? ':function' : s.kind === 'object' ? ':data' : '';
    L.push(`  global ${s.name}${type}${type && s.size > 0 ? ` (${endLabel('nasm', s.name)} - ${s.name})` : ''}`);
  }
  for (const e of ext) L.push(`  extern ${e}`);
  L.push('%endif');
  return L;
}

function sectionHeader(c: Ctx, name: SectionName, align: number): string[] {
  if (c.syn === 'nasm') return [`section ${name}`];
  const flags = name === '.text' ? '"ax"' : name === '.rodata' ? '"a"' : '"aw"';
  return [`  .section ${name},${flags},@progbits`, `  .balign ${align}`];
}

function symbolTypes(c: Ctx): string[] {
  const L = [''];
  for (const s of c.img.symbols) {
    if (s.kind === 'notype') continue;
    L.push(`  .type ${s.name}, @${s.kind === 'func' ? 'function' : 'object'}`);
    if (s.size > 0) L.push(`  .size ${s.name}, ${endLabel('gas', s.name)} - ${s.name}`);
  }
  L.push('  .section .note.GNU-stack,"",@progbits');
  return L;
}
