// Demo step: the seed threads' cost questions, answered by the cost model (host/src/cost) with its cited
// default cycle table. Each answer is arithmetic on published numbers, shown with what it assumes.
import { CostModel, deltaCost, pathDelta } from '@pvkit/host';

const GHZ = 3;
const pct = (share: number) => `${(share * 100).toFixed(2)} %`;

export function questionsDemo(): string[] {
  const model = new CostModel();
  // 1. "A 0.4 µs difference per hypercall": at 10 000 hypercalls/s.
  const d04 = deltaCost(10_000, 0.4e-6 * GHZ * 1e9, GHZ);
  // 2. Port I/O to the device model vs an in-kernel hypercall (the "16x trap-and-decode" style question).
  const pio = model.cycles('pio'), hc = model.cycles('hypercall');
  const pioVsHc = pathDelta(model, 'pio', 'hypercall', 100_000, GHZ);
  // 3. What the EPT fast path saves per MMIO doorbell, at 1 M notifications/s (a busy virtio queue).
  const ept = pathDelta(model, 'doorbellFull', 'doorbellFast', 1_000_000, GHZ);
  // 4. MMIO with instruction emulation vs a pvio MMIO hypercall (no decode) to the same userspace device.
  const hcDev = model.cycles('hypercall') + model.cycles('hypercallDevice');
  const mmioVsHc = pathDelta(model, 'mmioEmulated', 'hypercall', 100_000, GHZ);
  return [
    `Seed-thread questions, at ${GHZ} GHz with the default cycle table (host/src/cost/model.ts cites each figure)`,
    `  0.4 µs more per hypercall at 10 000 hypercalls/s costs ${(d04.extraCyclesPerSecond / 1e6).toFixed(0)} M cycles/s = ${pct(d04.extraCpuShare)} of a CPU`,
    `  port I/O to the device model ${pio} cycles vs in-kernel hypercall ${hc}: ${(pio / hc).toFixed(1)}x; at 100 000 exits/s that is ${pct(pioVsHc.extraCpuShare)} of a CPU more`,
    `  EPT fast-path doorbell saves ${model.cycles('doorbellFull') - model.cycles('doorbellFast')} cycles per notification; at 1 M/s ${pct(ept.extraCpuShare)} of a CPU`,
    `  emulated MMIO ${model.cycles('mmioEmulated')} cycles vs pvio MMIO hypercall ${hcDev} (exit + userspace trip, no decode): ${model.cycles('mmioEmulated') - hcDev} saved per access`,
    `  (emulated MMIO vs a hypercall answered in the kernel: ${pct(mmioVsHc.extraCpuShare)} of a CPU at 100 000/s)`,
  ];
}
