// @pvkit/conformance as a library: load and run guests on a ready machine, call C-ABI functions in them,
// and the benchmark harness. The `pvkit` command (bin/pvkit.mjs) is built on these.
export * from './run/loader.js';
export * from './run/machine.js';
export * from './run/session.js';
export * from './run/call.js';
export * from './bench/measure.js';
export { engineCases } from './bench/engine.js';
