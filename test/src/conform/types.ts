// The conformance suite's data model, in the manner of kvm-unit-tests' unittests.cfg: a case names its groups,
// ABIs, strategy, vendors and modes, builds a guest program, and states the ABI-visible results it expects.
// Backends run the program; the checker compares; reporters print PASS/FAIL/SKIP with reasons.
import type { CostKind, ExitKind, GprName, PvtestTraceEntry, TraceEntry, Vendor } from '@pvkit/host';
import type { Generated, Strategy } from '@pvkit/guest-sdk';
import type { AbiDefinition } from '@pvkit/shared-abi';
import type { AbiName } from '../run/machine.js';

export const GROUPS = [
  'detection', 'hypercall', 'patching', 'hcpage', 'pio', 'mmio', 'doorbell', 'mmio-hypercall', 'fallback', 'nested',
  'migration', 'smp', 'faults',
] as const;
export type Group = (typeof GROUPS)[number];
export type Bits = 64 | 32;
export type Need = 'kvm' | 'nasm' | 'gcc' | 'hypercall-exits' | 'user-abi';
export type { AbiName };

/** One vendor x mode instance of a case. */
export interface CaseEnv {
  readonly vendor: Vendor;
  readonly bits: Bits;
}

/** What to put in the machine besides RAM, the debug console (0xe9) and the pvtest device. */
export interface MachineSpec {
  /** Personalities in CPUID order; `base` as in `pvkit run --abi kvm@0x40000100`. */
  readonly abis: readonly { readonly name: AbiName; readonly base?: number; readonly options?: Record<string, unknown> }[];
  /** KVM_X86_QUIRK_FIX_HYPERCALL_INSN (default on, as in KVM). */
  readonly fixHypercallInsn?: boolean;
  /** Privilege level the guest runs at (default 0). */
  readonly cpl?: 0 | 3;
  /**
   * User ABIs (JSON files) answered by a data-driven test host: their CPUID leaves from the ABI data, and each of
   * their hypercalls echoed (the number comes back in the convention's first result register).
   */
  readonly userAbis?: readonly { readonly abi: AbiDefinition; readonly base: number }[];
  /**
   * Live migration to the other vendor when the guest writes port MIGRATE_PORT (a `{ sym: '@migrate' }` call):
   * snapshot, restore as the other vendor, the same personalities re-attached (they rewrite hypercall pages).
   */
  readonly migrate?: boolean;
  /** Secondary vCPUs (ids 1, 2, ...: the APIC id is the vCPU id) and where each starts; vCPU 0 runs the program. */
  readonly secondary?: readonly { readonly entry: bigint }[];
  /** RAM besides 0..RAM_BYTES, e.g. the last page below the non-canonical boundary (hypercall.c test_edge). */
  readonly extraRam?: readonly { readonly gpa: bigint; readonly size: number }[];
  /**
   * Run the guest as L2 under a TypeScript L1 (host/src/nested PolicyL1) on the emulator as L0, with L0 offering
   * `abis`; L1 translates, refuses or hides the pvio hypercalls. Emulator only.
   */
  readonly nested?: {
    readonly pvio?: 'translate' | 'passthrough' | 'refuse';
    readonly hidePvio?: readonly ('MMIO_HCALL' | 'PIO_HCALL')[];
  };
  /** Bytes queued in the pvtest device's input FIFO before the run. */
  readonly pvtestInput?: readonly number[];
}

/** A flat guest: bytes at guest-physical addresses, the entry point, and the stub image it was built with. */
export interface GuestProgram {
  readonly segments: readonly { readonly gpa: bigint; readonly bytes: Uint8Array }[];
  readonly entry: bigint;
  readonly stubs?: Generated;
  /** Where each call's return value was stored (a qword per call) and how many bits of it the C type has. */
  readonly results?: { readonly gpa: bigint; readonly widths: readonly number[]; readonly names: readonly string[] };
}

export interface MemoryExpect {
  readonly gpa: bigint;
  readonly bytes: readonly number[];
  /** What the bytes are, for the failure message (e.g. 'patched site'). */
  readonly what: string;
}

export interface Expect {
  /** How the run ends (default a halt). */
  readonly final?: { readonly kind: ExitKind; readonly vector?: number; readonly rip?: bigint };
  /** The C return value of each call of a stub program, masked to its C type. */
  readonly results?: readonly bigint[];
  /** Register values at the end; `{ value, mask }` compares only the masked bits (e.g. CPUID.1:ECX[31]). */
  readonly registers?: Partial<Record<GprName, bigint | { readonly value: bigint; readonly mask: bigint }>>;
  readonly memory?: readonly MemoryExpect[];
  /** Exit kinds the run saw, in order (handled ones too), filtered to the kinds listed in `of`. */
  readonly exitTrace?: { readonly of: readonly ExitKind[]; readonly kinds: readonly ExitKind[] };
  /** Number of #UD patches the host made (ABI-FACTS §1.3). */
  readonly patches?: number;
  readonly counters?: Partial<Record<CostKind, number>>;
  /** Bytes the guest wrote to the debug console (0xe9). */
  readonly console?: string;
  /** What the pvtest device saw: its output bytes and/or its access trace. */
  readonly device?: { readonly output?: string; readonly trace?: readonly PvtestTraceEntry[] };
}

export interface ConformCase {
  readonly name: string;
  readonly groups: readonly Group[];
  readonly abis: readonly AbiName[];
  readonly strategy?: Strategy;
  readonly vendors: readonly Vendor[];
  readonly bits: readonly Bits[];
  /** The ABI-FACTS.md section (or issue) the expectation comes from. */
  readonly source: string;
  readonly needs?: readonly Need[];
  readonly machine: (env: CaseEnv) => MachineSpec;
  readonly program: (env: CaseEnv) => GuestProgram;
  readonly expect: (env: CaseEnv) => Expect;
  /** Deliberate differences between backends, each with its reason (differential mode skips these registers). */
  readonly diffIgnore?: { readonly registers: readonly GprName[]; readonly reason: string };
  /** Instruction budget (default 2 000 000). */
  readonly budget?: number;
}

/** Everything a backend observed at the end of a run. */
export interface Observation {
  readonly final: { readonly kind: ExitKind; readonly vector?: number; readonly rip: bigint; readonly text: string };
  readonly registers: Readonly<Record<GprName, bigint>>;
  readMemory(gpa: bigint, n: number): Uint8Array;
  /** Undefined when the backend cannot see handled exits. */
  readonly trace?: readonly TraceEntry[];
  readonly patches?: number;
  readonly counters?: Readonly<Record<CostKind, number>>;
  readonly console: string;
  readonly device: { readonly output: string; readonly trace: readonly PvtestTraceEntry[] };
}

export type Availability = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export interface Backend {
  readonly name: string;
  /** Whether the backend can run at all here (e.g. /dev/kvm present and usable). */
  available(): Availability;
  /** A reason to skip this case on this backend (e.g. hypercalls never complete on kvm_pvm), or undefined. */
  skipReason(c: ConformCase, env: CaseEnv): string | undefined;
  run(c: ConformCase, env: CaseEnv, machine: MachineSpec, program: GuestProgram): Observation | Promise<Observation>;
}

/** Thrown by a backend's run when it finds it cannot run the case after all (e.g. KVM_CREATE_VM refused). */
export class SkipCase extends Error {
  override name = 'SkipCase';
}

export type Status = 'PASS' | 'FAIL' | 'SKIP';

export interface CaseResult {
  readonly case: string;
  /** `<case> [<bits>-bit <vendor>]` */
  readonly id: string;
  readonly env: CaseEnv;
  readonly backend: string;
  readonly groups: readonly Group[];
  readonly abis: readonly AbiName[];
  readonly source: string;
  readonly status: Status;
  /** SKIP reason, or the FAIL differences (one per line). */
  readonly reason?: string;
  readonly problems: readonly string[];
  readonly ms: number;
}
