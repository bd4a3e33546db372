// The round trip every assembler-source test uses: our text through nasm (bin, elf + ld) and GNU as (+ ld).
import { expect } from 'vitest';
import { asmSource, toBinary, toElf } from '../../src/emit/index.js';
import type { Image } from '../../src/image.js';
import { Decoder, DecoderOptions, Mnemonic } from 'iced-x86';
import { ldFlat, objdumpInsns, sectionHex, symtab } from './objects.js';
import { decodeText } from '../../src/emit/asm/decode.js';
import { gas, nasm, scratch, writeFileSync } from './tools.js';

const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Run an assembler step; on failure quote the source lines the tool complains about. */
function quoting<T>(src: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    const lines = src.split('\n');
    const msg = String((e as Error).message);
    const cited = [...msg.matchAll(/:(\d+): (?:error|warning|Error|Warning)/g)].map((m) => `  ${m[1]}: ${lines[Number(m[1]) - 1]}`);
    throw new Error(`${msg}\n${cited.join('\n')}`);
  }
}

/** Every way our source is consumed must give the image's bytes back. */
export function checkRoundTrip(img: Image): { nasmFallbacks: number; gasFallbacks: number } {
  const n = asmSource(img, 'nasm');
  const g = asmSource(img, 'gas');
  const fmt = img.bits === 64 ? 'elf64' : 'elf32';
  const external = img.relocations.some((r) => !img.symbols.some((s) => s.name === r.symbol));
  if (!external) {
    const flat = hexOf(toBinary(img));
    const nb = hexOf(quoting(n.text, () => nasm(n.text, 'bin')));
    if (nb !== flat) {
      let k = 0;
      while (k < nb.length && nb[k] === flat[k]) k++;
      const off = Math.floor(k / 2);
      const near = decodeText(img).insns.filter((i) => i.offset <= off).pop();
      throw new Error(`nasm -f bin differs at offset 0x${off.toString(16)} (insn at 0x${near?.offset.toString(16)} ${near?.code}): ours ${flat.slice(near!.offset * 2, (near!.offset + near!.length) * 2)}, nasm ${nb.slice(near!.offset * 2, near!.offset * 2 + 24)}`);
    }
    expect(hexOf(ldFlat(quoting(n.text, () => nasm(n.text, fmt)), img.bits, img.origin)), `nasm -f ${fmt} + ld`).toBe(flat);
    expect(hexOf(ldFlat(quoting(g.text, () => gas(g.text, img.bits)), img.bits, img.origin)), 'as + ld').toBe(flat);
  }
  // object sections hold the same bytes as our own ELF (relocation fields: 0 for RELA, addend for REL)
  const s = scratch();
  try {
    writeFileSync(s.path('ours.o'), toElf(img));
    writeFileSync(s.path('gas.o'), quoting(g.text, () => gas(g.text, img.bits)));
    for (const sec of img.sections) expect(sectionHex(s.path('gas.o'), sec.name), `as: ${sec.name}`).toBe(sectionHex(s.path('ours.o'), sec.name));
    // symbols: GNU as (with .type/.size) gives every image symbol the value, size, type and binding we do;
    // nasm -f elf gives the globals theirs (its locals carry no type or size)
    const ours = symtab(s.path('ours.o'));
    const viaGas = symtab(s.path('gas.o'));
    writeFileSync(s.path('nasm.o'), quoting(n.text, () => nasm(n.text, fmt)));
    const viaNasm = symtab(s.path('nasm.o'));
    for (const sym of img.symbols) {
      expect(viaGas.get(sym.name), `as: symbol ${sym.name}`).toEqual(ours.get(sym.name));
      if (sym.global) expect(viaNasm.get(sym.name), `nasm: symbol ${sym.name}`).toEqual(ours.get(sym.name));
    }
  } finally { s.done(); }
  return { nasmFallbacks: n.fallbacks.length, gasFallbacks: g.fallbacks.length };
}


/** objdump -d of our ELF object finds iced's instruction boundaries and the same mnemonics. */
export function checkObjdump(img: Image): void {
  const s = scratch();
  try {
    writeFileSync(s.path('a.o'), toElf(img));
    const theirs = objdumpInsns(s.path('a.o'));
    const text = img.sections.find((x) => x.name === '.text')!.bytes;
    const dec = new Decoder(img.bits, text, DecoderOptions.None);
    const ours: { offset: number; length: number; mnemonic: string }[] = [];
    while (dec.canDecode) {
      const offset = Number(dec.position);
      const i = dec.decode();
      ours.push({ offset, length: i.length, mnemonic: Mnemonic[i.mnemonic]!.toLowerCase() });
      i.free();
    }
    dec.free();
    expect(theirs.map((x) => [x.offset, x.length])).toEqual(ours.map((x) => [x.offset, x.length]));
    // AT&T mnemonics may carry a size suffix (movl, pushq, retq) and use other names for a few
    const att: Record<string, string[]> = { mov: ['movabs'], movsxd: ['movslq'], movzx: ['movzbl', 'movzwl', 'movzbw', 'movzbq', 'movzwq'], movsx: ['movsbl', 'movswl', 'movsbw', 'movsbq', 'movswq'], cdq: ['cltd'], cqo: ['cqto'], cwde: ['cwtl'], cdqe: ['cltq'], cbw: ['cbtw'], cwd: ['cwtd'], int3: ['int3'], stosd: ['stos'], lodsd: ['lods'], movsd: ['movsl'], stosb: ['stos'], stosq: ['stos'], stosw: ['stos'], lodsb: ['lods'], lodsq: ['lods'], lodsw: ['lods'], movsb: ['movsb'], movsq: ['movsq'], movsw: ['movsw'], scasb: ['scas'], cmpsb: ['cmpsb'], insb: ['insb'], insd: ['insl'], outsb: ['outsb'], outsw: ['outsw'], outsd: ['outsl'] };
    theirs.forEach((t, k) => {
      const m = ours[k]!.mnemonic;
      expect([m, m + 'b', m + 'w', m + 'l', m + 'q', ...(att[m] ?? [])], `at 0x${t.offset.toString(16)}`).toContain(t.mnemonic);
    });
  } finally { s.done(); }
}
