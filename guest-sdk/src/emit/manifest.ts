// JSON manifest: everything a build system or a host needs to know about an image, with a fixed key order
// (objects are built field by field, never from input key order) so equal images give equal text.
import { createHash } from 'node:crypto';
import type { Image } from '../image.js';
import { toBinary } from './binary.js';
import { fallbackCounts } from './asm/index.js';
import { SECTION_ORDER, externalSymbols, layout, sectionBase, validateImage } from './layout.js';

export interface ManifestOptions {
  /** Extra counters to record next to the NASM/GAS byte-fallback counts (always computed), sorted by key. */
  readonly counts?: Readonly<Record<string, number>>;
}

const hex = (v: bigint) => (v < 0n ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}`);

/** Plain JSON value with object keys sorted (for free-form meta). */
function sorted(v: unknown): unknown {
  if (typeof v === 'bigint') return hex(v);
  if (Array.isArray(v)) return v.map(sorted);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return Object.fromEntries(Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => [k, sorted(o[k])]));
  }
  return v;
}

export function toManifest(img: Image, opts: ManifestOptions = {}): string {
  validateImage(img);
  const lay = layout(img);
  const addrOf = (sec: (typeof SECTION_ORDER)[number], off: number) => hex(img.origin + BigInt(sectionBase(lay, sec)! + off));
  const rank = (s: string) => SECTION_ORDER.indexOf(s as (typeof SECTION_ORDER)[number]);
  const meta = img.meta ?? {};
  const { abi, abiVersion, strategy, ...rest } = meta;
  const m = {
    format: 'pvkit-image-manifest',
    formatVersion: 1,
    abi: { name: abi ?? null, version: abiVersion ?? null },
    strategy: strategy ?? null,
    bits: img.bits,
    origin: hex(img.origin),
    size: lay.size,
    // sections' sha256 are of the stored bytes (relocation fields unresolved); this one is of toBinary()
    flatSha256: externalSymbols(img).length ? null : createHash('sha256').update(toBinary(img)).digest('hex'),
    sections: lay.sections.map(({ section: s, base }) => ({
      name: s.name,
      offset: base,
      address: hex(img.origin + BigInt(base)),
      size: s.bytes.length,
      align: s.align,
      sha256: createHash('sha256').update(s.bytes).digest('hex'),
    })),
    symbols: [...img.symbols]
      .sort((a, b) => rank(a.section) - rank(b.section) || a.offset - b.offset || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((s) => ({ name: s.name, section: s.section, offset: s.offset, address: addrOf(s.section, s.offset), size: s.size, kind: s.kind, global: s.global })),
    patchSites: [...img.patchSites]
      .sort((a, b) => rank(a.section) - rank(b.section) || a.offset - b.offset)
      .map((p) => ({ section: p.section, offset: p.offset, address: addrOf(p.section, p.offset), insn: p.insn, symbol: p.symbol })),
    relocations: [...img.relocations]
      .sort((a, b) => rank(a.section) - rank(b.section) || a.offset - b.offset)
      .map((r) => ({ section: r.section, offset: r.offset, kind: r.kind, symbol: r.symbol, addend: hex(r.addend) })),
    externals: externalSymbols(img).sort(),
    counts: sorted({ ...fallbackCounts(img), ...opts.counts }),
    meta: sorted(rest),
  };
  return JSON.stringify(m, null, 2) + '\n';
}
