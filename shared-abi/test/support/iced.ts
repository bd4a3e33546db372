// Optional iced-x86 disassembly (COMMON.md lists it as available; when the package is not installed the
// tests that need it skip with a printed reason and the objdump check still runs).
/* eslint-disable @typescript-eslint/no-explicit-any */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let iced: any;
let icedWhy = '';
try {
  iced = require('iced-x86');
} catch (e) {
  icedWhy = `iced-x86 is not installed (${(e as Error).message.split('\n')[0]})`;
}
export const hasIced = iced !== undefined;
export const icedMissingReason = icedWhy;

/** Decodes bytes with iced-x86 and formats each instruction in NASM syntax. */
export function icedDisasm(bytes: Uint8Array, bits: 64 | 32): { offset: number; length: number; text: string }[] {
  const { Decoder, DecoderOptions, Formatter, FormatterSyntax } = iced;
  const decoder = new Decoder(bits, bytes, DecoderOptions.None);
  const formatter = new Formatter(FormatterSyntax.Nasm);
  const out: { offset: number; length: number; text: string }[] = [];
  try {
    const instrs = decoder.decodeAll();
    let off = 0;
    for (const ins of instrs) {
      out.push({ offset: off, length: ins.length, text: String(formatter.format(ins)).replace(/\s+/g, ' ').trim() });
      off += ins.length;
      ins.free();
    }
  } finally {
    formatter.free();
    decoder.free();
  }
  return out;
}
