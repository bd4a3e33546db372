// A VM on /dev/kvm: memory slots backed by mmap (seen zero-copy from JS), vCPUs in long or protected mode,
// the host's supported CPUID, user-space MSR exits, and real ioeventfds.
import { isMainThread } from 'node:worker_threads';
import type { Vendor } from '../../cpu/types.js';
import {
  KVM_CAP, KVM_CPUID2_HEADER, KVM_CPUID_ENTRY2_SIZE, KVM_ENABLE_CAP_SIZE, KVM_IOCTL, KVM_MSR_EXIT_REASON_FILTER,
  KVM_MSR_EXIT_REASON_UNKNOWN, KVM_MSR_FILTER_DEFAULT_ALLOW, KVM_MSR_FILTER_MAX_RANGES, KVM_MSR_FILTER_RANGES_OFF,
  KVM_MSR_FILTER_RANGE_SIZE, KVM_MSR_FILTER_READ, KVM_MSR_FILTER_SIZE, KVM_MSR_FILTER_WRITE, KVM_USERSPACE_MEMORY_REGION_SIZE,
} from './abi.js';
import {
  E2BIG, MAP_ANONYMOUS, MAP_NORESERVE, MAP_SHARED, O_CLOEXEC, O_RDWR, PROT_READ, PROT_WRITE, loadLibc, type Libc,
} from './native.js';
import { RunTimer } from './timer.js';
import { SYSTEM_AREA_SIZE, applyModeSregs, buildSystemArea, type KvmCpuMode } from './setup.js';
import { KvmError, KvmVcpu } from './vcpu.js';
import { KvmIoeventfds } from './ioeventfd.js';
import { detectKvmBackend, type KvmBackendInfo } from './detect.js';

export interface KvmSlotSpec {
  gpa: bigint | number;
  /** Bytes, a positive multiple of 4 KiB. */
  size: number;
}

export interface KvmVmOptions {
  /** RAM slots (default one 2 MiB slot at GPA 0). */
  memory?: KvmSlotSpec[];
  /** Number of vCPUs (default 1). */
  vcpus?: number;
  /** Default 'long64': identity paging of the low 4 GiB with 2 MiB pages. 'prot32': flat segments, no paging. */
  mode?: KvmCpuMode;
  /** GPA of the 32 KiB system area (GDT, TSS, page tables); default 0xfff0_0000 (below 4 GiB, the firmware hole). */
  systemGpa?: bigint;
  /** KVM_SET_CPUID2 with KVM_GET_SUPPORTED_CPUID (default true). */
  hostCpuid?: boolean;
  /** KVM_CAP_X86_USER_SPACE_MSR with KVM_MSR_EXIT_REASON_UNKNOWN: unknown MSRs exit to us (default true). */
  userSpaceMsr?: boolean;
  /**
   * MSRs KVM knows but that should exit to us anyway (KVM_X86_SET_MSR_FILTER deny + KVM_MSR_EXIT_REASON_FILTER),
   * e.g. the KVM personality's MSR_KVM_SYSTEM_TIME_NEW. At most 16.
   */
  trapMsrs?: readonly number[];
  /**
   * KVM_CAP_EXIT_HYPERCALL with every hypercall KVM offers to forward (KVM_CHECK_EXTENSION returns the mask, today
   * 1 << KVM_HC_MAP_GPA_RANGE): those calls come back as Hypercall exits, answered with completeHypercall.
   */
  exitHypercalls?: boolean;
}

export interface KvmSlot {
  readonly slot: number;
  readonly gpa: bigint;
  readonly size: number;
  /** Zero-copy view of the slot's host memory. */
  readonly bytes: Uint8Array;
  readonly ptr: unknown;
}

export interface KvmCpuidEntry {
  fn: number;
  index: number;
  flags: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

const PAGE = 4096;

/** Open /dev/kvm and build a VM, or say why that is impossible here (never throws for a missing koffi/KVM). */
export async function createKvmVm(opts: KvmVmOptions = {}): Promise<KvmVm | { unavailable: string }> {
  // The run timeout is a signal whose handler Node installs only on the main thread (process.on is inert in workers).
  if (!isMainThread) return { unavailable: 'the KVM backend runs on the main thread only (KVM_RUN is bounded by a SIGALRM timer)' };
  const libc = await loadLibc();
  if (typeof libc === 'string') return { unavailable: libc };
  const info = detectKvmBackend();
  if (!info.present) return { unavailable: info.reason };
  const kvm = libc.open('/dev/kvm', O_RDWR | O_CLOEXEC);
  if (kvm < 0) return { unavailable: `open /dev/kvm failed: errno ${libc.errno()}` };
  const api = libc.ioctlInt(kvm, KVM_IOCTL.GET_API_VERSION, 0);
  if (api !== 12) { // linux/kvm.h KVM_API_VERSION
    libc.close(kvm);
    return { unavailable: `KVM_GET_API_VERSION returned ${api}, expected 12` };
  }
  const fd = libc.ioctlInt(kvm, KVM_IOCTL.CREATE_VM, 0);
  if (fd < 0) {
    const e = libc.errno();
    libc.close(kvm);
    return { unavailable: `KVM_CREATE_VM failed: errno ${e}` };
  }
  const vm = new KvmVm(libc, kvm, fd, info);
  try {
    vm.setup(opts);
  } catch (e) {
    vm.close();
    throw e;
  }
  return vm;
}

export class KvmVm {
  readonly slots: KvmSlot[] = [];
  readonly vcpus: KvmVcpu[] = [];
  readonly ioeventfds: KvmIoeventfds;
  mode: KvmCpuMode = 'long64';
  systemGpa = 0xfff0_0000n;
  /** The CPUID table given to every vCPU (KVM_GET_SUPPORTED_CPUID), empty when hostCpuid is off. */
  cpuid: KvmCpuidEntry[] = [];
  userSpaceMsr = false;
  /** Hypercall numbers (bit n = nr n) forwarded as KVM_EXIT_HYPERCALL; 0 when exitHypercalls is off. */
  exitHypercallMask = 0n;
  private readonly timer: RunTimer;
  private closed = false;
  private runMaps: { ptr: unknown; size: number }[] = [];

  constructor(
    readonly libc: Libc,
    readonly kvmFd: number,
    readonly fd: number,
    readonly backend: KvmBackendInfo,
  ) {
    this.timer = new RunTimer(libc);
    this.ioeventfds = new KvmIoeventfds(libc, fd);
  }

  /** @internal Called once by createKvmVm. */
  setup(opts: KvmVmOptions): void {
    this.mode = opts.mode ?? 'long64';
    if (opts.systemGpa !== undefined) this.systemGpa = opts.systemGpa;
    // Needed by VMX for real-mode emulation on Intel; harmless elsewhere (3 pages below the system area).
    this.libc.ioctlInt(this.fd, KVM_IOCTL.SET_TSS_ADDR, Number(0xfffb_d000n));
    for (const s of opts.memory ?? [{ gpa: 0n, size: 2 << 20 }]) this.addSlot(BigInt(s.gpa), s.size, 'memory');
    const sys = this.addSlot(this.systemGpa, SYSTEM_AREA_SIZE, 'systemGpa');
    buildSystemArea(sys.bytes, this.systemGpa);
    const trap = opts.trapMsrs ?? [];
    if (opts.userSpaceMsr ?? true) this.userSpaceMsr = this.enableUserSpaceMsr(trap.length > 0);
    else if (trap.length > 0) throw new RangeError('KvmVmOptions.trapMsrs: needs userSpaceMsr (the filter exits go to user space)');
    if (trap.length > 0) {
      if (!this.userSpaceMsr) throw new RangeError('KvmVmOptions.trapMsrs: this KVM lacks KVM_CAP_X86_USER_SPACE_MSR');
      this.setMsrFilter(trap);
    }
    if (opts.exitHypercalls ?? false) this.exitHypercallMask = this.enableExitHypercall();
    if (opts.hostCpuid ?? true) this.cpuid = this.supportedCpuid();
    const n = opts.vcpus ?? 1;
    if (!Number.isInteger(n) || n < 1 || n > 255) throw new RangeError(`KvmVmOptions.vcpus: 1..255 expected, got ${n}`);
    for (let i = 0; i < n; i++) this.addVcpu();
  }

  private addSlot(gpa: bigint, size: number, field: string): KvmSlot {
    if (gpa < 0n || gpa % BigInt(PAGE) !== 0n) throw new RangeError(`KvmVmOptions.${field}: gpa 0x${gpa.toString(16)} must be 4 KiB aligned and >= 0`);
    if (!Number.isInteger(size) || size <= 0 || size % PAGE !== 0 || size > 2 ** 32) {
      throw new RangeError(`KvmVmOptions.${field}: size ${size} must be a positive multiple of 4 KiB, at most 4 GiB`);
    }
    for (const s of this.slots) {
      if (gpa < s.gpa + BigInt(s.size) && s.gpa < gpa + BigInt(size)) {
        throw new RangeError(`KvmVmOptions.${field}: [0x${gpa.toString(16)}, +0x${size.toString(16)}) overlaps slot ${s.slot} at 0x${s.gpa.toString(16)}`);
      }
    }
    const l = this.libc;
    const ptr = l.mmap(size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    const addr = l.koffi.address(ptr);
    if (addr === 0xffffffffffffffffn || addr === 0n) throw new KvmError(`mmap of ${size} bytes for ${field}`, l.errno());
    const slot = this.slots.length;
    const r = new DataView(new ArrayBuffer(KVM_USERSPACE_MEMORY_REGION_SIZE));
    r.setUint32(0, slot, true);
    r.setUint32(4, 0, true);
    r.setBigUint64(8, gpa, true);
    r.setBigUint64(16, BigInt(size), true);
    r.setBigUint64(24, addr, true);
    if (l.ioctlPtr(this.fd, KVM_IOCTL.SET_USER_MEMORY_REGION, new Uint8Array(r.buffer)) < 0) {
      const e = l.errno();
      l.munmap(ptr, size);
      throw new KvmError(`KVM_SET_USER_MEMORY_REGION slot ${slot} gpa 0x${gpa.toString(16)}`, e);
    }
    const s: KvmSlot = { slot, gpa, size, ptr, bytes: new Uint8Array(l.koffi.view(ptr, size)) };
    this.slots.push(s);
    return s;
  }

  private enableUserSpaceMsr(filter: boolean): boolean {
    if (this.libc.ioctlInt(this.fd, KVM_IOCTL.CHECK_EXTENSION, KVM_CAP.X86_USER_SPACE_MSR) <= 0) return false;
    const c = new DataView(new ArrayBuffer(KVM_ENABLE_CAP_SIZE));
    c.setUint32(0, KVM_CAP.X86_USER_SPACE_MSR, true);
    c.setBigUint64(8, BigInt(KVM_MSR_EXIT_REASON_UNKNOWN | (filter ? KVM_MSR_EXIT_REASON_FILTER : 0)), true);
    if (this.libc.ioctlPtr(this.fd, KVM_IOCTL.ENABLE_CAP, new Uint8Array(c.buffer)) < 0) {
      throw new KvmError('KVM_ENABLE_CAP(KVM_CAP_X86_USER_SPACE_MSR)', this.libc.errno());
    }
    return true;
  }

  private enableExitHypercall(): bigint {
    const mask = this.libc.ioctlInt(this.fd, KVM_IOCTL.CHECK_EXTENSION, KVM_CAP.EXIT_HYPERCALL);
    if (mask <= 0) throw new RangeError('KvmVmOptions.exitHypercalls: this KVM lacks KVM_CAP_EXIT_HYPERCALL');
    const c = new DataView(new ArrayBuffer(KVM_ENABLE_CAP_SIZE));
    c.setUint32(0, KVM_CAP.EXIT_HYPERCALL, true);
    c.setBigUint64(8, BigInt(mask), true);
    if (this.libc.ioctlPtr(this.fd, KVM_IOCTL.ENABLE_CAP, new Uint8Array(c.buffer)) < 0) {
      throw new KvmError('KVM_ENABLE_CAP(KVM_CAP_EXIT_HYPERCALL)', this.libc.errno());
    }
    return BigInt(mask);
  }

  /** One deny range per MSR (bitmap bit 0 = deny), default allow; KVM copies the bitmaps during the ioctl. */
  private setMsrFilter(msrs: readonly number[]): void {
    if (msrs.length > KVM_MSR_FILTER_MAX_RANGES) {
      throw new RangeError(`KvmVmOptions.trapMsrs: at most ${KVM_MSR_FILTER_MAX_RANGES} MSRs (KVM_MSR_FILTER_MAX_RANGES), got ${msrs.length}`);
    }
    msrs.forEach((m, i) => {
      if (!Number.isInteger(m) || m < 0 || m > 0xffffffff) throw new RangeError(`KvmVmOptions.trapMsrs[${i}]: ${m} is not a u32 MSR index`);
    });
    const l = this.libc;
    const page = l.mmap(PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0); // zeroed: every bit denies
    const base = l.koffi.address(page);
    if (base === 0xffffffffffffffffn) throw new KvmError('mmap of the MSR filter bitmap', l.errno());
    try {
      const f = new DataView(new ArrayBuffer(KVM_MSR_FILTER_SIZE));
      f.setUint32(0, KVM_MSR_FILTER_DEFAULT_ALLOW, true);
      msrs.forEach((m, i) => {
        const o = KVM_MSR_FILTER_RANGES_OFF + i * KVM_MSR_FILTER_RANGE_SIZE;
        f.setUint32(o, KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE, true);
        f.setUint32(o + 4, 1, true); // nmsrs
        f.setUint32(o + 8, m, true); // base
        f.setBigUint64(o + 16, base + BigInt(i), true); // bitmap: one byte, bit 0 clear = deny
      });
      if (l.ioctlPtr(this.fd, KVM_IOCTL.X86_SET_MSR_FILTER, new Uint8Array(f.buffer)) < 0) {
        throw new KvmError(`KVM_X86_SET_MSR_FILTER [${msrs.map((m) => `0x${m.toString(16)}`).join(', ')}]`, l.errno());
      }
    } finally {
      l.munmap(page, PAGE);
    }
  }

  /** KVM_GET_SUPPORTED_CPUID on /dev/kvm, growing the buffer on E2BIG. */
  supportedCpuid(): KvmCpuidEntry[] {
    for (let nent = 64; nent <= 4096; nent *= 2) {
      const b = new Uint8Array(KVM_CPUID2_HEADER + nent * KVM_CPUID_ENTRY2_SIZE);
      const v = new DataView(b.buffer);
      v.setUint32(0, nent, true);
      if (this.libc.ioctlPtr(this.kvmFd, KVM_IOCTL.GET_SUPPORTED_CPUID, b) < 0) {
        const e = this.libc.errno();
        if (e === E2BIG) continue;
        throw new KvmError('KVM_GET_SUPPORTED_CPUID', e);
      }
      const n = v.getUint32(0, true);
      const out: KvmCpuidEntry[] = [];
      for (let i = 0; i < n; i++) {
        const o = KVM_CPUID2_HEADER + i * KVM_CPUID_ENTRY2_SIZE;
        out.push({
          fn: v.getUint32(o, true), index: v.getUint32(o + 4, true), flags: v.getUint32(o + 8, true),
          eax: v.getUint32(o + 12, true), ebx: v.getUint32(o + 16, true), ecx: v.getUint32(o + 20, true), edx: v.getUint32(o + 24, true),
        });
      }
      return out;
    }
    throw new Error('KVM_GET_SUPPORTED_CPUID: more than 4096 entries');
  }

  private setCpuid(vcpuFd: number, entries: readonly KvmCpuidEntry[]): void {
    const b = new Uint8Array(KVM_CPUID2_HEADER + entries.length * KVM_CPUID_ENTRY2_SIZE);
    const v = new DataView(b.buffer);
    v.setUint32(0, entries.length, true);
    entries.forEach((e, i) => {
      const o = KVM_CPUID2_HEADER + i * KVM_CPUID_ENTRY2_SIZE;
      v.setUint32(o, e.fn, true);
      v.setUint32(o + 4, e.index, true);
      v.setUint32(o + 8, e.flags, true);
      v.setUint32(o + 12, e.eax, true);
      v.setUint32(o + 16, e.ebx, true);
      v.setUint32(o + 20, e.ecx, true);
      v.setUint32(o + 24, e.edx, true);
    });
    if (this.libc.ioctlPtr(vcpuFd, KVM_IOCTL.SET_CPUID2, b) < 0) throw new KvmError('KVM_SET_CPUID2', this.libc.errno());
  }

  private addVcpu(): KvmVcpu {
    const l = this.libc;
    const id = this.vcpus.length;
    const cfd = l.ioctlInt(this.fd, KVM_IOCTL.CREATE_VCPU, id);
    if (cfd < 0) throw new KvmError(`KVM_CREATE_VCPU ${id}`, l.errno());
    const size = l.ioctlInt(this.kvmFd, KVM_IOCTL.GET_VCPU_MMAP_SIZE, 0);
    if (size <= 0) throw new KvmError('KVM_GET_VCPU_MMAP_SIZE', l.errno());
    const ptr = l.mmap(size, PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 0);
    if (l.koffi.address(ptr) === 0xffffffffffffffffn) throw new KvmError(`mmap of kvm_run for vcpu ${id}`, l.errno());
    this.runMaps.push({ ptr, size });
    const buf = l.koffi.view(ptr, size);
    if (this.cpuid.length > 0) this.setCpuid(cfd, this.cpuid);
    const v = new KvmVcpu(l, id, cfd, new DataView(buf), new Uint8Array(buf), this.mode, this.backend.vendor, this.timer,
      (end, len) => this.codeBefore(end, len));
    if (l.ioctlInt(this.fd, KVM_IOCTL.CHECK_EXTENSION, KVM_CAP.SYNC_REGS) > 0) v.enableSyncRegs();
    const s = v.getSregs();
    applyModeSregs(s, this.mode, this.systemGpa);
    v.setSregs(s);
    // KVM resets EDX to the CPU signature (SDM Vol. 3A 10.1.4); zero every GPR so the state equals the emulator's.
    for (let r = 0; r < 16; r++) v.setReg(r, 0n);
    v.rflags = 2n; // bit 1 is reserved, always 1 (SDM Vol. 1 3.4.3)
    v.rip = 0n;
    this.vcpus.push(v);
    return v;
  }

  vcpu(id: number): KvmVcpu {
    const v = this.vcpus[id];
    if (v === undefined) throw new RangeError(`kvmVm.vcpu(${id}): no such vCPU (have ${this.vcpus.length})`);
    return v;
  }

  private slotFor(gpa: bigint, len: number, where: string): { s: KvmSlot; off: number } {
    for (const s of this.slots) {
      if (gpa >= s.gpa && gpa + BigInt(len) <= s.gpa + BigInt(s.size)) return { s, off: Number(gpa - s.gpa) };
    }
    throw new RangeError(`${where}: [0x${gpa.toString(16)}, +${len}) is not inside one RAM slot`);
  }

  /** Up to `len` bytes of RAM ending just before `end`, clipped to the slot holding end - 1. */
  private codeBefore(end: bigint, len: number): Uint8Array {
    for (const s of this.slots) {
      if (end - 1n >= s.gpa && end <= s.gpa + BigInt(s.size)) {
        const off = Number(end - s.gpa);
        return s.bytes.slice(Math.max(0, off - len), off);
      }
    }
    return new Uint8Array(0);
  }

  /** Copy `len` bytes of guest RAM (DmaMemory). */
  readBytes(gpa: bigint | number, len: number): Uint8Array {
    const { s, off } = this.slotFor(BigInt(gpa), len, 'kvmVm.readBytes');
    return s.bytes.slice(off, off + len);
  }

  /** Write guest RAM (DmaMemory). */
  writeBytes(gpa: bigint | number, data: Uint8Array | readonly number[]): void {
    const { s, off } = this.slotFor(BigInt(gpa), data.length, 'kvmVm.writeBytes');
    s.bytes.set(data, off);
  }

  /** Release vCPUs, ioeventfds, memory and fds. Views into guest memory must not be used afterwards. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const l = this.libc;
    this.ioeventfds.closeAll();
    for (const v of this.vcpus) {
      v.markClosed();
      l.close(v.fd);
    }
    for (const m of this.runMaps) l.munmap(m.ptr, m.size);
    l.close(this.fd);
    for (const s of this.slots) l.munmap(s.ptr, s.size);
    l.close(this.kvmFd);
    this.timer.delete();
  }
}

export type { Vendor };
