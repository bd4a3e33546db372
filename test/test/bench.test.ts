// The benchmark cases must run and check their own work (hypercall counts, patch counts, doorbell signals);
// how fast they are is the bench command's business, never a unit test's.
import { describe, expect, it } from 'vitest';
import { engineCases } from '../src/bench/engine.js';
import { measure, median, table } from '../src/bench/measure.js';

describe('bench cases', () => {
  for (const c of engineCases(0.01)) {
    it(`${c.id} runs to completion`, () => {
      const r = measure(c, 1);
      expect(r.ops).toBeGreaterThan(0);
      expect(r.nsPerOp).toBeGreaterThan(0);
      expect(Number.isFinite(r.opsPerSec)).toBe(true);
    });
  }
  it('median and table', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    const t = table([{ id: 'x', label: 'op x', unit: 'exit', ops: 1, reps: 1, nsPerOp: 100, opsPerSec: 1e7, samples: [100], targetNsPerOp: 50 }]);
    expect(t).toMatch(/op x\s+exit\s+10\.00 M\/s\s+100\.0 ns\s+<= 50\.0 ns\s+misses \(2\.0x\)/);
  });
});
