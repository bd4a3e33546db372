// Encodes generated Intel-syntax snippets with GNU as (the real assembler) in one batch: each case sits between
// two labels, and the label addresses from `nm` cut the flat .text back into per-case byte strings.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bits } from './layout.js';

export function hasGnuAs(): boolean {
  try {
    execFileSync('as', ['--version'], { stdio: 'ignore' });
    execFileSync('objcopy', ['--version'], { stdio: 'ignore' });
    execFileSync('nm', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Assembles each snippet (list of Intel-syntax lines) for `bits`; returns the machine code of each. */
export function assembleSnippets(snippets: readonly (readonly string[])[], bits: Bits): Uint8Array[] {
  const dir = mkdtempSync(join(tmpdir(), 'pvkit-as-'));
  try {
    const src = [
      '.intel_syntax noprefix',
      bits === 64 ? '.code64' : '.code32',
      '.text',
      ...snippets.flatMap((lines, i) => [`case_${i}:`, ...lines.map((l) => `  ${l}`)]),
      `case_${snippets.length}:`,
      '',
    ].join('\n');
    const s = join(dir, 'cases.s');
    const o = join(dir, 'cases.o');
    const bin = join(dir, 'cases.bin');
    writeFileSync(s, src);
    try {
      execFileSync('as', [bits === 64 ? '--64' : '--32', '-o', o, s], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      const msg = (e as { stderr?: Buffer }).stderr?.toString() ?? String(e);
      throw new Error(`GNU as rejected generated code:\n${msg.split('\n').slice(0, 10).join('\n')}`);
    }
    execFileSync('objcopy', ['-O', 'binary', '-j', '.text', o, bin]);
    const text = readFileSync(bin);
    const addr = new Map<number, number>();
    for (const line of execFileSync('nm', [o], { encoding: 'utf8', maxBuffer: 1 << 30 }).split('\n')) {
      const m = /^([0-9a-f]+) t case_(\d+)$/.exec(line.trim());
      if (m) addr.set(Number(m[2]), parseInt(m[1]!, 16));
    }
    return snippets.map((_, i) => {
      const a = addr.get(i);
      const b = addr.get(i + 1);
      if (a === undefined || b === undefined) throw new Error(`label case_${i} missing from nm output`);
      return Uint8Array.from(text.subarray(a, b));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
