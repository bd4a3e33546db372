// A virtual CPU: the public (bigint) API, completions of waiting exits, instruction fetch + decode cache, and
// the run loop that turns every fault into a typed exit. State and memory access live in state.ts.
import type { Exit } from '../exits.js';
import { decode, hexBytes } from './decode.js';
import { runVcpu } from './run-loop.js';
import { Fault, NeedCompletion } from './fault.js';
import { formatInsn } from './format.js';
import { CpuState } from './state.js';
import { GPR_NAMES, checkHalf, isHalf, type Cpl, type CpuidResult, type CpuMode, type GprName, type VcpuApi, type Vendor } from './types.js';

export type { Completion, VcpuOptions } from './state.js';


export class Vcpu extends CpuState implements VcpuApi {
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

  // ---- public API (numbers; VcpuApi docs) ----
  private gprIndex(i: number): number {
    if (!(i >= 0 && i <= 15 && (i | 0) === i)) throw new RangeError(`vcpu ${this.id}: register index: expected 0..15, got ${String(i)}`);
    return i;
  }

  getReg32(i: number): number {
    return this.lo[this.gprIndex(i)]!;
  }

  getRegHi(i: number): number {
    return this.hi[this.gprIndex(i)]!;
  }

  setRegParts(i: number, lo: number, hi: number): void {
    const n = this.gprIndex(i);
    if (!isHalf(lo) || !isHalf(hi)) checkHalf(`vcpu ${this.id}: setRegParts(${i}) ${isHalf(lo) ? 'hi' : 'lo'}`, isHalf(lo) ? hi : lo);
    this.lo[n] = lo;
    this.hi[n] = this.mode64 ? hi : 0;
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

  // ---- execute (the loop lives in run-loop.ts) ----
  /**
   * Run up to `max` instructions. Returns the exit that stopped the vCPU, or undefined when `max` ran out.
   * `executed` tells how many instructions retired. Never throws for anything the guest does.
   */
  run(max: number): Exit | undefined {
    return runVcpu(this, max);
  }

  /** Instructions retired by the last run() call. */
  executed = 0;

  /** Turn what a guest instruction threw into its exit (internal; used by the run loop). */
  exitFromError(err: unknown): Exit {
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
