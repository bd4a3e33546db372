// Readable hex dump: per section, lines of up to 16 bytes with the load address, broken at every symbol
// so each symbol's bytes start on their own line under its name; relocations and patch sites annotated.
import type { Image, SymbolDef } from '../image.js';
import { layout, validateImage } from './layout.js';

const PER_LINE = 16;

function addr(v: bigint, bits: 64 | 32): string {
  return v.toString(16).padStart(bits === 64 ? 16 : 8, '0');
}

function ascii(b: Uint8Array): string {
  return Array.from(b, (x) => (x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : '.')).join('');
}

function describe(s: SymbolDef): string {
  return `${s.global ? 'global' : 'local'} ${s.kind}, ${s.size} bytes`;
}

function addendText(a: bigint): string {
  return a === 0n ? '' : a < 0n ? `-0x${(-a).toString(16)}` : `+0x${a.toString(16)}`;
}

/** Hex dump of the image as stored (relocation fields unresolved), addresses as laid out at img.origin. */
export function toHex(img: Image): string {
  validateImage(img);
  const lay = layout(img);
  const out: string[] = [`; pvkit image: ${img.bits}-bit, origin 0x${img.origin.toString(16)}, ${lay.size} bytes`];
  for (const { section: sec, base } of lay.sections) {
    const start = img.origin + BigInt(base);
    out.push('', `${sec.name}  at 0x${start.toString(16)}, ${sec.bytes.length} bytes, align ${sec.align}`);
    const syms = img.symbols.filter((s) => s.section === sec.name).sort((a, b) => a.offset - b.offset);
    const breaks = new Set(syms.map((s) => s.offset));
    const notes = new Map<number, string[]>();
    const note = (off: number, t: string) => notes.set(off, [...(notes.get(off) ?? []), t]);
    for (const r of img.relocations.filter((x) => x.section === sec.name)) note(r.offset, `reloc ${r.kind} ${r.symbol}${addendText(r.addend)}`);
    for (const p of img.patchSites.filter((x) => x.section === sec.name)) note(p.offset, `patch site ${p.insn} (${p.symbol})`);
    let off = 0;
    while (off < sec.bytes.length || syms.some((s) => s.offset === off)) {
      for (const s of syms.filter((x) => x.offset === off)) out.push(`${s.name}:  ; ${describe(s)}`);
      if (off >= sec.bytes.length) break;
      let end = Math.min(off + PER_LINE, sec.bytes.length);
      for (let k = off + 1; k < end; k++) if (breaks.has(k)) { end = k; break; }
      const chunk = sec.bytes.subarray(off, end);
      const hex = Array.from(chunk, (x) => x.toString(16).padStart(2, '0')).join(' ').padEnd(PER_LINE * 3 - 1);
      const here: string[] = [];
      for (let k = off; k < end; k++) for (const t of notes.get(k) ?? []) here.push(`+${k - off}: ${t}`);
      out.push(`  ${addr(start + BigInt(off), img.bits)}  ${hex}  |${ascii(chunk).padEnd(PER_LINE)}|${here.length ? '  ; ' + here.join('; ') : ''}`);
      off = end;
    }
  }
  return out.join('\n') + '\n';
}
