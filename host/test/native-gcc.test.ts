// gcc output end to end: cfuncs.c (crc32, 64-bit multiply mixing, signed/unsigned division incl. libgcc's
// __divdi3 family in 32-bit mode, integer sqrt, insertion sort, bit tricks, byte loops, recursion, a jump
// table, 128-bit products) built with -O2 -mgeneral-regs-only, run with random inputs on the CPU and in the
// emulator; every GPR, the flags and the scratch buffer must match.
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { buildCImage } from './native/cbuild.js';
import { compareCase, mismatchTable } from './native/compare.js';
import { EmulatorRunner } from './native/emulator.js';
import type { GenCase } from './native/generator.js';
import { type MachineCase, buildHarness, runNative } from './native/harness.js';
import { type Bits, SCRATCH_BASE, SCRATCH_PAGE, SCRATCH_SIZE } from './native/layout.js';
import { Rng } from './native/rng.js';

const CASES = 400;
const FUNCS = ['crc32', 'mix64', 'divmod', 'isqrt', 'sort', 'bit tricks', 'bytes', 'fib', 'jump table', 'wide mul'];
const STACK_TOP = SCRATCH_BASE + BigInt(SCRATCH_PAGE - 16); // above the compared bytes

describe.each([64, 32] as const)('gcc -O2 code, %i-bit: emulator vs CPU', (bits: Bits) => {
  const harness = buildHarness(bits);
  const img = buildCImage(bits);
  const reason = !harness.ok ? harness.reason : !img.ok ? img.reason : undefined;
  if (reason) console.warn(`gcc differential test (${bits}-bit) skipped: ${reason}`);

  it.skipIf(reason !== undefined)(`agrees on ${CASES} calls over ${FUNCS.length} functions`, () => {
    if (!harness.ok || !img.ok) return;
    const rng = new Rng(bits);
    const cases: GenCase[] = [];
    for (let i = 0; i < CASES; i++) {
      const which = BigInt(i % FUNCS.length);
      const a = rng.value(64);
      const b = rng.value(64);
      const regs = Array.from({ length: bits === 64 ? 16 : 8 }, () => rng.value(bits));
      if (bits === 64) {
        regs[7] = which; regs[6] = a; regs[2] = b; regs[1] = SCRATCH_BASE; // rdi rsi rdx rcx (SysV)
      } else {
        // entry32.S: which in edx:eax, a in ecx:ebx, b in edi:esi, buf in ebp
        regs[0] = which; regs[2] = 0n; regs[3] = a & 0xffffffffn; regs[1] = a >> 32n;
        regs[6] = b & 0xffffffffn; regs[7] = b >> 32n; regs[5] = SCRATCH_BASE;
      }
      regs[4] = STACK_TOP;
      cases.push({
        id: i, group: FUNCS[i % FUNCS.length]!, asm: [`run(${FUNCS[i % FUNCS.length]}, 0x${a.toString(16)}, 0x${b.toString(16)})`],
        regs, flags: rng.u32() & 0xcd5, scratch: rng.bytes(SCRATCH_SIZE),
        undefinedFlags: 0, undefinedRegs: [], undefinedScratch: false, tags: [],
      });
    }
    const machine: MachineCase[] = cases.map((c) => ({ code: img.image, regs: c.regs, flags: c.flags, scratch: c.scratch }));
    const nat = runNative(harness, machine);
    const emu = new EmulatorRunner(bits, 5_000_000).runAll(machine);
    const bad = cases.flatMap((c, i) => compareCase(c, bits, nat[i]!, emu[i]!));
    const executed = emu.filter((r) => r.kind === 'ok').length;
    console.log(`${bits}-bit gcc image ${img.image.length} bytes: ${executed}/${CASES} calls completed in the emulator, ${bad.length} mismatches`);
    if (bad.length) console.log(mismatchTable(bad, bits));
    expect(nat.filter((r) => r.kind !== 'ok')).toEqual([]);
    // The calling convention really reached the functions: crc32 against node's zlib, fib against a loop.
    const result = (i: number): bigint => {
      const r = nat[i]!;
      if (r.kind !== 'ok') throw new Error(`case ${i} faulted`);
      return bits === 64 ? r.regs[0]! : (r.regs[2]! << 32n) | r.regs[0]!;
    };
    const fibRef = (n: number): bigint => { let x = 0n, y = 1n; for (let k = 0; k < n; k++) [x, y] = [y, x + y]; return x; };
    let checked = 0;
    if (typeof zlib.crc32 !== 'function') console.warn('crc32 reference check skipped: this node has no zlib.crc32 (needs >= 20.15)');
    cases.forEach((c, i) => {
      const a = BigInt(c.asm[0]!.split(', ')[1]!);
      if (c.group === 'crc32' && typeof zlib.crc32 === 'function') {
        expect(result(i)).toBe(BigInt(zlib.crc32(c.scratch.subarray(0, 32 + Number(a & 31n)))));
        checked++;
      }
      if (c.group === 'fib') {
        expect(result(i)).toBe(fibRef(Number(a % 16n)));
        checked++;
      }
    });
    expect(checked).toBeGreaterThan(0);
    expect(bad.map((m) => `#${m.c.id} ${m.c.asm[0]}: ${m.what} native ${m.native} emulated ${m.emulated}`)).toEqual([]);
  });
});
