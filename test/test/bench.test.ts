// The benchmark cases must run and check their own work (hypercall counts, patch counts, doorbell signals);
// how fast they are is the bench command's business, never a unit test's.
import { describe, expect, it } from 'vitest';
import { engineCases } from '../src/bench/engine.js';
import { measure, median, table } from '../src/bench/measure.js';

describe('bench cases', () => {
  for (const c of engineCases(0.01)) {
    it(`${c.id} runs to completion`, async () => {
      const r = await measure(c, 1);
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
    const k = table([
      { id: 'emu.x', label: 'op x', unit: 'exit', ops: 1, reps: 1, nsPerOp: 100, opsPerSec: 1e7, samples: [100] },
      { id: 'kvm.x', label: 'op x on kvm', unit: 'exit', ops: 1, reps: 1, nsPerOp: 5000, opsPerSec: 2e5, samples: [5000], sameAs: 'emu.x' },
      { id: 'kvm.y', label: 'op y on kvm', unit: 'exit', ops: 0, reps: 0, nsPerOp: NaN, opsPerSec: NaN, samples: [], skipped: 'no /dev/kvm' },
    ]);
    expect(k).toMatch(/op x on kvm\s+exit\s+200\.0 k\/s\s+5\.00 µs\s+emu 50\.0x faster/);
    expect(k).toMatch(/op y on kvm\s+exit\s+SKIP\s+no \/dev\/kvm/);
  });
});
