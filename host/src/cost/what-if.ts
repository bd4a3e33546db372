// The questions the 2013 PV-MMIO / ioeventfd threads kept asking, as arithmetic: what does N exits per second
// cost, what does a per-exit difference (e.g. decode vs no decode) cost at a rate, and how many exits fit a budget.
import type { CostKind } from './counters.js';
import { checkCostCycles, checkCostPositive, type CostModel } from './model.js';

export interface RateCost {
  readonly ratePerSecond: number;
  readonly cyclesPerExit: number;
  readonly ghz: number;
  readonly cyclesPerSecond: number;
  /** Fraction of one CPU (0.1 = 10 %). */
  readonly cpuShare: number;
  readonly nsPerExit: number;
}

function checkRate(v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new RangeError(`cost model: ratePerSecond must be a finite number >= 0 (got ${String(v)})`);
  }
}

/** Cost of `ratePerSecond` exits of `cyclesPerExit` each on a `ghz` clock. */
export function exitRateCost(ratePerSecond: number, cyclesPerExit: number, ghz: number): RateCost {
  checkRate(ratePerSecond);
  checkCostCycles('cyclesPerExit', cyclesPerExit);
  checkCostPositive('ghz', ghz);
  const cyclesPerSecond = ratePerSecond * cyclesPerExit;
  return { ratePerSecond, cyclesPerExit, ghz, cyclesPerSecond, cpuShare: cyclesPerSecond / (ghz * 1e9), nsPerExit: cyclesPerExit / ghz };
}

export interface DeltaCost {
  readonly ratePerSecond: number;
  readonly deltaCycles: number;
  readonly ghz: number;
  readonly extraCyclesPerSecond: number;
  /** Extra fraction of one CPU (negative = a saving). */
  readonly extraCpuShare: number;
  readonly extraNsPerExit: number;
}

/** Extra CPU when each of `ratePerSecond` exits costs `deltaCycles` more (negative delta = saving). */
export function deltaCost(ratePerSecond: number, deltaCycles: number, ghz: number): DeltaCost {
  checkRate(ratePerSecond);
  if (typeof deltaCycles !== 'number' || !Number.isFinite(deltaCycles)) {
    throw new RangeError(`cost model: deltaCycles must be a finite number (got ${String(deltaCycles)})`);
  }
  checkCostPositive('ghz', ghz);
  const extraCyclesPerSecond = ratePerSecond * deltaCycles;
  return {
    ratePerSecond,
    deltaCycles,
    ghz,
    extraCyclesPerSecond,
    extraCpuShare: extraCyclesPerSecond / (ghz * 1e9),
    extraNsPerExit: deltaCycles / ghz,
  };
}

/** Largest exit rate whose cost stays within `cpuShare` of one CPU. */
export function maxExitRate(cpuShare: number, cyclesPerExit: number, ghz: number): number {
  checkCostPositive('cpuShare', cpuShare);
  checkCostPositive('cyclesPerExit', cyclesPerExit);
  checkCostPositive('ghz', ghz);
  return (cpuShare * ghz * 1e9) / cyclesPerExit;
}

/** Exit rate at which a per-exit difference of `deltaCycles` adds up to `cpuShare` of one CPU. */
export function rateForShare(cpuShare: number, deltaCycles: number, ghz: number): number {
  return maxExitRate(cpuShare, Math.abs(deltaCycles), ghz);
}

/** Cost of taking path `slow` instead of `fast` for `ratePerSecond` exits under `model` (e.g. doorbellFull vs doorbellFast). */
export function pathDelta(model: CostModel, slow: CostKind, fast: CostKind, ratePerSecond: number, ghz: number): DeltaCost & { slow: CostKind; fast: CostKind } {
  return { ...deltaCost(ratePerSecond, model.cycles(slow) - model.cycles(fast), ghz), slow, fast };
}
