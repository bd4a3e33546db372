// Nothing a guest does may throw out of the host: random bytes as code (64- and 32-bit, CPL 0 and 3, with and
// without a router) always end in a typed exit.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Vm } from '../src/vm.js';
import { FakeRouter } from './cpu-util-router.js';
import type { Exit } from '../src/exits.js';

const KINDS: ReadonlySet<Exit['kind']> = new Set([
  'Cpuid', 'Rdmsr', 'Wrmsr', 'Hypercall', 'IoIn', 'IoOut', 'MmioRead', 'MmioWrite', 'Exception', 'Hlt', 'Shutdown',
  'BudgetExhausted',
]);

describe('fuzz: random guest code', () => {
  it('every run ends in a typed exit, never a JS exception, never an internal error', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        fc.constantFrom('long64', 'prot32'),
        fc.constantFrom(0, 3),
        fc.boolean(),
        fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { minLength: 16, maxLength: 16 }),
        (code, mode, cpl, withRouter, regs) => {
          const vm = new Vm({ mode, ...(withRouter ? { router: new FakeRouter(0xfee00000n, 0x1000) } : {}) });
          vm.memory.addRam(0, 0x20000);
          // Code at the very end of RAM so straddling fetches fault, with data around it.
          const at = 0x20000 - code.length;
          vm.memory.writeBytes(at, code);
          const v = vm.vcpus[0]!;
          regs.forEach((r, i) => v.setReg(i, i === 4 ? 0x10000n : r));
          v.cpl = cpl as 0 | 3;
          v.rip = BigInt(at);
          for (let round = 0; round < 4; round++) {
            const e = vm.run({ budget: 200 });
            expect(KINDS.has(e.kind)).toBe(true);
            if (e.kind === 'Shutdown') throw new Error(`internal error exit: ${e.reason}`);
            if (e.kind === 'IoIn') v.completeIoIn(0x12345678);
            else if (e.kind === 'MmioRead') v.completeMmioRead(0x1122334455667788n);
            else if (e.kind === 'Cpuid') v.completeCpuid({ eax: 0, ebx: 0, ecx: 0, edx: 0 });
            else if (e.kind === 'Rdmsr') v.completeRdmsr(0n);
            else if (e.kind === 'Exception' && e.vector !== 3) break;
          }
        },
      ),
      { numRuns: 3000, seed: 0x5eed },
    );
  });
});
