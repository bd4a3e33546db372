// User-defined ABIs: typed builder, JSON form, validate() and diff().
export { defineAbi, AbiBuilder, type FeatureOptions, type HypercallOptions, type BuildOptions } from './builder.js';
export { loadAbiJson, parseAbiJson, parseAbiObject, abiToJson, abiToJsonObject, type LoadOptions, type ParsedAbi } from './json.js';
export { validate, type ValidateOptions } from './validate.js';
export { diff, type AbiDiff, type AbiChange, type ChangeKind } from './diff.js';
export { cIdentifierProblem } from './names.js';
