// Console reporter: a progress line while running, then a table of case instances x backends and the reasons.
import type { CaseResult } from '../types.js';
import { summary } from '../runner.js';

/** One progress line (rewritten in place with \r on a TTY). */
export function progressLine(r: CaseResult, done: number, total: number): string {
  return `[${String(done).padStart(String(total).length)}/${total}] ${r.status.padEnd(4)} ${r.backend}: ${r.id}`;
}

export function consoleReport(results: readonly CaseResult[]): string {
  const backends = [...new Set(results.map((r) => r.backend))];
  const ids = [...new Set(results.map((r) => r.id))];
  const cell = new Map(results.map((r) => [`${r.id}\0${r.backend}`, r]));
  const w = Math.min(100, Math.max(4, ...ids.map((i) => i.length)));
  // Shorten long names in the middle so the instance suffix ("[64-bit amd]") stays visible.
  const cut = (s: string) => {
    if (s.length <= w) return s;
    const tail = / \[[^\]]*\]$/.exec(s)?.[0] ?? '';
    return `${s.slice(0, w - tail.length - 1)}…${tail}`;
  };
  const lines = [`${'case'.padEnd(w)}  ${backends.map((b) => b.padEnd(9)).join(' ')}`, `${'-'.repeat(w)}  ${backends.map(() => '-'.repeat(9)).join(' ')}`];
  for (const id of ids) lines.push(`${cut(id).padEnd(w)}  ${backends.map((b) => (cell.get(`${id}\0${b}`)?.status ?? '-').padEnd(9)).join(' ')}`);
  const notes = results.filter((r) => r.status !== 'PASS');
  if (notes.length) {
    lines.push('');
    // SKIP reasons repeat across a backend (e.g. kvm unavailable): show each distinct reason once per backend.
    const seen = new Set<string>();
    for (const r of notes) {
      const key = r.status === 'SKIP' ? `${r.backend}\0${r.reason}` : `${r.id}\0${r.backend}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const n = r.status === 'SKIP' ? notes.filter((x) => x.status === 'SKIP' && x.backend === r.backend && x.reason === r.reason).length : 1;
      const who = r.status === 'SKIP' && n > 1 ? `${n} instances` : r.id;
      lines.push(`${r.status} ${r.backend}: ${who}`);
      for (const l of (r.reason ?? '').split('\n')) lines.push(`    ${l}`);
    }
  }
  const s = summary(results);
  lines.push('', `${results.length} results: ${s.PASS} passed, ${s.FAIL} failed, ${s.SKIP} skipped`);
  return lines.join('\n');
}
