// KVM backend: the same guest bytes on real /dev/kvm through koffi. Importing this never loads koffi or opens
// /dev/kvm; createKvmVm does, and reports { unavailable } when either is missing.
export { createKvmVm, KvmVm, type KvmVmOptions, type KvmSlot, type KvmSlotSpec, type KvmCpuidEntry } from './vm.js';
export { KvmVcpu, KvmError, type KvmRunOptions } from './vcpu.js';
export { runWithRouter, type KvmRouteOptions } from './adapter.js';
export { detectKvmBackend, type KvmBackendInfo, type KvmBackendKind } from './detect.js';
export { KvmIoeventfds, KvmIoeventfdError, type KvmEventfdHandle } from './ioeventfd.js';
export { SYSTEM_AREA_SIZE, SEL_CODE32, SEL_CODE64, SEL_DATA, type KvmCpuMode } from './setup.js';
export { loadLibc } from './native.js';
