// The generated C headers are compiled by gcc, 64- and 32-bit, together with _Static_asserts written from
// the TypeScript data: gcc proves every macro's value equals the data.
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbiError, BUILTIN_ABIS, cHeader, cLiteral, cMacroPrefix, cNames, defineAbi, loadAbiJson } from '../src/index.js';
import type { AbiDefinition } from '../src/index.js';

const CFLAGS = ['-std=c11', '-Wall', '-Wextra', '-Werror', '-pedantic', '-ffreestanding', '-c', '-o', '/dev/null'];
const dir = mkdtempSync(join(tmpdir(), 'pvkit-header-'));

function gccWorks(flags: string[]): boolean {
  const r = spawnSync('gcc', [...flags, '-x', 'c', '-c', '-o', '/dev/null', '-'], { input: '#include <stdint.h>\nint x;\n' });
  return r.status === 0;
}
const hasGcc = gccWorks([]);
const hasGcc32 = hasGcc && gccWorks(['-m32']);
if (!hasGcc) console.warn('header.test: gcc not found, the compile checks are skipped');
else if (!hasGcc32) console.warn('header.test: gcc -m32 does not work (gcc-multilib missing?), 32-bit compile checks are skipped');

const ex = (f: string): AbiDefinition => {
  const p = join(import.meta.dirname, '..', 'examples', f);
  return loadAbiJson(readFileSync(p, 'utf8'), p);
};
const ABIS: AbiDefinition[] = [...BUILTIN_ABIS, ex('mydev.json'), ex('mydev-v2.json')];

/** A C literal of the expected value, written independently of cLiteral. */
function expected(v: number | bigint): string {
  const n = BigInt(v);
  if (n >= 0n) return `${n}ULL`;
  return `(-${-n - 1n}LL - 1)`;
}

/** One _Static_assert per macro, each expected value taken from the definition itself. */
function staticAsserts(def: AbiDefinition): { lines: string[]; names: Set<string> } {
  const names = new Set<string>();
  const lines: string[] = [];
  const eq = (name: string, v: number | bigint): void => {
    names.add(name);
    lines.push(`_Static_assert((${name}) == ${expected(v)}, "${name}");`);
  };
  const P = cMacroPrefix(def);
  const c = def.cpuid;
  eq(`${P}CPUID_BASE`, c.defaultBase);
  eq(`${P}CPUID_MAX_LEAF`, c.defaultBase + c.maxLeafOffset);
  eq(`${P}CPUID_MIN_LEAVES`, c.minLeaves);
  const sig = Buffer.from(c.signature, 'latin1');
  eq(`${P}CPUID_SIGNATURE_EBX`, sig.readUInt32LE(0));
  eq(`${P}CPUID_SIGNATURE_ECX`, sig.readUInt32LE(4));
  eq(`${P}CPUID_SIGNATURE_EDX`, sig.readUInt32LE(8));
  names.add(`${P}CPUID_SIGNATURE`);
  lines.push(`_Static_assert(sizeof(${P}CPUID_SIGNATURE) == 13, "12 bytes + NUL");`);
  for (const l of c.leaves) eq(cNames.leaf(def, l), c.defaultBase + l.offset);
  const masks = new Map<string, bigint>();
  for (const f of def.features) {
    eq(cNames.feature(def, f), 1n << BigInt(f.bit));
    eq(`${cNames.feature(def, f)}_BIT`, f.bit);
    const k = cNames.leafMask(def, f.leaf, f.reg);
    masks.set(k, (masks.get(k) ?? 0n) | (1n << BigInt(f.bit)));
  }
  for (const [k, m] of masks) eq(k, m);
  eq(`${P}HC_SPACE_LO`, def.space.lo);
  eq(`${P}HC_SPACE_HI`, def.space.hi);
  eq(`${P}HC_SPACE_MASK`, def.space.mask);
  for (const h of def.hypercalls) {
    eq(cNames.hypercall(def, h), h.nr);
    eq(`${cNames.hypercall(def, h)}_NARGS`, h.args.length);
  }
  for (const e of def.errors.codes) eq(cNames.error(def, e), e.value);
  for (const m of def.msrs) {
    eq(cNames.msr(def, m), m.index);
    for (const f of m.layout) {
      eq(`${cNames.msrField(def, m, f)}_SHIFT`, f.lsb);
      eq(`${cNames.msrField(def, m, f)}_MASK`, ((1n << BigInt(f.width)) - 1n) << BigInt(f.lsb));
    }
  }
  for (const k of def.constants) eq(cNames.constant(def, k), k.value);
  return { lines, names };
}

function compile(source: string, name: string, bits: 64 | 32): { ok: boolean; stderr: string } {
  const file = join(dir, `${name}-${bits}.c`);
  writeFileSync(file, source);
  const r = spawnSync('gcc', [...CFLAGS, bits === 32 ? '-m32' : '-m64', file], { encoding: 'utf8' });
  return { ok: r.status === 0, stderr: r.stderr };
}

describe('cHeader', () => {
  ABIS.forEach((def, i) => {
    describe(`${def.name} ${def.version}`, () => {
      const header = cHeader(def);
      const { lines, names } = staticAsserts(def);
      const hpath = join(dir, `abi${i}-${def.name}.h`);
      writeFileSync(hpath, header);
      const source = `#include "${hpath}"\n#include "${hpath}" /* include guard */\n${lines.join('\n')}\n`;

      it('defines only macros the data checks, with only <stdint.h> included', () => {
        const defined = [...header.matchAll(/^#define (\w+)/gm)].map((m) => m[1]!);
        const guard = `${cMacroPrefix(def)}ABI_H`;
        expect(defined.filter((n) => n !== guard && !names.has(n))).toEqual([]);
        expect([...header.matchAll(/^#include (.*)$/gm)].map((m) => m[1])).toEqual(['<stdint.h>']);
        expect(header).toMatch(/Calling conventions:/);
      });
      it.skipIf(!hasGcc)('compiles 64-bit with gcc -Werror -pedantic and every value equals the data', () => {
        const r = compile(source, `abi${i}`, 64);
        expect(r.stderr).toBe('');
        expect(r.ok).toBe(true);
      });
      it.skipIf(!hasGcc32)('compiles 32-bit (-m32) with the same values', () => {
        const r = compile(source, `abi${i}`, 32);
        expect(r.stderr).toBe('');
        expect(r.ok).toBe(true);
      });
    });
  });

  it.skipIf(!hasGcc)('a wrong value is caught by the static asserts (the check is not vacuous)', () => {
    const def = ABIS[0]!;
    const hpath = join(dir, 'tampered.h');
    const h = def.hypercalls[0]!;
    writeFileSync(hpath, cHeader({ ...def, hypercalls: [{ ...h, nr: h.nr + 1 }, ...def.hypercalls.slice(1)] }));
    const r = compile(`#include "${hpath}"\n${staticAsserts(def).lines.join('\n')}\n`, 'tampered', 64);
    expect(r.ok).toBe(false);
    expect(r.stderr).toContain(cNames.hypercall(def, h));
  });

  it.skipIf(!hasGcc)('the signature string holds the same bytes as the signature words (run on the host)', () => {
    const def = ABIS[0]!;
    const P = cMacroPrefix(def);
    const hpath = join(dir, 'sig.h');
    writeFileSync(hpath, cHeader(def));
    const src = join(dir, 'sig.c');
    writeFileSync(src, `#include <stdio.h>\n#include <string.h>\n#include "${hpath}"\nint main(void) {\n  uint32_t w[3] = { ${P}CPUID_SIGNATURE_EBX, ${P}CPUID_SIGNATURE_ECX, ${P}CPUID_SIGNATURE_EDX };\n  printf("%d\\n", memcmp(w, ${P}CPUID_SIGNATURE, 12));\n  return 0;\n}\n`);
    execFileSync('gcc', ['-std=c11', '-Wall', '-Werror', '-o', join(dir, 'sig'), src]);
    expect(execFileSync(join(dir, 'sig'), { encoding: 'utf8' }).trim()).toBe('0');
  });

  it('writes literals with the suffix their size needs', () => {
    expect(cLiteral(5)).toBe('5u');
    expect(cLiteral(0xffffffff)).toBe('0xffffffffu');
    expect(cLiteral(0x100000000)).toBe('0x100000000ull');
    expect(cLiteral((1n << 64n) - 1n)).toBe('0xffffffffffffffffull');
    expect(cLiteral(-1)).toBe('(-1)');
    expect(cLiteral(-(1n << 40n))).toBe('(-1099511627776ll)');
    expect(cLiteral(-(1n << 63n))).toBe('(-0x7fffffffffffffffll - 1)');
    expect(() => cLiteral(1n << 64n)).toThrow(AbiError);
  });

  it.skipIf(!hasGcc || !hasGcc32)('edge values, hostile comments and negative constants compile in both modes', () => {
    const def = defineAbi('edge').signature('Edge?\u0000??/*x*').convention('kvm').base(0x40000300)
      .hypercall('PING', 0x2000, [], { doc: 'ends a comment */ opens one /* and has a trigraph ??/' })
      .constant('MAX64', (1n << 64n) - 1n).constant('MIN64', -(1n << 63n)).constant('NEG', -5).constant('BIG32', 0xffffffff)
      .build();
    const hpath = join(dir, 'edge.h');
    writeFileSync(hpath, cHeader(def));
    const src = `#include "${hpath}"\n${staticAsserts(def).lines.join('\n')}\n`;
    for (const bits of [64, 32] as const) {
      const r = compile(src, 'edge', bits);
      expect(r.stderr).toBe('');
    }
  });

  it('reports two items that map to the same macro with different values', () => {
    const def = defineAbi('clash').signature('ClashClashCl').convention('kvm').base(0x40000300)
      .constant('CLASH_X', 1).constant('X', 2).build();
    expect(() => cHeader(def)).toThrow(/\$\.constants\[1\]\.name: C macro name clashes with \$\.constants\[0\]\.name/);
  });
});
