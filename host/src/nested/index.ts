// Nested virtualization: L0 (the emulator) -> L1 (a TypeScript guest hypervisor) -> L2 (real guest code).
export * from './types.js';
export * from './machine.js';
export * from './policy.js';
export { NestedHooks, NestedRouter } from './reflect.js';
