import { describe, expect, it } from 'vitest';
import { AbiError } from '@pvkit/shared-abi';
import { toBinary, toElf, symbolAddress, validateImage } from '../src/emit/index.js';
import type { Image } from '../src/image.js';
import { externalCaller, program, ORIGIN } from './support/programs.js';
import { hasLd, hasNasm, warnMissing } from './support/tools.js';
import { ldFlat } from './support/objects.js';

const noNasm = warnMissing('nasm', hasNasm);

describe.skipIf(noNasm)('toBinary', () => {
  for (const bits of [64, 32] as const) {
    it(`${bits}-bit: equals nasm -f bin output (layout, alignment, relocations resolved)`, () => {
      const { img, nasm } = program(bits);
      // the fixture zeroed every relocation field, so equality means toBinary recomputed each one
      expect(img.relocations.length).toBeGreaterThan(3);
      expect(Buffer.from(toBinary(img)).toString('hex')).toBe(Buffer.from(nasm.flat).toString('hex'));
    });

    it(`${bits}-bit: symbolAddress matches the nasm map`, () => {
      const { img, nasm } = program(bits);
      for (const sym of img.symbols) expect(symbolAddress(img, sym.name), sym.name).toBe(nasm.addresses.get(sym.name));
      expect(symbolAddress(img, 'add2')).toBe(ORIGIN);
      expect(() => symbolAddress(img, 'nope')).toThrow(/not defined in the image \(value: "nope"\)/);
    });

    it(`${bits}-bit: a reference to an external symbol is an error naming it`, () => {
      const img = externalCaller(bits);
      expect(() => toBinary(img)).toThrow(AbiError);
      expect(() => toBinary(img)).toThrow(/relocations\[0\]\.symbol: external symbol.*"ext_add2"/);
    });
  }

  it('a pc32 displacement that does not fit is a located error', () => {
    const { img } = program(64);
    const far: Image = { ...img, relocations: [{ section: '.text', offset: 0, kind: 'pc32', symbol: 'msg', addend: 1n << 40n }] };
    expect(() => toBinary(far)).toThrow(/relocations\[0\].*does not fit in a signed 32-bit/);
  });

  it('abs32 fields: sign-extended ones reach the top 2 GiB, zero-extended ones do not (ld agrees)', () => {
    const { img } = program(64);
    const hi: Image = { ...img, origin: 0xffff_ffff_8000_0000n };
    // `mov ecx, msg` (B9 imm32) is zero-extended: the CPU would see 0x80001048, not msg's address
    const r = img.relocations.findIndex((x) => x.kind === 'abs32' && x.symbol === 'msg' && x.section === '.text');
    expect(() => toBinary(hi)).toThrow(new RegExp(`relocations\\[${r}\\]: S \\+ A \\(msg\\) does not fit in a zero-extended 32-bit field`));
    const onlySext: Image = { ...hi, relocations: hi.relocations.filter((x) => !(x.kind === 'abs32' && (x.section !== '.text' || x.symbol === 'msg'))) };
    expect(onlySext.relocations.some((x) => x.kind === 'abs32')).toBe(true); // [abs counter]: disp32, sign-extended
    expect(toBinary(onlySext).length).toBeGreaterThan(0);
    const mid: Image = { ...onlySext, origin: 0x1_0000_0000n };
    expect(() => toBinary(mid)).toThrow(/does not fit in a sign-extended 32-bit field/);
    // ld agrees: our object links at that address only without the zero-extended field, to the same bytes
    if (hasLd) {
      expect(() => ldFlat(toElf(hi), 64, hi.origin)).toThrow(/relocation truncated to fit: R_X86_64_32 against/);
      expect(Buffer.from(ldFlat(toElf(onlySext), 64, hi.origin)).toString('hex')).toBe(Buffer.from(toBinary(onlySext)).toString('hex'));
    }
  });
});

describe('validateImage', () => {
  const base: Image = {
    bits: 64, origin: 0n, relocations: [], patchSites: [],
    sections: [{ name: '.text', bytes: Uint8Array.from([0x0f, 0x01, 0xc1, 0xc3]), align: 16 }],
    symbols: [{ name: 'f', section: '.text', offset: 0, size: 4, kind: 'func', global: true }],
  };
  it('accepts a well-formed image', () => expect(() => validateImage(base)).not.toThrow());
  it('lists every problem with its path, value and reason', () => {
    const bad: Image = {
      ...base,
      sections: [{ ...base.sections[0]!, align: 3 }],
      symbols: [{ ...base.symbols[0]!, size: 9 }, { ...base.symbols[0]!, name: 'f' }, { ...base.symbols[0]!, name: 'a.b' }],
      patchSites: [{ section: '.text', offset: 1, insn: 'vmcall', symbol: 'f' }],
    };
    let err: AbiError | undefined;
    try { validateImage(bad); } catch (e) { err = e as AbiError; }
    expect(err).toBeInstanceOf(AbiError);
    const paths = err!.problems.map((p) => p.path);
    expect(paths).toEqual(expect.arrayContaining(['$.sections[0].align', '$.symbols[0].size', '$.symbols[1].name', '$.symbols[2].name', '$.patchSites[0].offset']));
    expect(err!.message).toMatch(/patchSites\[0\]\.offset: bytes there are 01 c1 c3, not vmcall \(0f 01 c1\)/);
  });
  it('rejects a symbol inside a relocation field', () => {
    const img: Image = { ...base, sections: [{ name: '.text', bytes: new Uint8Array(8), align: 1 }], symbols: [{ ...base.symbols[0]!, size: 0 }, { ...base.symbols[0]!, name: 'mid', offset: 2, size: 0 }], relocations: [{ section: '.text', offset: 0, kind: 'abs32', symbol: 'f', addend: 0n }] };
    expect(() => validateImage(img)).toThrow(/symbols\[1\]\.offset: inside the field of relocation 0/);
  });
  it('rejects abs64 in a 32-bit image', () => {
    const b32: Image = { ...base, bits: 32, relocations: [{ section: '.text', offset: 0, kind: 'abs64', symbol: 'f', addend: 0n }] };
    expect(() => validateImage(b32)).toThrow(/relocations\[0\]\.kind.*i386/);
  });
});
