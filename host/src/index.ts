// @pvkit/host: the hypervisor-side emulator.
export * from './bus/types.js';
export * from './bus/range-bus.js';
export * from './bus/pio-bus.js';
export * from './bus/mmio-bus.js';
export * from './bus/ioeventfd.js';
export * from './bus/doorbell.js';
export * from './bus/router.js';
export * from './cost/counters.js';
export * from './cost/model.js';
export * from './cost/what-if.js';
export * from './devices/pvtest-regs.js';
export * from './devices/pvtest.js';
export * from './exits.js';
export * from './memory/memory.js';
export * from './cpu/types.js';
export { Vcpu } from './cpu/vcpu.js';
export { DecodeCache } from './cpu/cache.js';
export { decode, type Decoded, type DecodeResult } from './cpu/decode.js';
export { formatInsn } from './cpu/format.js';
export { defaultCpuid } from './cpu/cpuid-default.js';
export { MSR_EFER, MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE, MSR_TSC, MSR_TSC_AUX } from './cpu/ops-sys.js';
export * from './vm.js';
export * from './vm/snapshot.js';
export type { RestoreOptions } from './vm/snapshot-io.js';
export * from './hypervisor/index.js';
export * from './backends/kvm/index.js'; // koffi and /dev/kvm are touched only by createKvmVm
export * from './nested/index.js';
