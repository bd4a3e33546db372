import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PioBus, PIO_SPACE_SIZE } from '../src/bus/pio-bus.js';
import { MmioBus } from '../src/bus/mmio-bus.js';
import { BusError } from '../src/bus/range-bus.js';
import type { MmioDevice, PioDevice } from '../src/bus/types.js';

const pdev = (name: string): PioDevice => ({ name, read: () => 0, write: () => {} });
const mdev = (name: string): MmioDevice => ({ name, read: () => 0n, write: () => {} });

function thrown(f: () => void): BusError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(BusError);
    return e as BusError;
  }
  throw new Error('expected a BusError');
}

describe('PioBus registration', () => {
  it('rejects zero length, ranges past 0xFFFF and non-integers', () => {
    const bus = new PioBus();
    expect(thrown(() => bus.register(0x60, 0, pdev('kbd'))).code).toBe('zero-length');
    const e = thrown(() => bus.register(0xffff, 2, pdev('last')));
    expect(e.code).toBe('out-of-space');
    expect(e.message).toContain('"last"');
    expect(e.message).toContain('[0xffff, 0x10001)');
    expect(thrown(() => bus.register(0x10000, 1, pdev('x'))).code).toBe('bad-address');
    expect(thrown(() => bus.register(-1, 1, pdev('x'))).code).toBe('bad-address');
    expect(thrown(() => bus.register(1.5, 1, pdev('x'))).code).toBe('bad-address');
    bus.register(0xffff, 1, pdev('last'));
    bus.register(0, PIO_SPACE_SIZE - 1, pdev('all-but-last'));
    expect(bus.size).toBe(2);
  });

  it('rejects every overlap shape, naming both devices and ranges; adjacent ranges are fine', () => {
    const bus = new PioBus();
    bus.register(0x3f8, 8, pdev('com1'));
    const shapes: [number, number][] = [
      [0x3f8, 8], // identical
      [0x3fa, 2], // inside
      [0x3f0, 0x20], // containing
      [0x3f0, 9], // overlapping the start by one
      [0x3ff, 4], // overlapping the end by one
    ];
    for (const [base, len] of shapes) {
      const e = thrown(() => bus.register(base, len, pdev('uart2')));
      expect(e.code).toBe('overlap');
      expect(e.message).toContain('"uart2"');
      expect(e.message).toContain('"com1" at [0x3f8, 0x400)');
      expect(e.message).toContain(`[0x${base.toString(16)}, 0x${(base + len).toString(16)})`);
    }
    bus.register(0x3f0, 8, pdev('below'));
    bus.register(0x400, 1, pdev('above'));
    expect(bus.entries().map((e) => e.device.name)).toEqual(['below', 'com1', 'above']);
  });

  it('unregisters by device (all its ranges) or by base, and reports unknown targets', () => {
    const bus = new PioBus();
    const pic = pdev('pic');
    bus.register(0x20, 2, pic);
    bus.register(0xa0, 2, pic);
    bus.register(0x40, 4, pdev('pit'));
    bus.unregister(pic);
    expect(bus.entries().map((e) => e.base)).toEqual([0x40]);
    expect(thrown(() => bus.unregister(pic)).code).toBe('not-registered');
    expect(thrown(() => bus.unregister(0x41)).message).toContain('no range starts at 0x41');
    bus.unregister(0x40);
    expect(bus.size).toBe(0);
  });

  it('lookup and resolve give device and offset; straddling accesses are misses', () => {
    const bus = new PioBus();
    const com1 = pdev('com1');
    bus.register(0x3f8, 8, com1);
    expect(bus.lookup(0x3fd)).toMatchObject({ device: com1, offset: 5, base: 0x3f8, length: 8 });
    expect(bus.lookup(0x3f7)).toBeUndefined();
    expect(bus.lookup(0x400)).toBeUndefined();
    expect(bus.resolve(0x3fc, 4)).toMatchObject({ device: com1, offset: 4 });
    expect(bus.resolve(0x3fd, 4)).toMatchObject({ kind: 'straddle', addr: 0x3fdn, size: 4 });
    expect(bus.resolve(0x3f7, 1)).toMatchObject({ kind: 'unclaimed' });
  });
});

describe('MmioBus registration', () => {
  const TOP = 1n << 64n;
  it('handles the top of the 64-bit space exactly and rejects wrap-around', () => {
    const bus = new MmioBus();
    bus.register(TOP - 0x1000n, 0x1000n, mdev('top'));
    expect(bus.lookup(TOP - 1n)).toMatchObject({ offset: 0xfffn });
    expect(bus.resolve(TOP - 8n, 8)).toMatchObject({ offset: 0xff8n });
    expect(bus.resolve(TOP - 4n, 8)).toMatchObject({ kind: 'straddle' });
    expect(thrown(() => bus.register(TOP - 1n, 2n, mdev('wrap'))).code).toBe('out-of-space');
    expect(thrown(() => bus.register(TOP, 1n, mdev('beyond'))).code).toBe('bad-address');
    expect(thrown(() => bus.register(0xfee00000n, 0n, mdev('apic'))).code).toBe('zero-length');
  });

  it('rejects overlaps with a message naming both', () => {
    const bus = new MmioBus();
    bus.register(0xfee00000n, 0x1000n, mdev('lapic'));
    const e = thrown(() => bus.register(0xfee00800n, 0x1000n, mdev('hpet')));
    expect(e.message).toBe(
      'mmio bus: cannot register "hpet" at [0xfee00800, 0xfee01800): overlaps "lapic" at [0xfee00000, 0xfee01000)',
    );
  });

  it('binary-search lookup agrees with a linear scan over random layouts', () => {
    // Random disjoint ranges: sorted distinct cut points paired up.
    const layout = fc
      .uniqueArray(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { minLength: 2, maxLength: 40 })
      .map((pts) => {
        const s = [...pts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        const ranges: [bigint, bigint][] = [];
        for (let i = 0; i + 1 < s.length; i += 2) ranges.push([s[i]!, s[i + 1]! - s[i]!]);
        return ranges;
      });
    fc.assert(
      fc.property(layout, fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { maxLength: 30 }), fc.boolean(), (ranges, probes, reverse) => {
        const bus = new MmioBus();
        const devs = ranges.map((_, i) => mdev(`d${i}`));
        const order = ranges.map((_, i) => i);
        if (reverse) order.reverse();
        for (const i of order) bus.register(ranges[i]![0], ranges[i]![1], devs[i]!);
        const all = [...probes, ...ranges.flatMap(([b, l]) => [b, b + l - 1n, b + l, b - 1n].filter((x) => x >= 0n && x < 1n << 64n))];
        for (const p of all) {
          const i = ranges.findIndex(([b, l]) => p >= b && p < b + l);
          const got = bus.lookup(p);
          if (i < 0) expect(got).toBeUndefined();
          else expect(got).toEqual({ device: devs[i], offset: p - ranges[i]![0] });
        }
      }),
    );
  });
});

describe('lookup caches never outlive a registration change', () => {
  it('MMIO last-hit cache and the PIO index table are invalidated by unregister and re-register', () => {
    const m = new MmioBus();
    const a = mdev('a');
    const b = mdev('b');
    m.register(0x1000n, 0x100n, a);
    expect(m.lookup(0x1010n)?.device).toBe(a);
    m.unregister(a);
    expect(m.lookup(0x1010n)).toBeUndefined();
    m.register(0x1000n, 0x10n, b);
    expect(m.lookup(0x1008n)?.device).toBe(b);
    expect(m.lookup(0x1010n)).toBeUndefined();

    const p = new PioBus();
    const c = pdev('c');
    p.register(0x60, 1, c);
    p.register(0x64, 1, c);
    expect([p.lookup(0x60)?.device, p.lookup(0x64)?.device, p.lookup(0x62)]).toEqual([c, c, undefined]);
    p.unregister(0x60);
    expect([p.lookup(0x60), p.lookup(0x64)?.device]).toEqual([undefined, c]);
    expect(p.lookup(0x10060)).toBeUndefined(); // outside the port space, not aliased
  });
});
