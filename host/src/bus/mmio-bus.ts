// MMIO bus: guest-physical addresses 0..2^64-1 as bigint (never truncated to a JS number).
import type { MmioDevice, MmioSize } from './types.js';
import { BusError, RangeBus, type BusEntry, type BusHit, type BusMiss } from './range-bus.js';

/** x86-64 guest-physical space modelled at its architectural maximum, 2^64 (any narrower MAXPHYADDR fits inside). */
export const MMIO_SPACE_SIZE = 1n << 64n;

function checkBig(what: string, v: bigint): bigint {
  if (typeof v !== 'bigint') throw new BusError('mmio bus', 'bad-address', `${what} must be a bigint (got ${typeof v})`);
  return v;
}

export class MmioBus {
  private readonly bus = new RangeBus<MmioDevice>('mmio bus', MMIO_SPACE_SIZE);
  /**
   * The range rangeAtN() found last and its bounds as numbers (internal, read-only outside). Number(base/end)
   * may round above 2^53, but rangeAtN is only asked about addresses below 2^53, where the comparisons stay exact.
   */
  nEntry: BusEntry<MmioDevice> | undefined;
  nBase = 0;
  nEnd = 0;

  get size(): number {
    return this.bus.size;
  }

  register(base: bigint, length: bigint, device: MmioDevice): void {
    this.bus.register(checkBig('base', base), checkBig('length', length), device);
    this.nEntry = undefined;
  }

  /** Remove every range of `device`, or the range starting at `base`. Throws BusError if none. */
  unregister(target: MmioDevice | bigint): void {
    this.bus.unregister(target);
    this.nEntry = undefined;
  }

  /** The registered range containing `gpa` (no allocation; hot path for the router). */
  rangeAt(gpa: bigint): BusEntry<MmioDevice> | undefined {
    return this.bus.find(gpa);
  }

  /** rangeAt() for a gpa below 2^53 given as a number; on a hit nBase/nEnd hold the range's bounds. */
  rangeAtN(gpa: number): BusEntry<MmioDevice> | undefined {
    const l = this.nEntry;
    if (l !== undefined && gpa >= this.nBase && gpa < this.nEnd) return l;
    const e = this.bus.find(BigInt(gpa));
    if (e !== undefined) {
      this.nEntry = e;
      this.nBase = Number(e.base);
      this.nEnd = Number(e.end);
    }
    return e;
  }

  lookup(gpa: bigint): { device: MmioDevice; offset: bigint } | undefined {
    const e = this.bus.find(gpa);
    return e === undefined ? undefined : { device: e.device, offset: gpa - e.base };
  }

  resolve(gpa: bigint, size: MmioSize): BusHit<MmioDevice> | BusMiss<MmioDevice> {
    return this.bus.resolve(gpa, size);
  }

  entries(): readonly { base: bigint; length: bigint; device: MmioDevice }[] {
    return this.bus.entries();
  }
}
