// Internal-consistency checks of an AbiDefinition, shared by the KVM and Xen tests.
import { checkLayout, signatureToRegs, type AbiDefinition, type Problem } from '../../src/index.js';

const dupes = <T>(xs: readonly T[]): T[] => xs.filter((x, i) => xs.indexOf(x) !== i);

export function abiProblems(abi: AbiDefinition): string[] {
  const out: string[] = [];
  const p = (path: string, msg: string) => out.push(`${abi.name}: ${path}: ${msg}`);
  for (const d of dupes(abi.hypercalls.map((h) => h.name))) p('hypercalls', `duplicate name ${d}`);
  for (const d of dupes(abi.hypercalls.map((h) => h.nr))) p('hypercalls', `duplicate number ${d}`);
  for (const d of dupes(abi.features.map((f) => f.name))) p('features', `duplicate name ${d}`);
  for (const d of dupes(abi.features.map((f) => `${f.leaf}.${f.reg}.${f.bit}`))) p('features', `bit used twice ${d}`);
  for (const d of dupes(abi.msrs.map((m) => m.index))) p('msrs', `duplicate index ${d}`);
  for (const d of dupes(abi.msrs.map((m) => m.name))) p('msrs', `duplicate name ${d}`);
  for (const d of dupes(abi.conventions.map((c) => c.id))) p('conventions', `duplicate id ${d}`);
  for (const d of dupes(abi.errors.codes.map((c) => c.name))) p('errors', `duplicate name ${d}`);
  for (const d of dupes(abi.errors.codes.map((c) => c.value))) p('errors', `duplicate value ${d}`);
  const offsets = abi.cpuid.leaves.map((l) => l.offset);
  abi.features.forEach((f, i) => {
    if (f.leaf > abi.cpuid.maxLeafOffset || !offsets.includes(f.leaf)) p(`features[${i}]`, `leaf ${f.leaf} not an advertised leaf`);
    if (f.bit < 0 || f.bit > 31) p(`features[${i}]`, `bit ${f.bit} outside 0..31`);
  });
  if (Math.max(...offsets) !== abi.cpuid.maxLeafOffset) p('cpuid', 'maxLeafOffset is not the last leaf');
  try {
    signatureToRegs(abi.cpuid.signature);
  } catch (e) {
    p('cpuid.signature', (e as Error).message);
  }
  abi.msrs.forEach((m, i) => {
    const probs: Problem[] = checkLayout(m.layout, 64, `msrs[${i}].layout`);
    for (const x of probs) p(x.path, x.message);
  });
  const maxArgs = Math.min(...abi.conventions.map((c) => c.args.length));
  abi.hypercalls.forEach((h, i) => {
    if (h.args.length > maxArgs) p(`hypercalls[${i}]`, `${h.args.length} args but a convention has only ${maxArgs}`);
    if (h.nr < abi.space.lo || h.nr > abi.space.hi) p(`hypercalls[${i}]`, `nr ${h.nr} outside the space ${abi.space.lo}..${abi.space.hi}`);
    for (const c of h.conventions ?? []) if (!abi.conventions.some((x) => x.id === c)) p(`hypercalls[${i}]`, `unknown convention ${c}`);
  });
  const names = abi.errors.codes.map((c) => c.name);
  if (!names.includes(abi.errors.unknownHypercall)) p('errors.unknownHypercall', `${abi.errors.unknownHypercall} not in codes`);
  if (abi.errors.cplNonZero !== '#UD' && !names.includes(abi.errors.cplNonZero)) p('errors.cplNonZero', `${abi.errors.cplNonZero} not in codes`);
  for (const c of abi.conventions) {
    const regs = [c.number, ...c.args].map((s) => JSON.stringify(s));
    for (const d of dupes(regs)) p(`conventions.${c.id}`, `register ${d} used twice`);
  }
  for (const d of dupes(abi.constants.map((c) => c.name))) p('constants', `duplicate name ${d}`);
  return out;
}
