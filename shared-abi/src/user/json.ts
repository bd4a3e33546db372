// The JSON form of an ABI: loadAbiJson() (structure + validate(), every problem located in the file) and
// abiToJson() (the fully explicit form, which loads back to an equal AbiDefinition).
import type {
  AbiDefinition, ArgDef, CallingConvention, CpuidLeafDef, ErrorModel, FeatureBitDef, Gpr, Gpr32, Gpr64, HypercallDef,
  HypercallSpace, MsrDef, Slot, BitFieldDef, CpuidReg, ErrorCodeDef,
} from '../types.js';
import { AbiError, type Problem } from '../errors.js';
import { BUILTIN_ABIS } from '../catalogue.js';
import { validate, widenSlot, ARG_TYPES, TRAPS, CPUID_REGS, ERROR_ENCODINGS, MSR_ACCESS, FIELD_KINDS } from './validate.js';
import { Reader, jsonSyntaxProblem, kind, type Json, type JsonObject } from './read.js';

export interface LoadOptions {
  /** File name used in problems and default `source` strings. */
  readonly file?: string;
  /** ABIs a `"convention": "<name>"` may borrow from (default: the built-in catalogue). */
  readonly bases?: readonly AbiDefinition[];
  /** Extra ABIs to check hypercall-number collisions against (the borrowed base is always checked). */
  readonly against?: readonly AbiDefinition[];
}

export interface ParsedAbi {
  readonly def?: AbiDefinition;
  /** The ABI whose conventions were borrowed, if any. */
  readonly base?: AbiDefinition;
  readonly problems: readonly Problem[];
}

const TOP = [
  '$schema', 'ext', 'name', 'title', 'version', 'source', 'convention', 'conventions', 'signature', 'base', 'maxLeaf',
  'minLeaves', 'detection', 'cpuidSource', 'leaves', 'features', 'hypercalls', 'errors', 'msrs', 'constants', 'space',
] as const;

/** Parses JSON text into an AbiDefinition; throws AbiError listing every problem (file, JSON path, value, why). */
export function loadAbiJson(text: string, fileOrOpts?: string | LoadOptions): AbiDefinition {
  const opts: LoadOptions = typeof fileOrOpts === 'string' ? { file: fileOrOpts } : (fileOrOpts ?? {});
  const r = parseAbiJson(text, opts);
  if (r.problems.length > 0 || !r.def) throw new AbiError(r.problems);
  return r.def;
}

/** Like loadAbiJson but returns the problems instead of throwing. */
export function parseAbiJson(text: string, opts: LoadOptions = {}): ParsedAbi {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { problems: [jsonSyntaxProblem(text, e as Error, opts.file)] };
  }
  return parseAbiObject(raw, opts);
}

/** Reads an already-parsed JSON value. Structural problems first, then validate()'s, both with JSON-form paths. */
export function parseAbiObject(raw: unknown, opts: LoadOptions = {}): ParsedAbi {
  const r = new Reader(opts.file);
  const o = r.object(raw, '$', TOP);
  if (!o) return { problems: r.problems };
  const name = r.string(o, 'name', '$');
  const source = r.string(o, 'source', '$', `user-defined ABI ${name}${opts.file ? ` (${opts.file})` : ''}`);
  const base = borrowed(o, r, opts.bases ?? BUILTIN_ABIS);
  const conventions = base ? base.conventions : readConventions(o, r, source);
  const features = r.array(o, 'features', '$').map((v, i) => readFeature(v, `$.features[${i}]`, r, source));
  const hypercalls = r.array(o, 'hypercalls', '$').map((v, i) => readHypercall(v, `$.hypercalls[${i}]`, r, source));
  const def: AbiDefinition = {
    name,
    title: r.string(o, 'title', '$', name),
    version: r.string(o, 'version', '$', '1'),
    cpuid: {
      detection: r.oneOf(o, 'detection', '$', ['scan', 'fixed'] as const, 'scan'),
      defaultBase: r.int(o, 'base', '$', 0x40000000), // Linux hypervisor_cpuid_base() starts at 0x40000000
      signature: r.string(o, 'signature', '$'),
      minLeaves: r.int(o, 'minLeaves', '$', 0),
      maxLeafOffset: r.int(o, 'maxLeaf', '$', Math.max(0, ...features.map((f) => f.leaf).filter(Number.isInteger))),
      leaves: o.leaves === undefined ? defaultLeaves(features, source) : r.array(o, 'leaves', '$').map((v, i) => readLeaf(v, `$.leaves[${i}]`, r, source)),
      source: r.string(o, 'cpuidSource', '$', source),
    },
    features,
    conventions,
    hypercalls,
    errors: readErrors(o, r, base, source),
    msrs: r.array(o, 'msrs', '$').map((v, i) => readMsr(v, `$.msrs[${i}]`, r, source)),
    space: readSpace(o, r, base, conventions, hypercalls, source),
    constants: r.array(o, 'constants', '$').map((v, i) => readConstant(v, `$.constants[${i}]`, r, source)),
    source,
    ...readExt(o, '$', r, DEF_KEYS),
  };
  const against = [...(base ? [base] : []), ...(opts.against ?? [])];
  const semantic = validate(def, { against, ...(opts.file !== undefined ? { file: opts.file } : {}) }).map((p) => ({ ...p, path: toJsonPath(p.path, base !== undefined) }));
  // A field already reported as malformed is not reported again by validate().
  const seen = r.problems.map((p) => p.path);
  // Leaves and a space range made up from the features and numbers are not in the file; the features' and
  // numbers' own problems say what is wrong. (Space overlaps, reported at $.space itself, stay.)
  if (o.leaves === undefined) seen.push('$.leaves');
  if (o.space === undefined) seen.push('$.space.lo', '$.space.hi', '$.space.mask');
  const fresh = semantic.filter((p) => !seen.some((q) => p.path === q || p.path.startsWith(`${q}.`) || p.path.startsWith(`${q}[`)));
  return { def, problems: inFileOrder([...r.problems, ...fresh]), ...(base ? { base } : {}) };
}

/** Problems sorted the way the file reads: by top-level field (TOP order), then by array index. */
function inFileOrder(problems: Problem[]): Problem[] {
  const key = (path: string): string => {
    const top = /^\$\.(\$?\w+)/.exec(path)?.[1] ?? '';
    const rank = (TOP as readonly string[]).indexOf(top);
    return `${String(rank < 0 ? 99 : rank).padStart(2, '0')}${path.replace(/\d+/g, (d) => d.padStart(6, '0'))}`;
  };
  return problems.map((p, i) => ({ p, i, k: key(p.path) })).sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : a.i - b.i)).map((x) => x.p);
}

/** validate() speaks AbiDefinition paths; the JSON form keeps CPUID fields at the top level. */
function toJsonPath(path: string, borrowedConventions: boolean): string {
  const map: [string, string][] = [
    ['$.cpuid.signature', '$.signature'], ['$.cpuid.defaultBase', '$.base'], ['$.cpuid.maxLeafOffset', '$.maxLeaf'],
    ['$.cpuid.minLeaves', '$.minLeaves'], ['$.cpuid.detection', '$.detection'], ['$.cpuid.leaves', '$.leaves'],
  ];
  if (borrowedConventions) map.push(['$.conventions', '$.convention']);
  for (const [from, to] of map) if (path === from || path.startsWith(`${from}.`) || path.startsWith(`${from}[`)) return to + path.slice(from.length);
  return path;
}

function borrowed(o: JsonObject, r: Reader, bases: readonly AbiDefinition[]): AbiDefinition | undefined {
  if (o.convention === undefined) {
    if (o.conventions === undefined) r.add('$.convention', undefined, `give "convention": the name of an ABI whose calling conventions to borrow (${bases.map((b) => b.name).join(', ')}), or an explicit "conventions" array`);
    return undefined;
  }
  if (o.conventions !== undefined) r.add('$.conventions', o.conventions, 'give either "convention" (borrowed) or "conventions" (explicit), not both');
  const name = o.convention;
  const base = bases.find((b) => b.name === name);
  if (!base) r.add('$.convention', name, `no such ABI to borrow conventions from (known: ${bases.map((b) => b.name).join(', ') || 'none'})`);
  return base;
}

function readSlot(v: Json | undefined, path: string, r: Reader): Slot {
  if (typeof v === 'string') return v as Gpr;
  const o = r.object(v, path, ['hi', 'lo']);
  if (!o) return 'rax';
  return { hi: r.string(o, 'hi', path) as Gpr32, lo: r.string(o, 'lo', path) as Gpr32 };
}

function readConventions(o: JsonObject, r: Reader, source: string): CallingConvention[] {
  return r.array(o, 'conventions', '$').map((v, i) => {
    const p = `$.conventions[${i}]`;
    const c = r.object(v, p, ['id', 'bits', 'trap', 'number', 'args', 'results', 'clobbers', 'fixed', 'source']);
    if (!c) return { id: '', bits: 64, trap: 'hypercall', number: 'rax', args: [], results: [], clobbers: [], source } satisfies CallingConvention;
    const bits = r.int(c, 'bits', p);
    if (bits !== 64 && bits !== 32 && !Number.isNaN(bits)) r.add(`${p}.bits`, bits, 'must be 64 or 32');
    const fixed = c.fixed === undefined ? undefined : r.array(c, 'fixed', p).map((f, j) => {
      const q = `${p}.fixed[${j}]`;
      const fo = r.object(f, q, ['reg', 'value', 'why']) ?? {};
      return { reg: r.string(fo, 'reg', q) as Gpr, value: r.int(fo, 'value', q), why: r.string(fo, 'why', q, '') };
    });
    return {
      id: r.string(c, 'id', p),
      bits: bits === 32 ? 32 : 64,
      trap: r.oneOf(c, 'trap', p, TRAPS),
      number: readSlot(c.number, `${p}.number`, r),
      args: r.array(c, 'args', p).map((a, j) => readSlot(a, `${p}.args[${j}]`, r)),
      results: r.array(c, 'results', p, true).map((a, j) => readSlot(a, `${p}.results[${j}]`, r)),
      clobbers: r.array(c, 'clobbers', p).map((a, j) => {
        if (typeof a !== 'string') r.add(`${p}.clobbers[${j}]`, a, `expected a register name, got ${kind(a)}`);
        return a as Gpr;
      }),
      ...(fixed ? { fixed } : {}),
      source: r.string(c, 'source', p, source),
    };
  });
}

function readFeature(v: Json, p: string, r: Reader, source: string): FeatureBitDef {
  const f = r.object(v, p, ['name', 'leaf', 'reg', 'bit', 'doc', 'source']) ?? {};
  return {
    name: r.string(f, 'name', p),
    leaf: r.int(f, 'leaf', p, 1), // the first leaf after the signature leaf, like KVM_CPUID_FEATURES
    reg: r.oneOf(f, 'reg', p, CPUID_REGS, 'eax'),
    bit: r.int(f, 'bit', p),
    doc: r.string(f, 'doc', p, ''),
    source: r.string(f, 'source', p, source),
  };
}

function defaultLeaves(features: readonly FeatureBitDef[], source: string): CpuidLeafDef[] {
  const leaves: CpuidLeafDef[] = [{ offset: 0, name: 'SIGNATURE', regs: { eax: 'max leaf', ebx: 'signature bytes 0..3', ecx: 'signature bytes 4..7', edx: 'signature bytes 8..11' }, source }];
  const byLeaf = new Map<number, Set<CpuidReg>>();
  for (const f of features) if (Number.isInteger(f.leaf) && f.leaf > 0) byLeaf.set(f.leaf, (byLeaf.get(f.leaf) ?? new Set()).add(f.reg));
  for (const [leaf, regs] of [...byLeaf].sort((a, b) => a[0] - b[0])) {
    const words: Partial<Record<CpuidReg, string>> = {};
    for (const reg of CPUID_REGS) if (regs.has(reg)) words[reg] = 'feature bits';
    leaves.push({ offset: leaf, name: leaf === 1 ? 'FEATURES' : `FEATURES_${leaf}`, regs: words, source });
  }
  return leaves;
}

function readLeaf(v: Json, p: string, r: Reader, source: string): CpuidLeafDef {
  const l = r.object(v, p, ['offset', 'name', 'regs', 'source']) ?? {};
  const regs: Partial<Record<CpuidReg, string>> = {};
  const ro = l.regs === undefined ? {} : (r.object(l.regs, `${p}.regs`, CPUID_REGS) ?? {});
  for (const reg of CPUID_REGS) if (ro[reg] !== undefined) regs[reg] = r.string(ro, reg, `${p}.regs`);
  return { offset: r.int(l, 'offset', p), name: r.string(l, 'name', p), regs, source: r.string(l, 'source', p, source) };
}

function readArg(v: Json, p: string, r: Reader): ArgDef {
  const a = r.object(v, p, ['name', 'type', 'doc']) ?? {};
  const doc = a.doc === undefined ? undefined : r.string(a, 'doc', p);
  return { name: r.string(a, 'name', p), type: r.oneOf(a, 'type', p, ARG_TYPES), ...(doc !== undefined ? { doc } : {}) };
}

function readHypercall(v: Json, p: string, r: Reader, source: string): HypercallDef {
  const h = r.object(v, p, [...HC_KEYS, 'ext']) ?? {};
  const conventions = h.conventions === undefined ? undefined : r.array(h, 'conventions', p).map((c, j) => {
    if (typeof c !== 'string') r.add(`${p}.conventions[${j}]`, c, 'expected a convention id');
    return String(c);
  });
  const bits = h.bits === undefined ? undefined : r.array(h, 'bits', p).map((b, j) => {
    if (b !== 64 && b !== 32) r.add(`${p}.bits[${j}]`, b, 'must be 64 or 32');
    return b === 32 ? 32 : 64;
  });
  const rep = r.optBool(h, 'rep', p);
  const fast = r.optBool(h, 'fast', p);
  return {
    name: r.string(h, 'name', p),
    nr: r.int(h, 'nr', p),
    args: r.array(h, 'args', p).map((a, j) => readArg(a, `${p}.args[${j}]`, r)),
    doc: r.string(h, 'doc', p, ''),
    source: r.string(h, 'source', p, source),
    ...(conventions ? { conventions } : {}),
    ...(bits ? { bits } : {}),
    ...(rep !== undefined ? { rep } : {}),
    ...(fast !== undefined ? { fast } : {}),
    ...readExt(h, p, r, HC_KEYS),
  };
}

/** Fields an ABI module adds beyond types.ts (Hyper-V input layouts, ...) travel as "ext" and come back spread. */
const HC_KEYS = ['name', 'nr', 'args', 'doc', 'source', 'conventions', 'bits', 'rep', 'fast'] as const;

function readExt(o: JsonObject, p: string, r: Reader, known: readonly string[]): JsonObject {
  if (o.ext === undefined) return {};
  const e = r.object(o.ext, `${p}.ext`, Object.keys(r.isObject(o.ext) ? o.ext : {}));
  if (!e) return {};
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(e)) {
    if (known.includes(k)) r.add(`${p}.ext.${k}`, v, 'an ext field may not replace a defined field');
    else out[k] = v;
  }
  return out;
}

function extOf(o: object, known: readonly string[]): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(o)) {
    if (!known.includes(k) && v !== undefined) out[k] = JSON.parse(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `0x${x.toString(16)}n` : x))) as Json;
  }
  return Object.keys(out).length ? { ext: out } : {};
}

function readErrors(o: JsonObject, r: Reader, base: AbiDefinition | undefined, source: string): ErrorModel {
  if (o.errors === undefined) {
    if (base) return base.errors;
    r.add('$.errors', undefined, 'required without a borrowed "convention": {encoding, codes, unknownHypercall, cplNonZero}');
    return { encoding: 'neg-errno', codes: [], unknownHypercall: '', cplNonZero: '' };
  }
  const e = r.object(o.errors, '$.errors', ['encoding', 'codes', 'unknownHypercall', 'cplNonZero']) ?? {};
  const codes = r.array(e, 'codes', '$.errors').map((v, i): ErrorCodeDef => {
    const p = `$.errors.codes[${i}]`;
    const c = r.object(v, p, ['name', 'value', 'doc', 'source']) ?? {};
    return { name: r.string(c, 'name', p), value: r.int(c, 'value', p), doc: r.string(c, 'doc', p, ''), source: r.string(c, 'source', p, source) };
  });
  return {
    encoding: r.oneOf(e, 'encoding', '$.errors', ERROR_ENCODINGS, base?.errors.encoding),
    codes,
    unknownHypercall: r.string(e, 'unknownHypercall', '$.errors', base?.errors.unknownHypercall),
    cplNonZero: r.string(e, 'cplNonZero', '$.errors', base?.errors.cplNonZero),
  };
}

function readMsr(v: Json, p: string, r: Reader, source: string): MsrDef {
  const m = r.object(v, p, ['name', 'index', 'access', 'layout', 'doc', 'source']) ?? {};
  const layout = r.array(m, 'layout', p).map((f, j): BitFieldDef => {
    const q = `${p}.layout[${j}]`;
    const fo = r.object(f, q, ['name', 'lsb', 'width', 'kind', 'doc']) ?? {};
    return { name: r.string(fo, 'name', q), lsb: r.int(fo, 'lsb', q), width: r.int(fo, 'width', q), kind: r.oneOf(fo, 'kind', q, FIELD_KINDS), doc: r.string(fo, 'doc', q, '') };
  });
  return {
    name: r.string(m, 'name', p), index: r.int(m, 'index', p), access: r.oneOf(m, 'access', p, MSR_ACCESS, 'rw'),
    layout, doc: r.string(m, 'doc', p, ''), source: r.string(m, 'source', p, source),
  };
}

function readConstant(v: Json, p: string, r: Reader, source: string): AbiDefinition['constants'][number] {
  const c = r.object(v, p, ['name', 'value', 'doc', 'source']) ?? {};
  const n = r.bigint(c, 'value', p);
  // A trailing n ("0x10n") keeps a small value a bigint, so abiToJson round-trips bigint constants exactly.
  const keepBig = typeof c.value === 'string' && /n$/i.test(c.value.trim());
  const value = n === undefined ? NaN : !keepBig && n <= BigInt(Number.MAX_SAFE_INTEGER) && n >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(n) : n;
  return { name: r.string(c, 'name', p), value, doc: r.string(c, 'doc', p, ''), source: r.string(c, 'source', p, source) };
}

const widen = (s: Slot | undefined): Gpr64 => (s === undefined ? 'rax' : widenSlot(s));

function readSpace(o: JsonObject, r: Reader, base: AbiDefinition | undefined, conventions: readonly CallingConvention[], calls: readonly HypercallDef[], source: string): HypercallSpace {
  const s = o.space === undefined ? {} : (r.object(o.space, '$.space', ['trap', 'selector', 'mask', 'lo', 'hi', 'discriminator', 'source']) ?? {});
  const nrs = calls.map((h) => h.nr).filter(Number.isSafeInteger);
  const first = conventions.find((c) => c.bits === 64) ?? conventions[0];
  const discriminator = s.discriminator === undefined ? undefined : r.string(s, 'discriminator', '$.space');
  return {
    trap: r.oneOf(s, 'trap', '$.space', TRAPS, base?.space.trap ?? first?.trap ?? 'hypercall'),
    selector: r.string(s, 'selector', '$.space', base?.space.selector ?? widen(first?.number)) as Gpr64,
    // 32 bits: a 32-bit caller's selector register is 32 bits wide
    mask: r.int(s, 'mask', '$.space', base?.space.mask ?? 0xffffffff),
    lo: r.int(s, 'lo', '$.space', nrs.length ? Math.min(...nrs) : 0),
    hi: r.int(s, 'hi', '$.space', nrs.length ? Math.max(...nrs) : 0),
    ...(discriminator !== undefined ? { discriminator } : {}),
    source: r.string(s, 'source', '$.space', base ? `${source}; selector borrowed from ${base.name}` : source),
  };
}

const DEF_KEYS = ['name', 'title', 'version', 'cpuid', 'features', 'conventions', 'hypercalls', 'errors', 'msrs', 'space', 'constants', 'source'] as const;

// ---- abiToJson --------------------------------------------------------------------------------------------

const hex = (n: number | bigint): string => (n < 0 ? `-0x${(-n).toString(16)}` : `0x${n.toString(16)}`);

/** The fully explicit JSON object of a definition (conventions, leaves, space and sources all spelled out). */
export function abiToJsonObject(def: AbiDefinition): JsonObject {
  const c = def.cpuid;
  const opt = <T extends Json>(k: string, v: T | undefined): JsonObject => (v === undefined ? {} : { [k]: v });
  return {
    name: def.name, title: def.title, version: def.version, source: def.source,
    signature: c.signature, base: hex(c.defaultBase), maxLeaf: c.maxLeafOffset, minLeaves: c.minLeaves,
    detection: c.detection, cpuidSource: c.source,
    leaves: c.leaves.map((l) => ({ offset: l.offset, name: l.name, regs: { ...l.regs } as JsonObject, source: l.source })),
    features: def.features.map((f) => ({ name: f.name, leaf: f.leaf, reg: f.reg, bit: f.bit, doc: f.doc, source: f.source })),
    conventions: def.conventions.map((cv) => ({
      id: cv.id, bits: cv.bits, trap: cv.trap, number: slotJson(cv.number), args: cv.args.map(slotJson),
      results: cv.results.map(slotJson), clobbers: [...cv.clobbers],
      ...opt('fixed', cv.fixed?.map((f) => ({ reg: f.reg, value: hex(f.value), why: f.why }))),
      source: cv.source,
    })),
    space: {
      trap: def.space.trap, selector: def.space.selector, mask: hex(def.space.mask), lo: hex(def.space.lo), hi: hex(def.space.hi),
      ...opt('discriminator', def.space.discriminator), source: def.space.source,
    },
    hypercalls: def.hypercalls.map((h) => ({
      name: h.name, nr: hex(h.nr),
      args: h.args.map((a) => ({ name: a.name, type: a.type, ...opt('doc', a.doc) })),
      doc: h.doc, source: h.source,
      ...opt('conventions', h.conventions ? [...h.conventions] : undefined), ...opt('bits', h.bits ? [...h.bits] : undefined),
      ...opt('rep', h.rep), ...opt('fast', h.fast), ...extOf(h, HC_KEYS),
    })),
    errors: {
      encoding: def.errors.encoding,
      codes: def.errors.codes.map((e) => ({ name: e.name, value: def.errors.encoding === 'neg-errno' ? e.value : hex(e.value), doc: e.doc, source: e.source })),
      unknownHypercall: def.errors.unknownHypercall, cplNonZero: def.errors.cplNonZero,
    },
    msrs: def.msrs.map((m) => ({
      name: m.name, index: hex(m.index), access: m.access,
      layout: m.layout.map((f) => ({ name: f.name, lsb: f.lsb, width: f.width, kind: f.kind, doc: f.doc })),
      doc: m.doc, source: m.source,
    })),
    constants: def.constants.map((k) => ({ name: k.name, value: typeof k.value === 'bigint' ? `${hex(k.value)}n` : hex(k.value), doc: k.doc, source: k.source })),
    ...extOf(def, DEF_KEYS),
  };
}

function slotJson(s: Slot): Json {
  return typeof s === 'string' ? s : { hi: s.hi, lo: s.lo };
}

/** JSON text (2-space indent) that loadAbiJson() turns back into an equal definition. */
export function abiToJson(def: AbiDefinition): string {
  return `${JSON.stringify(abiToJsonObject(def), null, 2)}\n`;
}
