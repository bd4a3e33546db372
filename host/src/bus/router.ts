// The VM's I/O router: doorbells first (a matching write is consumed, as KVM's in-kernel ioeventfd consumes it
// before userspace sees an exit), then the PIO / MMIO device buses; every access counted by kind and path.
import type { IoRouter, IoSize, MmioSize } from './types.js';
import { PioBus, type PioRange } from './pio-bus.js';
import { MmioBus } from './mmio-bus.js';
import { DoorbellSet } from './doorbell.js';
import { COST_INDEX, CostCounters } from '../cost/counters.js';

// Counter slots bumped on the hot paths (CostCounters.n).
const C_PIO = COST_INDEX.pio;
const C_MMIO = COST_INDEX.mmioEmulated;
const C_HC_DEVICE = COST_INDEX.hypercallDevice;
const C_DB_PIO = COST_INDEX.doorbellPio;
const C_DB_FULL = COST_INDEX.doorbellFull;
const C_DB_FAST = COST_INDEX.doorbellFast;

/**
 * The modelled second-level translation. 'ept': MMIO is backed by misconfigured EPT entries, so KVM can look the
 * GPA up on KVM_FAST_MMIO_BUS before decoding (vmx.c handle_ept_misconfig). 'npt' (SVM) and 'shadow': no such
 * fast path exists (commit 68c3b4d1676d: "only has effect for EPT on x86"); every MMIO write is decoded.
 */
export type MmuMode = 'ept' | 'npt' | 'shadow';

export type AccessKind = 'pio-read' | 'pio-write' | 'mmio-read' | 'mmio-write';

/** Why the router did not complete an access (the CPU then makes an IoIn/IoOut/MmioRead/MmioWrite exit). */
export interface UnhandledAccess {
  readonly kind: AccessKind;
  readonly addr: bigint;
  readonly size: number;
  readonly why: 'unclaimed' | 'straddle';
  readonly message: string;
}

export interface IoBusRouterOptions {
  readonly pio?: PioBus;
  readonly mmio?: MmioBus;
  readonly doorbells?: DoorbellSet;
  readonly counters?: CostCounters;
  readonly mmuMode?: MmuMode;
  /**
   * The vCPU runs a nested (L2) guest: handle_ept_misconfig skips the fast bus when is_guest_mode(vcpu), so
   * MMIO doorbells take the full path.
   */
  readonly nested?: boolean;
}

/** Per access kind: how many reached a device, a doorbell (and by which path), or nobody. */
export interface RouterStats {
  pioRead: number;
  pioWrite: number;
  mmioRead: number;
  mmioWrite: number;
  doorbellPio: number;
  doorbellFast: number;
  doorbellFull: number;
  unclaimed: number;
  straddle: number;
}

function mask32(size: number): number {
  return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
}

/** Value masks and sizes as bigint, indexed by access size (precomputed: bigint arithmetic allocates). */
const MASK64: readonly bigint[] = [0n, 0xffn, 0xffffn, 0n, 0xffffffffn, 0n, 0n, 0n, 0xffffffffffffffffn];
const BIG_SIZE: readonly bigint[] = [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n];

function mask64(size: number): bigint {
  return MASK64[size]!;
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;

export class IoBusRouter implements IoRouter {
  readonly pio: PioBus;
  readonly mmio: MmioBus;
  readonly doorbells: DoorbellSet;
  readonly counters: CostCounters;
  mmuMode: MmuMode;
  nested: boolean;
  readonly stats: RouterStats = {
    pioRead: 0,
    pioWrite: 0,
    mmioRead: 0,
    mmioWrite: 0,
    doorbellPio: 0,
    doorbellFast: 0,
    doorbellFull: 0,
    unclaimed: 0,
    straddle: 0,
  };
  /** The most recent access nobody completed, with a readable reason. */
  lastUnhandled: UnhandledAccess | undefined;
  /** High 32 bits of the last mmioReadN value. */
  readHi = 0;
  /** Last device offset / written value converted to bigint: repeated accesses to one register reuse them. */
  private offN = -1;
  private offB = 0n;
  private valLo = -1;
  private valHi = -1;
  private valB = 0n;

  constructor(opts: IoBusRouterOptions = {}) {
    this.pio = opts.pio ?? new PioBus();
    this.mmio = opts.mmio ?? new MmioBus();
    this.doorbells = opts.doorbells ?? new DoorbellSet();
    this.counters = opts.counters ?? new CostCounters();
    this.mmuMode = opts.mmuMode ?? 'ept';
    this.nested = opts.nested ?? false;
  }

  /** Depth of viaHypercall() calls in progress. */
  private hcDepth = 0;

  viaHypercall<T>(fn: () => T): T {
    this.hcDepth++;
    try {
      return fn();
    } finally {
      this.hcDepth--;
    }
  }

  /** A device access: trapped and emulated by the CPU, or made for a hypercall (no decode, cost `hypercallDevice`). */
  private countAccess(kind: number): void {
    this.counters.bump(this.hcDepth ? C_HC_DEVICE : kind);
  }

  /** A doorbell signalled; under a hypercall the exit was already counted as `hypercall` and nothing is added. */
  private countDoorbell(kind: number): void {
    if (!this.hcDepth) this.counters.bump(kind);
  }

  pioRead(port: number, size: IoSize): number | undefined {
    // Doorbells never match reads (ioeventfd_ops has no .read).
    const r = this.pio.rangeAt(port);
    if (r === undefined || port + size > r.base + r.length) {
      this.missPio('pio-read', port, size, r);
      return undefined;
    }
    this.stats.pioRead++;
    this.countAccess(C_PIO);
    return (r.device.read(port - r.base, size) & mask32(size)) >>> 0;
  }

  pioWrite(port: number, size: IoSize, value: number): boolean {
    const v = (value & mask32(size)) >>> 0;
    if (this.doorbells.nPio !== 0 && this.doorbells.writeN('pio', port, size, v, 0) !== undefined) {
      this.stats.doorbellPio++;
      this.countDoorbell(C_DB_PIO);
      return true;
    }
    const r = this.pio.rangeAt(port);
    if (r === undefined || port + size > r.base + r.length) {
      this.missPio('pio-write', port, size, r);
      return false;
    }
    this.stats.pioWrite++;
    this.countAccess(C_PIO);
    r.device.write(port - r.base, size, v);
    return true;
  }

  mmioRead(gpa: bigint, size: MmioSize): bigint | undefined {
    const r = this.mmio.rangeAt(gpa);
    if (r === undefined || gpa + BIG_SIZE[size]! > r.end) {
      this.miss('mmio-read', gpa, size, r);
      return undefined;
    }
    this.stats.mmioRead++;
    this.countAccess(C_MMIO);
    return r.device.read(gpa - r.base, size) & mask64(size);
  }

  /** The full path: the store was decoded and emulated; a doorbell still consumes it (via KVM_MMIO_BUS). */
  mmioWrite(gpa: bigint, size: MmioSize, value: bigint): boolean {
    const v = value & mask64(size);
    if (this.doorbells.has('mmio') && this.doorbells.write('mmio', gpa, size, v) !== undefined) {
      this.stats.doorbellFull++;
      this.countDoorbell(C_DB_FULL);
      return true;
    }
    const r = this.mmio.rangeAt(gpa);
    if (r === undefined || gpa + BIG_SIZE[size]! > r.end) {
      this.miss('mmio-write', gpa, size, r);
      return false;
    }
    this.stats.mmioWrite++;
    this.countAccess(C_MMIO);
    r.device.write(gpa - r.base, size, v);
    return true;
  }

  /**
   * The hook the CPU calls BEFORE decoding/emulating a store to MMIO. True = the store is complete (a len-0
   * doorbell at `gpa` was signalled; the CPU only advances RIP past the instruction, no operand is read).
   * Only with 'ept' and not nested, as in handle_ept_misconfig; otherwise false and the CPU takes the full path.
   * Note: handle_ept_misconfig never learns whether the access was a load (the exit qualification is undefined
   * for EPT misconfig), so on KVM a LOAD from such a GPA is "completed" the same way (signal, skip, destination
   * unchanged). A CPU that wants that fidelity asks here before any MMIO access; asking only for stores is the
   * behaviour a well-behaved guest (write-only notify registers) cannot tell apart.
   */
  fastMmio(gpa: bigint): boolean {
    if (this.mmuMode !== 'ept' || this.nested) return false;
    if (!this.doorbells.fastMmioWrite(gpa)) return false;
    this.stats.doorbellFast++;
    this.countDoorbell(C_DB_FAST);
    return true;
  }

  /** mmioRead for a gpa below 2^53: low 32 bits of the value (>= 0), high 32 in readHi; -1 = nobody claims it. */
  mmioReadN(gpa: number, size: MmioSize): number {
    const bus = this.mmio;
    const r = bus.rangeAtN(gpa);
    if (r === undefined || gpa + size > bus.nEnd) {
      this.miss('mmio-read', BigInt(gpa), size, r);
      return -1;
    }
    this.stats.mmioRead++;
    this.countAccess(C_MMIO);
    const v = r.device.read(this.bigOff(gpa - bus.nBase), size);
    if (size !== 8) {
      this.readHi = 0;
      // One conversion for in-range answers (the usual case): Number() is exact below 2^53 and a value beyond
      // that never converts into [0, mask], so the range test on the number is exact.
      const n = Number(v);
      return n >= 0 && n <= mask32(size) ? n : Number(v & MASK64[size]!);
    }
    const w = v & MASK64[8]!;
    this.readHi = Number(w >> 32n);
    return Number(w & 0xffffffffn);
  }

  /** mmioWrite for a gpa below 2^53 with the value as u32 halves (`hi` ignored below 8 bytes). */
  mmioWriteN(gpa: number, size: MmioSize, lo: number, hi: number): boolean {
    const vlo = size >= 4 ? lo >>> 0 : lo & mask32(size);
    const vhi = size === 8 ? hi >>> 0 : 0;
    if (this.doorbells.nMmio !== 0 && this.doorbells.writeN('mmio', gpa, size, vlo, vhi) !== undefined) {
      this.stats.doorbellFull++;
      this.countDoorbell(C_DB_FULL);
      return true;
    }
    const bus = this.mmio;
    const r = bus.rangeAtN(gpa);
    if (r === undefined || gpa + size > bus.nEnd) {
      this.miss('mmio-write', BigInt(gpa), size, r);
      return false;
    }
    this.stats.mmioWrite++;
    this.countAccess(C_MMIO);
    if (vlo !== this.valLo || vhi !== this.valHi) {
      this.valLo = vlo;
      this.valHi = vhi;
      this.valB = vhi === 0 ? BigInt(vlo) : (BigInt(vhi) << 32n) | BigInt(vlo);
    }
    r.device.write(this.bigOff(gpa - bus.nBase), size, this.valB);
    return true;
  }

  /** fastMmio for a gpa below 2^53. */
  fastMmioN(gpa: number): boolean {
    if (this.mmuMode !== 'ept' || this.nested || this.doorbells.nFast === 0) return false;
    if (!this.doorbells.fastMmioWriteN(gpa)) return false;
    this.stats.doorbellFast++;
    this.countDoorbell(C_DB_FAST);
    return true;
  }

  private bigOff(off: number): bigint {
    if (off !== this.offN) {
      this.offN = off;
      this.offB = BigInt(off);
    }
    return this.offB;
  }

  private missPio(kind: AccessKind, port: number, size: number, r: PioRange | undefined): void {
    const e = r === undefined ? undefined : { base: BigInt(r.base), end: BigInt(r.base + r.length), device: r.device };
    this.miss(kind, BigInt(port), size, e);
  }

  private miss(
    kind: AccessKind,
    addr: bigint,
    size: number,
    entry: { base: bigint; end: bigint; device: { name: string } } | undefined,
  ): void {
    const at = `${kind} of ${size} byte(s) at ${hex(addr)}`;
    const why = entry === undefined ? 'unclaimed' : 'straddle';
    const message =
      entry === undefined
        ? `${at}: no device claims this address`
        : `${at}: runs past the end of ${JSON.stringify(entry.device.name)} [${hex(entry.base)}, ${hex(entry.end)})`;
    if (why === 'straddle') this.stats.straddle++;
    else this.stats.unclaimed++;
    this.counters.add('unhandled');
    this.lastUnhandled = { kind, addr, size, why, message };
  }
}
