// pvio: pvkit's own paravirtual I/O ABI (version 1.0). Designed here, specified in shared-abi/README.md
// ("pvio specification"); every value below is defined by that spec. The reasons cite ABI-FACTS.md.
// THE RULE: each pvio operation has a plain MMIO or port-I/O equivalent with the same device-visible
// effect (pvioPlainEquivalent in pvio-codec.ts), so a guest may always fall back and a host may always
// withdraw a feature.
import type { AbiDefinition, BitFieldDef, CallingConvention, CpuidLeafDef, ErrorCodeDef, FeatureBitDef, HypercallDef, MsrDef } from './types.js';
import { AbiError } from './errors.js';
import { HYPERVISOR_CPUID_SCAN } from './cpuid.js';
import { VMCALL_BYTES, VMMCALL_BYTES } from './kvm.js';

const SPEC = 'pvio spec v1.0 (shared-abi/README.md)';

// ---- CPUID ---------------------------------------------------------------------------------------------
/** Default base: coexists with KVM or Hyper-V at 0x40000000 (ABI-FACTS §2); use 0x40000200 when KVM sits at 0x40000100. */
export const PVIO_DEFAULT_BASE = 0x40000100; // spec §1
export const PVIO_SIGNATURE = 'PvkitPvioABI'; // spec §1: EBX "Pvki", ECX "tPvi", EDX "oABI"
export const PVIO_VERSION_MAJOR = 1; // spec §1 leaf base+1 EBX 31:16
export const PVIO_VERSION_MINOR = 0; // spec §1 leaf base+1 EBX 15:0
export const PVIO_LEAF = { SIGNATURE: 0, FEATURES: 1, INFO: 2 } as const; // spec §1 offsets from base
export const PVIO_MAX_LEAF_OFFSET = 2; // spec §1: leaf base+0 EAX = base + 2

/** Feature bits in leaf base+1 EAX (spec §2). A clear bit means: do not use, take the plain path. */
export const PVIO_FEATURE = {
  MMIO_HCALL: 0, // PVIO_HC_MMIO works
  PIO_HCALL: 1, // PVIO_HC_PIO works
  DOORBELL: 2, // PVIO_HC_DOORBELL_* work; leaf base+2 EBX = max doorbells
  HCPAGE: 3, // hypercall-page MSR (index in leaf base+2 EAX) works
  ANY_INSN: 4, // host accepts VMCALL and VMMCALL on any vendor: no #UD patching needed (ABI-FACTS §1.3)
} as const;
export type PvioFeatureName = keyof typeof PVIO_FEATURE;

export const PVIO_FEATURES: readonly FeatureBitDef[] = ([
  ['MMIO_HCALL', 'MMIO hypercall available'],
  ['PIO_HCALL', 'port-I/O hypercall available'],
  ['DOORBELL', 'doorbell registration and ring available'],
  ['HCPAGE', 'hypercall page MSR available'],
  ['ANY_INSN', 'both VMCALL and VMMCALL accepted regardless of CPU vendor'],
] as const).map(([k, doc]) => ({ name: `PVIO_FEATURE_${k}`, leaf: PVIO_LEAF.FEATURES, reg: 'eax' as const, bit: PVIO_FEATURE[k], doc, source: `${SPEC} §2` }));

export const PVIO_CPUID_LEAVES: readonly CpuidLeafDef[] = [
  { offset: 0, name: 'PVIO_CPUID_SIGNATURE', regs: { eax: 'max leaf = base + 2', ebx: '"Pvki"', ecx: '"tPvi"', edx: '"oABI"' }, source: `${SPEC} §1` },
  { offset: 1, name: 'PVIO_CPUID_FEATURES', regs: { eax: 'feature bits (PVIO_FEATURE_*)', ebx: 'version: 31:16 major, 15:0 minor', ecx: '0 (reserved)', edx: '0 (reserved)' }, source: `${SPEC} §1` },
  { offset: 2, name: 'PVIO_CPUID_INFO', regs: { eax: 'hypercall-page MSR index (0 unless HCPAGE)', ebx: 'max doorbells (0 unless DOORBELL)', ecx: 'guest-physical address bits accepted by PVIO_HC_MMIO (<= 52)', edx: '0 (reserved)' }, source: `${SPEC} §1` },
];

// ---- hypercalls ----------------------------------------------------------------------------------------
/**
 * Numbers live at 0x5056_0000.. ("PV"): far from KVM (RAX 0..0x3ff), Xen (0..55), the VMware magic
 * 0x564D5868 and Xen's Viridian bit 31, so one host can answer all of them (ABI-FACTS §1.2, §3.3, §5).
 */
export const PVIO_HC_FIRST = 0x50560000; // spec §3: range start (reserved, never a call)
export const PVIO_HC_LAST = 0x505600ff; // spec §3: range end
export const PVIO_HC = {
  MMIO: 0x50560001, // spec §4.1
  PIO: 0x50560002, // spec §4.2
  DOORBELL_REGISTER: 0x50560003, // spec §4.3
  DOORBELL_RING: 0x50560004, // spec §4.3
  DOORBELL_UNREGISTER: 0x50560005, // spec §4.3
} as const;
export type PvioHcName = keyof typeof PVIO_HC;
/** Which feature bit gates each call (spec §2): a clear bit makes the host answer -PVIO_ENOSYS. */
export const PVIO_HC_FEATURE: { readonly [K in PvioHcName]: PvioFeatureName } = {
  MMIO: 'MMIO_HCALL', PIO: 'PIO_HCALL', DOORBELL_REGISTER: 'DOORBELL', DOORBELL_RING: 'DOORBELL', DOORBELL_UNREGISTER: 'DOORBELL',
};

/** Status codes, returned negated in RAX/EAX like KVM (spec §5; values are Linux errno numbers). */
export const PVIO_STATUS = {
  OK: 0, // success
  EPERM: 1, // CPL > 0, or not in protected/long mode
  ENOENT: 2, // unknown doorbell id
  EFAULT: 14, // address is guest RAM/ROM, not a device: use an ordinary load/store
  EINVAL: 22, // malformed descriptor or data (reserved bits, size, alignment, range)
  ENOSPC: 28, // doorbell table full
  ENOSYS: 38, // unknown number in the pvio range, or the call's feature bit is clear
} as const;
export type PvioStatusName = keyof typeof PVIO_STATUS;

/** The plain operation each call stands for (spec §6): the data form is pvioPlainEquivalent() in pvio-codec.ts. */
export const PVIO_PLAIN_EQUIVALENT: { readonly [K in PvioHcName]: string } = {
  MMIO: 'one load (read) or store (write) of exactly `size` bytes at `address`, UC, not split or merged',
  PIO: 'one IN (read) or OUT (write) of exactly `size` bytes at port `address` (in al/ax/eax, dx; out dx, al/ax/eax)',
  DOORBELL_REGISTER: 'none: registration touches no device',
  DOORBELL_RING: 'the store / OUT described by the registered descriptor, with `data`',
  DOORBELL_UNREGISTER: 'none: unregistration touches no device',
};

// ---- access descriptor (spec §4.0) ---------------------------------------------------------------------
export const PVIO_DESC_ADDRESS_BITS = 52; // spec §4.0: 51:0 (x86 MAXPHYADDR limit)
export const PVIO_DESC_LAYOUT: readonly BitFieldDef[] = [
  { name: 'address', lsb: 0, width: 52, kind: 'uint', doc: 'MMIO: guest-physical address; PIO: port in 15:0, 51:16 zero' },
  { name: 'sizeLog2', lsb: 52, width: 2, kind: 'uint', doc: 'access size = 1 << sizeLog2 (1, 2, 4, 8; PIO: 1, 2, 4)' },
  { name: 'write', lsb: 54, width: 1, kind: 'flag', doc: '1 = write (guest to device), 0 = read' },
  { name: 'pio', lsb: 55, width: 1, kind: 'flag', doc: '1 = port I/O space, 0 = MMIO space; must match the call' },
  { name: 'reserved', lsb: 56, width: 8, kind: 'reserved', doc: 'must be zero (room for later versions)' },
];

// ---- hypercall page MSR (spec §7) ----------------------------------------------------------------------
/** Default index; the host may move it and says where in leaf base+2 EAX (Xen moves its MSR too, ABI-FACTS §3.1). */
export const PVIO_MSR_HCPAGE_DEFAULT = 0x50564900; // spec §7 ("PVI" 00), outside KVM 0x4b564dxx and Hyper-V 0x400000xx
export const PVIO_HCPAGE_MSR_LAYOUT: readonly BitFieldDef[] = [
  { name: 'enable', lsb: 0, width: 1, kind: 'flag', doc: '1 = host writes the page now (and after every migration)' },
  { name: 'reserved', lsb: 1, width: 11, kind: 'reserved', doc: 'must be zero, else #GP' },
  { name: 'gpa', lsb: 12, width: 52, kind: 'gpa', doc: 'guest RAM page to hold the stub' },
];

/** Page contents: vmcall|vmmcall, C3 (ret), then 0xCC; the guest sets RAX etc. and `call`s offset 0 (spec §7). */
export function pvioHypercallPage(insn: 'vmcall' | 'vmmcall'): Uint8Array {
  if (insn !== 'vmcall' && insn !== 'vmmcall') throw new AbiError([{ path: 'insn', value: insn, message: 'must be vmcall or vmmcall' }]);
  const page = new Uint8Array(4096).fill(0xcc);
  page.set([...(insn === 'vmcall' ? VMCALL_BYTES : VMMCALL_BYTES), 0xc3], 0);
  return page;
}

// ---- calling conventions (spec §3) ---------------------------------------------------------------------
const CONV = `${SPEC} §3 (KVM register order, ABI-FACTS §1.2)`;
/** x64: RAX nr; RBX descriptor/id; RCX data in (write) and out (read); RAX status. Nothing else changes. */
export const PVIO_CONVENTION_X64: CallingConvention = {
  id: 'x64', bits: 64, trap: 'hypercall', number: 'rax', args: ['rbx', 'rcx'], results: ['rax', 'rcx'], clobbers: [], source: CONV,
};
/** x86: EAX nr; ECX:EBX descriptor/id; ESI:EDX data; EAX status (32-bit -errno). */
export const PVIO_CONVENTION_X86: CallingConvention = {
  id: 'x86', bits: 32, trap: 'hypercall', number: 'eax', args: [{ hi: 'ecx', lo: 'ebx' }, { hi: 'esi', lo: 'edx' }],
  results: ['eax', { hi: 'esi', lo: 'edx' }], clobbers: [], source: CONV,
};
/** The same registers, entered by `call` to the hypercall page. */
export const PVIO_CONVENTION_X64_HCPAGE: CallingConvention = { ...PVIO_CONVENTION_X64, id: 'x64-hcpage', trap: 'hcpage' };
export const PVIO_CONVENTION_X86_HCPAGE: CallingConvention = { ...PVIO_CONVENTION_X86, id: 'x86-hcpage', trap: 'hcpage' };

const desc = { name: 'desc', type: 'u64' as const, doc: 'access descriptor (spec §4.0)' };
const data = { name: 'data', type: 'u64' as const, doc: 'write: value (must fit `size`); read: must be 0, receives the value' };
const id = { name: 'id', type: 'u32' as const, doc: 'doorbell id from DOORBELL_REGISTER (1..max)' };
const hc = (k: PvioHcName, args: HypercallDef['args'], doc: string): HypercallDef =>
  ({ name: `PVIO_HC_${k}`, nr: PVIO_HC[k], args, doc: `${doc}. Plain equivalent: ${PVIO_PLAIN_EQUIVALENT[k]}`, source: `${SPEC} §4` });

export const PVIO_HYPERCALLS: readonly HypercallDef[] = [
  hc('MMIO', [desc, data], 'MMIO read or write of 1/2/4/8 bytes; read data returned in the data register, zero-extended'),
  hc('PIO', [desc, data], 'port read or write of 1/2/4 bytes; read data returned in the data register, zero-extended'),
  hc('DOORBELL_REGISTER', [desc, { name: 'zero', type: 'u64', doc: 'must be 0' }], 'declare a write descriptor a doorbell; the id comes back in the data register'),
  hc('DOORBELL_RING', [id, { name: 'data', type: 'u64', doc: 'value to write (must fit the registered size)' }], 'perform the registered write with `data`'),
  hc('DOORBELL_UNREGISTER', [id, { name: 'zero', type: 'u64', doc: 'must be 0' }], 'forget a doorbell id'),
];

export const PVIO_ERROR_CODES: readonly ErrorCodeDef[] = Object.entries(PVIO_STATUS).map(([k, value]) => ({
  name: `PVIO_${k}`, value, doc: `${k}${value ? ' (returned as -' + value + ')' : ''}`, source: `${SPEC} §5`,
}));

export const PVIO_MSRS: readonly MsrDef[] = [
  { name: 'PVIO_MSR_HCPAGE', index: PVIO_MSR_HCPAGE_DEFAULT, access: 'rw', layout: PVIO_HCPAGE_MSR_LAYOUT, doc: 'hypercall page (index: leaf base+2 EAX); RDMSR returns the last value written', source: `${SPEC} §7` },
];

/** Checks a CPUID base: one of Linux's scan slots 0x40000000..0x4000FF00 step 0x100 (ABI-FACTS §2). */
export function checkPvioBase(base: number): void {
  const { first, last, step } = HYPERVISOR_CPUID_SCAN;
  if (!Number.isInteger(base) || base < first || base > last || (base - first) % step !== 0) {
    throw new AbiError([{ path: 'base', value: base, message: 'pvio base must be 0x40000000..0x4000FF00 in steps of 0x100 (hypervisor_cpuid_base() slots)' }]);
  }
}

/** The pvio ABI with its signature leaf at `base` (default 0x40000100). */
export function makePvioAbi(opts: { base?: number } = {}): AbiDefinition {
  const base = opts.base ?? PVIO_DEFAULT_BASE;
  checkPvioBase(base);
  return {
    name: 'pvio',
    title: 'pvkit paravirtual I/O (MMIO/PIO hypercalls with plain fallbacks)',
    version: `${PVIO_VERSION_MAJOR}.${PVIO_VERSION_MINOR}`,
    cpuid: {
      detection: 'scan', defaultBase: base, signature: PVIO_SIGNATURE, minLeaves: PVIO_MAX_LEAF_OFFSET,
      maxLeafOffset: PVIO_MAX_LEAF_OFFSET, leaves: PVIO_CPUID_LEAVES,
      source: `${SPEC} §1: found like hypervisor_cpuid_base(PVIO_SIGNATURE, 2)`,
    },
    features: PVIO_FEATURES,
    conventions: [PVIO_CONVENTION_X64, PVIO_CONVENTION_X86, PVIO_CONVENTION_X64_HCPAGE, PVIO_CONVENTION_X86_HCPAGE],
    hypercalls: PVIO_HYPERCALLS,
    errors: { encoding: 'neg-errno', codes: PVIO_ERROR_CODES, unknownHypercall: 'PVIO_ENOSYS', cplNonZero: 'PVIO_EPERM' },
    msrs: PVIO_MSRS,
    space: {
      trap: 'hypercall', selector: 'rax', mask: 0xffffffff, lo: PVIO_HC_FIRST, hi: PVIO_HC_LAST,
      discriminator: 'RAX itself: disjoint from KVM (0..0x3ff), Xen (0..0x7f; bit 31 = Viridian) and the VMware magic. A 32-bit Hyper-V control word in EDX:EAX never takes these values (EAX bits 30 and 28 are RsvdZ there), so a host serving both checks the pvio range first. A 64-bit caller clears RAX 63:32',
      source: `${SPEC} §3`,
    },
    constants: [
      { name: 'PVIO_CPUID_BASE', value: base, doc: 'signature leaf of this instance', source: `${SPEC} §1` },
      { name: 'PVIO_VERSION', value: (PVIO_VERSION_MAJOR << 16) | PVIO_VERSION_MINOR, doc: 'leaf base+1 EBX', source: `${SPEC} §1` },
      { name: 'PVIO_DESC_ADDRESS_BITS', value: PVIO_DESC_ADDRESS_BITS, doc: 'descriptor address width', source: `${SPEC} §4.0` },
      { name: 'PVIO_MSR_HCPAGE_DEFAULT', value: PVIO_MSR_HCPAGE_DEFAULT, doc: 'default hypercall-page MSR', source: `${SPEC} §7` },
      { name: 'PVIO_HC_FIRST', value: PVIO_HC_FIRST, doc: 'first number of the range', source: `${SPEC} §3` },
      { name: 'PVIO_HC_LAST', value: PVIO_HC_LAST, doc: 'last number of the range', source: `${SPEC} §3` },
    ],
    source: SPEC,
  };
}

export const pvioAbi: AbiDefinition = makePvioAbi();
