// toNasm / toGas: assembler source that nasm and GNU as turn back into the image's exact bytes.
import type { Image } from '../../image.js';
import { asmSource } from './source.js';

export type { AsmSource, Fallback, Syntax } from './source.js';
export { asmSource };

/** NASM source: `nasm -f bin` gives the flat image, `nasm -f elf64/elf32` an object with the same section bytes. */
export function toNasm(img: Image): string {
  return asmSource(img, 'nasm').text;
}

/** GNU as (AT&T) source: `as --64/--32` gives an object whose sections hold the image's bytes. */
export function toGas(img: Image): string {
  return asmSource(img, 'gas').text;
}

/** Byte fallbacks per syntax, for manifests. */
export function fallbackCounts(img: Image): { nasmFallbacks: number; gasFallbacks: number } {
  return { nasmFallbacks: asmSource(img, 'nasm').fallbacks.length, gasFallbacks: asmSource(img, 'gas').fallbacks.length };
}
