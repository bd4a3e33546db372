// Errors that say where the problem is: a location (file, JSON path, field), the value and why.

export interface Problem {
  /** JSON path like `$.hypercalls[3].nr`, or a field name for codec errors. */
  readonly path: string;
  readonly value: unknown;
  readonly message: string;
  /** Source file, when the definition came from one. */
  readonly file?: string;
}

export function formatProblem(p: Problem): string {
  const where = p.file ? `${p.file}: ${p.path}` : p.path;
  return `${where}: ${p.message} (value: ${showValue(p.value)})`;
}

export function showValue(v: unknown): string {
  if (typeof v === 'bigint') return `0x${v.toString(16)}n`;
  if (typeof v === 'number' && Number.isInteger(v) && Math.abs(v) > 9) return `0x${v.toString(16)}`;
  if (typeof v === 'string') return JSON.stringify(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Thrown by codecs and loaders; carries every problem found, not only the first. */
export class AbiError extends Error {
  readonly problems: readonly Problem[];
  constructor(problems: readonly Problem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'AbiError';
    this.problems = problems;
  }
}
