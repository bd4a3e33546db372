// Expand the case table over vendors x modes x backends, run each instance and judge it.
import { execFileSync } from 'node:child_process';
import { check } from './check.js';
import { SkipCase, type Backend, type CaseEnv, type CaseResult, type ConformCase, type Group, type Need, type AbiName, type Observation } from './types.js';
import { diffObservations } from './diff.js';

export interface Filter {
  readonly groups?: readonly Group[];
  readonly abis?: readonly AbiName[];
  /** Substring of the case name. */
  readonly name?: string;
}

export function select(cases: readonly ConformCase[], f: Filter = {}): ConformCase[] {
  return cases.filter((c) =>
    (!f.groups?.length || c.groups.some((g) => f.groups!.includes(g))) &&
    (!f.abis?.length || c.abis.some((a) => f.abis!.includes(a))) &&
    (!f.name || c.name.includes(f.name)));
}

export function instances(c: ConformCase): CaseEnv[] {
  return c.bits.flatMap((bits) => c.vendors.map((vendor) => ({ bits, vendor })));
}

export const instanceId = (c: ConformCase, e: CaseEnv) => `${c.name} [${e.bits}-bit ${e.vendor}]`;

const toolCache = new Map<string, boolean>();
function hasTool(t: string): boolean {
  if (!toolCache.has(t)) {
    let ok = true;
    try {
      execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' });
    } catch {
      ok = false;
    }
    toolCache.set(t, ok);
  }
  return toolCache.get(t)!;
}

function missingNeed(needs: readonly Need[] | undefined, backend: Backend): string | undefined {
  for (const n of needs ?? []) {
    if (n === 'kvm' && backend.name !== 'kvm') return 'needs the kvm backend';
    if ((n === 'nasm' || n === 'gcc') && !hasTool(n)) return `needs ${n}, not installed`;
  }
  return undefined;
}

export interface RunOptions {
  readonly onResult?: (r: CaseResult, done: number, total: number) => void;
}

/**
 * Run every instance of every case on every backend, in table order. With several backends, an instance that
 * two of them ran is also compared (differential mode): any difference fails the later backend's result.
 */
export async function runSuite(cases: readonly ConformCase[], backends: readonly Backend[], o: RunOptions = {}): Promise<CaseResult[]> {
  const out: CaseResult[] = [];
  const total = cases.reduce((n, c) => n + instances(c).length, 0) * backends.length;
  const avail = new Map(backends.map((b) => [b.name, b.available()]));
  for (const c of cases) {
    for (const env of instances(c)) {
      let first: { backend: string; obs: Observation } | undefined;
      for (const b of backends) {
        const base = { case: c.name, id: instanceId(c, env), env, backend: b.name, groups: c.groups, abis: c.abis, source: c.source };
        const t0 = performance.now();
        let r: CaseResult;
        const a = avail.get(b.name)!;
        const skip = !a.ok ? `${b.name} backend unavailable: ${a.reason}` : (missingNeed(c.needs, b) ?? b.skipReason(c, env));
        if (skip) r = { ...base, status: 'SKIP', reason: skip, problems: [], ms: 0 };
        else {
          let problems: string[];
          let skipped: string | undefined;
          try {
            const prog = c.program(env);
            const obs = await b.run(c, env, c.machine(env), prog);
            problems = check(c.expect(env), obs, prog);
            if (first) problems.push(...diffObservations(first.obs, obs, prog, c.diffIgnore?.registers).map((d) => `differs from ${first!.backend}: ${d}`));
            else first = { backend: b.name, obs };
          } catch (e) {
            if (e instanceof SkipCase) skipped = e.message;
            problems = [`error: ${e instanceof Error ? e.message : String(e)}`];
          }
          r = skipped !== undefined
            ? { ...base, status: 'SKIP', reason: skipped, problems: [], ms: performance.now() - t0 }
            : { ...base, status: problems.length ? 'FAIL' : 'PASS', reason: problems.length ? problems.join('\n') : undefined, problems, ms: performance.now() - t0 };
        }
        out.push(r);
        o.onResult?.(r, out.length, total);
      }
    }
  }
  return out;
}

export function summary(rs: readonly CaseResult[]): Record<'PASS' | 'FAIL' | 'SKIP', number> {
  const s = { PASS: 0, FAIL: 0, SKIP: 0 };
  for (const r of rs) s[r.status]++;
  return s;
}
