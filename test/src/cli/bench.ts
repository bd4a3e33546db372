// `pvkit bench`: measure the emulator side by side in one run; print a table, write JSON.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { cpus } from 'node:os';
import { engineCases } from '../bench/engine.js';
import { cpuidEmuCase, kvmCases } from '../bench/kvm.js';
import { conformCase, cWorkloadCase, generationCase, hcpageCase, memoryFigureIsolated } from '../bench/extra.js';
import { measure, table, type BenchResult } from '../bench/measure.js';
import { chartSvg } from '../bench/chart.js';
import { parseFlags, UsageError } from './usage.js';

const HELP = `usage: pvkit bench [--reps N] [--filter TEXT] [-o FILE.json]

Runs every benchmark N times (default 5) and reports the median, side by side in one run: emulator exits and
guest code, the same operations on real /dev/kvm (SKIP with the reason where it cannot run), stub generation,
the conformance suite, and the memory of a 64 MiB guest. Writes JSON to bench-results/latest.json (or -o) and
an SVG chart next to it.`;

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseFlags(argv, { reps: 'string', filter: 'string', o: 'string', help: 'boolean' });
  if (flags.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  const reps = flags.reps === undefined ? 5 : Number(flags.reps);
  if (!Number.isInteger(reps) || reps < 1 || reps > 100) throw new UsageError(`--reps must be a whole number from 1 to 100, got '${flags.reps}'`);
  const filter = typeof flags.filter === 'string' ? flags.filter : undefined;
  const all = [...engineCases().slice(0, 1), cWorkloadCase(), ...engineCases().slice(1), cpuidEmuCase(), hcpageCase(), ...await kvmCases(), generationCase(), conformCase()];
  const cases = all.filter((c) => !filter || c.id.includes(filter) || c.label.includes(filter));
  if (!cases.length) throw new UsageError(`--filter '${filter}' matches no benchmark`);

  const results: BenchResult[] = [];
  for (const c of cases) {
    if (process.stderr.isTTY) process.stderr.write(`bench: ${c.label} ...\x1b[K\r`);
    results.push(await measure(c, reps));
  }
  if (process.stderr.isTTY) process.stderr.write('\x1b[K');
  console.log(table(results));
  const memory = filter ? undefined : memoryFigureIsolated();
  if (memory) {
    const verdict = memory.ratio < 2 ? 'meets' : 'misses';
    console.log(`\nmemory: a ${memory.guestMiB} MiB guest with every page written adds ${memory.rssDeltaMiB.toFixed(1)} MiB resident (${memory.ratio.toFixed(2)}x the guest; target < 2x: ${verdict})`);
  }

  const out = resolve(typeof flags.o === 'string' ? flags.o : 'bench-results/latest.json');
  mkdirSync(dirname(out), { recursive: true });
  const doc = {
    tool: 'pvkit bench',
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    reps,
    results,
    ...(memory ? { memory } : {}),
  };
  writeFileSync(out, JSON.stringify(doc, null, 2) + '\n');
  const svg = out.replace(/\.json$/, '') + '.svg';
  writeFileSync(svg, chartSvg(results));
  console.log(`\nwrote ${out} and ${svg}`);
  return 0;
}
