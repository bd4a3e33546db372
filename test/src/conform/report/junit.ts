// JUnit XML in the form Jenkins/GitLab/surefire consumers read: <testsuites> with one <testsuite> per backend,
// <testcase classname name time>, <failure message type>text</failure> or <skipped message/>.
import type { CaseResult } from '../types.js';
import { summary } from '../runner.js';

/** XML 1.0 text escaping; characters XML 1.0 forbids are replaced by U+FFFD. */
export function xmlEscape(s: string): string {
  return s
    .replace(/[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu, '\ufffd')
    .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Attribute values: also keep tabs and line breaks as character references (parsers normalise raw ones to spaces, XML 1.0 §3.3.3). */
export function xmlAttr(s: string): string {
  return xmlEscape(s).replace(/\t/g, '&#9;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;');
}

const secs = (ms: number) => (ms / 1000).toFixed(3);

export function junitReport(results: readonly CaseResult[], name = 'pvkit conform'): string {
  const backends = [...new Set(results.map((r) => r.backend))];
  const all = summary(results);
  const total = results.reduce((t, r) => t + r.ms, 0);
  const out = ['<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${xmlAttr(name)}" tests="${results.length}" failures="${all.FAIL}" errors="0" skipped="${all.SKIP}" time="${secs(total)}">`];
  for (const b of backends) {
    const rs = results.filter((r) => r.backend === b);
    const s = summary(rs);
    out.push(`  <testsuite name="${xmlAttr(`${name} (${b})`)}" tests="${rs.length}" failures="${s.FAIL}" errors="0" skipped="${s.SKIP}" time="${secs(rs.reduce((t, r) => t + r.ms, 0))}">`);
    for (const r of rs) {
      const head = `    <testcase classname="${xmlAttr(`conform.${b}.${r.groups[0] ?? 'case'}`)}" name="${xmlAttr(r.id)}" time="${secs(r.ms)}"`;
      if (r.status === 'PASS') out.push(`${head}/>`);
      else if (r.status === 'SKIP') out.push(`${head}>`, `      <skipped message="${xmlAttr(r.reason ?? '')}"/>`, '    </testcase>');
      else {
        out.push(`${head}>`, `      <failure message="${xmlAttr(r.problems[0] ?? 'failed')}" type="mismatch">${xmlEscape(`${r.problems.join('\n')}\nsource: ${r.source}`)}</failure>`, '    </testcase>');
      }
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return out.join('\n') + '\n';
}
