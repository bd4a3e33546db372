import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILTIN_ABIS, diff, findAbi, loadAbiJson } from '../src/index.js';
import type { AbiDefinition } from '../src/index.js';

const ex = (f: string): AbiDefinition => {
  const p = join(import.meta.dirname, '..', 'examples', f);
  return loadAbiJson(readFileSync(p, 'utf8'), p);
};
const kinds = (d: ReturnType<typeof diff>): string[] => d.changes.map((c) => `${c.kind}${c.breaking ? '!' : ''} ${c.path}`);

describe('diff', () => {
  it('finds no changes between a definition and itself', () => {
    for (const d of [...BUILTIN_ABIS, ex('mydev.json')]) expect(diff(d, d)).toEqual({ changes: [], breaking: false });
  });

  it('classifies v1 -> v2 (added hypercall, feature, error code, doc change) as compatible', () => {
    const d = diff(ex('mydev.json'), ex('mydev-v2.json'));
    expect(d.breaking).toBe(false);
    expect(kinds(d)).toEqual([
      'version-changed $.version', 'doc-changed $.hypercalls[0].doc', 'hypercall-added $.hypercalls[3]',
      'feature-added $.features[3]', 'error-added $.errors.codes[3]', 'space-changed $.space',
    ]);
  });

  it('classifies v2 -> v3 (renumbered, removed, changed args, reused bit) as breaking, each change located', () => {
    const d = diff(ex('mydev-v2.json'), ex('mydev-v3.json'));
    expect(d.breaking).toBe(true);
    expect(kinds(d)).toEqual([
      'version-changed $.version',
      'hypercall-arg-type-changed! $.hypercalls[0].args[0].type',
      'hypercall-renumbered! $.hypercalls[1].nr',
      'hypercall-args-changed! $.hypercalls[2].args',
      'hypercall-removed! $.hypercalls[3]',
      'feature-bit-reused! $.features[3]',
      'feature-removed! $.features[1]',
      'space-changed $.space',
    ]);
    expect(d.changes.find((c) => c.kind === 'hypercall-renumbered')!.detail).toBe('QUEUE_NOTIFY: 0x1001 -> 0x1010');
    expect(d.changes.find((c) => c.kind === 'feature-bit-reused')!.detail).toMatch(/leaf \+1 eax bit 1 meant QUEUE, now QUEUE_V2/);
  });

  it('treats signature, base, convention and error-model changes as breaking', () => {
    const a = ex('mydev.json');
    const xen = findAbi('xen')!;
    const b: AbiDefinition = {
      ...a,
      cpuid: { ...a.cpuid, signature: 'MyDevHvMyDe2', defaultBase: 0x40000300 },
      conventions: xen.conventions,
      errors: { ...a.errors, unknownHypercall: 'MYDEV_EINVAL' },
    };
    const d = diff(a, b);
    expect(d.breaking).toBe(true);
    const k = kinds(d);
    expect(k).toContain('signature-changed! $.cpuid.signature');
    expect(k).toContain('base-changed! $.cpuid.defaultBase');
    expect(k.filter((x) => x.startsWith('convention-changed!')).length).toBeGreaterThan(0);
    expect(k).toContain('error-model-changed! $.errors');
  });

  it('tells a renamed hypercall and a reused number apart', () => {
    const a = ex('mydev.json');
    const renamed = { ...a, hypercalls: [{ ...a.hypercalls[0]!, name: 'PING2' }, ...a.hypercalls.slice(1)] };
    expect(kinds(diff(a, renamed))).toEqual(['hypercall-renamed! $.hypercalls[0].name']);
    const reused = { ...a, hypercalls: [{ ...a.hypercalls[0]!, name: 'OTHER', args: [] }, ...a.hypercalls.slice(1)] };
    expect(kinds(diff(a, reused))).toEqual(['hypercall-number-reused! $.hypercalls[0].nr']);
  });

  it('classifies MSR layout and constant changes', () => {
    const a = ex('mydev.json');
    const m = a.msrs[0]!;
    const grown = { ...a, msrs: [{ ...m, layout: [...m.layout.slice(0, 1), { name: 'locked', lsb: 1, width: 1, kind: 'flag' as const, doc: '' }, { ...m.layout[1]!, lsb: 2, width: 10 }, m.layout[2]!] }] };
    expect(diff(a, grown).changes[0]).toMatchObject({ kind: 'msr-layout-changed', breaking: true });
    const c = { ...a, constants: [{ ...a.constants[0]!, value: 32 }, ...a.constants.slice(1)] };
    expect(kinds(diff(a, c))).toEqual(['constant-value-changed! $.constants[0].value']);
  });
});
