// vCPU state shared by the executor: registers, flags, guest memory access (RAM direct, everything else
// through the IoRouter, unclaimed -> exits), port I/O, and the answers callers give to waiting exits.
import type { Exit, MmioWriteExit } from '../exits.js';
import type { GuestMemory } from '../memory/memory.js';
import type { DecodeCache } from './cache.js';
import { Fault, NeedCompletion } from './fault.js';
import { STATUS, type AluOut } from './alu.js';
import type { Cpl, CpuEnv, CpuidResult, CpuMode, Vendor } from './types.js';

const TWO32 = 4294967296;
/** Canonical 48-bit linear address space (SDM Vol. 1 3.3.7.1): the low half ends at 2^47. */
export const CANON_LOW_END = 2 ** 47;

/** Answers given by the caller for exits that need one; consumed in order when the instruction re-executes. */
export interface Completion {
  key: string;
  lo: number;
  hi: number;
  regs?: CpuidResult;
  used: boolean;
}

export interface VcpuOptions {
  id: number;
  mode?: CpuMode;
  vendor?: Vendor;
  cpl?: Cpl;
}

export class CpuState {
  readonly id: number;
  /** Low / high 32 bits of the 16 GPRs (internal; use getReg/setReg). */
  readonly lo = new Uint32Array(16);
  readonly hi = new Uint32Array(16);
  /** RIP as a number (< 2^48 in long mode, < 2^32 in protected mode). */
  ip = 0;
  /** Address of the next instruction; jumps set it. */
  nextIp = 0;
  /** Start of the instruction being executed. */
  curIp = 0;
  /** RFLAGS (bit 1 always set; SDM Vol. 1 3.4.3). */
  fl = 0x2;
  mode64 = true;
  protected _cpl: Cpl = 0;
  protected _vendor: Vendor = 'intel';
  /** FS/GS segment bases as (lo, hi) halves (IA32_FS_BASE / IA32_GS_BASE). */
  fsLo = 0;
  fsHi = 0;
  gsLo = 0;
  gsHi = 0;
  kernelGsBase = 0n;
  tscAux = 0n;
  /** Linear address of the current memory operand (set by operand reads, reused by the write). */
  ea = 0;
  /** Instructions retired (also the deterministic TSC). */
  icount = 0;
  halted = false;
  /** Scratch for ALU results (hi half, flags). */
  readonly o: AluOut = { hi: 0, f: 0 };
  /** Hi half of the last 64-bit read. */
  vh = 0;
  /** Trap-like exit raised by the current instruction (returned after it completes). */
  exit: Exit | undefined;
  /** The exit that waits for a complete*() call, if any. */
  awaiting: Exit | undefined;
  /** Answers given by complete*() not yet consumed (internal; kept in snapshots). */
  completions: Completion[] = [];

  constructor(
    readonly mem: GuestMemory,
    readonly cache: DecodeCache,
    readonly env: CpuEnv,
    opts: VcpuOptions,
  ) {
    this.id = opts.id;
    this.mode64 = (opts.mode ?? 'long64') === 'long64';
    this._vendor = opts.vendor ?? 'intel';
    this._cpl = opts.cpl ?? 0;
  }

  // ---- register access by operand size (internal; n 16..19 = AH CH DH BH) ----
  getR(n: number, s: number): number {
    if (s === 1) return n < 16 ? this.lo[n]! & 0xff : (this.lo[n - 16]! >>> 8) & 0xff;
    if (s === 2) return this.lo[n]! & 0xffff;
    if (s === 8) this.vh = this.hi[n]!;
    return this.lo[n]!;
  }

  setR(n: number, s: number, v: number, vh: number): void {
    if (s === 1) {
      if (n < 16) this.lo[n] = (this.lo[n]! & 0xffffff00) | (v & 0xff);
      else this.lo[n - 16] = (this.lo[n - 16]! & 0xffff00ff) | ((v & 0xff) << 8);
    } else if (s === 2) this.lo[n] = (this.lo[n]! & 0xffff0000) | (v & 0xffff);
    else {
      this.lo[n] = v;
      this.hi[n] = s === 8 ? vh : 0;
    }
  }

  /** Commit packed status flags computed by the ALU; `mask` = which of them the instruction defines. */
  setFlags(f: number, mask: number = STATUS): void {
    this.fl = (this.fl & ~mask) | (f & mask);
  }

  // ---- addresses ----
  /** Linear address of a 64-bit (lo, hi) effective address; faults on non-canonical (#GP, or #SS for stack). */
  addr64(lo: number, hi: number, stack: boolean): number {
    if (hi >>> 15 === 0) return hi * TWO32 + lo;
    return this.addr64Fault(lo, hi, stack); // kept out of line so the hot part inlines into callers
  }

  private addr64Fault(lo: number, hi: number, stack: boolean): never {
    const a = (BigInt(hi) << 32n) | BigInt(lo);
    if (hi >>> 15 === 0x1ffff) throw new Fault(14, `no guest-physical memory at 0x${a.toString(16)} (identity mapping)`, 0, a);
    throw new Fault(stack ? 12 : 13, `non-canonical address 0x${a.toString(16)}`, 0, a);
  }

  /** Check [addr, addr+size) for the linear address space and guest-physical limit. */
  private checkRange(addr: number, size: number, write: boolean): void {
    // One combined test first: the call below only runs (and throws) when one of the limits is crossed.
    if (addr >= 0 && addr + size <= this.mem.physLimit && addr + size <= (this.mode64 ? CANON_LOW_END : TWO32)) return;
    this.rangeFault(addr, size, write);
  }

  private rangeFault(addr: number, size: number, write: boolean): void {
    if (addr < 0) throw new Fault(13, `negative linear address ${addr}`, 0);
    if (this.mode64 && addr + size > CANON_LOW_END) {
      throw new Fault(13, `access crosses the canonical boundary at 0x${addr.toString(16)}`, 0, BigInt(addr));
    }
    if (!this.mode64 && addr + size > TWO32) {
      throw new Fault(13, `access wraps the 4 GiB segment limit at 0x${addr.toString(16)}`, 0, BigInt(addr));
    }
    if (addr + size > this.mem.physLimit) {
      const a = Math.max(addr, this.mem.physLimit);
      throw new Fault(14, `no guest-physical memory at 0x${a.toString(16)}`, write ? 2 : 0, BigInt(a));
    }
  }

  // ---- memory access ----
  rd(addr: number, size: number): number {
    const r = this.mem.findRam(addr, size);
    if (r !== undefined) {
      const off = addr - r.base;
      switch (size) {
        case 1: return r.bytes[off]!;
        case 2: return r.view.getUint16(off, true);
        case 4: return r.view.getUint32(off, true);
        default:
          this.vh = r.view.getUint32(off + 4, true);
          return r.view.getUint32(off, true);
      }
    }
    return this.rdSlow(addr, size);
  }

  private rdSlow(addr: number, size: number): number {
    this.checkRange(addr, size, false);
    if (this.mem.isRam(addr, size)) {
      let lo = 0, hi = 0;
      for (let i = 0; i < size; i++) {
        const b = this.rd(addr + i, 1);
        if (i < 4) lo += b * 2 ** (8 * i);
        else hi += b * 2 ** (8 * (i - 4));
      }
      this.vh = hi;
      return lo;
    }
    // Hot path: no answer pending and a router with number-valued calls (addr < physLimit <= 2^52 here).
    const router = this.env.router;
    if (this.completions.length === 0 && router?.mmioReadN !== undefined) {
      const lo = router.mmioReadN(addr, size as 1 | 2 | 4 | 8);
      if (lo < 0) throw new NeedCompletion(this.mmioReadExit(addr, size));
      this.env.record?.(this.mmioReadExit(addr, size));
      this.vh = size === 8 ? router.readHi! : 0;
      return lo;
    }
    const c = this.takeCompletion(`mmio:${addr}:${size}`);
    let v: bigint | undefined;
    if (c !== undefined) v = (BigInt(c.hi) << 32n) | BigInt(c.lo);
    else v = this.env.router?.mmioRead(BigInt(addr), size as 1 | 2 | 4 | 8);
    if (v === undefined) throw new NeedCompletion(this.mmioReadExit(addr, size));
    if (c === undefined) this.env.record?.(this.mmioReadExit(addr, size));
    v = BigInt.asUintN(size * 8, v);
    this.vh = Number(v >> 32n);
    return Number(v & 0xffffffffn);
  }

  wr(addr: number, size: number, v: number, vh: number): void {
    const r = this.mem.findRam(addr, size);
    if (r !== undefined) {
      const off = addr - r.base;
      switch (size) {
        case 1: r.bytes[off] = v; break;
        case 2: r.view.setUint16(off, v, true); break;
        case 4: r.view.setUint32(off, v, true); break;
        default:
          r.view.setUint32(off, v, true);
          r.view.setUint32(off + 4, vh, true);
      }
      if ((r.code[off >> 12]! | r.code[(off + size - 1) >> 12]!) !== 0) this.mem.noteWrite(r, off, size);
      return;
    }
    this.wrSlow(addr, size, v, vh);
  }

  private wrSlow(addr: number, size: number, v: number, vh: number): void {
    this.checkRange(addr, size, true);
    if (this.mem.isRam(addr, size)) {
      for (let i = 0; i < size; i++) {
        const b = i < 4 ? (v >>> (8 * i)) & 0xff : (vh >>> (8 * (i - 4))) & 0xff;
        this.wr(addr + i, 1, b, 0);
      }
      return;
    }
    // EPT fast path (vmx.c handle_ept_misconfig + KVM_FAST_MMIO_BUS): a len-0 doorbell at this GPA takes the store
    // without emulating it; the router answers false unless the modelled MMU is EPT and the guest is not nested.
    // The Exit object is built only when it is recorded or raised.
    const router = this.env.router;
    const sz = size as 1 | 2 | 4 | 8;
    if (router?.mmioWriteN !== undefined) {
      if (router.fastMmioN !== undefined ? router.fastMmioN(addr) : router.fastMmio?.(BigInt(addr)) === true) {
        this.env.record?.(this.mmioWriteExit(addr, size, v, vh));
        return;
      }
      if (router.mmioWriteN(addr, sz, v, vh)) {
        this.env.record?.(this.mmioWriteExit(addr, size, v, vh));
        return;
      }
      this.raiseExit(this.mmioWriteExit(addr, size, v, vh));
      return;
    }
    const e = this.mmioWriteExit(addr, size, v, vh);
    if (router?.fastMmio?.(BigInt(addr)) === true) {
      this.env.record?.(e);
      return;
    }
    if (router?.mmioWrite(BigInt(addr), sz, e.value) === true) {
      this.env.record?.(e);
      return;
    }
    this.raiseExit(e);
  }

  private mmioReadExit(addr: number, size: number): Exit {
    return { kind: 'MmioRead', vcpu: this.id, rip: BigInt(this.curIp), gpa: BigInt(addr), size: size as 1 | 2 | 4 | 8 };
  }

  private mmioWriteExit(addr: number, size: number, v: number, vh: number): MmioWriteExit {
    const value = BigInt.asUintN(size * 8, (BigInt(vh >>> 0) << 32n) | BigInt(v >>> 0));
    return { kind: 'MmioWrite', vcpu: this.id, rip: BigInt(this.curIp), gpa: BigInt(addr), size: size as 1 | 2 | 4 | 8, value };
  }

  /** Port read through the router; unclaimed -> IoIn exit (re-executed once completeIoIn gives the value). */
  pioRead(port: number, size: 1 | 2 | 4): number {
    if (this.completions.length !== 0) {
      const c = this.takeCompletion(`io:${port}:${size}`);
      if (c !== undefined) return c.lo;
    }
    const v = this.env.router?.pioRead(port, size);
    if (v === undefined) throw new NeedCompletion({ kind: 'IoIn', vcpu: this.id, rip: BigInt(this.curIp), port, size });
    this.env.record?.({ kind: 'IoIn', vcpu: this.id, rip: BigInt(this.curIp), port, size });
    return size === 4 ? v >>> 0 : v & (size === 1 ? 0xff : 0xffff);
  }

  /** Port write through the router; unclaimed -> IoOut exit. The Exit object exists only when recorded or raised. */
  pioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    if (this.env.router?.pioWrite(port, size, value) === true) {
      this.env.record?.({ kind: 'IoOut', vcpu: this.id, rip: BigInt(this.curIp), port, size, value });
      return;
    }
    this.raiseExit({ kind: 'IoOut', vcpu: this.id, rip: BigInt(this.curIp), port, size, value });
  }

  /** A trap-like exit: the instruction completes, then the exit is returned. */
  raiseExit(e: Exit): void {
    if (this.exit !== undefined) throw new Error(`two unhandled exits in one instruction (${this.exit.kind}, ${e.kind})`);
    this.exit = e;
  }

  takeCompletion(key: string): Completion | undefined {
    if (this.completions.length === 0) return undefined;
    for (const c of this.completions) {
      if (!c.used && c.key === key) {
        c.used = true;
        return c;
      }
    }
    return undefined;
  }

  /** A REP string element finished: answers it consumed are spent. */
  commitCompletions(): void {
    if (this.completions.length !== 0) this.completions = this.completions.filter((c) => !c.used);
  }

  /** Need the caller's answer: abort the instruction with this exit. */
  needCompletion(e: Exit): never {
    throw new NeedCompletion(e);
  }

}
