// Reporters checked by real consumers: TAP by node-tap's tap-parser (npm) and Perl's TAP::Parser (Test::Harness,
// the reference implementation); JUnit XML by fast-xml-parser (npm), Python's expat and xmllint (.ci/run installs
// libxml2-utils). A missing system tool skips with the reason printed. Plus structure checks by hand.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Parser as TapParser, type FinalResults } from 'tap-parser';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { CASES, consoleReport, emulatorBackend, jsonReport, junitReport, kvmBackend, progressLine, runSuite, tapReport, type CaseResult } from '../src/conform/index.js';

const has = (cmd: string) => {
  try {
    execFileSync('sh', ['-c', cmd], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const hasTapParser = has('perl -MTAP::Parser -e 1');
const hasPython = has('python3 -c "import xml.parsers.expat"');
const hasXmllint = has('command -v xmllint');
if (!hasTapParser) console.warn('conform-report: perl TAP::Parser missing; TAP consumer test skipped');
if (!hasPython) console.warn('conform-report: python3 expat missing; JUnit parser test skipped');
if (!hasXmllint) console.warn('conform-report: xmllint not installed; JUnit checked with python3 expat and by hand only');

const dir = mkdtempSync(join(tmpdir(), 'pvkit-conform-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Real results (a few instances, both backends: emulator PASS, kvm SKIP) plus a FAIL with hostile text.
const real = await runSuite(CASES.filter((c) => c.groups.includes('hcpage')).slice(0, 1), [emulatorBackend, kvmBackend]);
const nasty = 'want <0x1> & "b" # not a directive\nsecond line \u0001 \'q\'';
const fail: CaseResult = { ...real[0]!, id: 'evil #1 <case> & "x" [64-bit amd]', status: 'FAIL', reason: nasty, problems: [nasty, 'register rax: want 0x0, got 0x1'] };
const results: CaseResult[] = [...real, fail];

describe('TAP version 13', () => {
  const tap = tapReport(results);
  it('has the version line, a plan, consecutive numbers, SKIP directives and YAML blocks for failures', () => {
    const lines = tap.trimEnd().split('\n');
    expect(lines[0]).toBe('TAP version 13');
    expect(lines[1]).toBe(`1..${results.length}`);
    const tests = lines.filter((l) => /^(ok|not ok) /.test(l));
    expect(tests.map((l) => Number(/^(?:not )?ok (\d+) /.exec(l)![1]))).toEqual(results.map((_r, i) => i + 1));
    results.forEach((r, i) => {
      const l = tests[i]!;
      expect(l.startsWith(r.status === 'FAIL' ? 'not ok' : 'ok'), l).toBe(true);
      expect(l.includes('# SKIP '), l).toBe(r.status === 'SKIP');
    });
    const y = lines.indexOf('  ---');
    expect(y).toBeGreaterThan(0);
    expect(lines[y - 1]).toMatch(/^not ok /);
    expect(lines.slice(y).indexOf('  ...')).toBeGreaterThan(0);
    for (const l of lines.slice(y + 1, y + lines.slice(y).indexOf('  ...'))) expect(l).toMatch(/^ {2}(\w+:|  - ")/);
  });
  it.skipIf(!hasTapParser)('Perl TAP::Parser reads it: plan, statuses, skip reasons, YAML diagnostics, no parse errors', () => {
    const f = join(dir, 'out.tap');
    writeFileSync(f, tap);
    const script = `use TAP::Parser; use JSON::PP; my $p = TAP::Parser->new({ source => $ARGV[0] }); my @t; my @y; my @u;
      while (my $r = $p->next) {
        if ($r->is_test) { push @t, [$r->number + 0, $r->is_actual_ok ? 1 : 0, $r->has_skip ? 1 : 0, $r->explanation] }
        elsif ($r->is_yaml) { push @y, $r->data }
        elsif ($r->is_unknown) { push @u, $r->as_string } }
      print JSON::PP->new->canonical->encode({ version => $p->version + 0, planned => $p->tests_planned + 0, run => $p->tests_run + 0,
        parse_errors => [$p->parse_errors], failed => [map { $_ + 0 } $p->failed], skipped => [map { $_ + 0 } $p->skipped], tests => \\@t, yaml => \\@y, unknown => \\@u });`;
    const o = JSON.parse(execFileSync('perl', ['-e', script, f], { encoding: 'utf8' }));
    expect(o.parse_errors).toEqual([]);
    expect(o.unknown).toEqual([]);
    expect(o.version).toBe(13);
    expect([o.planned, o.run]).toEqual([results.length, results.length]);
    expect(o.failed).toEqual(results.flatMap((r, i) => (r.status === 'FAIL' ? [i + 1] : [])));
    expect(o.skipped).toEqual(results.flatMap((r, i) => (r.status === 'SKIP' ? [i + 1] : [])));
    results.forEach((r, i) => {
      expect(o.tests[i].slice(0, 3)).toEqual([i + 1, r.status === 'FAIL' ? 0 : 1, r.status === 'SKIP' ? 1 : 0]);
      if (r.status === 'SKIP') expect(o.tests[i][3]).toBe(r.reason);
    });
    expect(o.yaml.length).toBe(1);
    expect(o.yaml[0].message).toBe(nasty.replace('\u0001', '\ufffd'));
    expect(o.yaml[0].problems).toEqual(fail.problems.map((p) => p.replace('\u0001', '\ufffd')));
    expect(o.yaml[0].groups).toEqual([...fail.groups]);
  });
});

describe('TAP read by tap-parser (the node-tap parser from npm)', () => {
  it('plan, counts, failures and skips as the suite reported them', async () => {
    const final = await new Promise<FinalResults>((done) => {
      const p = new TapParser(done);
      p.end(tapReport(results));
    });
    expect(final.ok).toBe(false);
    expect([final.plan.start, final.plan.end]).toEqual([1, results.length]);
    expect(final.count).toBe(results.length);
    expect(final.fail).toBe(1);
    expect(final.skip).toBe(results.filter((r) => r.status === 'SKIP').length);
    expect(final.pass).toBe(results.length - 1);
    expect(final.failures.map((f) => f.id)).toEqual([results.findIndex((r) => r.status === 'FAIL') + 1]);
  });
});

describe('JUnit XML read by fast-xml-parser (npm)', () => {
  it('validates as XML and has the testsuites / testsuite / testcase structure JUnit consumers read', () => {
    const xml = junitReport(results);
    expect(XMLValidator.validate(xml)).toBe(true);
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => name === 'testsuite' || name === 'testcase' }).parse(xml);
    const suites = doc.testsuites.testsuite as { name: string; tests: string; failures: string; skipped: string; testcase: { name: string; failure?: unknown; skipped?: unknown }[] }[];
    expect(Number(doc.testsuites.tests)).toBe(results.length);
    for (const s of suites) {
      expect(Number(s.tests)).toBe(s.testcase.length);
      expect(Number(s.failures)).toBe(s.testcase.filter((c) => c.failure !== undefined).length);
      expect(Number(s.skipped)).toBe(s.testcase.filter((c) => c.skipped !== undefined).length);
    }
    expect(suites.flatMap((s) => s.testcase.map((c) => c.name))).toContain(fail.id);
  });
});

describe('JUnit XML', () => {
  const xml = junitReport(results);
  it('has one testsuite per backend with consistent counts, escaped text and no raw control characters', () => {
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites ')).toBe(true);
    expect(xml).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/);
    expect(xml).toContain('name="evil #1 &lt;case&gt; &amp; &quot;x&quot; [64-bit amd]"');
    expect((xml.match(/<testsuite /g) ?? []).length).toBe(2);
    expect((xml.match(/<testcase /g) ?? []).length).toBe(results.length);
    expect((xml.match(/<skipped /g) ?? []).length).toBe(results.filter((r) => r.status === 'SKIP').length);
    expect((xml.match(/<failure /g) ?? []).length).toBe(1);
  });
  it.skipIf(!hasPython)('python3 expat parses it; the tree has the counts and texts consumers read', () => {
    const f = join(dir, 'out.xml');
    writeFileSync(f, xml);
    const py = `import sys, json, xml.etree.ElementTree as E
r = E.parse(sys.argv[1]).getroot()
out = {"root": r.tag, "attrs": r.attrib, "suites": []}
for s in r.findall("testsuite"):
    cs = s.findall("testcase")
    out["suites"].append({"attrs": s.attrib, "n": len(cs), "fail": [c.find("failure").attrib["message"] for c in cs if c.find("failure") is not None],
        "failText": [c.find("failure").text for c in cs if c.find("failure") is not None], "skip": sum(1 for c in cs if c.find("skipped") is not None),
        "names": [c.attrib["name"] for c in cs]})
print(json.dumps(out))`;
    const t = JSON.parse(execFileSync('python3', ['-c', py, f], { encoding: 'utf8' }));
    expect(t.root).toBe('testsuites');
    expect(t.attrs).toMatchObject({ tests: String(results.length), failures: '1', errors: '0', skipped: String(results.filter((r) => r.status === 'SKIP').length) });
    for (const s of t.suites) {
      expect(Number(s.attrs.tests)).toBe(s.n);
      expect(Number(s.attrs.skipped)).toBe(s.skip);
      expect(Number(s.attrs.failures)).toBe(s.fail.length);
    }
    const all = t.suites.flatMap((s: { names: string[] }) => s.names);
    const byBackend = [...new Set(results.map((r) => r.backend))].flatMap((b) => results.filter((r) => r.backend === b).map((r) => r.id));
    expect(all).toEqual(byBackend);
    const fs = t.suites.flatMap((s: { fail: string[] }) => s.fail);
    expect(fs).toEqual([nasty.replace('\u0001', '\ufffd')]);
  });
  it.skipIf(!hasXmllint)('xmllint --noout accepts it', () => {
    const f = join(dir, 'lint.xml');
    writeFileSync(f, xml);
    execFileSync('xmllint', ['--noout', f]);
  });
});

describe('JSON and console', () => {
  it('JSON round-trips every result with its status and reason', () => {
    const j = JSON.parse(jsonReport(results));
    expect(j.version).toBe(1);
    expect(j.summary).toEqual({ PASS: results.filter((r) => r.status === 'PASS').length, FAIL: 1, SKIP: results.filter((r) => r.status === 'SKIP').length });
    expect(j.results.map((r: { id: string; backend: string; status: string }) => [r.id, r.backend, r.status])).toEqual(results.map((r) => [r.id, r.backend, r.status]));
    expect(j.results.at(-1).problems).toEqual(fail.problems);
  });
  it('console: a row per instance with a column per backend, reasons below, the totals', () => {
    const text = consoleReport(results);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^case\s+emulator\s+kvm\s*$/);
    const row = lines.find((l) => l.startsWith(real[0]!.id))!;
    expect(row.trimEnd().split(/\s{2,}/).slice(-2)).toEqual(['PASS', 'SKIP']);
    expect(text).toContain('    second line');
    expect(lines.at(-1)).toBe(`${results.length} results: ${results.filter((r) => r.status === 'PASS').length} passed, 1 failed, ${results.filter((r) => r.status === 'SKIP').length} skipped`);
    expect(progressLine(real[0]!, 3, 12)).toBe(`[ 3/12] PASS emulator: ${real[0]!.id}`);
  });
});
