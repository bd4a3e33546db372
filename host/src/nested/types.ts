// The contract between the nesting layer (L0, the emulator) and an L1 hypervisor written in TypeScript.
// Every exit of the L2 guest is reflected to L1 first (as a real L0 reflects a VM exit into the L1 VMCS/VMCB),
// except MMIO that L1 mapped straight onto an L0 device (EPT/NPT passthrough: L0 completes it without L1).
import type { CpuidResult, GprName, VcpuApi, Vendor } from '../cpu/types.js';
import type { HypercallInsn } from '../exits.js';
import type { IoSize, MmioSize } from '../bus/types.js';
import type { GuestMemory } from '../memory/memory.js';

/** An L2 exit as L1 sees it: kind and operands (registers through L1Context.vcpu). */
export type L2Exit =
  | { readonly kind: 'cpuid'; readonly leaf: number; readonly subleaf: number }
  | { readonly kind: 'rdmsr'; readonly index: number }
  | { readonly kind: 'wrmsr'; readonly index: number; readonly value: bigint }
  /** The L0 hardware's native instruction (VMCALL on Intel, VMMCALL on AMD; ABI-FACTS §1.3); `nr` = RAX. */
  | { readonly kind: 'hypercall'; readonly insn: HypercallInsn; readonly bits: 32 | 64; readonly cpl: 0 | 3; readonly nr: bigint }
  | { readonly kind: 'pio-read'; readonly port: number; readonly size: IoSize }
  | { readonly kind: 'pio-write'; readonly port: number; readonly size: IoSize; readonly value: number }
  | { readonly kind: 'mmio-read'; readonly gpa: bigint; readonly size: MmioSize }
  | { readonly kind: 'mmio-write'; readonly gpa: bigint; readonly size: MmioSize; readonly value: bigint }
  /** #UD on the hypercall instruction the L0 hardware lacks (VMCALL on AMD, VMMCALL on Intel). */
  | { readonly kind: 'ud-hypercall'; readonly insn: HypercallInsn; readonly gpa: bigint };

export type L2ExitKind = L2Exit['kind'];

/** L1's answer to one L2 exit. */
export type L1Decision =
  /**
   * L1 completes the exit itself: `value` for pio-read / mmio-read / rdmsr, `cpuid` for cpuid, `regs` written
   * into L2's registers (a hypercall's results).
   */
  | { readonly action: 'handle'; readonly value?: bigint; readonly cpuid?: CpuidResult; readonly regs?: Partial<Record<GprName, bigint>> }
  /** Pass the exit to L0 unchanged (L0's personality / device buses answer it). */
  | { readonly action: 'forward' }
  /**
   * Reissue a changed exit to L0 (port renumbering, address translation, a rewritten CPUID leaf). For a
   * hypercall `regs` overrides argument registers L0 reads; L0's result registers go back to L2.
   */
  | { readonly action: 'translate'; readonly to: L2Exit; readonly regs?: Partial<Record<GprName, bigint>> }
  /** Inject an exception into L2 (fault semantics: RIP stays on the instruction). */
  | { readonly action: 'inject'; readonly vector: 6 | 13; readonly message?: string }
  /** Refuse a hypercall: RAX gets `rax` (the ABI's error code) and the instruction completes. */
  | { readonly action: 'error'; readonly rax: bigint }
  /** ud-hypercall only: L1 rewrites the 3 bytes at RIP to `to` (default: the L0 hardware's native insn) and re-executes. */
  | { readonly action: 'patch'; readonly to?: HypercallInsn };

/** What L1 can use while deciding. */
export interface L1Context {
  /** The L2 vCPU (registers are L2's). */
  readonly vcpu: VcpuApi;
  /** L2 guest memory (L1 maps L2 RAM 1:1 onto its own in this model). */
  readonly memory: GuestMemory;
  /** The vendor of the real (L0) hardware. */
  readonly l0Vendor: Vendor;
  /** L1 executes CPUID itself (an L1 exit to L0): what L0 offers L1 for this leaf. */
  l0Cpuid(leaf: number, subleaf: number): CpuidResult;
}

/** An L1 hypervisor whose logic is TypeScript (see PolicyL1 for a configurable one). */
export interface L1Hypervisor {
  readonly name: string;
  /** The CPU vendor L1 presents to L2 (CPUID vendor string). L2's instructions still run on the L0 hardware. */
  readonly presentVendor: Vendor;
  /** L2 MMIO windows L1 maps straight onto L0 MMIO (device assignment): L0 completes these, L1 never sees them. */
  readonly assignedMmio?: readonly MmioAssignment[];
  /**
   * Whether L1 intercepts L2's native hypercall instruction (SVM VMMCALL intercept / VMX always exits). When
   * false the hardware raises #UD in L2, which L0 handles itself (ABI-FACTS §1.3 note: the L2 VMMCALL hang).
   */
  readonly interceptsHypercall?: boolean;
  onExit(exit: L2Exit, ctx: L1Context): L1Decision;
}

/** An L2 guest-physical window mapped onto L0 guest-physical addresses. */
export interface MmioAssignment {
  readonly l2: bigint;
  readonly l0: bigint;
  readonly length: bigint;
}

/** A level of the stack, for trace hops. */
export type Level = 'L2' | 'L1' | 'L0';

/** One hop of an access: who handed it to whom and what happened there. */
export interface Hop {
  readonly from: Level;
  readonly to: Level | 'device';
  readonly note: string;
}

/** How an L2 exit was completed (the key of the per-path cost report). */
export type NestedRoute =
  | 'direct' // assigned MMIO: L2 -> L0, no L1
  | 'l1-handle'
  | 'l1-forward'
  | 'l1-translate'
  | 'l1-inject'
  | 'l1-error'
  | 'l1-patch'
  | 'l0-ud'; // L1 did not intercept: L0 handled the #UD itself

/** One L2 exit with every hop it took. */
export interface NestedTraceEntry {
  readonly seq: number;
  readonly vcpu: number;
  readonly rip: bigint;
  readonly exit: L2Exit;
  readonly route: NestedRoute;
  readonly hops: readonly Hop[];
  /** "pio-write L2>L0>L1>L0>device" style one-liner. */
  readonly text: string;
}
