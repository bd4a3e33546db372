// Typed reading of untrusted JSON with located problems: every getter records a Problem (path, value, why)
// and returns a fallback, so one pass reports every mistake in a file rather than only the first.
import type { Problem } from '../errors.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

/** "0x40000000", "0b101", "4096", "1_000", with optional trailing n; or a JSON integer. */
const INT_TEXT = /^(-)?(0x[0-9a-f_]+|0b[01_]+|0o[0-7_]+|[0-9][0-9_]*)n?$/i;

/** Parses a human-friendly integer; undefined when it is not one. */
export function parseIntLike(v: unknown): bigint | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? BigInt(v) : undefined;
  if (typeof v !== 'string') return undefined;
  const m = INT_TEXT.exec(v.trim());
  if (!m) return undefined;
  const body = m[2]!.replace(/_/g, '');
  if (body === '' || /^0[xbo]$/i.test(body)) return undefined;
  const n = BigInt(body);
  return m[1] ? -n : n;
}

export class Reader {
  readonly problems: Problem[] = [];
  constructor(readonly file?: string) {}

  add(path: string, value: unknown, message: string): void {
    this.problems.push(this.file === undefined ? { path, value, message } : { path, value, message, file: this.file });
  }

  isObject(v: unknown): v is JsonObject {
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  }

  /** The object at `path`, or undefined (with a problem) when it is something else. */
  object(v: unknown, path: string, known: readonly string[]): JsonObject | undefined {
    if (!this.isObject(v)) {
      this.add(path, v, `expected an object, got ${kind(v)}`);
      return undefined;
    }
    for (const k of Object.keys(v)) if (!known.includes(k)) this.add(`${path}.${k}`, v[k], `unknown field (known: ${known.join(', ')})`);
    return v;
  }

  array(o: JsonObject, key: string, path: string, required = false): Json[] {
    const v = o[key];
    if (v === undefined && !required) return [];
    if (!Array.isArray(v)) {
      this.add(`${path}.${key}`, v, v === undefined ? 'required field is missing (an array)' : `expected an array, got ${kind(v)}`);
      return [];
    }
    return v;
  }

  string(o: JsonObject, key: string, path: string, fallback?: string): string {
    const v = o[key];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'string') {
      this.add(`${path}.${key}`, v, v === undefined ? 'required field is missing (a string)' : `expected a string, got ${kind(v)}`);
      return '';
    }
    return v;
  }

  oneOf<T extends string>(o: JsonObject, key: string, path: string, allowed: readonly T[], fallback?: T): T {
    const v = o[key];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
      this.add(`${path}.${key}`, v, v === undefined ? `required field is missing (one of ${allowed.join(', ')})` : `must be one of ${allowed.join(', ')}`);
      return allowed[0]!;
    }
    return v as T;
  }

  optBool(o: JsonObject, key: string, path: string): boolean | undefined {
    const v = o[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') {
      this.add(`${path}.${key}`, v, `expected true or false, got ${kind(v)}`);
      return undefined;
    }
    return v;
  }

  /** An integer as bigint (number or "0x..." string), or undefined with a problem. */
  bigint(o: JsonObject, key: string, path: string, required = true): bigint | undefined {
    const v = o[key];
    if (v === undefined) {
      if (required) this.add(`${path}.${key}`, v, 'required field is missing (an integer, e.g. 5 or "0x40000000")');
      return undefined;
    }
    const n = parseIntLike(v);
    if (n === undefined) this.add(`${path}.${key}`, v, 'expected an integer (a JSON number up to 2^53, or a string like "0x40000000")');
    return n;
  }

  /** An integer that must fit a JS number exactly. */
  int(o: JsonObject, key: string, path: string, fallback?: number): number {
    if (o[key] === undefined && fallback !== undefined) return fallback;
    const n = this.bigint(o, key, path);
    if (n === undefined) return NaN;
    if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) {
      this.add(`${path}.${key}`, o[key], 'too large for this field');
      return NaN;
    }
    return Number(n);
  }
}

export function kind(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** Turns JSON.parse's "position N" into line:column so the message points into the file. */
export function jsonSyntaxProblem(text: string, e: Error, file?: string): Problem {
  const m = /position (\d+)/.exec(e.message);
  let where = '';
  const pos = m ? Number(m[1]) : jsonErrorOffset(text);
  if (pos !== undefined) {
    const before = text.slice(0, pos);
    const line = before.split('\n').length;
    const col = pos - before.lastIndexOf('\n');
    where = ` at line ${line}, column ${col}`;
  }
  const p: Problem = { path: '$', value: text.length > 40 ? `${text.slice(0, 40)}...` : text, message: `not valid JSON${where}: ${e.message}` };
  return file === undefined ? p : { ...p, file };
}

/**
 * Offset of the first JSON syntax error (RFC 8259 grammar), for engines whose JSON.parse message has no
 * position. Undefined when the text parses.
 */
export function jsonErrorOffset(text: string): number | undefined {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const lit = (w: string): void => {
    if (text.startsWith(w, i)) i += w.length;
    else fail();
  };
  const str = (): void => {
    if (text[i] !== '"') fail();
    i++;
    while (i < text.length && text[i] !== '"') {
      const c = text.charCodeAt(i);
      if (c < 0x20) fail();
      if (text[i] === '\\') {
        i++;
        if (text[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail();
          i += 4;
        } else if (!'"\\/bfnrt'.includes(text[i] ?? 'x')) fail();
      }
      i++;
    }
    if (i >= text.length) fail();
    i++;
  };
  const num = (): void => {
    if (text[i] === '-') i++;
    if (!/[0-9]/.test(text[i] ?? '')) fail();
    if (text[i - 1] === '-') i--;
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i));
    if (!m || m[0] === '' || m[0] === '-') fail();
    i += m![0].length;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') { i++; return; }
      for (;;) {
        ws(); str(); ws();
        if (text[i] !== ':') fail();
        i++;
        value(); ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return; }
        fail();
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') { i++; return; }
      for (;;) {
        value(); ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return; }
        fail();
      }
    } else if (c === '"') str();
    else if (c === 't') lit('true');
    else if (c === 'f') lit('false');
    else if (c === 'n') lit('null');
    else num();
  };
  try {
    value();
    ws();
    if (i < text.length) fail();
    return undefined;
  } catch (at) {
    if (typeof at === 'number') return at;
    throw at;
  }
}
