// Flat layout of an Image: sections in order, each at the next multiple of its alignment counted from
// `origin` (the same rule as emit/layout.ts, so toBinary() and the assembler agree on addresses).

import type { Image, SectionName } from '../image.js';

export const SECTION_ORDER: readonly SectionName[] = ['.text', '.rodata', '.data'];

function alignUp(v: bigint, a: number): bigint {
  const A = BigInt(a);
  return ((v + A - 1n) / A) * A;
}

/** Load address of each section when the image is laid out flat from `origin` (nasm `-f bin` with `follows=`). */
export function sectionAddresses(img: Pick<Image, 'sections' | 'origin'>): Map<SectionName, bigint> {
  const out = new Map<SectionName, bigint>();
  let at = 0n;
  for (const s of img.sections) {
    const off = alignUp(at, s.align);
    out.set(s.name, img.origin + off);
    at = off + BigInt(s.bytes.length);
  }
  return out;
}

/** The flat binary: sections concatenated with zero padding for alignment, starting at `origin`. */
export function flatten(img: Pick<Image, 'sections' | 'origin'>): Uint8Array {
  const addrs = sectionAddresses(img);
  const last = img.sections[img.sections.length - 1];
  if (!last) return new Uint8Array(0);
  const size = Number(addrs.get(last.name)! - img.origin) + last.bytes.length;
  const out = new Uint8Array(size);
  for (const s of img.sections) out.set(s.bytes, Number(addrs.get(s.name)! - img.origin));
  return out;
}
