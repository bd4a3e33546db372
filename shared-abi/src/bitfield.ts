// Generic bit-exact encode/decode of a register or MSR value described by BitFieldDef[].
// All values are bigint: MSRs and Hyper-V control words use all 64 bits.
import type { BitFieldDef } from './types.js';
import { AbiError, type Problem } from './errors.js';

export type FieldValues = Record<string, bigint | boolean>;

const mask = (width: number): bigint => (1n << BigInt(width)) - 1n;

/** Checks a layout: fields inside 0..bits-1, no overlaps, unique names. Returns problems, empty when fine. */
export function checkLayout(layout: readonly BitFieldDef[], bits = 64, path = 'layout'): Problem[] {
  const problems: Problem[] = [];
  const seen = new Map<string, number>();
  let used = 0n;
  layout.forEach((f, i) => {
    const at = `${path}[${i}]`;
    if (seen.has(f.name)) problems.push({ path: `${at}.name`, value: f.name, message: `duplicate field name (also ${path}[${seen.get(f.name)}])` });
    seen.set(f.name, i);
    if (!Number.isInteger(f.lsb) || f.lsb < 0 || !Number.isInteger(f.width) || f.width < 1 || f.lsb + f.width > bits) {
      problems.push({ path: at, value: { lsb: f.lsb, width: f.width }, message: `field must lie within bits 0..${bits - 1}` });
      return;
    }
    if (f.kind === 'flag' && f.width !== 1) problems.push({ path: `${at}.width`, value: f.width, message: 'a flag is one bit wide' });
    const m = mask(f.width) << BigInt(f.lsb);
    if (used & m) problems.push({ path: at, value: f.name, message: 'overlaps an earlier field' });
    used |= m;
  });
  return problems;
}

/**
 * Encodes named field values into one integer. `gpa` fields take the full address and must be aligned to
 * 1 << lsb; `reserved` fields must be zero or absent. Unknown names and out-of-range values are errors.
 */
export function encodeFields(layout: readonly BitFieldDef[], values: FieldValues, what = 'value'): bigint {
  const problems: Problem[] = [];
  const byName = new Map(layout.map((f) => [f.name, f]));
  for (const name of Object.keys(values)) {
    if (!byName.has(name)) problems.push({ path: `${what}.${name}`, value: values[name], message: `no such field (fields: ${layout.map((f) => f.name).join(', ')})` });
  }
  let out = 0n;
  for (const f of layout) {
    const raw = values[f.name];
    if (raw === undefined) continue;
    let v = typeof raw === 'boolean' ? (raw ? 1n : 0n) : raw;
    const at = `${what}.${f.name}`;
    if (v < 0n) {
      problems.push({ path: at, value: v, message: 'negative value' });
      continue;
    }
    if (f.kind === 'gpa') {
      const align = mask(f.lsb);
      if (v & align) {
        problems.push({ path: at, value: v, message: `address must be aligned to ${1n << BigInt(f.lsb)} bytes` });
        continue;
      }
      v >>= BigInt(f.lsb);
    }
    if (f.kind === 'reserved' && v !== 0n) {
      problems.push({ path: at, value: v, message: 'reserved field must be zero' });
      continue;
    }
    if (v > mask(f.width)) {
      problems.push({ path: at, value: raw, message: `does not fit in ${f.width} bit(s) at bit ${f.lsb}` });
      continue;
    }
    out |= v << BigInt(f.lsb);
  }
  if (problems.length) throw new AbiError(problems);
  return out;
}

/** Decodes an integer into every field of the layout (flags as booleans, gpa fields as full addresses). */
export function decodeFields(layout: readonly BitFieldDef[], value: bigint): FieldValues {
  const out: FieldValues = {};
  for (const f of layout) {
    const v = (value >> BigInt(f.lsb)) & mask(f.width);
    out[f.name] = f.kind === 'flag' ? v === 1n : f.kind === 'gpa' ? v << BigInt(f.lsb) : v;
  }
  return out;
}

/** Bits of `value` set outside every field of the layout, i.e. bits the layout does not define. */
export function undefinedBits(layout: readonly BitFieldDef[], value: bigint, bits = 64): bigint {
  let used = 0n;
  for (const f of layout) used |= mask(f.width) << BigInt(f.lsb);
  return value & mask(bits) & ~used;
}

/** Bits set in reserved fields. */
export function reservedBits(layout: readonly BitFieldDef[], value: bigint): bigint {
  let r = 0n;
  for (const f of layout) if (f.kind === 'reserved') r |= mask(f.width) << BigInt(f.lsb);
  return value & r;
}
