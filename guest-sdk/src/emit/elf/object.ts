// Image -> ELF relocatable object. x86-64: ELFCLASS64, EM_X86_64, RELA. i386: ELFCLASS32, EM_386, REL with
// the addend stored in the field. Symbols: null, section symbols, locals, then globals (gABI: locals first,
// sh_info of .symtab = first non-local index), externals as undefined globals.
import { AbiError } from '@pvkit/shared-abi';
import type { Image, Relocation, SectionName } from '../../image.js';
import { orderedSections, symbolMap, validateImage } from '../layout.js';
import * as C from './constants.js';
import { fieldUseFromCode } from './field-use.js';
import { StrTab, relBytes, symtabBytes, writeElf, type ElfRel, type ElfSection, type ElfSymbol } from './writer.js';

/** What the instruction around a relocation field does with it; decides R_X86_64_32 vs 32S and PC32 vs PLT32. */
export type FieldUse = 'branch' | 'signExtended' | 'zeroExtended' | 'other';

export interface ElfOptions {
  /** How each relocation's field is used (see reloc-fields.ts); default: decode .text with iced-x86. */
  readonly fieldUse?: (r: Relocation) => FieldUse;
}

/** Name of the patch-site table section; entries described in toElf's doc comment. */
export const PATCH_SECTION = '.pvkit.patch_sites';

const SECTION_FLAGS: Record<SectionName, number> = {
  '.text': C.SHF_ALLOC | C.SHF_EXECINSTR, // gas: "ax"
  '.rodata': C.SHF_ALLOC, // "a"
  '.data': C.SHF_ALLOC | C.SHF_WRITE, // "aw"
};

// SDM VMCALL 0F 01 C1, APM VMMCALL 0F 01 D9: third byte
const INSN_BYTE = { vmcall: 0xc1, vmmcall: 0xd9 } as const;

interface PendingRel { section: string; offset: number; sym: number; type: number; addend: bigint }

/**
 * ELF relocatable object of the image.
 *
 * `.pvkit.patch_sites` (SHF_ALLOC, word-aligned) holds one entry per patch site, so a linked kernel finds
 * them at run time the way Linux finds `.parainstructions`:
 * 64-bit: `{ uint64_t addr; uint8_t insn; uint8_t len; uint16_t pad; uint32_t pad; }` (16 bytes),
 * 32-bit: `{ uint32_t addr; uint8_t insn; uint8_t len; uint16_t pad; }` (8 bytes),
 * where addr is relocated to the site, insn is 0xC1 (VMCALL) or 0xD9 (VMMCALL) and len is 3.
 */
export function toElf(img: Image, opts: ElfOptions = {}): Uint8Array {
  validateImage(img);
  const bits = img.bits;
  const Z = C.SIZES[bits];
  const fieldUse = opts.fieldUse ?? fieldUseFromCode(img);
  const secs = orderedSections(img);
  const hasPatch = img.patchSites.length > 0;

  // Symbols (1-based in the table; index 0 is the null symbol).
  const syms: ElfSymbol[] = [];
  const shndxOf = new Map<string, number>(); // section name -> ELF section index (filled below)
  // Section indexes: progbits sections and their relocation sections are interleaved; compute up front.
  const relocsIn = (n: string) => img.relocations.filter((r) => r.section === n);
  const order: string[] = [];
  for (const s of secs) { order.push(s.name); if (relocsIn(s.name).length) order.push(relName(bits, s.name)); }
  if (hasPatch) order.push(PATCH_SECTION, relName(bits, PATCH_SECTION));
  order.push('.note.GNU-stack', '.symtab', '.strtab', '.shstrtab');
  order.forEach((n, i) => shndxOf.set(n, i + 1));

  const sectionSym = new Map<string, number>();
  for (const n of [...secs.map((s) => s.name), ...(hasPatch ? [PATCH_SECTION] : [])]) {
    syms.push({ name: '', bind: C.STB_LOCAL, type: C.STT_SECTION, shndx: shndxOf.get(n)!, value: 0n, size: 0n });
    sectionSym.set(n, syms.length);
  }
  const stt = { func: C.STT_FUNC, object: C.STT_OBJECT, notype: C.STT_NOTYPE } as const;
  const symIndex = new Map<string, number>();
  for (const global of [false, true]) {
    for (const s of img.symbols.filter((x) => x.global === global)) {
      syms.push({ name: s.name, bind: global ? C.STB_GLOBAL : C.STB_LOCAL, type: stt[s.kind], shndx: shndxOf.get(s.section)!, value: BigInt(s.offset), size: BigInt(s.size) });
      symIndex.set(s.name, syms.length);
    }
  }
  const firstGlobal = 1 + syms.filter((s) => s.bind === C.STB_LOCAL).length;
  const defined = symbolMap(img);
  for (const r of img.relocations) {
    if (defined.has(r.symbol) || symIndex.has(r.symbol)) continue;
    syms.push({ name: r.symbol, bind: C.STB_GLOBAL, type: C.STT_NOTYPE, shndx: C.SHN_UNDEF, value: 0n, size: 0n });
    symIndex.set(r.symbol, syms.length);
  }

  // Relocations. Local targets go through the section symbol (as GNU as does), globals and externals by name.
  const data = new Map<string, Uint8Array>(secs.map((s) => [s.name, Uint8Array.from(s.bytes)]));
  const rels: PendingRel[] = img.relocations.map((r, i) => {
    const def = defined.get(r.symbol);
    const viaSection = def !== undefined && !def.global;
    const sym = viaSection ? sectionSym.get(def.section)! : symIndex.get(r.symbol)!;
    const addend = r.addend + (viaSection ? BigInt(def.offset) : 0n);
    const type = relocType(bits, r, def === undefined, fieldUse(r), i);
    return { section: r.section, offset: r.offset, sym, type, addend };
  });
  let patchData = new Uint8Array(0);
  if (hasPatch) {
    const ent = bits === 64 ? 16 : 8;
    patchData = new Uint8Array(ent * img.patchSites.length);
    img.patchSites.forEach((p, k) => {
      patchData[k * ent + Z.word] = INSN_BYTE[p.insn];
      patchData[k * ent + Z.word + 1] = 3;
      rels.push({ section: PATCH_SECTION, offset: k * ent, sym: sectionSym.get(p.section)!, type: bits === 64 ? C.R_X86_64_64 : C.R_386_32, addend: BigInt(p.offset) });
    });
    data.set(PATCH_SECTION, patchData);
  }
  // REL (i386): the addend lives in the field. RELA (x86-64): the field is zero, as GNU as leaves it.
  for (const r of rels) {
    const buf = data.get(r.section)!;
    const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    if (bits === 32) v.setUint32(r.offset, Number(BigInt.asUintN(32, r.addend)), true);
    else if (r.type === C.R_X86_64_64) v.setBigUint64(r.offset, 0n, true);
    else v.setUint32(r.offset, 0, true);
  }

  const strtab = new StrTab();
  const shstr = new StrTab();
  const symtabIdx = shndxOf.get('.symtab')!;
  const out: ElfSection[] = [];
  for (const n of order) {
    const sec = secs.find((s) => s.name === n);
    if (sec) { out.push({ name: n, type: C.SHT_PROGBITS, flags: SECTION_FLAGS[sec.name], data: data.get(n)!, align: sec.align }); continue; }
    if (n === PATCH_SECTION) { out.push({ name: n, type: C.SHT_PROGBITS, flags: C.SHF_ALLOC, data: patchData, align: Z.word }); continue; }
    const target = [...secs.map((s) => s.name), PATCH_SECTION].find((t) => relName(bits, t) === n);
    if (target) {
      const list: ElfRel[] = rels.filter((r) => r.section === target).sort((a, b) => a.offset - b.offset)
        .map((r) => ({ offset: BigInt(r.offset), sym: r.sym, type: r.type, addend: r.addend }));
      out.push({ name: n, type: bits === 64 ? C.SHT_RELA : C.SHT_REL, flags: C.SHF_INFO_LINK, data: relBytes(bits, list), align: Z.word, link: symtabIdx, info: shndxOf.get(target)!, entsize: Z.rel });
      continue;
    }
    if (n === '.note.GNU-stack') out.push({ name: n, type: C.SHT_PROGBITS, flags: 0, data: new Uint8Array(0), align: 1 }); // no SHF_EXECINSTR: non-executable stack
    else if (n === '.symtab') out.push({ name: n, type: C.SHT_SYMTAB, flags: 0, data: symtabBytes(bits, syms, strtab), align: Z.word, link: shndxOf.get('.strtab')!, info: firstGlobal, entsize: Z.sym });
    else if (n === '.strtab') out.push({ name: n, type: C.SHT_STRTAB, flags: 0, data: strtab.bytes(), align: 1 });
    else if (n === '.shstrtab') out.push({ name: n, type: C.SHT_STRTAB, flags: 0, data: new Uint8Array(0), align: 1 });
  }
  return writeElf(bits, bits === 64 ? C.EM_X86_64 : C.EM_386, out, shndxOf.get('.shstrtab')!, shstr);
}

function relName(bits: 64 | 32, section: string): string {
  return (bits === 64 ? '.rela' : '.rel') + section;
}

function relocType(bits: 64 | 32, r: Relocation, external: boolean, use: FieldUse, i: number): number {
  if (bits === 32) {
    if (r.kind === 'abs32') return C.R_386_32;
    if (r.kind === 'pc32') return C.R_386_PC32; // non-PIC i386 calls to externals use PC32 (as does gas)
    throw new AbiError([{ path: `$.relocations[${i}].kind`, value: r.kind, message: 'no 64-bit relocation in i386 ELF' }]);
  }
  if (r.kind === 'abs64') return C.R_X86_64_64;
  // psABI 4.4: calls/jumps to symbols that may be defined elsewhere use PLT32 (what GNU as emits)
  if (r.kind === 'pc32') return external && use === 'branch' ? C.R_X86_64_PLT32 : C.R_X86_64_PC32;
  return use === 'signExtended' ? C.R_X86_64_32S : C.R_X86_64_32;
}

