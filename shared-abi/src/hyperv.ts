// Hyper-V (TLFS) guest interface as data: CPUID 0x40000000..0x40000006, feature bits, synthetic MSRs,
// HV_STATUS codes, call codes with their parameter blocks, conventions, hypercall page, alignment rules.
// Names follow Linux include/hyperv/hvgdk_mini.h (older: include/asm-generic/hyperv-tlfs.h,
// arch/x86/include/asm/hyperv-tlfs.h); semantics from the TLFS (MicrosoftDocs/Virtualization-Documentation
// virtualization/hyper-v-on-windows/tlfs/{hypercall-interface,feature-discovery}.md). ABI-FACTS §4.
import type {
  AbiDefinition, BitFieldDef, CallingConvention, CpuidLeafDef, CpuidModel, ErrorCodeDef, FeatureBitDef, HypercallDef, MsrDef,
} from './types.js';
import { AbiError } from './errors.js';
import { encodeFields } from './bitfield.js';
import { VMCALL_BYTES, VMMCALL_BYTES } from './kvm.js';
import { HV_HYPERCALL_RSVD_MASK, HV_STATUS } from './hyperv-words.js';

const HDR = 'include/hyperv/hvgdk_mini.h';
const TLFS = 'TLFS hypercall-interface.md';

// ---- CPUID ---------------------------------------------------------------------------------------------
export const HYPERV_CPUID_VENDOR_AND_MAX_FUNCTIONS = 0x40000000; // hvgdk_mini.h
export const HYPERV_CPUID_INTERFACE = 0x40000001; // hvgdk_mini.h
export const HYPERV_CPUID_VERSION = 0x40000002; // hvgdk_mini.h
export const HYPERV_CPUID_FEATURES = 0x40000003; // hvgdk_mini.h
export const HYPERV_CPUID_ENLIGHTMENT_INFO = 0x40000004; // hvgdk_mini.h
export const HYPERV_CPUID_IMPLEMENT_LIMITS = 0x40000005; // hvgdk_mini.h
export const HYPERV_CPUID_HARDWARE_FEATURES = 0x40000006; // TLFS feature-discovery "implementation hardware features" (no Linux macro seen)
export const HYPERV_CPUID_MIN = 0x40000005; // hvgdk_mini.h HYPERV_CPUID_MIN: ms_hyperv_platform() lower bound on EAX
export const HYPERV_CPUID_MAX = 0x4000ffff; // hvgdk_mini.h HYPERV_CPUID_MAX
export const HYPERV_SIGNATURE = 'Microsoft Hv'; // TLFS feature-discovery: EBX "Micr", ECX "osof", EDX "t Hv"
export const HV_CPUID_INTERFACE_HV1 = 0x31237648; // TLFS feature-discovery: leaf 0x40000001 EAX "Hv#1"

export const HYPERV_CPUID_LEAVES: readonly CpuidLeafDef[] = [
  { offset: 0, name: 'HYPERV_CPUID_VENDOR_AND_MAX_FUNCTIONS', regs: { eax: 'max leaf (>= 0x40000005)', ebx: '"Micr"', ecx: '"osof"', edx: '"t Hv"' }, source: 'TLFS feature-discovery' },
  { offset: 1, name: 'HYPERV_CPUID_INTERFACE', regs: { eax: 'interface signature "Hv#1" (0x31237648)', ebx: 'reserved', ecx: 'reserved', edx: 'reserved' }, source: 'TLFS feature-discovery' },
  { offset: 2, name: 'HYPERV_CPUID_VERSION', regs: { eax: 'build number', ebx: '31:16 major, 15:0 minor', ecx: 'service pack', edx: '31:24 service branch, 23:0 service number' }, source: 'TLFS feature-discovery' },
  { offset: 3, name: 'HYPERV_CPUID_FEATURES', regs: { eax: 'partition privilege mask 31:0 (group A)', ebx: 'partition privilege mask 63:32 (group B)', ecx: 'reserved', edx: 'feature flags (group D)' }, source: 'TLFS feature-discovery; hvgdk_mini.h' },
  { offset: 4, name: 'HYPERV_CPUID_ENLIGHTMENT_INFO', regs: { eax: 'implementation recommendations', ebx: 'spinlock retry count (0xFFFFFFFF = never notify)' }, source: 'TLFS feature-discovery' },
  { offset: 5, name: 'HYPERV_CPUID_IMPLEMENT_LIMITS', regs: { eax: 'max virtual processors', ebx: 'max logical processors', ecx: 'max interrupt vectors for remapping' }, source: 'TLFS feature-discovery' },
  { offset: 6, name: 'HYPERV_CPUID_HARDWARE_FEATURES', regs: { eax: 'hardware features in use by the hypervisor' }, source: 'TLFS feature-discovery' },
];

export const HYPERV_CPUID: CpuidModel = {
  detection: 'fixed', // ms_hyperv_platform() reads 0x40000000 only (arch/x86/kernel/cpu/mshyperv.c)
  defaultBase: HYPERV_CPUID_VENDOR_AND_MAX_FUNCTIONS,
  signature: HYPERV_SIGNATURE,
  minLeaves: HYPERV_CPUID_MIN - HYPERV_CPUID_VENDOR_AND_MAX_FUNCTIONS,
  maxLeafOffset: 6,
  leaves: HYPERV_CPUID_LEAVES,
  source: 'TLFS feature-discovery; arch/x86/kernel/cpu/mshyperv.c ms_hyperv_platform (HYPERV_CPUID_MIN <= EAX <= HYPERV_CPUID_MAX)',
};

type Bits = readonly (readonly [string, number, string])[];
const feat = (reg: 'eax' | 'ebx' | 'edx', bits: Bits, source: string): FeatureBitDef[] =>
  bits.map(([name, bit, doc]) => ({ name, leaf: 3, reg, bit, doc, source }));

/** CPUID 0x40000003: EAX/EBX = partition privilege mask (groups A/B), EDX = group D features. */
export const HYPERV_FEATURES: readonly FeatureBitDef[] = [
  ...feat('eax', [
    ['HV_MSR_VP_RUNTIME_AVAILABLE', 0, 'HV_X64_MSR_VP_RUNTIME'],
    ['HV_MSR_TIME_REF_COUNT_AVAILABLE', 1, 'partition reference counter'],
    ['HV_MSR_SYNIC_AVAILABLE', 2, 'basic SynIC MSRs'],
    ['HV_MSR_SYNTIMER_AVAILABLE', 3, 'synthetic timer MSRs'],
    ['HV_MSR_APIC_ACCESS_AVAILABLE', 4, 'APIC assist MSRs and VP assist page'],
    ['HV_MSR_HYPERCALL_AVAILABLE', 5, 'GUEST_OS_ID and HYPERCALL MSRs (no separate GUEST_OS_ID bit)'],
    ['HV_MSR_VP_INDEX_AVAILABLE', 6, 'HV_X64_MSR_VP_INDEX'],
    ['HV_MSR_RESET_AVAILABLE', 7, 'HV_X64_MSR_RESET'],
    ['HV_MSR_STAT_PAGES_AVAILABLE', 8, 'statistics page MSRs'],
    ['HV_MSR_REFERENCE_TSC_AVAILABLE', 9, 'HV_X64_MSR_REFERENCE_TSC'],
    ['HV_MSR_GUEST_IDLE_AVAILABLE', 10, 'HV_X64_MSR_GUEST_IDLE'],
    ['HV_ACCESS_FREQUENCY_MSRS', 11, 'TSC/APIC frequency MSRs'],
    ['HV_ACCESS_REENLIGHTENMENT', 13, 'reenlightenment controls'],
    ['HV_ACCESS_TSC_INVARIANT', 15, 'TSC invariant controls'],
  ], `${HDR} group A`),
  ...feat('ebx', [
    ['HV_CREATE_PARTITIONS', 0, 'privilege'], ['HV_ACCESS_PARTITION_ID', 1, 'HvCallGetPartitionId'],
    ['HV_ACCESS_MEMORY_POOL', 2, 'privilege'], ['HV_ADJUST_MESSAGE_BUFFERS', 3, 'privilege'],
    ['HV_POST_MESSAGES', 4, 'HvCallPostMessage'], ['HV_SIGNAL_EVENTS', 5, 'HvCallSignalEvent'],
    ['HV_CREATE_PORT', 6, 'privilege'], ['HV_CONNECT_PORT', 7, 'privilege'], ['HV_ACCESS_STATS', 8, 'privilege'],
    ['HV_DEBUGGING', 11, 'debug hypercalls 0x69..0x6b'], ['HV_CPU_MANAGEMENT', 12, 'privilege'],
    ['HV_ENABLE_EXTENDED_HYPERCALLS', 20, 'call codes >= 0x8000'], ['HV_ISOLATION', 22, 'isolated partition'],
  ], `${HDR} group B`),
  ...feat('edx', [
    ['HV_X64_MWAIT_AVAILABLE', 0, 'MWAIT'], ['HV_X64_GUEST_DEBUGGING_AVAILABLE', 1, 'guest debugging'],
    ['HV_X64_PERF_MONITOR_AVAILABLE', 2, 'performance monitor'], ['HV_X64_CPU_DYNAMIC_PARTITIONING_AVAILABLE', 3, 'dynamic partitioning events'],
    ['HV_X64_HYPERCALL_XMM_INPUT_AVAILABLE', 4, 'XMM fast hypercall input'], ['HV_X64_GUEST_IDLE_STATE_AVAILABLE', 5, 'guest idle state'],
    ['HV_FEATURE_FREQUENCY_MSRS_AVAILABLE', 8, 'frequency MSRs'], ['HV_FEATURE_GUEST_CRASH_MSR_AVAILABLE', 10, 'crash MSRs'],
    ['HV_FEATURE_DEBUG_MSRS_AVAILABLE', 11, 'debug MSRs'], ['HV_X64_HYPERCALL_XMM_OUTPUT_AVAILABLE', 15, 'XMM fast hypercall output'],
    ['HV_STIMER_DIRECT_MODE_AVAILABLE', 19, 'stimer direct mode'],
  ], 'arch/x86/include/asm/hyperv-tlfs.h group D'),
  { name: 'HV_X64_HYPERCALL_MSR_LOCK_AVAILABLE', leaf: 3, reg: 'edx', bit: 18, doc: 'HYPERCALL MSR bit 1 (Locked) is honoured', source: 'TLFS feature-discovery "HypercallMsrLockAvailable" (no Linux macro seen)' },
  ...([
    ['HV_X64_AS_SWITCH_RECOMMENDED', 0, 'hypercall for address-space switch'], ['HV_X64_LOCAL_TLB_FLUSH_RECOMMENDED', 1, 'hypercall for local flush'],
    ['HV_X64_REMOTE_TLB_FLUSH_RECOMMENDED', 2, 'HvCallFlushVirtualAddress* for remote flush'], ['HV_X64_APIC_ACCESS_RECOMMENDED', 3, 'APIC MSRs'],
    ['HV_X64_SYSTEM_RESET_RECOMMENDED', 4, 'reset MSR'], ['HV_X64_RELAXED_TIMING_RECOMMENDED', 5, 'relaxed timing'],
    ['HV_DEPRECATING_AEOI_RECOMMENDED', 9, 'avoid auto-EOI'], ['HV_X64_CLUSTER_IPI_RECOMMENDED', 10, 'HvCallSendSyntheticClusterIpi'],
    ['HV_X64_EX_PROCESSOR_MASKS_RECOMMENDED', 11, 'the _EX (hv_vpset) calls'], ['HV_X64_HYPERV_NESTED', 12, 'running nested'],
    ['HV_X64_ENLIGHTENED_VMCS_RECOMMENDED', 14, 'enlightened VMCS'],
    ['HV_X64_USE_MMIO_HYPERCALLS', 21, 'use HVCALL_MMIO_READ/WRITE for PCI config-space MMIO (pci-hyperv use_calls)'],
  ] as const).map(([name, bit, doc]): FeatureBitDef => ({ name, leaf: 4, reg: 'eax', bit, doc, source: 'arch/x86/include/asm/hyperv-tlfs.h HYPERV_CPUID_ENLIGHTMENT_INFO.EAX' })),
];

// ---- MSRs ----------------------------------------------------------------------------------------------
export const HV_X64_MSR = {
  GUEST_OS_ID: 0x40000000, HYPERCALL: 0x40000001, VP_INDEX: 0x40000002, RESET: 0x40000003,
  VP_RUNTIME: 0x40000010, TIME_REF_COUNT: 0x40000020, REFERENCE_TSC: 0x40000021, TSC_FREQUENCY: 0x40000022,
  APIC_FREQUENCY: 0x40000023, EOI: 0x40000070, ICR: 0x40000071, TPR: 0x40000072, VP_ASSIST_PAGE: 0x40000073,
  SCONTROL: 0x40000080, SVERSION: 0x40000081, SIEFP: 0x40000082, SIMP: 0x40000083, EOM: 0x40000084,
  SINT0: 0x40000090, SINT15: 0x4000009f, STIMER0_CONFIG: 0x400000b0, STIMER0_COUNT: 0x400000b1,
  STIMER3_CONFIG: 0x400000b6, STIMER3_COUNT: 0x400000b7, GUEST_IDLE: 0x400000f0,
  CRASH_P0: 0x40000100, CRASH_P4: 0x40000104, CRASH_CTL: 0x40000105,
} as const; // HV_X64_MSR_<key>, hvgdk_mini.h (ABI-FACTS §4.2)

export const HV_X64_MSR_HYPERCALL_ENABLE = 0x1n; // hvgdk_mini.h
export const HV_X64_MSR_HYPERCALL_PAGE_ADDRESS_SHIFT = 12; // hvgdk_mini.h
export const HV_X64_MSR_HYPERCALL_PAGE_ADDRESS_MASK = ~0xfffn & ((1n << 64n) - 1n); // hvgdk_mini.h ~0xfffULL

const f = (name: string, lsb: number, width: number, kind: BitFieldDef['kind'], doc: string): BitFieldDef => ({ name, lsb, width, kind, doc });
const whole = [f('value', 0, 64, 'uint', 'whole register')];
const pageMsr = (what: string): BitFieldDef[] => [
  f('enable', 0, 1, 'flag', `${what} enabled`), f('preserved', 1, 11, 'uint', 'RsvdP: write back what was read'), f('gpa', 12, 52, 'gpa', `GPA of the ${what} (4 KiB aligned)`),
];

/** HV_X64_MSR_HYPERCALL (TLFS "Establishing the Hypercall Interface"). */
export const HV_HYPERCALL_MSR_LAYOUT: readonly BitFieldDef[] = [
  f('enable', 0, 1, 'flag', 'hypercall page enabled (stays 0 while GUEST_OS_ID is 0)'),
  f('locked', 1, 1, 'flag', 'immutable until reset'),
  f('preserved', 2, 10, 'uint', 'RsvdP 11:2: ignore on read, preserve on write'),
  f('gpa', 12, 52, 'gpa', 'hypercall page GPA (GPFN in 63:12)'),
];
/** GUEST_OS_ID, open-source form (TLFS "Reporting the Guest OS Identity"; Linux HV_LINUX_VENDOR_ID 0x8100). */
export const HV_GUEST_OS_ID_OPEN_SOURCE_LAYOUT: readonly BitFieldDef[] = [
  f('build', 0, 16, 'uint', 'build number'), f('version', 16, 32, 'uint', 'version (Linux: kernel version)'),
  f('osId', 48, 8, 'uint', 'OS/distro id'), f('osType', 56, 7, 'uint', 'OS type: Linux 0x1, FreeBSD 0x2, Xen 0x3, Illumos 0x4'),
  f('openSource', 63, 1, 'flag', '1 = open source'),
];
/** GUEST_OS_ID, proprietary form (bit 63 = 0). */
export const HV_GUEST_OS_ID_PROPRIETARY_LAYOUT: readonly BitFieldDef[] = [
  f('build', 0, 16, 'uint', 'build number'), f('servicePack', 16, 8, 'uint', 'service pack'), f('minor', 24, 8, 'uint', 'minor version'),
  f('major', 32, 8, 'uint', 'major version'), f('osId', 40, 8, 'uint', 'OS id'), f('vendor', 48, 15, 'uint', 'vendor (Microsoft 0x0001)'),
  f('openSource', 63, 1, 'flag', '0 = proprietary'),
];
export const HV_OS_TYPE = { LINUX: 0x1, FREEBSD: 0x2, XEN: 0x3, ILLUMOS: 0x4 } as const; // TLFS guest OS identity, open-source OS types
export const HV_LINUX_VENDOR_ID = 0x8100; // hyperv-tlfs.h: bits 63:48 of a Linux guest id

export function encodeHvGuestOsIdOpenSource(v: { osType: number; osId?: number; version: number; build?: number }): bigint {
  return encodeFields(HV_GUEST_OS_ID_OPEN_SOURCE_LAYOUT, {
    openSource: true, osType: BigInt(v.osType), osId: BigInt(v.osId ?? 0), version: BigInt(v.version), build: BigInt(v.build ?? 0),
  }, 'HV_X64_MSR_GUEST_OS_ID');
}
export function encodeHvGuestOsIdProprietary(v: { vendor: number; osId: number; major: number; minor: number; servicePack?: number; build?: number }): bigint {
  return encodeFields(HV_GUEST_OS_ID_PROPRIETARY_LAYOUT, {
    openSource: false, vendor: BigInt(v.vendor), osId: BigInt(v.osId), major: BigInt(v.major), minor: BigInt(v.minor),
    servicePack: BigInt(v.servicePack ?? 0), build: BigInt(v.build ?? 0),
  }, 'HV_X64_MSR_GUEST_OS_ID');
}
/** HV_X64_MSR_HYPERCALL value for a page at `gpa` (4 KiB aligned). */
export function encodeHvHypercallMsr(v: { gpa: bigint; enable: boolean; locked?: boolean; preserved?: bigint }): bigint {
  return encodeFields(HV_HYPERCALL_MSR_LAYOUT, { gpa: v.gpa, enable: v.enable, locked: v.locked ?? false, preserved: v.preserved ?? 0n }, 'HV_X64_MSR_HYPERCALL');
}

const msr = (name: keyof typeof HV_X64_MSR, access: MsrDef['access'], layout: readonly BitFieldDef[], doc: string): MsrDef =>
  ({ name: `HV_X64_MSR_${name}`, index: HV_X64_MSR[name], access, layout, doc, source: `${HDR} HV_X64_MSR_${name}; TLFS` });

const idx = (name: string, index: number, layout: readonly BitFieldDef[], doc: string): MsrDef =>
  ({ name: `HV_X64_MSR_${name}`, index, access: 'rw', layout, doc, source: `${HDR} HV_REGISTER_${name} / HV_X64_MSR_${name}; TLFS` });
const SINT_LAYOUT = [
  f('vector', 0, 8, 'uint', 'interrupt vector (16..255)'), f('reserved1', 8, 8, 'reserved', ''), f('masked', 16, 1, 'flag', 'HV_SYNIC_SINT_MASKED'),
  f('autoEoi', 17, 1, 'flag', 'HV_SYNIC_SINT_AUTO_EOI'), f('polling', 18, 1, 'flag', 'polling'), f('reserved2', 19, 45, 'reserved', ''),
];
const STIMER_CONFIG_LAYOUT = [
  f('enable', 0, 1, 'flag', ''), f('periodic', 1, 1, 'flag', ''), f('lazy', 2, 1, 'flag', ''), f('autoEnable', 3, 1, 'flag', ''),
  f('apicVector', 4, 8, 'uint', ''), f('directMode', 12, 1, 'flag', ''), f('reservedZ0', 13, 3, 'reserved', ''),
  f('sintx', 16, 4, 'uint', 'SINT to notify'), f('reservedZ1', 20, 44, 'reserved', ''),
];

export const HYPERV_MSRS: readonly MsrDef[] = [
  msr('GUEST_OS_ID', 'rw', [f('id', 0, 63, 'uint', 'OS-specific fields (see the open-source and proprietary layouts)'), f('openSource', 63, 1, 'flag', 'selects the layout')], 'non-zero before the hypercall page can be enabled; writing 0 disables the page'),
  msr('HYPERCALL', 'rw', HV_HYPERCALL_MSR_LAYOUT, 'hypercall page overlay; partition-wide'),
  msr('VP_INDEX', 'ro', whole, 'virtual processor index'),
  msr('RESET', 'rw', [f('reset', 0, 1, 'flag', 'write 1 to reset the partition'), f('reserved', 1, 63, 'reserved', 'RsvdZ')], 'system reset'),
  msr('VP_RUNTIME', 'ro', whole, 'VP run time in 100 ns units'),
  msr('TIME_REF_COUNT', 'ro', whole, 'partition reference counter, 100 ns units'),
  msr('REFERENCE_TSC', 'rw', pageMsr('reference TSC page'), 'reference TSC page (hv_reference_tsc_msr)'),
  msr('TSC_FREQUENCY', 'ro', whole, 'TSC frequency in Hz'),
  msr('APIC_FREQUENCY', 'ro', whole, 'APIC timer frequency in Hz'),
  msr('EOI', 'wo', whole, 'APIC EOI'), msr('ICR', 'rw', whole, 'APIC ICR (64-bit)'), msr('TPR', 'rw', whole, 'APIC TPR'),
  msr('VP_ASSIST_PAGE', 'rw', pageMsr('VP assist page'), 'VP assist page'),
  msr('SCONTROL', 'rw', [f('enable', 0, 1, 'flag', 'SynIC enabled'), f('preserved', 1, 63, 'uint', 'RsvdP')], 'SynIC control'),
  msr('SVERSION', 'ro', whole, 'SynIC version (HV_SYNIC_VERSION_1)'),
  msr('SIEFP', 'rw', pageMsr('SynIC event flags page'), 'hv_synic_siefp'), msr('SIMP', 'rw', pageMsr('SynIC message page'), 'hv_synic_simp'),
  msr('EOM', 'wo', whole, 'end of message'),
  ...Array.from({ length: 16 }, (_, i) => idx(`SINT${i}`, HV_X64_MSR.SINT0 + i, SINT_LAYOUT, `synthetic interrupt source ${i} (hv_synic_sint)`)),
  ...Array.from({ length: 4 }, (_, i) => [
    idx(`STIMER${i}_CONFIG`, HV_X64_MSR.STIMER0_CONFIG + 2 * i, STIMER_CONFIG_LAYOUT, `synthetic timer ${i} config (hv_stimer_config)`),
    idx(`STIMER${i}_COUNT`, HV_X64_MSR.STIMER0_COUNT + 2 * i, whole, `synthetic timer ${i} expiration, 100 ns units`),
  ]).flat(),
  msr('GUEST_IDLE', 'ro', whole, 'reading enters guest idle'),
  ...Array.from({ length: 5 }, (_, i) => idx(`CRASH_P${i}`, HV_X64_MSR.CRASH_P0 + i, whole, `crash parameter ${i}`)),
  msr('CRASH_CTL', 'rw', [f('reserved', 0, 62, 'uint', ''), f('crashNotifyMsg', 62, 1, 'flag', 'HV_CRASH_CTL_CRASH_NOTIFY_MSG'), f('crashNotify', 63, 1, 'flag', 'HV_CRASH_CTL_CRASH_NOTIFY')], 'crash control'),
];

// ---- status codes (HV_STATUS itself is in hyperv-words.ts) ----------------------------------------

export const HYPERV_ERROR_CODES: readonly ErrorCodeDef[] = Object.entries(HV_STATUS).map(([k, value]) => ({
  name: `HV_STATUS_${k}`, value, doc: k.toLowerCase().replace(/_/g, ' '), source: `${HDR} HV_STATUS_${k}`,
}));

// ---- special ids ---------------------------------------------------------------------------------------
export const HV_PARTITION_ID_SELF = 0xffff_ffff_ffff_ffffn; // hvgdk_mini.h ((u64)-1)
export const HV_VP_INDEX_SELF = 0xffff_fffe; // hvgdk_mini.h ((u32)-2)
export const HV_ANY_VP = 0xffff_ffff; // hvgdk_mini.h ((u32)-1)
export const HV_HYPERCALL_MMIO_MAX_DATA_LENGTH = 64; // hvgdk_mini.h
export const HV_HYPERCALL_MAX_XMM_REGISTERS = 6; // hvgdk_mini.h (TLFS: XMM fast input up to 112 bytes)
export const HV_HYP_PAGE_SIZE = 4096; // hvgdk_mini.h HV_HYP_PAGE_SIZE

// ---- call codes and parameter blocks ------------------------------------------------------------------
export const HVCALL = {
  FLUSH_VIRTUAL_ADDRESS_SPACE: 0x0002, FLUSH_VIRTUAL_ADDRESS_LIST: 0x0003, NOTIFY_LONG_SPIN_WAIT: 0x0008, SEND_IPI: 0x000b,
  ENABLE_VP_VTL: 0x000f, FLUSH_VIRTUAL_ADDRESS_SPACE_EX: 0x0013, FLUSH_VIRTUAL_ADDRESS_LIST_EX: 0x0014, SEND_IPI_EX: 0x0015,
  GET_PARTITION_ID: 0x0046, GET_VP_REGISTERS: 0x0050, SET_VP_REGISTERS: 0x0051, TRANSLATE_VIRTUAL_ADDRESS: 0x0052,
  POST_MESSAGE: 0x005c, SIGNAL_EVENT: 0x005d, POST_DEBUG_DATA: 0x0069, RETRIEVE_DEBUG_DATA: 0x006a, RESET_DEBUG_SESSION: 0x006b,
  FLUSH_GUEST_PHYSICAL_ADDRESS_SPACE: 0x00af, FLUSH_GUEST_PHYSICAL_ADDRESS_LIST: 0x00b0, SIGNAL_EVENT_DIRECT: 0x00c0,
  POST_MESSAGE_DIRECT: 0x00c1, MMIO_READ: 0x0106, MMIO_WRITE: 0x0107,
} as const; // HVCALL_<key>, hvgdk_mini.h (ABI-FACTS §4.7)
export type HvCallName = keyof typeof HVCALL;
/** Codes >= 0x8000 are extended hypercalls (TLFS; need HV_ENABLE_EXTENDED_HYPERCALLS). */
export const HV_EXTENDED_HYPERCALL_BASE = 0x8000;

export interface HvStructField { readonly name: string; readonly offset: number; readonly size: number; readonly doc: string }
/** A hypercall parameter block in guest memory (little endian, packed). */
export interface HvStructDef { readonly name: string; readonly size: number; readonly fields: readonly HvStructField[]; readonly source: string }

const sf = (name: string, offset: number, size: number, doc: string): HvStructField => ({ name, offset, size, doc });
/** HvCallMemoryMappedIoRead input: struct hv_mmio_read_input (HV_INPUT_MEMORY_MAPPED_IO_READ). */
export const HV_MMIO_READ_INPUT: HvStructDef = {
  name: 'hv_mmio_read_input', size: 16, source: `${HDR} struct hv_mmio_read_input`,
  fields: [sf('gpa', 0, 8, 'GPA of the device register'), sf('size', 8, 4, 'access size in bytes (Linux pci-hyperv uses 1, 2, 4; at most HV_HYPERCALL_MMIO_MAX_DATA_LENGTH)'), sf('reserved', 12, 4, 'RsvdZ')],
};
/** HvCallMemoryMappedIoRead output: struct hv_mmio_read_output; the value is in data[0..size). */
export const HV_MMIO_READ_OUTPUT: HvStructDef = {
  name: 'hv_mmio_read_output', size: 64, source: `${HDR} struct hv_mmio_read_output`,
  fields: [sf('data', 0, HV_HYPERCALL_MMIO_MAX_DATA_LENGTH, 'read data, little endian, first `size` bytes valid')],
};
/** HvCallMemoryMappedIoWrite input: struct hv_mmio_write_input (newer hvgdk_mini.h declares data[] flexible; 80 = with a full data block). */
export const HV_MMIO_WRITE_INPUT: HvStructDef = {
  name: 'hv_mmio_write_input', size: 80, source: `${HDR} struct hv_mmio_write_input`,
  fields: [sf('gpa', 0, 8, 'GPA of the device register'), sf('size', 8, 4, 'access size in bytes'), sf('reserved', 12, 4, 'RsvdZ'), sf('data', 16, HV_HYPERCALL_MMIO_MAX_DATA_LENGTH, 'data to write, first `size` bytes used')],
};
/** HvCallSendSyntheticClusterIpi input: struct hv_send_ipi (16 bytes, so it fits a fast call). */
export const HV_SEND_IPI_INPUT: HvStructDef = {
  name: 'hv_send_ipi', size: 16, source: `${HDR} struct hv_send_ipi`,
  fields: [sf('vector', 0, 4, 'interrupt vector'), sf('reserved', 4, 4, 'RsvdZ'), sf('cpu_mask', 8, 8, 'VP indices 0..63')],
};
/** HvCallFlushVirtualAddressSpace/List input header: struct hv_tlb_flush; the List form appends one u64 GVA range per rep. */
export const HV_TLB_FLUSH_INPUT: HvStructDef = {
  name: 'hv_tlb_flush', size: 24, source: 'arch/x86/include/asm/hyperv-tlfs.h / hvgdk_mini.h struct hv_tlb_flush',
  fields: [sf('address_space', 0, 8, 'CR3 of the address space'), sf('flags', 8, 8, 'HV_FLUSH_* flags'), sf('processor_mask', 16, 8, 'VP indices 0..63')],
};
/** HvCallSignalEvent input: struct hv_input_signal_event (8 bytes: a fast call with one input qword). */
export const HV_SIGNAL_EVENT_INPUT: HvStructDef = {
  name: 'hv_input_signal_event', size: 8, source: `${HDR} struct hv_input_signal_event`,
  fields: [sf('connectionid', 0, 4, 'connection id (24 bits used)'), sf('flag_number', 4, 2, 'event flag number'), sf('rsvdz', 6, 2, 'RsvdZ')],
};
/** HvCallPostMessage input: struct hv_input_post_message (240-byte payload, HV_MESSAGE_PAYLOAD_BYTE_COUNT). */
export const HV_POST_MESSAGE_INPUT: HvStructDef = {
  name: 'hv_input_post_message', size: 256, source: `${HDR} struct hv_input_post_message`,
  fields: [sf('connectionid', 0, 4, 'connection id'), sf('reserved', 4, 4, 'RsvdZ'), sf('message_type', 8, 4, 'message type'), sf('payload_size', 12, 4, 'bytes used in payload'), sf('payload', 16, 240, 'message payload')],
};
/** HvCallGetPartitionId output. */
export const HV_GET_PARTITION_ID_OUTPUT: HvStructDef = {
  name: 'hv_output_get_partition_id', size: 8, source: `${HDR} struct hv_output_get_partition_id`, fields: [sf('partition_id', 0, 8, 'partition id')],
};

/** A Hyper-V call: HypercallDef plus what the control word and the memory blocks must look like. */
export interface HvHypercallDef extends HypercallDef {
  /** Takes a variable-size header (varHeaderQwords may be non-zero): the _EX calls carrying an hv_vpset. */
  readonly varHeader?: boolean;
  readonly input?: HvStructDef;
  readonly output?: HvStructDef;
}

const MEM_ARGS = [
  { name: 'input', type: 'gpa' as const, doc: 'GPA of the input block (fast: first input qword)' },
  { name: 'output', type: 'gpa' as const, doc: 'GPA of the output block (fast: second input qword)' },
];
const SLOW = ['x64', 'x86'];
type CallOpts = Partial<Pick<HvHypercallDef, 'rep' | 'fast' | 'varHeader' | 'input' | 'output'>>;
const call = (name: HvCallName, doc: string, o: CallOpts = {}): HvHypercallDef => ({
  name: `HVCALL_${name}`, nr: HVCALL[name], args: MEM_ARGS, doc, source: `${HDR} HVCALL_${name}; ${TLFS}`,
  conventions: o.fast ? undefined : SLOW, ...o,
});

export const HYPERV_HYPERCALLS: readonly HvHypercallDef[] = [
  call('FLUSH_VIRTUAL_ADDRESS_SPACE', 'flush all GVAs of an address space on a VP set', { input: HV_TLB_FLUSH_INPUT }),
  call('FLUSH_VIRTUAL_ADDRESS_LIST', 'flush a list of GVA ranges (one u64 per rep)', { rep: true, input: HV_TLB_FLUSH_INPUT }),
  call('NOTIFY_LONG_SPIN_WAIT', 'a VP has spun for the recommended retry count (input: u64 spin count)', { fast: true }),
  call('SEND_IPI', 'HvCallSendSyntheticClusterIpi', { fast: true, input: HV_SEND_IPI_INPUT }),
  call('ENABLE_VP_VTL', 'enable a VTL on a VP'),
  call('FLUSH_VIRTUAL_ADDRESS_SPACE_EX', 'flush with an hv_vpset processor set', { varHeader: true }),
  call('FLUSH_VIRTUAL_ADDRESS_LIST_EX', 'flush a GVA list with an hv_vpset processor set', { rep: true, varHeader: true }),
  call('SEND_IPI_EX', 'IPI to an hv_vpset processor set', { varHeader: true }),
  call('GET_PARTITION_ID', 'returns the caller\'s partition id', { output: HV_GET_PARTITION_ID_OUTPUT }),
  call('GET_VP_REGISTERS', 'read VP registers (one name per rep)', { rep: true }),
  call('SET_VP_REGISTERS', 'write VP registers (one name/value per rep)', { rep: true }),
  call('TRANSLATE_VIRTUAL_ADDRESS', 'translate a GVA'),
  call('POST_MESSAGE', 'post a SynIC message to a connection', { input: HV_POST_MESSAGE_INPUT }),
  call('SIGNAL_EVENT', 'signal a SynIC event flag', { fast: true, input: HV_SIGNAL_EVENT_INPUT }),
  call('POST_DEBUG_DATA', 'SynDBG: post debug data'),
  call('RETRIEVE_DEBUG_DATA', 'SynDBG: retrieve debug data'),
  call('RESET_DEBUG_SESSION', 'SynDBG: reset the debug session'),
  call('FLUSH_GUEST_PHYSICAL_ADDRESS_SPACE', 'flush L2 GPA mappings (nested)', { fast: true }),
  call('FLUSH_GUEST_PHYSICAL_ADDRESS_LIST', 'flush L2 GPA ranges (nested; one hv_gpa_page_range per rep)', { rep: true }),
  call('SIGNAL_EVENT_DIRECT', 'signal an event to a specific VP/SINT'),
  call('POST_MESSAGE_DIRECT', 'post a message to a specific VP/SINT'),
  call('MMIO_READ', 'HvCallMemoryMappedIoRead: read `size` bytes of device MMIO at `gpa` (output data[64])', { input: HV_MMIO_READ_INPUT, output: HV_MMIO_READ_OUTPUT }),
  call('MMIO_WRITE', 'HvCallMemoryMappedIoWrite: write `size` bytes to device MMIO at `gpa`', { input: HV_MMIO_WRITE_INPUT }),
];

// ---- calling conventions (TLFS "Hypercall Inputs" register mapping; ABI-FACTS §4.4) -----------------
const CONV_SRC = `${TLFS} register mapping; KVM arch/x86/kvm/hyperv.c kvm_hv_hypercall`;
/** x64: control RCX, input GPA RDX, output GPA R8, result RAX; a rep call updates RCX (new start index). */
export const HYPERV_CONVENTION_X64: CallingConvention = {
  id: 'x64', bits: 64, trap: 'hcpage', number: 'rcx', args: ['rdx', 'r8'], results: ['rax'], clobbers: ['rcx'], source: CONV_SRC,
};
/** x86: control EDX:EAX, input GPA EBX:ECX, output GPA EDI:ESI, result EDX:EAX. */
export const HYPERV_CONVENTION_X86: CallingConvention = {
  id: 'x86', bits: 32, trap: 'hcpage', number: { hi: 'edx', lo: 'eax' },
  args: [{ hi: 'ebx', lo: 'ecx' }, { hi: 'edi', lo: 'esi' }], results: [{ hi: 'edx', lo: 'eax' }], clobbers: [], source: CONV_SRC,
};
/** Fast (bit 16): the two input qwords travel in the GPA registers. */
export const HYPERV_CONVENTION_X64_FAST: CallingConvention = { ...HYPERV_CONVENTION_X64, id: 'x64-fast', source: `${CONV_SRC}; TLFS "Register Mapping for Fast Hypercalls"` };
export const HYPERV_CONVENTION_X86_FAST: CallingConvention = { ...HYPERV_CONVENTION_X86, id: 'x86-fast', source: `${CONV_SRC}; TLFS "Register Mapping for Fast Hypercalls"` };

// ---- hypercall page (TLFS "Establishing the Hypercall Interface"; ABI-FACTS §3.3, §4.2) ---------------
/** `or eax, 0x80000000`: Xen (viridian.c enable_hypercall_page) and KVM with Xen hypercalls enabled prefix it. */
export const HV_XEN_VIRIDIAN_PREFIX: readonly number[] = Object.freeze([0x0d, 0x00, 0x00, 0x00, 0x80]);
const RET = 0xc3;

/** The bytes written at offset 0: [0D 00 00 00 80] vmcall|vmmcall C3 (KVM hyperv.c writes exactly these). */
export function hypervHypercallStub(insn: 'vmcall' | 'vmmcall', opts: { xenViridian?: boolean } = {}): Uint8Array {
  if (insn !== 'vmcall' && insn !== 'vmmcall') throw new AbiError([{ path: 'insn', value: insn, message: 'must be vmcall or vmmcall' }]);
  const bytes = [...(opts.xenViridian ? HV_XEN_VIRIDIAN_PREFIX : []), ...(insn === 'vmcall' ? VMCALL_BYTES : VMMCALL_BYTES), RET];
  return Uint8Array.from(bytes);
}

/**
 * The whole 4 KiB page: the stub, then `fill` (default 0xCC int3, as Xen's viridian page does; KVM leaves
 * the rest of the guest page untouched, so a KVM-like host writes only `hypervHypercallStub`).
 */
export function hypervHypercallPage(insn: 'vmcall' | 'vmmcall', opts: { xenViridian?: boolean; fill?: number } = {}): Uint8Array {
  const fill = opts.fill ?? 0xcc;
  if (!Number.isInteger(fill) || fill < 0 || fill > 0xff) throw new AbiError([{ path: 'fill', value: fill, message: 'fill must be a byte 0..0xff' }]);
  const page = new Uint8Array(HV_HYP_PAGE_SIZE).fill(fill);
  page.set(hypervHypercallStub(insn, opts), 0);
  return page;
}

// ---- parameter-block alignment (TLFS "Alignment Requirements"; ABI-FACTS §4.5) ------------------------
export const HV_PARAM_ALIGNMENT = {
  gpaAlign: 8, sizeMultiple: 8, pageSize: HV_HYP_PAGE_SIZE, mayCrossPage: false, mayOverlap: false,
  violation: 'HV_STATUS_INVALID_ALIGNMENT',
  source: 'TLFS hypercall-interface.md "Alignment Requirements": 8-byte aligned GPAs, no page crossing, input/output must not overlap',
} as const;

/** HV_STATUS for a memory-based call's blocks: SUCCESS, or INVALID_ALIGNMENT for any rule broken. */
export function checkHvParamBlocks(input?: { gpa: bigint; size: number }, output?: { gpa: bigint; size: number }): { status: number; reason: string } {
  const page = BigInt(HV_PARAM_ALIGNMENT.pageSize);
  for (const [name, b] of [['input', input], ['output', output]] as const) {
    if (!b || b.size === 0) continue;
    if (b.gpa % BigInt(HV_PARAM_ALIGNMENT.gpaAlign) !== 0n) return { status: HV_STATUS.INVALID_ALIGNMENT, reason: `${name} GPA 0x${b.gpa.toString(16)} not 8-byte aligned` };
    if (b.gpa / page !== (b.gpa + BigInt(b.size) - 1n) / page) return { status: HV_STATUS.INVALID_ALIGNMENT, reason: `${name} block crosses a page boundary` };
  }
  if (input && output && input.size > 0 && output.size > 0) {
    const overlap = input.gpa < output.gpa + BigInt(output.size) && output.gpa < input.gpa + BigInt(input.size);
    if (overlap) return { status: HV_STATUS.INVALID_ALIGNMENT, reason: 'input and output blocks overlap' };
  }
  return { status: HV_STATUS.SUCCESS, reason: 'ok' };
}

// ---- the ABI -------------------------------------------------------------------------------------------
export const hypervAbi: AbiDefinition = {
  name: 'hyperv',
  title: 'Microsoft Hyper-V hypervisor interface (TLFS), x86',
  version: 'TLFS 6.0 / Linux hvgdk_mini.h',
  cpuid: HYPERV_CPUID,
  features: HYPERV_FEATURES,
  conventions: [HYPERV_CONVENTION_X64, HYPERV_CONVENTION_X86, HYPERV_CONVENTION_X64_FAST, HYPERV_CONVENTION_X86_FAST],
  hypercalls: HYPERV_HYPERCALLS,
  errors: {
    encoding: 'hv-status', codes: HYPERV_ERROR_CODES,
    unknownHypercall: 'HV_STATUS_INVALID_HYPERCALL_CODE', // TLFS; KVM hyperv.c default case
    cplNonZero: '#UD', // TLFS: only CPL 0 protected mode; KVM hyperv.c queues UD_VECTOR
  },
  msrs: HYPERV_MSRS,
  space: {
    trap: 'hypercall', selector: 'rcx', mask: 0xffff, lo: 0x0000, hi: 0xffff,
    discriminator: 'control word in RCX (x64), not RAX; a 32-bit caller puts it in EDX:EAX, so the call code sits in EAX[15:0] where KVM/Xen numbers live. KVM sends every VMCALL to Hyper-V emulation once HV_X64_MSR_HYPERCALL is enabled; Xen uses EAX bit 31 (set by the viridian page prefix). EAX values with any of bits 31:27 set are not valid control words (RsvdZ), which excludes the VMware magic 0x564D5868 and pvio 0x5056xxxx',
    source: 'TLFS "Hypercall Inputs": 16-bit call code, codes >= 0x8000 extended; KVM x86.c kvm_emulate_hypercall -> kvm_hv_hypercall when kvm_hv_hypercall_enabled()',
  },
  constants: [
    { name: 'HV_PARTITION_ID_SELF', value: HV_PARTITION_ID_SELF, doc: 'the caller\'s partition', source: `${HDR} ((u64)-1)` },
    { name: 'HV_VP_INDEX_SELF', value: HV_VP_INDEX_SELF, doc: 'the calling VP', source: `${HDR} ((u32)-2)` },
    { name: 'HV_ANY_VP', value: HV_ANY_VP, doc: 'any VP', source: `${HDR} ((u32)-1)` },
    { name: 'HYPERV_CPUID_MIN', value: HYPERV_CPUID_MIN, doc: 'lowest max-leaf a guest accepts', source: HDR },
    { name: 'HYPERV_CPUID_MAX', value: HYPERV_CPUID_MAX, doc: 'highest max-leaf a guest accepts', source: HDR },
    { name: 'HV_CPUID_INTERFACE_HV1', value: HV_CPUID_INTERFACE_HV1, doc: 'leaf 0x40000001 EAX "Hv#1"', source: 'TLFS feature-discovery' },
    { name: 'HV_HYPERCALL_MMIO_MAX_DATA_LENGTH', value: HV_HYPERCALL_MMIO_MAX_DATA_LENGTH, doc: 'MMIO read/write data block', source: HDR },
    { name: 'HV_HYPERCALL_MAX_XMM_REGISTERS', value: HV_HYPERCALL_MAX_XMM_REGISTERS, doc: 'XMM fast-call registers', source: HDR },
    { name: 'HV_HYPERCALL_RSVD_MASK', value: HV_HYPERCALL_RSVD_MASK, doc: 'RsvdZ bits of the control word', source: HDR },
    { name: 'HV_LINUX_VENDOR_ID', value: HV_LINUX_VENDOR_ID, doc: 'GUEST_OS_ID bits 63:48 for Linux', source: 'hyperv-tlfs.h' },
    { name: 'HV_HYP_PAGE_SIZE', value: HV_HYP_PAGE_SIZE, doc: 'hypercall page and parameter-page size', source: HDR },
  ],
  source: 'TLFS (MicrosoftDocs/Virtualization-Documentation tlfs/*.md); torvalds/linux include/hyperv/hvgdk_mini.h; ABI-FACTS §4',
};
