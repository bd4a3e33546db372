import { describe, expect, it } from 'vitest';
import {
  AbiError, checkCpuidLayout, checkSpaceCollisions, combinedCpuidLayout, hypercallSpaces, intersectConstraints, kvmAbi, xenAbi,
  hypervAbi, vmwareAbi, pvioAbi,
} from '../src/index.js';
import type { AbiDefinition, CallingConvention, HypercallSpace, RegConstraint } from '../src/index.js';

/** A KVM-shaped ABI with its own name, space and (optionally) conventions. */
function mk(name: string, space: Partial<HypercallSpace>, conventions?: CallingConvention[], cpuid?: Partial<AbiDefinition['cpuid']>): AbiDefinition {
  return {
    ...kvmAbi, name, hypercalls: [], space: { ...kvmAbi.space, ...space }, conventions: conventions ?? kvmAbi.conventions,
    cpuid: { ...kvmAbi.cpuid, ...cpuid },
  };
}
const c = (reg: RegConstraint['reg'], mask: bigint, lo: bigint, hi: bigint): RegConstraint => ({ reg, mask, lo, hi, what: 'selector' });

describe('intersectConstraints', () => {
  it('intersects equal masks as plain ranges', () => {
    expect(intersectConstraints(c('rax', 0xffffffffn, 0n, 0x3ffn), c('rax', 0xffffffffn, 0x10n, 0x7ffn))).toEqual([[0x10n, 0x3ffn]]);
    expect(intersectConstraints(c('rax', 0xffffffffn, 0n, 0x3ffn), c('rax', 0xffffffffn, 0x400n, 0x7ffn))).toEqual([]);
  });
  it('projects the wider mask onto the narrower one, including wrap-around', () => {
    // EAX[15:0] = Hyper-V call code vs a 32-bit number range: only the low 16 bits can clash.
    expect(intersectConstraints(c('rax', 0xffffn, 0x100n, 0x1ffn), c('rax', 0xffffffffn, 0x50560000n, 0x505600ffn))).toEqual([]);
    expect(intersectConstraints(c('rax', 0xffffn, 0n, 0xffffn), c('rax', 0xffffffffn, 0x50560000n, 0x505600ffn))).toEqual([[0n, 0xffn]]);
    expect(intersectConstraints(c('rax', 0xffffffffn, 0x1fff0n, 0x2000fn), c('rax', 0xffffn, 0n, 0xffffn))).toEqual([[0n, 0xfn], [0xfff0n, 0xffffn]]);
    expect(intersectConstraints(c('rax', 0xffffffffn, 0x10000n, 0x3ffffn), c('rax', 0xffffn, 5n, 5n))).toEqual([[5n, 5n]]);
  });
});

describe('checkSpaceCollisions', () => {
  it('reports KVM + Xen on RAX in both modes, naming the range, both discriminators and host-configuration routing', () => {
    const ps = checkSpaceCollisions([kvmAbi, xenAbi]);
    expect(ps.map((p) => p.path)).toEqual(['kvm/xen: 64-bit hypercall (rax)', 'kvm/xen: 32-bit hypercall (rax)']);
    for (const p of ps) {
      expect(p.value).toEqual({ kvm: 'rax&0xffffffff in 0x0..0x3ff', xen: 'rax&0xffffffff in 0x0..0x7f', overlap: '0x0..0x7f' });
      expect(p.message).toContain('overlap on rax at 0x0..0x7f');
      expect(p.message).toContain(`kvm: ${kvmAbi.space.discriminator}`);
      expect(p.message).toContain(`xen: ${xenAbi.space.discriminator}`);
      expect(p.message).toMatch(/route by configuration.*Xen hypercall interception configured.*Hyper-V hypercall MSR enabled/);
    }
  });
  it('is silent for disjoint ranges and for one ABI alone', () => {
    expect(checkSpaceCollisions([kvmAbi])).toEqual([]);
    expect(checkSpaceCollisions([kvmAbi, mk('far', { lo: 0x50560000, hi: 0x505600ff })])).toEqual([]);
    expect(checkSpaceCollisions([xenAbi, mk('above', { lo: 0x80, hi: 0x3ff })])).toEqual([]);
  });
  it('uses the low half of a hi:lo selector pair in 32-bit mode (Hyper-V x86 EDX:EAX)', () => {
    const pair: CallingConvention = { ...kvmAbi.conventions[1] as CallingConvention, id: 'x86', number: { hi: 'edx', lo: 'eax' } };
    const x64: CallingConvention = { ...kvmAbi.conventions[0] as CallingConvention, id: 'x64', number: 'rcx' };
    const hv = mk('hvlike', { selector: 'rcx', mask: 0xffff, lo: 0, hi: 0xffff }, [x64, pair]);
    const ps = checkSpaceCollisions([kvmAbi, hv]);
    expect(ps.map((p) => p.path)).toEqual(['kvm/hvlike: 32-bit hypercall (rax)']);
    expect(ps[0]?.value).toMatchObject({ overlap: '0x0..0x3ff' });
    // 64-bit: RAX vs RCX share no register; reported only on request.
    const cross = checkSpaceCollisions([kvmAbi, hv], { crossRegister: true });
    expect(cross.map((p) => p.path)).toContain('kvm/hvlike: 64-bit hypercall (rax vs rcx)');
    expect(cross.find((p) => p.path.includes('rax vs rcx'))?.message).toMatch(/every call of one is also a well-formed call of the other/);
  });
  it('a fixed register with disjoint values separates two ABIs (VMware magic in EAX, DX port)', () => {
    const withFixed = (name: string, dx: number): AbiDefinition => mk(name, { lo: 0, hi: 0xffff }, kvmAbi.conventions.map((cv) => ({
      ...cv, fixed: [{ reg: 'dx' as const, value: dx, why: 'port' }],
    })));
    expect(checkSpaceCollisions([withFixed('a', 0x5658), withFixed('b', 0x5659)])).toEqual([]);
    expect(checkSpaceCollisions([withFixed('a', 0x5658), withFixed('b', 0x15658)]).length).toBe(2); // DX is 16 bits
  });
  it('rejects spaces it cannot reason about with located problems', () => {
    const ps = checkSpaceCollisions([kvmAbi, mk('odd', { mask: 0xff00 }), mk('inv', { lo: 5, hi: 4 })]);
    expect(ps.map((p) => [p.path, p.message])).toEqual([
      ['abis[1](odd).space.mask', 'mask must be contiguous low bits (2^k - 1)'],
      ['abis[2](inv).space', 'need 0 <= lo <= hi <= mask'],
    ]);
  });
  it('over the built-in catalogue: KVM/Xen collide; VMware (magic) and pvio (0x5056xxxx) stay clear of KVM and Xen', () => {
    const ps = checkSpaceCollisions([kvmAbi, xenAbi, hypervAbi, vmwareAbi, pvioAbi]);
    const pairs = new Set(ps.map((p) => p.path.split(':')[0]));
    expect(pairs.has('kvm/xen')).toBe(true);
    for (const clear of ['kvm/vmware', 'xen/vmware', 'kvm/pvio', 'xen/pvio', 'vmware/pvio']) expect(pairs.has(clear), clear).toBe(false);
    const spaces = hypercallSpaces([kvmAbi, xenAbi]);
    expect(spaces.map((s) => `${s.abi}/${s.bits}/${s.trap}/${s.conventions.join('+')}`)).toEqual([
      'kvm/64/hypercall/x64', 'kvm/32/hypercall/x86', 'xen/64/hypercall/x64+hcpage-x64', 'xen/32/hypercall/x86+hcpage-x86',
    ]);
  });
});

describe('combinedCpuidLayout', () => {
  it('accepts KVM at 0x40000000 beside Xen at 0x40000100, sorted by base', () => {
    expect(combinedCpuidLayout([{ abi: xenAbi, base: 0x40000100 }, { abi: kvmAbi, base: 0x40000000 }])).toEqual([
      { abi: 'kvm', base: 0x40000000, first: 0x40000000, last: 0x40000001 },
      { abi: 'xen', base: 0x40000100, first: 0x40000100, last: 0x40000105 },
    ]);
  });
  it('rejects two ABIs at one base, overlapping leaf ranges, bases the scan never visits, and moved fixed-detection ABIs', () => {
    expect(() => combinedCpuidLayout([{ abi: kvmAbi, base: 0x40000000 }, { abi: xenAbi, base: 0x40000000 }])).toThrow(/kvm and xen both at 0x40000000/);
    const wide = mk('wide', {}, undefined, { maxLeafOffset: 0x1ff });
    expect(checkCpuidLayout([{ abi: wide, base: 0x40000000 }, { abi: kvmAbi, base: 0x40000100 }]).map((p) => p.message))
      .toEqual(['leaves 0x40000100..0x40000101 claimed by both wide and kvm']);
    expect(checkCpuidLayout([{ abi: kvmAbi, base: 0x40000080 }])[0]?.message).toMatch(/not a base the Linux scan visits/);
    expect(checkCpuidLayout([{ abi: kvmAbi, base: 0x40010000 }])[0]?.path).toBe('[0](kvm).base');
    const fixed = mk('fixedhv', {}, undefined, { detection: 'fixed', defaultBase: 0x40000000 });
    expect(checkCpuidLayout([{ abi: fixed, base: 0x40000100 }])[0]?.message).toMatch(/fixedhv guests only look at 0x40000000/);
    try {
      combinedCpuidLayout([{ abi: kvmAbi, base: 0x40000000 }, { abi: xenAbi, base: 0x40000000 }, { abi: kvmAbi, base: 0x1 }]);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(AbiError);
      expect((e as AbiError).problems.length).toBe(2);
    }
  });
});
