// Xen HVM/PVH guest ABI: __HYPERVISOR_* numbers, -errno results, CPUID leaves, the hypercall-page MSR and page,
// calling conventions. Sources: deb:libxen-dev 4.17 xen/xen.h, xen/errno.h, xen/arch-x86/{cpuid,xen,xen-x86_64,
// xen-x86_32}.h; xen-project/xen xen/arch/x86/{msr.c,hvm/hypercall.c,hvm/vmx/vmx.c,hvm/svm/svm.c} (ABI-FACTS §3).
import type {
  AbiDefinition, BitFieldDef, CallingConvention, CpuidLeafDef, CpuidModel, ErrorCodeDef, FeatureBitDef, HypercallDef, MsrDef,
} from './types.js';
import { AbiError } from './errors.js';
import { decodeFields, encodeFields } from './bitfield.js';
import { VMCALL_BYTES, VMMCALL_BYTES, kvmResult } from './kvm.js';

// ---- hypercall numbers ---------------------------------------------------------------------------------

/** __HYPERVISOR_<key> (xen/xen.h). */
export const XEN_HC = {
  set_trap_table: 0, // xen/xen.h __HYPERVISOR_set_trap_table
  mmu_update: 1, // xen/xen.h __HYPERVISOR_mmu_update
  set_gdt: 2, // xen/xen.h __HYPERVISOR_set_gdt
  stack_switch: 3, // xen/xen.h __HYPERVISOR_stack_switch
  set_callbacks: 4, // xen/xen.h __HYPERVISOR_set_callbacks
  fpu_taskswitch: 5, // xen/xen.h __HYPERVISOR_fpu_taskswitch
  sched_op_compat: 6, // xen/xen.h __HYPERVISOR_sched_op_compat
  platform_op: 7, // xen/xen.h __HYPERVISOR_platform_op (= dom0_op)
  set_debugreg: 8, // xen/xen.h __HYPERVISOR_set_debugreg
  get_debugreg: 9, // xen/xen.h __HYPERVISOR_get_debugreg
  update_descriptor: 10, // xen/xen.h __HYPERVISOR_update_descriptor (11 is unused)
  memory_op: 12, // xen/xen.h __HYPERVISOR_memory_op
  multicall: 13, // xen/xen.h __HYPERVISOR_multicall
  update_va_mapping: 14, // xen/xen.h __HYPERVISOR_update_va_mapping
  set_timer_op: 15, // xen/xen.h __HYPERVISOR_set_timer_op
  event_channel_op_compat: 16, // xen/xen.h __HYPERVISOR_event_channel_op_compat
  xen_version: 17, // xen/xen.h __HYPERVISOR_xen_version
  console_io: 18, // xen/xen.h __HYPERVISOR_console_io
  physdev_op_compat: 19, // xen/xen.h __HYPERVISOR_physdev_op_compat
  grant_table_op: 20, // xen/xen.h __HYPERVISOR_grant_table_op
  vm_assist: 21, // xen/xen.h __HYPERVISOR_vm_assist
  update_va_mapping_otherdomain: 22, // xen/xen.h __HYPERVISOR_update_va_mapping_otherdomain
  iret: 23, // xen/xen.h __HYPERVISOR_iret (x86 only; ud2 in the HVM hypercall page)
  vcpu_op: 24, // xen/xen.h __HYPERVISOR_vcpu_op
  set_segment_base: 25, // xen/xen.h __HYPERVISOR_set_segment_base (x86/64 only)
  mmuext_op: 26, // xen/xen.h __HYPERVISOR_mmuext_op
  xsm_op: 27, // xen/xen.h __HYPERVISOR_xsm_op
  nmi_op: 28, // xen/xen.h __HYPERVISOR_nmi_op
  sched_op: 29, // xen/xen.h __HYPERVISOR_sched_op
  callback_op: 30, // xen/xen.h __HYPERVISOR_callback_op
  xenoprof_op: 31, // xen/xen.h __HYPERVISOR_xenoprof_op
  event_channel_op: 32, // xen/xen.h __HYPERVISOR_event_channel_op
  physdev_op: 33, // xen/xen.h __HYPERVISOR_physdev_op
  hvm_op: 34, // xen/xen.h __HYPERVISOR_hvm_op
  sysctl: 35, // xen/xen.h __HYPERVISOR_sysctl
  domctl: 36, // xen/xen.h __HYPERVISOR_domctl
  kexec_op: 37, // xen/xen.h __HYPERVISOR_kexec_op
  tmem_op: 38, // xen/xen.h __HYPERVISOR_tmem_op
  argo_op: 39, // xen/xen.h __HYPERVISOR_argo_op
  xenpmu_op: 40, // xen/xen.h __HYPERVISOR_xenpmu_op
  dm_op: 41, // xen/xen.h __HYPERVISOR_dm_op
  hypfs_op: 42, // xen/xen.h __HYPERVISOR_hypfs_op
  arch_0: 48, // xen/xen.h __HYPERVISOR_arch_0 (x86: __HYPERVISOR_mca, arch-x86/xen-mca.h)
  arch_1: 49, // xen/xen.h __HYPERVISOR_arch_1
  arch_2: 50, // xen/xen.h __HYPERVISOR_arch_2
  arch_3: 51, // xen/xen.h __HYPERVISOR_arch_3
  arch_4: 52, // xen/xen.h __HYPERVISOR_arch_4
  arch_5: 53, // xen/xen.h __HYPERVISOR_arch_5
  arch_6: 54, // xen/xen.h __HYPERVISOR_arch_6
  arch_7: 55, // xen/xen.h __HYPERVISOR_arch_7
} as const;
export type XenHcName = keyof typeof XEN_HC;

// ---- sub-operations --------------------------------------------------------------------------------------

export const CONSOLEIO = { write: 0, read: 1 } as const; // xen/xen.h CONSOLEIO_write, CONSOLEIO_read
export const XENVER = { version: 0 } as const; // xen/version.h XENVER_version: returns major << 16 | minor
export const HVMOP = { set_param: 0, get_param: 1 } as const; // xen/hvm/hvm_op.h HVMOP_set_param, HVMOP_get_param
/** SCHEDOP_<key> (xen/sched.h). */
export const SCHEDOP = {
  yield: 0, // xen/sched.h SCHEDOP_yield
  block: 1, // xen/sched.h SCHEDOP_block
  shutdown: 2, // xen/sched.h SCHEDOP_shutdown
  poll: 3, // xen/sched.h SCHEDOP_poll
  remote_shutdown: 4, // xen/sched.h SCHEDOP_remote_shutdown
  shutdown_code: 5, // xen/sched.h SCHEDOP_shutdown_code
  watchdog: 6, // xen/sched.h SCHEDOP_watchdog
  pin_override: 7, // xen/sched.h SCHEDOP_pin_override
} as const;
/** xen/arch-x86/xen.h XEN_HVM_DEBUGCONS_IOPORT: bytes written here go to the Xen console. */
export const XEN_HVM_DEBUGCONS_IOPORT = 0xe9;

// ---- errors ----------------------------------------------------------------------------------------------

/**
 * XEN_<key> errno values (xen/errno.h, guest-visible ones: EINTR 4 and ERESTART 85 are `#ifdef __XEN__`
 * internal and never reach a guest; the aliases EWOULDBLOCK = EAGAIN and EDEADLOCK = EDEADLK are left out).
 */
export const XEN_ERRNO = {
  EPERM: 1, ENOENT: 2, ESRCH: 3, EIO: 5, ENXIO: 6, E2BIG: 7, ENOEXEC: 8, EBADF: 9, ECHILD: 10, EAGAIN: 11,
  ENOMEM: 12, EACCES: 13, EFAULT: 14, EBUSY: 16, EEXIST: 17, EXDEV: 18, ENODEV: 19, ENOTDIR: 20, EISDIR: 21,
  EINVAL: 22, ENFILE: 23, EMFILE: 24, ENOSPC: 28, EROFS: 30, EMLINK: 31, EDOM: 33, ERANGE: 34, EDEADLK: 35,
  ENAMETOOLONG: 36, ENOLCK: 37, ENOSYS: 38, ENOTEMPTY: 39, ENODATA: 61, ETIME: 62, EBADMSG: 74, EOVERFLOW: 75,
  EILSEQ: 84, ENOTSOCK: 88, EMSGSIZE: 90, EOPNOTSUPP: 95, EADDRINUSE: 98, EADDRNOTAVAIL: 99, ENOBUFS: 105,
  EISCONN: 106, ENOTCONN: 107, ETIMEDOUT: 110, ECONNREFUSED: 111,
} as const; // xen/errno.h XEN_ERRNO(name, value) list
export type XenErrnoName = keyof typeof XEN_ERRNO;

/** RAX/EAX for a signed Xen result (-errno or >= 0), two's complement at the caller's width. */
export function xenResult(ret: number | bigint, bits: 64 | 32): bigint {
  return kvmResult(ret, bits);
}
export function xenErrorResult(name: XenErrnoName, bits: 64 | 32): bigint {
  return kvmResult(-XEN_ERRNO[name], bits);
}

export const XEN_ERROR_CODES: readonly ErrorCodeDef[] = Object.entries(XEN_ERRNO).map(([k, value]) => ({
  name: `XEN_${k}`, value, doc: `-${k} in RAX`, source: `xen/errno.h XEN_ERRNO(${k}, ${value})`,
}));

// ---- CPUID -----------------------------------------------------------------------------------------------

export const XEN_CPUID_FIRST_LEAF = 0x40000000; // xen/arch-x86/cpuid.h XEN_CPUID_FIRST_LEAF
/** Base when Viridian (Hyper-V) leaves occupy 0x40000000..0x400000ff (arch-x86/cpuid.h comment). */
export const XEN_CPUID_BASE_VIRIDIAN = 0x40000100;
export const XEN_SIGNATURE = 'XenVMMXenVMM'; // arch-x86/cpuid.h XEN_CPUID_SIGNATURE_E[BCD]X
export const XEN_CPUID_SIGNATURE_EBX = 0x566e6558; // arch-x86/cpuid.h "XenV"
export const XEN_CPUID_SIGNATURE_ECX = 0x65584d4d; // arch-x86/cpuid.h "MMXe"
export const XEN_CPUID_SIGNATURE_EDX = 0x4d4d566e; // arch-x86/cpuid.h "nVMM"
export const XEN_CPUID_MAX_NUM_LEAVES = 5; // arch-x86/cpuid.h XEN_CPUID_MAX_NUM_LEAVES
/** Linux xen_cpuid_base() = hypervisor_cpuid_base("XenVMMXenVMM", 2) (asm/xen/hypervisor.h). */
export const XEN_MIN_LEAVES = 2;
/** Leaf base+2 EBX, the MSR block base (xen/arch/x86/cpuid.c; 0x40000200 with Viridian, whose MSRs sit at 0x40000000). */
export const XEN_MSR_BASE = 0x40000000;
export const XEN_MSR_BASE_VIRIDIAN = 0x40000200;
export const XEN_CPUID_FEAT1_MMU_PT_UPDATE_PRESERVE_AD = 1 << 0; // arch-x86/cpuid.h (leaf base+2 ECX, PV only)
export const XEN_CPUID_MACHINE_ADDRESS_WIDTH_MASK = 0xff; // arch-x86/cpuid.h (leaf base+5 EBX)

/** XEN_HVM_CPUID_<key> bit numbers in leaf base+4 EAX (arch-x86/cpuid.h). */
export const XEN_HVM_CPUID = {
  APIC_ACCESS_VIRT: 0, // arch-x86/cpuid.h XEN_HVM_CPUID_APIC_ACCESS_VIRT (1u << 0)
  X2APIC_VIRT: 1, // arch-x86/cpuid.h XEN_HVM_CPUID_X2APIC_VIRT
  IOMMU_MAPPINGS: 2, // arch-x86/cpuid.h XEN_HVM_CPUID_IOMMU_MAPPINGS
  VCPU_ID_PRESENT: 3, // arch-x86/cpuid.h XEN_HVM_CPUID_VCPU_ID_PRESENT (EBX = vcpu id)
  DOMID_PRESENT: 4, // arch-x86/cpuid.h XEN_HVM_CPUID_DOMID_PRESENT (ECX = domid)
  EXT_DEST_ID: 5, // arch-x86/cpuid.h XEN_HVM_CPUID_EXT_DEST_ID
  UPCALL_VECTOR: 6, // arch-x86/cpuid.h XEN_HVM_CPUID_UPCALL_VECTOR
} as const;

const HVM_DOCS: Record<keyof typeof XEN_HVM_CPUID, string> = {
  APIC_ACCESS_VIRT: 'virtualized APIC registers', X2APIC_VIRT: 'virtualized x2APIC accesses',
  IOMMU_MAPPINGS: 'memory mapped from other domains has valid IOMMU entries', VCPU_ID_PRESENT: 'EBX holds the vcpu id',
  DOMID_PRESENT: 'ECX holds the domain id', EXT_DEST_ID: 'MSI address bits 11:5 extend the destination ID',
  UPCALL_VECTOR: 'per-vCPU upcall vectors work with physical IRQs',
};

export const XEN_FEATURES: readonly FeatureBitDef[] = [
  {
    name: 'XEN_CPUID_FEAT1_MMU_PT_UPDATE_PRESERVE_AD', leaf: 2, reg: 'ecx', bit: 0,
    doc: 'MMU_PT_UPDATE_PRESERVE_AD supported (PV guests only)', source: 'xen/arch-x86/cpuid.h',
  },
  ...Object.entries(XEN_HVM_CPUID).map(([k, bit]): FeatureBitDef => ({
    name: `XEN_HVM_CPUID_${k}`, leaf: 4, reg: 'eax', bit, doc: HVM_DOCS[k as keyof typeof XEN_HVM_CPUID],
    source: `xen/arch-x86/cpuid.h XEN_HVM_CPUID_${k}`,
  })),
];

const CPUID_SRC = 'xen/arch-x86/cpuid.h; xen/arch/x86/cpuid.c cpuid_hypervisor_leaves';
export const XEN_CPUID_LEAVES: readonly CpuidLeafDef[] = [
  { offset: 0, name: 'signature', regs: { eax: 'base + leaf limit (default base+5; toolstack clamps the limit to 2..5)', ebx: '"XenV"', ecx: '"MMXe"', edx: '"nVMM"' }, source: CPUID_SRC },
  { offset: 1, name: 'version', regs: { eax: 'major << 16 | minor', ebx: '0', ecx: '0', edx: '0' }, source: CPUID_SRC },
  { offset: 2, name: 'hypercall page', regs: { eax: 'number of hypercall pages (1)', ebx: 'MSR base (0x40000000, 0x40000200 with Viridian)', ecx: 'features 1 (PRESERVE_AD, PV only)', edx: 'features 2 (0)' }, source: CPUID_SRC },
  { offset: 3, name: 'time', regs: { eax: 'sub-leaf 0: bit 0 vtsc, 1 TSC reliable, 2 RDTSCP', ebx: 'sub-leaf 0: tsc_mode', ecx: 'sub-leaf 0: guest TSC kHz', edx: 'sub-leaf 0: incarnation' }, source: CPUID_SRC },
  { offset: 4, name: 'HVM features', regs: { eax: 'XEN_HVM_CPUID_* bits', ebx: 'vcpu id if VCPU_ID_PRESENT', ecx: 'domid if DOMID_PRESENT', edx: '0' }, source: CPUID_SRC },
  { offset: 5, name: 'PV parameters', regs: { eax: 'max sub-leaf', ebx: 'bits 7:0 max machine address width', ecx: '0', edx: '0' }, source: CPUID_SRC },
];

export const XEN_CPUID: CpuidModel = {
  detection: 'scan', defaultBase: XEN_CPUID_FIRST_LEAF, signature: XEN_SIGNATURE, minLeaves: XEN_MIN_LEAVES,
  maxLeafOffset: XEN_CPUID_MAX_NUM_LEAVES, leaves: XEN_CPUID_LEAVES,
  source: 'xen/arch-x86/cpuid.h; Linux xen_cpuid_base(); base 0x40000100 when Viridian is enabled',
};

/**
 * EAX of leaf base+0: base + leaf limit. The toolstack clamps the limit to 2..XEN_CPUID_MAX_NUM_LEAVES
 * (xen/arch/x86/cpuid.c), default 5; leaves above the limit read as zero.
 */
export function xenSignatureEax(base: number = XEN_CPUID_FIRST_LEAF, limit: number = XEN_CPUID_MAX_NUM_LEAVES): number {
  if (!Number.isInteger(limit) || limit < XEN_MIN_LEAVES || limit > XEN_CPUID_MAX_NUM_LEAVES) {
    throw new AbiError([{ path: 'limit', value: limit, message: `Xen's leaf limit is ${XEN_MIN_LEAVES}..${XEN_CPUID_MAX_NUM_LEAVES}` }]);
  }
  return base + limit;
}

/** CPUID base and MSR block base Xen uses, depending on whether Viridian leaves are exposed. */
export function xenLayout(viridian: boolean): { cpuidBase: number; msrBase: number } {
  return viridian ? { cpuidBase: XEN_CPUID_BASE_VIRIDIAN, msrBase: XEN_MSR_BASE_VIRIDIAN } : { cpuidBase: XEN_CPUID_FIRST_LEAF, msrBase: XEN_MSR_BASE };
}

// ---- hypercall-page MSR ------------------------------------------------------------------------------------

/** Value written to MSR (leaf base+2 EBX) + 0: page GPA | page index (xen/arch/x86/msr.c guest_wrmsr_xen). */
export const XEN_HYPERCALL_MSR_LAYOUT: readonly BitFieldDef[] = [
  { name: 'page_index', lsb: 0, width: 12, kind: 'uint', doc: 'which hypercall page; only 0 exists, > 0 -> #GP' },
  { name: 'gpa', lsb: 12, width: 52, kind: 'gpa', doc: 'GPA of the page (gmfn = value >> 12); must be writable RAM' },
];
/** RDMSR of the hypercall MSR returns 0 (msr.c: "Write hypercall page MSR. Read as zero"). */
export const XEN_HYPERCALL_MSR_READ_VALUE = 0n;

export function encodeXenHypercallMsr(v: { gpa: bigint; pageIndex?: number }): bigint {
  return encodeFields(XEN_HYPERCALL_MSR_LAYOUT, { gpa: v.gpa, page_index: BigInt(v.pageIndex ?? 0) }, 'xen_hypercall_msr');
}

export type XenHypercallMsrWrite =
  | { readonly ok: true; readonly gmfn: bigint; readonly gpa: bigint }
  | { readonly ok: false; readonly fault: '#GP'; readonly why: string; readonly pageIndex: number };

/** What Xen does with a WRMSR value: the page frame to fill, or #GP for a page index > 0. */
export function decodeXenHypercallMsr(value: bigint): XenHypercallMsrWrite {
  if (value < 0n || value >> 64n) throw new AbiError([{ path: 'xen_hypercall_msr', value, message: 'not a 64-bit value' }]);
  const f = decodeFields(XEN_HYPERCALL_MSR_LAYOUT, value);
  const pageIndex = Number(f.page_index);
  if (pageIndex > 0) return { ok: false, fault: '#GP', why: `hypercall page index ${pageIndex} unsupported (only page 0 exists)`, pageIndex };
  return { ok: true, gmfn: value >> 12n, gpa: f.gpa as bigint };
}

export function xenHypercallMsr(viridian = false): MsrDef {
  return {
    name: 'XEN_MSR_HYPERCALL_PAGE', index: xenLayout(viridian).msrBase, access: 'rw', layout: XEN_HYPERCALL_MSR_LAYOUT,
    doc: 'write GPA | page index to have Xen fill the hypercall page; reads return 0; other offsets of the MSR block #GP',
    source: 'xen/arch/x86/msr.c guest_wrmsr_xen/guest_rdmsr_xen; index from CPUID leaf base+2 EBX',
  };
}

// ---- hypercall page --------------------------------------------------------------------------------------

export const XEN_HYPERCALL_PAGE_SIZE = 4096;
export const XEN_HYPERCALL_SLOT_SIZE = 32; // xen-x86_64.h: call hypercall_page + hypercall-number * 32
export const XEN_HYPERCALL_SLOTS = 128; // PAGE_SIZE / 32

/**
 * The page Xen writes (domain.c init_hypercall_page + vmx/svm_init_hypercall_page): 0xCC fill, then per slot i
 * `B8 i32 (mov eax, i); vmcall|vmmcall; C3 (ret)`; slot 23 (iret) holds `0F 0B` (ud2) instead when iretUd2
 * (Xen's behaviour, the default; KVM's Xen emulation writes the normal stub there).
 */
export function xenHypercallPage(insn: 'vmcall' | 'vmmcall', opts: { iretUd2?: boolean } = {}): Uint8Array {
  if (insn !== 'vmcall' && insn !== 'vmmcall') throw new AbiError([{ path: 'insn', value: insn, message: 'must be vmcall or vmmcall' }]);
  const ins = insn === 'vmcall' ? VMCALL_BYTES : VMMCALL_BYTES;
  const page = new Uint8Array(XEN_HYPERCALL_PAGE_SIZE).fill(0xcc);
  for (let i = 0; i < XEN_HYPERCALL_SLOTS; i++) {
    const o = i * XEN_HYPERCALL_SLOT_SIZE;
    if (i === XEN_HC.iret && (opts.iretUd2 ?? true)) {
      page.set([0x0f, 0x0b], o); // ud2: "HYPERVISOR_iret isn't supported"
      continue;
    }
    page.set([0xb8, i & 0xff, (i >> 8) & 0xff, 0, 0, ...ins, 0xc3], o);
  }
  return page;
}

// ---- calling conventions ---------------------------------------------------------------------------------

const SRC64 = 'xen/arch-x86/xen-x86_64.h "Hypercall interface"; hvm/hypercall.c hvm_hypercall';
const SRC32 = 'xen/arch-x86/xen-x86_32.h "Hypercall interface"; hvm/hypercall.c hvm_hypercall';
export const XEN_CONVENTION_X64: CallingConvention = {
  id: 'x64', bits: 64, trap: 'hypercall', number: 'rax', args: ['rdi', 'rsi', 'rdx', 'r10', 'r8'], results: ['rax'],
  clobbers: ['rdi', 'rsi', 'rdx', 'r10', 'r8'], source: SRC64,
};
export const XEN_CONVENTION_X86: CallingConvention = {
  id: 'x86', bits: 32, trap: 'hypercall', number: 'eax', args: ['ebx', 'ecx', 'edx', 'esi', 'edi'], results: ['eax'],
  clobbers: ['ebx', 'ecx', 'edx', 'esi', 'edi'], source: SRC32,
};
/** `call hypercall_page + nr * 32`: the slot loads EAX itself; `number` names the register the host sees. */
export const XEN_CONVENTION_HCPAGE_X64: CallingConvention = { ...XEN_CONVENTION_X64, id: 'hcpage-x64', trap: 'hcpage', source: `${SRC64}; call hypercall_page + nr*32 (needs a valid stack)` };
export const XEN_CONVENTION_HCPAGE_X86: CallingConvention = { ...XEN_CONVENTION_X86, id: 'hcpage-x86', trap: 'hcpage', source: `${SRC32}; call hypercall_page + nr*32 (needs a valid stack)` };

// ---- hypercalls as data ------------------------------------------------------------------------------------

const LNX = 'Linux arch/x86/include/asm/xen/hypercall.h HYPERVISOR_* prototypes; xen/xen.h';
const cmd = { name: 'cmd', type: 'u32' } as const;
const arg = (doc: string) => ({ name: 'arg', type: 'gva', doc } as const);
const hc = (name: XenHcName, args: HypercallDef['args'], doc: string, extra: Partial<HypercallDef> = {}): HypercallDef => ({
  name: `HYPERVISOR_${name}`, nr: XEN_HC[name], args, doc, source: LNX, ...extra,
});

/** Calls an HVM/PVH guest uses (PV-only calls such as mmu_update are in XEN_HC only). Pointers are guest virtual. */
export const XEN_HYPERCALLS: readonly HypercallDef[] = [
  hc('platform_op', [{ name: 'op', type: 'gva' }], 'platform operations (dom0)'),
  hc('memory_op', [cmd, arg('command structure')], 'memory reservation and mapping (xen/memory.h)'),
  hc('multicall', [{ name: 'call_list', type: 'gva' }, { name: 'nr_calls', type: 'u32' }], 'batch of hypercalls'),
  hc('set_timer_op', [{ name: 'timeout', type: 'u64', doc: 'absolute system time in ns' }], 'one-shot timer; 32-bit callers split the u64 over EBX:ECX, so only the 64-bit form is modelled', { bits: [64] }),
  hc('xen_version', [cmd, arg('output buffer or NULL')], 'XENVER_version (0) returns major << 16 | minor'),
  hc('console_io', [cmd, { name: 'count', type: 'u32' }, { name: 'buffer', type: 'gva' }], 'CONSOLEIO_write (0) / CONSOLEIO_read (1) on the Xen console'),
  hc('grant_table_op', [cmd, { name: 'uop', type: 'gva' }, { name: 'count', type: 'u32' }], 'grant table operations'),
  hc('vm_assist', [cmd, { name: 'type', type: 'u32' }], 'enable/disable VM assists'),
  hc('vcpu_op', [cmd, { name: 'vcpuid', type: 'u32' }, { name: 'extra_args', type: 'gva' }], 'per-vCPU operations'),
  hc('xsm_op', [{ name: 'op', type: 'gva' }], 'security module operations'),
  hc('sched_op', [cmd, arg('SCHEDOP_* argument')], 'SCHEDOP_yield/block/shutdown/poll ...'),
  hc('event_channel_op', [cmd, arg('EVTCHNOP_* argument')], 'event channels'),
  hc('physdev_op', [cmd, arg('PHYSDEVOP_* argument')], 'physical device operations'),
  hc('hvm_op', [{ name: 'op', type: 'u32' }, arg('HVMOP_* argument')], 'HVMOP_set_param (0) / HVMOP_get_param (1) ...'),
  hc('sysctl', [{ name: 'op', type: 'gva' }], 'system control (dom0)'),
  hc('domctl', [{ name: 'op', type: 'gva' }], 'domain control (dom0)'),
  hc('dm_op', [{ name: 'domid', type: 'u16' }, { name: 'nr_bufs', type: 'u32' }, { name: 'bufs', type: 'gva' }], 'device-model operations'),
];

/** The Xen HVM ABI as one object (CPUID base and MSR index without Viridian). */
export const xenAbi: AbiDefinition = {
  name: 'xen',
  title: 'Xen HVM/PVH guest interface (x86)',
  version: 'libxen-dev 4.17',
  cpuid: XEN_CPUID,
  features: XEN_FEATURES,
  conventions: [XEN_CONVENTION_X64, XEN_CONVENTION_X86, XEN_CONVENTION_HCPAGE_X64, XEN_CONVENTION_HCPAGE_X86],
  hypercalls: XEN_HYPERCALLS,
  errors: {
    encoding: 'neg-errno', codes: XEN_ERROR_CODES,
    unknownHypercall: 'XEN_ENOSYS', // hvm/hypercall.c: unknown nr -> -ENOSYS
    cplNonZero: 'XEN_EPERM', // hvm/hypercall.c: CPL != 0 (and VM86) -> -EPERM
  },
  msrs: [xenHypercallMsr(false)],
  space: {
    trap: 'hypercall', selector: 'rax', mask: 0xffffffff, lo: 0, hi: XEN_HYPERCALL_SLOTS - 1,
    discriminator: 'EAX bit 31 clear (set routes to Viridian when enabled, hvm/hypercall.c); otherwise none: the hypervisor is configured as Xen',
    source: '__HYPERVISOR_* 0..55 defined (xen/xen.h); the hypercall page has 128 slots of 32 bytes',
  },
  constants: [
    { name: 'XEN_HVM_DEBUGCONS_IOPORT', value: XEN_HVM_DEBUGCONS_IOPORT, doc: 'debug console port', source: 'xen/arch-x86/xen.h' },
    { name: 'XEN_CPUID_MAX_NUM_LEAVES', value: XEN_CPUID_MAX_NUM_LEAVES, doc: 'leaves above the base', source: 'xen/arch-x86/cpuid.h' },
    { name: 'XEN_CPUID_MACHINE_ADDRESS_WIDTH_MASK', value: XEN_CPUID_MACHINE_ADDRESS_WIDTH_MASK, doc: 'leaf base+5 EBX', source: 'xen/arch-x86/cpuid.h' },
    { name: 'XEN_MSR_BASE_VIRIDIAN', value: XEN_MSR_BASE_VIRIDIAN, doc: 'hypercall MSR with Viridian enabled', source: 'xen/arch/x86/cpuid.c' },
    { name: 'XEN_HYPERCALL_SLOT_SIZE', value: XEN_HYPERCALL_SLOT_SIZE, doc: 'bytes per hypercall page slot', source: 'xen/arch-x86/xen-x86_64.h' },
    { name: 'CONSOLEIO_write', value: CONSOLEIO.write, doc: 'console_io cmd', source: 'xen/xen.h' },
    { name: 'CONSOLEIO_read', value: CONSOLEIO.read, doc: 'console_io cmd', source: 'xen/xen.h' },
    { name: 'XENVER_version', value: XENVER.version, doc: 'xen_version cmd', source: 'xen/version.h' },
    { name: 'HVMOP_set_param', value: HVMOP.set_param, doc: 'hvm_op op', source: 'xen/hvm/hvm_op.h' },
    { name: 'HVMOP_get_param', value: HVMOP.get_param, doc: 'hvm_op op', source: 'xen/hvm/hvm_op.h' },
    ...Object.entries(SCHEDOP).map(([k, value]) => ({ name: `SCHEDOP_${k}`, value, doc: 'sched_op cmd', source: 'xen/sched.h' })),
  ],
  source: 'deb:libxen-dev 4.17 xen/xen.h, xen/errno.h, xen/arch-x86/cpuid.h, xen/arch-x86/xen-x86_{64,32}.h; xen-project/xen xen/arch/x86',
};
