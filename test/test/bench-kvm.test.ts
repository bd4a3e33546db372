// Real-KVM bench rows: each either SKIPs with a printed reason or runs its loop on /dev/kvm, checks its own
// work (exit counts, eventfd count, CPUID signature) and reports a positive ns/op. How fast is not asserted.
import { describe, expect, it } from 'vitest';
import { detectKvmBackend } from '@pvkit/host';
import { cpuidEmuCase, kvmCases } from '../src/bench/kvm.js';
import { measure } from '../src/bench/measure.js';
import { engineCases } from '../src/bench/engine.js';

const info = detectKvmBackend();
if (!info.present) console.warn(`bench-kvm: /dev/kvm not usable (${info.reason}): kvm rows must SKIP`);
const cases = await kvmCases(0.05);
const emuIds = new Set([...engineCases(0.01), cpuidEmuCase(0.01)].map((c) => c.id));

describe('kvm bench rows', () => {
  it('emu.cpuid runs and checks the KVM signature', async () => {
    const r = await measure(cpuidEmuCase(0.01), 1);
    expect(r.skipped).toBeUndefined();
    expect(r.nsPerOp).toBeGreaterThan(0);
  });

  for (const c of cases) {
    it(`${c.id} runs or skips with a reason`, async () => {
      expect(c.id.startsWith('kvm.')).toBe(true);
      expect(c.label).toMatch(/\[kvm\]$/);
      expect(emuIds.has(c.sameAs!), `${c.id}.sameAs '${c.sameAs}' names an emulator row`).toBe(true);
      const r = await measure(c, 2);
      if (r.skipped !== undefined) {
        console.warn(`bench-kvm: ${c.id} SKIP: ${r.skipped}`);
        expect(r.skipped.length).toBeGreaterThan(0);
        // With /dev/kvm present only the hypercall row may skip (kvm_pvm: VMCALL never returns).
        if (info.present) {
          expect(c.id.startsWith('kvm.hypercall.')).toBe(true);
          expect(info.hypercallsComplete).toBe(false);
        }
        return;
      }
      expect(r.ops).toBeGreaterThan(0);
      expect(r.samples).toHaveLength(2);
      expect(r.nsPerOp).toBeGreaterThan(0);
      expect(Number.isFinite(r.nsPerOp)).toBe(true);
    });
  }
});
