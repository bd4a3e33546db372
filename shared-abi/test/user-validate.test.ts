import { describe, expect, it } from 'vitest';
import { BUILTIN_ABIS, defineAbi, findAbi, validate } from '../src/index.js';
import type { AbiDefinition, Problem } from '../src/index.js';

const kvm = findAbi('kvm')!;
/** A valid user ABI on KVM's conventions; tests break one thing at a time. */
const good = (): AbiDefinition => defineAbi('mydev').signature('MyDevHvMyDev').base(0x40000200).convention('kvm')
  .feature('FAST', { bit: 0 }).feature('HINT', { reg: 'edx', bit: 0 })
  .hypercall('PING', 0x1000, [{ name: 'a0', type: 'u64' }])
  .hypercall('PONG', 0x1001)
  .build();
const msgs = (ps: Problem[]): string[] => ps.map((p) => `${p.path}: ${p.message}`);

describe('validate', () => {
  it('accepts every built-in ABI on its own', () => {
    for (const d of BUILTIN_ABIS) expect(msgs(validate(d)), d.name).toEqual([]);
  });

  it('reports the real overlap of KVM and Xen numbers in RAX when checked against each other', () => {
    const xen = findAbi('xen')!;
    const ps = validate(kvm, { against: [xen] });
    // every KVM hypercall number is also a Xen number (Xen claims 0..0x7f); both define 12
    expect(ps.map((p) => p.path)).toEqual(kvm.hypercalls.map((_, i) => `$.hypercalls[${i}].nr`));
    const nr12 = kvm.hypercalls.findIndex((h) => h.nr === 12);
    expect(ps[nr12]!.message).toMatch(/collides with xen's hypercall space 0x0\.\.0x7f .*: xen \w*memory_op has this number/);
    // pvio was placed where no other ABI's selector range reaches in 64-bit mode
    const pvio = findAbi('pvio')!;
    expect(validate(pvio, { against: [kvm, xen, findAbi('vmware')!] })).toEqual([]);
  });

  it('accepts a good user ABI and checks it against the base ABI it borrows from', () => {
    expect(validate(good(), { against: [kvm] })).toEqual([]);
  });

  it('finds duplicate names and numbers, naming the first holder', () => {
    const d = good();
    const bad = { ...d, hypercalls: [...d.hypercalls, { ...d.hypercalls[0]!, nr: 0x1002 }, { ...d.hypercalls[1]!, name: 'OTHER' }] };
    expect(msgs(validate(bad))).toEqual([
      "$.hypercalls[2].nr: outside this ABI's hypercall space 0x1000..0x1001",
      '$.hypercalls[2].name: duplicate hypercall name (also at $.hypercalls[0].name)',
      '$.hypercalls[3].nr: duplicate hypercall number (also at $.hypercalls[1].nr)',
    ]);
  });

  it('finds numbers in the base ABI\'s space and in any ABI given as `against`', () => {
    const d = good();
    const inKvm = { ...d, hypercalls: [{ ...d.hypercalls[0]!, nr: 10 }], space: { ...d.space, lo: 10, hi: 10 } };
    expect(msgs(validate(inKvm, { against: [kvm] }))).toEqual([
      "$.hypercalls[0].nr: collides with kvm's hypercall space 0x0..0x3ff (hypercall, selector rax): kvm KVM_HC_SEND_IPI has this number",
    ]);
    const other = { ...d, name: 'other' };
    expect(msgs(validate(d, { against: [other] }))).toEqual([
      "$.hypercalls[0].nr: collides with other's hypercall space 0x1000..0x1001 (hypercall, selector rax): other PING has this number",
      "$.hypercalls[1].nr: collides with other's hypercall space 0x1000..0x1001 (hypercall, selector rax): other PONG has this number",
    ]);
    // A different selector register is a different number space.
    expect(validate(d, { against: [{ ...other, space: { ...other.space, selector: 'rcx' } }] })).toEqual([]);
    // Overlapping ranges without a shared number are still reported once, at the space.
    const wide = { ...d, space: { ...d.space, lo: 0x300, hi: 0x1001 } };
    const overlap = msgs(validate(wide, { against: [kvm] }));
    expect(overlap).toHaveLength(2); // 64- and 32-bit mode, from space.ts checkSpaceCollisions
    expect(overlap[0]).toMatch(/^\$\.space: mydev\/kvm: 64-bit hypercall \(rax\): mydev and kvm overlap on rax at 0x300\.\.0x3ff/);
  });

  it('counts arguments against every convention the hypercall may use', () => {
    const d = good();
    const five = { ...d, hypercalls: [{ ...d.hypercalls[0]!, args: 'abcde'.split('').map((n) => ({ name: n, type: 'u32' as const })) }] };
    expect(msgs(validate(five))).toEqual([
      "$.hypercalls[0].args: 5 arguments but convention 'x64' passes only 4 in registers (rbx, rcx, rdx, rsi)",
      "$.hypercalls[0].args: 5 arguments but convention 'x86' passes only 4 in registers (ebx, ecx, edx, esi)",
    ]);
    const only64 = { ...five, hypercalls: [{ ...five.hypercalls[0]!, bits: [64 as const] }] };
    expect(msgs(validate(only64))).toHaveLength(1);
    const noConv = { ...d, hypercalls: [{ ...d.hypercalls[0]!, conventions: ['nope'] }] };
    expect(msgs(validate(noConv))).toEqual([
      '$.hypercalls[0].conventions[0]: no such calling convention (have: x64, x86)',
      '$.hypercalls[0]: no calling convention of this ABI can carry this hypercall',
    ]);
  });

  it('checks feature bits: range, overlap, leaf beyond the max leaf, leaf 0', () => {
    const d = good();
    const f = d.features[0]!;
    const bad = { ...d, features: [{ ...f, bit: 32 }, { ...f, name: 'C', leaf: 2 }, { ...f, name: 'D', leaf: 0 }] };
    expect(msgs(validate(bad))).toEqual([
      '$.features[0].bit: a CPUID register has bits 0..31',
      '$.features[1].leaf: leaf 0x40000202 is beyond the max leaf 0x40000201: guests never read it',
      '$.features[2].leaf: feature leaf offset must be 1..255 (offset 0 is the signature leaf)',
    ]);
    const dup = { ...d, features: [f, { ...f, name: 'B' }] };
    expect(msgs(validate(dup))).toEqual(['$.features[1].bit: duplicate feature bit (same leaf, register and bit) (also at $.features[0].bit)']);
  });

  it('checks the signature length, C identifiers and the selector range', () => {
    const d = good();
    const bad: AbiDefinition = {
      ...d, name: 'my-dev', cpuid: { ...d.cpuid, signature: 'MyDev' },
      hypercalls: [{ ...d.hypercalls[0]!, name: 'int', nr: 2 ** 32, args: [{ name: '0x', type: 'u64' }] }],
    };
    expect(msgs(validate(bad))).toEqual([
      '$.name: not a valid C identifier (letters, digits and _, not starting with a digit)',
      '$.cpuid.signature: a CPUID signature is exactly 12 one-byte characters (EBX, ECX, EDX), got 5 bytes',
      '$.hypercalls[0].name: is a C keyword',
      '$.hypercalls[0].nr: does not fit the selector rax mask 0xffffffff',
      '$.hypercalls[0].args[0].name: not a valid C identifier (letters, digits and _, not starting with a digit)',
    ]);
    const sig = { ...d, cpuid: { ...d.cpuid, signature: 'MyDev\u20acMyDevX' } };
    expect(msgs(validate(sig))[0]).toMatch(/^\$\.cpuid\.signature: a CPUID signature is exactly 12 one-byte/);
  });

  it('checks MSR layouts with checkLayout and error models', () => {
    const d = good();
    const bad: AbiDefinition = {
      ...d,
      msrs: [{ name: 'MSR_A', index: 0x4d594400, access: 'rw', doc: '', source: '', layout: [
        { name: 'enable', lsb: 0, width: 1, kind: 'flag', doc: '' }, { name: 'gpa', lsb: 0, width: 64, kind: 'gpa', doc: '' }] }],
      errors: { ...d.errors, unknownHypercall: 'NOPE' },
    };
    expect(msgs(validate(bad))).toEqual([
      '$.errors.unknownHypercall: must name one of the error codes',
      '$.msrs[0].layout[1]: overlaps an earlier field',
    ]);
  });

  it('checks the hypercall space itself', () => {
    const d = good();
    expect(msgs(validate({ ...d, space: { ...d.space, mask: 0xff00 } }))).toContainEqual(expect.stringMatching(/^\$\.space\.mask: selector mask must be contiguous low bits/));
    expect(msgs(validate({ ...d, space: { ...d.space, lo: 0x1001, hi: 0x1000 } }))).toContainEqual('$.space.lo: needs integers with 0 <= lo <= hi');
  });

  it('puts the file on every problem when given', () => {
    const d = { ...good(), name: '1x' };
    expect(validate(d, { file: 'a.json' })).toEqual([{ file: 'a.json', path: '$.name', value: '1x', message: expect.any(String) }]);
  });
});
