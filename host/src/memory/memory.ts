// Guest-physical memory: RAM regions (one ArrayBuffer each), MMIO ranges (labels; accesses go to the
// IoRouter) and everything else unbacked. Per-page code tracking: a page holding decoded instructions is
// marked, and any write to it (guest store, host writeBytes, the #UD patcher) calls the invalidation listener.

/** 4 KiB pages (SDM Vol. 3A 4.3, paging granularity). */
export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;

export interface RamRegion {
  readonly kind: 'ram';
  readonly name: string;
  /** Guest-physical base; numbers are exact below 2^53 and guest-physical space is at most 2^52 (SDM 4.1.4 MAXPHYADDR). */
  readonly base: number;
  readonly size: number;
  readonly end: number;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** One flag per page: 1 = the decode cache holds instructions from this page. */
  readonly code: Uint8Array;
}

export interface MmioRegion {
  readonly kind: 'mmio';
  readonly name: string;
  readonly base: number;
  readonly size: number;
  readonly end: number;
}

export type Region = RamRegion | MmioRegion;

export interface GuestMemoryOptions {
  /** Guest-physical address width; identity-mapped addresses at or above 2^physBits fault (#PF). Default 48. */
  physBits?: number;
}

/** Host-side misuse of the memory API (bad address/length); never raised by guest actions. */
export class MemoryError extends RangeError {
  constructor(where: string, value: bigint | number, why: string) {
    super(`${where}: ${why} (value: 0x${value.toString(16)})`);
    this.name = 'MemoryError';
  }
}

function toNum(where: string, gpa: bigint | number): number {
  const n = typeof gpa === 'bigint' ? gpa : BigInt(gpa);
  if (n < 0n || n >= 1n << 52n) throw new MemoryError(where, n, 'guest-physical address outside 0..2^52');
  return Number(n);
}

export class GuestMemory {
  readonly physLimit: number;
  private readonly ram: RamRegion[] = [];
  private readonly mmio: MmioRegion[] = [];
  private last: RamRegion | undefined;
  /** [holeLo, holeHi): the RAM-free gap around the last address findRam missed (MMIO is accessed there repeatedly). */
  private holeLo = 0;
  private holeHi = 0;
  /** Called with the page number (gpa >> 12) when a marked code page is written. */
  onCodeWrite: ((page: number) => void) | undefined;

  constructor(opts: GuestMemoryOptions = {}) {
    const bits = opts.physBits ?? 48;
    if (!Number.isInteger(bits) || bits < 32 || bits > 52) throw new MemoryError('physBits', bits, 'must be 32..52');
    this.physLimit = 2 ** bits;
  }

  /** Add a RAM region; base and size must be page aligned and must not overlap another region. */
  addRam(gpa: bigint | number, size: number, name = `ram@${gpa.toString(16)}`): RamRegion {
    const base = this.checkNew('addRam', gpa, size);
    const buf = new ArrayBuffer(size);
    const r: RamRegion = {
      kind: 'ram', name, base, size, end: base + size, bytes: new Uint8Array(buf), view: new DataView(buf),
      code: new Uint8Array(size >> PAGE_SHIFT),
    };
    this.ram.push(r);
    this.ram.sort((a, b) => a.base - b.base);
    this.holeLo = this.holeHi = 0;
    return r;
  }

  /** Declare an MMIO range (data accesses go to the IoRouter; so do accesses to unbacked addresses). */
  addMmio(gpa: bigint | number, size: number, name = `mmio@${gpa.toString(16)}`): MmioRegion {
    const base = this.checkNew('addMmio', gpa, size);
    const r: MmioRegion = { kind: 'mmio', name, base, size, end: base + size };
    this.mmio.push(r);
    return r;
  }

  regions(): readonly Region[] {
    return [...this.ram, ...this.mmio].sort((a, b) => a.base - b.base);
  }

  private checkNew(where: string, gpa: bigint | number, size: number): number {
    const base = toNum(`${where}.gpa`, gpa);
    if (base % PAGE_SIZE !== 0) throw new MemoryError(`${where}.gpa`, base, 'must be 4 KiB aligned');
    if (!Number.isInteger(size) || size <= 0 || size % PAGE_SIZE !== 0 || size > 2 ** 31) {
      throw new MemoryError(`${where}.size`, size, 'must be a positive multiple of 4 KiB, at most 2 GiB');
    }
    if (base + size > this.physLimit) throw new MemoryError(`${where}.gpa`, base, `region ends beyond 2^physBits`);
    for (const r of [...this.ram, ...this.mmio]) {
      if (base < r.end && r.base < base + size) {
        throw new MemoryError(`${where}.gpa`, base, `overlaps region ${r.name} [0x${r.base.toString(16)}, 0x${r.end.toString(16)})`);
      }
    }
    return base;
  }

  /** The RAM region holding [addr, addr+len) entirely, if any. Hot path: last hit first. */
  findRam(addr: number, len: number): RamRegion | undefined {
    const l = this.last;
    if (l !== undefined && addr >= l.base && addr + len <= l.end) return l;
    if (addr < this.holeHi && addr >= this.holeLo) return undefined;
    for (const r of this.ram) {
      if (addr >= r.base && addr + len <= r.end) {
        this.last = r;
        return r;
      }
    }
    this.noteHole(addr);
    return undefined;
  }

  /** Remember the gap between RAM regions that holds `addr`, if `addr` is in one (regions are sorted by base). */
  private noteHole(addr: number): void {
    if (!(addr >= 0)) return; // negative or NaN: no gap to remember
    let lo = 0;
    let hi = Infinity;
    for (const r of this.ram) {
      if (addr >= r.base && addr < r.end) return; // inside RAM: the access only ran past the region's end
      if (r.end <= addr) lo = r.end;
      else if (r.base > addr) {
        hi = r.base;
        break;
      }
    }
    this.holeLo = lo;
    this.holeHi = hi;
  }

  /** True when every byte of [addr, addr+len) is RAM (possibly across adjacent regions). */
  isRam(addr: number, len: number): boolean {
    for (let a = addr; a < addr + len;) {
      const r = this.findRam(a, 1);
      if (r === undefined) return false;
      a = r.end;
    }
    return true;
  }

  mmioRegionAt(addr: number): MmioRegion | undefined {
    return this.mmio.find((r) => addr >= r.base && addr < r.end);
  }

  /** Mark the page holding `addr` as holding decoded code. */
  markCode(addr: number): void {
    const r = this.findRam(addr, 1);
    if (r !== undefined) r.code[(addr - r.base) >> PAGE_SHIFT] = 1;
  }

  /** Every write into RAM must pass here (after storing) so decoded code on the page is dropped. */
  noteWrite(r: RamRegion, off: number, len: number): void {
    const p0 = off >> PAGE_SHIFT;
    const p1 = (off + len - 1) >> PAGE_SHIFT;
    for (let p = p0; p <= p1; p++) {
      if (r.code[p] !== 0) {
        r.code[p] = 0;
        this.onCodeWrite?.(Math.floor(r.base / PAGE_SIZE) + p); // base may exceed 2^32: no >>
      }
    }
  }

  /** Host read of guest RAM (copy). Throws MemoryError if any byte is not RAM. */
  readBytes(gpa: bigint | number, len: number): Uint8Array {
    const a = toNum('readBytes.gpa', gpa);
    const out = new Uint8Array(len);
    for (let i = 0; i < len;) {
      const r = this.findRam(a + i, 1);
      if (r === undefined) throw new MemoryError('readBytes.gpa', a + i, 'not RAM');
      const n = Math.min(len - i, r.end - (a + i));
      out.set(r.bytes.subarray(a + i - r.base, a + i - r.base + n), i);
      i += n;
    }
    return out;
  }

  /** Host write into guest RAM; invalidates decoded code on the touched pages (all vCPUs). */
  writeBytes(gpa: bigint | number, data: Uint8Array | readonly number[]): void {
    const a = toNum('writeBytes.gpa', gpa);
    const src = data instanceof Uint8Array ? data : Uint8Array.from(data);
    if (!this.isRam(a, src.length)) throw new MemoryError('writeBytes.gpa', a, `[gpa, gpa+${src.length}) is not all RAM`);
    for (let i = 0; i < src.length;) {
      const r = this.findRam(a + i, 1)!;
      const n = Math.min(src.length - i, r.end - (a + i));
      r.bytes.set(src.subarray(i, i + n), a + i - r.base);
      this.noteWrite(r, a + i - r.base, n);
      i += n;
    }
  }

  readU64(gpa: bigint | number): bigint {
    const b = this.readBytes(gpa, 8);
    return new DataView(b.buffer).getBigUint64(0, true);
  }

  writeU64(gpa: bigint | number, value: bigint): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, value), true);
    this.writeBytes(gpa, b);
  }

  readU32(gpa: bigint | number): number {
    const b = this.readBytes(gpa, 4);
    return new DataView(b.buffer).getUint32(0, true);
  }

  writeU32(gpa: bigint | number, value: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value >>> 0, true);
    this.writeBytes(gpa, b);
  }
}
