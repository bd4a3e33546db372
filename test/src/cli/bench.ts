// `pvkit bench`: measure the emulator side by side in one run; print a table, write JSON.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { cpus } from 'node:os';
import { engineCases } from '../bench/engine.js';
import { cpuidEmuCase, kvmCases } from '../bench/kvm.js';
import { measure, table, type BenchResult } from '../bench/measure.js';
import { parseFlags, UsageError } from './usage.js';

const HELP = `usage: pvkit bench [--reps N] [--filter TEXT] [-o FILE.json]

Runs every benchmark N times (default 5) and reports the median. Writes JSON to bench-results/latest.json
unless -o names another file.`;

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
  const cases = [...engineCases(), cpuidEmuCase(), ...await kvmCases()].filter((c) => !filter || c.id.includes(filter) || c.label.includes(filter));
  if (!cases.length) throw new UsageError(`--filter '${filter}' matches no benchmark`);

  const results: BenchResult[] = [];
  for (const c of cases) {
    if (process.stderr.isTTY) process.stderr.write(`bench: ${c.label} ...\x1b[K\r`);
    results.push(await measure(c, reps));
  }
  if (process.stderr.isTTY) process.stderr.write('\x1b[K');
  {
  }
  console.log(table(results));
  console.log('\n[kvm] rows run the same guest loops on /dev/kvm (host/src/backends/kvm); "vs emulator" compares them with the emulator row.');

  const out = resolve(typeof flags.o === 'string' ? flags.o : 'bench-results/latest.json');
  mkdirSync(dirname(out), { recursive: true });
  const doc = {
    tool: 'pvkit bench',
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    reps,
    results,
  };
  writeFileSync(out, JSON.stringify(doc, null, 2) + '\n');
  console.log(`\nwrote ${out}`);
  return 0;
}
