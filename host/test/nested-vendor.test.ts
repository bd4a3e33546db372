// Cross-vendor hypercalls under nesting: L1 presents one vendor, the L0 hardware is the other. Who patches
// L2's VMCALL on an AMD L0 (L1, L0, nobody) and what L2 sees when nobody handles it: #UD, or the hang KVM shows
// (ABI-FACTS §1.3 note), reported as a Livelock exit after N identical re-executions.
import { describe, expect, it } from 'vitest';
import { PVIO_HC, encodePvioDesc } from '@pvkit/shared-abi';
import { PvtestReg, PVTEST_ID_VALUE } from '../src/devices/pvtest-regs.js';
import type { Vendor } from '../src/cpu/types.js';
import type { HypercallInsn } from '../src/exits.js';
import { CODE } from './cpu-util.js';
import { DEV_L2, RES, VENDOR, hasNasm, nasm, stack } from './nested-util.js';
import type { PolicyL1Options } from '../src/nested/policy.js';

if (!hasNasm) console.warn('nasm missing: nested cross-vendor tests skipped (they run nasm-assembled L2 code)');

const other = (v: Vendor): Vendor => (v === 'intel' ? 'amd' : 'intel');
const nativeOf = (v: Vendor): HypercallInsn => (v === 'intel' ? 'vmcall' : 'vmmcall');
const DESC = encodePvioDesc({ space: 'mmio', address: DEV_L2 + BigInt(PvtestReg.ID), size: 4, write: false });

/** CPUID leaf 0, then the pvio MMIO read of ID twice through one hypercall site (`insn`), results at RES, RES+8. */
function src(insn: HypercallInsn): string {
  return `xor eax, eax\ncpuid\nmov [${VENDOR}], ebx\nmov [${VENDOR + 4}], edx\nmov [${VENDOR + 8}], ecx\n` +
    `xor r12d, r12d\nagain:\nmov eax, 0x${PVIO_HC.MMIO.toString(16)}\nmov rbx, 0x${DESC.toString(16)}\nxor ecx, ecx\n` +
    `site: ${insn}\nmov [${RES} + r12*8], rcx\ninc r12d\ncmp r12d, 2\njb again\nhlt`;
}

/** Address of the hypercall site: where nasm's bytes for `insn` appear in the assembled program. */
function siteOf(code: Uint8Array, insn: HypercallInsn): bigint {
  const b = nasm(insn, 64, 0);
  for (let i = 0; i + 3 <= code.length; i++) if (code[i] === b[0] && code[i + 1] === b[1] && code[i + 2] === b[2]) return BigInt(CODE + i);
  throw new Error('hypercall site not found');
}

function setup(l0: Vendor, l2insn: HypercallInsn, l1: Partial<PolicyL1Options>, fix = true) {
  const s = stack(src(l2insn), { presentVendor: other(l0), ...l1 }, { vendor: l0, fixHypercallInsn: fix });
  const site = siteOf(nasm(src(l2insn), 64, CODE), l2insn);
  return { ...s, site };
}

const vendorString = (m: ReturnType<typeof setup>['m']): string =>
  Buffer.from(m.vm.memory.readBytes(VENDOR, 12)).toString('latin1');

describe.skipIf(!hasNasm)('nested cross-vendor hypercalls', () => {
  for (const l0 of ['amd', 'intel'] as const) {
    const foreign = nativeOf(other(l0)); // what L2 uses, believing L1's vendor
    describe(`L0 ${l0}, L1 presents ${other(l0)}, L2 uses ${foreign}`, () => {
      it('L2 sees the vendor L1 presents while its instructions run on the L0 hardware', () => {
        const s = setup(l0, foreign, {});
        expect(s.m.run({ budget: 10_000 }).kind).toBe('Hlt');
        expect(vendorString(s.m)).toBe(other(l0) === 'intel' ? 'GenuineIntel' : 'AuthenticAMD');
        expect(s.m.vcpu.vendor).toBe(l0);
      });

      it(`L1 patches ${foreign} to the hardware's ${nativeOf(l0)} once; later calls exit as hypercalls`, () => {
        const s = setup(l0, foreign, { ud: 'patch' });
        expect(s.m.run({ budget: 10_000 }).kind).toBe('Hlt');
        expect(Array.from(s.m.vm.memory.readBytes(s.site, 3))).toEqual(Array.from(nasm(nativeOf(l0), 64, 0)));
        expect(s.m.patches).toEqual([{ gpa: s.site, by: 'L1', from: foreign, to: nativeOf(l0) }]);
        expect(s.m.counters.get('udPatch')).toBe(1);
        expect(s.m.vm.memory.readU64(RES)).toBe(BigInt(PVTEST_ID_VALUE));
        expect(s.m.vm.memory.readU64(RES + 8)).toBe(BigInt(PVTEST_ID_VALUE));
        const kinds = s.m.trace.filter((t) => t.exit.kind === 'ud-hypercall' || t.exit.kind === 'hypercall').map((t) => `${t.exit.kind} ${t.route}`);
        expect(kinds).toEqual(['ud-hypercall l1-patch', 'hypercall l1-translate', 'hypercall l1-translate']);
      });

      it('L1 reflects #UD: L2 stops with #UD on the hypercall', () => {
        const s = setup(l0, foreign, { ud: 'inject' });
        const e = s.m.run({ budget: 10_000 });
        expect(e).toMatchObject({ kind: 'Exception', vector: 6, rip: s.site });
        expect(s.m.trace.at(-1)!.route).toBe('l1-inject');
        expect(s.m.patches).toEqual([]);
      });

      it('L1 does not intercept #UD: L0 patches (fix-hypercall quirk) or L2 gets #UD (quirk off)', () => {
        const on = setup(l0, foreign, { ud: 'forward' });
        expect(on.m.run({ budget: 10_000 }).kind).toBe('Hlt');
        expect(on.m.patches).toEqual([{ gpa: on.site, by: 'L0', from: foreign, to: nativeOf(l0) }]);
        const off = setup(l0, foreign, { ud: 'forward' }, false);
        expect(off.m.run({ budget: 10_000 })).toMatchObject({ kind: 'Exception', vector: 6, rip: off.site });
        expect(off.m.patches).toEqual([]);
      });

      it('a KVM-style L1 "fixes" to its presented vendor\'s instruction, the same bytes: detected livelock, not a hang', () => {
        const s = setup(l0, foreign, { ud: 'fix-same' });
        const e = s.m.run({ budget: 1_000_000 });
        expect(e).toMatchObject({ kind: 'Livelock', rip: s.site, insn: foreign, repeats: 16 });
        expect(Array.from(s.m.vm.memory.readBytes(s.site, 3))).toEqual(Array.from(nasm(foreign, 64, 0)));
        expect(s.m.patches.every((p) => p.to === foreign && p.by === 'L1')).toBe(true);
        expect(s.m.patches.length).toBe(15);
      });
    });

    it(`L0 ${l0}: L1 does not intercept L2's native ${nativeOf(l0)}: L0 fixes it to the same bytes (livelock), or #UD with the quirk off`, () => {
      const s = setup(l0, nativeOf(l0), { presentVendor: l0, interceptsHypercall: false });
      const e = s.m.run({ budget: 1_000_000 });
      expect(e).toMatchObject({ kind: 'Livelock', rip: s.site, insn: nativeOf(l0), repeats: 16 });
      expect(s.m.trace.filter((t) => t.route === 'l0-ud').length).toBe(16);
      expect(s.l1.seen.get('hypercall')).toBeUndefined();
      const off = setup(l0, nativeOf(l0), { presentVendor: l0, interceptsHypercall: false }, false);
      expect(off.m.run({ budget: 1_000_000 })).toMatchObject({ kind: 'Exception', vector: 6, rip: off.site });
    });
  }

  it('a #UD that is not a hypercall instruction is returned as is (L1 is not asked)', () => {
    const s = stack('ud2\nhlt', {}, { vendor: 'amd' });
    expect(s.m.run({ budget: 100 })).toMatchObject({ kind: 'Exception', vector: 6, rip: BigInt(CODE) });
    expect(s.m.trace).toEqual([]);
  });
});
