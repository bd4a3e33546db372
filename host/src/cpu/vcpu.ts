// A virtual CPU: registers, flags, guest memory access (RAM direct, everything else through the IoRouter),
// instruction fetch + decode cache, and the step/run loop that turns every fault into a typed exit.
import type { Exit } from '../exits.js';
import type { GuestMemory } from '../memory/memory.js';
import { DecodeCache, type CachedInsn } from './cache.js';
import { decode, hexBytes } from './decode.js';
import { compile } from './compile.js';
import { Fault, NeedCompletion, gp } from './fault.js';
import { formatInsn } from './format.js';
import { STATUS, type AluOut } from './alu.js';
import {
  GPR_NAMES, type Cpl, type CpuEnv, type CpuidResult, type CpuMode, type GprName, type VcpuApi, type Vendor,
} from './types.js';

const TWO32 = 4294967296;
/** Canonical 48-bit linear address space (SDM Vol. 1 3.3.7.1): the low half ends at 2^47. */
const CANON_LOW_END = 2 ** 47;

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

export class Vcpu implements VcpuApi {
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
  private _cpl: Cpl = 0;
  private _vendor: Vendor = 'intel';
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

  // ---- public API (bigint) ----
  get mode(): CpuMode {
    return this.mode64 ? 'long64' : 'prot32';
  }
  set mode(m: CpuMode) {
    if (m !== 'long64' && m !== 'prot32') throw new RangeError(`vcpu ${this.id}: mode: expected 'long64' | 'prot32', got ${String(m)}`);
    this.mode64 = m === 'long64';
    if (!this.mode64) for (let i = 0; i < 16; i++) this.hi[i] = 0;
  }
  get cpl(): Cpl {
    return this._cpl;
  }
  set cpl(c: Cpl) {
    if (c !== 0 && c !== 3) throw new RangeError(`vcpu ${this.id}: cpl: expected 0 or 3, got ${String(c)}`);
    this._cpl = c;
  }
  get vendor(): Vendor {
    return this._vendor;
  }
  set vendor(v: Vendor) {
    if (v !== 'intel' && v !== 'amd') throw new RangeError(`vcpu ${this.id}: vendor: expected 'intel' | 'amd', got ${String(v)}`);
    this._vendor = v;
  }

  get rip(): bigint {
    return BigInt(this.ip);
  }
  set rip(v: bigint) {
    const lim = this.mode64 ? 2n ** 52n : 2n ** 32n;
    if (v < 0n || v >= lim) throw new RangeError(`vcpu ${this.id}: rip: 0x${v.toString(16)} outside 0..0x${lim.toString(16)}`);
    this.ip = Number(v);
    this.completions = [];
    this.awaiting = undefined;
  }

  get rflags(): bigint {
    return BigInt(this.fl >>> 0);
  }
  set rflags(v: bigint) {
    this.fl = (Number(v & 0x3f7fd5n) | 0x2) >>> 0;
  }

  private regIndex(r: GprName | number): number {
    const i = typeof r === 'number' ? r : GPR_NAMES.indexOf(r);
    if (!Number.isInteger(i) || i < 0 || i > 15) throw new RangeError(`vcpu ${this.id}: register: unknown ${String(r)}`);
    return i;
  }

  getReg(r: GprName | number): bigint {
    const i = this.regIndex(r);
    return (BigInt(this.hi[i]!) << 32n) | BigInt(this.lo[i]!);
  }

  setReg(r: GprName | number, value: bigint): void {
    const i = this.regIndex(r);
    const v = BigInt.asUintN(64, value);
    this.lo[i] = Number(v & 0xffffffffn);
    this.hi[i] = this.mode64 ? Number(v >> 32n) : 0;
  }

  get fsBase(): bigint {
    return (BigInt(this.fsHi) << 32n) | BigInt(this.fsLo);
  }
  set fsBase(v: bigint) {
    const m = BigInt.asUintN(64, v);
    this.fsLo = Number(m & 0xffffffffn);
    this.fsHi = Number(m >> 32n);
  }
  get gsBase(): bigint {
    return (BigInt(this.gsHi) << 32n) | BigInt(this.gsLo);
  }
  set gsBase(v: bigint) {
    const m = BigInt.asUintN(64, v);
    this.gsLo = Number(m & 0xffffffffn);
    this.gsHi = Number(m >> 32n);
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
    const t = hi >>> 15;
    if (t === 0) return hi * TWO32 + lo;
    const a = (BigInt(hi) << 32n) | BigInt(lo);
    if (t === 0x1ffff) throw new Fault(14, `no guest-physical memory at 0x${a.toString(16)} (identity mapping)`, 0, a);
    throw new Fault(stack ? 12 : 13, `non-canonical address 0x${a.toString(16)}`, 0, a);
  }

  /** Check [addr, addr+size) for the linear address space and guest-physical limit. */
  private checkRange(addr: number, size: number, write: boolean): void {
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
    const c = this.takeCompletion(`mmio:${addr}:${size}`);
    let v: bigint | undefined;
    if (c !== undefined) v = (BigInt(c.hi) << 32n) | BigInt(c.lo);
    else v = this.env.router?.mmioRead(BigInt(addr), size as 1 | 2 | 4 | 8);
    if (v === undefined) {
      throw new NeedCompletion({ kind: 'MmioRead', vcpu: this.id, rip: BigInt(this.curIp), gpa: BigInt(addr), size: size as 1 | 2 | 4 | 8 });
    }
    if (c === undefined && this.env.record !== undefined) {
      this.env.record({ kind: 'MmioRead', vcpu: this.id, rip: BigInt(this.curIp), gpa: BigInt(addr), size: size as 1 | 2 | 4 | 8 });
    }
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
    const value = BigInt.asUintN(size * 8, (BigInt(vh >>> 0) << 32n) | BigInt(v >>> 0));
    const e: Exit = { kind: 'MmioWrite', vcpu: this.id, rip: BigInt(this.curIp), gpa: BigInt(addr), size: size as 1 | 2 | 4 | 8, value };
    if (this.env.router?.mmioWrite(BigInt(addr), size as 1 | 2 | 4 | 8, value) === true) {
      this.env.record?.(e);
      return;
    }
    this.raiseExit(e);
  }

  /** Port read through the router; unclaimed -> IoIn exit (re-executed once completeIoIn gives the value). */
  pioRead(port: number, size: 1 | 2 | 4): number {
    const c = this.takeCompletion(`io:${port}:${size}`);
    if (c !== undefined) return c.lo;
    const v = this.env.router?.pioRead(port, size);
    if (v === undefined) throw new NeedCompletion({ kind: 'IoIn', vcpu: this.id, rip: BigInt(this.curIp), port, size });
    this.env.record?.({ kind: 'IoIn', vcpu: this.id, rip: BigInt(this.curIp), port, size });
    return size === 4 ? v >>> 0 : v & (size === 1 ? 0xff : 0xffff);
  }

  pioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    const e: Exit = { kind: 'IoOut', vcpu: this.id, rip: BigInt(this.curIp), port, size, value };
    if (this.env.router?.pioWrite(port, size, value) === true) {
      this.env.record?.(e);
      return;
    }
    this.raiseExit(e);
  }

  /** A trap-like exit: the instruction completes, then the exit is returned. */
  raiseExit(e: Exit): void {
    if (this.exit !== undefined) throw new Error(`two unhandled exits in one instruction (${this.exit.kind}, ${e.kind})`);
    this.exit = e;
  }

  takeCompletion(key: string): Completion | undefined {
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

  // ---- completions ----
  private complete(kind: Exit['kind'], key: string, lo: number, hi: number, regs?: CpuidResult): void {
    const a = this.awaiting;
    if (a === undefined || a.kind !== kind) {
      throw new Error(`vcpu ${this.id}: complete${kind}: the vCPU is not waiting for a ${kind} answer (waiting: ${a?.kind ?? 'nothing'})`);
    }
    this.completions.push({ key, lo, hi, used: false, ...(regs ? { regs } : {}) });
    this.awaiting = undefined;
  }

  completeIoIn(value: number): void {
    const a = this.awaiting;
    if (a?.kind !== 'IoIn') return this.complete('IoIn', '', 0, 0);
    this.complete('IoIn', `io:${a.port}:${a.size}`, value >>> 0, 0);
  }

  completeMmioRead(value: bigint): void {
    const a = this.awaiting;
    if (a?.kind !== 'MmioRead') return this.complete('MmioRead', '', 0, 0);
    const v = BigInt.asUintN(64, value);
    this.complete('MmioRead', `mmio:${a.gpa}:${a.size}`, Number(v & 0xffffffffn), Number(v >> 32n));
  }

  completeCpuid(r: CpuidResult): void {
    const a = this.awaiting;
    if (a?.kind !== 'Cpuid') return this.complete('Cpuid', '', 0, 0);
    this.complete('Cpuid', `cpuid:${a.leaf}:${a.subleaf}`, 0, 0, r);
  }

  completeRdmsr(value: bigint): void {
    const a = this.awaiting;
    if (a?.kind !== 'Rdmsr') return this.complete('Rdmsr', '', 0, 0);
    const v = BigInt.asUintN(64, value);
    this.complete('Rdmsr', `msr:${a.index}`, Number(v & 0xffffffffn), Number(v >> 32n));
  }

  /** Completion answer for cpuid (used by the executor). */
  takeCpuid(leaf: number, subleaf: number): CpuidResult | undefined {
    return this.takeCompletion(`cpuid:${leaf}:${subleaf}`)?.regs;
  }

  // ---- fetch, decode, execute ----
  private buf = new Uint8Array(16);

  /** Fetch and decode the instruction at `ip`, caching it. */
  fetch(ip: number): CachedInsn {
    const mem = this.mem;
    let avail = 0;
    const top = this.mode64 ? CANON_LOW_END : TWO32;
    while (avail < 15 && ip + avail < top) {
      const r = mem.findRam(ip + avail, 1);
      if (r === undefined) break;
      const n = Math.min(15 - avail, r.end - (ip + avail), top - (ip + avail));
      this.buf.set(r.bytes.subarray(ip + avail - r.base, ip + avail - r.base + n), avail);
      avail += n;
    }
    const res = decode(this.buf, avail, this.mode64);
    if (!res.ok) {
      if (res.fault === 'toolong') throw gp('instruction longer than 15 bytes');
      const a = ip + res.at;
      if (a >= top) {
        throw new Fault(13, `instruction fetch crosses ${this.mode64 ? 'the canonical boundary' : '4 GiB'} at 0x${a.toString(16)}`, 0, BigInt(a));
      }
      throw new Fault(14, `instruction fetch from 0x${a.toString(16)}: no RAM there`, 0x10, BigInt(a));
    }
    const insn: CachedInsn = { exec: compile(res.d), len: res.d.len, d: res.d };
    this.cache.put(ip, this.mode64, insn);
    return insn;
  }

  /**
   * Run up to `max` instructions. Returns the exit that stopped the vCPU, or undefined when `max` ran out.
   * `executed` tells how many instructions retired. Never throws for anything the guest does.
   */
  run(max: number): Exit | undefined {
    this.executed = 0;
    // Waiting for an answer that was not given: re-executing reports the same exit again.
    const cache = this.cache;
    let n = 0;
    try {
      while (n < max) {
        const ip = this.ip;
        this.curIp = ip;
        let insn = cache.get(ip * 2 + (this.mode64 ? 1 : 0));
        if (insn === undefined) insn = this.fetch(ip);
        const next = ip + insn.len;
        this.nextIp = this.mode64 ? next : next % TWO32;
        insn.exec(this);
        this.ip = this.nextIp;
        n++;
        if (this.completions.length !== 0) this.completions = [];
        if (this.exit !== undefined) {
          const e = this.exit;
          this.exit = undefined;
          this.executed = n;
          this.icount += n;
          return e;
        }
      }
      this.executed = n;
      this.icount += n;
      return undefined;
    } catch (err) {
      this.executed = n;
      this.icount += n;
      return this.toExit(err);
    }
  }

  /** Instructions retired by the last run() call. */
  executed = 0;

  private toExit(err: unknown): Exit {
    const rip = BigInt(this.curIp);
    this.exit = undefined;
    if (err instanceof NeedCompletion) {
      this.awaiting = err.exit;
      for (const c of this.completions) c.used = false;
      return err.exit;
    }
    this.completions = [];
    if (err instanceof Fault) {
      const insnText = this.insnText(this.curIp);
      const e: Exit = {
        kind: 'Exception', vcpu: this.id, rip: err.rip ?? rip, vector: err.vector, message: err.message,
        ...(err.errorCode !== undefined ? { errorCode: err.errorCode } : {}),
        ...(err.address !== undefined ? { address: err.address } : {}),
        ...(insnText !== undefined ? { insn: insnText } : {}),
      };
      return e;
    }
    const msg = err instanceof Error ? err.message : String(err);
    return { kind: 'Shutdown', vcpu: this.id, rip, reason: `internal error: ${msg}` };
  }

  /** Decoded text of the instruction at `ip` (undefined when its bytes cannot be fetched). */
  insnText(ip: number): string | undefined {
    try {
      const c = this.cache.get(ip * 2 + (this.mode64 ? 1 : 0));
      if (c !== undefined) return formatInsn(c.d);
      const bytes: number[] = [];
      for (let i = 0; i < 15; i++) {
        const r = this.mem.findRam(ip + i, 1);
        if (r === undefined) break;
        bytes.push(r.bytes[ip + i - r.base]!);
      }
      if (bytes.length === 0) return undefined;
      const res = decode(Uint8Array.from(bytes), bytes.length, this.mode64);
      return res.ok ? formatInsn(res.d) : `(incomplete) ${hexBytes(Uint8Array.from(bytes))}`;
    } catch {
      return undefined;
    }
  }
}
