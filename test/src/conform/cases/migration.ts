// Live migration to the other vendor in the middle of a stub program (MachineSpec.migrate): the Xen hypercall
// page is rewritten for the destination's instruction (ABI-FACTS §3.3 per-vendor stubs, issue 5 "rewrites it
// after migration"), and a KVM call site patched on the source is foreign on the destination, so it #UDs and is
// patched again (ABI-FACTS §1.3); results stay what the ABI says on both sides.
import { KVM_ERRNO, XENVER, XEN_HC, kvmAbi, xenAbi } from '@pvkit/shared-abi';
import type { Vendor } from '@pvkit/host';
import { LAYOUT, MIGRATE } from '../guest.js';
import type { ConformCase } from '../types.js';
import { nativeInsn, stubCase, u32le } from './helpers.js';

const other = (v: Vendor): Vendor => (v === 'intel' ? 'amd' : 'intel');
const XEN_VERSION = { major: 4, minor: 19 };
const version = BigInt((XEN_VERSION.major << 16) | XEN_VERSION.minor);

export const MIGRATION_CASES: ConformCase[] = [
  stubCase({
    name: 'migration: the Xen hypercall page is rewritten for the destination vendor', groups: ['migration', 'hcpage'], abi: xenAbi, strategy: 'hcpage',
    source: 'ABI-FACTS §3.3 (vmx/svm_init_hypercall_page); issue 5 (rewrite after migration)',
    machine: { abis: [{ name: 'xen', options: { version: XEN_VERSION } }], migrate: true },
    calls: () => [
      { sym: 'pvkit_xen_hcpage_setup', args: [0x40000000n, LAYOUT.page, LAYOUT.page, 0n] },
      { sym: 'pvkit_xen_hypervisor_xen_version', args: [BigInt(XENVER.version), 0n] },
      { sym: MIGRATE },
      { sym: 'pvkit_xen_hypervisor_xen_version', args: [BigInt(XENVER.version), 0n] },
    ],
    expect: (e) => ({
      results: [0n, version, 0n, version],
      memory: [{ gpa: LAYOUT.page + BigInt(32 * XEN_HC.xen_version), bytes: [0xb8, ...u32le(XEN_HC.xen_version), ...nativeInsn(other(e.vendor)), 0xc3], what: 'slot 17 after migration' }],
      patches: 0,
    }),
  }),
  stubCase({
    name: 'migration: a KVM site patched on the source is patched again on the destination', groups: ['migration', 'patching'], abi: kvmAbi, strategy: 'host-patch',
    hypercalls: ['KVM_HC_VAPIC_POLL_IRQ', 'KVM_HC_MMU_OP'], source: 'ABI-FACTS §1.3 (the foreign instruction #UDs and is patched, RIP not advanced)',
    machine: { abis: [{ name: 'kvm' }], migrate: true },
    calls: () => [{ sym: 'pvkit_kvm_hc_vapic_poll_irq' }, { sym: MIGRATE }, { sym: 'pvkit_kvm_hc_vapic_poll_irq' }, { sym: 'pvkit_kvm_hc_mmu_op' }],
    // The image's sites are VMCALL. Intel->AMD: both sites #UD on AMD (2 patches). AMD->Intel: the first site is
    // patched to VMMCALL on AMD, then back to VMCALL on Intel; the second is native on Intel (2 patches).
    expect: () => ({
      results: [0n, 0n, 0n, -BigInt(KVM_ERRNO.ENOSYS)], patches: 2,
      exitTrace: { of: ['Hypercall'], kinds: ['Hypercall', 'Hypercall', 'Hypercall'] },
      counters: { hypercall: 3 },
    }),
  }),
];
