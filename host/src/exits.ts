// One discriminated union of vCPU exits, in the manner of rust-vmm kvm-ioctls `VcpuExit`.
// Every exit names the vCPU and the RIP of the instruction that caused it (for a trap-like exit such as
// Hypercall or IoOut the instruction has completed and the vCPU's RIP is already past it).

/** Which instruction issued a hypercall (ABI-FACTS §1.3: VMCALL 0F 01 C1 Intel, VMMCALL 0F 01 D9 AMD). */
export type HypercallInsn = 'vmcall' | 'vmmcall';

interface ExitBase {
  readonly vcpu: number;
  readonly rip: bigint;
}

export interface CpuidExit extends ExitBase { readonly kind: 'Cpuid'; readonly leaf: number; readonly subleaf: number }
export interface RdmsrExit extends ExitBase { readonly kind: 'Rdmsr'; readonly index: number }
export interface WrmsrExit extends ExitBase { readonly kind: 'Wrmsr'; readonly index: number; readonly value: bigint }
export interface HypercallExit extends ExitBase {
  readonly kind: 'Hypercall';
  readonly insn: HypercallInsn;
  /** 64 in long mode, 32 in protected mode. */
  readonly bits: 32 | 64;
  readonly cpl: 0 | 3;
}
export interface IoInExit extends ExitBase { readonly kind: 'IoIn'; readonly port: number; readonly size: 1 | 2 | 4 }
export interface IoOutExit extends ExitBase {
  readonly kind: 'IoOut';
  readonly port: number;
  readonly size: 1 | 2 | 4;
  readonly value: number;
}
export interface MmioReadExit extends ExitBase { readonly kind: 'MmioRead'; readonly gpa: bigint; readonly size: 1 | 2 | 4 | 8 }
export interface MmioWriteExit extends ExitBase {
  readonly kind: 'MmioWrite';
  readonly gpa: bigint;
  readonly size: 1 | 2 | 4 | 8;
  readonly value: bigint;
}
export interface ExceptionExit extends ExitBase {
  readonly kind: 'Exception';
  /** x86 exception vector (SDM Vol. 3A 6.3.1): 0 #DE, 3 #BP, 6 #UD, 12 #SS, 13 #GP, 14 #PF. */
  readonly vector: number;
  readonly errorCode?: number;
  /** Decoded instruction text, when the bytes could be fetched. */
  readonly insn?: string;
  /** Faulting linear address for #PF-like faults (and non-canonical #GP/#SS). */
  readonly address?: bigint;
  readonly message: string;
}
export interface HltExit extends ExitBase { readonly kind: 'Hlt' }
export interface ShutdownExit extends ExitBase { readonly kind: 'Shutdown'; readonly reason: string }
export interface BudgetExhaustedExit extends ExitBase {
  readonly kind: 'BudgetExhausted';
  /** Guest instructions executed by this run() call, all vCPUs together. */
  readonly executed: number;
  readonly limit: 'instructions' | 'wallclock';
}

export type Exit =
  | CpuidExit
  | RdmsrExit
  | WrmsrExit
  | HypercallExit
  | IoInExit
  | IoOutExit
  | MmioReadExit
  | MmioWriteExit
  | ExceptionExit
  | HltExit
  | ShutdownExit
  | BudgetExhaustedExit;

export type ExitKind = Exit['kind'];

/** Exception vectors used by the engine (SDM Vol. 3A Table 6-1). */
export const Vector = {
  DE: 0,
  DB: 1,
  BP: 3,
  UD: 6,
  SS: 12,
  GP: 13,
  PF: 14,
} as const;

/** One line for traces and the CLI: kind, vCPU, RIP and operands. */
export function describeExit(e: Exit): string {
  const rip = `0x${e.rip.toString(16)}`;
  const h = (v: number | bigint): string => `0x${v.toString(16)}`;
  switch (e.kind) {
    case 'Cpuid': return `Cpuid vcpu=${e.vcpu} rip=${rip} leaf=${h(e.leaf)} subleaf=${h(e.subleaf)}`;
    case 'Rdmsr': return `Rdmsr vcpu=${e.vcpu} rip=${rip} index=${h(e.index)}`;
    case 'Wrmsr': return `Wrmsr vcpu=${e.vcpu} rip=${rip} index=${h(e.index)} value=${h(e.value)}`;
    case 'Hypercall': return `Hypercall vcpu=${e.vcpu} rip=${rip} insn=${e.insn} bits=${e.bits} cpl=${e.cpl}`;
    case 'IoIn': return `IoIn vcpu=${e.vcpu} rip=${rip} port=${h(e.port)} size=${e.size}`;
    case 'IoOut': return `IoOut vcpu=${e.vcpu} rip=${rip} port=${h(e.port)} size=${e.size} value=${h(e.value)}`;
    case 'MmioRead': return `MmioRead vcpu=${e.vcpu} rip=${rip} gpa=${h(e.gpa)} size=${e.size}`;
    case 'MmioWrite': return `MmioWrite vcpu=${e.vcpu} rip=${rip} gpa=${h(e.gpa)} size=${e.size} value=${h(e.value)}`;
    case 'Exception':
      return `Exception vcpu=${e.vcpu} rip=${rip} vector=${e.vector}` +
        (e.errorCode !== undefined ? ` error=${h(e.errorCode)}` : '') +
        (e.address !== undefined ? ` address=${h(e.address)}` : '') + ` ${e.message}`;
    case 'Hlt': return `Hlt vcpu=${e.vcpu} rip=${rip}`;
    case 'Shutdown': return `Shutdown vcpu=${e.vcpu} rip=${rip} ${e.reason}`;
    case 'BudgetExhausted': return `BudgetExhausted vcpu=${e.vcpu} rip=${rip} executed=${e.executed} (${e.limit})`;
  }
}
