// One KVM vCPU: cached registers (bigint API like the emulator's VcpuApi), a bounded KVM_RUN, and the decoding
// of struct kvm_run into the emulator's Exit union, plus completion of exits that need an answer.
import type { Exit } from '../../exits.js';
import type { Cpl, GprName, Vendor, VcpuApi } from '../../cpu/types.js';
import { GPR_NAMES, checkHalf, isHalf } from '../../cpu/types.js';
import {
  KVM_EXIT, KVM_EXIT_IO_OUT, KVM_IOCTL, KVM_SYNC_X86_REGS, KVM_REGS_ORDER, KVM_REGS_SIZE, KVM_SREGS_SIZE, RUN_OFF,
} from './abi.js';
import { EINTR, type Libc } from './native.js';
import type { RunTimer } from './timer.js';
import type { KvmCpuMode } from './setup.js';
import { gprIndex, maybePrefix, outInsnStart, readLe, sameBytes, storeInsnStart } from './insn-start.js';

/** Reads up to `len` guest bytes ending just before `end` (fewer at the start of a slot). */
export type CodeFetch = (end: bigint, len: number) => Uint8Array;

/** Byte offset in kvm_regs of each emulator register index (x86 encoding order rax, rcx, rdx, rbx, ...). */
const GPR_OFF: readonly number[] = GPR_NAMES.map((n) => KVM_REGS_ORDER.indexOf(n) * 8);
const RIP_OFF = KVM_REGS_ORDER.indexOf('rip') * 8;
const RFLAGS_OFF = KVM_REGS_ORDER.indexOf('rflags') * 8;

export interface KvmRunOptions {
  /** Wall-clock bound for this call (default 1000 ms); a guest still running then gives BudgetExhausted/wallclock. */
  timeoutMs?: number;
}

/** What the last exit is waiting for (the answer is written into kvm_run before the next KVM_RUN). */
type Pending = 'IoIn' | 'MmioRead' | 'Rdmsr' | 'Wrmsr' | 'Hypercall' | undefined;

export class KvmError extends Error {
  constructor(where: string, errno: number) {
    super(`${where} failed: errno ${errno}`);
    this.name = 'KvmError';
  }
}

export class KvmVcpu implements VcpuApi {
  readonly cpl: Cpl = 0;
  /** Extra elements of a string PIO exit (count > 1): values after the first, in order, for OUTS. */
  lastIoValues: number[] = [];
  /**
   * A string IN (INS) exit: KVM wants `count` elements in kvm_run's data area before it re-enters. They are
   * delivered one IoIn exit per element, like the emulator's, and KVM_RUN resumes once all are answered.
   */
  private ins: { port: number; size: 1 | 2 | 4; count: number; next: number; rip: bigint } | undefined;
  /** KVM_EXIT_* of the last run, for diagnostics. */
  lastExitReason = -1;
  private readonly regs = new Uint8Array(KVM_REGS_SIZE);
  private readonly rv = new DataView(this.regs.buffer);
  /** 'stale' = KVM holds newer values; 'dirty' = ours must be written before KVM_RUN. */
  private regState: 'clean' | 'stale' | 'dirty' = 'stale';
  private pending: Pending;
  private closed = false;
  /** KVM_CAP_SYNC_REGS: registers travel in kvm_run.s.regs instead of GET/SET_REGS ioctls. */
  private syncRegs = false;
  /** The sync area holds the registers of the last exit. */
  private synced = false;
  private readonly startCache = new Map<bigint, { code: Uint8Array; start: bigint }>();

  constructor(
    private readonly libc: Libc,
    readonly id: number,
    readonly fd: number,
    /** The mmapped struct kvm_run (zero-copy view). */
    readonly runView: DataView,
    private readonly runBytes: Uint8Array,
    readonly mode: KvmCpuMode,
    readonly vendor: Vendor,
    private readonly timer: RunTimer,
    private readonly fetch: CodeFetch,
  ) {}

  private get bits(): 32 | 64 {
    return this.mode === 'long64' ? 64 : 32;
  }

  /** KVM reports RIP past a completed OUT/MMIO store; find the instruction's own address (see insn-start.ts). */
  private trapStart(rip: bigint, find: (code: Uint8Array) => bigint | undefined): bigint {
    const code = this.fetch(rip, 15);
    // Same RIP and same bytes = same instruction: skip the backwards decode (a loop's store exits every pass).
    const hit = this.startCache.get(rip);
    if (hit !== undefined && sameBytes(hit.code, code)) return hit.start;
    const start = find(code);
    if (start === undefined) return rip;
    if (this.startCache.size >= 4096) this.startCache.clear();
    this.startCache.set(rip, { code, start });
    return start;
  }

  /**
   * OUT start: the plain encodings checked directly; when the byte before could be a prefix (or REX), or nothing
   * fits, iced-x86 decodes back and the longest OUT to this port that ends at RIP wins.
   */
  private outStart(rip: bigint, port: number, size: number): bigint {
    const c = this.fetch(rip, 15);
    const n = c.length;
    const rdx = this.getReg('rdx');
    const dxOk = Number(rdx & 0xffffn) === port;
    // EE/EF = OUT DX, AL/eAX (66 prefix for 16-bit); E6/E7 ib = OUT imm8 (SDM Vol. 2B OUT).
    let len = 0;
    if (dxOk && ((c[n - 1] === 0xee && size === 1) || (c[n - 1] === 0xef && size === 4))) len = 1;
    else if (dxOk && c[n - 1] === 0xef && size === 2 && c[n - 2] === 0x66) len = 2;
    else if (c[n - 1] === port && ((c[n - 2] === 0xe6 && size === 1) || (c[n - 2] === 0xe7 && size === 4))) len = 2;
    else if (c[n - 1] === port && c[n - 2] === 0xe7 && size === 2 && c[n - 3] === 0x66) len = 3;
    if (len > 0 && !maybePrefix(c[n - len - 1], this.bits)) return rip - BigInt(len);
    return outInsnStart(c, rip, this.bits, port, rdx) ?? rip;
  }

  private ioctl(req: number, buf: Uint8Array, what: string): void {
    if (this.libc.ioctlPtr(this.fd, req, buf) < 0) throw new KvmError(`vcpu ${this.id}: ${what}`, this.libc.errno());
  }

  /** Use kvm_run.s.regs (call once when the VM has KVM_CAP_SYNC_REGS). */
  enableSyncRegs(): void {
    this.runView.setBigUint64(RUN_OFF.validRegs, BigInt(KVM_SYNC_X86_REGS), true);
    this.syncRegs = true;
  }

  private load(): void {
    if (this.regState !== 'stale') return;
    if (this.synced) this.regs.set(this.runBytes.subarray(RUN_OFF.syncRegs, RUN_OFF.syncRegs + KVM_REGS_SIZE));
    else this.ioctl(KVM_IOCTL.GET_REGS, this.regs, 'KVM_GET_REGS');
    this.regState = 'clean';
  }

  private flush(): void {
    if (this.regState !== 'dirty') return;
    if (this.syncRegs) {
      this.runBytes.set(this.regs, RUN_OFF.syncRegs);
      this.runView.setBigUint64(RUN_OFF.dirtyRegs, BigInt(KVM_SYNC_X86_REGS), true);
    } else this.ioctl(KVM_IOCTL.SET_REGS, this.regs, 'KVM_SET_REGS');
    this.regState = 'clean';
  }

  private offOf(r: GprName | number): number {
    const i = typeof r === 'number' ? r : GPR_NAMES.indexOf(r);
    const off = GPR_OFF[i];
    if (off === undefined) throw new RangeError(`vcpu ${this.id}: register ${String(r)}: expected a GPR name or index 0..15`);
    return off;
  }

  getReg(r: GprName | number): bigint {
    this.load();
    return this.rv.getBigUint64(this.offOf(r), true);
  }

  setReg(r: GprName | number, value: bigint): void {
    const off = this.offOf(r);
    this.load();
    this.rv.setBigUint64(off, BigInt.asUintN(64, value), true);
    this.regState = 'dirty';
  }

  /** Byte offset of GPR index i (0..15) in kvm_regs (VcpuApi number access). */
  private offOfIndex(i: number): number {
    const off = (i | 0) === i ? GPR_OFF[i] : undefined;
    if (off === undefined) throw new RangeError(`vcpu ${this.id}: register index: expected 0..15, got ${String(i)}`);
    return off;
  }

  getReg32(i: number): number {
    const off = this.offOfIndex(i);
    this.load();
    return this.rv.getUint32(off, true);
  }

  getRegHi(i: number): number {
    const off = this.offOfIndex(i);
    this.load();
    return this.rv.getUint32(off + 4, true);
  }

  setRegParts(i: number, lo: number, hi: number): void {
    const off = this.offOfIndex(i);
    if (!isHalf(lo) || !isHalf(hi)) checkHalf(`vcpu ${this.id}: setRegParts(${i}) ${isHalf(lo) ? 'hi' : 'lo'}`, isHalf(lo) ? hi : lo);
    this.load();
    this.rv.setUint32(off, lo >>> 0, true);
    this.rv.setUint32(off + 4, hi >>> 0, true);
    this.regState = 'dirty';
  }

  get rip(): bigint {
    this.load();
    return this.rv.getBigUint64(RIP_OFF, true);
  }
  set rip(v: bigint) {
    this.load();
    this.rv.setBigUint64(RIP_OFF, BigInt.asUintN(64, v), true);
    this.regState = 'dirty';
  }
  get rflags(): bigint {
    this.load();
    return this.rv.getBigUint64(RFLAGS_OFF, true);
  }
  set rflags(v: bigint) {
    this.load();
    this.rv.setBigUint64(RFLAGS_OFF, BigInt.asUintN(64, v), true);
    this.regState = 'dirty';
  }

  /** All 16 GPRs plus rip and rflags, by name. */
  registers(): Record<GprName | 'rip' | 'rflags', bigint> {
    const out = {} as Record<GprName | 'rip' | 'rflags', bigint>;
    for (const n of GPR_NAMES) out[n] = this.getReg(n);
    out.rip = this.rip;
    out.rflags = this.rflags;
    return out;
  }

  /** Raw struct kvm_sregs (KVM_GET_SREGS). */
  getSregs(): Uint8Array {
    const b = new Uint8Array(KVM_SREGS_SIZE);
    this.ioctl(KVM_IOCTL.GET_SREGS, b, 'KVM_GET_SREGS');
    return b;
  }

  setSregs(b: Uint8Array): void {
    this.ioctl(KVM_IOCTL.SET_SREGS, b, 'KVM_SET_SREGS');
  }

  /** Answer an IoIn exit: the value goes into kvm_run's io data area, the IN completes on the next run. */
  completeIoIn(value: number): void {
    this.expect('IoIn');
    const v = this.runView;
    const size = v.getUint8(RUN_OFF.ioSize);
    const ins = this.ins;
    const at = Number(v.getBigUint64(RUN_OFF.ioDataOffset, true)) + (ins ? ins.next * size : 0);
    for (let i = 0; i < size; i++) v.setUint8(at + i, (value >>> (8 * i)) & 0xff);
    this.pending = undefined;
    if (ins && ++ins.next >= ins.count) this.ins = undefined;
  }

  /** Answer a MmioRead exit (kvm_run.mmio.data, little-endian, `len` bytes). */
  completeMmioRead(value: bigint): void {
    this.expect('MmioRead');
    this.runView.setBigUint64(RUN_OFF.mmioData, BigInt.asUintN(64, value), true);
    this.pending = undefined;
  }

  /** Answer a Rdmsr exit: the value, or 'gp' to make KVM inject #GP(0) (kvm_run.msr.error = 1). */
  completeRdmsr(value: bigint | 'gp'): void {
    this.expect('Rdmsr');
    if (value === 'gp') this.runView.setUint8(RUN_OFF.msrError, 1);
    else {
      this.runView.setUint8(RUN_OFF.msrError, 0);
      this.runView.setBigUint64(RUN_OFF.msrData, BigInt.asUintN(64, value), true);
    }
    this.pending = undefined;
  }

  /** Answer a Wrmsr exit: accepted, or 'gp' to inject #GP(0). */
  completeWrmsr(result: 'ok' | 'gp' = 'ok'): void {
    this.expect('Wrmsr');
    this.runView.setUint8(RUN_OFF.msrError, result === 'gp' ? 1 : 0);
    this.pending = undefined;
  }

  /** Answer a Hypercall exit (KVM_EXIT_HYPERCALL): KVM writes `ret` to RAX when the guest resumes. */
  completeHypercall(ret: bigint): void {
    this.expect('Hypercall');
    this.runView.setBigUint64(RUN_OFF.hypercallRet, BigInt.asUintN(64, ret), true);
    this.pending = undefined;
  }

  /** KVM_EXIT_HYPERCALL operands: nr and args[0..5] (RAX, RBX, RCX, RDX, RSI in KVM's convention). */
  hypercallArgs(): { nr: bigint; args: bigint[] } {
    const v = this.runView;
    return {
      nr: v.getBigUint64(RUN_OFF.hypercallNr, true),
      args: Array.from({ length: 6 }, (_, i) => v.getBigUint64(RUN_OFF.hypercallArgs + 8 * i, true)),
    };
  }

  private expect(kind: NonNullable<Pending>): void {
    if (this.pending !== kind) {
      throw new Error(`vcpu ${this.id}: complete${kind}: the vCPU is not waiting for a ${kind} answer (waiting: ${this.pending ?? 'nothing'})`);
    }
  }

  /** Is an exit still waiting for complete*()? (Running anyway gives the guest whatever kvm_run holds.) */
  get waiting(): Pending {
    return this.pending;
  }

  /**
   * Run until an exit (re-entered after signals that are not the deadline). Returns the exit, decoded; a guest
   * still running at the deadline gives BudgetExhausted/wallclock. An unanswered IoIn/MmioRead/Rdmsr is an
   * error: the guest would consume stale bytes. A Wrmsr left unanswered is accepted.
   */
  run(opts: KvmRunOptions = {}): Exit {
    this.checkRunnable();
    const deadline = performance.now() + (opts.timeoutMs ?? 1000);
    this.timer.arm(deadline - performance.now());
    try {
      return this.runArmed(deadline);
    } finally {
      this.timer.disarm();
    }
  }

  private checkRunnable(): void {
    if (this.closed) throw new Error(`vcpu ${this.id}: closed`);
    if (this.pending === 'IoIn' || this.pending === 'MmioRead' || this.pending === 'Rdmsr' || this.pending === 'Hypercall') {
      throw new Error(`vcpu ${this.id}: run(): the previous ${this.pending} exit was not completed (call complete${this.pending})`);
    }
  }

  /** Arm the run timer for a loop of runArmed calls (runWithRouter); disarm with disarmTimer. */
  armTimer(deadline: number): void {
    this.checkRunnable();
    this.timer.arm(Math.max(0.001, deadline - performance.now()));
  }

  disarmTimer(): void {
    this.timer.disarm();
  }

  /** One exit, with the timer already armed to fire at (and repeatedly after) `deadline`. */
  runArmed(deadline: number): Exit {
    this.checkRunnable();
    if (this.pending === 'Wrmsr') this.completeWrmsr('ok');
    if (this.ins) {
      // More elements of the same INS exit are wanted before KVM may run again.
      this.pending = 'IoIn';
      return { kind: 'IoIn', vcpu: this.id, rip: this.ins.rip, port: this.ins.port, size: this.ins.size };
    }
    this.flush();
    for (;;) {
      if (performance.now() >= deadline) return this.timeoutExit();
      const rc = this.libc.run(this.fd, KVM_IOCTL.RUN);
      const errno = rc < 0 ? this.libc.errno() : 0;
      this.regState = 'stale';
      this.synced = this.syncRegs;
      if (rc < 0 && errno !== EINTR) throw new KvmError(`vcpu ${this.id}: KVM_RUN`, errno);
      const reason = this.runView.getUint32(RUN_OFF.exitReason, true);
      this.lastExitReason = rc < 0 ? KVM_EXIT.INTR : reason;
      if (rc < 0 || reason === KVM_EXIT.INTR) continue; // the deadline timer (checked above) or a stray signal
      return this.decode(reason);
    }
  }

  private timeoutExit(): Exit {
    // KVM does not count guest instructions: executed is 0 (unknown).
    return { kind: 'BudgetExhausted', vcpu: this.id, rip: this.rip, executed: 0, limit: 'wallclock' };
  }

  private decode(reason: number): Exit {
    const v = this.runView;
    const base = { vcpu: this.id, rip: this.rip };
    switch (reason) {
      case KVM_EXIT.IO: {
        const size = v.getUint8(RUN_OFF.ioSize) as 1 | 2 | 4;
        const port = v.getUint16(RUN_OFF.ioPort, true);
        const count = v.getUint32(RUN_OFF.ioCount, true);
        const at = Number(v.getBigUint64(RUN_OFF.ioDataOffset, true));
        if (v.getUint8(RUN_OFF.ioDirection) === KVM_EXIT_IO_OUT) {
          const vals: number[] = [];
          for (let i = 0; i < count; i++) vals.push(readLe(this.runBytes, at + i * size, size));
          this.lastIoValues = vals.slice(1);
          const rip = this.outStart(base.rip, port, size);
          return { kind: 'IoOut', ...base, rip, port, size, value: vals[0] ?? 0 };
        }
        if (count > 1) this.ins = { port, size, count, next: 0, rip: base.rip };
        this.pending = 'IoIn';
        return { kind: 'IoIn', ...base, port, size };
      }
      case KVM_EXIT.MMIO: {
        const gpa = v.getBigUint64(RUN_OFF.mmioPhysAddr, true);
        const size = v.getUint32(RUN_OFF.mmioLen, true) as 1 | 2 | 4 | 8;
        if (v.getUint8(RUN_OFF.mmioIsWrite) !== 0) {
          const value = BigInt(readLe(this.runBytes, RUN_OFF.mmioData, Math.min(size, 4))) |
            (size === 8 ? BigInt(readLe(this.runBytes, RUN_OFF.mmioData + 4, 4)) << 32n : 0n);
          const reg = (r: number): bigint | undefined => {
            const i = gprIndex(r);
            return i === undefined ? undefined : this.getReg(i);
          };
          const rip = this.trapStart(base.rip, (c) => storeInsnStart(c, base.rip, this.bits, gpa, reg));
          return { kind: 'MmioWrite', ...base, rip, gpa, size, value };
        }
        this.pending = 'MmioRead';
        return { kind: 'MmioRead', ...base, gpa, size };
      }
      case KVM_EXIT.X86_RDMSR:
        this.pending = 'Rdmsr';
        return { kind: 'Rdmsr', ...base, index: v.getUint32(RUN_OFF.msrIndex, true) };
      case KVM_EXIT.X86_WRMSR:
        this.pending = 'Wrmsr';
        return { kind: 'Wrmsr', ...base, index: v.getUint32(RUN_OFF.msrIndex, true), value: v.getBigUint64(RUN_OFF.msrData, true) };
      case KVM_EXIT.HLT:
        // kvm_emulate_halt skips the HLT before exiting; the emulator reports the HLT's own address (F4, 1 byte).
        return { kind: 'Hlt', ...base, rip: base.rip - 1n };
      case KVM_EXIT.HYPERCALL:
        this.pending = 'Hypercall';
        return {
          kind: 'Hypercall', ...base, insn: this.vendor === 'amd' ? 'vmmcall' : 'vmcall',
          bits: v.getUint32(RUN_OFF.hypercallLongmode, true) !== 0 ? 64 : 32, cpl: 0,
        };
      case KVM_EXIT.SHUTDOWN:
        return { kind: 'Shutdown', ...base, reason: 'KVM_EXIT_SHUTDOWN (triple fault: an exception with no usable IDT)' };
      case KVM_EXIT.INTERNAL_ERROR: {
        const sub = v.getUint32(RUN_OFF.internalSuberror, true);
        const n = Math.min(v.getUint32(RUN_OFF.internalNdata, true), 16);
        const data = Array.from({ length: n }, (_, i) => `0x${v.getBigUint64(RUN_OFF.internalData + 8 * i, true).toString(16)}`);
        return { kind: 'Shutdown', ...base, reason: `KVM_EXIT_INTERNAL_ERROR suberror ${sub} data [${data.join(', ')}]` };
      }
      case KVM_EXIT.FAIL_ENTRY:
        return { kind: 'Shutdown', ...base, reason: `KVM_EXIT_FAIL_ENTRY hardware reason 0x${v.getBigUint64(RUN_OFF.failEntryReason, true).toString(16)}` };
      default:
        return { kind: 'Shutdown', ...base, reason: `unhandled KVM exit reason ${reason}` };
    }
  }

  /** Mark closed (the VM unmaps kvm_run and closes the fd). */
  markClosed(): void {
    this.closed = true;
  }
}
