// Issue 5 "done when": the guest-sdk's detection, hypercall, hcpage and fallback stubs against each REAL
// personality (no test hooks) on Intel and AMD, 64- and 32-bit, with the results the ABI documents.
import {
  HV_STATUS, KVM_ERRNO, PVIO_STATUS, VMWARE_GETVERSION_DEFAULT_VERSION, VMWARE_HYPERVISOR_MAGIC, XENVER, XEN_ERRNO, XEN_HC,
  encodePvioDesc, hypervAbi, kvmAbi, pvioAbi, vmwareAbi, xenAbi,
} from '@pvkit/shared-abi';
import { PVTEST_ID_VALUE, PvtestReg, type PvtestTraceEntry } from '@pvkit/host';
import { PVTEST_MMIO, PVTEST_PORT } from '../../run/machine.js';
import { LAYOUT } from '../guest.js';
import type { ConformCase } from '../types.js';
import { detectMemory, nativeInsn, stubCase, u32le, u64le } from './helpers.js';

const KVM_BASE = 0x40000000; // linux/kvm_para.h KVM_CPUID_SIGNATURE
const BEHIND_HV = 0x40000100; // ABI-FACTS §1.4/§2: KVM's leaves beside Hyper-V's
const neg = (e: number) => -BigInt(e);
/** Hyper-V guest OS id: open source (bit 63), OS type Linux 0x1 (62:56) - ABI-FACTS §4.2 encoding. */
const HV_GUEST_OS_ID = 0x8100_0000_0000_0000n;
const XEN_VERSION = { major: 4, minor: 19 };
const HV_PARTITION = 0x1234_5678_9abc_def0n;

const detection: ConformCase[] = [
  stubCase({
    name: 'kvm detect alone', groups: ['detection'], abi: kvmAbi, strategy: 'dispatch', source: 'ABI-FACTS §1.4, §2',
    machine: { abis: [{ name: 'kvm' }] },
    calls: () => [{ sym: 'pvkit_kvm_detect', args: [LAYOUT.buf] }],
    expect: (e) => ({ results: [BigInt(KVM_BASE)], memory: detectMemory(KVM_BASE, e.vendor, KVM_BASE + 1) }),
  }),
  stubCase({
    name: 'kvm detect behind hyper-v at 0x40000100', groups: ['detection'], abi: kvmAbi, alsoAbis: ['hyperv'], strategy: 'dispatch',
    source: 'ABI-FACTS §2 (hypervisor_cpuid_base scan), §1.4',
    machine: { abis: [{ name: 'hyperv' }, { name: 'kvm', base: BEHIND_HV }] },
    calls: () => [{ sym: 'pvkit_kvm_detect', args: [LAYOUT.buf] }],
    expect: (e) => ({ results: [BigInt(BEHIND_HV)], memory: detectMemory(BEHIND_HV, e.vendor, BEHIND_HV + 1) }),
  }),
  stubCase({
    name: 'hyperv detect in front of kvm', groups: ['detection'], abi: hypervAbi, alsoAbis: ['kvm'], strategy: 'hcpage',
    source: 'ABI-FACTS §4.1, §2',
    machine: { abis: [{ name: 'hyperv' }, { name: 'kvm', base: BEHIND_HV }] },
    calls: () => [{ sym: 'pvkit_hyperv_detect', args: [LAYOUT.buf] }],
    expect: (e) => ({ results: [0x40000000n], memory: detectMemory(0x40000000, e.vendor) }),
  }),
  stubCase({
    name: 'xen detect', groups: ['detection'], abi: xenAbi, strategy: 'dispatch', source: 'ABI-FACTS §3.1 (EAX = base + 5)',
    machine: { abis: [{ name: 'xen' }] },
    calls: () => [{ sym: 'pvkit_xen_detect', args: [LAYOUT.buf] }],
    expect: (e) => ({ results: [0x40000000n], memory: detectMemory(0x40000000, e.vendor, 0x40000005) }),
  }),
  stubCase({
    name: 'vmware detect', groups: ['detection'], abi: vmwareAbi, strategy: 'dispatch', source: 'ABI-FACTS §5',
    machine: { abis: [{ name: 'vmware' }] },
    calls: () => [{ sym: 'pvkit_vmware_detect', args: [LAYOUT.buf] }],
    expect: (e) => ({ results: [0x40000000n], memory: detectMemory(0x40000000, e.vendor) }),
  }),
  stubCase({
    name: 'pvio detect', groups: ['detection'], abi: pvioAbi, strategy: 'dispatch', source: 'pvio spec §1 (base 0x40000100, EAX = base + 2)',
    machine: { abis: [{ name: 'pvio' }] },
    calls: () => [{ sym: 'pvkit_pvio_detect', args: [LAYOUT.buf] }],
    expect: (e) => ({ results: [0x40000100n], memory: detectMemory(0x40000100, e.vendor, 0x40000102) }),
  }),
  stubCase({
    name: 'kvm absent under xen', groups: ['detection'], abi: kvmAbi, alsoAbis: ['xen'], strategy: 'dispatch', source: 'ABI-FACTS §2',
    machine: { abis: [{ name: 'xen' }] },
    calls: () => [{ sym: 'pvkit_kvm_detect', args: [LAYOUT.buf] }],
    expect: (e) => ({ results: [0n], memory: detectMemory(0, e.vendor) }),
  }),
];

const hypercalls: ConformCase[] = [
  stubCase({
    name: 'kvm wrappers: VAPIC_POLL_IRQ 0, KICK_CPU 0, unknown MMU_OP -KVM_ENOSYS', groups: ['hypercall'], abi: kvmAbi, strategy: 'dispatch',
    source: 'ABI-FACTS §1.1 (unknown nr -> -1000 = 0xFFFFFC18 for a 32-bit caller), §1.2',
    machine: { abis: [{ name: 'kvm' }] },
    calls: () => [
      { sym: 'pvkit_kvm_hc_vapic_poll_irq' },
      { sym: 'pvkit_kvm_hc_kick_cpu', args: [0n, 0n] },
      { sym: 'pvkit_kvm_hc_mmu_op' },
    ],
    expect: () => ({ results: [0n, 0n, neg(KVM_ERRNO.ENOSYS)], patches: 0 }),
  }),
  stubCase({
    name: 'kvm wrapper at CPL 3 gets -KVM_EPERM', groups: ['hypercall', 'faults'], abi: kvmAbi, strategy: 'dispatch',
    source: 'ABI-FACTS §1.2 step 4 (if (cpl) ret = -KVM_EPERM)',
    machine: { abis: [{ name: 'kvm' }], cpl: 3 },
    calls: () => [{ sym: 'pvkit_kvm_hc_vapic_poll_irq' }, { sym: 'pvkit_kvm_hc_mmu_op' }],
    // The driver's final HLT is privileged: #GP(0) at CPL 3 (SDM Vol. 2A HLT), after both results are stored.
    expect: () => ({ results: [neg(KVM_ERRNO.EPERM), neg(KVM_ERRNO.EPERM)], final: { kind: 'Exception', vector: 13 } }),
  }),
  stubCase({
    name: 'xen wrappers: xen_version, unknown -ENOSYS', groups: ['hypercall'], abi: xenAbi, strategy: 'dispatch',
    source: 'ABI-FACTS §3.4 (-errno, ENOSYS 38), §3.5 (XENVER_version = major << 16 | minor)',
    machine: { abis: [{ name: 'xen', options: { version: XEN_VERSION } }] },
    calls: () => [
      { sym: 'pvkit_xen_hypervisor_xen_version', args: [BigInt(XENVER.version), 0n] },
      { sym: 'pvkit_xen_hypervisor_xsm_op', args: [0n] },
    ],
    expect: () => ({ results: [BigInt((XEN_VERSION.major << 16) | XEN_VERSION.minor), neg(XEN_ERRNO.ENOSYS)], patches: 0 }),
  }),
  stubCase({
    name: 'xen wrapper at CPL 3 gets -EPERM', groups: ['hypercall', 'faults'], abi: xenAbi, strategy: 'dispatch',
    source: 'ABI-FACTS §3.4 (hvm_hypercall: CPL != 0 -> -EPERM)',
    machine: { abis: [{ name: 'xen' }], cpl: 3 },
    calls: () => [{ sym: 'pvkit_xen_hypervisor_xen_version', args: [BigInt(XENVER.version), 0n] }],
    expect: () => ({ results: [neg(XEN_ERRNO.EPERM)], final: { kind: 'Exception', vector: 13 } }),
  }),
  stubCase({
    name: 'vmware GETVERSION by port and by the native hypercall', groups: ['hypercall', 'pio'], abi: vmwareAbi, strategy: 'dispatch',
    source: 'ABI-FACTS §5 (EAX = vmx-version, EBX = magic; CPUID 0x40000010 ECX picks VMCALL/VMMCALL)',
    machine: { abis: [{ name: 'vmware' }] },
    calls: () => [
      { sym: 'pvkit_vmware_cmd_getversion', args: [0n, LAYOUT.out] },
      { sym: 'pvkit_vmware_cmd_getversion_hypercall_lb', args: [0n, LAYOUT.out + 0x100n] },
    ],
    expect: () => ({
      results: [BigInt(VMWARE_GETVERSION_DEFAULT_VERSION), BigInt(VMWARE_GETVERSION_DEFAULT_VERSION)],
      memory: [
        { gpa: LAYOUT.out + 8n, bytes: u64le(BigInt(VMWARE_HYPERVISOR_MAGIC)), what: 'port GETVERSION out[1] (EBX)' },
        { gpa: LAYOUT.out + 0x108n, bytes: u64le(BigInt(VMWARE_HYPERVISOR_MAGIC)), what: 'hypercall GETVERSION out[1] (EBX)' },
      ],
      exitTrace: { of: ['IoIn', 'Hypercall'], kinds: ['IoIn', 'Hypercall'] },
    }),
  }),
  stubCase({
    name: 'pvio MMIO hypercall reads the pvtest ID register', groups: ['hypercall', 'mmio-hypercall'], abi: pvioAbi, strategy: 'dispatch',
    source: 'pvio spec §4 (PVIO_HC_MMIO desc/data/out), §8 statuses',
    machine: { abis: [{ name: 'pvio' }] },
    calls: () => [
      { sym: 'pvkit_pvio_hc_mmio', args: [encodePvioDesc({ space: 'mmio', address: PVTEST_MMIO + BigInt(PvtestReg.ID), size: 4, write: false }), 0n, LAYOUT.out] },
      { sym: 'pvkit_pvio_hc_pio', args: [encodePvioDesc({ space: 'pio', address: BigInt(PVTEST_PORT + PvtestReg.DATA_OUT), size: 1, write: true }), 0x5an, LAYOUT.out + 0x40n] },
    ],
    expect: () => ({
      results: [BigInt(PVIO_STATUS.OK), BigInt(PVIO_STATUS.OK)],
      memory: [{ gpa: LAYOUT.out + 8n, bytes: u64le(BigInt(PVTEST_ID_VALUE)), what: 'out[1] (data read)' }],
      device: { output: 'Z', trace: [{ op: 'read', offset: PvtestReg.ID, size: 4, value: BigInt(PVTEST_ID_VALUE) }, { op: 'write', offset: PvtestReg.DATA_OUT, size: 1, value: 0x5an }] },
      exitTrace: { of: ['MmioRead', 'MmioWrite', 'IoIn', 'IoOut'], kinds: [] },
    }),
  }),
  stubCase({
    name: 'pvio doorbell hypercalls: register the pvtest DOORBELL store, ring it, unregister; stale id -ENOENT', groups: ['hypercall', 'doorbell'],
    abi: pvioAbi, strategy: 'dispatch', source: 'pvio spec §4.3 (id in the data register; ring performs the registered write), §8 (ENOENT)',
    machine: { abis: [{ name: 'pvio' }] },
    calls: () => [
      { sym: 'pvkit_pvio_hc_doorbell_register', args: [encodePvioDesc({ space: 'mmio', address: PVTEST_MMIO + BigInt(PvtestReg.DOORBELL), size: 4, write: true }), 0n, LAYOUT.out] },
      { sym: 'pvkit_pvio_hc_doorbell_ring', args: [1n, 7n, LAYOUT.out + 0x40n] },
      { sym: 'pvkit_pvio_hc_doorbell_unregister', args: [1n, 0n, LAYOUT.out + 0x80n] },
      { sym: 'pvkit_pvio_hc_doorbell_ring', args: [1n, 7n, LAYOUT.out + 0xc0n] },
    ],
    expect: () => ({
      results: [BigInt(PVIO_STATUS.OK), BigInt(PVIO_STATUS.OK), BigInt(PVIO_STATUS.OK), -BigInt(PVIO_STATUS.ENOENT)],
      memory: [{ gpa: LAYOUT.out + 8n, bytes: u64le(1n), what: 'doorbell id (out[1], the data register)' }],
      device: { trace: [{ op: 'notify' }] },
      exitTrace: { of: ['MmioRead', 'MmioWrite'], kinds: [] },
    }),
  }),
];

const hcpage: ConformCase[] = [
  stubCase({
    name: 'xen hcpage: MSR from leaf base+2 fills the page; xen_version through slot 17', groups: ['hcpage'], abi: xenAbi, strategy: 'hcpage',
    source: 'ABI-FACTS §3.2, §3.3 (slot i: B8 i32, vmcall|vmmcall, C3)',
    machine: { abis: [{ name: 'xen', options: { version: XEN_VERSION } }] },
    calls: () => [
      { sym: 'pvkit_xen_detect', args: [LAYOUT.buf] },
      { sym: 'pvkit_xen_hcpage_setup', args: [0x40000000n, LAYOUT.page, LAYOUT.page, 0n] },
      { sym: 'pvkit_xen_hypervisor_xen_version', args: [BigInt(XENVER.version), 0n] },
    ],
    expect: (e) => ({
      results: [0x40000000n, 0n, BigInt((XEN_VERSION.major << 16) | XEN_VERSION.minor)],
      memory: [{ gpa: LAYOUT.page + BigInt(32 * XEN_HC.xen_version), bytes: [0xb8, ...u32le(XEN_HC.xen_version), ...nativeInsn(e.vendor), 0xc3, 0xcc], what: 'hypercall page slot 17' }],
      patches: 0,
    }),
  }),
  stubCase({
    name: 'hyperv hcpage: GUEST_OS_ID then HYPERCALL MSR; GET_PARTITION_ID through the overlay', groups: ['hcpage', 'hypercall'], abi: hypervAbi,
    strategy: 'hcpage', source: 'ABI-FACTS §4.2 (overlay 0F 01 C1|D9 C3), §4.3, §4.4, §4.7 (0x0046)',
    machine: { abis: [{ name: 'hyperv', options: { partitionId: HV_PARTITION } }] },
    calls: () => [
      { sym: 'pvkit_hyperv_detect', args: [LAYOUT.buf] },
      { sym: 'pvkit_hyperv_hcpage_setup', args: [0x40000000n, LAYOUT.page, LAYOUT.page, HV_GUEST_OS_ID] },
      { sym: 'pvkit_hyperv_hvcall_get_partition_id', args: [LAYOUT.hvIn, LAYOUT.hvOut] },
    ],
    expect: (e) => ({
      results: [0x40000000n, 0n, BigInt(HV_STATUS.SUCCESS)],
      memory: [
        { gpa: LAYOUT.page, bytes: [...nativeInsn(e.vendor), 0xc3], what: 'hypercall overlay page' },
        { gpa: LAYOUT.hvOut, bytes: u64le(HV_PARTITION), what: 'GET_PARTITION_ID output (partition id)' },
      ],
      patches: 0,
    }),
  }),
  stubCase({
    name: 'pvio hcpage: MSR from leaf base+2 EAX; MMIO hypercall through the page', groups: ['hcpage', 'mmio-hypercall'], abi: pvioAbi,
    strategy: 'hcpage', source: 'pvio spec §7 (GPA | enable), §4',
    machine: { abis: [{ name: 'pvio', options: { features: ['MMIO_HCALL', 'PIO_HCALL', 'HCPAGE'] } }] },
    calls: () => [
      { sym: 'pvkit_pvio_detect', args: [LAYOUT.buf] },
      { sym: 'pvkit_pvio_hcpage_setup', args: [0x40000100n, LAYOUT.page, LAYOUT.page, 0n] },
      { sym: 'pvkit_pvio_hc_mmio', args: [encodePvioDesc({ space: 'mmio', address: PVTEST_MMIO + BigInt(PvtestReg.ID), size: 4, write: false }), 0n, LAYOUT.out] },
    ],
    expect: () => ({
      results: [0x40000100n, 0n, BigInt(PVIO_STATUS.OK)],
      memory: [{ gpa: LAYOUT.out + 8n, bytes: u64le(BigInt(PVTEST_ID_VALUE)), what: 'out[1] (data read)' }],
      patches: 0,
    }),
  }),
];

/** The same register sequence through pvkit_reg_* / pvkit_port_*: pvtest must see the same trace either way. */
export const FALLBACK_CALLS = (bits: 64 | 32) => {
  const m = (off: number) => PVTEST_MMIO + BigInt(off);
  const p = (off: number) => BigInt(PVTEST_PORT + off);
  return [
    { sym: 'pvkit_pvio_detect', args: [LAYOUT.buf] },
    { sym: 'pvkit_pvio_fallback_init', args: [LAYOUT.buf] },
    { sym: 'pvkit_reg_read32', args: [m(PvtestReg.ID)] },
    { sym: 'pvkit_reg_write8', args: [m(PvtestReg.DATA_OUT), 0x41n] },
    { sym: 'pvkit_reg_write16', args: [m(PvtestReg.DATA_OUT), 0x4342n] },
    { sym: 'pvkit_port_write8', args: [p(PvtestReg.DATA_OUT), 0x44n] },
    { sym: 'pvkit_port_read8', args: [p(PvtestReg.DATA_IN)] },
    ...(bits === 64 ? [{ sym: 'pvkit_reg_write32', args: [m(PvtestReg.DATA_OUT), 0x48474645n] }] : [{ sym: 'pvkit_port_write32', args: [p(PvtestReg.DATA_OUT), 0x48474645n] }]),
  ];
};
export const FALLBACK_TRACE: PvtestTraceEntry[] = [
  { op: 'read', offset: PvtestReg.ID, size: 4, value: BigInt(PVTEST_ID_VALUE) },
  { op: 'write', offset: PvtestReg.DATA_OUT, size: 1, value: 0x41n },
  { op: 'write', offset: PvtestReg.DATA_OUT, size: 2, value: 0x4342n },
  { op: 'write', offset: PvtestReg.DATA_OUT, size: 1, value: 0x44n },
  { op: 'read', offset: PvtestReg.DATA_IN, size: 1, value: 0x7an },
  { op: 'write', offset: PvtestReg.DATA_OUT, size: 4, value: 0x48474645n },
];
const fallbackCase = (on: boolean): ConformCase => stubCase({
  name: `pvio fallback with the hypercall features ${on ? 'on' : 'masked'}: same device trace`, groups: ['fallback', on ? 'mmio-hypercall' : 'mmio', 'pio'],
  abi: pvioAbi, strategy: 'dispatch', source: 'pvio spec §6 (feature bit set: hypercall; clear: the plain access of the same size)',
  machine: { abis: [{ name: 'pvio', options: { features: on ? ['MMIO_HCALL', 'PIO_HCALL'] : [] } }], pvtestInput: [0x7a] },
  calls: (e) => FALLBACK_CALLS(e.bits),
  expect: (e) => ({
    results: [0x40000100n, 0n, BigInt(PVTEST_ID_VALUE), 0n, 0n, 0n, 0x7an, 0n],
    device: { output: 'ABCDEFGH', trace: FALLBACK_TRACE },
    // Hypercalls only with the features on; the plain path traps as MMIO and port I/O instead.
    exitTrace: on
      ? { of: ['Hypercall', 'MmioRead', 'MmioWrite'], kinds: ['Hypercall', 'Hypercall', 'Hypercall', 'Hypercall', 'Hypercall', 'Hypercall'] }
      : { of: ['Hypercall', 'MmioRead', 'MmioWrite', 'IoIn', 'IoOut'], kinds: ['MmioRead', 'MmioWrite', 'MmioWrite', 'IoOut', 'IoIn', e.bits === 64 ? 'MmioWrite' : 'IoOut'] },
  }),
});
// 32-bit images have no 8-byte register access; the sequence above avoids it on both.

export const STUB_MATRIX: ConformCase[] = [...detection, ...hypercalls, ...hcpage, fallbackCase(true), fallbackCase(false)];
