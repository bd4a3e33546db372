// The shape every ABI takes, built-in (kvm, xen, hyperv, vmware, pvio) or user-defined.
// guest-sdk emits code from an AbiDefinition and host answers exits from the same object: this file is the
// whole contract between the two sides.

/** General-purpose registers by the name of the width used. */
export type Gpr64 =
  | 'rax' | 'rbx' | 'rcx' | 'rdx' | 'rsi' | 'rdi' | 'rbp' | 'rsp'
  | 'r8' | 'r9' | 'r10' | 'r11' | 'r12' | 'r13' | 'r14' | 'r15';
export type Gpr32 = 'eax' | 'ebx' | 'ecx' | 'edx' | 'esi' | 'edi' | 'ebp' | 'esp';
export type Gpr = Gpr64 | Gpr32;

export const GPR64: readonly Gpr64[] = [
  'rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
];
export const GPR32: readonly Gpr32[] = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];

/** A value slot: one register, or a register pair holding hi:lo halves (Hyper-V x86: EDX:EAX). */
export type Slot = Gpr | { readonly hi: Gpr32; readonly lo: Gpr32 };

/**
 * How the guest leaves to the hypervisor.
 * - `hypercall`: VMCALL (Intel) / VMMCALL (AMD), the native one for the CPU vendor.
 * - `hcpage`: `call` into a hypervisor-written page (which itself holds vmcall/vmmcall).
 * - `port`: an IN/OUT (or REP INS/OUTS) to a fixed port (VMware backdoor).
 */
export type Trap = 'hypercall' | 'hcpage' | 'port';

export interface CallingConvention {
  /** Unique within the ABI, e.g. `x64`, `x86`, `x64-fast`, `port-lb`. */
  readonly id: string;
  readonly bits: 64 | 32;
  readonly trap: Trap;
  /** Register carrying the hypercall number (or control word / command). */
  readonly number: Slot;
  /** Argument registers in order. */
  readonly args: readonly Slot[];
  /** Result registers in order; the first is the status/return value. */
  readonly results: readonly Slot[];
  /** Registers the hypervisor may change besides `results` (Xen: the argument registers). */
  readonly clobbers: readonly Gpr[];
  /** Registers that must hold a fixed value on entry (VMware: EAX = magic, DX = port). */
  readonly fixed?: readonly { readonly reg: Gpr | 'dx'; readonly value: number; readonly why: string }[];
  readonly source: string;
}

export type ArgType = 'u8' | 'u16' | 'u32' | 'u64' | 'i32' | 'i64' | 'gpa' | 'gva' | 'flags';

export interface ArgDef {
  readonly name: string;
  readonly type: ArgType;
  readonly doc?: string;
}

export interface HypercallDef {
  readonly name: string;
  /** Number in the ABI's selector register (KVM: RAX; Hyper-V: call code, bits 15:0 of the control word). */
  readonly nr: number;
  readonly args: readonly ArgDef[];
  readonly doc: string;
  readonly source: string;
  /** Calling conventions (by id) this call may use; all when absent. */
  readonly conventions?: readonly string[];
  /** Modes where the call exists; both when absent (KVM_HC_CLOCK_PAIRING is 64-bit only). */
  readonly bits?: readonly (64 | 32)[];
  /** Hyper-V: a rep hypercall (rep count and start index in the control word). */
  readonly rep?: boolean;
  /** Hyper-V: may be issued as a fast (register-based) call. */
  readonly fast?: boolean;
}

/**
 * How an error reaches the guest.
 * - `neg-errno`: the result register holds -value (KVM, Xen, pvio), truncated to 32 bits for a 32-bit caller.
 * - `hv-status`: result bits 15:0 hold the status (Hyper-V).
 * - `all-ones`: the result register is set to 0xFFFFFFFF (VMware backdoor, QEMU vmport).
 */
export type ErrorEncoding = 'neg-errno' | 'hv-status' | 'all-ones';

export interface ErrorCodeDef {
  readonly name: string;
  readonly value: number;
  readonly doc: string;
  readonly source: string;
}

export interface ErrorModel {
  readonly encoding: ErrorEncoding;
  readonly codes: readonly ErrorCodeDef[];
  /** Name of the code returned for an unknown hypercall number. */
  readonly unknownHypercall: string;
  /**
   * What a hypercall from CPL > 0 gets: an error code name, `#UD` (Hyper-V), or `allowed` (VMware's backdoor
   * ports answer at any CPL: they bypass the TSS I/O bitmap).
   */
  readonly cplNonZero: string | '#UD' | 'allowed';
}

export type CpuidReg = 'eax' | 'ebx' | 'ecx' | 'edx';

export interface FeatureBitDef {
  readonly name: string;
  /** Leaf offset from the ABI's CPUID base (0x40000001 for KVM features is offset 1). */
  readonly leaf: number;
  readonly reg: CpuidReg;
  readonly bit: number;
  readonly doc: string;
  readonly source: string;
}

export interface CpuidLeafDef {
  /** Offset from the CPUID base. */
  readonly offset: number;
  readonly name: string;
  /** What each register holds, in words (for docs and headers). */
  readonly regs: Partial<Record<CpuidReg, string>>;
  readonly source: string;
}

/**
 * How a guest finds the ABI.
 * - `scan`: Linux hypervisor_cpuid_base(): bases 0x40000000..0x4000FF00 step 0x100, first base whose
 *   signature matches and whose max leaf EAX satisfies EAX - base >= minLeaves.
 * - `fixed`: only `defaultBase` is checked (Hyper-V's ms_hyperv_platform()), with EAX in [minMaxLeaf, 0x4000FFFF].
 */
export interface CpuidModel {
  readonly detection: 'scan' | 'fixed';
  readonly defaultBase: number;
  /** The 12-byte signature in EBX, ECX, EDX order (NULs allowed as `\0`). */
  readonly signature: string;
  /** Minimum of (max leaf - base) accepted by detection (Xen: 2; KVM: 0). */
  readonly minLeaves: number;
  /** Max leaf this ABI advertises, as an offset from the base. */
  readonly maxLeafOffset: number;
  readonly leaves: readonly CpuidLeafDef[];
  readonly source: string;
}

export interface BitFieldDef {
  readonly name: string;
  /** Least significant bit. */
  readonly lsb: number;
  readonly width: number;
  /**
   * `flag` (1 bit), `uint` (plain value), `gpa` (an address whose low lsb bits are implied zero: the field
   * holds address >> lsb and the codec takes/gives the full address), `reserved` (must be zero on encode).
   */
  readonly kind: 'flag' | 'uint' | 'gpa' | 'reserved';
  readonly doc: string;
}

export interface MsrDef {
  readonly name: string;
  readonly index: number;
  readonly access: 'rw' | 'ro' | 'wo';
  readonly layout: readonly BitFieldDef[];
  readonly doc: string;
  readonly source: string;
}

/** A hypercall number space: which register selects, and the numbers this ABI claims in it. */
export interface HypercallSpace {
  readonly trap: Trap;
  /** Selector register (64-bit name; the 32-bit convention uses its low half). */
  readonly selector: Gpr64;
  /** Bits of the selector that hold the number (Hyper-V: 0xFFFF of the control word). */
  readonly mask: number;
  readonly lo: number;
  readonly hi: number;
  /** Anything else that tells this ABI's calls apart (Xen viridian: EAX bit 31; VMware: EAX = magic). */
  readonly discriminator?: string;
  readonly source: string;
}

export interface AbiDefinition {
  /** Short id: `kvm`, `xen`, `hyperv`, `vmware`, `pvio`, or a user's name. */
  readonly name: string;
  readonly title: string;
  readonly version: string;
  readonly cpuid: CpuidModel;
  readonly features: readonly FeatureBitDef[];
  readonly conventions: readonly CallingConvention[];
  readonly hypercalls: readonly HypercallDef[];
  readonly errors: ErrorModel;
  readonly msrs: readonly MsrDef[];
  readonly space: HypercallSpace;
  /** Free-form facts worth a C constant (ports, magic numbers): emitted by the header generator. */
  readonly constants: readonly { readonly name: string; readonly value: number | bigint; readonly doc: string; readonly source: string }[];
  readonly source: string;
}
