// Issue 6, the 2009 seed scenario: the pvio fallback stubs run as L2 under an L1 hypervisor on L0. Whether L1
// translates the pvio hypercalls to L0, refuses them (the guest gets -ENOSYS and falls back) or hides the feature
// bits (the guest never tries), the device sees exactly the accesses of a non-nested run.
import { pvioAbi } from '@pvkit/shared-abi';
import { PVTEST_ID_VALUE } from '@pvkit/host';
import type { ConformCase } from '../types.js';
import { stubCase } from './helpers.js';
import { FALLBACK_CALLS, FALLBACK_TRACE } from './stubs-matrix.js';

const POLICIES = [
  { what: 'translates pvio hypercalls to L0', nested: {} },
  { what: 'refuses pvio hypercalls (-ENOSYS: the stub falls back)', nested: { pvio: 'refuse' as const } },
  { what: 'hides the pvio hypercall feature bits', nested: { hidePvio: ['MMIO_HCALL', 'PIO_HCALL'] as ('MMIO_HCALL' | 'PIO_HCALL')[] } },
];

export const NESTED_CASES: ConformCase[] = POLICIES.map((p) => stubCase({
  name: `nested: pvio fallback under an L1 that ${p.what}`,
  groups: ['nested', 'fallback'],
  abi: pvioAbi, strategy: 'dispatch', source: 'issue 6 seed scenario; pvio spec (nesting: a clearable feature bit, a plain fallback)',
  machine: { abis: [{ name: 'pvio' }], pvtestInput: [0x7a], nested: p.nested },
  calls: (e) => FALLBACK_CALLS(e.bits),
  expect: () => ({
    results: [0x40000100n, 0n, BigInt(PVTEST_ID_VALUE), 0n, 0n, 0n, 0x7an, 0n],
    device: { output: 'ABCDEFGH', trace: FALLBACK_TRACE },
  }),
}));
