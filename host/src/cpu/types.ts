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
 * The `vcpu` argument gives register access (`getReg`/`setReg`, `rip`, `cpl`, `vendor`, ...).
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
