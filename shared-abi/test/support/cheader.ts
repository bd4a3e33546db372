// A small C preprocessor subset for reading integer constants out of system headers: object- and function-like
// #defines, #undef, #if/#ifdef/#ifndef/#elif/#else/#endif (evaluated, so compat branches are skipped), enums, and
// Xen's XEN_ERRNO(name, value) list. Expressions: integer literals (hex/octal/decimal, U/L suffixes), string
// literals, macro references, function-like macro calls, unary - + ~ !, * / % + - << >> < <= > >= == != & ^ | && ||,
// ?:, `defined`, parentheses. No #include following: callers load the files they need, in order.
import { readFileSync } from 'node:fs';

export interface Macro {
  readonly name: string;
  readonly params?: readonly string[];
  readonly body: string;
  readonly file: string;
  readonly line: number;
}

export class HeaderSet {
  readonly macros = new Map<string, Macro>();
  /** Enumerators (and XEN_ERRNO entries) with their values. */
  readonly enums = new Map<string, { value: bigint; file: string }>();
  /** Names in the order their #define was seen (for listing families). */
  readonly order: string[] = [];

  constructor(predefined: Record<string, string> = {}) {
    for (const [k, v] of Object.entries(predefined)) this.define(`${k} ${v}`, '<predefined>', 0);
  }

  load(path: string): this {
    return this.loadText(readFileSync(path, 'utf8'), path);
  }

  loadText(text: string, file: string): this {
    const lines = logicalLines(stripComments(text));
    const stack: { active: boolean; taken: boolean; parentActive: boolean }[] = [];
    const active = () => stack.every((s) => s.active);
    const activeText: string[] = [];
    for (const { text: raw, line } of lines) {
      const t = raw.trim();
      const d = /^#\s*(\w+)\s*(.*)$/.exec(t);
      if (!d) {
        if (active()) activeText.push(raw);
        continue;
      }
      const [, dir, rest = ''] = d;
      switch (dir) {
        case 'if': case 'ifdef': case 'ifndef': {
          const parentActive = active();
          const cond = !parentActive ? false
            : dir === 'ifdef' ? this.macros.has(rest.trim())
              : dir === 'ifndef' ? !this.macros.has(rest.trim())
                : this.condition(rest, file, line);
          stack.push({ active: cond, taken: cond, parentActive });
          break;
        }
        case 'elif': {
          const top = stack[stack.length - 1];
          if (!top) throw new Error(`${file}:${line}: #elif without #if`);
          const cond = top.parentActive && !top.taken && this.condition(rest, file, line);
          top.active = cond;
          top.taken ||= cond;
          break;
        }
        case 'else': {
          const top = stack[stack.length - 1];
          if (!top) throw new Error(`${file}:${line}: #else without #if`);
          top.active = top.parentActive && !top.taken;
          top.taken = true;
          break;
        }
        case 'endif':
          if (!stack.pop()) throw new Error(`${file}:${line}: #endif without #if`);
          break;
        case 'define':
          if (active()) this.define(rest, file, line);
          break;
        case 'undef':
          if (active()) this.macros.delete(rest.trim());
          break;
        default:
          break; // include, error, pragma: ignored
      }
    }
    if (stack.length) throw new Error(`${file}: ${stack.length} unterminated #if`);
    this.scanEnums(activeText.join('\n'), file);
    return this;
  }

  private define(rest: string, file: string, line: number): void {
    const m = /^(\w+)(\(([^)]*)\))?\s*(.*)$/.exec(rest);
    if (!m) throw new Error(`${file}:${line}: malformed #define ${rest}`);
    const [, name = '', paren, params, body = ''] = m;
    this.macros.set(name, {
      name, body: body.trim(), file, line,
      ...(paren !== undefined ? { params: (params ?? '').split(',').map((p) => p.trim()).filter(Boolean) } : {}),
    });
    if (!this.order.includes(name)) this.order.push(name);
  }

  private scanEnums(text: string, file: string): void {
    for (const m of text.matchAll(/\bXEN_ERRNO\(\s*(\w+)\s*,\s*(\d+)\s*\)/g)) {
      this.enums.set(`XEN_${m[1]}`, { value: BigInt(m[2] ?? '0'), file });
    }
    for (const m of text.matchAll(/\benum\s*\w*\s*\{([^}]*)\}/g)) {
      let next = 0n;
      for (const item of (m[1] ?? '').split(',')) {
        const e = /^\s*(\w+)\s*(?:=\s*(.+?))?\s*$/.exec(item);
        if (!e || !e[1]) continue;
        const v = e[2] !== undefined ? this.evaluate(e[2]) : next;
        if (v === undefined || typeof v === 'string') continue;
        this.enums.set(e[1], { value: v, file });
        next = v + 1n;
      }
    }
  }

  private condition(expr: string, file: string, line: number): boolean {
    let v: bigint | string;
    try {
      v = this.evalExpr(expr, true);
    } catch (e) {
      throw new Error(`${file}:${line}: cannot evaluate #if ${expr}: ${(e as Error).message}`);
    }
    if (typeof v !== 'bigint') throw new Error(`${file}:${line}: #if on a string: ${expr}`);
    return v !== 0n;
  }

  has(name: string): boolean {
    return this.macros.has(name) || this.enums.has(name);
  }

  /** Value of a macro or enumerator: bigint, string (for string literals), or undefined if not evaluable. */
  value(name: string): bigint | string | undefined {
    const e = this.enums.get(name);
    if (e) return e.value;
    return this.evaluate(name);
  }

  evaluate(expr: string): bigint | string | undefined {
    try {
      return this.evalExpr(expr, false);
    } catch {
      return undefined;
    }
  }

  /** Names (macros and enumerators) starting with a prefix, excluding function-like macros. */
  family(prefix: string): string[] {
    const names = [...this.order.filter((n) => this.macros.has(n) && !this.macros.get(n)?.params), ...this.enums.keys()];
    return [...new Set(names.filter((n) => n.startsWith(prefix)))];
  }

  private evalExpr(expr: string, inIf: boolean): bigint | string {
    const p = new Parser(tokenize(expr), this, inIf, new Set());
    const v = p.parse();
    return v;
  }

  /** @internal used by Parser */
  expand(name: string, args: string[] | undefined, inIf: boolean, seen: Set<string>): bigint | string {
    const e = this.enums.get(name);
    if (e) return e.value;
    const m = this.macros.get(name);
    if (!m || seen.has(name)) {
      if (inIf) return 0n; // C: unknown identifiers in #if are 0
      throw new Error(`unknown identifier ${name}`);
    }
    let body = m.body;
    if (m.params) {
      if (!args || args.length !== m.params.length) throw new Error(`${name}: expects ${m.params.length} argument(s)`);
      m.params.forEach((p, i) => {
        body = body.replace(new RegExp(`\\b${p}\\b`, 'g'), `(${args[i]})`);
      });
    }
    if (body === '') throw new Error(`${name} has no value`);
    return new Parser(tokenize(body), this, inIf, new Set([...seen, name])).parse();
  }

  isFunctionLike(name: string): boolean {
    return this.macros.get(name)?.params !== undefined;
  }
}

function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).replace(/\/\/[^\n]*/g, '');
}

function logicalLines(text: string): { text: string; line: number }[] {
  const out: { text: string; line: number }[] = [];
  const phys = text.split('\n');
  for (let i = 0; i < phys.length; i++) {
    const start = i + 1;
    let l = phys[i] ?? '';
    while (l.endsWith('\\') && i + 1 < phys.length) l = l.slice(0, -1) + ' ' + (phys[++i] ?? '');
    out.push({ text: l, line: start });
  }
  return out;
}

type Tok = { k: 'num'; v: bigint; unsigned: boolean } | { k: 'str'; v: string } | { k: 'id'; v: string } | { k: 'op'; v: string };

function tokenize(s: string): Tok[] {
  const toks: Tok[] = [];
  const re = /\s*(?:(0[xX][0-9a-fA-F]+|\d+)([uUlL]*)|"((?:[^"\\]|\\.)*)"|([A-Za-z_]\w*)|(<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%()~!<>&|^,?:]))/y;
  let pos = 0;
  while (pos < s.length) {
    if (/^\s*$/.test(s.slice(pos))) break;
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) throw new Error(`cannot tokenize ${JSON.stringify(s.slice(pos))}`);
    pos = re.lastIndex;
    if (m[1] !== undefined) {
      const lit = m[1];
      const v = /^0[0-7]+$/.test(lit) ? BigInt(`0o${lit.slice(1)}`) : BigInt(lit);
      toks.push({ k: 'num', v, unsigned: /u/i.test(m[2] ?? '') });
    } else if (m[3] !== undefined) toks.push({ k: 'str', v: unescapeC(m[3]) });
    else if (m[4] !== undefined) toks.push({ k: 'id', v: m[4] });
    else if (m[5] !== undefined) toks.push({ k: 'op', v: m[5] });
  }
  return toks;
}

function unescapeC(s: string): string {
  return s.replace(/\\(x[0-9a-fA-F]+|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return ({ n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'" } as Record<string, string>)[e] ?? e;
  });
}

const BINARY: readonly (readonly string[])[] = [
  ['||'], ['&&'], ['|'], ['^'], ['&'], ['==', '!='], ['<', '<=', '>', '>='], ['<<', '>>'], ['+', '-'], ['*', '/', '%'],
];

class Parser {
  private i = 0;
  private unsigned = false;
  constructor(private readonly t: Tok[], private readonly hs: HeaderSet, private readonly inIf: boolean, private readonly seen: Set<string>) {}

  parse(): bigint | string {
    const only = this.t.length === 1 ? this.t[0] : undefined;
    if (only?.k === 'str') return only.v;
    if (only?.k === 'id' && !this.hs.isFunctionLike(only.v)) return this.hs.expand(only.v, undefined, this.inIf, this.seen);
    const v = this.ternary();
    if (this.i !== this.t.length) throw new Error('trailing tokens');
    // An unsigned 64-bit expression that went negative wraps like C (e.g. -1ULL << 6).
    return this.unsigned && v < 0n ? BigInt.asUintN(64, v) : v;
  }

  private peek(): Tok | undefined { return this.t[this.i]; }
  private isOp(v: string): boolean { const p = this.peek(); return p?.k === 'op' && p.v === v; }
  private expect(v: string): void {
    if (!this.isOp(v)) throw new Error(`expected ${v}`);
    this.i++;
  }

  private ternary(): bigint {
    const c = this.binary(0);
    if (!this.isOp('?')) return c;
    this.i++;
    const a = this.ternary();
    this.expect(':');
    const b = this.ternary();
    return c !== 0n ? a : b;
  }

  private binary(level: number): bigint {
    const ops = BINARY[level];
    if (!ops) return this.unary();
    let l = this.binary(level + 1);
    for (;;) {
      const p = this.peek();
      if (p?.k !== 'op' || !ops.includes(p.v)) return l;
      this.i++;
      const r = this.binary(level + 1);
      l = apply(p.v, l, r);
    }
  }

  private unary(): bigint {
    const p = this.peek();
    if (p?.k === 'op' && ['-', '+', '~', '!'].includes(p.v)) {
      this.i++;
      const v = this.unary();
      return p.v === '-' ? -v : p.v === '+' ? v : p.v === '~' ? ~v : v === 0n ? 1n : 0n;
    }
    return this.primary();
  }

  private primary(): bigint {
    const p = this.peek();
    if (!p) throw new Error('unexpected end');
    this.i++;
    if (p.k === 'num') {
      if (p.unsigned) this.unsigned = true;
      return p.v;
    }
    if (p.k === 'op' && p.v === '(') {
      const v = this.ternary();
      this.expect(')');
      return v;
    }
    if (p.k === 'id') {
      if (p.v === 'defined') {
        const paren = this.isOp('(');
        if (paren) this.i++;
        const n = this.peek();
        if (n?.k !== 'id') throw new Error('defined needs a name');
        this.i++;
        if (paren) this.expect(')');
        return this.hs.macros.has(n.v) ? 1n : 0n;
      }
      let args: string[] | undefined;
      if (this.hs.isFunctionLike(p.v) && this.isOp('(')) args = this.collectArgs();
      const v = this.hs.expand(p.v, args, this.inIf, this.seen);
      if (typeof v === 'string') throw new Error(`${p.v} is a string`);
      return v;
    }
    throw new Error(`unexpected ${p.v}`);
  }

  private collectArgs(): string[] {
    this.expect('(');
    const args: string[] = [];
    let depth = 0;
    let cur: string[] = [];
    for (;;) {
      const p = this.peek();
      if (!p) throw new Error('unterminated macro call');
      this.i++;
      if (p.k === 'op' && p.v === '(') depth++;
      if (p.k === 'op' && p.v === ')') {
        if (depth === 0) break;
        depth--;
      }
      if (p.k === 'op' && p.v === ',' && depth === 0) {
        args.push(cur.join(' '));
        cur = [];
        continue;
      }
      cur.push(p.k === 'num' ? p.v.toString() + (p.unsigned ? 'u' : '') : p.k === 'str' ? JSON.stringify(p.v) : p.v);
    }
    args.push(cur.join(' '));
    return args;
  }
}

function apply(op: string, l: bigint, r: bigint): bigint {
  switch (op) {
    case '||': return l !== 0n || r !== 0n ? 1n : 0n;
    case '&&': return l !== 0n && r !== 0n ? 1n : 0n;
    case '|': return l | r;
    case '^': return l ^ r;
    case '&': return l & r;
    case '==': return l === r ? 1n : 0n;
    case '!=': return l !== r ? 1n : 0n;
    case '<': return l < r ? 1n : 0n;
    case '<=': return l <= r ? 1n : 0n;
    case '>': return l > r ? 1n : 0n;
    case '>=': return l >= r ? 1n : 0n;
    case '<<': return l << r;
    case '>>': return l >> r;
    case '+': return l + r;
    case '-': return l - r;
    case '*': return l * r;
    case '/': if (r === 0n) throw new Error('division by zero'); return l / r;
    case '%': if (r === 0n) throw new Error('division by zero'); return l % r;
    default: throw new Error(`operator ${op}`);
  }
}
