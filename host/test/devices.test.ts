import { describe, expect, it } from 'vitest';
import { PvTestDevice, type DmaMemory } from '../src/devices/pvtest.js';
import {
  PVTEST_ID_VALUE,
  PVTEST_WINDOW,
  PvtestControl,
  PvtestError,
  PvtestReg as R,
  PvtestRing,
  PvtestStatus,
} from '../src/devices/pvtest-regs.js';
import { IoBusRouter, type MmuMode } from '../src/bus/router.js';

/** Flat RAM at [base, base+size); anything else throws, like unbacked guest memory. */
class Ram implements DmaMemory {
  readonly bytes: Uint8Array;
  constructor(
    readonly base: bigint,
    size: number,
  ) {
    this.bytes = new Uint8Array(size);
  }
  private off(gpa: bigint, len: number): number {
    if (gpa < this.base || gpa + BigInt(len) > this.base + BigInt(this.bytes.length)) {
      throw new RangeError(`gpa 0x${gpa.toString(16)} len ${len} is not RAM`);
    }
    return Number(gpa - this.base);
  }
  readBytes(gpa: bigint, len: number): Uint8Array {
    const o = this.off(gpa, len);
    return this.bytes.slice(o, o + len);
  }
  writeBytes(gpa: bigint, data: Uint8Array): void {
    this.bytes.set(data, this.off(gpa, data.length));
  }
  u32(gpa: bigint): number {
    return new DataView(this.bytes.buffer).getUint32(this.off(gpa, 4), true);
  }
  setU32(gpa: bigint, v: number): void {
    new DataView(this.bytes.buffer).setUint32(this.off(gpa, 4), v, true);
  }
  setDesc(ring: bigint, slot: number, addr: bigint, len: number, flags = 0): void {
    const at = this.off(ring + BigInt(PvtestRing.DESCS + slot * PvtestRing.DESC_SIZE), 16);
    const v = new DataView(this.bytes.buffer);
    v.setBigUint64(at, addr, true);
    v.setUint32(at + 8, len, true);
    v.setUint32(at + 12, flags, true);
  }
  put(gpa: bigint, s: string): number {
    const b = new TextEncoder().encode(s);
    this.writeBytes(gpa, b);
    return b.length;
  }
}

const RAM = 0x100000n;
const RING = RAM + 0x1000n;

function fresh() {
  const ram = new Ram(RAM, 0x10000);
  const dev = new PvTestDevice('pvtest', ram);
  const rd = (off: number, size = 4) => dev.mmio.read(BigInt(off), size as 1 | 2 | 4 | 8);
  const wr = (off: number, v: bigint | number, size = 4) => dev.mmio.write(BigInt(off), size as 1 | 2 | 4 | 8, BigInt(v));
  return { ram, dev, rd, wr };
}

describe('pvtest device registers', () => {
  it('ID and VERSION through both faces; ID bytes spell PVKT', () => {
    const { dev } = fresh();
    expect(dev.pio.read(R.ID, 4)).toBe(PVTEST_ID_VALUE);
    expect(dev.mmio.read(BigInt(R.ID), 4)).toBe(BigInt(PVTEST_ID_VALUE));
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, PVTEST_ID_VALUE, true);
    expect(new TextDecoder().decode(b)).toBe('PVKT');
    expect(dev.pio.read(R.VERSION, 4)).toBe(1);
  });

  it('DATA_OUT appends the written bytes little-endian for sizes 1, 2 and 4', () => {
    const { dev, rd, wr } = fresh();
    wr(R.DATA_OUT, 0x41, 1); // 'A'
    wr(R.DATA_OUT, 0x4342, 2); // 'BC'
    dev.pio.write(R.DATA_OUT, 4, 0x0a464544); // 'DEF\n'
    expect(dev.outputText()).toBe('ABCDEF\n');
    expect(rd(R.OUT_COUNT)).toBe(7n);
    expect(rd(R.DATA_OUT)).toBe(0n);
  });

  it('DATA_IN pops the input FIFO; IN_COUNT and STATUS.IN_AVAIL follow it', () => {
    const { dev, rd } = fresh();
    expect(rd(R.STATUS) & BigInt(PvtestStatus.IN_AVAIL)).toBe(0n);
    dev.pushInput([0x11, 0x22, 0x33]);
    expect(rd(R.IN_COUNT)).toBe(3n);
    expect(rd(R.STATUS) & BigInt(PvtestStatus.IN_AVAIL)).toBe(BigInt(PvtestStatus.IN_AVAIL));
    expect(rd(R.DATA_IN, 2)).toBe(0x2211n);
    expect(rd(R.DATA_IN, 4)).toBe(0x33n); // missing bytes read 0
    expect(rd(R.IN_COUNT)).toBe(0n);
  });

  it('RING_BASE as two halves or one 8-byte MMIO access (no truncation above 2^53)', () => {
    const { rd, wr } = fresh();
    wr(R.RING_BASE_LO, 0x89abcdef);
    wr(R.RING_BASE_HI, 0xfedcba98);
    expect(rd(R.RING_BASE_LO, 8)).toBe(0xfedcba9889abcdefn);
    wr(R.RING_BASE_LO, 0x0123456789abcdefn, 8);
    expect(rd(R.RING_BASE_HI)).toBe(0x01234567n);
    expect(rd(R.RING_BASE_LO)).toBe(0x89abcdefn);
  });

  it('unsupported sizes and offsets read all-ones, are ignored on write, and raise BAD_ACCESS', () => {
    const { dev, rd, wr } = fresh();
    expect(rd(R.ID, 2)).toBe(0xffffn);
    expect(rd(0x02, 4)).toBe(0xffffffffn);
    expect(rd(PVTEST_WINDOW, 4)).toBe(0xffffffffn);
    expect(rd(R.ERROR)).toBe(BigInt(PvtestError.BAD_ACCESS));
    expect(dev.lastErrorMessage).toBe('read of 4 byte(s) at offset 0x40');
    wr(R.RING_SIZE, 8, 2);
    expect(rd(R.RING_SIZE)).toBe(0n);
    wr(R.STATUS, PvtestStatus.ERROR);
    expect(rd(R.ERROR)).toBe(0n);
    expect(rd(R.STATUS) & BigInt(PvtestStatus.ERROR)).toBe(0n);
  });
});

describe('pvtest ring processing', () => {
  function ready(size = 4) {
    const t = fresh();
    t.wr(R.RING_BASE_LO, RING, 8);
    t.wr(R.RING_SIZE, size);
    t.wr(R.CONTROL, PvtestControl.ENABLE);
    return t;
  }

  it('consumes descriptors up to the producer index, writes the consumer index back, sets DONE', () => {
    const { ram, dev, rd, wr } = ready();
    const a = RAM + 0x4000n;
    const b = RAM + 0x5000n;
    ram.setDesc(RING, 0, a, ram.put(a, 'hello, '));
    ram.setDesc(RING, 1, b, ram.put(b, 'ring'));
    ram.setDesc(RING, 2, 0n, 0); // empty descriptor is fine
    ram.setU32(RING + 0n, 3);
    expect(rd(R.STATUS)).toBe(BigInt(PvtestStatus.RING_READY));
    wr(R.DOORBELL, 0);
    expect(dev.outputText()).toBe('hello, ring');
    expect(ram.u32(RING + 4n)).toBe(3);
    expect(rd(R.RING_HEAD)).toBe(3n);
    expect(rd(R.PROCESSED)).toBe(3n);
    expect(rd(R.NOTIFIES)).toBe(1n);
    expect(rd(R.STATUS)).toBe(BigInt(PvtestStatus.RING_READY | PvtestStatus.DONE));
    wr(R.STATUS, PvtestStatus.DONE);
    expect(rd(R.STATUS)).toBe(BigInt(PvtestStatus.RING_READY));
    wr(R.DOORBELL, 0); // nothing new: no output, DONE stays clear
    expect(rd(R.STATUS)).toBe(BigInt(PvtestStatus.RING_READY));
  });

  it('wraps around a small ring over many notifications, producer index free-running past 2^32', () => {
    const { ram, dev, rd, wr } = ready(2);
    let producer = 0;
    const text = 'abcdefg';
    for (let i = 0; i < text.length; i++) {
      const buf = RAM + 0x4000n + BigInt(i * 16);
      ram.setDesc(RING, producer % 2, buf, ram.put(buf, text[i]!));
      producer++;
      ram.setU32(RING, producer);
      if (i % 2 === 1 || i === text.length - 1) wr(R.DOORBELL, 0);
    }
    expect(dev.outputText()).toBe(text);
    expect(rd(R.RING_HEAD)).toBe(7n);
  });

  it('head and producer are free-running u32 (wrap at 2^32)', () => {
    const { ram, dev, rd, wr } = ready(4);
    dev.loadState({ ...dev.saveState(), head: 0xfffffffe });
    const buf = RAM + 0x4000n;
    for (let i = 0; i < 3; i++) ram.setDesc(RING, (0xfffffffe + i) % 4, buf + BigInt(i), ram.put(buf + BigInt(i), 'xyz'[i]!));
    ram.setU32(RING, 1); // 0xfffffffe + 3 mod 2^32
    wr(R.DOORBELL, 0);
    expect(dev.outputText()).toBe('xyz');
    expect(rd(R.RING_HEAD)).toBe(1n);
  });

  const errors: [string, (t: ReturnType<typeof ready>) => void, number, string][] = [
    ['not enabled', (t) => t.wr(R.CONTROL, 0), PvtestError.NOT_ENABLED, 'doorbell with CONTROL.ENABLE clear'],
    ['ring size 3', (t) => t.wr(R.RING_SIZE, 3), PvtestError.BAD_RING_SIZE, 'RING_SIZE 3 is not a power of two in 1..256'],
    ['ring size 512', (t) => t.wr(R.RING_SIZE, 512), PvtestError.BAD_RING_SIZE, 'RING_SIZE 512 is not a power of two in 1..256'],
    ['ring not in RAM', (t) => t.wr(R.RING_BASE_LO, 0xdead0000n, 8), PvtestError.RING_DMA, 'reading producer index at 0xdead0000: gpa 0xdead0000 len 4 is not RAM'],
    ['producer too far ahead', (t) => t.ram.setU32(RING, 5), PvtestError.PRODUCER_AHEAD, 'producer 5 is 5 ahead of head 0 (ring size 4)'],
    ['flags set', (t) => { t.ram.setU32(RING, 1); t.ram.setDesc(RING, 0, RAM, 1, 2); }, PvtestError.BAD_FLAGS, 'descriptor 0: flags 0x2 must be zero'],
    ['too long', (t) => { t.ram.setU32(RING, 1); t.ram.setDesc(RING, 0, RAM, 0x10001); }, PvtestError.DESC_TOO_LONG, 'descriptor 0: len 65537 exceeds 65536'],
    ['buffer unmapped', (t) => { t.ram.setU32(RING, 1); t.ram.setDesc(RING, 0, 0xffff_ffff_ffff_0000n, 4); }, PvtestError.BUFFER_DMA, 'descriptor 0: buffer 0xffffffffffff0000 len 4: gpa 0xffffffffffff0000 len 4 is not RAM'],
  ];
  for (const [name, setup, code, msg] of errors) {
    it(`error: ${name}`, () => {
      const t = ready();
      setup(t);
      t.wr(R.DOORBELL, 0);
      expect(t.rd(R.ERROR)).toBe(BigInt(code));
      expect(t.rd(R.STATUS) & BigInt(PvtestStatus.ERROR)).toBe(BigInt(PvtestStatus.ERROR));
      expect(t.dev.lastErrorMessage).toBe(msg);
      expect(t.dev.output().length).toBe(0);
    });
  }

  it('descriptors before a bad one are consumed; the guest can fix it and ring again', () => {
    const t = ready();
    const buf = RAM + 0x4000n;
    t.ram.setDesc(RING, 0, buf, t.ram.put(buf, 'ok'));
    t.ram.setDesc(RING, 1, buf, 1, 1);
    t.ram.setU32(RING, 2);
    t.wr(R.DOORBELL, 0);
    expect(t.dev.outputText()).toBe('ok');
    expect(t.rd(R.RING_HEAD)).toBe(1n);
    expect(t.ram.u32(RING + 4n)).toBe(1);
    t.wr(R.STATUS, PvtestStatus.ERROR | PvtestStatus.DONE);
    t.ram.setDesc(RING, 1, buf, 1, 0);
    t.wr(R.DOORBELL, 0);
    expect(t.dev.outputText()).toBe('oko');
    expect(t.rd(R.ERROR)).toBe(0n);
  });

  it('CONTROL.RESET clears guest-visible state but not the host output; reads back 0', () => {
    const t = ready();
    t.dev.pushInput([1]);
    t.wr(R.DATA_OUT, 0x21, 1);
    t.wr(R.CONTROL, PvtestControl.RESET | PvtestControl.ENABLE);
    expect([R.CONTROL, R.RING_SIZE, R.RING_BASE_LO, R.IN_COUNT, R.STATUS].map((o) => t.rd(o))).toEqual([0n, 0n, 0n, 0n, 0n]);
    expect(t.dev.outputText()).toBe('!');
  });

  it('saveState/loadState round-trips through JSON and continues identically', () => {
    const t = ready(8);
    const buf = RAM + 0x4000n;
    for (let i = 0; i < 3; i++) t.ram.setDesc(RING, i, buf + BigInt(i), t.ram.put(buf + BigInt(i), 'pqr'[i]!));
    t.ram.setU32(RING, 2);
    t.wr(R.DOORBELL, 0);
    t.dev.pushInput([9]);
    const copy = new PvTestDevice('copy', t.ram);
    copy.loadState(JSON.parse(JSON.stringify(t.dev.saveState())));
    t.ram.setU32(RING, 3);
    t.wr(R.DOORBELL, 0);
    copy.write(R.DOORBELL, 4, 0n);
    expect(copy.outputText()).toBe(t.dev.outputText());
    expect(copy.saveState()).toEqual(t.dev.saveState());
  });
});

describe('pvtest: every transport gives the same device-visible trace', () => {
  const PORT = 0x5000;
  const MMIO = 0xfe100000n;
  type Transport = 'pio' | 'mmio' | 'pio-doorbell' | 'mmio-doorbell-ept' | 'mmio-doorbell-npt' | 'mmio-doorbell-sized';

  /** The same driver: set up a ring, send two buffers, ring the doorbell, print a byte, read status. */
  function drive(transport: Transport) {
    const ram = new Ram(RAM, 0x10000);
    const dev = new PvTestDevice('pvtest', ram);
    const mode: MmuMode = transport === 'mmio-doorbell-npt' ? 'npt' : 'ept';
    const r = new IoBusRouter({ mmuMode: mode });
    r.pio.register(PORT, PVTEST_WINDOW, dev.pio);
    r.mmio.register(MMIO, BigInt(PVTEST_WINDOW), dev.mmio);
    const onSignal = () => dev.notify();
    if (transport === 'pio-doorbell') r.doorbells.assign({ space: 'pio', addr: PORT + R.DOORBELL, len: 4, onSignal });
    if (transport === 'mmio-doorbell-ept' || transport === 'mmio-doorbell-npt') {
      r.doorbells.assign({ space: 'mmio', addr: MMIO + BigInt(R.DOORBELL), len: 0, onSignal });
    }
    if (transport === 'mmio-doorbell-sized') r.doorbells.assign({ space: 'mmio', addr: MMIO + BigInt(R.DOORBELL), len: 4, onSignal });
    const viaPio = transport.startsWith('pio');
    const wr = (off: number, v: number) => {
      if (viaPio) return r.pioWrite(PORT + off, 4, v);
      const gpa = MMIO + BigInt(off);
      return r.fastMmio(gpa) || r.mmioWrite(gpa, 4, BigInt(v));
    };
    const rd = (off: number) => (viaPio ? r.pioRead(PORT + off, 4) : Number(r.mmioRead(MMIO + BigInt(off), 4)));
    const buf = RAM + 0x4000n;
    ram.setDesc(RING, 0, buf, ram.put(buf, 'same '));
    ram.setDesc(RING, 1, buf + 0x100n, ram.put(buf + 0x100n, 'bytes'));
    ram.setU32(RING, 2);
    expect(rd(R.ID)).toBe(PVTEST_ID_VALUE);
    wr(R.RING_BASE_LO, Number(RING & 0xffffffffn));
    wr(R.RING_BASE_HI, 0);
    wr(R.RING_SIZE, 4);
    wr(R.CONTROL, PvtestControl.ENABLE);
    wr(R.DOORBELL, 0);
    wr(R.DATA_OUT, 0x0a212121); // '!!!\n'
    const status = rd(R.STATUS);
    return { dev, r, status };
  }

  const transports: Transport[] = ['pio', 'mmio', 'pio-doorbell', 'mmio-doorbell-ept', 'mmio-doorbell-npt', 'mmio-doorbell-sized'];
  const ref = drive('pio');
  for (const t of transports) {
    it(t, () => {
      const { dev, r, status } = drive(t);
      expect(dev.trace).toEqual(ref.dev.trace);
      expect(dev.outputText()).toBe('same bytes!!!\n');
      expect(status).toBe(PvtestStatus.RING_READY | PvtestStatus.DONE);
      const s = r.stats;
      const expected: Record<Transport, [number, number, number]> = {
        pio: [0, 0, 0],
        mmio: [0, 0, 0],
        'pio-doorbell': [1, 0, 0],
        'mmio-doorbell-ept': [0, 1, 0],
        'mmio-doorbell-npt': [0, 0, 1],
        'mmio-doorbell-sized': [0, 0, 1],
      };
      expect([s.doorbellPio, s.doorbellFast, s.doorbellFull]).toEqual(expected[t]);
    });
  }
  it('the reference trace is what the driver did', () => {
    expect(ref.dev.trace.map((e) => (e.op === 'notify' ? 'notify' : `${e.op} 0x${e.offset.toString(16)}`))).toEqual([
      'read 0x0',
      'write 0x20',
      'write 0x24',
      'write 0x28',
      'write 0xc',
      'notify',
      'write 0x10',
      'read 0x8',
    ]);
  });
});

// The emulator's memory class (helper E1's module) is loaded by a computed specifier so this file does not
// depend on it at type-check time; when it is absent the test says so and skips.
interface EmuMemory extends DmaMemory {
  addRam(gpa: number, size: number): unknown;
  writeU64(gpa: number, v: bigint): void;
  writeU32(gpa: number, v: number): void;
  readU32(gpa: number): number;
}
const memorySpec = '../src/memory/memory.js';
const memoryModule = (await import(/* @vite-ignore */ memorySpec).catch(() => undefined)) as
  | { GuestMemory: new () => EmuMemory }
  | undefined;
if (memoryModule === undefined) console.warn('devices.test: host/src/memory/memory.ts not found; skipping the GuestMemory DMA test');

describe("pvtest over the emulator's GuestMemory", () => {
  it.skipIf(memoryModule === undefined)('GuestMemory satisfies DmaMemory and unbacked addresses become BUFFER_DMA errors', () => {
    const mem = new memoryModule!.GuestMemory();
    mem.addRam(0x100000, 0x10000);
    const dev = new PvTestDevice('pvtest', mem);
    mem.writeBytes(0x104000n, new TextEncoder().encode('via GuestMemory'));
    mem.writeU64(Number(RING) + 8, 0x104000n);
    mem.writeU32(Number(RING) + 16, 15);
    mem.writeU64(Number(RING) + 24, 0x900000n); // second descriptor: not RAM
    mem.writeU32(Number(RING) + 32, 1);
    mem.writeU32(Number(RING), 2);
    dev.write(R.RING_BASE_LO, 8, RING);
    dev.write(R.RING_SIZE, 4, 2n);
    dev.write(R.CONTROL, 4, BigInt(PvtestControl.ENABLE));
    dev.notify();
    expect(dev.outputText()).toBe('via GuestMemory');
    expect(mem.readU32(Number(RING) + 4)).toBe(1);
    expect(dev.read(R.ERROR, 4)).toBe(BigInt(PvtestError.BUFFER_DMA));
    expect(dev.lastErrorMessage).toContain('descriptor 1: buffer 0x900000 len 1');
  });
});
