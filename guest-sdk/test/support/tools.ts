// Runners for the real tools the emitter tests check against (nasm, GNU as/ld/objdump/readelf, gcc).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function probe(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.status === 0;
}

export const hasNasm = probe('nasm', ['-v']);
export const hasAs = probe('as', ['--version']);
export const hasLd = probe('ld', ['--version']);
export const hasObjdump = probe('objdump', ['--version']);
export const hasReadelf = probe('readelf', ['--version']);
export const hasGcc = probe('gcc', ['--version']);
/** gcc -m32 needs gcc-multilib: probe by compiling an empty translation unit. */
export const hasGcc32 = hasGcc && (() => {
  const d = mkdtempSync(join(tmpdir(), 'pvkit-probe-'));
  try {
    writeFileSync(join(d, 'a.c'), 'int f(void){return 0;}\n');
    return probe('gcc', ['-m32', '-c', join(d, 'a.c'), '-o', join(d, 'a.o')]);
  } finally { rmSync(d, { recursive: true, force: true }); }
})();

/** Print why a test is skipped (skips must never be silent). */
export function warnMissing(tool: string, ok: boolean): boolean {
  if (!ok) console.warn(`skipping: ${tool} is not installed (CI installs nasm, binutils and gcc-multilib via .ci/run)`);
  return !ok;
}

/** A scratch directory removed by the returned cleanup. */
export function scratch(): { dir: string; path: (f: string) => string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'pvkit-emit-'));
  return { dir, path: (f) => join(dir, f), done: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Run a tool; throw with its stderr on failure; return stdout and stderr. */
export function run(cmd: string, args: string[], cwd?: string): { stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr}${r.stdout}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

export function runStatus(cmd: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Assemble NASM source; returns the output file's bytes. */
export function nasm(src: string, format: 'bin' | 'elf64' | 'elf32'): Uint8Array {
  const s = scratch();
  try {
    writeFileSync(s.path('a.asm'), src);
    run('nasm', ['-f', format, '-o', s.path('a.out'), s.path('a.asm')]);
    return new Uint8Array(readFileSync(s.path('a.out')));
  } finally { s.done(); }
}

/** Assemble GNU as (AT&T) source to an object file's bytes. */
export function gas(src: string, bits: 64 | 32): Uint8Array {
  const s = scratch();
  try {
    writeFileSync(s.path('a.s'), src);
    run('as', [bits === 64 ? '--64' : '--32', '-o', s.path('a.o'), s.path('a.s')]);
    return new Uint8Array(readFileSync(s.path('a.o')));
  } finally { s.done(); }
}

export { execFileSync, readFileSync, writeFileSync };
