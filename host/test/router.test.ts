import { describe, expect, it } from 'vitest';
import { IoBusRouter, type MmuMode } from '../src/bus/router.js';
import type { IoRouter, MmioDevice, MmioSize, PioDevice } from '../src/bus/types.js';

interface Access {
  dir: 'r' | 'w';
  offset: bigint;
  size: number;
  value: bigint;
}

function recPio(name: string, readValue = 0): PioDevice & { log: Access[] } {
  const log: Access[] = [];
  return {
    name,
    log,
    read(offset, size) {
      log.push({ dir: 'r', offset: BigInt(offset), size, value: BigInt(readValue) });
      return readValue;
    },
    write(offset, size, value) {
      log.push({ dir: 'w', offset: BigInt(offset), size, value: BigInt(value) });
    },
  };
}

function recMmio(name: string): MmioDevice & { log: Access[]; mem: Map<bigint, bigint> } {
  const log: Access[] = [];
  const mem = new Map<bigint, bigint>();
  return {
    name,
    log,
    mem,
    read(offset, size) {
      const v = mem.get(offset) ?? 0n;
      log.push({ dir: 'r', offset, size, value: v });
      return v;
    },
    write(offset, size, value) {
      log.push({ dir: 'w', offset, size, value });
      mem.set(offset, value);
    },
  };
}

/** What a CPU does for a store to MMIO: ask the fast hook first (EPT misconfig), else decode + emulate. */
function cpuStore(r: IoRouter, gpa: bigint, size: MmioSize, value: bigint): 'fast' | 'full' | 'exit' {
  if (r.fastMmio?.(gpa)) return 'fast';
  return r.mmioWrite(gpa, size, value) ? 'full' : 'exit';
}

describe('IoBusRouter', () => {
  it('a matching port write is consumed by the doorbell and never reaches the device; others do', () => {
    const r = new IoBusRouter();
    const dev = recPio('nic');
    r.pio.register(0xc000, 0x40, dev);
    const db = r.doorbells.assign({ space: 'pio', addr: 0xc010, len: 2, datamatch: 3n });
    expect(db.ok).toBe(true);
    expect(r.pioWrite(0xc010, 2, 3)).toBe(true); // doorbell
    expect(r.pioWrite(0xc010, 2, 4)).toBe(true); // datamatch misses -> device
    expect(r.pioWrite(0xc010, 4, 3)).toBe(true); // size misses -> device
    expect(r.pioRead(0xc010, 2)).toBe(0); // reads never match
    expect(dev.log).toEqual([
      { dir: 'w', offset: 0x10n, size: 2, value: 4n },
      { dir: 'w', offset: 0x10n, size: 4, value: 3n },
      { dir: 'r', offset: 0x10n, size: 2, value: 0n },
    ]);
    expect(db.ok && db.doorbell.pioSignals).toBe(1);
    expect(r.stats).toMatchObject({ doorbellPio: 1, pioWrite: 2, pioRead: 1 });
    expect(r.counters.get('doorbellPio')).toBe(1);
    expect(r.counters.get('pio')).toBe(3);
  });

  it('a doorbell fires even where no device is registered (KVM signals before any userspace exit)', () => {
    const r = new IoBusRouter();
    r.doorbells.assign({ space: 'mmio', addr: 0xd0000000n, len: 4 });
    expect(r.mmioWrite(0xd0000000n, 4, 1n)).toBe(true);
    expect(r.mmioWrite(0xd0000004n, 4, 1n)).toBe(false);
    expect(r.lastUnhandled?.message).toBe('mmio-write of 4 byte(s) at 0xd0000004: no device claims this address');
  });

  it('values are masked to the access size in both directions', () => {
    const r = new IoBusRouter();
    const dev = recPio('port', 0x12345678);
    r.pio.register(0x80, 4, dev);
    r.pioWrite(0x80, 1, 0x1ff);
    expect(dev.log[0]!.value).toBe(0xffn);
    expect(r.pioRead(0x80, 2)).toBe(0x5678);
    const big = recPio('big', -1);
    r.pio.register(0x90, 4, big);
    expect(r.pioRead(0x90, 4)).toBe(0xffffffff);
  });

  it('accesses that straddle a range end are unhandled with a located reason', () => {
    const r = new IoBusRouter();
    r.pio.register(0x3f8, 8, recPio('com1'));
    r.mmio.register(0xfed00000n, 0x400n, recMmio('hpet'));
    expect(r.pioRead(0x3fe, 4)).toBeUndefined();
    expect(r.lastUnhandled).toMatchObject({ kind: 'pio-read', why: 'straddle', addr: 0x3fen, size: 4 });
    expect(r.lastUnhandled?.message).toBe('pio-read of 4 byte(s) at 0x3fe: runs past the end of "com1" [0x3f8, 0x400)');
    expect(r.mmioWrite(0xfed003fcn, 8, 0n)).toBe(false);
    expect(r.mmioRead(0xfed003fcn, 8)).toBeUndefined();
    expect(r.mmioRead(0xfed003f8n, 8)).toBe(0n);
    expect(r.stats).toMatchObject({ straddle: 3, unclaimed: 0, mmioRead: 1 });
    expect(r.counters.get('unhandled')).toBe(3);
  });

  describe('fast MMIO doorbell per modelled MMU', () => {
    const NOTIFY = 0xfe003000n;
    function setup(mode: MmuMode, nested = false) {
      const r = new IoBusRouter({ mmuMode: mode, nested });
      const dev = recMmio('virtio-cfg');
      r.mmio.register(0xfe000000n, 0x4000n, dev);
      const res = r.doorbells.assign({ space: 'mmio', addr: NOTIFY, len: 0 });
      if (!res.ok) throw new Error(res.reason);
      return { r, dev, db: res.doorbell };
    }
    const program = (r: IoRouter) => [
      cpuStore(r, NOTIFY, 2, 0n), // queue 0 notify
      cpuStore(r, NOTIFY, 4, 5n),
      cpuStore(r, 0xfe000010n, 4, 0xabcn), // a plain register write
      cpuStore(r, NOTIFY, 1, 1n),
    ];

    it('ept: len-0 doorbell writes complete without emulation (fast path counted)', () => {
      const { r, dev, db } = setup('ept');
      expect(program(r)).toEqual(['fast', 'fast', 'full', 'fast']);
      expect([db.signals, db.fastSignals, db.fullSignals]).toEqual([3, 3, 0]);
      expect(r.counters.get('doorbellFast')).toBe(3);
      expect(r.counters.get('doorbellFull')).toBe(0);
      expect(r.counters.get('mmioEmulated')).toBe(1);
      expect(dev.log).toEqual([{ dir: 'w', offset: 0x10n, size: 4, value: 0xabcn }]);
    });

    for (const [mode, nested] of [['npt', false], ['shadow', false], ['ept', true]] as const) {
      it(`${mode}${nested ? ' nested' : ''}: same guest-visible result through the full path`, () => {
        const { r, dev, db } = setup(mode, nested);
        expect(program(r)).toEqual(['full', 'full', 'full', 'full']);
        expect([db.signals, db.fastSignals, db.fullSignals]).toEqual([3, 0, 3]);
        expect(r.counters.get('doorbellFast')).toBe(0);
        expect(r.counters.get('doorbellFull')).toBe(3);
        const ept = setup('ept');
        program(ept.r);
        expect(dev.log).toEqual(ept.dev.log);
        expect(db.signals).toBe(ept.db.signals);
      });
    }

    it('ept: a sized doorbell is not on the fast list and takes the full path', () => {
      const r = new IoBusRouter({ mmuMode: 'ept' });
      r.doorbells.assign({ space: 'mmio', addr: 0x1000n, len: 4 });
      expect(cpuStore(r, 0x1000n, 4, 0n)).toBe('full');
      expect(r.stats).toMatchObject({ doorbellFast: 0, doorbellFull: 1 });
    });

    it('switching the mode at run time changes the path, not the result', () => {
      const { r, db } = setup('ept');
      cpuStore(r, NOTIFY, 4, 0n);
      r.mmuMode = 'npt';
      cpuStore(r, NOTIFY, 4, 0n);
      expect([db.fastSignals, db.fullSignals]).toEqual([1, 1]);
    });
  });
});

describe('accesses made for a hypercall (viaHypercall)', () => {
  it('count as hypercallDevice, not as trapped PIO or emulated MMIO; doorbells add nothing to the hypercall exit', () => {
    const r = new IoBusRouter();
    const pio = recPio('p', 7);
    const mmio = recMmio('m');
    r.pio.register(0x600, 0x40, pio);
    r.mmio.register(0xfe000000n, 0x40n, mmio);
    r.doorbells.assign({ space: 'mmio', addr: 0xfe00001cn, len: 0 });
    expect(r.viaHypercall(() => r.pioRead(0x600, 1))).toBe(7);
    r.viaHypercall(() => r.mmioWrite(0xfe000010n, 4, 5n));
    r.viaHypercall(() => r.mmioWrite(0xfe00001cn, 4, 1n));
    expect([r.counters.get('hypercallDevice'), r.counters.get('pio'), r.counters.get('mmioEmulated'), r.counters.get('doorbellFull')]).toEqual([2, 0, 0, 0]);
    // The same accesses from the CPU are charged as usual, and an exception inside leaves the mode.
    r.pioRead(0x600, 1);
    r.mmioWrite(0xfe000010n, 4, 5n);
    r.mmioWrite(0xfe00001cn, 4, 1n);
    expect(() => r.viaHypercall(() => { throw new Error('x'); })).toThrow('x');
    r.pioWrite(0x600, 1, 1);
    expect([r.counters.get('pio'), r.counters.get('mmioEmulated'), r.counters.get('doorbellFull')]).toEqual([2, 1, 1]);
    expect(mmio.log.length + pio.log.length).toBe(5);
  });
});
