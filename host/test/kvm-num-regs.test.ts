// KvmVcpu implements the number register API of VcpuApi on kvm_regs: halves of the same 64-bit fields the bigint
// getReg/setReg use, in every mode (KVM keeps all 64 bits), and the hypercall result writer clears bits 63:32 for a
// 32-bit caller there. Needs /dev/kvm (skipped with the harness's printed reason otherwise).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { kvmResult } from '@pvkit/shared-abi';
import { GPR_NAMES } from '../src/cpu/types.js';
import { setSignedResult } from '../src/hypervisor/common.js';
import { hasNasm, nasm } from './cpu-util.js';
import { CODE, kvmMissing, kvmWith } from './kvm/harness.js';

const usable = kvmMissing === undefined && hasNasm;

describe.skipIf(!usable)('KvmVcpu number register access', () => {
  it('getReg32/getRegHi are the halves of getReg; setRegParts equals setReg of hi:lo; results as kvmResult', async () => {
    const kvm = await kvmWith(nasm('hlt', 64, CODE));
    try {
      const v = kvm.vcpu(0);
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 15 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
          fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }), fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }),
          fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.constantFrom<64 | 32>(64, 32),
          (i, val, lo, hi, ret, bits) => {
            v.setReg(i, val);
            expect((BigInt(v.getRegHi(i)) << 32n) | BigInt(v.getReg32(i))).toBe(val);
            const others = GPR_NAMES.map((n) => v.getReg(n));
            v.setRegParts(i, lo, hi);
            expect(v.getReg(i)).toBe((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
            expect(GPR_NAMES.map((n, k) => (k === i ? others[k] : v.getReg(n)))).toEqual(others);
            v.setReg(0, (1n << 64n) - 1n);
            setSignedResult(v, ret, bits, kvmResult);
            expect(v.getReg('rax')).toBe(kvmResult(ret, bits));
          },
        ),
        { numRuns: 200 },
      );
      expect(() => v.getReg32(16)).toThrow(/register index: expected 0\.\.15, got 16/);
      expect(() => v.setRegParts(2, 2 ** 32, 0)).toThrow(/setRegParts\(2\) lo: expected a 32-bit integer half/);
    } finally {
      kvm.close();
    }
  });
});
