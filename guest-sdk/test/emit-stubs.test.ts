// Every emitter over real generated code: the stub images for each built-in ABI, strategy and mode, and a
// hand-written Asm program with cross-section and external references. Consumers: nasm, GNU as, ld,
// readelf, gcc.
import { describe, expect, it } from 'vitest';
import { BUILTIN_ABIS } from '@pvkit/shared-abi';
import { Asm, addr, dword, eax, ebx, ecx, esp, mem, rax, rdi, rsi } from '../src/x86/index.js';
import { STRATEGIES, checkCombination, generateStubs } from '../src/stubs/index.js';
import { toCHeader, toElf, toHex, toManifest } from '../src/emit/index.js';
import type { Image } from '../src/image.js';
import { checkObjdump, checkRoundTrip } from './support/roundtrip.js';
import { hasAs, hasGcc, hasGcc32, hasLd, hasNasm, hasReadelf, run, scratch, warnMissing, writeFileSync } from './support/tools.js';

const noTools = warnMissing('nasm', hasNasm) || warnMissing('GNU as', hasAs) || warnMissing('ld', hasLd) || warnMissing('readelf', hasReadelf);

const combos = BUILTIN_ABIS.flatMap((abi) => STRATEGIES.flatMap((strategy) => ([64, 32] as const).map((bits) => ({ abi, strategy, bits }))))
  .filter((c) => checkCombination(c.abi, c.strategy, c.bits) === undefined);

describe.skipIf(noTools)('emitters over generated stubs', () => {
  it('covers every working ABI/strategy/mode combination', () => expect(combos.length).toBeGreaterThan(20));

  for (const c of combos) {
    it(`${c.abi.name} ${c.strategy} ${c.bits}-bit: nasm/as reproduce it with no fallbacks; ELF, header and manifest are clean`, () => {
      const g = generateStubs({ ...c, origin: 0x100000n });
      const img = g.image;
      const fb = checkRoundTrip(img);
      checkObjdump(img);
      expect(fb).toEqual({ nasmFallbacks: 0, gasFallbacks: 0 });
      const s = scratch();
      try {
        writeFileSync(s.path('a.o'), toElf(img));
        const re = run('readelf', ['-a', '-W', s.path('a.o')]);
        expect(re.stderr).toBe('');
        expect(re.stdout).not.toMatch(/warning|corrupt/i);
        const cc = c.bits === 64 ? hasGcc : hasGcc32;
        if (cc) {
          writeFileSync(s.path('h.h'), g.cDecls + '\n' + toCHeader(img, { prefix: 'pv', signatures: g.signatures }));
          writeFileSync(s.path('h.c'), '#include <stdint.h>\n#include "h.h"\n');
          run('gcc', [...(c.bits === 32 ? ['-m32'] : []), '-std=c11', '-Wall', '-Wextra', '-Werror', '-c', s.path('h.c'), '-o', s.path('h.o')]);
        }
      } finally { s.done(); }
      const m = JSON.parse(toManifest(img));
      expect(m.abi.name).toBe(c.abi.name);
      expect(m.patchSites).toHaveLength(img.patchSites.length);
      expect(toManifest(img)).toBe(toManifest(generateStubs({ ...c, origin: 0x100000n }).image));
      expect(toHex(img)).toContain(img.symbols[0]!.name);
    });
  }
});

function asmProgram(bits: 64 | 32, withExternals: boolean): Image {
  const a = new Asm({ bits, origin: 0x200000n });
  if (withExternals) a.extern('ext_fn').extern('ext_data');
  if (bits === 64) {
    a.global('sum3', 'func').label('sum3');
    a.lea(rax, mem(rdi, { index: rsi })).add(rax, mem.rip('bias')).ret();
    a.global('kick', 'func').label('kick').mov(eax, 5).vmcall({ patchSite: true }).ret();
    a.global('tail', 'func').label('tail');
    if (withExternals) a.call('ext_fn').mov(rax, mem.rip('ext_data'));
    a.mov(rax, mem.rip('ptrs', 8)).ret();
    a.section('.rodata').global('bias', 'object').label('bias').dq(3n);
    a.section('.data').global('ptrs', 'object').label('ptrs').dq('sum3').dq(withExternals ? 'ext_data' : 'bias');
  } else {
    a.global('sum3', 'func').label('sum3');
    a.mov(eax, mem(esp, { disp: 4 })).add(eax, mem(esp, { disp: 8 })).add(eax, mem('bias')).ret();
    a.global('kick', 'func').label('kick').mov(eax, 5).vmmcall({ patchSite: true }).ret();
    a.global('tail', 'func').label('tail');
    if (withExternals) a.call('ext_fn').mov(ecx, mem('ext_data'));
    a.mov(eax, dword(mem('ptrs', { }))).mov(ebx, addr('bias', 4)).ret();
    a.section('.rodata').global('bias', 'object').label('bias').dd(3);
    a.section('.data').global('ptrs', 'object').label('ptrs').dd('sum3').dd(withExternals ? 'ext_data' : 'bias');
  }
  return a.finish();
}

describe.skipIf(noTools)('emitters over Asm output', () => {
  for (const bits of [64, 32] as const) {
    for (const ext of [false, true]) {
      it(`${bits}-bit${ext ? ' with external references' : ''}: nasm and as reproduce it, no fallbacks, relocations kept`, () => {
        const img = asmProgram(bits, ext);
        expect(img.relocations.length).toBeGreaterThan(ext ? 3 : 1);
        expect(checkRoundTrip(img)).toEqual({ nasmFallbacks: 0, gasFallbacks: 0 });
        checkObjdump(img);
      });
    }
  }
});
