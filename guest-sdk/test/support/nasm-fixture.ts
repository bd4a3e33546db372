// Test images whose bytes and symbol offsets come from the real nasm (-f bin with a map file), not from
// literals: the fixture source is the single truth and nasm's flat output is the expected toBinary().
import { readFileSync, writeFileSync } from 'node:fs';
import type { Image, PatchSite, Relocation, Section, SectionName, SymbolDef } from '../../src/image.js';
import { run, scratch } from './tools.js';

export interface NasmFlat {
  /** nasm's whole flat output (sections at their aligned starts from origin). */
  readonly flat: Uint8Array;
  readonly sections: Section[];
  /** Every label nasm reports: section and section-relative offset. */
  readonly labels: Map<string, { section: SectionName; offset: number }>;
  /** Absolute addresses from nasm's map ("Real" column). */
  readonly addresses: Map<string, bigint>;
}

/** Assemble `body` (with `section .text|.rodata|.data` lines) at `origin` as nasm -f bin and read the map. */
export function nasmFlat(bits: 64 | 32, origin: bigint, body: string, aligns: Partial<Record<SectionName, number>> = {}): NasmFlat {
  const s = scratch();
  try {
    const al = { '.text': 16, '.rodata': 8, '.data': 16, ...aligns };
    const head = [
      `bits ${bits}`, `org 0x${origin.toString(16)}`, `[map all ${s.path('a.map')}]`,
      `section .text align=${al['.text']}`,
      `section .rodata align=${al['.rodata']} follows=.text`,
      `section .data align=${al['.data']} follows=.rodata`,
      'section .text',
    ].join('\n');
    writeFileSync(s.path('a.asm'), head + '\n' + body + '\n');
    run('nasm', ['-f', 'bin', '-o', s.path('a.bin'), s.path('a.asm')]);
    const flat = new Uint8Array(readFileSync(s.path('a.bin')));
    const map = readFileSync(s.path('a.map'), 'utf8');
    const sections: Section[] = [];
    const starts = new Map<string, number>();
    for (const m of map.matchAll(/^\s+([0-9A-F]+)\s+([0-9A-F]+)\s+([0-9A-F]+)\s+([0-9A-F]+)\s+progbits\s+(\S+)$/gm)) {
      const name = m[5] as SectionName;
      const start = Number(BigInt('0x' + m[2]) - origin);
      const len = parseInt(m[4]!, 16);
      starts.set(name, start);
      if (len > 0) sections.push({ name, bytes: flat.slice(start, start + len), align: al[name] });
    }
    const labels = new Map<string, { section: SectionName; offset: number }>();
    const addresses = new Map<string, bigint>();
    for (const block of map.split(/^---- Section /m).slice(1)) {
      const sec = /^(\S+)/.exec(block)![1] as SectionName;
      if (!block.includes('Real')) continue;
      for (const m of block.matchAll(/^\s+([0-9A-F]+)\s+([0-9A-F]+)\s+(\S+)$/gm)) {
        addresses.set(m[3]!, BigInt('0x' + m[1]));
        labels.set(m[3]!, { section: sec, offset: Number(BigInt('0x' + m[1]) - origin) - starts.get(sec)! });
      }
    }
    return { flat, sections, labels, addresses };
  } finally { s.done(); }
}

export interface FixtureSpec {
  /** Symbols: name -> kind/global; size from the `NAME.end` label when present. */
  readonly symbols: Record<string, { kind: SymbolDef['kind']; global: boolean }>;
  /** Relocations whose field position is label + delta (e.g. a label right after the instruction, delta -4). */
  readonly relocs?: { at: string; delta: number; kind: Relocation['kind']; symbol: string; addend: bigint }[];
  /** Patch sites at labels. */
  readonly patches?: { at: string; insn: PatchSite['insn']; symbol: string }[];
  /** Zero each relocation field in the image (so the emitter must fill it); default true. */
  readonly zeroFields?: boolean;
}

export function imageFrom(bits: 64 | 32, origin: bigint, f: NasmFlat, spec: FixtureSpec, meta?: Image['meta']): Image {
  const at = (n: string) => {
    const l = f.labels.get(n);
    if (!l) throw new Error(`fixture: nasm map has no label ${n}`);
    return l;
  };
  const symbols: SymbolDef[] = Object.entries(spec.symbols).map(([name, d]) => {
    const l = at(name);
    const end = f.labels.get(`${name}.end`);
    return { name, section: l.section, offset: l.offset, size: end ? end.offset - l.offset : 0, kind: d.kind, global: d.global };
  });
  const relocations: Relocation[] = (spec.relocs ?? []).map((r) => {
    const l = at(r.at);
    return { section: l.section, offset: l.offset + r.delta, kind: r.kind, symbol: r.symbol, addend: r.addend };
  });
  const sections = f.sections.map((s) => ({ ...s, bytes: Uint8Array.from(s.bytes) }));
  if (spec.zeroFields !== false) {
    for (const r of relocations) sections.find((s) => s.name === r.section)!.bytes.fill(0, r.offset, r.offset + (r.kind === 'abs64' ? 8 : 4));
  }
  const patchSites: PatchSite[] = (spec.patches ?? []).map((p) => ({ section: at(p.at).section, offset: at(p.at).offset, insn: p.insn, symbol: p.symbol }));
  return { bits, origin, sections, symbols, relocations, patchSites, ...(meta ? { meta } : {}) };
}
