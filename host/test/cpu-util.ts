// Test helpers: assemble with the real nasm, build VMs with code loaded, run to an exit.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Vm, type VmOptions } from '../src/vm.js';

function has(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const hasNasm = has('nasm', ['-v']);
export const hasGcc = has('gcc', ['--version']);
export const hasObjdump = has('objdump', ['--version']);
if (!hasNasm) console.warn('nasm not found: tests that assemble guest code with nasm are skipped');
if (!hasGcc) console.warn('gcc not found: tests that compile guest C are skipped');

/** Assemble `src` (NASM syntax) as flat binary at `org` in 64- or 32-bit mode. */
export function nasm(src: string, bits: 32 | 64 = 64, org = 0x1000): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), 'pvkit-nasm-'));
  try {
    writeFileSync(join(dir, 'a.asm'), `bits ${bits}\norg 0x${org.toString(16)}\n${src}\n`);
    execFileSync('nasm', ['-f', 'bin', '-o', join(dir, 'a.bin'), join(dir, 'a.asm')], { stdio: 'pipe' });
    return new Uint8Array(readFileSync(join(dir, 'a.bin')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const CODE = 0x1000;
export const DATA = 0x10000;
export const STACK_TOP = 0x80000;

/** A VM with RAM at 0..0x100000, `code` at CODE, RSP = STACK_TOP, RIP = CODE. */
export function vmWith(code: Uint8Array, opts: VmOptions = {}): Vm {
  const vm = new Vm(opts);
  vm.memory.addRam(0, 0x100000, 'ram');
  vm.memory.writeBytes(CODE, code);
  for (const v of vm.vcpus) {
    v.rip = BigInt(CODE);
    v.setReg('rsp', BigInt(STACK_TOP - 0x1000 * v.id));
  }
  return vm;
}
