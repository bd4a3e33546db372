// Public types of the vCPU: modes, vendors, hypervisor hooks (the interface personalities plug into).
import type { HypercallInsn } from '../exits.js';
import type { IoRouter } from '../bus/types.js';

export type CpuMode = 'long64' | 'prot32';
export type Vendor = 'intel' | 'amd';
export type Cpl = 0 | 3;

export interface CpuidResult {
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

/**
 * Hypervisor hooks (the personalities of the next issue implement these). Every hook may return
 * `undefined` = not handled: the exit then goes back to the caller of `vm.run()`.
 * The `vcpu` argument gives register access (`getReg`/`setReg`; on hot paths the bigint-free
 * `getReg32`/`getRegHi`/`setRegParts`), `rip`, `cpl`, `vendor`, ...
 */
export interface HypervisorHooks {
  /** CPUID answer. Without a `cpuid` hook the engine answers with `defaultCpuid`. */
  cpuid?(vcpu: VcpuApi, leaf: number, subleaf: number): CpuidResult | undefined;
  /** RDMSR: the value, 'gp' to raise #GP(0), or undefined for an Rdmsr exit. */
  rdmsr?(vcpu: VcpuApi, index: number): bigint | 'gp' | undefined;
  /** WRMSR: 'ok', 'gp' to raise #GP(0), or undefined for a Wrmsr exit. */
  wrmsr?(vcpu: VcpuApi, index: number, value: bigint): 'ok' | 'gp' | undefined;
  /**
   * A hypercall by the native instruction (RIP already past it). 'handled' after reading/writing registers,
   * undefined for a Hypercall exit. CPL 3 calls arrive here too: refusing them is the personality's job.
   */
  hypercall?(vcpu: VcpuApi, insn: HypercallInsn): 'handled' | undefined;
}

/** Register names accepted by getReg/setReg. */
export const GPR_NAMES = [
  'rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
] as const;
export type GprName = (typeof GPR_NAMES)[number];

/** What hooks and users see of a vCPU. */
export interface VcpuApi {
  readonly id: number;
  readonly vendor: Vendor;
  readonly mode: CpuMode;
  readonly cpl: Cpl;
  rip: bigint;
  rflags: bigint;
  getReg(r: GprName | number): bigint;
  setReg(r: GprName | number, value: bigint): void;
  /**
   * Number-based register access for hot hook paths (no bigint allocation). `i` is the GPR index in x86
   * encoding order (GPR.rax = 0 ... GPR.r15 = 15, as GPR_NAMES); other values throw RangeError.
   * getReg32: bits 31:0 as an unsigned number. getRegHi: bits 63:32 (0 on the emulator in 32-bit mode).
   * getReg(i) === (BigInt(getRegHi(i)) << 32n) | BigInt(getReg32(i)) always holds.
   */
  getReg32(i: number): number;
  getRegHi(i: number): number;
  /**
   * Same as setReg(i, (hi << 32) | lo) without a bigint: lo and hi are 32-bit halves, given as unsigned (0..2^32-1)
   * or signed (-2^31..-1, e.g. `x | 0`) integers; anything else throws RangeError. In 32-bit mode the emulator
   * drops `hi` as setReg does.
   */
  setRegParts(i: number, lo: number, hi: number): void;
}

/** GPR indices for getReg32/getRegHi/setRegParts (x86 register encoding, SDM Vol. 2 Table 2-2). */
export const GPR = {
  rax: 0, rcx: 1, rdx: 2, rbx: 3, rsp: 4, rbp: 5, rsi: 6, rdi: 7, r8: 8, r9: 9, r10: 10, r11: 11, r12: 12, r13: 13, r14: 14, r15: 15,
} as const satisfies Record<GprName, number>;

/** A 32-bit half for setRegParts: an integer in -2^31..2^32-1 (taken modulo 2^32). */
export function isHalf(x: number): boolean {
  return (x >>> 0) === x || (x | 0) === x;
}

/** Throws the located RangeError for a value isHalf refuses; returns the half as unsigned otherwise. */
export function checkHalf(what: string, x: number): number {
  if (!isHalf(x)) throw new RangeError(`${what}: expected a 32-bit integer half (-2^31..2^32-1), got ${String(x)}`);
  return x >>> 0;
}

/** What a vCPU needs from its VM. */
export interface CpuEnv {
  router: IoRouter | undefined;
  hooks: HypervisorHooks | undefined;
  /** KVM_X86_QUIRK_FIX_HYPERCALL_INSN (linux asm/kvm.h, 1 << 5): patch the foreign hypercall instruction. */
  fixHypercallInsn: boolean;
  /** Records a patch at `gpa` (per-site counter). */
  notePatch(gpa: number): void;
  /** When tracing: called with every exit a bus or hook answered inside the vCPU. */
  record?: ((e: import("../exits.js").Exit) => void) | undefined;
}
