// Generic CPUID feature-set codec: names <-> the 32-bit register value of one leaf, for any ABI
// (built-in or user-defined). Bits are described by FeatureBitDef (types.ts).
import type { CpuidReg, FeatureBitDef } from './types.js';
import { AbiError, type Problem } from './errors.js';

const REGS: readonly CpuidReg[] = ['eax', 'ebx', 'ecx', 'edx'];

function where(leaf: number, reg: CpuidReg): string {
  return `leaf +0x${leaf.toString(16)} ${reg}`;
}

function checkTarget(leaf: number, reg: CpuidReg, path: string): Problem[] {
  const problems: Problem[] = [];
  if (!Number.isInteger(leaf) || leaf < 0 || leaf > 0xffff) {
    problems.push({ path: `${path}.leaf`, value: leaf, message: 'leaf offset must be an integer 0..0xffff' });
  }
  if (!REGS.includes(reg)) problems.push({ path: `${path}.reg`, value: reg, message: `register must be one of ${REGS.join(', ')}` });
  return problems;
}

/**
 * ORs the bits of `names` into one 32-bit register value for `leaf`/`reg`. Every name must exist in
 * `defs` and belong to that leaf and register; all problems are reported together.
 */
export function encodeFeatures(defs: readonly FeatureBitDef[], names: readonly string[], leaf: number, reg: CpuidReg): number {
  const problems = checkTarget(leaf, reg, 'features');
  const byName = new Map(defs.map((d) => [d.name, d]));
  let value = 0;
  names.forEach((name, i) => {
    const d = byName.get(name);
    const at = `features[${i}]`;
    if (!d) {
      const here = defs.filter((x) => x.leaf === leaf && x.reg === reg).map((x) => x.name);
      problems.push({ path: at, value: name, message: `unknown feature name (${where(leaf, reg)} defines: ${here.join(', ') || 'nothing'})` });
      return;
    }
    if (d.leaf !== leaf || d.reg !== reg) {
      problems.push({ path: at, value: name, message: `feature lives in ${where(d.leaf, d.reg)}, not ${where(leaf, reg)}` });
      return;
    }
    if (!Number.isInteger(d.bit) || d.bit < 0 || d.bit > 31) {
      problems.push({ path: at, value: d.bit, message: `feature ${name} has bit ${d.bit}, outside 0..31` });
      return;
    }
    value |= 1 << d.bit;
  });
  if (problems.length) throw new AbiError(problems);
  return value >>> 0;
}

/**
 * Names of the features set in `value` for `leaf`/`reg`, in bit order. Set bits that no definition names
 * are not returned; get them with `unknownFeatureBits`.
 */
export function decodeFeatures(defs: readonly FeatureBitDef[], value: number, leaf: number, reg: CpuidReg): string[] {
  const problems = checkTarget(leaf, reg, 'features');
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    problems.push({ path: 'value', value, message: 'a CPUID register value is an unsigned 32-bit integer' });
  }
  if (problems.length) throw new AbiError(problems);
  return defs
    .filter((d) => d.leaf === leaf && d.reg === reg && d.bit >= 0 && d.bit <= 31 && ((value >>> d.bit) & 1) === 1)
    .sort((a, b) => a.bit - b.bit)
    .map((d) => d.name);
}

/** Bits set in `value` that no definition for `leaf`/`reg` names (a newer host, or a typo in a test). */
export function unknownFeatureBits(defs: readonly FeatureBitDef[], value: number, leaf: number, reg: CpuidReg): number {
  let known = 0;
  for (const d of defs) if (d.leaf === leaf && d.reg === reg && d.bit >= 0 && d.bit <= 31) known |= 1 << d.bit;
  return (value & ~known) >>> 0;
}

/**
 * Consistency of a feature table: unique names, bits 0..31, no two names on the same leaf/reg/bit, and
 * (when `maxLeafOffset` is given) every leaf within the advertised range.
 */
export function checkFeatureDefs(defs: readonly FeatureBitDef[], maxLeafOffset?: number, path = 'features'): Problem[] {
  const problems: Problem[] = [];
  const names = new Map<string, number>();
  const slots = new Map<string, number>();
  defs.forEach((d, i) => {
    const at = `${path}[${i}]`;
    if (names.has(d.name)) problems.push({ path: `${at}.name`, value: d.name, message: `duplicate feature name (also ${path}[${names.get(d.name)}])` });
    names.set(d.name, i);
    problems.push(...checkTarget(d.leaf, d.reg, at));
    if (!Number.isInteger(d.bit) || d.bit < 0 || d.bit > 31) problems.push({ path: `${at}.bit`, value: d.bit, message: 'bit must be 0..31' });
    if (maxLeafOffset !== undefined && d.leaf > maxLeafOffset) {
      problems.push({ path: `${at}.leaf`, value: d.leaf, message: `leaf offset beyond the advertised max leaf offset 0x${maxLeafOffset.toString(16)}` });
    }
    const slot = `${d.leaf}/${d.reg}/${d.bit}`;
    if (slots.has(slot)) problems.push({ path: `${at}.bit`, value: d.bit, message: `bit already used by ${path}[${slots.get(slot)}] in ${where(d.leaf, d.reg)}` });
    slots.set(slot, i);
  });
  return problems;
}
