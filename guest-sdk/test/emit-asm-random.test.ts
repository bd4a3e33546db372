// Property test: random general-purpose instructions (decoded by iced from random opcode bytes) go through
// toNasm/toGas, and nasm and GNU as must give back exactly the same bytes. Fallbacks are allowed (and
// counted); wrong bytes are not.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Code, Decoder, DecoderOptions, Mnemonic } from 'iced-x86';
import type { Image } from '../src/image.js';
import { asmSource } from '../src/emit/index.js';
import { checkRoundTrip } from './support/roundtrip.js';
import { hasAs, hasLd, hasNasm, warnMissing } from './support/tools.js';

const noTools = warnMissing('nasm', hasNasm) || warnMissing('GNU as', hasAs) || warnMissing('ld', hasLd);

// The instruction set the issue asks the assembler for.
const WANT = new Set(['mov', 'movzx', 'movsx', 'movsxd', 'lea', 'add', 'adc', 'sub', 'sbb', 'and', 'or', 'xor', 'cmp', 'test', 'inc',
  'dec', 'neg', 'not', 'shl', 'shr', 'sar', 'rol', 'ror', 'rcl', 'rcr', 'mul', 'imul', 'div', 'idiv', 'push', 'pop', 'call', 'jmp',
  'ret', 'leave', 'xchg', 'cmpxchg', 'xadd', 'bt', 'bts', 'btr', 'btc', 'bswap', 'movsb', 'movsw', 'movsd', 'movsq', 'stosb', 'stosw',
  'stosd', 'stosq', 'lodsb', 'lodsw', 'lodsd', 'lodsq', 'cmpsb', 'cmpsw', 'cmpsd', 'cmpsq', 'scasb', 'scasw', 'scasd', 'scasq', 'cpuid',
  'rdmsr', 'wrmsr', 'rdtsc', 'vmcall', 'vmmcall', 'in', 'out', 'insb', 'insw', 'insd', 'outsb', 'outsw', 'outsd', 'hlt', 'pause', 'int3',
  'ud2', 'nop', 'cli', 'sti', 'cld', 'std', 'cdq', 'cqo', 'cwd', 'cbw', 'cwde', 'cdqe']);
const isWanted = (m: string) => WANT.has(m) || /^(j|set|cmov)[a-z]+$/.test(m);

const OPS1 = [...Array(0x40).keys()].filter((b) => (b & 7) < 6).concat([0x50, 0x58, 0x68, 0x69, 0x6a, 0x6b, 0x70, 0x74, 0x7f, 0x80, 0x81, 0x83, 0x84, 0x85,
  0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8d, 0x90, 0x93, 0x98, 0x99, 0xa4, 0xa5, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0xb0, 0xb8, 0xbb,
  0xc0, 0xc1, 0xc2, 0xc3, 0xc6, 0xc7, 0xc9, 0xcc, 0xd0, 0xd1, 0xd2, 0xd3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xeb, 0xec, 0xed, 0xee, 0xef,
  0xf4, 0xf6, 0xf7, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff, 0x6c, 0x6d, 0x6e, 0x6f, 0x63]);
const OPS2 = [0xa2, 0x30, 0x31, 0x32, 0x0b, 0xb6, 0xb7, 0xbe, 0xbf, 0x40, 0x45, 0x4f, 0x90, 0x94, 0x9f, 0xa3, 0xab, 0xb3, 0xbb, 0xba, 0xc8, 0xcb, 0xcf,
  0xb0, 0xb1, 0xc0, 0xc1, 0xaf, 0x1f, 0x80, 0x84, 0x8f];
const PREFIX = [[], [], [], [0x66], [0xf0], [0xf3], [0x48], [0x41], [0x4c], [0x40], [0x67], [0x2e]];

const insnBytes = (bits: 64 | 32) => fc.tuple(
  fc.constantFrom(...PREFIX), fc.boolean(), fc.constantFrom(...OPS1), fc.constantFrom(...OPS2),
  fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.constantFrom(0, 0, 1, 2, 3),
).map(([pre, two, op1, op2, rest, special]) => {
  const p = bits === 32 ? pre.filter((b) => b < 0x40 || b > 0x4f) : pre;
  const r = Uint8Array.from(rest);
  if (special === 1) r[0] = 0xc1; // 0F 01 C1 vmcall / register ModRM
  if (special === 2) r[0] = (r[0]! & 0x38) | 0x05; // RIP-relative / absolute disp32
  if (special === 3) r[0] = (r[0]! & 0x3f) | 0x40; // disp8
  return Uint8Array.from([...p, ...(two ? [0x0f, op2] : [op1]), ...r]);
});

/** The first instruction of `b` if it is one we want, else undefined. */
function take(bits: 64 | 32, b: Uint8Array): Uint8Array | undefined {
  const d = new Decoder(bits, b, DecoderOptions.None);
  const i = d.decode();
  try {
    const m = Mnemonic[i.mnemonic]?.toLowerCase() ?? '';
    if (i.code === Code.INVALID || !isWanted(m)) return undefined;
    return b.slice(0, i.length);
  } finally { i.free(); d.free(); }
}

describe.skipIf(noTools)('random instructions through toNasm/toGas', () => {
  for (const bits of [64, 32] as const) {
    it(`${bits}-bit: nasm and as reproduce the bytes exactly (fallbacks counted)`, () => {
      let total = 0;
      let nasmFb = 0;
      let gasFb = 0;
      const reasons = new Map<string, number>();
      fc.assert(fc.property(fc.array(insnBytes(bits), { minLength: 10, maxLength: 30 }), (raw) => {
        const parts = raw.map((b) => take(bits, b)).filter((x): x is Uint8Array => x !== undefined);
        if (parts.length === 0) return;
        const bytes = Uint8Array.from(parts.flatMap((p) => [...p]));
        const img: Image = {
          bits, origin: 0x10000n, relocations: [], patchSites: [],
          sections: [{ name: '.text', bytes, align: 16 }],
          symbols: [{ name: 'entry', section: '.text', offset: 0, size: bytes.length, kind: 'func', global: true }],
        };
        const r = checkRoundTrip(img);
        for (const f of asmSource(img, 'nasm').fallbacks) reasons.set(f.reason.replace(/^.*\(/, '('), (reasons.get(f.reason.replace(/^.*\(/, '(')) ?? 0) + 1);
        total += parts.length;
        nasmFb += r.nasmFallbacks;
        gasFb += r.gasFallbacks;
      }), { numRuns: Number(process.env.PVKIT_RUNS ?? 20), seed: Number(process.env.PVKIT_SEED ?? bits), endOnFailure: true });
      console.log(`${bits}-bit random: ${total} instructions, nasm fallbacks ${nasmFb}, gas fallbacks ${gasFb}`);
      console.log([...reasons].sort((a, b) => b[1] - a[1]).map(([r, n]) => `  ${n} ${r}`).join('\n'));
      expect(total).toBeGreaterThan(100);
      // random prefixes and displacements make many non-canonical forms here; the corpus test checks that
      // canonical code has no fallbacks at all
      expect(nasmFb).toBeLessThan(total);
    });
  }
});
