// Instructions the generated native diff does not cover, compared with this machine's CPU through helper E3's
// harness (real execution): CMPXCHG8B/16B, XLAT, BSWAP, MOVSX/MOVZX forms, CMOV zero-extension, POPCNT/LZCNT/TZCNT/BSR.
import { describe, expect, it } from 'vitest';
import { buildHarness, runNative, type MachineCase } from './native/harness.js';
import { assembleSnippets, hasGnuAs } from './native/assemble.js';
import { EmulatorRunner } from './native/emulator.js';
import { SCRATCH_BASE, type Bits } from './native/layout.js';

const SNIPPETS: Record<Bits, string[][]> = {
  64: [
    ['cmpxchg16b [rsi]'], ['lock cmpxchg16b [rsi+16]'], ['cmpxchg8b [rsi]'], ['cmpxchg8b [rsi+8]'],
    ['xlatb'], ['bswap rax'], ['bswap r9d'], ['movsx r8, byte ptr [rsi+3]'], ['movzx r8, word ptr [rsi+5]'],
    ['cmovz eax, ecx'], ['cmovnz eax, ecx'],
    ['popcnt rax, rcx'], ['lzcnt rax, rcx'], ['tzcnt eax, ecx'], ['bsr r10, rcx'],
  ],
  32: [
    ['cmpxchg8b [esi]'], ['lock cmpxchg8b [esi+8]'], ['xlatb'], ['bswap eax'], ['movsx eax, word ptr [esi+3]'],
    ['cmovz eax, ecx'], ['popcnt eax, ecx'], ['tzcnt eax, ecx'],
  ],
};

function cases(bits: Bits): MachineCase[] {
  const codes = assembleSnippets(SNIPPETS[bits], bits);
  const out: MachineCase[] = [];
  const n = bits === 64 ? 16 : 8;
  codes.forEach((code, k) => {
    for (let variant = 0; variant < 4; variant++) {
      const scratch = Uint8Array.from({ length: 64 }, (_, i) => (i * 29 + k * 7 + variant) & 0xff);
      const regs: bigint[] = Array.from({ length: n }, (_, i) => BigInt(i + 1) * 0x0123456789abcdefn * BigInt(variant + 1) & (bits === 64 ? (1n << 64n) - 1n : 0xffffffffn));
      regs[6] = SCRATCH_BASE; // rSI
      if (variant % 2 === 0) {
        // Make the compare-exchange succeed: rDX:rAX = memory at [rsi] / [rsi+16].
        const dv = new DataView(scratch.buffer);
        const off = k === 1 ? 16 : k === 3 ? 8 : 0;
        regs[0] = bits === 64 && k < 2 ? dv.getBigUint64(off, true) : BigInt(dv.getUint32(off, true));
        regs[2] = bits === 64 && k < 2 ? dv.getBigUint64(off + 8, true) : BigInt(dv.getUint32(off + 4, true));
        if (bits === 32 && k === 1) { regs[0] = BigInt(dv.getUint32(8, true)); regs[2] = BigInt(dv.getUint32(12, true)); }
      }
      if (variant === 3) regs[1] = 0n;
      if (SNIPPETS[bits][k]![0] === 'xlatb') { regs[3] = SCRATCH_BASE; regs[0] = BigInt(variant * 13 + 5); }
      out.push({ code, regs, flags: variant % 2 === 0 ? 0x40 : 0x8d5 & ~0x40, scratch });
    }
  });
  return out;
}

for (const bits of [64, 32] as const) {
  const build = hasGnuAs() ? buildHarness(bits) : { ok: false as const, reason: 'GNU as/nm/objcopy missing' };
  if (!build.ok) console.warn(`native extra ${bits}-bit skipped: ${build.reason}`);
  describe.skipIf(!build.ok)(`native CPU vs engine, extra instructions, ${bits}-bit`, () => {
    it('registers, flags and memory agree', () => {
      if (!build.ok) return;
      const cs = cases(bits);
      const nat = runNative(build, cs);
      const emu = new EmulatorRunner(bits).runAll(cs);
      cs.forEach((_, i) => {
        const what = `${SNIPPETS[bits][Math.floor(i / 4)]!.join('; ')} (variant ${i % 4})`;
        expect(emu[i], what).toEqual(nat[i]);
      });
    });
  });
}
