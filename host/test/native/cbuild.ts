// Builds cfuncs.c into a flat image at CODE_BASE with gcc and ld (entry first, libgcc for 64-bit division in
// 32-bit mode), for running the same compiler output natively and in the emulator.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Bits, CODE_BASE, CODE_SIZE } from './layout.js';

const here = dirname(fileURLToPath(import.meta.url));

/** The flags the engine's issue names for guest C, plus what keeps gcc from calling memcpy or adding CET/unwind data. */
export const CFLAGS = [
  '-O2', '-mgeneral-regs-only', '-ffreestanding', '-fno-builtin', '-fno-pic', '-fno-pie', '-fno-stack-protector',
  '-fcf-protection=none', '-fno-asynchronous-unwind-tables', '-fno-tree-loop-distribute-patterns',
];

export type ImageBuild = { readonly ok: true; readonly image: Uint8Array; readonly symbols: ReadonlyMap<string, number> } | { readonly ok: false; readonly reason: string };

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function buildCImage(bits: Bits): ImageBuild {
  const dir = mkdtempSync(join(tmpdir(), 'pvkit-cimg-'));
  const m = bits === 32 ? ['-m32'] : [];
  try {
    const obj = join(dir, 'cfuncs.o');
    const ent = join(dir, 'entry.o');
    const elf = join(dir, 'image.elf');
    const bin = join(dir, 'image.bin');
    run('gcc', [...m, ...CFLAGS, '-c', join(here, 'cfuncs.c'), '-o', obj]);
    run('gcc', [...m, '-c', join(here, `entry${bits}.S`), '-o', ent]);
    const libgcc = run('gcc', [...m, '-print-libgcc-file-name']).trim();
    run('ld', [...(bits === 32 ? ['-m', 'elf_i386'] : []), `--defsym=CODE_BASE=0x${CODE_BASE.toString(16)}`,
      '-T', join(here, 'flat.ld'), '-o', elf, ent, obj, libgcc]);
    run('objcopy', ['-O', 'binary', elf, bin]);
    const symbols = new Map<string, number>();
    for (const line of run('nm', [elf]).split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length === 3) symbols.set(f[2]!, parseInt(f[0]!, 16));
    }
    const image = Uint8Array.from(readFileSync(bin));
    if (image.length > CODE_SIZE - 16) return { ok: false, reason: `image is ${image.length} bytes, more than CODE_SIZE allows` };
    if (symbols.get('entry') !== Number(CODE_BASE)) return { ok: false, reason: `entry is not at CODE_BASE (nm: ${symbols.get('entry')})` };
    if (symbols.get('done') !== Number(CODE_BASE) + image.length) return { ok: false, reason: 'done is not the last byte of the image' };
    return { ok: true, image, symbols };
  } catch (e) {
    const err = e as { code?: string; stderr?: string };
    if (err.code === 'ENOENT') return { ok: false, reason: 'gcc/ld/objcopy/nm not installed' };
    return { ok: false, reason: `building cfuncs.c for ${bits}-bit failed: ${String(err.stderr ?? e).split('\n').slice(0, 4).join(' | ')}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
