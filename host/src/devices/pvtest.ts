// The pvkit test device: a small console-like device reachable through port I/O and MMIO (same register offsets),
// with an input FIFO, an output buffer, and a descriptor ring in guest memory consumed on a doorbell. It records
// a trace of what it sees so tests can prove every transport (PIO, MMIO, doorbell, MMIO hypercall) is equivalent.
import type { IoSize, MmioDevice, MmioSize, PioDevice } from '../bus/types.js';
import {
  PVTEST_ID_VALUE,
  PVTEST_MAX_DESC_LEN,
  PVTEST_MAX_RING,
  PVTEST_VERSION_VALUE,
  PVTEST_WINDOW,
  PvtestControl,
  PvtestError,
  PvtestReg,
  PvtestRing,
  PvtestStatus,
} from './pvtest-regs.js';

/** What the device needs from guest memory (DMA). E1's GuestMemory satisfies it structurally. */
export interface DmaMemory {
  readBytes(gpa: bigint, len: number): Uint8Array;
  writeBytes(gpa: bigint, data: Uint8Array): void;
}

/** Device-visible events. A doorbell register write and a doorbell signal both appear as `notify`. */
export type PvtestTraceEntry =
  | { readonly op: 'read' | 'write'; readonly offset: number; readonly size: number; readonly value: bigint }
  | { readonly op: 'notify' };

export interface PvtestState {
  readonly status: number;
  readonly control: number;
  readonly ringBase: string;
  readonly ringSize: number;
  readonly head: number;
  readonly outCount: number;
  readonly processed: number;
  readonly error: number;
  readonly notifies: number;
  readonly input: number[];
  readonly output: number[];
}

const U64_MASK = (1n << 64n) - 1n;

function ones(size: number): bigint {
  return (1n << BigInt(size * 8)) - 1n;
}

export class PvTestDevice {
  readonly trace: PvtestTraceEntry[] = [];
  /** Set false to stop recording (e.g. for benchmarks). */
  tracing = true;
  /** Human-readable cause of the last error (the ERROR register holds only the code). */
  lastErrorMessage = '';

  private statusW1c = 0; // ERROR | DONE latched bits
  private control = 0;
  private ringBase = 0n;
  private ringSize = 0;
  private head = 0;
  private outCount = 0;
  private processed = 0;
  private error: number = PvtestError.NONE;
  private notifies = 0;
  private input: number[] = [];
  private out: number[] = [];

  readonly pio: PioDevice;
  readonly mmio: MmioDevice;

  constructor(
    readonly name: string,
    private readonly mem: DmaMemory,
  ) {
    this.pio = {
      name,
      read: (offset: number, size: IoSize) => Number(this.read(offset, size)),
      write: (offset: number, size: IoSize, value: number) => this.write(offset, size, BigInt(value >>> 0)),
    };
    this.mmio = {
      name,
      read: (offset: bigint, size: MmioSize) => this.read(Number(offset), size),
      write: (offset: bigint, size: MmioSize, value: bigint) => this.write(Number(offset), size, value),
    };
  }

  // ---- host side ----

  pushInput(bytes: Uint8Array | readonly number[]): void {
    for (const b of bytes) this.input.push(b & 0xff);
  }

  output(): Uint8Array {
    return Uint8Array.from(this.out);
  }

  outputText(): string {
    return new TextDecoder().decode(this.output());
  }

  takeOutput(): Uint8Array {
    const o = this.output();
    this.out = [];
    return o;
  }

  /** Doorbell notification (what a doorbell's onSignal calls; a DOORBELL register write does the same). */
  notify(): void {
    if (this.tracing) this.trace.push({ op: 'notify' });
    this.notifies = (this.notifies + 1) >>> 0;
    this.processRing();
  }

  // ---- register interface (offset inside the window) ----

  read(offset: number, size: number): bigint {
    const v = this.readReg(offset, size);
    if (this.tracing) this.trace.push({ op: 'read', offset, size, value: v });
    return v;
  }

  write(offset: number, size: number, value: bigint): void {
    const v = value & ones(size);
    if (offset === PvtestReg.DOORBELL && isIoSize(size)) {
      this.notify();
      return;
    }
    if (this.tracing) this.trace.push({ op: 'write', offset, size, value: v });
    this.writeReg(offset, size, v);
  }

  private status(): number {
    let s = this.statusW1c;
    if (this.input.length > 0) s |= PvtestStatus.IN_AVAIL;
    if (this.control & PvtestControl.ENABLE && validRingSize(this.ringSize)) s |= PvtestStatus.RING_READY;
    return s;
  }

  private readReg(offset: number, size: number): bigint {
    if (offset === PvtestReg.DATA_IN && isIoSize(size)) {
      let v = 0n;
      for (let i = 0; i < size; i++) v |= BigInt(this.input.shift() ?? 0) << BigInt(8 * i);
      return v;
    }
    if (offset === PvtestReg.RING_BASE_LO && size === 8) return this.ringBase;
    if ((offset === PvtestReg.DATA_OUT || offset === PvtestReg.DOORBELL) && isIoSize(size)) return 0n;
    if (size !== 4 || offset % 4 !== 0 || offset < 0 || offset >= PVTEST_WINDOW) {
      this.fail(PvtestError.BAD_ACCESS, `read of ${size} byte(s) at offset 0x${offset.toString(16)}`);
      return ones(size);
    }
    const r = PvtestReg;
    const word = ((): number => {
      switch (offset) {
        case r.ID: return PVTEST_ID_VALUE;
        case r.VERSION: return PVTEST_VERSION_VALUE;
        case r.STATUS: return this.status();
        case r.CONTROL: return this.control;
        case r.IN_COUNT: return this.input.length;
        case r.RING_BASE_LO: return Number(this.ringBase & 0xffffffffn);
        case r.RING_BASE_HI: return Number(this.ringBase >> 32n);
        case r.RING_SIZE: return this.ringSize;
        case r.RING_HEAD: return this.head;
        case r.OUT_COUNT: return this.outCount;
        case r.PROCESSED: return this.processed;
        case r.ERROR: return this.error;
        case r.NOTIFIES: return this.notifies;
        default: return 0;
      }
    })();
    return BigInt(word >>> 0);
  }

  private writeReg(offset: number, size: number, v: bigint): void {
    const r = PvtestReg;
    if (offset === r.DATA_OUT && isIoSize(size)) {
      for (let i = 0; i < size; i++) this.append(Number((v >> BigInt(8 * i)) & 0xffn));
      return;
    }
    if (offset === r.RING_BASE_LO && size === 8) {
      this.ringBase = v & U64_MASK;
      return;
    }
    if (size !== 4 || offset % 4 !== 0 || offset < 0 || offset >= PVTEST_WINDOW) {
      this.fail(PvtestError.BAD_ACCESS, `write of ${size} byte(s) at offset 0x${offset.toString(16)}`);
      return;
    }
    const w = Number(v) >>> 0;
    switch (offset) {
      case r.STATUS: {
        const clear = w & (PvtestStatus.ERROR | PvtestStatus.DONE);
        this.statusW1c &= ~clear;
        if (clear & PvtestStatus.ERROR) this.error = PvtestError.NONE;
        return;
      }
      case r.CONTROL:
        if (w & PvtestControl.RESET) this.reset();
        else this.control = w & PvtestControl.ENABLE;
        return;
      case r.RING_BASE_LO:
        this.ringBase = (this.ringBase & ~0xffffffffn & U64_MASK) | BigInt(w);
        return;
      case r.RING_BASE_HI:
        this.ringBase = (this.ringBase & 0xffffffffn) | (BigInt(w) << 32n);
        return;
      case r.RING_SIZE:
        this.ringSize = w;
        return;
      default:
        return; // read-only registers ignore writes
    }
  }

  private reset(): void {
    this.statusW1c = 0;
    this.control = 0;
    this.ringBase = 0n;
    this.ringSize = 0;
    this.head = 0;
    this.processed = 0;
    this.error = PvtestError.NONE;
    this.input = [];
    this.lastErrorMessage = '';
  }

  private append(b: number): void {
    this.out.push(b);
    this.outCount = (this.outCount + 1) >>> 0;
  }

  private fail(code: number, message: string): void {
    this.error = code;
    this.statusW1c |= PvtestStatus.ERROR;
    this.lastErrorMessage = message;
  }

  /** Consume descriptors from `head` up to the guest's producer index; write the consumer index back. */
  private processRing(): void {
    if (!(this.control & PvtestControl.ENABLE)) return this.fail(PvtestError.NOT_ENABLED, 'doorbell with CONTROL.ENABLE clear');
    if (!validRingSize(this.ringSize)) {
      return this.fail(PvtestError.BAD_RING_SIZE, `RING_SIZE ${this.ringSize} is not a power of two in 1..${PVTEST_MAX_RING}`);
    }
    const base = this.ringBase;
    const at = (off: number): bigint => (base + BigInt(off)) & U64_MASK;
    let producer: number;
    try {
      producer = u32(this.mem.readBytes(at(PvtestRing.PRODUCER), 4), 0);
    } catch (e) {
      return this.fail(PvtestError.RING_DMA, `reading producer index at 0x${at(0).toString(16)}: ${errText(e)}`);
    }
    const pending = (producer - this.head) >>> 0;
    if (pending > this.ringSize) {
      return this.fail(PvtestError.PRODUCER_AHEAD, `producer ${producer} is ${pending} ahead of head ${this.head} (ring size ${this.ringSize})`);
    }
    let consumed = 0;
    for (let k = 0; k < pending; k++) {
      const slot = this.head % this.ringSize;
      const dAt = at(PvtestRing.DESCS + slot * PvtestRing.DESC_SIZE);
      let d: Uint8Array;
      try {
        d = this.mem.readBytes(dAt, PvtestRing.DESC_SIZE);
      } catch (e) {
        this.fail(PvtestError.RING_DMA, `reading descriptor ${slot} at 0x${dAt.toString(16)}: ${errText(e)}`);
        break;
      }
      const addr = new DataView(d.buffer, d.byteOffset, d.byteLength).getBigUint64(PvtestRing.DESC_ADDR, true);
      const len = u32(d, PvtestRing.DESC_LEN);
      const flags = u32(d, PvtestRing.DESC_FLAGS);
      if (flags !== 0) {
        this.fail(PvtestError.BAD_FLAGS, `descriptor ${slot}: flags 0x${flags.toString(16)} must be zero`);
        break;
      }
      if (len > PVTEST_MAX_DESC_LEN) {
        this.fail(PvtestError.DESC_TOO_LONG, `descriptor ${slot}: len ${len} exceeds ${PVTEST_MAX_DESC_LEN}`);
        break;
      }
      let data: Uint8Array;
      try {
        data = len === 0 ? new Uint8Array(0) : this.mem.readBytes(addr, len);
      } catch (e) {
        this.fail(PvtestError.BUFFER_DMA, `descriptor ${slot}: buffer 0x${addr.toString(16)} len ${len}: ${errText(e)}`);
        break;
      }
      for (const b of data) this.append(b);
      this.head = (this.head + 1) >>> 0;
      this.processed = (this.processed + 1) >>> 0;
      consumed++;
    }
    if (consumed > 0) this.statusW1c |= PvtestStatus.DONE;
    try {
      const c = new Uint8Array(4);
      new DataView(c.buffer).setUint32(0, this.head, true);
      this.mem.writeBytes(at(PvtestRing.CONSUMER), c);
    } catch (e) {
      this.fail(PvtestError.RING_DMA, `writing consumer index at 0x${at(PvtestRing.CONSUMER).toString(16)}: ${errText(e)}`);
    }
  }

  // ---- snapshot ----

  saveState(): PvtestState {
    return {
      status: this.statusW1c,
      control: this.control,
      ringBase: `0x${this.ringBase.toString(16)}`,
      ringSize: this.ringSize,
      head: this.head,
      outCount: this.outCount,
      processed: this.processed,
      error: this.error,
      notifies: this.notifies,
      input: [...this.input],
      output: [...this.out],
    };
  }

  loadState(s: PvtestState): void {
    this.statusW1c = s.status & (PvtestStatus.ERROR | PvtestStatus.DONE);
    this.control = s.control & PvtestControl.ENABLE;
    this.ringBase = BigInt(s.ringBase) & U64_MASK;
    this.ringSize = s.ringSize >>> 0;
    this.head = s.head >>> 0;
    this.outCount = s.outCount >>> 0;
    this.processed = s.processed >>> 0;
    this.error = s.error >>> 0;
    this.notifies = s.notifies >>> 0;
    this.input = s.input.map((b) => b & 0xff);
    this.out = s.output.map((b) => b & 0xff);
  }
}

function isIoSize(size: number): boolean {
  return size === 1 || size === 2 || size === 4;
}

function validRingSize(n: number): boolean {
  return n >= 1 && n <= PVTEST_MAX_RING && (n & (n - 1)) === 0;
}

function u32(b: Uint8Array, off: number): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(off, true);
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
