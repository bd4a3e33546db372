// C header generator for any AbiDefinition. The output is freestanding C11 (only <stdint.h>), compiles with
// gcc -std=c11 -Wall -Wextra -Werror -pedantic -ffreestanding in 32- and 64-bit mode, and prefixes every macro
// with PVKIT_<ABI>_ so it can sit next to the system's own headers (linux/kvm_para.h, xen/xen.h).
import type { AbiDefinition, BitFieldDef, CallingConvention, CpuidLeafDef, ErrorCodeDef, FeatureBitDef, HypercallDef, MsrDef, Slot } from './types.js';
import { AbiError, type Problem } from './errors.js';

type Named = { readonly name: string };

const upper = (s: string): string => s.toUpperCase().replace(/[^A-Z0-9_]/g, '_');

/** `PVKIT_KVM_` for the kvm ABI. */
export function cMacroPrefix(def: Named): string {
  return `PVKIT_${upper(def.name)}_`;
}

/** Drops leading `<ABI>_` and `<category>_` words so MSR_KVM_SYSTEM_TIME becomes PVKIT_KVM_MSR_SYSTEM_TIME. */
function stem(def: Named, name: string, category: string): string {
  const drop = [`${upper(def.name)}_`, ...(category ? [`${category}_`] : [])];
  let s = upper(name);
  for (let again = true; again;) {
    again = false;
    for (const d of drop) {
      if (s.startsWith(d) && s.length > d.length) {
        s = s.slice(d.length);
        again = true;
      }
    }
  }
  return s;
}

/** Macro names, shared with the tests that check the header's values against the data. */
export const cNames = {
  hypercall: (def: Named, h: Named): string => `${cMacroPrefix(def)}HC_${stem(def, h.name, 'HC')}`,
  feature: (def: Named, f: FeatureBitDef): string => `${cMacroPrefix(def)}CPUID${f.leaf}_${f.reg.toUpperCase()}_${stem(def, f.name, '')}`,
  leafMask: (def: Named, leaf: number, reg: string): string => `${cMacroPrefix(def)}CPUID${leaf}_${reg.toUpperCase()}_DEFINED_MASK`,
  leaf: (def: Named, l: CpuidLeafDef): string => `${cMacroPrefix(def)}LEAF_${stem(def, l.name, 'LEAF')}`,
  error: (def: Named, e: Named): string => `${cMacroPrefix(def)}ERR_${stem(def, e.name, 'ERR')}`,
  msr: (def: Named, m: Named): string => `${cMacroPrefix(def)}MSR_${stem(def, m.name, 'MSR')}`,
  msrField: (def: Named, m: Named, f: BitFieldDef): string => `${cNames.msr(def, m)}_${upper(f.name)}`,
  constant: (def: Named, k: Named): string => `${cMacroPrefix(def)}${stem(def, k.name, '')}`,
};

/** A C integer constant expression of exactly this value, with the suffix its size needs. */
export function cLiteral(v: number | bigint): string {
  const n = BigInt(v);
  if (n >= 0n) {
    const body = n < 256n ? n.toString() : `0x${n.toString(16)}`;
    if (n <= 0xffffffffn) return `${body}u`;
    if (n < 1n << 64n) return `${body}ull`;
  } else {
    const m = -n;
    if (m <= 0x7fffffffn) return `(-${m.toString()})`;
    if (m < 1n << 63n) return `(-${m.toString()}ll)`;
    if (m === 1n << 63n) return '(-0x7fffffffffffffffll - 1)';
  }
  throw new AbiError([{ path: 'value', value: v, message: 'does not fit a 64-bit C integer' }]);
}

/** Comment text that cannot end the comment or form a trigraph. */
const note = (s: string): string => s.replace(/\*\//g, '* /').replace(/\/\*/g, '/ *').replace(/\?\?/g, '? ?').replace(/\s+/g, ' ').trim();

/** The signature as a C string literal; every byte but letters and digits as a 3-digit octal escape. */
function cString(s: string): string {
  return `"${[...Buffer.from(s, 'latin1')].map((b) => (/[A-Za-z0-9 ]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `\\${b.toString(8).padStart(3, '0')}`)).join('')}"`;
}

const slot = (s: Slot): string => (typeof s === 'string' ? s : `${s.hi}:${s.lo}`);
const trapText: Record<CallingConvention['trap'], string> = {
  hypercall: 'VMCALL (0f 01 c1, Intel) / VMMCALL (0f 01 d9, AMD)',
  hcpage: 'call into the hypercall page',
  port: 'port I/O (in/out)',
};

const C_ARG: Record<string, string> = { u8: 'uint8_t', u16: 'uint16_t', u32: 'uint32_t', u64: 'uint64_t', i32: 'int32_t', i64: 'int64_t', gpa: 'uint64_t gpa', gva: 'uintptr_t gva', flags: 'uint64_t flags' };

class Out {
  readonly lines: string[] = [];
  private readonly seen = new Map<string, { path: string; value: string }>();
  readonly problems: Problem[] = [];
  define(name: string, value: string, comment: string | undefined, path: string): void {
    const prev = this.seen.get(name);
    if (prev !== undefined) {
      // The same name with the same value (a constant restating the CPUID base) is one macro, not a clash.
      if (prev.value !== value) this.problems.push({ path, value: name, message: `C macro name clashes with ${prev.path} (${prev.value} vs ${value}); rename one of them` });
      return;
    }
    this.seen.set(name, { path, value });
    if (comment) this.lines.push(`/* ${note(comment)} */`);
    this.lines.push(`#define ${name} ${value}`);
  }
  text(s = ''): void {
    this.lines.push(s);
  }
}

/** The whole header. Throws AbiError when two names map to the same C macro or a value does not fit. */
export function cHeader(def: AbiDefinition): string {
  const o = new Out();
  const P = cMacroPrefix(def);
  const guard = `${P}ABI_H`;
  o.text(`/* ${note(`${def.title} (${def.name}, version ${def.version}): C constants generated by pvkit from the ABI data. Do not edit.`)}`);
  o.text(` * ${note(`Source: ${def.source}`)}`);
  o.text(' *');
  o.text(' * Calling conventions:');
  for (const c of def.conventions) {
    o.text(` *   ${note(`${c.id}: ${c.bits}-bit, ${trapText[c.trap]}; number in ${slot(c.number)}; args ${c.args.map(slot).join(', ') || 'none'}; results ${c.results.map(slot).join(', ')}; clobbers ${c.clobbers.join(', ') || 'nothing else'}`)}`);
    for (const f of c.fixed ?? []) o.text(` *     ${note(`${f.reg} = 0x${f.value.toString(16)} on entry (${f.why})`)}`);
  }
  o.text(` * Errors: ${note(errorText(def))}`);
  o.text(' */');
  o.text(`#ifndef ${guard}`);
  o.text(`#define ${guard}`);
  o.text();
  o.text('#include <stdint.h>');
  o.text();
  cpuidPart(def, o);
  featurePart(def, o);
  hypercallPart(def, o);
  errorPart(def, o);
  msrPart(def, o);
  if (def.constants.length) {
    o.text('/* ---- constants ---- */');
    def.constants.forEach((k, i) => o.define(cNames.constant(def, k), literalAt(k.value, `$.constants[${i}].value`, o), `${k.doc} [${k.source}]`, `$.constants[${i}].name`));
    o.text();
  }
  o.text(`#endif /* ${guard} */`);
  if (o.problems.length) throw new AbiError(o.problems);
  return `${o.lines.join('\n')}\n`;
}

function literalAt(v: number | bigint, path: string, o: Out): string {
  try {
    return cLiteral(v);
  } catch {
    o.problems.push({ path, value: v, message: 'does not fit a 64-bit C integer' });
    return '0';
  }
}

function errorText(def: AbiDefinition): string {
  const e = def.errors;
  const how = e.encoding === 'neg-errno' ? 'the result register holds -code (truncated to 32 bits for a 32-bit caller)'
    : e.encoding === 'hv-status' ? 'result bits 15:0 hold the status code'
      : 'the result register is set to all ones';
  return `${how}; unknown hypercall -> ${e.unknownHypercall}; CPL > 0 -> ${e.cplNonZero}`;
}

function cpuidPart(def: AbiDefinition, o: Out): void {
  const c = def.cpuid;
  const sig = Buffer.from(c.signature, 'latin1');
  o.text('/* ---- CPUID ---- */');
  o.define(`${cMacroPrefix(def)}CPUID_BASE`, cLiteral(c.defaultBase), `default base leaf; detection: ${c.detection === 'scan' ? 'scan 0x40000000..0x4000ff00 step 0x100' : 'this base only'} [${c.source}]`, '$.cpuid.defaultBase');
  o.define(`${cMacroPrefix(def)}CPUID_MAX_LEAF`, cLiteral(c.defaultBase + c.maxLeafOffset), `EAX of the base leaf (max leaf) at the default base`, '$.cpuid.maxLeafOffset');
  o.define(`${cMacroPrefix(def)}CPUID_MIN_LEAVES`, cLiteral(c.minLeaves), 'detection requires max leaf - base >= this', '$.cpuid.minLeaves');
  if (sig.length === 12) {
    const w = ['EBX', 'ECX', 'EDX'];
    w.forEach((r, i) => o.define(`${cMacroPrefix(def)}CPUID_SIGNATURE_${r}`, cLiteral(sig.readUInt32LE(i * 4)), i === 0 ? 'signature words, little endian' : undefined, '$.cpuid.signature'));
  }
  o.define(`${cMacroPrefix(def)}CPUID_SIGNATURE`, cString(c.signature), '12 bytes, EBX ECX EDX order', '$.cpuid.signature');
  c.leaves.forEach((l, i) => {
    const regs = Object.entries(l.regs).map(([r, t]) => `${r}: ${t}`).join('; ');
    o.define(cNames.leaf(def, l), cLiteral(c.defaultBase + l.offset), `${l.name}: base + ${l.offset}${regs ? `; ${regs}` : ''}`, `$.cpuid.leaves[${i}].name`);
  });
  o.text();
}

function featurePart(def: AbiDefinition, o: Out): void {
  if (!def.features.length) return;
  o.text('/* ---- feature bits (CPUID leaf base + n, register) ---- */');
  const masks = new Map<string, { leaf: number; reg: string; mask: bigint }>();
  def.features.forEach((f: FeatureBitDef, i) => {
    const name = cNames.feature(def, f);
    o.define(name, `(1u << ${f.bit})`, `${f.name}: CPUID base+${f.leaf} ${f.reg.toUpperCase()} bit ${f.bit}. ${f.doc} [${f.source}]`, `$.features[${i}].name`);
    o.define(`${name}_BIT`, cLiteral(f.bit), undefined, `$.features[${i}].name`);
    const k = `${f.leaf}/${f.reg}`;
    const m = masks.get(k) ?? { leaf: f.leaf, reg: f.reg, mask: 0n };
    m.mask |= 1n << BigInt(f.bit);
    masks.set(k, m);
  });
  for (const m of masks.values()) o.define(cNames.leafMask(def, m.leaf, m.reg), cLiteral(m.mask), `every bit defined in CPUID base+${m.leaf} ${m.reg.toUpperCase()}`, '$.features');
  o.text();
}

function hypercallPart(def: AbiDefinition, o: Out): void {
  const P = cMacroPrefix(def);
  const s = def.space;
  o.text('/* ---- hypercalls ---- */');
  o.define(`${P}HC_SPACE_LO`, cLiteral(s.lo), `numbers this ABI claims in ${s.selector} (${s.trap}) [${s.source}]`, '$.space.lo');
  o.define(`${P}HC_SPACE_HI`, cLiteral(s.hi), undefined, '$.space.hi');
  o.define(`${P}HC_SPACE_MASK`, cLiteral(s.mask), 'selector bits that hold the number', '$.space.mask');
  def.hypercalls.forEach((h: HypercallDef, i) => {
    const args = h.args.map((a) => `${C_ARG[a.type] ?? a.type} ${a.name}`).join(', ') || 'void';
    const extra = [h.bits ? `${h.bits.join('/')}-bit only` : '', h.conventions ? `conventions ${h.conventions.join(', ')}` : '', h.rep ? 'rep' : '', h.fast ? 'fast' : ''].filter(Boolean).join(', ');
    o.define(cNames.hypercall(def, h), cLiteral(h.nr), `${h.name}(${args})${extra ? ` [${extra}]` : ''}: ${h.doc} [${h.source}]`, `$.hypercalls[${i}].name`);
    o.define(`${cNames.hypercall(def, h)}_NARGS`, cLiteral(h.args.length), undefined, `$.hypercalls[${i}].name`);
  });
  o.text();
}

function errorPart(def: AbiDefinition, o: Out): void {
  if (!def.errors.codes.length) return;
  o.text(`/* ---- error codes (${def.errors.encoding}) ---- */`);
  def.errors.codes.forEach((e: ErrorCodeDef, i) => o.define(cNames.error(def, e), cLiteral(e.value), `${e.name}: ${e.doc} [${e.source}]`, `$.errors.codes[${i}].name`));
  o.text();
}

function msrPart(def: AbiDefinition, o: Out): void {
  if (!def.msrs.length) return;
  o.text('/* ---- MSRs and value layouts ---- */');
  def.msrs.forEach((m: MsrDef, i) => {
    const name = cNames.msr(def, m);
    o.define(name, cLiteral(m.index), `${m.name} (${m.access}): ${m.doc} [${m.source}]`, `$.msrs[${i}].name`);
    m.layout.forEach((f, j) => {
      const fn = cNames.msrField(def, m, f);
      const at = `$.msrs[${i}].layout[${j}].name`;
      o.define(`${fn}_SHIFT`, cLiteral(f.lsb), `${f.kind} bits ${f.lsb + f.width - 1}:${f.lsb}${f.doc ? `: ${f.doc}` : ''}`, at);
      o.define(`${fn}_MASK`, `${cLiteral(((1n << BigInt(f.width)) - 1n) << BigInt(f.lsb)).replace(/u$/, 'ull')}`, undefined, at);
    });
  });
  o.text();
}
