// `pvkit conform [--backend emulator|kvm|both] [--group G] [--abi A] [--reporter console|tap|junit|json] [-o FILE]`
import { readFileSync, writeFileSync } from 'node:fs';
import { AbiError, loadAbiJson } from '@pvkit/shared-abi';
import { ABI_NAMES } from '../run/machine.js';
import {
  CASES, GROUPS, REPORTERS, userAbiCases, type ConformCase, emulatorBackend, instanceId, instances, kvmBackend, progressLine, runSuite, select, summary,
  type AbiName, type Backend, type Group, type ReporterName,
} from '../conform/index.js';
import { parseFlags, UsageError } from './usage.js';

const HELP = `usage: pvkit conform [options]

  --backend B       emulator (default), kvm, or both
  --group LIST      only cases in these groups, comma-separated (${GROUPS.join(', ')})
  --abi LIST        only cases for these ABIs, comma-separated (${ABI_NAMES.join(', ')})
  --name TEXT       only cases whose name contains TEXT
  --reporter R      console (default), tap, junit, json
  --abi-file FILE   add cases for a user ABI (JSON, as pvkit abi validate takes); repeatable via commas
  -o FILE           write the report to FILE (a one-line summary still goes to stdout)
  --list            list the selected case instances and exit

Runs the conformance table: each case on each vendor and mode it names, on each backend; a backend that
cannot run here reports SKIP with the reason. Exit code: 0 when nothing failed, 1 on a failure, 2 on misuse.`;

function list<T extends string>(flag: string, v: string | boolean | undefined, known: readonly T[]): T[] | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !v) throw new UsageError(`--${flag}: a comma-separated list expected`);
  const items = v.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = items.filter((s) => !(known as readonly string[]).includes(s));
  if (bad.length) throw new UsageError(`--${flag}: unknown ${bad.map((b) => `'${b}'`).join(', ')} (known: ${known.join(', ')})`);
  return items as T[];
}

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseFlags(argv, {
    backend: 'string', group: 'string', abi: 'string', 'abi-file': 'string', name: 'string', reporter: 'string', o: 'string', list: 'boolean', help: 'boolean',
  });
  if (flags.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}' (see pvkit conform --help)`);
  const backendName = String(flags.backend ?? 'emulator');
  const backends: Backend[] = backendName === 'emulator' ? [emulatorBackend] : backendName === 'kvm' ? [kvmBackend] : backendName === 'both' ? [emulatorBackend, kvmBackend] : [];
  if (!backends.length) throw new UsageError(`--backend: expected emulator, kvm or both, got '${backendName}'`);
  const reporter = String(flags.reporter ?? 'console');
  if (!(reporter in REPORTERS)) throw new UsageError(`--reporter: expected ${Object.keys(REPORTERS).join(', ')}, got '${reporter}'`);
  if (flags.o === true || flags.o === '') throw new UsageError('-o needs a file name');
  const table: ConformCase[] = [...CASES];
  if (typeof flags['abi-file'] === 'string') {
    for (const f of flags['abi-file'].split(',').filter(Boolean)) {
      let text: string;
      try {
        text = readFileSync(f, 'utf8');
      } catch (e) {
        throw new UsageError(`--abi-file: cannot read ${f}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      }
      try {
        table.push(...userAbiCases(loadAbiJson(text, f), f));
      } catch (e) {
        if (e instanceof AbiError) throw new UsageError(`--abi-file: ${f} is not a valid ABI: ${e.message.split('\n')[0]}`);
        throw e;
      }
    }
  } else if (flags['abi-file'] !== undefined) throw new UsageError('--abi-file needs a file name');
  const userNames = table.slice(CASES.length).map((c) => c.abis[0]!);
  const cases = select(table, {
    groups: list<Group>('group', flags.group, GROUPS), abis: list<AbiName>('abi', flags.abi, [...ABI_NAMES, ...userNames] as AbiName[]),
    name: typeof flags.name === 'string' ? flags.name : undefined,
  });
  if (!cases.length) throw new UsageError('no case matches the selection (try --list without filters)');
  if (flags.list) {
    for (const c of cases) for (const e of instances(c)) console.log(`${instanceId(c, e)}  groups=${c.groups.join(',')}  source=${c.source}`);
    return 0;
  }
  const tty = process.stderr.isTTY === true;
  const t0 = performance.now();
  const results = await runSuite(cases, backends, {
    onResult: (r, done, total) => {
      if (tty) process.stderr.write(`\r\x1b[K${progressLine(r, done, total).slice(0, (process.stderr.columns ?? 100) - 1)}`);
      else if (r.status === 'FAIL') process.stderr.write(`${progressLine(r, done, total)}\n`);
    },
  });
  if (tty) process.stderr.write('\r\x1b[K');
  const text = REPORTERS[reporter as ReporterName](results);
  const s = summary(results);
  const line = `pvkit conform: ${results.length} results on ${backends.map((b) => b.name).join('+')}: ${s.PASS} passed, ${s.FAIL} failed, ${s.SKIP} skipped (${((performance.now() - t0) / 1000).toFixed(1)} s)`;
  if (typeof flags.o === 'string') {
    writeFileSync(flags.o, text.endsWith('\n') ? text : `${text}\n`);
    console.log(line);
  } else {
    process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    if (reporter === 'console') console.error(line);
  }
  return s.FAIL ? 1 : 0;
}
