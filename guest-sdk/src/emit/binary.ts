// Flat binary: sections laid out at img.origin (see layout.ts), every relocation resolved in place.
import { AbiError, type Problem } from '@pvkit/shared-abi';
import type { Image } from '../image.js';
import { externalSymbols, layout, sectionBase, symbolMap, validateImage } from './layout.js';
import { fieldUseFromCode } from './elf/field-use.js';

const U64 = 1n << 64n;

/** Absolute load address of a symbol defined in the image. */
export function symbolAddress(img: Image, name: string): bigint {
  validateImage(img);
  const sym = symbolMap(img).get(name);
  if (!sym) throw new AbiError([{ path: 'symbol', value: name, message: 'not defined in the image' }]);
  return img.origin + BigInt((sectionBase(layout(img), sym.section) ?? 0) + sym.offset);
}

/**
 * The image as it sits in memory at img.origin: .text, .rodata, .data in that order, each aligned (gaps are
 * zero), relocations resolved. References to symbols outside the image cannot be resolved and are an error.
 */
export function toBinary(img: Image): Uint8Array {
  validateImage(img);
  const ext = externalSymbols(img);
  if (ext.length) {
    throw new AbiError(ext.map((n) => ({
      path: `$.relocations[${img.relocations.findIndex((r) => r.symbol === n)}].symbol`,
      value: n,
      message: 'external symbol: a flat binary cannot resolve it (emit ELF and link instead)',
    })));
  }
  const lay = layout(img);
  const out = new Uint8Array(lay.size);
  for (const p of lay.sections) out.set(p.section.bytes, p.base);
  const syms = symbolMap(img);
  const view = new DataView(out.buffer);
  const problems: Problem[] = [];
  const use = img.bits === 64 && img.relocations.some((r) => r.kind === 'abs32') ? fieldUseFromCode(img) : undefined;
  img.relocations.forEach((r, i) => {
    const sym = syms.get(r.symbol)!;
    const S = img.origin + BigInt(sectionBase(lay, sym.section)! + sym.offset);
    const at = sectionBase(lay, r.section)! + r.offset;
    const P = img.origin + BigInt(at);
    const path = `$.relocations[${i}]`;
    if (r.kind === 'abs64') {
      const v = S + r.addend;
      if (v < 0n || v >= U64) problems.push({ path, value: v, message: 'S + A does not fit in 64 bits' });
      else view.setBigUint64(at, v, true);
    } else if (r.kind === 'abs32') {
      const v = S + r.addend;
      // The CPU zero-extends some 32-bit fields and sign-extends others (disp32, imm32 of a 64-bit
      // operation: R_X86_64_32S); the value must survive the extension the instruction applies.
      const sext = use?.(r) === 'signExtended';
      const ok = sext ? v < 1n << 31n || (v >= U64 - (1n << 31n) && v < U64) : v >= 0n && v < 1n << 32n;
      if (!ok) problems.push({ path, value: v, message: `S + A (${r.symbol}) does not fit in a ${sext ? 'sign' : 'zero'}-extended 32-bit field` });
      else view.setUint32(at, Number(v & 0xffff_ffffn), true);
    } else {
      const v = S + r.addend - P;
      if (v < -(1n << 31n) || v >= 1n << 31n) problems.push({ path, value: v, message: `S + A - P (${r.symbol}) does not fit in a signed 32-bit displacement` });
      else view.setInt32(at, Number(v), true);
    }
  });
  if (problems.length) throw new AbiError(problems);
  return out;
}
