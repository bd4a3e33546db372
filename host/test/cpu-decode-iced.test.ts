// The engine's own decoder (cpu/decode.ts) cross-checked against iced-x86 on random bytes:
//  - every instruction the emulator accepts, iced decodes as valid with the same length;
//  - every byte string iced calls invalid ends in an Exception exit, never in a retired instruction;
//  - valid instructions outside the supported set (x87, SSE/AVX/VEX, system) are refused with #UD/#GP/a fault.
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode } from '../src/cpu/decode.js';
import { Vm } from '../src/vm.js';

// iced-x86 is CommonJS (wasm-bindgen); every object it returns must be freed.
const iced = createRequire(import.meta.url)('iced-x86') as typeof import('iced-x86');

function icedInsn(bytes: Uint8Array, bits: 64 | 32): { valid: boolean; len: number; text: string } {
  const d = new iced.Decoder(bits, bytes, iced.DecoderOptions.None);
  const f = new iced.Formatter(iced.FormatterSyntax.Nasm);
  try {
    const ins = d.decode();
    try {
      return { valid: ins.code !== iced.Code.INVALID, len: ins.length, text: f.format(ins) };
    } finally {
      ins.free();
    }
  } finally {
    f.free();
    d.free();
  }
}

const RUNS = Number(process.env.PVKIT_FUZZ_RUNS ?? 3000);

describe('engine decoder vs iced-x86', () => {
  for (const bits of [64, 32] as const) {
    it(`${bits}-bit: same length for every valid instruction; invalid ones never retire`, () => {
      const vm = new Vm({ mode: bits === 64 ? 'long64' : 'prot32' });
      vm.memory.addRam(0, 0x20000);
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 15, maxLength: 15 }), (raw) => {
          const bytes = new Uint8Array(16);
          bytes.set(raw);
          const ref = icedInsn(bytes, bits);
          const hex = Buffer.from(bytes).toString('hex');
          vm.memory.writeBytes(0x1000, bytes);
          const v = vm.vcpus[0]!;
          v.halted = false;
          v.rip = 0x1000n;
          v.setReg('rsp', 0x8000n);
          const e = vm.run({ budget: 1 });
          if (e.kind === 'Exception') {
            // #UD: anything iced calls invalid, or a valid instruction outside the supported set (x87, SSE/AVX/VEX,
            // system instructions). Any other vector is raised by executing a decoded instruction (#DE, #BP, #GP on
            // a non-canonical operand, ...), so our decode must have had iced's length.
            if (ref.valid && e.vector !== 6) {
              const ours = decode(bytes, bytes.length, bits === 64);
              expect(ours.ok && ours.d.len, `${ref.text} [${hex}]: #${e.vector} ${e.message}`).toBe(ref.len);
            }
            return;
          }
          // Accepted (retired, or stopped at an I/O or MMIO exit): iced must agree it is an instruction, of our length.
          expect(ref.valid, `emulator accepted [${hex}] (${e.kind}) but iced-x86 says invalid`).toBe(true);
          const ours = decode(bytes, bytes.length, bits === 64);
          expect(ours.ok && ours.d.len, `${ref.text} [${hex}]`).toBe(ref.len);
        }),
        { numRuns: RUNS, seed: Number(process.env.PVKIT_FUZZ_SEED ?? 0x1ced) },
      );
    });
  }
});
