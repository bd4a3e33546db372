// Run a machine to a final exit. Accesses nobody claims are completed the way QEMU treats unassigned
// ports and addresses (reads give all ones, writes are dropped) and listed, so a run never stalls on them.
import { describeExit, type Exit, type Vcpu } from '@pvkit/host';
import type { Machine } from './machine.js';

export interface Unclaimed {
  readonly kind: 'IoIn' | 'IoOut' | 'MmioRead' | 'MmioWrite';
  readonly text: string;
}

export interface RunOutcome {
  /** The exit that ended the run: Hlt (success), Shutdown, Exception, BudgetExhausted, or an unhandled Hypercall. */
  readonly final: Exit;
  readonly ok: boolean;
  readonly instructions: number;
  readonly wallMs: number;
  readonly unclaimed: readonly Unclaimed[];
}

/**
 * Completes an access nobody claims the way QEMU treats unassigned ports and addresses (reads all ones,
 * writes dropped) and lists it. False when `e` is not such an access.
 */
export function completeUnclaimed(e: Exit, v: Pick<Vcpu, 'completeIoIn' | 'completeMmioRead'> | undefined, unclaimed: Unclaimed[]): boolean {
  if (e.kind !== 'IoIn' && e.kind !== 'MmioRead' && e.kind !== 'IoOut' && e.kind !== 'MmioWrite') return false;
  unclaimed.push({ kind: e.kind, text: describeExit(e) });
  if (e.kind === 'IoIn') v?.completeIoIn(e.size === 4 ? 0xffffffff : e.size === 2 ? 0xffff : 0xff);
  if (e.kind === 'MmioRead') v?.completeMmioRead((1n << BigInt(8 * e.size)) - 1n);
  return true;
}

export function runMachine(m: Machine, opts: { budget: number; wallMs: number }): RunOutcome {
  const unclaimed: Unclaimed[] = [];
  const t0 = performance.now();
  const start = m.vm.vcpus.reduce((n, v) => n + v.icount, 0);
  let final: Exit;
  for (;;) {
    const left = opts.budget - (m.vm.vcpus.reduce((n, v) => n + v.icount, 0) - start);
    const e = m.vm.run({ budget: Math.max(1, left), wallMs: Math.max(1, opts.wallMs - (performance.now() - t0)) });
    if (completeUnclaimed(e, m.vm.vcpus[e.vcpu], unclaimed)) continue;
    final = e;
    break;
  }
  return {
    final,
    ok: final.kind === 'Hlt',
    instructions: m.vm.vcpus.reduce((n, v) => n + v.icount, 0) - start,
    wallMs: performance.now() - t0,
    unclaimed,
  };
}
