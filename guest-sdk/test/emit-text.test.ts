// toHex, toManifest and toCHeader, each checked by a real consumer (parsing back, sha256sum, gcc).
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AbiError } from '@pvkit/shared-abi';
import { toBinary, toCHeader, toHex, toManifest } from '../src/emit/index.js';
import type { Image } from '../src/image.js';
import { externalCaller, program } from './support/programs.js';
import { hasGcc, hasGcc32, hasNasm, run, runStatus, scratch, warnMissing, writeFileSync } from './support/tools.js';

const noNasm = warnMissing('nasm', hasNasm);

describe.skipIf(noNasm)('toHex', () => {
  for (const bits of [64, 32] as const) {
    it(`${bits}-bit: the dump parses back to every section's bytes, each symbol heading its own line`, () => {
      const { img } = program(bits);
      const text = toHex(img);
      const back = new Map<string, number[]>();
      let cur = '';
      const heads: string[] = [];
      for (const line of text.split('\n')) {
        const sec = /^(\.\w+)\s+at 0x/.exec(line);
        if (sec) { cur = sec[1]!; back.set(cur, []); continue; }
        const sym = /^(\w+):\s+;/.exec(line);
        if (sym) { heads.push(sym[1]!); continue; }
        const row = /^ {2}([0-9a-f]+) {2}((?:[0-9a-f]{2} ?)+)\s*\|/.exec(line);
        if (row) back.get(cur)!.push(...row[2]!.trim().split(' ').map((h) => parseInt(h, 16)));
      }
      for (const s of img.sections) expect(back.get(s.name)).toEqual([...s.bytes]);
      expect(heads.sort()).toEqual(img.symbols.map((s) => s.name).sort());
      expect(text).toMatch(/patch site vm(m)?call \(hc_kick\)/);
      expect(text).toMatch(/reloc (pc32|abs32) /);
    });
  }
});

describe.skipIf(noNasm)('toManifest', () => {
  it('is deterministic: same text when symbols, relocations and meta keys come in another order', () => {
    const { img } = program(64);
    const shuffled: Image = {
      ...img,
      symbols: [...img.symbols].reverse(),
      relocations: [...img.relocations].reverse(),
      meta: { strategy: img.meta!.strategy, abiVersion: img.meta!.abiVersion, abi: img.meta!.abi },
    };
    expect(toManifest(shuffled)).toBe(toManifest(img));
    expect(toManifest(img)).toBe(toManifest(program(64).img));
  });

  it('records ABI, symbols, patch sites, relocations, sizes and sha256 (checked with sha256sum)', () => {
    const { img, nasm } = program(64);
    const m = JSON.parse(toManifest(img));
    expect(Object.keys(m)).toEqual(['format', 'formatVersion', 'abi', 'strategy', 'bits', 'origin', 'size', 'flatSha256', 'sections', 'symbols', 'patchSites', 'relocations', 'externals', 'counts', 'meta']);
    expect(m.abi).toEqual({ name: 'kvm', version: 'test' });
    expect(m.strategy).toBe('host-patch');
    expect(m.size).toBe(nasm.flat.length);
    const s = scratch();
    try {
      for (const sec of img.sections) {
        writeFileSync(s.path('sec.bin'), sec.bytes);
        const sum = run('sha256sum', [s.path('sec.bin')]).stdout.split(' ')[0];
        expect(m.sections.find((x: { name: string }) => x.name === sec.name).sha256).toBe(sum);
      }
      writeFileSync(s.path('flat.bin'), nasm.flat);
      expect(m.flatSha256).toBe(run('sha256sum', [s.path('flat.bin')]).stdout.split(' ')[0]);
    } finally { s.done(); }
    const add2 = m.symbols.find((x: { name: string }) => x.name === 'add2');
    expect(add2).toEqual({ name: 'add2', section: '.text', offset: 0, address: `0x${nasm.addresses.get('add2')!.toString(16)}`, size: 5, kind: 'func', global: true });
    expect(m.patchSites).toEqual([{ section: '.text', offset: nasm.labels.get('hc_kick.site')!.offset, address: `0x${nasm.addresses.get('hc_kick.site')!.toString(16)}`, insn: 'vmcall', symbol: 'hc_kick' }]);
    expect(m.relocations).toHaveLength(img.relocations.length);
    expect(m.relocations[0].addend).toBe('-0x4');
    expect(m.counts).toEqual({ gasFallbacks: 0, nasmFallbacks: 0 });
  });

  it('lists externals and has no flat hash for an image that needs linking', () => {
    const m = JSON.parse(toManifest(externalCaller(64)));
    expect(m.externals).toEqual(['ext_add2']);
    expect(m.flatSha256).toBeNull();
    expect(m.abi).toEqual({ name: null, version: null });
  });
});

function cProgram(bits: 64 | 32): string {
  const t = bits === 64 ? 'uint64_t' : 'uint32_t';
  return `#include <stdio.h>
#include "image.h"
int main(void) {
  /* print the image so the test compares it with toBinary(), then check the patch table in C */
  for (unsigned i = 0; i < PV_IMAGE_SIZE; i++) printf("%02x", pv_image[i]);
  printf("\\n");
  for (unsigned k = 0; k < PV_PATCH_SITE_COUNT; k++) {
    const uint8_t *p = &pv_image[pv_patch_sites[k].offset];
    if (p[0] != 0x0F || p[1] != 0x01 || p[2] != pv_patch_sites[k].insn) return 10 + (int)k;
    printf("site %u %s\\n", k, pv_patch_sites[k].insn == PV_INSN_VMCALL ? "vmcall" : "vmmcall");
  }
  ${t} (*f)(${t}, ${t}) = add2; (void)f;  /* the prototype is usable */
  printf("add2 at %u size %u, origin %llu, bits %d\\n", PV_OFFSET_add2, PV_SIZE_add2, (unsigned long long)PV_IMAGE_ORIGIN, PV_IMAGE_BITS);
  return 0;
}
`;
}

describe.skipIf(noNasm)('toCHeader', () => {
  for (const bits of [64, 32] as const) {
    const noCc = bits === 64 ? warnMissing('gcc', hasGcc) : warnMissing('gcc -m32 (gcc-multilib)', hasGcc32);
    it.skipIf(noCc)(`${bits}-bit: compiles with -std=c11 -Wall -Wextra -Werror, and the compiled program sees our bytes`, () => {
      const { img } = program(bits);
      const t = bits === 64 ? 'uint64_t' : 'uint32_t';
      const h = toCHeader(img, { prefix: 'pv', signatures: { add2: `${t} add2(${t} a, ${t} b)` } });
      const s = scratch();
      try {
        writeFileSync(s.path('image.h'), h);
        const m = bits === 64 ? [] : ['-m32'];
        // header alone, included twice (include guard), nothing used: no unused-variable warnings
        writeFileSync(s.path('only.c'), '#include "image.h"\n#include "image.h"\n');
        run('gcc', [...m, '-std=c11', '-Wall', '-Wextra', '-Werror', '-pedantic', '-c', s.path('only.c'), '-o', s.path('only.o')]);
        writeFileSync(s.path('main.c'), cProgram(bits));
        // the program takes add2's address, so the link needs a definition: a C one stands in for the ELF object here
        run('gcc', [...m, '-std=c11', '-Wall', '-Wextra', '-Werror', '-c', s.path('main.c'), '-o', s.path('main.o')]);
        writeFileSync(s.path('stub.c'), `#include <stdint.h>\n${t} add2(${t} a, ${t} b);\n${t} add2(${t} a, ${t} b) { return a + b; }\n`);
        run('gcc', [...m, '-std=c11', s.path('main.o'), s.path('stub.c'), '-o', s.path('prog')]);
        const r = runStatus(s.path('prog'), []);
        expect(r.status).toBe(0);
        const [hex, ...rest] = r.stdout.trim().split('\n');
        expect(hex).toBe(Buffer.from(toBinary(img)).toString('hex'));
        expect(rest[0]).toBe(`site 0 ${bits === 64 ? 'vmcall' : 'vmmcall'}`);
        expect(rest[1]).toBe(`add2 at 0 size ${img.symbols.find((x) => x.name === 'add2')!.size}, origin 4096, bits ${bits}`);
      } finally { s.done(); }
    });
  }

  it('rejects a bad prefix, a signature for a missing symbol or one not naming it, and external references', () => {
    const { img } = program(64);
    expect(() => toCHeader(img, { prefix: '9x' })).toThrow(/prefix: must be a C identifier/);
    expect(() => toCHeader(img, { prefix: 'p', signatures: { nope: 'int nope(void)' } })).toThrow(/signatures\.nope: no such symbol/);
    expect(() => toCHeader(img, { prefix: 'p', signatures: { add2: 'int other(void)' } })).toThrow(/signatures\.add2: must be one prototype naming add2/);
    expect(() => toCHeader(img, { prefix: 'p', signatures: { msg: 'int msg(void)' } })).toThrow(/only for global functions/);
    expect(() => toCHeader(externalCaller(64), { prefix: 'p' })).toThrow(AbiError);
    expect(toCHeader(externalCaller(64), { prefix: 'p', image: false })).not.toMatch(/p_image\[/);
  });

  it('a hash of the header is stable across runs (no timestamps)', () => {
    const h = (x: string) => createHash('sha256').update(x).digest('hex');
    expect(h(toCHeader(program(32).img, { prefix: 'pv' }))).toBe(h(toCHeader(program(32).img, { prefix: 'pv' })));
  });
});
