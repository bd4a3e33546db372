// Reading objects back with binutils: section contents, and the flat image ld makes of an object.
import { readFileSync } from 'node:fs';
import { run, scratch, writeFileSync } from './tools.js';

/** Section bytes of an object file as hex (objdump -s), '' when the section is absent or empty. */
export function sectionHex(file: string, name: string): string {
  const r = run('objdump', ['-s', '-j', name, file]);
  return [...r.stdout.matchAll(/^ [0-9a-f]+ ((?:[0-9a-f]{2,8} ?){1,4})/gm)].map((m) => m[1]!.replace(/ /g, '')).join('');
}

/** Link an object with ld at `origin`, .text/.rodata/.data in order, and return the flat bytes. */
export function ldFlat(obj: Uint8Array, bits: 64 | 32, origin: bigint): Uint8Array {
  const s = scratch();
  try {
    writeFileSync(s.path('a.o'), obj);
    writeFileSync(s.path('link.ld'), `SECTIONS { . = 0x${origin.toString(16)}; .text : { *(.text) } .rodata : { *(.rodata) } .data : { *(.data) } /DISCARD/ : { *(*) } }\n`);
    run('ld', ['-m', bits === 64 ? 'elf_x86_64' : 'elf_i386', '-T', s.path('link.ld'), '--oformat', 'binary', '-o', s.path('a.bin'), s.path('a.o')]);
    return new Uint8Array(readFileSync(s.path('a.bin')));
  } finally { s.done(); }
}

const PREFIX_WORDS = new Set(['lock', 'rep', 'repz', 'repnz', 'repe', 'repne', 'data16', 'addr32', 'addr16', 'cs', 'ds', 'es', 'ss', 'fs', 'gs', 'notrack', 'bnd', 'rex', 'rex.W']);

/** objdump -d of one section: [offset, length, mnemonic] per instruction (objdump's own decoding). */
export function objdumpInsns(file: string, section = '.text'): { offset: number; length: number; mnemonic: string }[] {
  const out: { offset: number; length: number; mnemonic: string }[] = [];
  const lines = run('objdump', ['-d', '-w', '-j', section, file]).stdout.split('\n');
  for (const l of lines) {
    const m = /^\s+([0-9a-f]+):\t((?:[0-9a-f]{2} )+)\s*\t?(.*)$/.exec(l);
    if (!m) continue;
    // the first word that is not a prefix (lock, rep, data16, ...)
    const words = m[3]!.split(/\s+/).filter((w) => w && !PREFIX_WORDS.has(w));
    out.push({ offset: parseInt(m[1]!, 16), length: m[2]!.trim().split(' ').length, mnemonic: words[0] ?? '' });
  }
  return out;
}

export interface SymRow { readonly value: number; readonly size: number; readonly type: string; readonly bind: string; readonly ndx: string }

/** readelf -sW: named symbols of an object (section symbols and unnamed entries left out), ndx as a section name. */
export function symtab(file: string): Map<string, SymRow> {
  const out = new Map<string, SymRow>();
  const secName = new Map<string, string>();
  for (const m of run('readelf', ['-SW', file]).stdout.matchAll(/^\s+\[\s*(\d+)\] (\S+)/gm)) secName.set(m[1]!, m[2]!);
  for (const l of run('readelf', ['-sW', file]).stdout.split('\n')) {
    const m = /^\s+\d+: ([0-9a-f]+)\s+(\d+)\s+(\w+)\s+(\w+)\s+\w+\s+(\w+)\s+(\S+)$/.exec(l);
    if (m && m[3] !== 'SECTION' && m[3] !== 'FILE') out.set(m[6]!, { value: parseInt(m[1]!, 16), size: Number(m[2]), type: m[3]!, bind: m[4]!, ndx: secName.get(m[5]!) ?? m[5]! });
  }
  return out;
}
