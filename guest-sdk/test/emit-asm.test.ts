// toNasm / toGas: the real nasm and GNU as must turn our source back into the image's exact bytes.
import { describe, expect, it } from 'vitest';
import { toNasm, toGas } from '../src/emit/index.js';
import { checkObjdump, checkRoundTrip } from './support/roundtrip.js';
import { externalCaller, program } from './support/programs.js';
import { hasAs, hasLd, hasNasm, hasObjdump, warnMissing } from './support/tools.js';

const noTools = warnMissing('nasm', hasNasm) || warnMissing('GNU as', hasAs) || warnMissing('ld', hasLd) || warnMissing('objdump', hasObjdump);

describe.skipIf(noTools)('toNasm / toGas', () => {
  for (const bits of [64, 32] as const) {
    it(`${bits}-bit fixture: nasm (bin and elf) and as reproduce the bytes, with no fallbacks`, () => {
      const { img } = program(bits);
      expect(checkRoundTrip(img)).toEqual({ nasmFallbacks: 0, gasFallbacks: 0 });
      const n = toNasm(img);
      expect(n).toMatch(/global add2:function \(\.\.@end_add2 - add2\)/);
      expect(n).toMatch(/; pvkit patch site: vm(m)?call in hc_kick/);
      expect(n).toMatch(/strict short \.\.@L_text_/);
      const g = toGas(img);
      expect(g).toMatch(/\.type add2, @function\n\s+\.size add2, \.Lend_add2 - add2/);
      expect(g).toMatch(/\.section \.note\.GNU-stack/);
    });

    it(`${bits}-bit: an image calling an external symbol assembles to the same object bytes and relocation`, () => {
      const img = externalCaller(bits);
      expect(checkRoundTrip(img)).toEqual({ nasmFallbacks: 0, gasFallbacks: 0 });
      expect(toNasm(img)).toMatch(/extern ext_add2/);
      expect(toNasm(img)).toMatch(/%error "the image references external symbols \(ext_add2\)/);
    });

    it(`${bits}-bit: objdump's disassembly of our object has iced's instruction boundaries and mnemonics`, () => {
      checkObjdump(program(bits).img);
    });
  }
});
