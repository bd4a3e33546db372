// Which external tools exist, and running them, for tests that check against the real thing.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).status === 0;
}

/** Runs a command; throws with its stderr when it fails. */
export function run(cmd: string, args: readonly string[], opts: { cwd?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.error?.message}`);
  return r.stdout;
}

/** A temporary directory removed after `fn`. */
export function withTmp<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'pvkit-abi-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Disassembles raw bytes with GNU objdump (x86-64 or i386); returns `{offset, bytes, text}` per instruction. */
export function objdumpRaw(bytes: Uint8Array, bits: 64 | 32): { offset: number; bytes: string; text: string }[] {
  return withTmp((dir) => {
    const f = join(dir, 'code.bin');
    writeFileSync(f, bytes);
    const out = run('objdump', ['-D', '-b', 'binary', '-m', bits === 64 ? 'i386:x86-64' : 'i386', '-M', 'intel', f]);
    const lines: { offset: number; bytes: string; text: string }[] = [];
    for (const l of out.split('\n')) {
      const m = /^\s*([0-9a-f]+):\t([0-9a-f ]+?)\s*\t(.*)$/.exec(l);
      if (m && m[1] && m[2] && m[3] !== undefined) lines.push({ offset: parseInt(m[1], 16), bytes: m[2].trim(), text: m[3].replace(/\s+/g, ' ').trim() });
    }
    return lines;
  });
}
