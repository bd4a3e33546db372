// JSON report: every result with its instance, backend, status, reason and problems; stable key order.
import type { CaseResult } from '../types.js';
import { summary } from '../runner.js';

export const JSON_REPORT_VERSION = 1;

export function jsonReport(results: readonly CaseResult[]): string {
  return JSON.stringify({
    version: JSON_REPORT_VERSION,
    summary: summary(results),
    results: results.map((r) => ({
      id: r.id, case: r.case, backend: r.backend, bits: r.env.bits, vendor: r.env.vendor, groups: r.groups, abis: r.abis,
      source: r.source, status: r.status, reason: r.reason ?? null, problems: r.problems, ms: Math.round(r.ms * 1000) / 1000,
    })),
  }, null, 2) + '\n';
}
