// Emulator benchmarks: guest instructions per second, and the cost of each exit kind handled in the host.
// Guest programs are written with the guest-sdk assembler; each loop runs a fixed count and halts.
import { Asm, eax, ebx, ecx, mem, r12, rax, rbx, al } from '@pvkit/guest-sdk';
import { IoBusRouter, KvmPersonality, type MmioDevice, type PioDevice, type Vendor, type Vm } from '@pvkit/host';
import type { BenchCase } from './measure.js';
import { CODE_BASE, loadGuest } from './guest.js';

const MMIO_BASE = 0xd000_0000n;

/** A guest loop: `setup` once, then `body` count times (counter in r12, which no ABI here clobbers), then hlt. */
function loop(count: number, body: (a: Asm) => void, setup: (a: Asm) => void = () => {}, bits: 64 = 64): Asm {
  const a = new Asm({ bits, origin: CODE_BASE });
  a.label('entry');
  setup(a);
  a.mov(r12, count);
  a.label('top');
  body(a);
  a.dec(r12).jcc('nz', 'top').hlt();
  return a;
}

function runToHlt(vm: Vm): void {
  const e = vm.run({ budget: 2_000_000_000 });
  if (e.kind !== 'Hlt') throw new Error(`bench guest ended with ${e.kind}, expected Hlt`);
}

const nullPio: PioDevice = { name: 'null-pio', read: () => 0, write: () => {} };
const nullMmio: MmioDevice = { name: 'null-mmio', read: () => 0n, write: () => {} };

function routerWith(mmuMode: 'ept' | 'npt' = 'ept'): IoBusRouter {
  const r = new IoBusRouter({ mmuMode });
  r.pio.register(0x80, 1, nullPio);
  r.mmio.register(MMIO_BASE, 0x1000n, nullMmio);
  return r;
}

/** `scale` shrinks every loop (tests run the cases at 0.01 to check they work, not how fast). */
export function engineCases(scale = 1): BenchCase[] {
  const N = Math.max(1, Math.round(1_000_000 * scale)); // long enough that code warm-up is a small share of a repetition
  return [
    {
      id: 'emu.alu-loop', label: 'guest integer loop (add/xor/dec/jnz)', unit: 'instruction', targetNsPerOp: 10,
      prepare() {
        const iters = Math.max(1, Math.round(2_000_000 * scale));
        const img = loop(iters, (a) => a.add(eax, ecx).xor(ebx, eax), (a) => a.mov(ecx, 7)).finish();
        const vm = loadGuest(img);
        const v = vm.vcpus[0]!;
        return { ops: iters * 4 + 2, run: () => { const before = v.icount; runToHlt(vm); if (v.icount - before < iters * 4) throw new Error('loop short'); } };
      },
    },
    ...(['intel', 'amd'] as Vendor[]).map((vendor): BenchCase => ({
      id: `emu.hypercall.${vendor}`, label: `KVM hypercall round trip (${vendor === 'intel' ? 'vmcall' : 'vmmcall'} native, ${vendor})`,
      unit: 'hypercall', targetNsPerOp: 50,
      prepare() {
        const img = loop(N, (a) => {
          a.mov(eax, 1); // KVM_HC_VAPIC_POLL_IRQ: returns 0
          if (vendor === 'intel') a.vmcall(); else a.vmmcall();
        }).finish();
        const vm = loadGuest(img, { vendor });
        new KvmPersonality().attach(vm);
        return { ops: N, run: () => runToHlt(vm) };
      },
    })),
    {
      id: 'emu.ud-patch.first-call', label: '#UD patch, first call of a site (vmcall on amd)', unit: 'site',
      prepare() {
        // K distinct sites each executed once: every one #UDs, is patched and re-executed.
        const K = Math.max(1, Math.round(5_000 * scale));
        const a = new Asm({ bits: 64, origin: CODE_BASE });
        a.label('entry');
        for (let i = 0; i < K; i++) a.mov(eax, 1).vmcall();
        a.hlt();
        const vm = loadGuest(a.finish(), { vendor: 'amd' });
        new KvmPersonality().attach(vm);
        return { ops: K, run: () => { runToHlt(vm); if (vm.patchCounts.size !== K) throw new Error(`patched ${vm.patchCounts.size} of ${K}`); } };
      },
    },
    {
      id: 'emu.pio-out', label: 'port I/O exit to a device (out 0x80, al)', unit: 'exit', targetNsPerOp: 50,
      prepare() {
        const vm = loadGuest(loop(N, (a) => a.out(0x80, al)).finish(), { router: routerWith() });
        return { ops: N, run: () => runToHlt(vm) };
      },
    },
    {
      id: 'emu.pio-in', label: 'port I/O exit from a device (in al, 0x80)', unit: 'exit', targetNsPerOp: 50,
      prepare() {
        const vm = loadGuest(loop(N, (a) => a.in(al, 0x80)).finish(), { router: routerWith() });
        return { ops: N, run: () => runToHlt(vm) };
      },
    },
    {
      id: 'emu.mmio-write', label: 'emulated MMIO write (mov [mmio], eax)', unit: 'exit', targetNsPerOp: 50,
      prepare() {
        const img = loop(N, (a) => a.mov(mem(rbx), eax), (a) => a.mov(rbx, MMIO_BASE)).finish();
        const vm = loadGuest(img, { router: routerWith() });
        return { ops: N, run: () => runToHlt(vm) };
      },
    },
    {
      id: 'emu.mmio-read', label: 'emulated MMIO read (mov eax, [mmio])', unit: 'exit', targetNsPerOp: 50,
      prepare() {
        const img = loop(N, (a) => a.mov(eax, mem(rbx)), (a) => a.mov(rbx, MMIO_BASE)).finish();
        const vm = loadGuest(img, { router: routerWith() });
        return { ops: N, run: () => runToHlt(vm) };
      },
    },
    ...(['ept', 'npt'] as const).map((mode): BenchCase => ({
      id: `emu.doorbell.${mode}`, label: `MMIO doorbell write, len 0 (${mode}: ${mode === 'ept' ? 'fast path' : 'full path'})`,
      unit: 'write', targetNsPerOp: 50,
      prepare() {
        const r = routerWith(mode);
        const res = r.doorbells.assign({ space: 'mmio', addr: MMIO_BASE + 0x100n, len: 0 });
        if (!res.ok) throw new Error('doorbell assign failed');
        const img = loop(N, (a) => a.mov(mem(rax), ebx), (a) => a.mov(rax, MMIO_BASE + 0x100n)).finish();
        const vm = loadGuest(img, { router: r });
        return { ops: N, run: () => { runToHlt(vm); if (res.doorbell.signals !== N) throw new Error(`doorbell signalled ${res.doorbell.signals}/${N}`); } };
      },
    })),
  ];
}
