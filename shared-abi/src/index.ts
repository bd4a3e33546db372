export * from './types.js';
export * from './errors.js';
export * from './bitfield.js';
export * from './cpuid.js';
export * from './kvm.js';
export * from './xen.js';
