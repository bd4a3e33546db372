// Typed builder for user-defined ABIs. It assembles the JSON form and loads it, so the builder, the JSON file
// and validate() share one set of defaults and one set of checks.
import type { AbiDefinition, ArgType, BitFieldDef, CallingConvention, CpuidReg, ErrorEncoding, Gpr64, Trap } from '../types.js';
import { AbiError } from '../errors.js';
import { parseAbiObject, abiToJsonObject } from './json.js';
import type { Json, JsonObject } from './read.js';

export interface FeatureOptions {
  /** Leaf offset from the CPUID base; default 1. */
  readonly leaf?: number;
  /** Default eax. */
  readonly reg?: CpuidReg;
  readonly bit: number;
  readonly doc?: string;
  readonly source?: string;
}

export interface HypercallOptions {
  readonly doc?: string;
  readonly source?: string;
  readonly bits?: readonly (64 | 32)[];
  readonly conventions?: readonly string[];
}

export interface BuildOptions {
  /** ABIs a borrowed convention name may refer to (default: the built-in catalogue). */
  readonly bases?: readonly AbiDefinition[];
  /** Further ABIs whose hypercall numbers must not collide with this one's. */
  readonly against?: readonly AbiDefinition[];
}

const num = (v: number | bigint): Json => (typeof v === 'bigint' ? `0x${v.toString(16)}n`.replace('0x-', '-0x') : v);

export class AbiBuilder {
  private readonly o: JsonObject;
  private readonly list = (k: string): Json[] => ((this.o[k] ??= []) as Json[]);

  constructor(name: string) {
    this.o = { name };
  }

  title(t: string): this { this.o.title = t; return this; }
  version(v: string): this { this.o.version = v; return this; }
  source(s: string): this { this.o.source = s; return this; }
  /** The 12-byte CPUID signature (EBX, ECX, EDX). */
  signature(sig: string): this { this.o.signature = sig; return this; }
  /** CPUID base leaf (default 0x40000000). */
  base(leaf: number): this { this.o.base = leaf; return this; }
  /** Max leaf as an offset from the base (default: the highest feature leaf). */
  maxLeaf(offset: number): this { this.o.maxLeaf = offset; return this; }
  detection(d: 'scan' | 'fixed', minLeaves = 0): this { this.o.detection = d; this.o.minLeaves = minLeaves; return this; }

  /** Borrow the calling conventions (and selector) of a built-in ABI by name, e.g. 'kvm'. */
  convention(abi: string): this;
  /** Or give them explicitly. */
  convention(...conventions: CallingConvention[]): this;
  convention(...c: [string] | CallingConvention[]): this {
    if (typeof c[0] === 'string') this.o.convention = c[0];
    else this.o.conventions = (abiToJsonObject({ ...EMPTY, conventions: c as CallingConvention[] }).conventions ?? []) as Json[];
    return this;
  }

  feature(name: string, f: FeatureOptions): this {
    this.list('features').push({ name, leaf: f.leaf ?? 1, reg: f.reg ?? 'eax', bit: f.bit, ...opt('doc', f.doc), ...opt('source', f.source) });
    return this;
  }

  hypercall(name: string, nr: number, args: readonly { name: string; type: ArgType; doc?: string }[] = [], h: HypercallOptions = {}): this {
    this.list('hypercalls').push({
      name, nr, args: args.map((a) => ({ name: a.name, type: a.type, ...opt('doc', a.doc) })),
      ...opt('doc', h.doc), ...opt('source', h.source),
      ...(h.bits ? { bits: [...h.bits] } : {}), ...(h.conventions ? { conventions: [...h.conventions] } : {}),
    });
    return this;
  }

  /** Error model; without it a borrowed convention's model is used. */
  errors(e: { encoding?: ErrorEncoding; unknownHypercall?: string; cplNonZero?: string }): this {
    const cur = (this.o.errors ??= { codes: [] }) as JsonObject;
    Object.assign(cur, JSON.parse(JSON.stringify(e)) as JsonObject);
    return this;
  }

  error(name: string, value: number, doc = ''): this {
    const cur = (this.o.errors ??= { codes: [] }) as JsonObject;
    (cur.codes as Json[]).push({ name, value, doc });
    return this;
  }

  constant(name: string, value: number | bigint, doc = ''): this {
    this.list('constants').push({ name, value: num(value), doc });
    return this;
  }

  msr(name: string, index: number, layout: readonly BitFieldDef[], m: { access?: 'rw' | 'ro' | 'wo'; doc?: string } = {}): this {
    this.list('msrs').push({ name, index, access: m.access ?? 'rw', layout: layout.map((f) => ({ ...f })), ...opt('doc', m.doc) });
    return this;
  }

  /** Claim a hypercall number range (default: lowest..highest number used). */
  space(s: { lo?: number; hi?: number; mask?: number; selector?: Gpr64; trap?: Trap; discriminator?: string }): this {
    this.o.space = JSON.parse(JSON.stringify(s)) as JsonObject;
    return this;
  }

  /** The JSON form built so far. */
  toJson(): JsonObject {
    return JSON.parse(JSON.stringify(this.o)) as JsonObject;
  }

  /** Validates and returns the definition; throws AbiError with every problem. */
  build(opts: BuildOptions = {}): AbiDefinition {
    const r = parseAbiObject(this.toJson(), opts);
    if (r.problems.length > 0 || !r.def) throw new AbiError(r.problems);
    return r.def;
  }
}

const opt = (k: string, v: string | undefined): JsonObject => (v === undefined ? {} : { [k]: v });

/** Scaffold for serialising bare conventions through abiToJsonObject. */
const EMPTY: AbiDefinition = {
  name: '', title: '', version: '', source: '', features: [], conventions: [], hypercalls: [], msrs: [], constants: [],
  cpuid: { detection: 'scan', defaultBase: 0, signature: '', minLeaves: 0, maxLeafOffset: 0, leaves: [], source: '' },
  errors: { encoding: 'neg-errno', codes: [], unknownHypercall: '', cplNonZero: '' },
  space: { trap: 'hypercall', selector: 'rax', mask: 0, lo: 0, hi: 0, source: '' },
};

/** Starts a user-defined ABI: `defineAbi('mydev').signature('MyDevHvMyDev').convention('kvm')...build()`. */
export function defineAbi(name: string): AbiBuilder {
  return new AbiBuilder(name);
}
