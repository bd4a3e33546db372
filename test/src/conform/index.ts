// pvkit conformance suite: case table, runner, backends, reporters.
export * from './types.js';
export { LAYOUT, RAM_BYTES, stubProgram, asmProgram, type Arg, type Call } from './guest.js';
export { check } from './check.js';
export { runSuite, select, instances, instanceId, summary, type Filter } from './runner.js';
export { emulatorBackend, buildEmulator } from './emulator.js';
export { kvmBackend, kvmAvailability, isSoftwareKvm } from './kvm.js';
export { CASES } from './cases/index.js';
export { userAbiCases } from './cases/user-abi.js';
export { userAbiHooks, userAbiCpuid } from './user-host.js';
export * from './report/index.js';
