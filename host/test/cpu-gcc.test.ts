// A gcc-compiled freestanding C program (-O2 -mgeneral-regs-only), 64- and 32-bit, runs end to end in the
// engine; its results must equal the same C compiled natively and run on this machine's CPU.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasGcc, vmWith } from './cpu-util.js';

const SRC = fileURLToPath(new URL('./cpu-gcc-guest.c', import.meta.url));
const OUT = 0x20000; // the guest's _start passes this results address to run()

function hasM32(): boolean {
  if (!hasGcc) return false;
  const dir = mkdtempSync(join(tmpdir(), 'pvkit-m32-'));
  try {
    execFileSync('gcc', ['-m32', '-O2', '-DNATIVE', SRC, '-o', join(dir, 'n')], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const m32 = hasM32();
if (hasGcc && !m32) console.warn('gcc -m32 (gcc-multilib) not usable: the 32-bit C test is skipped');

function build(bits: 32 | 64): { bin: Uint8Array; native: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'pvkit-gcc-'));
  const m = bits === 32 ? ['-m32'] : [];
  try {
    execFileSync('gcc', [...m, '-ffreestanding', '-O2', '-mgeneral-regs-only', '-fno-pic', '-fno-stack-protector',
      '-fno-asynchronous-unwind-tables', '-c', SRC, '-o', join(dir, 'g.o')]);
    // -lgcc: the 32-bit build calls __udivdi3 & co. for 64-bit division.
    execFileSync('gcc', [...m, '-nostdlib', '-static', '-no-pie', '-Wl,-Ttext=0x1000', '-Wl,-e,_start',
      '-Wl,--build-id=none', join(dir, 'g.o'), '-lgcc', '-o', join(dir, 'g.elf')]);
    const nm = execFileSync('nm', [join(dir, 'g.elf')], { encoding: 'utf8' });
    expect(nm).toMatch(/0*1000 T _start/);
    execFileSync('objcopy', ['-O', 'binary', join(dir, 'g.elf'), join(dir, 'g.bin')]);
    execFileSync('gcc', [...m, '-O2', '-DNATIVE', SRC, '-o', join(dir, 'native')]);
    const native = execFileSync(join(dir, 'native'), { encoding: 'utf8' }).trim().split('\n');
    return { bin: new Uint8Array(readFileSync(join(dir, 'g.bin'))), native };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('gcc-compiled freestanding C runs end to end', () => {
  for (const bits of [64, 32] as const) {
    it.skipIf(!hasGcc || (bits === 32 && !m32))(`${bits}-bit: results equal the native run`, () => {
      const { bin, native } = build(bits);
      const vm = vmWith(bin, { mode: bits === 64 ? 'long64' : 'prot32' });
      const exit = vm.run({ budget: 20_000_000 });
      expect(exit.kind).toBe('Hlt');
      const n = Number(vm.memory.readU64(OUT));
      const got: string[] = [];
      for (let i = 0; i <= n; i++) got.push(vm.memory.readU64(OUT + 8 * i).toString(16).padStart(16, '0'));
      expect(native.length).toBeGreaterThan(40);
      expect(got).toEqual(native);
      expect(vm.vcpus[0]!.icount).toBeGreaterThan(100_000);
    });
  }
});
