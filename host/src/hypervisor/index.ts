// Hypervisor personalities (KVM, Xen, Hyper-V, VMware, pvio) and their composition.
export * from './common.js';
export * from './kvm-clock.js';
export * from './kvm.js';
export * from './xen.js';
export * from './hyperv.js';
export * from './vmware.js';
export * from './pvio.js';
export * from './compose.js';
