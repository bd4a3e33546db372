// Timing: each case runs `reps` times; the median rate is reported. Cases in one run are measured side by side
// on the same machine, so ratios between rows mean more than absolute numbers (the machines are noisy).

export interface BenchCase {
  /** Stable id used in the JSON (`emu.hypercall`). */
  readonly id: string;
  /** Row label for the table. */
  readonly label: string;
  /** What one "op" is (instruction, hypercall, exit, write). */
  readonly unit: string;
  /** Builds a fresh run; returns how many ops it performs and a function doing them (timed), or a skip reason. */
  prepare(): Prepared | Promise<Prepared>;
  /** Optional target in ns/op (issue targets), shown next to the measurement. */
  readonly targetNsPerOp?: number;
  /** For a real-KVM row: the id of the emulator row measuring the same operation (for the ratio column). */
  readonly sameAs?: string;
}

export type Prepared = { ops: number; run(): void | Promise<void>; cleanup?(): void } | { skip: string };

export interface BenchResult {
  readonly id: string;
  readonly label: string;
  readonly unit: string;
  readonly ops: number;
  readonly reps: number;
  /** Median over repetitions. */
  readonly nsPerOp: number;
  readonly opsPerSec: number;
  /** All repetitions (ns/op), for spread. */
  readonly samples: readonly number[];
  readonly targetNsPerOp?: number;
  readonly sameAs?: string;
  readonly skipped?: string;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export async function measure(c: BenchCase, reps: number): Promise<BenchResult> {
  const samples: number[] = [];
  let ops = 0;
  const extra = {
    ...(c.targetNsPerOp !== undefined ? { targetNsPerOp: c.targetNsPerOp } : {}),
    ...(c.sameAs !== undefined ? { sameAs: c.sameAs } : {}),
  };
  for (let i = 0; i < reps; i++) {
    const p = await c.prepare();
    if ('skip' in p) return { id: c.id, label: c.label, unit: c.unit, ops: 0, reps: 0, nsPerOp: NaN, opsPerSec: NaN, samples: [], skipped: p.skip, ...extra };
    ops = p.ops;
    try {
      const t0 = process.hrtime.bigint();
      await p.run();
      const ns = Number(process.hrtime.bigint() - t0);
      samples.push(ns / p.ops);
    } finally {
      p.cleanup?.();
    }
  }
  const nsPerOp = median(samples);
  return { id: c.id, label: c.label, unit: c.unit, ops, reps, nsPerOp, opsPerSec: 1e9 / nsPerOp, samples, ...extra };
}

export function formatRate(opsPerSec: number): string {
  if (opsPerSec >= 1e9) return `${(opsPerSec / 1e9).toFixed(2)} G/s`;
  if (opsPerSec >= 1e6) return `${(opsPerSec / 1e6).toFixed(2)} M/s`;
  if (opsPerSec >= 1e3) return `${(opsPerSec / 1e3).toFixed(1)} k/s`;
  return `${opsPerSec.toFixed(1)} /s`;
}

export function formatNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${ns.toFixed(1)} ns`;
}

/** A plain-text table: one row per result with rate, ns/op, target and verdict. */
export function table(results: readonly BenchResult[]): string {
  const byId = new Map(results.map((r) => [r.id, r]));
  const rows = results.map((r) => {
    if (r.skipped) return [r.label, r.unit, 'SKIP', '', '', '', r.skipped];
    const target = r.targetNsPerOp;
    const verdict = target === undefined ? '' : r.nsPerOp <= target ? 'meets' : `misses (${(r.nsPerOp / target).toFixed(1)}x)`;
    // KVM rows: how many times slower real KVM is than the emulator for the same operation (measured in this run).
    const emu = r.sameAs ? byId.get(r.sameAs) : undefined;
    const ratio = emu && !emu.skipped ? `emu ${(r.nsPerOp / emu.nsPerOp).toFixed(1)}x faster` : '';
    return [r.label, r.unit, formatRate(r.opsPerSec), formatNs(r.nsPerOp), target === undefined ? '' : `<= ${formatNs(target)}`, verdict, ratio];
  });
  const head = ['operation', 'op', 'rate', 'time/op', 'target', '', 'vs emulator'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd();
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n');
}
