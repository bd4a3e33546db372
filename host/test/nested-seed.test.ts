// Issue 6 seed scenario: H (L0) runs G1 (L1, a TypeScript hypervisor) which runs G2 (L2, real guest code);
// H's pvtest device is assigned through G1 to G2. Every access's path is checked in the nested trace.
import { describe, expect, it } from 'vitest';
import { PVIO_STATUS, pvioStatusReg } from '@pvkit/shared-abi';
import { PvtestReg, PVTEST_ID_VALUE, PVTEST_VERSION_VALUE } from '../src/devices/pvtest-regs.js';
import { CostModel } from '../src/cost/model.js';
import { Vm } from '../src/vm.js';
import { IoBusRouter } from '../src/bus/router.js';
import { CODE } from './cpu-util.js';
import { KvmPersonality } from '../src/hypervisor/kvm.js';
import { PvioPersonality } from '../src/hypervisor/pvio.js';
import { FEAT, HC_OK, PLAIN, RES, hasNasm, nasm, program, stack, u64, DEV_L0, DEV_L2, PORT_L2, type Access } from './nested-util.js';

if (!hasNasm) console.warn('nasm missing: nested seed-scenario tests skipped (they run nasm-assembled L2 code)');

// Reads ID (MMIO), VERSION (port), writes "AB" via MMIO and "CD" via ports, reads OUT_COUNT (MMIO).
const SEQ: Access[] = [
  { space: 'mmio', off: PvtestReg.ID, size: 4, write: false },
  { space: 'pio', off: PvtestReg.VERSION, size: 4, write: false },
  { space: 'mmio', off: PvtestReg.DATA_OUT, size: 1, write: true, value: 0x41 },
  { space: 'mmio', off: PvtestReg.DATA_OUT, size: 1, write: true, value: 0x42 },
  { space: 'pio', off: PvtestReg.DATA_OUT, size: 1, write: true, value: 0x43 },
  { space: 'pio', off: PvtestReg.DATA_OUT, size: 2, write: true, value: 0x4544 },
  { space: 'mmio', off: PvtestReg.OUT_COUNT, size: 4, write: false },
];

function runSeed(l1: Parameters<typeof stack>[1]) {
  const s = stack(program(SEQ, 'vmcall'), l1);
  const e = s.m.run({ budget: 100_000 });
  expect(e.kind, JSON.stringify(e, (_k, x) => (typeof x === 'bigint' ? `0x${x.toString(16)}` : x))).toBe('Hlt');
  const reads = SEQ.map((a, i) => (a.write ? undefined : u64(s.m, RES + 8 * i)));
  const statuses = SEQ.map((_a, i) => u64(s.m, RES + 8 * i + 0x800));
  return { ...s, reads, statuses, hcOk: u64(s.m, HC_OK), plain: u64(s.m, PLAIN), feat: u64(s.m, FEAT) };
}

const byRoute = (m: ReturnType<typeof runSeed>['m'], kind: string, route: string) => m.trace.filter((t) => t.exit.kind === kind && t.route === route);

describe.skipIf(!hasNasm)('nested seed scenario (L0 pvtest assigned through L1 to L2)', () => {
  it('G1 translates pvio hypercalls: every access is a hypercall, reissued to L0 with the L0 address', () => {
    const r = runSeed({ pvio: 'translate' });
    expect(r.reads[0]).toBe(BigInt(PVTEST_ID_VALUE));
    expect(r.reads[1]).toBe(BigInt(PVTEST_VERSION_VALUE));
    expect(r.reads[6]).toBe(5n); // OUT_COUNT: "A" "B" "C" "DE"
    expect(r.dev.outputText()).toBe('ABCDE');
    expect(r.hcOk).toBe(BigInt(SEQ.length));
    expect(r.plain).toBe(0n);
    const hc = byRoute(r.m, 'hypercall', 'l1-translate');
    expect(hc.length).toBe(SEQ.length);
    // L2 -> L0 -> L1 -> L0 (personality pvio) -> back to L2, with the descriptor rewritten to the L0 address
    expect(hc[0]!.hops.map((x) => `${x.from}>${x.to}`)).toEqual(['L2>L0', 'L0>L1', 'L1>L0', 'L0>L2']);
    expect(hc[0]!.hops[2]!.note).toContain(`rbx=0x${(DEV_L0 + BigInt(PvtestReg.ID) | (2n << 52n)).toString(16)}`);
    expect(hc[0]!.hops[3]!.note).toContain('answered by L0 pvio');
  });

  it('a G2 hypercall G1 cannot translate gets -ENOSYS and the guest falls back: MMIO goes straight to L0, port I/O through L1', () => {
    const r = runSeed({ pvio: 'refuse' });
    const enosys = pvioStatusReg('ENOSYS', 64);
    expect(enosys).toBe(BigInt.asUintN(64, BigInt(-PVIO_STATUS.ENOSYS)));
    expect(r.statuses).toEqual(SEQ.map(() => enosys));
    expect(r.hcOk).toBe(0n);
    expect(r.plain).toBe(BigInt(SEQ.length));
    // same device-visible result as the translated hypercalls
    expect(r.reads[0]).toBe(BigInt(PVTEST_ID_VALUE));
    expect(r.reads[1]).toBe(BigInt(PVTEST_VERSION_VALUE));
    expect(r.dev.outputText()).toBe('ABCDE');
    expect(byRoute(r.m, 'hypercall', 'l1-error').length).toBe(SEQ.length);
    // MMIO: L1 never sees it (no L0>L1 hop), the device does
    const direct = r.m.trace.filter((t) => t.route === 'direct');
    expect(direct.map((t) => t.exit.kind)).toEqual(['mmio-read', 'mmio-write', 'mmio-write', 'mmio-read']);
    for (const t of direct) {
      expect(t.hops.map((x) => `${x.from}>${x.to}`)).toEqual(['L2>L0', 'L0>device']);
      expect(t.hops[1]!.note).toContain('pvtest');
    }
    expect(r.l1.seen.get('mmio-read')).toBeUndefined();
    expect(r.l1.seen.get('mmio-write')).toBeUndefined();
    // Port I/O: reflected, renumbered by L1, completed by the device on L0
    const pio = byRoute(r.m, 'pio-write', 'l1-translate');
    expect(pio.length).toBe(2);
    expect(pio[0]!.hops.map((x) => `${x.from}>${x.to}`)).toEqual(['L2>L0', 'L0>L1', 'L1>L0', 'L0>device']);
    expect(pio[0]!.hops[2]!.note).toBe(`translated port 0x${(PORT_L2 + PvtestReg.DATA_OUT).toString(16)} -> 0x${(0x600 + PvtestReg.DATA_OUT).toString(16)}`);
    expect(byRoute(r.m, 'pio-read', 'l1-translate').length).toBe(1);
  });

  it('G1 hiding MMIO_HCALL/PIO_HCALL makes the detection + fallback program choose plain MMIO / port I/O (no hypercall at all)', () => {
    const r = runSeed({ pvio: 'passthrough', hidePvio: ['MMIO_HCALL', 'PIO_HCALL'] });
    expect(r.pvio.features.has('MMIO_HCALL')).toBe(true); // L0 still offers it to L1
    expect(r.feat & 3n).toBe(0n);
    expect(r.feat & 4n).toBe(4n); // DOORBELL left visible
    expect(r.hcOk).toBe(0n);
    expect(r.plain).toBe(BigInt(SEQ.length));
    expect(r.m.trace.filter((t) => t.exit.kind === 'hypercall')).toEqual([]);
    expect(r.dev.outputText()).toBe('ABCDE');
    // the filtered leaf was answered by L1 after its own CPUID exit to L0
    const leaf = r.m.trace.find((t) => t.exit.kind === 'cpuid' && t.exit.leaf === 0x40000101)!;
    expect(leaf.route).toBe('l1-handle');
  });

  it('the pvio hypercall follows what L0 offers L1: L0 without MMIO_HCALL -> L2 sees it clear, MMIO goes plain, port I/O still by hypercall', () => {
    const s = stack(program(SEQ, 'vmcall'), { pvio: 'translate' }, { personalities: [new KvmPersonality(), new PvioPersonality({ features: ['PIO_HCALL', 'DOORBELL'] })] });
    expect(s.m.run({ budget: 100_000 }).kind).toBe('Hlt');
    expect(u64(s.m, FEAT) & 3n).toBe(2n);
    const pioCount = SEQ.filter((a) => a.space === 'pio').length;
    expect(u64(s.m, HC_OK)).toBe(BigInt(pioCount));
    expect(u64(s.m, PLAIN)).toBe(BigInt(SEQ.length - pioCount));
    expect(byRoute(s.m, 'hypercall', 'l1-translate').length).toBe(pioCount);
    expect(s.dev.outputText()).toBe('ABCDE');
  });

  it('every path gives the device the same trace', () => {
    const a = runSeed({ pvio: 'translate' });
    const b = runSeed({ pvio: 'refuse' });
    const c = runSeed({ hidePvio: ['MMIO_HCALL', 'PIO_HCALL'] });
    expect(b.dev.trace).toEqual(a.dev.trace);
    expect(c.dev.trace).toEqual(a.dev.trace);
    expect(a.dev.trace.length).toBe(SEQ.length);
  });

  it('the cost report shows the reflection overhead per path', () => {
    const model = new CostModel();
    const r = runSeed({ pvio: 'refuse' });
    const rows = new Map(r.m.pathCosts(model).map((x) => [x.path, x]));
    const refl = model.cycles('nestedReflection');
    const direct = rows.get('mmio-write direct')!;
    expect(direct.count).toBe(2);
    expect(direct.reflectionCyclesEach).toBe(0);
    expect(direct.cyclesEach).toBe(model.cycles('mmioEmulated'));
    const pio = rows.get('pio-write l1-translate')!;
    expect(pio.reflectionCyclesEach).toBe(refl);
    expect(pio.cyclesEach).toBe(model.cycles('pio') + refl);
    const refused = rows.get('hypercall l1-error')!;
    expect(refused.count).toBe(SEQ.length);
    expect(refused.cyclesEach).toBe(model.cycles('hypercall') + refl);
    // the machine-wide counters agree with the per-path sums
    const total = [...rows.values()].reduce((s, x) => s + x.counts.nestedReflection, 0);
    expect(total).toBe(r.m.counters.get('nestedReflection'));
    console.log(r.m.formatPathCosts(model));
  });

  it('no EPT fast MMIO for L2: a len-0 doorbell on the assigned window takes the full path', () => {
    const src = `mov rdi, 0x${(DEV_L2 + BigInt(PvtestReg.DOORBELL)).toString(16)}\nmov dword [rdi], 1\nhlt`;
    const s = stack(src);
    let rings = 0;
    const ok = s.router.doorbells.assign({ space: 'mmio', addr: Number(DEV_L0) + PvtestReg.DOORBELL, len: 0, onSignal: () => rings++ });
    expect(ok.ok).toBe(true);
    expect(s.m.run({ budget: 1000 }).kind).toBe('Hlt');
    expect(rings).toBe(1);
    expect(s.router.stats.doorbellFast).toBe(0);
    expect(s.router.stats.doorbellFull).toBe(1);
    // the same store from a non-nested EPT guest takes the fast path
    const router = new IoBusRouter();
    router.doorbells.assign({ space: 'mmio', addr: Number(DEV_L0) + PvtestReg.DOORBELL, len: 0, onSignal: () => rings++ });
    const vm = new Vm({ router });
    vm.memory.addRam(0, 0x100000);
    vm.memory.addMmio(DEV_L0, 0x1000);
    vm.memory.writeBytes(CODE, nasm(`mov rdi, 0x${(DEV_L0 + BigInt(PvtestReg.DOORBELL)).toString(16)}\nmov dword [rdi], 1\nhlt`, 64, CODE));
    vm.vcpus[0]!.rip = BigInt(CODE);
    expect(vm.run({ budget: 1000 }).kind).toBe('Hlt');
    expect(router.stats.doorbellFast).toBe(1);
  });

  it('the trace names every hop of every access, starting at L2', () => {
    const r = runSeed({ pvio: 'refuse' });
    expect(r.m.trace.length).toBeGreaterThan(SEQ.length * 2);
    for (const t of r.m.trace) {
      expect(t.hops[0]!.from).toBe('L2');
      expect(t.text).toMatch(/^[\w#-]+ .*: L2->L0 /);
      if (t.route !== 'direct') expect(t.hops.some((x) => x.from === 'L0' && x.to === 'L1')).toBe(true);
    }
  });
});

