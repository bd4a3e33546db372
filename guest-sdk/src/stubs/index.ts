// Guest stubs: detection, hypercall wrappers, cross-vendor strategies, hypercall page setup, pvio fallback.
export { CALLEE_SAVED, SYSV_ARGS, type CParam, type CType } from './cabi.js';
export { DETECT_LEAF_SIZE, DETECT_MAX_LEAVES, DETECT_OFFSETS, DETECT_SIZE, DETECT_STRUCT_C, VENDOR, featureLeaves } from './detect.js';
export { fallbackPrototypes, isPvio } from './fallback.js';
export { HCPAGE_SETUP_PARAMS, pageStyle, type PageStyle } from './hcpage.js';
export { names, type Names } from './names.js';
export { STRATEGIES, conventionsFor, isStrategy, type Strategy } from './strategies.js';
export { planWrappers, type WrapperPlan } from './wrappers.js';
export { checkCombination, generate, generateStubs, type GenerateOptions, type Generated } from './generate.js';
export { kvmSizeMarkdown, kvmSizeTable, type SizeRow } from './sizes.js';
