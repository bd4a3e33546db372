// Real-KVM benchmark rows: the same guest loops as the emulator rows (engine.ts), run on /dev/kvm through
// host/src/backends/kvm, each tied to its emulator row by `sameAs` so the table shows the ratio.
// Every row SKIPs with the reason when /dev/kvm or koffi is missing; hypercall rows SKIP on kvm_pvm.
import { Asm, al, eax, ebx, mem, r12, rax, rbx, toBinary } from '@pvkit/guest-sdk';
import { KVM_CPUID_SIGNATURE, KVM_SIGNATURE, signatureToRegs } from '@pvkit/shared-abi';
import {
  IoBusRouter, KvmPersonality, createKvmVm, detectKvmBackend, runWithRouter,
  type KvmVm, type MmioDevice, type PioDevice,
} from '@pvkit/host';
import type { BenchCase, Prepared } from './measure.js';
import { CODE_BASE, RAM_SIZE, loadGuest } from './guest.js';

const MMIO_BASE = 0xd000_0000n; // same as engine.ts: outside every memory slot, so KVM exits to user space
const PORT = 0x80;
const KVM_SIG = signatureToRegs(KVM_SIGNATURE); // asm/kvm_para.h KVM_SIGNATURE "KVMKVMKVM\0\0\0"

/** As engine.ts: `setup` once, `body` count times (counter in r12), then hlt. */
function loop(count: number, body: (a: Asm) => void, setup: (a: Asm) => void = () => {}): Uint8Array {
  const a = new Asm({ bits: 64, origin: CODE_BASE });
  a.label('entry');
  setup(a);
  a.mov(r12, count);
  a.label('top');
  body(a);
  a.dec(r12).jcc('nz', 'top').hlt();
  const img = a.finish();
  if ((img.symbols.find((s) => s.name === 'entry')?.offset ?? 0) !== 0) throw new Error('bench loop: entry must be at offset 0');
  return toBinary(img); // flat from img.origin (CODE_BASE), as loadGuest places it
}

/** Counting devices: each run checks that exactly `count` exits reached user space. */
class Counts {
  pioOut = 0;
  pioIn = 0;
  mmioWrite = 0;
  mmioRead = 0;
  readonly pio: PioDevice = { name: 'count-pio', read: () => (this.pioIn++, 0), write: () => void this.pioOut++ };
  readonly mmio: MmioDevice = { name: 'count-mmio', read: () => (this.mmioRead++, 0n), write: () => void this.mmioWrite++ };
  router(): IoBusRouter {
    const r = new IoBusRouter({ mmuMode: 'ept' });
    r.pio.register(PORT, 1, this.pio);
    r.mmio.register(MMIO_BASE, 0x1000n, this.mmio);
    return r;
  }
}

/** A fresh 64-bit KVM VM with `code` at CODE_BASE, or the reason there is none. */
async function kvmGuest(code: Uint8Array): Promise<KvmVm | { skip: string }> {
  const vm = await createKvmVm({ memory: [{ gpa: 0n, size: RAM_SIZE }], mode: 'long64' });
  if ('unavailable' in vm) return { skip: `kvm unavailable: ${vm.unavailable}` };
  vm.writeBytes(CODE_BASE, code);
  const v = vm.vcpu(0);
  v.rip = CODE_BASE;
  v.setReg('rsp', BigInt(RAM_SIZE - 0x1000));
  return vm;
}

/** Run to the final HLT; anything else (timeout, shutdown, an unanswered exit) is an error. */
function runToHlt(vm: KvmVm, router: IoBusRouter | undefined, iters: number): void {
  const e = runWithRouter(vm.vcpu(0), { ...(router ? { router } : {}), timeoutMs: 5_000 + iters * 2 });
  if (e.kind !== 'Hlt') throw new Error(`kvm bench guest ended with ${e.kind} at 0x${e.rip.toString(16)}, expected Hlt`);
}

/** Build a KVM row: `check` verifies the run's work after the timed run, and throws if it is wrong. */
function kvmRow(
  id: string, label: string, unit: string, sameAs: string, iters: number,
  build: () => { code: Uint8Array; router?: IoBusRouter; after?: (vm: KvmVm) => void; check: (vm: KvmVm) => void },
  precondition?: () => string | undefined,
): BenchCase {
  return {
    id, label, unit, sameAs,
    async prepare(): Promise<Prepared> {
      const why = precondition?.();
      if (why) return { skip: why };
      const b = build();
      const vm = await kvmGuest(b.code);
      if ('skip' in vm) return vm;
      try {
        b.after?.(vm);
      } catch (e) {
        vm.close();
        throw e;
      }
      return { ops: iters, run: () => { runToHlt(vm, b.router, iters); b.check(vm); }, cleanup: () => vm.close() };
    },
  };
}

function expectCount(what: string, got: number | bigint, want: number): void {
  if (BigInt(got) !== BigInt(want)) throw new Error(`${what}: ${got} of ${want}`);
}

function expectKvmSignature(ebxValue: bigint, where: string): void {
  if (Number(ebxValue & 0xffff_ffffn) !== KVM_SIG.ebx) throw new Error(`${where}: cpuid 0x40000000 gave ebx 0x${ebxValue.toString(16)}, not KVM's signature`);
}

const cpuidLoop = (n: number) => loop(n, (a) => a.mov(eax, KVM_CPUID_SIGNATURE).cpuid());

/** Emulator row for the CPUID exit (leaf 0x40000000 answered by KvmPersonality), the pair of 'kvm.cpuid'. */
export function cpuidEmuCase(scale = 1): BenchCase {
  const N = Math.max(1, Math.round(1_000_000 * scale));
  return {
    id: 'emu.cpuid', label: 'CPUID exit (cpuid eax=0x40000000, KVM leaves)', unit: 'exit', targetNsPerOp: 50,
    prepare() {
      const a = new Asm({ bits: 64, origin: CODE_BASE });
      a.label('entry');
      a.mov(r12, N).label('top').mov(eax, KVM_CPUID_SIGNATURE).cpuid().dec(r12).jcc('nz', 'top').hlt();
      const vm = loadGuest(a.finish());
      new KvmPersonality().attach(vm);
      const v = vm.vcpus[0]!;
      return {
        ops: N,
        run: () => {
          const e = vm.run({ budget: 2_000_000_000 });
          if (e.kind !== 'Hlt') throw new Error(`bench guest ended with ${e.kind}, expected Hlt`);
          expectKvmSignature(v.getReg('rbx'), 'emu.cpuid');
        },
      };
    },
  };
}

/** The real-KVM rows. `scale` shrinks every loop (tests use a small one to check they work). */
export async function kvmCases(scale = 1): Promise<BenchCase[]> {
  const N = Math.max(1, Math.round(2_000 * scale));
  const info = detectKvmBackend();
  const rows: BenchCase[] = [
    kvmRow('kvm.cpuid', 'CPUID exit (cpuid eax=0x40000000, KVM leaves) [kvm]', 'exit', 'emu.cpuid', N, () => ({
      code: cpuidLoop(N),
      check: (vm) => expectKvmSignature(vm.vcpu(0).getReg('rbx'), 'kvm.cpuid'),
    })),
    kvmRow('kvm.pio-out', 'port I/O exit to a device (out 0x80, al) [kvm]', 'exit', 'emu.pio-out', N, () => {
      const c = new Counts();
      return { code: loop(N, (a) => a.out(PORT, al)), router: c.router(), check: () => { expectCount('kvm.pio-out writes', c.pioOut, N); c.pioOut = 0; } };
    }),
    kvmRow('kvm.pio-in', 'port I/O exit from a device (in al, 0x80) [kvm]', 'exit', 'emu.pio-in', N, () => {
      const c = new Counts();
      return { code: loop(N, (a) => a.in(al, PORT)), router: c.router(), check: () => { expectCount('kvm.pio-in reads', c.pioIn, N); c.pioIn = 0; } };
    }),
    kvmRow('kvm.mmio-write', 'MMIO write exit (mov [mmio], eax) [kvm]', 'exit', 'emu.mmio-write', N, () => {
      const c = new Counts();
      return {
        code: loop(N, (a) => a.mov(mem(rbx), eax), (a) => a.mov(rbx, MMIO_BASE)), router: c.router(),
        check: () => { expectCount('kvm.mmio-write writes', c.mmioWrite, N); c.mmioWrite = 0; },
      };
    }),
    kvmRow('kvm.mmio-read', 'MMIO read exit (mov eax, [mmio]) [kvm]', 'exit', 'emu.mmio-read', N, () => {
      const c = new Counts();
      return {
        code: loop(N, (a) => a.mov(eax, mem(rbx)), (a) => a.mov(rbx, MMIO_BASE)), router: c.router(),
        check: () => { expectCount('kvm.mmio-read reads', c.mmioRead, N); c.mmioRead = 0; },
      };
    }),
    kvmRow('kvm.doorbell.ioeventfd', 'MMIO doorbell write, len 0 (real ioeventfd, in kernel) [kvm]', 'write', 'emu.doorbell.ept', N, () => {
      const c = new Counts();
      const router = c.router();
      const res = router.doorbells.assign({ space: 'mmio', addr: MMIO_BASE + 0x100n, len: 0 });
      if (!res.ok) throw new Error('kvm.doorbell.ioeventfd: doorbell assign failed');
      let handle: ReturnType<KvmVm['ioeventfds']['mirror']>[number] | undefined;
      return {
        code: loop(N, (a) => a.mov(mem(rax), ebx), (a) => a.mov(rax, MMIO_BASE + 0x100n)), router,
        after: (vm) => {
          const hs = vm.ioeventfds.mirror(router.doorbells);
          if (hs.length !== 1) throw new Error(`kvm.doorbell.ioeventfd: mirrored ${hs.length} doorbells, expected 1`);
          handle = hs[0];
        },
        check: (vm) => {
          // Every write must complete in the kernel: the eventfd counts N and no write reached user space.
          expectCount('kvm.doorbell.ioeventfd eventfd count', vm.ioeventfds.read(handle!), N);
          expectCount('kvm.doorbell.ioeventfd writes that exited to user space', c.mmioWrite + res.doorbell.signals, 0);
        },
      };
    }),
    kvmRow(`kvm.hypercall.${info.vendor}`,
      `KVM hypercall round trip (${info.vendor === 'intel' ? 'vmcall' : 'vmmcall'} native, ${info.vendor}) [kvm]`, 'hypercall',
      `emu.hypercall.${info.vendor}`, N, () => ({
        code: loop(N, (a) => {
          a.mov(eax, 1); // KVM_HC_VAPIC_POLL_IRQ (linux/kvm_para.h): returns 0
          if (info.vendor === 'intel') a.vmcall(); else a.vmmcall();
        }),
        check: (vm) => expectCount('kvm hypercall return value (rax)', vm.vcpu(0).getReg('rax'), 0),
      }),
      () => (info.present && !info.hypercallsComplete ? info.reason : undefined)),
  ];
  return rows;
}
