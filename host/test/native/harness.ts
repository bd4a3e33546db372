// Builds harness.c with gcc (into a temp dir) and runs batches of cases on the real CPU.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Bits, SCRATCH_SIZE, gprCount } from './layout.js';

const here = dirname(fileURLToPath(import.meta.url));

/** One snippet with its initial state. `regs` has 16 (64-bit) or 8 (32-bit) entries in encoding order. */
export interface MachineCase {
  readonly code: Uint8Array;
  readonly regs: readonly bigint[];
  /** Initial RFLAGS; only FLAG_MASK bits are used. */
  readonly flags: number;
  /** Initial scratch bytes (the rest of the scratch page is zero). */
  readonly scratch?: Uint8Array;
}

export type MachineResult =
  | { readonly kind: 'ok'; readonly regs: bigint[]; readonly flags: number; readonly scratch: Uint8Array }
  | {
      readonly kind: 'fault';
      readonly signal: number;
      /** State at the fault (signal context): RIP of the faulting instruction (after it, for traps), GPRs, flags. */
      readonly rip: bigint;
      readonly regs: bigint[];
      readonly flags: number;
    };

export type HarnessBuild = { readonly ok: true; readonly path: string; readonly bits: Bits } | { readonly ok: false; readonly reason: string };

function hasCpuX86_64(): boolean {
  return process.arch === 'x64' && process.platform === 'linux';
}

/** Compiles the harness for `bits`; returns a reason instead when that is not possible here. */
export function buildHarness(bits: Bits): HarnessBuild {
  if (!hasCpuX86_64()) return { ok: false, reason: `native harness needs linux x86-64, this is ${process.platform}/${process.arch}` };
  const sources = [join(here, 'harness.c'), join(here, bits === 64 ? 'tramp64.S' : 'tramp32.S')];
  // One build per source content, shared by test files and runs (no temp dirs left behind).
  const hash = createHash('sha256');
  for (const f of sources) hash.update(readFileSync(f));
  const dir = join(tmpdir(), 'pvkit-native');
  const out = join(dir, `harness${bits}-${hash.digest('hex').slice(0, 16)}`);
  if (existsSync(out)) return { ok: true, path: out, bits };
  mkdirSync(dir, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const args = [...(bits === 32 ? ['-m32'] : []), '-O1', '-no-pie', '-o', tmp, ...sources];
  try {
    execFileSync('gcc', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    renameSync(tmp, out); // atomic: parallel test files may build at the same time
  } catch (e) {
    const err = e as { code?: string; stderr?: Buffer };
    if (err.code === 'ENOENT') return { ok: false, reason: 'gcc is not installed' };
    const msg = err.stderr?.toString().trim().split('\n').slice(0, 3).join(' | ') ?? String(e);
    return { ok: false, reason: `gcc ${bits === 32 ? '-m32 (gcc-multilib?) ' : ''}failed: ${msg}` };
  }
  return { ok: true, path: out, bits };
}

function hex(bytes: Uint8Array): string {
  return bytes.length === 0 ? '-' : Buffer.from(bytes).toString('hex');
}

/** Text line the harness reads for one case. */
export function caseLine(c: MachineCase, bits: Bits): string {
  const n = gprCount(bits);
  if (c.regs.length !== n) throw new Error(`case has ${c.regs.length} registers, ${bits}-bit needs ${n}`);
  const mask = (1n << BigInt(bits)) - 1n;
  const regs = c.regs.map((r, i) => {
    if (r < 0n || r > mask) throw new Error(`register ${i} value 0x${r.toString(16)} does not fit ${bits} bits`);
    return r.toString(16);
  });
  if (c.scratch && c.scratch.length > SCRATCH_SIZE) throw new Error(`scratch has ${c.scratch.length} bytes, max ${SCRATCH_SIZE}`);
  return [hex(c.code), ...regs, (c.flags >>> 0).toString(16), hex(c.scratch ?? new Uint8Array())].join(' ');
}

function parseLine(line: string, bits: Bits, index: number): MachineResult {
  const f = line.trim().split(/\s+/);
  const n = gprCount(bits);
  if (f[0] === 'fault') {
    if (f.length !== n + 4) throw new Error(`harness fault line for case ${index} is malformed: ${JSON.stringify(line)}`);
    const regs = f.slice(3, n + 3).map((x) => BigInt(`0x${x}`));
    return { kind: 'fault', signal: Number(f[1]), rip: BigInt(`0x${f[2]}`), regs, flags: parseInt(f[n + 3]!, 16) };
  }
  if (f[0] !== 'ok' || f.length !== n + 3) throw new Error(`harness output for case ${index} is malformed: ${JSON.stringify(line)}`);
  const regs = f.slice(1, n + 1).map((x) => BigInt(`0x${x}`));
  const flags = parseInt(f[n + 1]!, 16);
  const scratch = Uint8Array.from(Buffer.from(f[n + 2]!, 'hex'));
  return { kind: 'ok', regs, flags, scratch };
}

/** Runs every case on this CPU, in order, in one harness process. */
export function runNative(build: Extract<HarnessBuild, { ok: true }>, cases: readonly MachineCase[]): MachineResult[] {
  const input = cases.map((c) => caseLine(c, build.bits)).join('\n') + '\n';
  // A snippet that never returns would hang the batch: the timeout turns that into a clear error.
  const r = spawnSync(build.path, [], { input, maxBuffer: 1 << 30, encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw new Error(`harness${build.bits}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`harness${build.bits} exited with ${r.status ?? r.signal}: ${r.stderr}`);
  const lines = r.stdout.split('\n').filter((l) => l.length > 0);
  if (lines.length !== cases.length) throw new Error(`harness printed ${lines.length} results for ${cases.length} cases`);
  return lines.map((l, i) => parseLine(l, build.bits, i));
}
