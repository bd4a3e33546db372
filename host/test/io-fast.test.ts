// The number-valued I/O fast paths (IoBusRouter.mmioReadN/mmioWriteN/fastMmioN, DoorbellSet.writeN,
// MmioBus.rangeAtN, GuestMemory's hole cache, CostCounters.bump) against the bigint paths they shortcut:
// the same guest accesses through a router that exposes only the bigint IoRouter calls must give the same
// values, exits, traces, device calls, doorbell signals, router stats and cost counts.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IoBusRouter, type MmuMode } from '../src/bus/router.js';
import type { IoRouter, MmioDevice, PioDevice } from '../src/bus/types.js';
import type { DoorbellSignal } from '../src/bus/doorbell.js';
import { MmioBus } from '../src/bus/mmio-bus.js';
import { COST_KINDS, CostCounters } from '../src/cost/counters.js';
import { GuestMemory } from '../src/memory/memory.js';
import { NeedCompletion } from '../src/cpu/fault.js';
import { Vm } from '../src/vm.js';

const MMIO = 0xd000_0000;
const PORT = 0xc000;

interface World {
  vm: Vm;
  router: IoBusRouter;
  log: string[];
}

/** Devices whose answers depend on offset and size, including values the router must mask (negative, too wide). */
function world(mode: MmuMode, numeric: boolean, trace: boolean): World {
  const log: string[] = [];
  const router = new IoBusRouter({ mmuMode: mode });
  const pio: PioDevice = {
    name: 'pio-dev',
    read: (off, size) => { log.push(`pr ${off} ${size}`); return off % 3 === 0 ? -1 : 0x1234_5678 + off; },
    write: (off, size, v) => { log.push(`pw ${off} ${size} ${v}`); },
  };
  const mmio: MmioDevice = {
    name: 'mmio-dev',
    read: (off, size) => {
      log.push(`mr ${off} ${size}`);
      const k = Number(off % 4n);
      return k === 0 ? -5n : k === 1 ? 0x1_2345_6789_abcd_ef01n + off : k === 2 ? 0xffn : 0x8000_0000_0000_0000n + off;
    },
    write: (off, size, v) => { log.push(`mw ${off} ${size} ${v}`); },
  };
  router.pio.register(PORT, 0x40, pio);
  router.mmio.register(BigInt(MMIO), 0x1000n, mmio);
  router.mmio.register(BigInt(MMIO + 0x2000), 0x10n, { ...mmio, name: 'small' });
  const onSignal = (s: DoorbellSignal): void => {
    log.push(`db ${s.doorbell.describe()} ${s.path} ${s.addr} ${s.size} ${s.value}`);
  };
  const dbs = [
    { space: 'mmio', addr: MMIO + 0x100, len: 0 },
    { space: 'mmio', addr: MMIO + 0x200, len: 4, datamatch: 7n },
    { space: 'mmio', addr: MMIO + 0x200, len: 8, datamatch: 0x1_0000_0007n },
    { space: 'mmio', addr: MMIO + 0x208, len: 2 },
    { space: 'pio', addr: PORT + 0x10, len: 2, datamatch: 3n },
    { space: 'pio', addr: PORT + 0x10, len: 4 },
    { space: 'pio', addr: PORT + 0x20, len: 0 },
  ] as const;
  for (const d of dbs) expect(router.doorbells.assign({ ...d, onSignal }).ok).toBe(true);
  // The bigint-only face: the CPU cannot see the N variants and takes its original path.
  const slow: IoRouter = {
    pioRead: (p, s) => router.pioRead(p, s),
    pioWrite: (p, s, v) => router.pioWrite(p, s, v),
    mmioRead: (g, s) => router.mmioRead(g, s),
    mmioWrite: (g, s, v) => router.mmioWrite(g, s, v),
    fastMmio: (g) => router.fastMmio(g),
  };
  const vm = new Vm({ router: numeric ? router : slow, trace });
  vm.memory.addRam(0, 0x10000);
  return { vm, router, log };
}

type MemOp = { k: 'rd' | 'wr'; addr: number; size: 1 | 2 | 4 | 8; lo: number; hi: number };
type PortOp = { k: 'in' | 'out'; port: number; size: 1 | 2 | 4; lo: number };
type Op = MemOp | PortOp;

/** Run one access the way the executor does and describe everything it produced. */
function apply(w: World, op: Op): string {
  const c = w.vm.vcpus[0]!;
  let out: string;
  try {
    if ('addr' in op) {
      if (op.k === 'rd') out = `v ${c.rd(op.addr, op.size)} ${c.vh}`;
      else { c.wr(op.addr, op.size, op.lo, op.hi); out = 'ok'; }
    } else if (op.k === 'in') out = `v ${c.pioRead(op.port, op.size)}`;
    else { c.pioWrite(op.port, op.size, op.lo); out = 'ok'; }
  } catch (e) {
    out = e instanceof NeedCompletion ? `need ${JSON.stringify(e.exit, big)}` : `throw ${String(e)}`;
  }
  if (c.exit !== undefined) out += ` exit ${JSON.stringify(c.exit, big)}`;
  c.exit = undefined;
  return out;
}

const big = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? `${v}n` : v);

function state(w: World): unknown {
  const r = w.router;
  return JSON.parse(JSON.stringify({
    log: w.log,
    trace: w.vm.trace.map((t) => [t.text, t.handled]),
    stats: r.stats,
    counts: r.counters.snapshot(),
    lastUnhandled: r.lastUnhandled,
    doorbells: r.doorbells.saveState(),
  }, big));
}

const addrArb = fc.constantFrom(
  MMIO, MMIO + 4, MMIO + 0x100, MMIO + 0x101, MMIO + 0x200, MMIO + 0x208, MMIO + 0xffc, MMIO + 0xfff,
  MMIO + 0x2000, MMIO + 0x200c, MMIO + 0x1000, 0xfff0, 0x8000, 2 ** 40,
);
const portArb = fc.constantFrom(PORT, PORT + 3, PORT + 0x10, PORT + 0x20, PORT + 0x3e, PORT + 0x40, 0x80);
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const smallVal = fc.oneof(u32, fc.constantFrom(0, 3, 7, 1));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constantFrom('rd' as const, 'wr' as const), addr: addrArb, size: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const), lo: smallVal, hi: fc.oneof(u32, fc.constant(1)) }),
  fc.record({ k: fc.constantFrom('in' as const, 'out' as const), port: portArb, size: fc.constantFrom(1 as const, 2 as const, 4 as const), lo: smallVal }),
);

describe('number-valued I/O fast paths', () => {
  for (const mode of ['ept', 'npt'] as const) {
    for (const trace of [true, false]) {
      it(`give what the bigint paths give (${mode}, trace ${trace})`, () => {
        fc.assert(
          fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), (ops) => {
            const fast = world(mode, true, trace);
            const slow = world(mode, false, trace);
            const a = ops.map((op) => apply(fast, op));
            const b = ops.map((op) => apply(slow, op));
            expect(a).toEqual(b);
            expect(state(fast)).toEqual(state(slow));
          }),
          { numRuns: 150 },
        );
      });
    }
  }

  it('the fast paths are taken: a handled MMIO write or read allocates no Exit without tracing', () => {
    const w = world('ept', true, false);
    const c = w.vm.vcpus[0]!;
    c.wr(MMIO + 0x100, 4, 1, 0); // len-0 doorbell, EPT fast path
    c.wr(MMIO + 8, 4, 9, 0);
    expect(c.rd(MMIO + 2, 2)).toBe(0xff);
    expect(c.exit).toBeUndefined();
    expect(w.router.stats).toMatchObject({ doorbellFast: 1, mmioWrite: 1, mmioRead: 1 });
    expect(w.router.counters.get('doorbellFast')).toBe(1);
    expect(w.router.counters.get('mmioEmulated')).toBe(2);
  });

  it('a read answer outside the access size is masked as the bigint path masks it', () => {
    const w = world('ept', true, false);
    const c = w.vm.vcpus[0]!;
    expect(c.rd(MMIO, 4)).toBe(0xfffffffb); // -5n & 0xffffffff
    expect(c.rd(MMIO + 1, 4)).toBe(0xabcdef02); // 0x1_2345_6789_abcd_ef02 & 0xffffffff
    expect(c.rd(MMIO + 1, 8)).toBe(0xabcdef02);
    expect(c.vh).toBe(0x23456789);
    expect(c.rd(MMIO + 3, 8)).toBe(3);
    expect(c.vh).toBe(0x80000000);
  });

  it('counts doorbell and device accesses under viaHypercall the same way', () => {
    const w = world('npt', true, false);
    w.router.viaHypercall(() => {
      expect(w.router.mmioWriteN(MMIO + 0x200, 4, 7, 0)).toBe(true);
      expect(w.router.mmioReadN(MMIO + 4, 4)).toBeGreaterThanOrEqual(0);
    });
    expect(w.router.counters.get('doorbellFull')).toBe(0);
    expect(w.router.counters.get('hypercallDevice')).toBe(1);
    expect(w.router.stats.doorbellFull).toBe(1);
  });
});

describe('MmioBus.rangeAtN', () => {
  it('finds ranges, follows register/unregister, and handles a range ending at 2^64', () => {
    const bus = new MmioBus();
    const d = (name: string): MmioDevice => ({ name, read: () => 0n, write: () => {} });
    const a = d('a');
    bus.register(0x1000n, 0x100n, a);
    expect(bus.rangeAtN(0x1080)?.device).toBe(a);
    expect(bus.nBase).toBe(0x1000);
    expect(bus.nEnd).toBe(0x1100);
    expect(bus.rangeAtN(0x1100)).toBeUndefined();
    bus.unregister(a);
    expect(bus.rangeAtN(0x1080)).toBeUndefined(); // the cached hit is dropped
    const top = d('top');
    bus.register(2n ** 53n - 0x1000n, 2n ** 64n - (2n ** 53n - 0x1000n), top);
    expect(bus.rangeAtN(2 ** 53 - 8)?.device).toBe(top);
    expect(bus.rangeAtN(2 ** 53 - 0x1001)).toBeUndefined();
  });
});

describe('GuestMemory hole cache', () => {
  it('findRam misses in a gap, and finds RAM added into that gap later', () => {
    const m = new GuestMemory();
    m.addRam(0, 0x1000);
    m.addRam(0x10000, 0x1000);
    expect(m.findRam(0x5000, 4)).toBeUndefined();
    expect(m.findRam(0x5004, 4)).toBeUndefined();
    expect(m.findRam(0x10000, 4)?.base).toBe(0x10000); // just past the gap
    expect(m.findRam(0xffc, 8)).toBeUndefined(); // inside RAM, runs past its end: no hole recorded
    expect(m.findRam(0xffc, 4)?.base).toBe(0);
    const r = m.addRam(0x5000, 0x1000);
    expect(m.findRam(0x5004, 4)).toBe(r);
    expect(m.isRam(0x20000, 1)).toBe(false);
    expect(m.findRam(0x10ffc, 4)?.base).toBe(0x10000);
    expect(m.findRam(NaN, 1)).toBeUndefined(); // records no hole: RAM is still found afterwards
    expect(m.findRam(-8, 4)).toBeUndefined();
    expect(m.findRam(0x10, 4)?.base).toBe(0);
    expect(m.findRam(0x10010, 4)?.base).toBe(0x10000);
  });
});

describe('CostCounters', () => {
  it('add/bump/get/snapshot agree, and names outside COST_KINDS are refused', () => {
    const c = new CostCounters();
    c.add('pio', 3);
    c.bump(COST_KINDS.indexOf('pio'));
    expect(c.get('pio')).toBe(4);
    expect(c.snapshot().pio).toBe(4);
    expect(c.total()).toBe(4);
    expect(() => c.add('toString' as never)).toThrow(/unknown exit kind "toString"/);
    expect(() => c.add('hlt', -1)).toThrow(/non-negative/);
    c.reset();
    expect(c.total()).toBe(0);
  });
});
