import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { AbiError, BUILTIN_ABIS, abiToJson, findAbi, formatProblem, loadAbiJson, parseAbiJson } from '../src/index.js';
import { jsonErrorOffset, parseIntLike } from '../src/user/read.js';

const ex = (f: string): string => join(import.meta.dirname, '..', 'examples', f);
const load = (f: string) => loadAbiJson(readFileSync(ex(f), 'utf8'), ex(f));

function problemsOf(fn: () => unknown): AbiError {
  try {
    fn();
  } catch (e) {
    if (e instanceof AbiError) return e;
    throw e;
  }
  throw new Error('expected an AbiError');
}

describe('loadAbiJson', () => {
  it('loads the example user ABI, borrowing KVM conventions and selector', () => {
    const kvm = findAbi('kvm')!;
    const d = load('mydev.json');
    expect(d.name).toBe('mydev');
    expect(d.cpuid.defaultBase).toBe(0x40000200);
    expect(d.cpuid.signature).toBe('MyDevHvMyDev');
    expect(d.cpuid.maxLeafOffset).toBe(1);
    expect(d.conventions).toEqual(kvm.conventions);
    expect(d.space).toMatchObject({ trap: kvm.space.trap, selector: kvm.space.selector, mask: kvm.space.mask, lo: 0x1000, hi: 0x1002 });
    expect(d.hypercalls.map((h) => [h.name, h.nr, h.args.length])).toEqual([['PING', 0x1000, 1], ['QUEUE_NOTIFY', 0x1001, 2], ['SET_RING', 0x1002, 3]]);
    expect(d.features.find((f) => f.name === 'STABLE_CLOCK')).toMatchObject({ leaf: 1, reg: 'edx', bit: 0 });
    // > 2^53: kept exact as a bigint
    expect(d.constants.find((c) => c.name === 'RING_MAGIC')!.value).toBe(0x4d59444556524e47n);
    expect(d.constants.find((c) => c.name === 'DOORBELL_BASE')!.value).toBe(0xfed00000);
    expect(d.cpuid.leaves.map((l) => l.offset)).toEqual([0, 1]);
  });

  it('reports every problem of a malformed file with file, JSON path, value and why', () => {
    const e = problemsOf(() => load('broken.json'));
    const at = (path: string) => e.problems.filter((p) => p.path === path).map((p) => p.message).join(' | ');
    expect(e.problems.every((p) => p.file === ex('broken.json'))).toBe(true);
    expect(at('$.name')).toMatch(/not a valid C identifier/);
    expect(at('$.signature')).toMatch(/exactly 12 .* got 8 bytes/);
    expect(at('$.base')).toMatch(/steps of 0x100/);
    expect(at('$.features[0].bit')).toMatch(/bits 0\.\.31/);
    expect(at('$.features[1].leaf')).toMatch(/beyond the max leaf 0x40000211/);
    expect(at('$.features[3].bit')).toMatch(/duplicate feature bit .*\$\.features\[2\]/);
    expect(at('$.hypercalls[0].nr')).toMatch(/collides with kvm's hypercall space .*KVM_HC_KICK_CPU/);
    expect(at('$.hypercalls[1].name')).toMatch(/duplicate hypercall name/);
    expect(at('$.hypercalls[2].nr')).toMatch(/duplicate hypercall number/);
    expect(at('$.hypercalls[2].args')).toMatch(/5 arguments but convention 'x64' passes only 4/);
    expect(at('$.hypercalls[3].name')).toMatch(/not a valid C identifier/);
    expect(at('$.hypercalls[3].nr')).toMatch(/does not fit the selector rax mask 0xffffffff/);
    expect(at('$.hypercalls[3].args[0].type')).toMatch(/must be one of u8/);
    // leaves made up from features are not in the file and are not reported
    expect(e.problems.some((p) => p.path.startsWith('$.leaves'))).toBe(false);
    expect(e.message).toContain(`${ex('broken.json')}: $.signature: a CPUID signature is exactly 12`);
    expect(formatProblem(e.problems.find((p) => p.path === '$.hypercalls[0].nr')!)).toMatch(/\(value: 5\)$/);
  });

  it('locates JSON syntax errors by line and column', () => {
    const r = parseAbiJson('{\n  "name": "x",\n}', { file: 'f.json' });
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatchObject({ file: 'f.json', path: '$' });
    expect(r.problems[0]!.message).toMatch(/not valid JSON at line 3, column 1/);
  });

  it('finds the syntax error offset itself, agreeing with JSON.parse where it gives a position', () => {
    const texts = ['{"a":1,}', '[1,2', '{"a":"\\q"}', '{"a":1} x', '{"a" 1}', '[01]', '{"a":"\u0001"}', '{"a":[1,{"b":"c\\u00e9"}],"d":-1.5e3}', 'nul', '{"a":-}'];
    for (const t of texts) {
      let native: number | undefined;
      try {
        JSON.parse(t);
      } catch (e) {
        const m = /position (\d+)/.exec((e as Error).message);
        native = m ? Number(m[1]) : -1;
      }
      const mine = jsonErrorOffset(t);
      if (native === undefined) expect(mine, t).toBeUndefined();
      else if (native >= 0) expect(mine, t).toBe(native);
      else expect(mine, t).toBeTypeOf('number');
    }
    expect(jsonErrorOffset('{ "name": "x",\n  "signature": }')).toBe(30);
  });

  it('rejects unknown fields (typos), wrong types and unknown base ABIs', () => {
    const r = parseAbiJson(JSON.stringify({ name: 'x', convention: 'nosuch', signature: 'abcdabcdabcd', hypercals: [], features: [{ name: 'A', bit: '3x' }] }));
    const paths = r.problems.map((p) => `${p.path}: ${p.message}`);
    expect(paths).toContainEqual(expect.stringMatching(/^\$\.hypercals: unknown field/));
    expect(paths).toContainEqual(expect.stringMatching(/^\$\.convention: no such ABI .*known: kvm/));
    expect(paths).toContainEqual(expect.stringMatching(/^\$\.features\[0\]\.bit: expected an integer/));
    expect(paths).toContainEqual(expect.stringMatching(/^\$\.errors: required without a borrowed/));
  });

  it('maps problems inside explicit conventions to their JSON path', () => {
    const r = parseAbiJson(JSON.stringify({
      name: 'own', signature: 'OwnOwnOwnOwn', conventions: [{ id: 'x86', bits: 32, trap: 'hypercall', number: 'eax', args: ['rbx'], results: ['eax'] }],
      errors: { encoding: 'neg-errno', codes: [{ name: 'ENOSYS', value: 38 }], unknownHypercall: 'ENOSYS', cplNonZero: 'EPERM' },
      hypercalls: [{ name: 'A', nr: 1, args: [] }],
    }));
    expect(r.problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      '$.conventions[0].args[0]: not a 32-bit general-purpose register',
      "$.errors.cplNonZero: must name one of the error codes, '#UD' or 'allowed'",
    ]);
  });
});

describe('loadAbiJson on hostile input', () => {
  const mydev = JSON.parse(readFileSync(ex('mydev.json'), 'utf8')) as Record<string, unknown>;
  /** Replaces the value at a random path of the example with an arbitrary JSON value. */
  const mutate = (doc: unknown, path: number[], v: unknown): unknown => {
    if (path.length === 0 || typeof doc !== 'object' || doc === null) return v;
    const keys = Object.keys(doc);
    const k = keys[path[0]! % keys.length];
    if (k === undefined) return v;
    const copy: Record<string, unknown> = Array.isArray(doc) ? ([...doc] as unknown as Record<string, unknown>) : { ...(doc as Record<string, unknown>) };
    copy[k] = mutate((doc as Record<string, unknown>)[k], path.slice(1), v);
    return copy;
  };
  it('never throws anything but located problems, whatever the JSON holds', () => {
    fc.assert(fc.property(fc.array(fc.nat(), { maxLength: 5 }), fc.jsonValue(), (path, v) => {
      const r = parseAbiJson(JSON.stringify(mutate(mydev, path, v)), { file: 'm.json' });
      for (const p of r.problems) {
        expect(p.file).toBe('m.json');
        expect(p.path).toMatch(/^\$/);
        expect(p.message.length).toBeGreaterThan(0);
      }
      if (r.problems.length === 0) expect(loadAbiJson(abiToJson(r.def!))).toEqual(r.def);
    }), { numRuns: 300 });
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      expect(() => parseAbiJson(JSON.stringify(v) ?? 'null')).not.toThrow();
    }), { numRuns: 200 });
  });
});

describe('abiToJson', () => {
  it('round-trips every built-in ABI and every example', () => {
    const defs = [...BUILTIN_ABIS, load('mydev.json'), load('mydev-v2.json'), load('mydev-v3.json')];
    for (const d of defs) {
      const text = abiToJson(d);
      expect(JSON.parse(text).name).toBe(d.name);
      expect(loadAbiJson(text), d.name).toEqual(d);
    }
  });
  it('writes numbers as hex strings and bigints with an n suffix', () => {
    const o = JSON.parse(abiToJson(load('mydev.json')));
    expect(o.base).toBe('0x40000200');
    expect(o.hypercalls[0].nr).toBe('0x1000');
    expect(o.constants.find((c: { name: string }) => c.name === 'RING_MAGIC').value).toBe('0x4d59444556524e47n');
  });
});

describe('integers in the JSON form', () => {
  it('parse hex, binary, decimal and underscores exactly, including past 2^53', () => {
    fc.assert(fc.property(fc.bigInt({ min: -(1n << 63n), max: (1n << 64n) - 1n }), (n) => {
      const neg = n < 0n ? '-' : '';
      const m = n < 0n ? -n : n;
      expect(parseIntLike(`${neg}0x${m.toString(16)}`)).toBe(n);
      expect(parseIntLike(`${neg}0b${m.toString(2)}`)).toBe(n);
      expect(parseIntLike(`${n}`)).toBe(n);
      expect(parseIntLike(`${neg}0x${m.toString(16)}n`)).toBe(n);
    }));
    expect(parseIntLike('0x4000_0000')).toBe(0x40000000n);
    for (const bad of ['0x', '12abc', '', '1.5', 1.5, null, '0x1g']) expect(parseIntLike(bad)).toBeUndefined();
  });
});
