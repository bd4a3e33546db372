// KVM paravirtual ABI (x86): hypercall numbers, return codes, calling conventions, CPUID leaves and feature
// bits, quirks. MSRs and the guest-memory structures they point at live in kvm-msrs.ts.
// Sources: deb:linux-libc-dev 6.1 linux/kvm_para.h, asm/kvm_para.h, asm/kvm.h, linux/kvm.h;
// torvalds/linux Documentation/virt/kvm/x86/{hypercalls,cpuid}.rst, arch/x86/kvm/x86.c (ABI-FACTS §1).
import type {
  AbiDefinition, CallingConvention, CpuidLeafDef, CpuidModel, ErrorCodeDef, FeatureBitDef, HypercallDef,
} from './types.js';
import { AbiError } from './errors.js';
import { KVM_MSRS, KVM_MSR_CONSTANTS } from './kvm-msrs.js';

export * from './kvm-msrs.js';

/** VMCALL (Intel VMX), the 3-byte hypercall instruction (kvm-unit-tests x86/hypercall.c KVM_HYPERCALL_VMCALL). */
export const VMCALL_BYTES: readonly number[] = Object.freeze([0x0f, 0x01, 0xc1]);
/** VMMCALL (AMD SVM) (kvm-unit-tests x86/hypercall.c KVM_HYPERCALL_VMMCALL). */
export const VMMCALL_BYTES: readonly number[] = Object.freeze([0x0f, 0x01, 0xd9]);

// ---- hypercall numbers ---------------------------------------------------------------------------------

/** KVM_HC_<key> numbers, all architectures (linux/kvm_para.h). */
export const KVM_HC = {
  VAPIC_POLL_IRQ: 1, // linux/kvm_para.h KVM_HC_VAPIC_POLL_IRQ
  MMU_OP: 2, // linux/kvm_para.h KVM_HC_MMU_OP (deprecated, no x86 handler)
  FEATURES: 3, // linux/kvm_para.h KVM_HC_FEATURES (PPC)
  PPC_MAP_MAGIC_PAGE: 4, // linux/kvm_para.h KVM_HC_PPC_MAP_MAGIC_PAGE
  KICK_CPU: 5, // linux/kvm_para.h KVM_HC_KICK_CPU
  MIPS_GET_CLOCK_FREQ: 6, // linux/kvm_para.h KVM_HC_MIPS_GET_CLOCK_FREQ
  MIPS_EXIT_VM: 7, // linux/kvm_para.h KVM_HC_MIPS_EXIT_VM
  MIPS_CONSOLE_OUTPUT: 8, // linux/kvm_para.h KVM_HC_MIPS_CONSOLE_OUTPUT
  CLOCK_PAIRING: 9, // linux/kvm_para.h KVM_HC_CLOCK_PAIRING
  SEND_IPI: 10, // linux/kvm_para.h KVM_HC_SEND_IPI
  SCHED_YIELD: 11, // linux/kvm_para.h KVM_HC_SCHED_YIELD
  MAP_GPA_RANGE: 12, // linux/kvm_para.h KVM_HC_MAP_GPA_RANGE
} as const;
export type KvmHcName = keyof typeof KVM_HC;

/** Architecture that implements each KVM_HC_* (hypercalls.rst "Architecture:" lines; MIPS from arch/mips/kvm). */
export const KVM_HC_ARCH: { readonly [K in KvmHcName]: 'x86' | 'ppc' | 'mips' } = {
  VAPIC_POLL_IRQ: 'x86', MMU_OP: 'x86', FEATURES: 'ppc', PPC_MAP_MAGIC_PAGE: 'ppc', KICK_CPU: 'x86',
  MIPS_GET_CLOCK_FREQ: 'mips', MIPS_EXIT_VM: 'mips', MIPS_CONSOLE_OUTPUT: 'mips', CLOCK_PAIRING: 'x86',
  SEND_IPI: 'x86', SCHED_YIELD: 'x86', MAP_GPA_RANGE: 'x86',
};

/** KVM_CLOCK_PAIRING_WALLCLOCK, clock type argument of KVM_HC_CLOCK_PAIRING (asm/kvm_para.h). */
export const KVM_CLOCK_PAIRING_WALLCLOCK = 0;

// ---- return codes --------------------------------------------------------------------------------------

/** KVM_<key> hypercall return codes, returned negated in RAX (linux/kvm_para.h; E* from asm-generic/errno-base.h). */
export const KVM_ERRNO = {
  ENOSYS: 1000, // linux/kvm_para.h KVM_ENOSYS
  EFAULT: 14, // KVM_EFAULT = EFAULT (asm-generic/errno-base.h)
  EINVAL: 22, // KVM_EINVAL = EINVAL
  E2BIG: 7, // KVM_E2BIG = E2BIG
  EPERM: 1, // KVM_EPERM = EPERM
  EOPNOTSUPP: 95, // linux/kvm_para.h KVM_EOPNOTSUPP
} as const;
export type KvmErrnoName = keyof typeof KVM_ERRNO;

const MASK64 = (1n << 64n) - 1n;
const MASK32 = (1n << 32n) - 1n;

/**
 * RAX as KVM leaves it for a signed hypercall result `ret` (e.g. -KVM_ENOSYS, or a non-negative count):
 * two's complement in 64 bits, truncated to 32 bits for a 32-bit caller (x86.c: `if (!op_64_bit) ret = (u32)ret`).
 * kvmResult(-1000, 64) = 0xFFFFFFFFFFFFFC18n, kvmResult(-1000, 32) = 0xFFFFFC18n.
 */
export function kvmResult(ret: number | bigint, bits: 64 | 32): bigint {
  if (typeof ret === 'number' && !Number.isSafeInteger(ret)) {
    throw new AbiError([{ path: 'kvmResult.ret', value: ret, message: 'not a safe integer; pass a bigint' }]);
  }
  const r = BigInt(ret);
  const lim = bits === 64 ? 1n << 63n : 1n << 31n;
  if (r < -lim || r >= 2n * lim) {
    throw new AbiError([{ path: 'kvmResult.ret', value: r, message: `does not fit in a ${bits}-bit register` }]);
  }
  return r & (bits === 64 ? MASK64 : MASK32);
}

/** RAX for a KVM error code: kvmErrorResult('ENOSYS', 64) = kvmResult(-1000, 64). */
export function kvmErrorResult(name: KvmErrnoName, bits: 64 | 32): bigint {
  return kvmResult(-KVM_ERRNO[name], bits);
}

/** Inverse of kvmResult: the signed value a caller of the given width sees in RAX/EAX. */
export function kvmResultValue(rax: bigint, bits: 64 | 32): bigint {
  const v = rax & (bits === 64 ? MASK64 : MASK32);
  return bits === 64 ? BigInt.asIntN(64, v) : BigInt.asIntN(32, v);
}

/** Name of the KVM error a (signed) result stands for, or undefined for success / an unlisted value. */
export function kvmErrorName(ret: bigint): KvmErrnoName | undefined {
  for (const [k, v] of Object.entries(KVM_ERRNO)) if (ret === -BigInt(v)) return k as KvmErrnoName;
  return undefined;
}

// ---- calling conventions -------------------------------------------------------------------------------

/** hypercalls.rst: nr in rax, up to four args in rbx, rcx, rdx, rsi, result in rax, nothing else clobbered. */
export const KVM_CONVENTION_X64: CallingConvention = {
  id: 'x64', bits: 64, trap: 'hypercall', number: 'rax', args: ['rbx', 'rcx', 'rdx', 'rsi'], results: ['rax'], clobbers: [],
  source: 'Documentation/virt/kvm/x86/hypercalls.rst; arch/x86/kvm/x86.c kvm_emulate_hypercall',
};
/** Same registers in 32-bit mode; x86.c masks nr and a0..a3 to 32 bits when !is_64_bit_hypercall(). */
export const KVM_CONVENTION_X86: CallingConvention = {
  id: 'x86', bits: 32, trap: 'hypercall', number: 'eax', args: ['ebx', 'ecx', 'edx', 'esi'], results: ['eax'], clobbers: [],
  source: 'arch/x86/kvm/x86.c kvm_emulate_hypercall (32-bit: values truncated to u32)',
};

/**
 * nr and a0..a3 as KVM reads them (x86.c): RAX, RBX, RCX, RDX, RSI; all five masked to 32 bits unless the
 * caller is in 64-bit mode (is_64_bit_hypercall: EFER.LMA and CS.L).
 */
export function kvmHypercallInputs(reg: (r: 'rax' | 'rbx' | 'rcx' | 'rdx' | 'rsi') => bigint, bits: 64 | 32): { nr: bigint; args: bigint[] } {
  const m = bits === 64 ? MASK64 : MASK32;
  return { nr: reg('rax') & m, args: (['rbx', 'rcx', 'rdx', 'rsi'] as const).map((r) => reg(r) & m) };
}

// ---- CPUID ---------------------------------------------------------------------------------------------

export const KVM_CPUID_SIGNATURE = 0x40000000; // asm/kvm_para.h KVM_CPUID_SIGNATURE
export const KVM_CPUID_FEATURES = 0x40000001; // asm/kvm_para.h KVM_CPUID_FEATURES
export const KVM_SIGNATURE = 'KVMKVMKVM\0\0\0'; // asm/kvm_para.h KVM_SIGNATURE

/** KVM_FEATURE_<key>: bit numbers in CPUID 0x40000001 EAX (asm/kvm_para.h). */
export const KVM_FEATURE = {
  CLOCKSOURCE: 0, // asm/kvm_para.h KVM_FEATURE_CLOCKSOURCE
  NOP_IO_DELAY: 1, // asm/kvm_para.h KVM_FEATURE_NOP_IO_DELAY
  MMU_OP: 2, // asm/kvm_para.h KVM_FEATURE_MMU_OP
  CLOCKSOURCE2: 3, // asm/kvm_para.h KVM_FEATURE_CLOCKSOURCE2
  ASYNC_PF: 4, // asm/kvm_para.h KVM_FEATURE_ASYNC_PF
  STEAL_TIME: 5, // asm/kvm_para.h KVM_FEATURE_STEAL_TIME
  PV_EOI: 6, // asm/kvm_para.h KVM_FEATURE_PV_EOI
  PV_UNHALT: 7, // asm/kvm_para.h KVM_FEATURE_PV_UNHALT
  PV_TLB_FLUSH: 9, // asm/kvm_para.h KVM_FEATURE_PV_TLB_FLUSH
  ASYNC_PF_VMEXIT: 10, // asm/kvm_para.h KVM_FEATURE_ASYNC_PF_VMEXIT
  PV_SEND_IPI: 11, // asm/kvm_para.h KVM_FEATURE_PV_SEND_IPI
  POLL_CONTROL: 12, // asm/kvm_para.h KVM_FEATURE_POLL_CONTROL
  PV_SCHED_YIELD: 13, // asm/kvm_para.h KVM_FEATURE_PV_SCHED_YIELD
  ASYNC_PF_INT: 14, // asm/kvm_para.h KVM_FEATURE_ASYNC_PF_INT
  MSI_EXT_DEST_ID: 15, // asm/kvm_para.h KVM_FEATURE_MSI_EXT_DEST_ID
  HC_MAP_GPA_RANGE: 16, // asm/kvm_para.h KVM_FEATURE_HC_MAP_GPA_RANGE
  MIGRATION_CONTROL: 17, // asm/kvm_para.h KVM_FEATURE_MIGRATION_CONTROL
  CLOCKSOURCE_STABLE_BIT: 24, // asm/kvm_para.h KVM_FEATURE_CLOCKSOURCE_STABLE_BIT
} as const;
export type KvmFeatureName = keyof typeof KVM_FEATURE;

/** KVM_HINTS_<key>: bit numbers in CPUID 0x40000001 EDX (asm/kvm_para.h). */
export const KVM_HINTS = {
  REALTIME: 0, // asm/kvm_para.h KVM_HINTS_REALTIME
} as const;

const FEATURE_DOCS: { readonly [K in KvmFeatureName]: string } = {
  CLOCKSOURCE: 'kvmclock at MSRs 0x11/0x12',
  NOP_IO_DELAY: 'no delays needed on port I/O',
  MMU_OP: 'deprecated',
  CLOCKSOURCE2: 'kvmclock at MSRs 0x4b564d00/0x4b564d01',
  ASYNC_PF: 'async page faults, MSR_KVM_ASYNC_PF_EN',
  STEAL_TIME: 'steal time, MSR_KVM_STEAL_TIME',
  PV_EOI: 'paravirtual end of interrupt, MSR_KVM_PV_EOI_EN',
  PV_UNHALT: 'PV spinlocks: KVM_HC_KICK_CPU wakes a halted vCPU',
  PV_TLB_FLUSH: 'PV TLB flush via steal-time preempted field',
  ASYNC_PF_VMEXIT: 'async PF may be delivered as #PF vmexit (MSR_KVM_ASYNC_PF_EN bit 2)',
  PV_SEND_IPI: 'KVM_HC_SEND_IPI',
  POLL_CONTROL: 'MSR_KVM_POLL_CONTROL',
  PV_SCHED_YIELD: 'KVM_HC_SCHED_YIELD',
  ASYNC_PF_INT: 'async PF "page ready" as interrupt, MSRs 0x4b564d06/07',
  MSI_EXT_DEST_ID: 'MSI address bits 11:5 carry extended destination ID',
  HC_MAP_GPA_RANGE: 'KVM_HC_MAP_GPA_RANGE',
  MIGRATION_CONTROL: 'MSR_KVM_MIGRATION_CONTROL',
  CLOCKSOURCE_STABLE_BIT: 'pvclock flags bit 0 (TSC stable) is meaningful',
};

/** Feature bits as data: EAX features and the EDX realtime hint, both in leaf offset 1. */
export const KVM_FEATURES: readonly FeatureBitDef[] = [
  ...Object.entries(KVM_FEATURE).map(([k, bit]): FeatureBitDef => ({
    name: `KVM_FEATURE_${k}`, leaf: 1, reg: 'eax', bit, doc: FEATURE_DOCS[k as KvmFeatureName],
    source: `asm/kvm_para.h KVM_FEATURE_${k}; Documentation/virt/kvm/x86/cpuid.rst`,
  })),
  {
    name: 'KVM_HINTS_REALTIME', leaf: 1, reg: 'edx', bit: KVM_HINTS.REALTIME,
    doc: 'vCPUs are never preempted for an unlimited time', source: 'asm/kvm_para.h KVM_HINTS_REALTIME; cpuid.rst',
  },
];

export const KVM_CPUID_LEAVES: readonly CpuidLeafDef[] = [
  {
    offset: 0, name: 'KVM_CPUID_SIGNATURE',
    regs: { eax: 'max KVM leaf (0x40000001; 0 on old hosts means 0x40000001)', ebx: '"KVMK" 0x4b4d564b', ecx: '"VMKV" 0x564b4d56', edx: '"M\\0\\0\\0" 0x4d' },
    source: 'asm/kvm_para.h KVM_CPUID_SIGNATURE; cpuid.rst',
  },
  {
    offset: 1, name: 'KVM_CPUID_FEATURES',
    regs: { eax: 'KVM_FEATURE_* bits', ebx: '0', ecx: '0', edx: 'KVM_HINTS_* bits' },
    source: 'asm/kvm_para.h KVM_CPUID_FEATURES; cpuid.rst',
  },
];

/**
 * The max leaf a guest should assume from CPUID(base).EAX: cpuid.rst "old hosts set eax value to 0x0. This
 * should be interpreted as if the value was 0x40000001" (relative to the base the signature was found at).
 */
export function kvmEffectiveMaxLeaf(eax: number, base: number = KVM_CPUID_SIGNATURE): number {
  return eax === 0 ? base + 1 : eax >>> 0;
}

export const KVM_CPUID: CpuidModel = {
  detection: 'scan', defaultBase: KVM_CPUID_SIGNATURE, signature: KVM_SIGNATURE, minLeaves: 0, maxLeafOffset: 1,
  leaves: KVM_CPUID_LEAVES,
  source: 'arch/x86/kernel/kvm.c __kvm_cpuid_base: hypervisor_cpuid_base(KVM_SIGNATURE, 0); base may be 0x40000100 beside Hyper-V',
};

// ---- quirks and capabilities -----------------------------------------------------------------------------

/** KVM_X86_QUIRK_<key> bits for KVM_CAP_DISABLE_QUIRKS2 (asm/kvm.h). On by default. */
export const KVM_X86_QUIRK = {
  LINT0_REENABLED: 1 << 0, // asm/kvm.h KVM_X86_QUIRK_LINT0_REENABLED
  CD_NW_CLEARED: 1 << 1, // asm/kvm.h KVM_X86_QUIRK_CD_NW_CLEARED
  LAPIC_MMIO_HOLE: 1 << 2, // asm/kvm.h KVM_X86_QUIRK_LAPIC_MMIO_HOLE
  OUT_7E_INC_RIP: 1 << 3, // asm/kvm.h KVM_X86_QUIRK_OUT_7E_INC_RIP
  MISC_ENABLE_NO_MWAIT: 1 << 4, // asm/kvm.h KVM_X86_QUIRK_MISC_ENABLE_NO_MWAIT
  FIX_HYPERCALL_INSN: 1 << 5, // asm/kvm.h KVM_X86_QUIRK_FIX_HYPERCALL_INSN: patch the foreign vmcall/vmmcall on #UD
  MWAIT_NEVER_UD_FAULTS: 1 << 6, // asm/kvm.h KVM_X86_QUIRK_MWAIT_NEVER_UD_FAULTS
} as const;

/** KVM_CAP_<key> numbers pvkit models (linux/kvm.h). */
export const KVM_CAP = {
  IOEVENTFD: 36, // linux/kvm.h KVM_CAP_IOEVENTFD
  IOEVENTFD_NO_LENGTH: 100, // linux/kvm.h KVM_CAP_IOEVENTFD_NO_LENGTH
  DISABLE_QUIRKS: 116, // linux/kvm.h KVM_CAP_DISABLE_QUIRKS
  IOEVENTFD_ANY_LENGTH: 122, // linux/kvm.h KVM_CAP_IOEVENTFD_ANY_LENGTH
  DISABLE_QUIRKS2: 213, // linux/kvm.h KVM_CAP_DISABLE_QUIRKS2
} as const;

/** KVM_IOEVENTFD_FLAG_<key> (linux/kvm.h; bit numbers from enum kvm_ioeventfd_flag_nr_*). */
export const KVM_IOEVENTFD_FLAG = {
  DATAMATCH: 1 << 0, // linux/kvm.h KVM_IOEVENTFD_FLAG_DATAMATCH
  PIO: 1 << 1, // linux/kvm.h KVM_IOEVENTFD_FLAG_PIO
  DEASSIGN: 1 << 2, // linux/kvm.h KVM_IOEVENTFD_FLAG_DEASSIGN
  VIRTIO_CCW_NOTIFY: 1 << 3, // linux/kvm.h KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY
} as const;
/** linux/kvm.h KVM_IOEVENTFD_VALID_FLAG_MASK = (1 << kvm_ioeventfd_flag_nr_max) - 1 (bit 4 is the fast_mmio enum slot). */
export const KVM_IOEVENTFD_VALID_FLAG_MASK = 0x1f;

// ---- hypercalls as data --------------------------------------------------------------------------------

const HC_SRC = 'Documentation/virt/kvm/x86/hypercalls.rst; linux/kvm_para.h';

/** The x86 hypercalls (PPC and MIPS numbers are in KVM_HC only). */
export const KVM_HYPERCALLS: readonly HypercallDef[] = [
  { name: 'KVM_HC_VAPIC_POLL_IRQ', nr: KVM_HC.VAPIC_POLL_IRQ, args: [], doc: 'forces an exit so pending interrupts are re-evaluated; returns 0', source: HC_SRC },
  { name: 'KVM_HC_MMU_OP', nr: KVM_HC.MMU_OP, args: [], doc: 'deprecated (support removed); x86 KVM has no handler and returns -KVM_ENOSYS', source: HC_SRC },
  {
    name: 'KVM_HC_KICK_CPU', nr: KVM_HC.KICK_CPU, source: HC_SRC,
    args: [{ name: 'flags', type: 'flags', doc: 'reserved, 0' }, { name: 'apicid', type: 'u32', doc: 'APIC ID of the vCPU to wake from HLT' }],
    doc: 'wakes a vCPU halted in a PV spinlock (KVM_FEATURE_PV_UNHALT); returns 0',
  },
  {
    name: 'KVM_HC_CLOCK_PAIRING', nr: KVM_HC.CLOCK_PAIRING, bits: [64], source: HC_SRC,
    args: [{ name: 'clock_pairing', type: 'gpa', doc: 'GPA of struct kvm_clock_pairing' }, { name: 'clock_type', type: 'u32', doc: 'KVM_CLOCK_PAIRING_WALLCLOCK (0)' }],
    doc: 'fills kvm_clock_pairing with a (wall clock, TSC) pair; -KVM_EOPNOTSUPP unless the host clocksource is TSC; 64-bit only',
  },
  {
    name: 'KVM_HC_SEND_IPI', nr: KVM_HC.SEND_IPI, source: HC_SRC,
    args: [
      { name: 'ipi_bitmap_low', type: 'u64', doc: 'bit i = APIC ID min+i (register width: 64 bits, 32 in 32-bit mode)' },
      { name: 'ipi_bitmap_high', type: 'u64', doc: 'continues the bitmap: min+64.. (64-bit mode) or min+32.. (32-bit mode)' },
      { name: 'min', type: 'u32', doc: 'APIC ID of bit 0 of ipi_bitmap_low' },
      { name: 'icr', type: 'u32', doc: 'APIC ICR value (vector, delivery mode)' },
    ],
    doc: 'multicast IPI to at most 128 (64-bit) / 64 (32-bit) destinations (KVM_FEATURE_PV_SEND_IPI); returns the number of CPUs delivered to',
  },
  {
    name: 'KVM_HC_SCHED_YIELD', nr: KVM_HC.SCHED_YIELD, source: HC_SRC,
    args: [{ name: 'apicid', type: 'u32', doc: 'destination APIC ID the caller waits on' }],
    doc: 'yields to the vCPU that is the target of an IPI the caller waits on (KVM_FEATURE_PV_SCHED_YIELD); returns 0',
  },
  {
    name: 'KVM_HC_MAP_GPA_RANGE', nr: KVM_HC.MAP_GPA_RANGE, source: HC_SRC,
    args: [
      { name: 'gpa', type: 'gpa', doc: 'start, page aligned' },
      { name: 'npages', type: 'u64', doc: 'number of 4 KiB pages' },
      { name: 'attrs', type: 'flags', doc: 'bits 3:0 page size, bit 4 encrypted, 63:5 MBZ (kvmMapGpaAttrs)' },
    ],
    doc: 'changes the encryption status of a GPA range; exits to userspace only if KVM_CAP_EXIT_HYPERCALL enables it, else -KVM_ENOSYS',
  },
];

const ERROR_DOCS: { readonly [K in KvmErrnoName]: string } = {
  ENOSYS: 'unknown or disabled hypercall',
  EFAULT: 'bad guest address',
  EINVAL: 'invalid argument',
  E2BIG: 'argument too large',
  EPERM: 'hypercall from CPL > 0',
  EOPNOTSUPP: 'not supported by the host (CLOCK_PAIRING without a TSC clocksource)',
};

export const KVM_ERROR_CODES: readonly ErrorCodeDef[] = Object.entries(KVM_ERRNO).map(([k, value]) => ({
  name: `KVM_${k}`, value, doc: ERROR_DOCS[k as KvmErrnoName], source: `linux/kvm_para.h KVM_${k}`,
}));

/** The KVM ABI as one object. */
export const kvmAbi: AbiDefinition = {
  name: 'kvm',
  title: 'KVM paravirtual interface (x86)',
  version: 'linux-libc-dev 6.1',
  cpuid: KVM_CPUID,
  features: KVM_FEATURES,
  conventions: [KVM_CONVENTION_X64, KVM_CONVENTION_X86],
  hypercalls: KVM_HYPERCALLS,
  errors: {
    encoding: 'neg-errno', codes: KVM_ERROR_CODES,
    unknownHypercall: 'KVM_ENOSYS', // x86.c: ret = -KVM_ENOSYS before switch (nr)
    cplNonZero: 'KVM_EPERM', // x86.c: if (cpl) { ret = -KVM_EPERM; goto out; }
  },
  msrs: KVM_MSRS,
  space: {
    trap: 'hypercall', selector: 'rax', mask: 0xffffffff, lo: 0, hi: 0x3ff,
    discriminator: 'none in the registers: KVM takes every VMCALL/VMMCALL the host did not route to Xen or Hyper-V emulation (x86.c kvm_emulate_hypercall)',
    source: 'KVM_HC_* are allocated sequentially from 1 (12 so far, linux/kvm_para.h); pvkit reserves 0..0x3ff for KVM growth. The mask is 32 bits because a 32-bit caller\'s nr is truncated (x86.c); a 64-bit caller\'s full RAX is compared, so numbers >= 2^32 are also unknown to KVM',
  },
  constants: [
    { name: 'KVM_CLOCK_PAIRING_WALLCLOCK', value: KVM_CLOCK_PAIRING_WALLCLOCK, doc: 'clock type for KVM_HC_CLOCK_PAIRING', source: 'asm/kvm_para.h' },
    ...Object.entries(KVM_X86_QUIRK).map(([k, v]) => ({ name: `KVM_X86_QUIRK_${k}`, value: v, doc: 'KVM_CAP_DISABLE_QUIRKS2 bit', source: 'asm/kvm.h' })),
    { name: 'KVM_CAP_DISABLE_QUIRKS2', value: KVM_CAP.DISABLE_QUIRKS2, doc: 'capability that disables quirks (e.g. FIX_HYPERCALL_INSN)', source: 'linux/kvm.h' },
    ...KVM_MSR_CONSTANTS,
  ],
  source: 'deb:linux-libc-dev 6.1 linux/kvm_para.h, asm/kvm_para.h; Documentation/virt/kvm/x86/{hypercalls,cpuid,msr}.rst',
};
