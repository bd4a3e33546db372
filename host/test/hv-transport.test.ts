// Property: a random sequence of register accesses to the pvtest device gives the identical device-visible trace
// (and the same values to the guest) through every transport: port I/O, plain MMIO, MMIO with a KVM-style
// doorbell on the DOORBELL register, the pvio MMIO hypercall, and Hyper-V's HvCallMemoryMappedIoRead/Write.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { HypervPersonality } from '../src/hypervisor/hyperv.js';
import { PvioPersonality } from '../src/hypervisor/pvio.js';
import { IoBusRouter } from '../src/bus/router.js';
import { PvTestDevice } from '../src/devices/pvtest.js';
import { PvtestReg } from '../src/devices/pvtest-regs.js';
import { CostCounters } from '../src/cost/counters.js';
import { VENDORS, guest, hasNasm, runTo } from './hv-util.js';
import type { Vendor } from '../src/cpu/types.js';

if (!hasNasm) console.warn('nasm missing: transport equivalence property skipped');

const MMIO = 0xfe000000;
const PORT = 0x600;
const RESULTS = 0x40000;
const HV_IN = 0x30000;
const HV_OUT = 0x30100;
const TRANSPORTS = ['pio', 'mmio', 'doorbell', 'pvio', 'hyperv'] as const;
type Transport = (typeof TRANSPORTS)[number];

interface Access { offset: number; size: 1 | 2 | 4; write: boolean; value: number }

// Registers whose writes could point the device's DMA at guest code (which differs per transport) are read-only here.
const NO_WRITE = new Set<number>([PvtestReg.RING_BASE_LO, PvtestReg.RING_BASE_HI, PvtestReg.RING_SIZE]);
const arbAccess: fc.Arbitrary<Access> = fc
  .record({
    reg: fc.constantFrom(...Object.values(PvtestReg)),
    delta: fc.constantFrom(0, 0, 0, 1, 2),
    size: fc.constantFrom(1, 2, 4) as fc.Arbitrary<1 | 2 | 4>,
    write: fc.boolean(),
    value: fc.nat({ max: 0xffffffff }),
  })
  .map(({ reg, delta, size, write, value }) => ({
    offset: Math.min(reg + delta, 0x40 - size), size,
    write: write && !NO_WRITE.has(reg + delta), value: value & (size === 4 ? 0xffffffff : (1 << (8 * size)) - 1),
  }));

const R = { 1: 'al', 2: 'ax', 4: 'eax' } as const;
const W = { 1: 'byte', 2: 'word', 4: 'dword' } as const;
const desc = (a: Access): string =>
  `0x${(BigInt(MMIO + a.offset) | (BigInt(Math.log2(a.size)) << 52n) | (a.write ? 1n << 54n : 0n)).toString(16)}`;

/** Guest code for one access; a read leaves the zero-extended value at RESULTS + 8*i. */
function emit(t: Transport, a: Access, i: number): string {
  const store = `mov [${RESULTS + 8 * i}], rax`;
  const zx = a.size === 4 ? '' : `movzx eax, ${R[a.size]}\n`;
  switch (t) {
    case 'pio':
      return a.write
        ? `mov dx, ${PORT + a.offset}\nmov eax, ${a.value}\nout dx, ${R[a.size]}`
        : `mov dx, ${PORT + a.offset}\nxor eax, eax\nin ${R[a.size]}, dx\n${zx}${store}`;
    case 'mmio':
    case 'doorbell':
      return a.write
        ? `mov eax, ${a.value}\nmov [rbx + ${a.offset}], ${R[a.size]}`
        : `xor eax, eax\nmov ${R[a.size]}, [rbx + ${a.offset}]\n${zx}${store}`;
    case 'pvio': {
      // The spec's guest algorithm (§10): the hypercall for what pvio can do (naturally aligned MMIO), else, or
      // on any non-zero status, the plain access.
      const plain = emit('mmio', a, i);
      if ((MMIO + a.offset) % a.size !== 0) return plain;
      return `mov eax, 0x50560001\nmov rdi, rbx\nmov rbx, ${desc(a)}\nmov ecx, ${a.write ? a.value : 0}\nHC\nmov rbx, rdi\n` +
        `test rax, rax\njz ok${i}\n${plain}\njmp done${i}\nok${i}:\n` + (a.write ? '' : `mov rax, rcx\n${store}\n`) + `done${i}:`;
    }
    case 'hyperv':
      return `mov rsi, ${HV_IN}\nmov eax, ${MMIO + a.offset}\nmov [rsi], rax\nmov dword [rsi+8], ${a.size}\nmov dword [rsi+12], 0\n` +
        (a.write
          ? `mov eax, ${a.value}\nmov [rsi+16], rax\nmov ecx, 0x107\nmov rdx, rsi\nxor r8, r8\nHC`
          : `mov ecx, 0x106\nmov rdx, rsi\nmov r8, ${HV_OUT}\nHC\nmov rax, [${HV_OUT}]\n${store}`);
  }
}

function run(t: Transport, vendor: Vendor, seq: readonly Access[], input: readonly number[]) {
  const src = `mov ebx, ${MMIO}\n${seq.map((a, i) => emit(t, a, i)).join('\n')}\nhlt`;
  const router = new IoBusRouter();
  const vm = guest(src, vendor, 64, { router });
  vm.memory.addMmio(MMIO, 0x1000);
  const dev = new PvTestDevice('pvtest', { readBytes: (g, n) => vm.memory.readBytes(g, n), writeBytes: (g, d) => vm.memory.writeBytes(g, d) });
  dev.pushInput(input);
  router.mmio.register(BigInt(MMIO), 0x40n, dev.mmio);
  router.pio.register(PORT, 0x40, dev.pio);
  if (t === 'doorbell') {
    const r = router.doorbells.assign({ space: 'mmio', addr: MMIO + PvtestReg.DOORBELL, len: 0, onSignal: () => dev.notify() });
    if (!r.ok) throw new Error(r.reason);
  }
  const counters = new CostCounters();
  if (t === 'pvio') new PvioPersonality().attach(vm, { counters });
  if (t === 'hyperv') new HypervPersonality().attach(vm, { counters });
  runTo(vm);
  const results = seq.map((a, i) => (a.write ? undefined : vm.memory.readU64(RESULTS + 8 * i)));
  return { trace: dev.trace, results, stats: router.stats, hypercalls: counters.get('hypercall') };
}

describe.skipIf(!hasNasm)('transport equivalence (fast-check)', () => {
  for (const vendor of VENDORS) {
    it(`${vendor}: identical device trace and guest-visible values through PIO, MMIO, doorbell, pvio and Hyper-V MMIO hypercalls`, () => {
      fc.assert(
        fc.property(fc.array(arbAccess, { minLength: 1, maxLength: 10 }), fc.array(fc.nat({ max: 255 }), { maxLength: 8 }), (seq, input) => {
          const base = run('mmio', vendor, seq, input);
          expect(base.trace.length).toBe(seq.length);
          for (const t of TRANSPORTS) {
            if (t === 'mmio') continue;
            const r = run(t, vendor, seq, input);
            expect(r.trace, t).toEqual(base.trace);
            expect(r.results, t).toEqual(base.results);
            // the hypercall transports really made the hypercalls (pvio: every naturally aligned access)
            if (t === 'hyperv') expect(r.hypercalls).toBe(seq.length);
            if (t === 'pvio') expect(r.hypercalls).toBe(seq.filter((a) => a.offset % a.size === 0).length);
          }
        }),
        { numRuns: 15 },
      );
    }, 120_000);
  }

  it('the doorbell transport really goes through the DoorbellSet (not the device register path)', () => {
    const seq: Access[] = [{ offset: PvtestReg.DOORBELL, size: 4, write: true, value: 1 }];
    const r = run('doorbell', 'intel', seq, []);
    expect(r.trace).toEqual([{ op: 'notify' }]);
    expect(r.stats.doorbellFast + r.stats.doorbellFull).toBe(1);
    expect(r.stats.mmioWrite).toBe(0);
  });
});
