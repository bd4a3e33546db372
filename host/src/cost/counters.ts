// Counters for every exit kind and path the emulator models. The CPU, the router and the hypervisor layer all
// bump the same CostCounters object; CostModel (model.ts) turns a snapshot into cycles, time and CPU share.

/** Every exit kind and path with its own cost. */
export const COST_KINDS = [
  /** Hypercall completed in the kernel (VMCALL/VMMCALL exit, answered without a trip to userspace). */
  'hypercall',
  /** #UD on the other vendor's hypercall instruction, emulated and patched (KVM handle_ud -> emulator_fix_hypercall). */
  'udPatch',
  /** Port I/O that exits to the device model (userspace). */
  'pio',
  /** MMIO access decoded and emulated, then handed to the device model. */
  'mmioEmulated',
  /**
   * A device access made on behalf of a hypercall (pvio MMIO/PIO hypercall, Hyper-V MMIO read/write): the extra
   * trip to the userspace device model, without instruction decode. The hypercall exit itself counts as `hypercall`.
   */
  'hypercallDevice',
  /** MMIO write consumed by a len-0 doorbell without decode (EPT misconfig + KVM_FAST_MMIO_BUS). */
  'doorbellFast',
  /** MMIO write consumed by a doorbell after full decode and emulation (NPT / shadow, or a sized doorbell). */
  'doorbellFull',
  /** Port write consumed by a doorbell (in-kernel, no decode needed: the exit information names port and size). */
  'doorbellPio',
  'msr',
  'cpuid',
  /** An exit of a nested (L2) guest reflected to the L1 hypervisor. */
  'nestedReflection',
  'hlt',
  /** Port I/O or MMIO that nobody claims (exits to the user). */
  'unhandled',
] as const;

export type CostKind = (typeof COST_KINDS)[number];

export type CounterSnapshot = Readonly<Record<CostKind, number>>;

export function emptyCostCounts(): Record<CostKind, number> {
  const r = {} as Record<CostKind, number>;
  for (const k of COST_KINDS) r[k] = 0;
  return r;
}

/** Index of each kind in COST_KINDS (and in CostCounters.n); a null-prototype map so 'toString' is no kind. */
export const COST_INDEX: Readonly<Record<CostKind, number>> = Object.assign(
  Object.create(null) as Record<CostKind, number>,
  Object.fromEntries(COST_KINDS.map((k, i) => [k, i])),
);

export class CostCounters {
  /**
   * Counts by COST_INDEX (internal, for hot paths that bump `n[i]++` with a precomputed index instead of a
   * string lookup). Doubles hold every count exactly up to 2^53.
   */
  readonly n = new Float64Array(COST_KINDS.length);

  add(kind: CostKind, n = 1): void {
    const i = COST_INDEX[kind];
    if (i === undefined) throw new RangeError(`unknown exit kind ${JSON.stringify(kind)}`);
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`count for ${kind} must be a non-negative integer (got ${n})`);
    this.n[i] = this.n[i]! + n;
  }

  /** One more of the kind at COST_INDEX `i` (internal fast path; `i` must come from COST_INDEX). */
  bump(i: number): void {
    this.n[i] = this.n[i]! + 1;
  }

  get(kind: CostKind): number {
    return this.n[COST_INDEX[kind]]!;
  }

  total(): number {
    let t = 0;
    for (let i = 0; i < this.n.length; i++) t += this.n[i]!;
    return t;
  }

  snapshot(): CounterSnapshot {
    const r = emptyCostCounts();
    COST_KINDS.forEach((k, i) => (r[k] = this.n[i]!));
    return r;
  }

  reset(): void {
    this.n.fill(0);
  }

  /** Counts added since `before` (for measuring one phase of a run). */
  since(before: CounterSnapshot): CounterSnapshot {
    const r = emptyCostCounts();
    COST_KINDS.forEach((k, i) => (r[k] = this.n[i]! - before[k]));
    return r;
  }
}
