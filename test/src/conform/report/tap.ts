// TAP version 13 (testanything.org/tap-version-13-specification.html): plan first, one `ok`/`not ok` line per
// result numbered from 1, `# SKIP reason` directives, YAML diagnostics (indented two spaces, `---` ... `...`).
import type { CaseResult } from '../types.js';

/** A TAP description must not contain '#' (it would start a directive) nor a newline. */
const desc = (s: string) => s.replace(/#/g, '\\#').replace(/[\r\n]+/g, ' ');

/**
 * A YAML double-quoted scalar (a JSON string is one). Control characters other than tab and newline become
 * U+FFFD: TAP::Parser's YAMLish reader does not decode \\u escapes, so they would arrive as literal text.
 */
const yq = (s: string) => JSON.stringify(s.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '\ufffd'));

export function tapReport(results: readonly CaseResult[]): string {
  const out = ['TAP version 13', `1..${results.length}`];
  results.forEach((r, i) => {
    const name = `${desc(r.id)} on ${r.backend}`;
    if (r.status === 'SKIP') {
      out.push(`ok ${i + 1} - ${name} # SKIP ${desc(r.reason ?? '')}`);
      return;
    }
    out.push(`${r.status === 'PASS' ? 'ok' : 'not ok'} ${i + 1} - ${name}`);
    if (r.status === 'FAIL') {
      out.push('  ---');
      out.push(`  message: ${yq(r.problems[0] ?? 'failed')}`);
      out.push('  severity: fail');
      out.push(`  source: ${yq(r.source)}`);
      out.push('  groups:'); // block sequences only: TAP::Parser's YAMLish has no flow collections
      for (const g of r.groups) out.push(`    - ${yq(g)}`);
      out.push('  problems:');
      for (const p of r.problems) out.push(`    - ${yq(p)}`);
      out.push('  ...');
    }
  });
  return out.join('\n') + '\n';
}
