// Port I/O bus: ports 0..0xFFFF (x86 I/O space is 64 KiB; ABI-FACTS.md §7 "DX gives 0..0xFFFF").
import type { IoSize, PioDevice } from './types.js';
import { BusError, RangeBus, isBusHit, type BusEntry, type BusMiss } from './range-bus.js';

/** Size of the x86 I/O port space (SDM Vol. 1 §19.2: 64K individually addressable 8-bit ports). */
export const PIO_SPACE_SIZE = 0x10000;

export interface PioHit {
  readonly device: PioDevice;
  readonly offset: number;
  readonly base: number;
  readonly length: number;
}

function checkPortNumber(bus: string, what: string, v: number): bigint {
  if (!Number.isSafeInteger(v)) throw new BusError(bus, 'bad-address', `${what} must be an integer (got ${String(v)})`);
  return BigInt(v);
}

export class PioBus {
  private readonly bus = new RangeBus<PioDevice>('pio bus', BigInt(PIO_SPACE_SIZE));

  get size(): number {
    return this.bus.size;
  }

  register(base: number, length: number, device: PioDevice): void {
    this.bus.register(checkPortNumber('pio bus', 'base', base), checkPortNumber('pio bus', 'length', length), device);
  }

  /** Remove every range of `device`, or the range starting at port `base`. Throws BusError if none. */
  unregister(target: PioDevice | number): void {
    this.bus.unregister(typeof target === 'number' ? checkPortNumber('pio bus', 'base', target) : target);
  }

  /** Device and offset for one port, or undefined. */
  lookup(port: number): PioHit | undefined {
    const e = this.bus.find(BigInt(port));
    return e === undefined ? undefined : toHit(e, port);
  }

  /** Device and offset for a `size`-byte access; a miss says whether nothing is there or the access straddles an end. */
  resolve(port: number, size: IoSize): PioHit | BusMiss<PioDevice> {
    const r = this.bus.resolve(BigInt(port), size);
    return isBusHit(r) ? toHit(r.entry, port) : r;
  }

  entries(): readonly { base: number; length: number; device: PioDevice }[] {
    return this.bus.entries().map((e) => ({ base: Number(e.base), length: Number(e.length), device: e.device }));
  }
}

function toHit(e: BusEntry<PioDevice>, port: number): PioHit {
  const base = Number(e.base);
  return { device: e.device, offset: port - base, base, length: Number(e.length) };
}
