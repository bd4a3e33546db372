// Shared by every emitter: validate an Image once (located errors) and compute the flat layout
// (sections in the fixed order .text, .rodata, .data, each aligned, starting at img.origin).
import { AbiError, type Problem } from '@pvkit/shared-abi';
import type { Image, Relocation, Section, SectionName, SymbolDef } from '../image.js';

/** Fixed section order of a flat image and of the ELF section table. */
export const SECTION_ORDER: readonly SectionName[] = ['.text', '.rodata', '.data'];

export interface PlacedSection {
  readonly section: Section;
  /** Offset of the section from the start of the flat image (aligned). */
  readonly base: number;
}

export interface Layout {
  readonly sections: readonly PlacedSection[];
  /** Total flat size in bytes (padding between sections included). */
  readonly size: number;
}

const MAX_U64 = (1n << 64n) - 1n;

/** Sections present in the image, in emission order. */
export function orderedSections(img: Image): Section[] {
  return SECTION_ORDER.flatMap((n) => img.sections.filter((s) => s.name === n));
}

export function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

export function layout(img: Image): Layout {
  let at = 0;
  const out: PlacedSection[] = [];
  for (const s of orderedSections(img)) {
    at = alignUp(at, s.align);
    out.push({ section: s, base: at });
    at += s.bytes.length;
  }
  return { sections: out, size: at };
}

export function sectionBase(lay: Layout, name: SectionName): number | undefined {
  return lay.sections.find((p) => p.section.name === name)?.base;
}

/** Width in bytes of the field a relocation writes. */
export function relocWidth(r: Relocation): number {
  return r.kind === 'abs64' ? 8 : 4;
}

/** Symbols by name (validated: names are unique). */
export function symbolMap(img: Image): Map<string, SymbolDef> {
  return new Map(img.symbols.map((s) => [s.name, s]));
}

/** Names referenced by relocations but not defined in the image, in first-use order. */
export function externalSymbols(img: Image): string[] {
  const defined = symbolMap(img);
  const out: string[] = [];
  for (const r of img.relocations) if (!defined.has(r.symbol) && !out.includes(r.symbol)) out.push(r.symbol);
  return out;
}

// C and ELF consumers need plain identifiers; nasm and gas accept these as well.
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Check everything the emitters rely on and throw one AbiError listing every problem with its path
 * (`$.symbols[2].offset`), the value and why.
 */
export function validateImage(img: Image): void {
  const p: Problem[] = [];
  const add = (path: string, value: unknown, message: string) => p.push({ path, value, message });
  if (img.bits !== 64 && img.bits !== 32) add('$.bits', img.bits, 'must be 64 or 32');
  if (typeof img.origin !== 'bigint' || img.origin < 0n || img.origin > MAX_U64) {
    add('$.origin', img.origin, 'must be a bigint in 0..2^64-1');
  } else if (img.bits === 32 && img.origin > 0xffff_ffffn) {
    add('$.origin', img.origin, 'a 32-bit image must load below 4 GiB');
  }
  const seen = new Set<string>();
  img.sections.forEach((s, i) => {
    if (!SECTION_ORDER.includes(s.name)) add(`$.sections[${i}].name`, s.name, `must be one of ${SECTION_ORDER.join(', ')}`);
    if (seen.has(s.name)) add(`$.sections[${i}].name`, s.name, 'section appears twice');
    seen.add(s.name);
    if (!Number.isInteger(s.align) || s.align < 1 || (s.align & (s.align - 1)) !== 0) {
      add(`$.sections[${i}].align`, s.align, 'alignment must be a power of two');
    }
  });
  const sizeOf = (n: SectionName) => img.sections.find((s) => s.name === n)?.bytes.length;
  const names = new Set<string>();
  img.symbols.forEach((s, i) => {
    const at = `$.symbols[${i}]`;
    if (!IDENT.test(s.name)) add(`${at}.name`, s.name, 'symbol names must be C identifiers ([A-Za-z_][A-Za-z0-9_]*)');
    if (names.has(s.name)) add(`${at}.name`, s.name, 'symbol defined twice');
    names.add(s.name);
    const len = sizeOf(s.section);
    if (len === undefined) add(`${at}.section`, s.section, 'symbol in a section the image does not have');
    else if (!Number.isInteger(s.offset) || s.offset < 0 || s.offset > len) add(`${at}.offset`, s.offset, `outside ${s.section} (${len} bytes)`);
    else if (!Number.isInteger(s.size) || s.size < 0 || s.offset + s.size > len) add(`${at}.size`, s.size, `symbol runs past the end of ${s.section} (${len} bytes)`);
  });
  img.relocations.forEach((r, i) => {
    const at = `$.relocations[${i}]`;
    const len = sizeOf(r.section);
    if (!IDENT.test(r.symbol)) add(`${at}.symbol`, r.symbol, 'symbol names must be C identifiers');
    if (r.kind !== 'abs64' && r.kind !== 'abs32' && r.kind !== 'pc32') add(`${at}.kind`, r.kind, 'must be abs64, abs32 or pc32');
    if (r.kind === 'abs64' && img.bits === 32) add(`${at}.kind`, r.kind, 'a 32-bit image has no 64-bit relocation (i386 ELF has no R_386_64)');
    if (len === undefined) add(`${at}.section`, r.section, 'relocation in a section the image does not have');
    else if (!Number.isInteger(r.offset) || r.offset < 0 || r.offset + relocWidth(r) > len) add(`${at}.offset`, r.offset, `field of ${relocWidth(r)} bytes does not fit in ${r.section} (${len} bytes)`);
    if (typeof r.addend !== 'bigint') add(`${at}.addend`, r.addend, 'must be a bigint');
    else if (r.addend < -(1n << 63n) || r.addend >= 1n << 63n) add(`${at}.addend`, r.addend, 'must fit in a signed 64-bit value');
    else if (img.bits === 32 && (r.addend < -(1n << 31n) || r.addend >= 1n << 32n)) add(`${at}.addend`, r.addend, 'an i386 REL addend is stored in the 32-bit field and must fit in it');
  });
  img.patchSites.forEach((s, i) => {
    const at = `$.patchSites[${i}]`;
    const sec = img.sections.find((x) => x.name === s.section);
    if (!sec) { add(`${at}.section`, s.section, 'patch site in a section the image does not have'); return; }
    if (!Number.isInteger(s.offset) || s.offset < 0 || s.offset + 3 > sec.bytes.length) { add(`${at}.offset`, s.offset, `3-byte site does not fit in ${s.section}`); return; }
    // SDM: VMCALL 0F 01 C1; APM: VMMCALL 0F 01 D9
    const want = s.insn === 'vmcall' ? [0x0f, 0x01, 0xc1] : s.insn === 'vmmcall' ? [0x0f, 0x01, 0xd9] : undefined;
    if (!want) add(`${at}.insn`, s.insn, 'must be vmcall or vmmcall');
    else if (want.some((b, k) => sec.bytes[s.offset + k] !== b)) {
      add(`${at}.offset`, s.offset, `bytes there are ${hexBytes(sec.bytes.subarray(s.offset, s.offset + 3))}, not ${s.insn} (${hexBytes(Uint8Array.from(want))})`);
    }
    if (!names.has(s.symbol)) add(`${at}.symbol`, s.symbol, 'patch site names a symbol the image does not define');
  });
  // A label inside a relocation field has no place in assembler text (the field is one dd/dq expression).
  img.relocations.forEach((r, i) => {
    const end = r.offset + relocWidth(r);
    img.symbols.forEach((s, k) => {
      if (s.section === r.section && s.offset > r.offset && s.offset < end) add(`$.symbols[${k}].offset`, s.offset, `inside the field of relocation ${i} (${r.section}+${r.offset}..${end})`);
    });
    img.patchSites.forEach((ps, k) => {
      if (ps.section === r.section && ps.offset < end && ps.offset + 3 > r.offset) add(`$.patchSites[${k}].offset`, ps.offset, `overlaps the field of relocation ${i}`);
    });
  });
  if (p.length) throw new AbiError(p);
}

export function hexBytes(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

/** The C/asm-safe identifier for a section name (`.text` -> `text`). */
export function sectionIdent(n: SectionName): string {
  return n.slice(1);
}
