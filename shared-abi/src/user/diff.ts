// diff(old, new): what changed between two versions of an ABI, each change classified as breaking (an old
// guest or host built against `old` misbehaves with `new`) or compatible.
import type { AbiDefinition, CallingConvention, FeatureBitDef, HypercallDef, Slot } from '../types.js';

export type ChangeKind =
  | 'abi-renamed' | 'title-changed' | 'version-changed'
  | 'signature-changed' | 'base-changed' | 'detection-changed' | 'max-leaf-changed'
  | 'convention-added' | 'convention-removed' | 'convention-changed'
  | 'hypercall-added' | 'hypercall-removed' | 'hypercall-renumbered' | 'hypercall-renamed' | 'hypercall-number-reused'
  | 'hypercall-args-changed' | 'hypercall-arg-type-changed' | 'hypercall-arg-renamed' | 'hypercall-modes-changed'
  | 'feature-added' | 'feature-removed' | 'feature-moved' | 'feature-bit-reused'
  | 'error-added' | 'error-removed' | 'error-value-changed' | 'error-model-changed'
  | 'msr-added' | 'msr-removed' | 'msr-index-changed' | 'msr-layout-changed' | 'msr-access-changed'
  | 'constant-added' | 'constant-removed' | 'constant-value-changed'
  | 'space-changed' | 'doc-changed';

export interface AbiChange {
  readonly kind: ChangeKind;
  /** JSON path in the new definition (or the old one for removals). */
  readonly path: string;
  readonly detail: string;
  readonly breaking: boolean;
}

export interface AbiDiff {
  readonly changes: readonly AbiChange[];
  readonly breaking: boolean;
}

const hex = (n: number | bigint): string => (n < 0 ? `-0x${(-n).toString(16)}` : `0x${n.toString(16)}`);
const slot = (s: Slot): string => (typeof s === 'string' ? s : `${s.hi}:${s.lo}`);
const convText = (c: CallingConvention): string =>
  `${c.bits}-bit ${c.trap}, number ${slot(c.number)}, args [${c.args.map(slot).join(', ')}], results [${c.results.map(slot).join(', ')}], clobbers [${c.clobbers.join(', ')}]${c.fixed ? `, fixed ${c.fixed.map((f) => `${f.reg}=${hex(f.value)}`).join(', ')}` : ''}`;
const featAt = (f: FeatureBitDef): string => `leaf +${f.leaf} ${f.reg} bit ${f.bit}`;
const modes = (h: HypercallDef): string => `bits [${(h.bits ?? [64, 32]).join(', ')}], conventions [${(h.conventions ?? ['all']).join(', ')}]`;

export function diff(oldDef: AbiDefinition, newDef: AbiDefinition): AbiDiff {
  const out: AbiChange[] = [];
  const add = (kind: ChangeKind, path: string, detail: string, breaking: boolean): void => {
    out.push({ kind, path, detail, breaking });
  };

  if (oldDef.name !== newDef.name) add('abi-renamed', '$.name', `${oldDef.name} -> ${newDef.name} (generated C names change)`, true);
  if (oldDef.title !== newDef.title) add('title-changed', '$.title', `${JSON.stringify(oldDef.title)} -> ${JSON.stringify(newDef.title)}`, false);
  if (oldDef.version !== newDef.version) add('version-changed', '$.version', `${oldDef.version} -> ${newDef.version}`, false);

  const oc = oldDef.cpuid;
  const nc = newDef.cpuid;
  if (oc.signature !== nc.signature) add('signature-changed', '$.cpuid.signature', `${JSON.stringify(oc.signature)} -> ${JSON.stringify(nc.signature)}: old guests no longer detect the ABI`, true);
  if (oc.defaultBase !== nc.defaultBase) add('base-changed', '$.cpuid.defaultBase', `${hex(oc.defaultBase)} -> ${hex(nc.defaultBase)}: feature leaves move`, true);
  if (oc.detection !== nc.detection || oc.minLeaves !== nc.minLeaves) {
    add('detection-changed', '$.cpuid.detection', `${oc.detection}/min ${oc.minLeaves} -> ${nc.detection}/min ${nc.minLeaves}`, nc.detection !== oc.detection || nc.minLeaves > oc.minLeaves);
  }
  if (oc.maxLeafOffset !== nc.maxLeafOffset) {
    // Shrinking hides leaves old guests read; growing only adds leaves.
    add('max-leaf-changed', '$.cpuid.maxLeafOffset', `+${oc.maxLeafOffset} -> +${nc.maxLeafOffset}`, nc.maxLeafOffset < oc.maxLeafOffset);
  }

  diffConventions(oldDef, newDef, add);
  diffHypercalls(oldDef, newDef, add);
  diffFeatures(oldDef, newDef, add);
  diffErrors(oldDef, newDef, add);
  diffMsrs(oldDef, newDef, add);
  diffConstants(oldDef, newDef, add);

  const os = oldDef.space;
  const ns = newDef.space;
  if (os.trap !== ns.trap || os.selector !== ns.selector || os.mask !== ns.mask) {
    add('space-changed', '$.space', `selector ${os.trap}/${os.selector}/${hex(os.mask)} -> ${ns.trap}/${ns.selector}/${hex(ns.mask)}`, true);
  } else if (os.lo !== ns.lo || os.hi !== ns.hi) {
    // A space that still covers every old number keeps old callers valid.
    const covers = ns.lo <= os.lo && ns.hi >= os.hi;
    add('space-changed', '$.space', `range ${hex(os.lo)}..${hex(os.hi)} -> ${hex(ns.lo)}..${hex(ns.hi)}`, !covers);
  }
  return { changes: out, breaking: out.some((c) => c.breaking) };
}

type Add = (kind: ChangeKind, path: string, detail: string, breaking: boolean) => void;

function diffConventions(o: AbiDefinition, n: AbiDefinition, add: Add): void {
  n.conventions.forEach((c, i) => {
    const old = o.conventions.find((x) => x.id === c.id);
    if (!old) add('convention-added', `$.conventions[${i}]`, `${c.id}: ${convText(c)}`, false);
    else if (convText(old) !== convText(c)) add('convention-changed', `$.conventions[${i}]`, `${c.id}: ${convText(old)} -> ${convText(c)}`, true);
  });
  o.conventions.forEach((c, i) => {
    if (!n.conventions.some((x) => x.id === c.id)) add('convention-removed', `$.conventions[${i}]`, `${c.id} (${convText(c)})`, true);
  });
}

function diffHypercalls(o: AbiDefinition, n: AbiDefinition, add: Add): void {
  const oldByName = new Map(o.hypercalls.map((h, i) => [h.name, { h, i }]));
  const newByName = new Map(n.hypercalls.map((h, i) => [h.name, { h, i }]));
  n.hypercalls.forEach((h, i) => {
    const p = `$.hypercalls[${i}]`;
    const prev = oldByName.get(h.name)?.h;
    if (!prev) {
      const twin = o.hypercalls.find((x) => x.nr === h.nr);
      if (twin && !newByName.has(twin.name)) {
        const same = twin.args.length === h.args.length && twin.args.every((a, j) => a.type === h.args[j]!.type);
        if (same) add('hypercall-renamed', `${p}.name`, `${twin.name} -> ${h.name} (nr ${hex(h.nr)}); same wire format but C names change`, true);
        else add('hypercall-number-reused', `${p}.nr`, `${hex(h.nr)} was ${twin.name}(${twin.args.length} args), now ${h.name}(${h.args.length} args)`, true);
      } else {
        add('hypercall-added', p, `${h.name} nr ${hex(h.nr)} (${h.args.length} args)`, false);
      }
      return;
    }
    if (prev.nr !== h.nr) add('hypercall-renumbered', `${p}.nr`, `${h.name}: ${hex(prev.nr)} -> ${hex(h.nr)}`, true);
    if (prev.args.length !== h.args.length) {
      add('hypercall-args-changed', `${p}.args`, `${h.name}: ${prev.args.length} -> ${h.args.length} arguments`, true);
    }
    h.args.forEach((a, j) => {
      const pa = prev.args[j];
      if (!pa) return;
      if (pa.type !== a.type) add('hypercall-arg-type-changed', `${p}.args[${j}].type`, `${h.name} argument ${j}: ${pa.type} -> ${a.type}`, true);
      if (pa.name !== a.name) add('hypercall-arg-renamed', `${p}.args[${j}].name`, `${h.name} argument ${j}: ${pa.name} -> ${a.name} (same register)`, false);
      if ((pa.doc ?? '') !== (a.doc ?? '')) add('doc-changed', `${p}.args[${j}].doc`, `${h.name} argument ${a.name}`, false);
    });
    if (modes(prev) !== modes(h)) {
      // Dropping a mode or convention strands callers that used it; adding one does not.
      const lost = (prev.bits ?? [64, 32]).some((b) => !(h.bits ?? [64, 32]).includes(b))
        || (h.conventions !== undefined && (prev.conventions ?? o.conventions.map((c) => c.id)).some((c) => !h.conventions!.includes(c)));
      add('hypercall-modes-changed', p, `${h.name}: ${modes(prev)} -> ${modes(h)}`, lost);
    }
    if (prev.doc !== h.doc) add('doc-changed', `${p}.doc`, h.name, false);
  });
  o.hypercalls.forEach((h, i) => {
    if (newByName.has(h.name)) return;
    const renamed = n.hypercalls.some((x) => x.nr === h.nr && !oldByName.has(x.name));
    if (!renamed) add('hypercall-removed', `$.hypercalls[${i}]`, `${h.name} nr ${hex(h.nr)} (in the old definition)`, true);
  });
}

function diffFeatures(o: AbiDefinition, n: AbiDefinition, add: Add): void {
  const oldByName = new Map(o.features.map((f) => [f.name, f]));
  n.features.forEach((f, i) => {
    const p = `$.features[${i}]`;
    const prev = oldByName.get(f.name);
    if (prev) {
      if (featAt(prev) !== featAt(f)) add('feature-moved', p, `${f.name}: ${featAt(prev)} -> ${featAt(f)}`, true);
      else if (prev.doc !== f.doc) add('doc-changed', `${p}.doc`, f.name, false);
      return;
    }
    const owner = o.features.find((x) => featAt(x) === featAt(f));
    if (owner) add('feature-bit-reused', p, `${featAt(f)} meant ${owner.name}, now ${f.name}: old hosts advertise it with the old meaning`, true);
    else add('feature-added', p, `${f.name} at ${featAt(f)}`, false);
  });
  o.features.forEach((f, i) => {
    if (!n.features.some((x) => x.name === f.name)) add('feature-removed', `$.features[${i}]`, `${f.name} at ${featAt(f)} (in the old definition)`, true);
  });
}

function diffErrors(o: AbiDefinition, n: AbiDefinition, add: Add): void {
  const oe = o.errors;
  const ne = n.errors;
  if (oe.encoding !== ne.encoding || oe.unknownHypercall !== ne.unknownHypercall || oe.cplNonZero !== ne.cplNonZero) {
    add('error-model-changed', '$.errors', `${oe.encoding}/unknown=${oe.unknownHypercall}/cpl>0=${oe.cplNonZero} -> ${ne.encoding}/unknown=${ne.unknownHypercall}/cpl>0=${ne.cplNonZero}`, true);
  }
  ne.codes.forEach((c, i) => {
    const prev = oe.codes.find((x) => x.name === c.name);
    if (!prev) add('error-added', `$.errors.codes[${i}]`, `${c.name} = ${c.value}`, false);
    else if (prev.value !== c.value) add('error-value-changed', `$.errors.codes[${i}].value`, `${c.name}: ${prev.value} -> ${c.value}`, true);
    else if (prev.doc !== c.doc) add('doc-changed', `$.errors.codes[${i}].doc`, c.name, false);
  });
  oe.codes.forEach((c, i) => {
    if (!ne.codes.some((x) => x.name === c.name)) add('error-removed', `$.errors.codes[${i}]`, `${c.name} = ${c.value} (in the old definition)`, true);
  });
}

function diffMsrs(o: AbiDefinition, n: AbiDefinition, add: Add): void {
  const layoutText = (m: AbiDefinition['msrs'][number]): string => m.layout.map((f) => `${f.name}:${f.kind}@${f.lsb}+${f.width}`).join(' ');
  n.msrs.forEach((m, i) => {
    const p = `$.msrs[${i}]`;
    const prev = o.msrs.find((x) => x.name === m.name);
    if (!prev) return add('msr-added', p, `${m.name} ${hex(m.index)}`, false);
    if (prev.index !== m.index) add('msr-index-changed', `${p}.index`, `${m.name}: ${hex(prev.index)} -> ${hex(m.index)}`, true);
    if (prev.access !== m.access) add('msr-access-changed', `${p}.access`, `${m.name}: ${prev.access} -> ${m.access}`, m.access !== 'rw');
    if (layoutText(prev) !== layoutText(m)) {
      // Only adding fields in previously undefined bits keeps old values meaning the same.
      const kept = prev.layout.every((f) => m.layout.some((g) => g.name === f.name && g.kind === f.kind && g.lsb === f.lsb && g.width === f.width));
      add('msr-layout-changed', `${p}.layout`, `${m.name}: ${layoutText(prev)} -> ${layoutText(m)}`, !kept);
    }
    if (prev.doc !== m.doc) add('doc-changed', `${p}.doc`, m.name, false);
  });
  o.msrs.forEach((m, i) => {
    if (!n.msrs.some((x) => x.name === m.name)) add('msr-removed', `$.msrs[${i}]`, `${m.name} ${hex(m.index)} (in the old definition)`, true);
  });
}

function diffConstants(o: AbiDefinition, n: AbiDefinition, add: Add): void {
  n.constants.forEach((k, i) => {
    const prev = o.constants.find((x) => x.name === k.name);
    if (!prev) add('constant-added', `$.constants[${i}]`, `${k.name} = ${hex(k.value)}`, false);
    else if (BigInt(prev.value) !== BigInt(k.value)) add('constant-value-changed', `$.constants[${i}].value`, `${k.name}: ${hex(prev.value)} -> ${hex(k.value)}`, true);
    else if (prev.doc !== k.doc) add('doc-changed', `$.constants[${i}].doc`, k.name, false);
  });
  o.constants.forEach((k, i) => {
    if (!n.constants.some((x) => x.name === k.name)) add('constant-removed', `$.constants[${i}]`, `${k.name} (in the old definition)`, true);
  });
}
