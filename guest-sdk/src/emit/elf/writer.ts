// Serialises an ELF relocatable file (ELF64 or ELF32, little-endian) from a list of sections whose
// contents are already built. Knows the byte layout only; deciding what goes in is object.ts's job.
import * as C from './constants.js';

export interface ElfSection {
  readonly name: string;
  readonly type: number;
  readonly flags: number;
  readonly data: Uint8Array;
  readonly align: number;
  readonly link?: number;
  readonly info?: number;
  readonly entsize?: number;
}

export interface ElfSymbol {
  readonly name: string;
  readonly bind: number;
  readonly type: number;
  readonly shndx: number;
  readonly value: bigint;
  readonly size: bigint;
}

export interface ElfRel {
  readonly offset: bigint;
  readonly sym: number;
  readonly type: number;
  /** Written for RELA only; REL keeps the addend in the patched field. */
  readonly addend: bigint;
}

/** String table builder: offset 0 is the empty string (gABI "String Table"). */
export class StrTab {
  private readonly parts: Uint8Array[] = [new Uint8Array(1)];
  private readonly index = new Map<string, number>([['', 0]]);
  private size = 1;
  add(s: string): number {
    const had = this.index.get(s);
    if (had !== undefined) return had;
    const b = new TextEncoder().encode(s + '\0');
    const at = this.size;
    this.parts.push(b);
    this.index.set(s, at);
    this.size += b.length;
    return at;
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.parts) { out.set(p, at); at += p.length; }
    return out;
  }
}

export function symtabBytes(bits: 64 | 32, syms: readonly ElfSymbol[], strtab: StrTab): Uint8Array {
  const z = C.SIZES[bits].sym;
  const out = new Uint8Array(z * (syms.length + 1)); // entry 0 is the null symbol
  const v = new DataView(out.buffer);
  syms.forEach((s, k) => {
    const o = z * (k + 1);
    const info = (s.bind << 4) | (s.type & 0xf); // gABI ELF64_ST_INFO(b, t)
    v.setUint32(o, strtab.add(s.name), true);
    if (bits === 64) {
      out[o + 4] = info; out[o + 5] = C.STV_DEFAULT;
      v.setUint16(o + 6, s.shndx, true);
      v.setBigUint64(o + 8, s.value, true);
      v.setBigUint64(o + 16, s.size, true);
    } else {
      v.setUint32(o + 4, Number(s.value), true);
      v.setUint32(o + 8, Number(s.size), true);
      out[o + 12] = info; out[o + 13] = C.STV_DEFAULT;
      v.setUint16(o + 14, s.shndx, true);
    }
  });
  return out;
}

/** Elf64_Rela entries (64) or Elf32_Rel entries (32). */
export function relBytes(bits: 64 | 32, rels: readonly ElfRel[]): Uint8Array {
  const z = C.SIZES[bits].rel;
  const out = new Uint8Array(z * rels.length);
  const v = new DataView(out.buffer);
  rels.forEach((r, k) => {
    const o = z * k;
    if (bits === 64) {
      v.setBigUint64(o, r.offset, true);
      v.setBigUint64(o + 8, (BigInt(r.sym) << 32n) | BigInt(r.type), true); // ELF64_R_INFO
      v.setBigInt64(o + 16, r.addend, true);
    } else {
      v.setUint32(o, Number(r.offset), true);
      v.setUint32(o + 4, ((r.sym << 8) | (r.type & 0xff)) >>> 0, true); // ELF32_R_INFO
    }
  });
  return out;
}

/** Lay out header, section contents (each aligned) and the section header table; index 0 is SHT_NULL. */
export function writeElf(bits: 64 | 32, machine: number, sections: readonly ElfSection[], shstrndx: number, shstr: StrTab): Uint8Array {
  const Z = C.SIZES[bits];
  const names = sections.map((s) => shstr.add(s.name));
  // shstrtab must contain every name before its bytes are taken; the caller passes it as a placeholder.
  const datas = sections.map((s, i) => (i + 1 === shstrndx ? shstr.bytes() : s.data));
  const offsets: number[] = [];
  let at = Z.ehdr;
  datas.forEach((d, i) => {
    const a = Math.max(1, sections[i]!.align);
    at = Math.ceil(at / a) * a;
    offsets.push(at);
    at += d.length;
  });
  const shoff = Math.ceil(at / Z.word) * Z.word;
  const total = shoff + Z.shdr * (sections.length + 1);
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  datas.forEach((d, i) => out.set(d, offsets[i]!));
  // e_ident
  out.set(C.ELFMAG, 0);
  out[4] = bits === 64 ? C.ELFCLASS64 : C.ELFCLASS32;
  out[5] = C.ELFDATA2LSB;
  out[6] = C.EV_CURRENT;
  out[7] = C.ELFOSABI_SYSV;
  v.setUint16(16, C.ET_REL, true);
  v.setUint16(18, machine, true);
  v.setUint32(20, C.EV_CURRENT, true);
  if (bits === 64) {
    v.setBigUint64(24, 0n, true); // e_entry
    v.setBigUint64(32, 0n, true); // e_phoff
    v.setBigUint64(40, BigInt(shoff), true);
    v.setUint32(48, 0, true); // e_flags
    v.setUint16(52, Z.ehdr, true);
    v.setUint16(54, 0, true); v.setUint16(56, 0, true); // e_phentsize, e_phnum
    v.setUint16(58, Z.shdr, true);
    v.setUint16(60, sections.length + 1, true);
    v.setUint16(62, shstrndx, true);
  } else {
    v.setUint32(24, 0, true); v.setUint32(28, 0, true);
    v.setUint32(32, shoff, true);
    v.setUint32(36, 0, true);
    v.setUint16(40, Z.ehdr, true);
    v.setUint16(42, 0, true); v.setUint16(44, 0, true);
    v.setUint16(46, Z.shdr, true);
    v.setUint16(48, sections.length + 1, true);
    v.setUint16(50, shstrndx, true);
  }
  sections.forEach((s, i) => {
    const o = shoff + Z.shdr * (i + 1);
    const size = datas[i]!.length;
    if (bits === 64) {
      v.setUint32(o, names[i]!, true); v.setUint32(o + 4, s.type, true);
      v.setBigUint64(o + 8, BigInt(s.flags), true); v.setBigUint64(o + 16, 0n, true);
      v.setBigUint64(o + 24, BigInt(offsets[i]!), true); v.setBigUint64(o + 32, BigInt(size), true);
      v.setUint32(o + 40, s.link ?? 0, true); v.setUint32(o + 44, s.info ?? 0, true);
      v.setBigUint64(o + 48, BigInt(s.align), true); v.setBigUint64(o + 56, BigInt(s.entsize ?? 0), true);
    } else {
      v.setUint32(o, names[i]!, true); v.setUint32(o + 4, s.type, true);
      v.setUint32(o + 8, s.flags, true); v.setUint32(o + 12, 0, true);
      v.setUint32(o + 16, offsets[i]!, true); v.setUint32(o + 20, size, true);
      v.setUint32(o + 24, s.link ?? 0, true); v.setUint32(o + 28, s.info ?? 0, true);
      v.setUint32(o + 32, s.align, true); v.setUint32(o + 36, s.entsize ?? 0, true);
    }
  });
  return out;
}
