// An address-range bus in the manner of rust-vmm vm-device `Bus`: non-overlapping [base, base+length) ranges kept
// in a sorted array, lookup by binary search (O(log n)). Addresses are bigint so the same core serves the 16-bit
// port space and the 64-bit guest-physical space; PioBus/MmioBus give each a typed face.

/** One registered range. `end` is exclusive and may equal the size of the space (e.g. 2^64). */
export interface BusEntry<D> {
  readonly base: bigint;
  readonly length: bigint;
  readonly end: bigint;
  readonly device: D;
}

/** Result of resolving an access of `size` bytes: the device, the offset inside its range, the whole entry. */
export interface BusHit<D> {
  readonly entry: BusEntry<D>;
  readonly device: D;
  readonly offset: bigint;
}

/** Why an access did not reach a device: nothing at the address, or it runs past the end of the range it starts in. */
export type BusMiss<D> =
  | { readonly kind: 'unclaimed'; readonly addr: bigint; readonly size: number }
  | { readonly kind: 'straddle'; readonly addr: bigint; readonly size: number; readonly entry: BusEntry<D> };

export type BusErrorCode = 'zero-length' | 'out-of-space' | 'overlap' | 'bad-address' | 'not-registered';

/** Registration errors name the bus, the offending range and (for overlaps) the device already there. */
export class BusError extends Error {
  readonly code: BusErrorCode;
  readonly bus: string;
  constructor(bus: string, code: BusErrorCode, message: string) {
    super(`${bus}: ${message}`);
    this.name = 'BusError';
    this.code = code;
    this.bus = bus;
  }
}

function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

export function showBusRange(base: bigint, length: bigint): string {
  return `[${hex(base)}, ${hex(base + length)})`;
}

function nameOf(device: unknown): string {
  if (typeof device === 'object' && device !== null && 'name' in device) {
    const n = (device as { name: unknown }).name;
    if (typeof n === 'string') return JSON.stringify(n);
  }
  return String(device);
}

export class RangeBus<D> {
  /** Sorted by base; ranges never overlap, so they are also sorted by end. */
  private readonly ranges: BusEntry<D>[] = [];
  /** Last range found: accesses cluster on one device, so this usually answers without a search. */
  private last: BusEntry<D> | undefined;

  /**
   * @param name used in error messages ("pio bus", "mmio bus")
   * @param spaceSize number of addresses in the space (0x10000 for ports, 2^64 for guest-physical)
   */
  constructor(
    readonly name: string,
    readonly spaceSize: bigint,
  ) {}

  get size(): number {
    return this.ranges.length;
  }

  entries(): readonly BusEntry<D>[] {
    return this.ranges.slice();
  }

  register(base: bigint, length: bigint, device: D): BusEntry<D> {
    const what = `cannot register ${nameOf(device)} at ${showBusRange(base, length)}`;
    if (base < 0n || base >= this.spaceSize) {
      throw new BusError(this.name, 'bad-address', `${what}: base ${hex(base)} is outside the space [0, ${hex(this.spaceSize)})`);
    }
    if (length <= 0n) {
      throw new BusError(this.name, 'zero-length', `${what}: length must be > 0 (got ${length})`);
    }
    if (base + length > this.spaceSize) {
      throw new BusError(
        this.name,
        'out-of-space',
        `${what}: range ends past the end of the space (${hex(this.spaceSize)})`,
      );
    }
    const end = base + length;
    // First range whose end is above `base`: the only candidates for overlap are it (and, since ranges are
    // disjoint and sorted, nothing after it can start below `end` unless it does too).
    const i = this.firstEndAbove(base);
    const other = this.ranges[i];
    if (other !== undefined && other.base < end) {
      throw new BusError(
        this.name,
        'overlap',
        `${what}: overlaps ${nameOf(other.device)} at ${showBusRange(other.base, other.length)}`,
      );
    }
    const entry: BusEntry<D> = { base, length, end, device };
    this.ranges.splice(i, 0, entry);
    this.last = undefined;
    return entry;
  }

  /** Remove by device (every range it holds) or by base address of one range. Throws if nothing matched. */
  unregister(target: D | bigint): BusEntry<D>[] {
    const removed: BusEntry<D>[] = [];
    if (typeof target === 'bigint') {
      const i = this.firstEndAbove(target);
      const e = this.ranges[i];
      if (e === undefined || e.base !== target) {
        throw new BusError(this.name, 'not-registered', `no range starts at ${hex(target)}`);
      }
      removed.push(...this.ranges.splice(i, 1));
    } else {
      for (let i = this.ranges.length - 1; i >= 0; i--) {
        if (this.ranges[i]!.device === target) removed.unshift(...this.ranges.splice(i, 1));
      }
      if (removed.length === 0) {
        throw new BusError(this.name, 'not-registered', `device ${nameOf(target)} is not registered`);
      }
    }
    this.last = undefined;
    return removed;
  }

  /** The range containing `addr`, if any. */
  find(addr: bigint): BusEntry<D> | undefined {
    const l = this.last;
    if (l !== undefined && l.base <= addr && addr < l.end) return l;
    const e = this.ranges[this.firstEndAbove(addr)];
    if (e === undefined || e.base > addr) return undefined;
    this.last = e;
    return e;
  }

  /** Resolve an access of `size` bytes at `addr`: a hit only if the whole access lies inside one range. */
  resolve(addr: bigint, size: number): BusHit<D> | BusMiss<D> {
    const entry = this.find(addr);
    if (entry === undefined) return { kind: 'unclaimed', addr, size };
    if (addr + BigInt(size) > entry.end) return { kind: 'straddle', addr, size, entry };
    return { entry, device: entry.device, offset: addr - entry.base };
  }

  /** Binary search: index of the first range with end > addr (ranges.length if none). */
  private firstEndAbove(addr: bigint): number {
    let lo = 0;
    let hi = this.ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ranges[mid]!.end > addr) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

export function isBusHit<D>(r: BusHit<D> | BusMiss<D>): r is BusHit<D> {
  return !('kind' in r);
}
