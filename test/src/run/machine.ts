// A ready machine for `pvkit run` and the demo: RAM, an I/O router with a debug console on port 0xe9 and
// the pvkit test device, and the requested personalities composed at non-overlapping CPUID bases.
import { XEN_HVM_DEBUGCONS_IOPORT } from '@pvkit/shared-abi';
import {
  CostCounters, HypervPersonality, Hypervisor, IoBusRouter, KvmPersonality, PvioPersonality, PvTestDevice,
  Vm, VmwarePersonality, XenPersonality, type DmaMemory, type GuestMemory, type PioDevice, type Vendor,
} from '@pvkit/host';
import type { GuestImage } from './loader.js';

export const ABI_NAMES = ['kvm', 'xen', 'hyperv', 'vmware', 'pvio'] as const;
export type AbiName = (typeof ABI_NAMES)[number];

/** `kvm` or `kvm@0x40000100`. */
export interface AbiRequest {
  readonly name: AbiName;
  readonly base?: number;
}

export interface MachineOptions {
  readonly abis: readonly AbiRequest[];
  readonly vendor: Vendor;
  readonly bits: 64 | 32;
  readonly memMiB: number;
  readonly trace?: boolean;
  readonly fixHypercallInsn?: boolean;
  readonly mmuMode?: 'ept' | 'npt' | 'shadow';
  readonly vcpus?: number;
}

/** Bytes written to port 0xe9 (Xen/QEMU debug console, xen/arch-x86/xen.h XEN_HVM_DEBUGCONS_IOPORT). */
export class DebugConsole implements PioDevice {
  readonly name = 'debugcon';
  readonly bytes: number[] = [];
  read(): number {
    return 0xe9; // QEMU debugcon reads back 0xe9 so a guest can probe for it
  }
  write(_off: number, size: 1 | 2 | 4, value: number): void {
    for (let i = 0; i < size; i++) this.bytes.push((value >>> (8 * i)) & 0xff);
  }
  text(): string {
    return new TextDecoder().decode(Uint8Array.from(this.bytes));
  }
}

/** Where the pvkit test device sits: ports 0x600..0x63f and MMIO 0xfe000000..0xfe00003f. */
export const PVTEST_PORT = 0x600;
export const PVTEST_MMIO = 0xfe00_0000n;

/** The devices every pvkit machine has: the debug console at 0xe9 and the pvtest device (ports and MMIO window). */
export interface StandardDevices {
  readonly console: DebugConsole;
  readonly pvtest: PvTestDevice;
}

/** Registers the standard devices on `router`; `at` moves pvtest (a nested L0 keeps it elsewhere). */
export function attachStandardDevices(router: IoBusRouter, dma: DmaMemory, at: { port: number; mmio: bigint } = { port: PVTEST_PORT, mmio: PVTEST_MMIO }): StandardDevices {
  const console = new DebugConsole();
  router.pio.register(XEN_HVM_DEBUGCONS_IOPORT, 1, console);
  const pvtest = new PvTestDevice('pvtest', dma);
  router.pio.register(at.port, 0x40, pvtest.pio);
  router.mmio.register(at.mmio, 0x40n, pvtest.mmio);
  return { console, pvtest };
}

export interface Machine {
  readonly vm: Vm;
  readonly router: IoBusRouter;
  readonly counters: CostCounters;
  readonly hypervisor: Hypervisor | undefined;
  readonly console: DebugConsole;
  readonly pvtest: PvTestDevice;
}

/** A personality for an ABI request at a CPUID base (shared by plain and nested machines). */
export function makePersonality(r: AbiRequest, base: number, options: Record<string, unknown> = {}) {
  switch (r.name) {
    case 'kvm': return new KvmPersonality({ ...options, base });
    case 'xen': return new XenPersonality({ ...options, base });
    case 'hyperv': return new HypervPersonality(options);
    case 'vmware': return new VmwarePersonality(options);
    case 'pvio': return new PvioPersonality({ ...options, base });
  }
}

/**
 * CPUID bases: an explicit `@base` wins; Hyper-V and VMware are fixed at 0x40000000; the others take their
 * ABI's default base when free, else the next free 0x100 slot (KVM beside Hyper-V goes to 0x40000100, as KVM
 * does for Windows guests).
 */
export function placeAbis(reqs: readonly AbiRequest[]): { req: AbiRequest; base: number }[] {
  const taken = new Set<number>();
  const out: { req: AbiRequest; base: number }[] = [];
  const fixed = (n: AbiName) => n === 'hyperv' || n === 'vmware';
  const order = [...reqs].sort((a, b) => Number(b.base !== undefined || fixed(b.name)) - Number(a.base !== undefined || fixed(a.name)));
  for (const r of order) {
    let base = r.base ?? (fixed(r.name) ? 0x40000000 : r.name === 'pvio' ? 0x40000100 : 0x40000000);
    if (r.base === undefined && !fixed(r.name)) while (taken.has(base)) base += 0x100;
    if (taken.has(base)) throw new Error(`--abi: two ABIs at CPUID base 0x${base.toString(16)} (${r.name})`);
    taken.add(base);
    out.push({ req: r, base });
  }
  return reqs.map((r) => out.find((o) => o.req === r)!);
}

/** Copies the image's segments into RAM [0, memMiB MiB); a segment that does not fit is an error naming it. */
export function loadSegments(mem: GuestMemory, img: GuestImage, memMiB: number): void {
  const ram = BigInt(memMiB) * 1024n * 1024n;
  for (const s of img.segments) {
    const end = s.gpa + BigInt(s.bytes.length + s.zero);
    if (end > ram) throw new Error(`segment at 0x${s.gpa.toString(16)}..0x${end.toString(16)} does not fit in ${memMiB} MiB of RAM (use --mem)`);
    mem.writeBytes(s.gpa, s.bytes);
    if (s.zero) mem.writeBytes(s.gpa + BigInt(s.bytes.length), new Uint8Array(s.zero));
  }
}

export function buildMachine(img: GuestImage, o: MachineOptions): Machine {
  const counters = new CostCounters();
  const router = new IoBusRouter({ counters, mmuMode: o.mmuMode ?? 'ept' });
  const vm = new Vm({
    mode: o.bits === 64 ? 'long64' : 'prot32', vendor: o.vendor, router, vcpus: o.vcpus ?? 1,
    trace: o.trace ?? false, fixHypercallInsn: o.fixHypercallInsn ?? true, counters,
  });
  const ram = o.memMiB * 1024 * 1024;
  vm.memory.addRam(0, ram);
  const { console, pvtest } = attachStandardDevices(router, vm.memory);
  loadSegments(vm.memory, img, o.memMiB);
  for (const v of vm.vcpus) {
    v.rip = img.entry;
    v.setReg('rsp', BigInt(ram - 0x1000 * v.id - 16));
  }
  let hypervisor: Hypervisor | undefined;
  if (o.abis.length) {
    hypervisor = new Hypervisor(placeAbis(o.abis).map(({ req, base }) => makePersonality(req, base)), { counters });
    hypervisor.attach(vm);
  }
  return { vm, router, counters, hypervisor, console, pvtest };
}
