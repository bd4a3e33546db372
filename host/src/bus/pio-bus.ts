// Port I/O bus: ports 0..0xFFFF (x86 I/O space is 64 KiB; ABI-FACTS.md §7 "DX gives 0..0xFFFF").
// Registration is validated by the sorted RangeBus; lookups use a 64K-entry index table built from it
// (registration is rare, port accesses are hot, and the whole space fits in 256 KiB).
import type { IoSize, PioDevice } from './types.js';
import { BusError, RangeBus, type BusEntry, type BusMiss } from './range-bus.js';

/** Size of the x86 I/O port space (SDM Vol. 1 §19.2: 64K individually addressable 8-bit ports). */
export const PIO_SPACE_SIZE = 0x10000;

export interface PioRange {
  readonly device: PioDevice;
  readonly base: number;
  readonly length: number;
}

export interface PioHit extends PioRange {
  readonly offset: number;
}

function checkPortNumber(bus: string, what: string, v: number): bigint {
  if (!Number.isSafeInteger(v)) throw new BusError(bus, 'bad-address', `${what} must be an integer (got ${String(v)})`);
  return BigInt(v);
}

export class PioBus {
  private readonly bus = new RangeBus<PioDevice>('pio bus', BigInt(PIO_SPACE_SIZE));
  /** port -> 1 + index into `dense`, 0 = unclaimed. */
  private readonly table = new Int32Array(PIO_SPACE_SIZE);
  private dense: PioRange[] = [];

  get size(): number {
    return this.bus.size;
  }

  register(base: number, length: number, device: PioDevice): void {
    this.bus.register(checkPortNumber('pio bus', 'base', base), checkPortNumber('pio bus', 'length', length), device);
    this.rebuild();
  }

  /** Remove every range of `device`, or the range starting at port `base`. Throws BusError if none. */
  unregister(target: PioDevice | number): void {
    this.bus.unregister(typeof target === 'number' ? checkPortNumber('pio bus', 'base', target) : target);
    this.rebuild();
  }

  /** The registered range containing `port` (no allocation; hot path for the router). */
  rangeAt(port: number): PioRange | undefined {
    const i = this.table[port & 0xffff]!;
    return i === 0 || port !== (port & 0xffff) ? undefined : this.dense[i - 1];
  }

  /** Device and offset for one port, or undefined. */
  lookup(port: number): PioHit | undefined {
    const r = this.rangeAt(port);
    return r === undefined ? undefined : { ...r, offset: port - r.base };
  }

  /** Device and offset for a `size`-byte access; a miss says whether nothing is there or the access straddles an end. */
  resolve(port: number, size: IoSize): PioHit | BusMiss<PioDevice> {
    const r = this.rangeAt(port);
    if (r === undefined) return { kind: 'unclaimed', addr: BigInt(port), size };
    if (port + size > r.base + r.length) return { kind: 'straddle', addr: BigInt(port), size, entry: this.bus.find(BigInt(port))! };
    return { ...r, offset: port - r.base };
  }

  entries(): readonly PioRange[] {
    return this.dense.slice();
  }

  private rebuild(): void {
    this.table.fill(0);
    this.dense = this.bus.entries().map((e: BusEntry<PioDevice>) => ({ device: e.device, base: Number(e.base), length: Number(e.length) }));
    this.dense.forEach((r, i) => this.table.fill(i + 1, r.base, r.base + r.length));
  }
}
