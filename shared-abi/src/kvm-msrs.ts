// KVM paravirtual MSRs, their value layouts, the guest-memory structures they point at, and the
// KVM_HC_MAP_GPA_RANGE attribute codec. Sources: deb:linux-libc-dev 6.1 asm/kvm_para.h;
// torvalds/linux Documentation/virt/kvm/x86/msr.rst, arch/x86/kvm/x86.c kvm_set_msr_common (ABI-FACTS §1.5).
import type { BitFieldDef, MsrDef } from './types.js';
import { AbiError, type Problem } from './errors.js';
import { decodeFields, encodeFields, reservedBits } from './bitfield.js';

/** MSR_KVM_<key> indices (asm/kvm_para.h). Custom range 0x4b564d00-0x4b564dff. */
export const MSR_KVM = {
  WALL_CLOCK: 0x11, // asm/kvm_para.h MSR_KVM_WALL_CLOCK (deprecated, KVM_FEATURE_CLOCKSOURCE)
  SYSTEM_TIME: 0x12, // asm/kvm_para.h MSR_KVM_SYSTEM_TIME (deprecated)
  WALL_CLOCK_NEW: 0x4b564d00, // asm/kvm_para.h MSR_KVM_WALL_CLOCK_NEW
  SYSTEM_TIME_NEW: 0x4b564d01, // asm/kvm_para.h MSR_KVM_SYSTEM_TIME_NEW
  ASYNC_PF_EN: 0x4b564d02, // asm/kvm_para.h MSR_KVM_ASYNC_PF_EN
  STEAL_TIME: 0x4b564d03, // asm/kvm_para.h MSR_KVM_STEAL_TIME
  PV_EOI_EN: 0x4b564d04, // asm/kvm_para.h MSR_KVM_PV_EOI_EN
  POLL_CONTROL: 0x4b564d05, // asm/kvm_para.h MSR_KVM_POLL_CONTROL
  ASYNC_PF_INT: 0x4b564d06, // asm/kvm_para.h MSR_KVM_ASYNC_PF_INT
  ASYNC_PF_ACK: 0x4b564d07, // asm/kvm_para.h MSR_KVM_ASYNC_PF_ACK
  MIGRATION_CONTROL: 0x4b564d08, // asm/kvm_para.h MSR_KVM_MIGRATION_CONTROL
} as const;
export type KvmMsrName = keyof typeof MSR_KVM;

/** asm/kvm_para.h KVM_MSR_ENABLED: bit 0 of the MSRs that carry an enable bit. */
export const KVM_MSR_ENABLED = 1;

const flag = (name: string, lsb: number, doc: string): BitFieldDef => ({ name, lsb, width: 1, kind: 'flag', doc });
const rsvd = (name: string, lsb: number, width: number, doc: string): BitFieldDef => ({ name, lsb, width, kind: 'reserved', doc });
const gpa = (lsb: number, doc: string): BitFieldDef => ({ name: 'gpa', lsb, width: 64 - lsb, kind: 'gpa', doc });

/** Value layouts, one per MSR (msr.rst "data:" paragraphs; reserved = undefined by msr.rst / asm/kvm_para.h, must be zero). */
export const KVM_MSR_LAYOUTS: { readonly [K in KvmMsrName]: readonly BitFieldDef[] } = {
  WALL_CLOCK: [gpa(2, '4-byte aligned GPA of struct pvclock_wall_clock; filled once per write')],
  SYSTEM_TIME: [
    flag('enable', 0, 'KVM_MSR_ENABLED: bit 0 turns the per-vCPU clock on'),
    rsvd('rsvd1', 1, 1, 'address bit 1: msr.rst requires 4-byte alignment (KVM itself uses data & ~1)'),
    gpa(2, '4-byte aligned GPA of struct pvclock_vcpu_time_info'),
  ],
  WALL_CLOCK_NEW: [gpa(2, '4-byte aligned GPA of struct pvclock_wall_clock; filled once per write, no enable bit')],
  SYSTEM_TIME_NEW: [
    flag('enable', 0, 'KVM_MSR_ENABLED'),
    rsvd('rsvd1', 1, 1, 'address bit 1: msr.rst requires 4-byte alignment (KVM itself uses data & ~1)'),
    gpa(2, '4-byte aligned GPA of struct pvclock_vcpu_time_info (32 bytes)'),
  ],
  ASYNC_PF_EN: [
    flag('enabled', 0, 'KVM_ASYNC_PF_ENABLED'),
    flag('send_always', 1, 'KVM_ASYNC_PF_SEND_ALWAYS: also while the guest runs at CPL 0'),
    flag('delivery_as_pf_vmexit', 2, 'KVM_ASYNC_PF_DELIVERY_AS_PF_VMEXIT'),
    flag('delivery_as_int', 3, 'KVM_ASYNC_PF_DELIVERY_AS_INT: "page ready" via MSR_KVM_ASYNC_PF_INT vector'),
    rsvd('rsvd', 4, 2, 'reserved, must be zero (msr.rst MSR_KVM_ASYNC_PF_EN)'),
    gpa(6, '64-byte aligned GPA of struct kvm_vcpu_pv_apf_data'),
  ],
  STEAL_TIME: [
    flag('enable', 0, 'KVM_MSR_ENABLED'),
    rsvd('rsvd', 1, 5, 'KVM_STEAL_RESERVED_MASK 0x3e: set -> #GP'),
    gpa(6, '64-byte aligned GPA of struct kvm_steal_time (KVM_STEAL_VALID_BITS = -1ULL << 6)'),
  ],
  PV_EOI_EN: [
    flag('enable', 0, 'KVM_MSR_ENABLED'),
    rsvd('rsvd1', 1, 1, 'address must be 4-byte aligned (lapic.c kvm_lapic_set_pv_eoi)'),
    gpa(2, 'GPA of the 4-byte PV EOI flag word (bit KVM_PV_EOI_BIT)'),
  ],
  POLL_CONTROL: [
    flag('host_poll', 0, '1 = host halt-polling allowed (default), 0 = guest polls itself'),
    rsvd('rsvd', 1, 63, 'not defined by msr.rst'),
  ],
  ASYNC_PF_INT: [
    { name: 'vector', lsb: 0, width: 8, kind: 'uint', doc: 'KVM_ASYNC_PF_VEC_MASK GENMASK(7,0): interrupt vector for "page ready"' },
    rsvd('rsvd', 8, 56, 'only bits 7:0 are defined (msr.rst MSR_KVM_ASYNC_PF_INT)'),
  ],
  ASYNC_PF_ACK: [flag('ack', 0, 'write 1: the guest consumed the "page ready" token')],
  MIGRATION_CONTROL: [
    flag('ready', 0, 'KVM_MIGRATION_READY: guest supports live migration of encrypted memory'),
    rsvd('rsvd', 1, 63, 'only KVM_MIGRATION_READY is defined (msr.rst)'),
  ],
};

const MSR_DOCS: { readonly [K in KvmMsrName]: string } = {
  WALL_CLOCK: 'old index of MSR_KVM_WALL_CLOCK_NEW (KVM_FEATURE_CLOCKSOURCE)',
  SYSTEM_TIME: 'old index of MSR_KVM_SYSTEM_TIME_NEW (KVM_FEATURE_CLOCKSOURCE)',
  WALL_CLOCK_NEW: 'wall clock at boot, written to pvclock_wall_clock (KVM_FEATURE_CLOCKSOURCE2)',
  SYSTEM_TIME_NEW: 'per-vCPU pvclock_vcpu_time_info (KVM_FEATURE_CLOCKSOURCE2)',
  ASYNC_PF_EN: 'async page fault area and delivery mode (KVM_FEATURE_ASYNC_PF)',
  STEAL_TIME: 'per-vCPU kvm_steal_time area (KVM_FEATURE_STEAL_TIME)',
  PV_EOI_EN: 'PV end-of-interrupt flag word (KVM_FEATURE_PV_EOI)',
  POLL_CONTROL: 'host-side halt polling switch (KVM_FEATURE_POLL_CONTROL)',
  ASYNC_PF_INT: 'vector for "page ready" notifications (KVM_FEATURE_ASYNC_PF_INT)',
  ASYNC_PF_ACK: 'acknowledge a "page ready" notification (KVM_FEATURE_ASYNC_PF_INT)',
  MIGRATION_CONTROL: 'guest says it is ready to be migrated (KVM_FEATURE_MIGRATION_CONTROL)',
};

export const KVM_MSRS: readonly MsrDef[] = (Object.keys(MSR_KVM) as KvmMsrName[]).map((k) => ({
  name: `MSR_KVM_${k}`,
  index: MSR_KVM[k],
  access: k === 'ASYNC_PF_ACK' ? 'wo' : 'rw',
  layout: KVM_MSR_LAYOUTS[k],
  doc: MSR_DOCS[k],
  source: `asm/kvm_para.h MSR_KVM_${k}; Documentation/virt/kvm/x86/msr.rst`,
}));

/** Encodes a KVM MSR value from named fields (gpa as the full address); alignment and reserved bits checked. */
export function encodeKvmMsr(msr: KvmMsrName, values: Record<string, bigint | boolean>): bigint {
  return encodeFields(KVM_MSR_LAYOUTS[msr], values, `MSR_KVM_${msr}`);
}

/** Decodes a KVM MSR value; with `strict`, set reserved bits are an AbiError. */
export function decodeKvmMsr(msr: KvmMsrName, value: bigint, strict = false): Record<string, bigint | boolean> {
  const r = reservedBits(KVM_MSR_LAYOUTS[msr], value);
  if (strict && r !== 0n) {
    throw new AbiError([{ path: `MSR_KVM_${msr}`, value, message: `reserved bits set (0x${r.toString(16)})` }]);
  }
  return decodeFields(KVM_MSR_LAYOUTS[msr], value);
}

// ---- guest-memory structures ---------------------------------------------------------------------------

export interface StructField {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  /** C type (u32, s8, u8[3] ...). */
  readonly type: string;
}
export interface StructLayout {
  readonly name: string;
  readonly size: number;
  readonly fields: readonly StructField[];
  readonly source: string;
}

const fieldsOf = (spec: readonly [string, number, string][]): StructField[] => {
  let off = 0;
  return spec.map(([name, size, type]) => {
    const f = { name, offset: off, size, type };
    off += size;
    return f;
  });
};

/** struct pvclock_vcpu_time_info (32 B), written by the host at the MSR_KVM_SYSTEM_TIME_NEW address. */
export const PVCLOCK_VCPU_TIME_INFO: StructLayout = {
  name: 'pvclock_vcpu_time_info', size: 32,
  fields: fieldsOf([['version', 4, 'u32'], ['pad0', 4, 'u32'], ['tsc_timestamp', 8, 'u64'], ['system_time', 8, 'u64'],
    ['tsc_to_system_mul', 4, 'u32'], ['tsc_shift', 1, 's8'], ['flags', 1, 'u8'], ['pad', 2, 'u8[2]']]),
  source: 'Documentation/virt/kvm/x86/msr.rst MSR_KVM_SYSTEM_TIME_NEW; arch/x86/include/asm/pvclock-abi.h',
};
/** struct pvclock_wall_clock (12 B, packed), written at the MSR_KVM_WALL_CLOCK_NEW address. */
export const PVCLOCK_WALL_CLOCK: StructLayout = {
  name: 'pvclock_wall_clock', size: 12,
  fields: fieldsOf([['version', 4, 'u32'], ['sec', 4, 'u32'], ['nsec', 4, 'u32']]),
  source: 'msr.rst MSR_KVM_WALL_CLOCK_NEW; arch/x86/include/asm/pvclock-abi.h',
};
/** struct kvm_steal_time (64 B). */
export const KVM_STEAL_TIME_STRUCT: StructLayout = {
  name: 'kvm_steal_time', size: 64,
  fields: fieldsOf([['steal', 8, 'u64'], ['version', 4, 'u32'], ['flags', 4, 'u32'], ['preempted', 1, 'u8'],
    ['u8_pad', 3, 'u8[3]'], ['pad', 44, 'u32[11]']]),
  source: 'asm/kvm_para.h struct kvm_steal_time',
};
/** struct kvm_clock_pairing (64 B), written by KVM_HC_CLOCK_PAIRING. */
export const KVM_CLOCK_PAIRING_STRUCT: StructLayout = {
  name: 'kvm_clock_pairing', size: 64,
  fields: fieldsOf([['sec', 8, 's64'], ['nsec', 8, 's64'], ['tsc', 8, 'u64'], ['flags', 4, 'u32'], ['pad', 36, 'u32[9]']]),
  source: 'asm/kvm_para.h struct kvm_clock_pairing',
};
/** struct kvm_vcpu_pv_apf_data (68 B), at the MSR_KVM_ASYNC_PF_EN address. */
export const KVM_VCPU_PV_APF_DATA: StructLayout = {
  name: 'kvm_vcpu_pv_apf_data', size: 68,
  fields: fieldsOf([['flags', 4, 'u32'], ['token', 4, 'u32'], ['pad', 56, 'u8[56]'], ['enabled', 4, 'u32']]),
  source: 'asm/kvm_para.h struct kvm_vcpu_pv_apf_data',
};
export const KVM_GUEST_STRUCTS: readonly StructLayout[] = [
  PVCLOCK_VCPU_TIME_INFO, PVCLOCK_WALL_CLOCK, KVM_STEAL_TIME_STRUCT, KVM_CLOCK_PAIRING_STRUCT, KVM_VCPU_PV_APF_DATA,
];

/** pvclock_vcpu_time_info.flags bits (arch/x86/include/asm/pvclock-abi.h). */
export const PVCLOCK_FLAGS = {
  TSC_STABLE_BIT: 1 << 0, // pvclock-abi.h PVCLOCK_TSC_STABLE_BIT
  GUEST_STOPPED: 1 << 1, // pvclock-abi.h PVCLOCK_GUEST_STOPPED
} as const;

/** kvm_steal_time.preempted bits (asm/kvm_para.h). */
export const KVM_VCPU_PREEMPTED = 1 << 0; // asm/kvm_para.h KVM_VCPU_PREEMPTED
export const KVM_VCPU_FLUSH_TLB = 1 << 1; // asm/kvm_para.h KVM_VCPU_FLUSH_TLB
export const KVM_PV_EOI_BIT = 0; // asm/kvm_para.h KVM_PV_EOI_BIT
export const KVM_PV_REASON_PAGE_NOT_PRESENT = 1; // asm/kvm_para.h
export const KVM_PV_REASON_PAGE_READY = 2; // asm/kvm_para.h
export const KVM_MIGRATION_READY = 1 << 0; // asm/kvm_para.h

/**
 * Nanoseconds of a pvclock reading (msr.rst): t = tsc - tsc_timestamp; t <<= shift (or >>= -shift);
 * ns = system_time + ((t * tsc_to_system_mul) >> 32). All u64 arithmetic, wrapping like the C code.
 */
export function pvclockNs(info: { tscTimestamp: bigint; systemTime: bigint; tscToSystemMul: number; tscShift: number }, tsc: bigint): bigint {
  const m64 = (1n << 64n) - 1n;
  let t = (tsc - info.tscTimestamp) & m64;
  t = info.tscShift >= 0 ? (t << BigInt(info.tscShift)) & m64 : t >> BigInt(-info.tscShift);
  return (info.systemTime + ((t * BigInt(info.tscToSystemMul >>> 0)) >> 32n)) & m64;
}

// ---- KVM_HC_MAP_GPA_RANGE attributes --------------------------------------------------------------------

/** asm/kvm_para.h KVM_MAP_GPA_RANGE_*; bits 3:0 page size, bit 4 encryption status, 63:5 MBZ (hypercalls.rst). */
export const KVM_MAP_GPA_RANGE = {
  PAGE_SZ_4K: 0, // asm/kvm_para.h KVM_MAP_GPA_RANGE_PAGE_SZ_4K
  PAGE_SZ_2M: 1 << 0, // asm/kvm_para.h KVM_MAP_GPA_RANGE_PAGE_SZ_2M
  PAGE_SZ_1G: 1 << 1, // asm/kvm_para.h KVM_MAP_GPA_RANGE_PAGE_SZ_1G
  ENCRYPTED: 1 << 4, // asm/kvm_para.h KVM_MAP_GPA_RANGE_ENCRYPTED = ENC_STAT(1)
  DECRYPTED: 0, // asm/kvm_para.h KVM_MAP_GPA_RANGE_DECRYPTED = ENC_STAT(0)
} as const;

export const KVM_MAP_GPA_RANGE_ATTRS: readonly BitFieldDef[] = [
  { name: 'page_size', lsb: 0, width: 4, kind: 'uint', doc: '0 = 4K, 1 = 2M, 2 = 1G' },
  flag('encrypted', 4, '1 = encrypted (private), 0 = decrypted (shared)'),
  rsvd('mbz', 5, 59, 'must be zero'),
];

export type MapGpaPageSize = '4K' | '2M' | '1G';
const PAGE_SIZES: readonly MapGpaPageSize[] = ['4K', '2M', '1G'];

export function encodeMapGpaAttrs(a: { pageSize: MapGpaPageSize; encrypted: boolean }): bigint {
  const i = PAGE_SIZES.indexOf(a.pageSize);
  if (i < 0) throw new AbiError([{ path: 'attrs.pageSize', value: a.pageSize, message: 'must be 4K, 2M or 1G' }]);
  return encodeFields(KVM_MAP_GPA_RANGE_ATTRS, { page_size: BigInt(i), encrypted: a.encrypted }, 'attrs');
}

/** Decodes the a2 argument; MBZ bits or an unknown page size are an AbiError (the host answers -KVM_EINVAL). */
export function decodeMapGpaAttrs(v: bigint): { pageSize: MapGpaPageSize; encrypted: boolean } {
  const problems: Problem[] = [];
  const f = decodeFields(KVM_MAP_GPA_RANGE_ATTRS, v);
  if (v < 0n || v >> 64n) problems.push({ path: 'attrs', value: v, message: 'not a 64-bit value' });
  if (f.mbz !== 0n) problems.push({ path: 'attrs.mbz', value: v, message: 'bits 63:5 must be zero' });
  const ps = PAGE_SIZES[Number(f.page_size)];
  if (ps === undefined) problems.push({ path: 'attrs.page_size', value: f.page_size, message: 'page size must be 0 (4K), 1 (2M) or 2 (1G)' });
  if (problems.length || ps === undefined) throw new AbiError(problems);
  return { pageSize: ps, encrypted: f.encrypted === true };
}

/** Constants for the C header generator (names as in asm/kvm_para.h). */
export const KVM_MSR_CONSTANTS: readonly { name: string; value: number; doc: string; source: string }[] = [
  { name: 'KVM_MSR_ENABLED', value: KVM_MSR_ENABLED, doc: 'enable bit of SYSTEM_TIME/STEAL_TIME/PV_EOI MSRs', source: 'asm/kvm_para.h' },
  { name: 'KVM_VCPU_PREEMPTED', value: KVM_VCPU_PREEMPTED, doc: 'kvm_steal_time.preempted bit', source: 'asm/kvm_para.h' },
  { name: 'KVM_VCPU_FLUSH_TLB', value: KVM_VCPU_FLUSH_TLB, doc: 'kvm_steal_time.preempted bit', source: 'asm/kvm_para.h' },
  { name: 'KVM_PV_EOI_BIT', value: KVM_PV_EOI_BIT, doc: 'bit of the PV EOI flag word', source: 'asm/kvm_para.h' },
  { name: 'KVM_PV_REASON_PAGE_NOT_PRESENT', value: KVM_PV_REASON_PAGE_NOT_PRESENT, doc: 'async PF reason', source: 'asm/kvm_para.h' },
  { name: 'KVM_PV_REASON_PAGE_READY', value: KVM_PV_REASON_PAGE_READY, doc: 'async PF reason', source: 'asm/kvm_para.h' },
  { name: 'KVM_MIGRATION_READY', value: KVM_MIGRATION_READY, doc: 'MSR_KVM_MIGRATION_CONTROL bit 0', source: 'asm/kvm_para.h' },
  ...Object.entries(KVM_MAP_GPA_RANGE).map(([k, value]) => ({ name: `KVM_MAP_GPA_RANGE_${k}`, value, doc: 'KVM_HC_MAP_GPA_RANGE attrs', source: 'asm/kvm_para.h' })),
  { name: 'PVCLOCK_TSC_STABLE_BIT', value: PVCLOCK_FLAGS.TSC_STABLE_BIT, doc: 'pvclock flags', source: 'asm/pvclock-abi.h' },
  { name: 'PVCLOCK_GUEST_STOPPED', value: PVCLOCK_FLAGS.GUEST_STOPPED, doc: 'pvclock flags', source: 'asm/pvclock-abi.h' },
];
