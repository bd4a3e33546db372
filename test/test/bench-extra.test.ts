// The issue-8 rows beyond single exits run and check their own work; the chart is well-formed SVG with a bar
// per measured row. (Speed itself is the bench command's business, not a test's.)
import { spawnSync } from 'node:child_process';
import { XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { bigAbi, cWorkloadCase, generationCase, hcpageCase, memoryFigure, memoryFigureIsolated } from '../src/bench/extra.js';
import { chartSvg } from '../src/bench/chart.js';
import { measure, type BenchResult } from '../src/bench/measure.js';

const hasGcc = spawnSync('gcc', ['--version']).status === 0;
if (!hasGcc) console.warn('gcc missing: the C-workload bench row is skipped (.ci/run installs gcc)');

describe('bench rows', () => {
  it.skipIf(!hasGcc)('gcc C workload: runs to HLT twice with the same checksum, counting its instructions', async () => {
    const r = await measure(cWorkloadCase(), 1);
    expect(r.skipped).toBeUndefined();
    expect(r.ops).toBeGreaterThan(100_000);
  });
  it('Xen hypercall-page calls go through the page the MSR write filled', async () => {
    const r = await measure(hcpageCase(0.01), 1);
    expect(r.skipped).toBeUndefined();
    expect(r.ops).toBe(5000);
  });
  it('the 1000-hypercall user ABI validates and generates in all seven formats', async () => {
    expect(bigAbi(1000).hypercalls).toHaveLength(1000);
    const r = await measure(generationCase(), 1);
    expect(r.ops).toBe(1);
  });
  it('memory figure: a guest with every page written stays under 2x its size in resident memory', () => {
    const m = memoryFigure(8);
    expect(m.guestMiB).toBe(8);
    expect(m.ratio).toBeGreaterThan(0);
    expect(m.ratio).toBeLessThan(2);
    const iso = memoryFigureIsolated(16);
    expect(iso.guestMiB).toBe(16);
    expect(iso.ratio).toBeGreaterThan(0.5); // every page was written, so most of the guest is resident
  });
  it('chart: well-formed SVG, one bar per measured row, skipped rows left out', () => {
    const rows: BenchResult[] = [
      { id: 'emu.a', label: 'a <&> b', unit: 'exit', ops: 1, reps: 1, nsPerOp: 120, opsPerSec: 1e9 / 120, samples: [120], targetNsPerOp: 50 },
      { id: 'kvm.a', label: 'a on kvm', unit: 'exit', ops: 1, reps: 1, nsPerOp: 20_000, opsPerSec: 5e4, samples: [20_000], sameAs: 'emu.a' },
      { id: 'kvm.b', label: 'b on kvm', unit: 'exit', ops: 0, reps: 0, nsPerOp: NaN, opsPerSec: NaN, samples: [], skipped: 'no kvm' },
    ];
    const svg = chartSvg(rows);
    expect(XMLValidator.validate(svg)).toBe(true);
    expect(svg.match(/<rect x=/g)).toHaveLength(2);
    expect(svg).toContain('a &lt;&amp;&gt; b');
    expect(svg).not.toContain('b on kvm');
    expect(svg).toContain('#e8823a'); // the KVM row's colour
  });
});
