// Reporters by name (the `--reporter` values of `pvkit conform`).
import type { CaseResult } from '../types.js';
import { consoleReport } from './console.js';
import { jsonReport } from './json.js';
import { junitReport } from './junit.js';
import { tapReport } from './tap.js';

export const REPORTERS = { console: consoleReport, tap: tapReport, junit: (r: readonly CaseResult[]) => junitReport(r), json: jsonReport } as const;
export type ReporterName = keyof typeof REPORTERS;
export { consoleReport, progressLine } from './console.js';
export { jsonReport, JSON_REPORT_VERSION } from './json.js';
export { junitReport, xmlAttr, xmlEscape } from './junit.js';
export { tapReport } from './tap.js';
