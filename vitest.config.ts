import { defineConfig } from 'vitest/config';

/**
 * Tests that run guest code through personalities, devices and the conformance suite. The default engine
 * interprets code until a block has been entered 8 times, so most of them never compile a block; the
 * `blocks-first` project runs them again with every block compiled at its first entry (PVKIT_JIT_HOT=1).
 */
const GUEST_RUNNING = [
  'host/test/hv-*.test.ts', 'host/test/patching.test.ts', 'host/test/nested-*.test.ts', 'host/test/cpu-pio.test.ts',
  'host/test/cpu-mmio.test.ts', 'host/test/exits.test.ts', 'host/test/vm.test.ts', 'host/test/devices.test.ts',
  'test/test/conform-suite.test.ts', 'test/test/stubs-run-*.test.ts', 'test/test/nested-run.test.ts',
];

export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'pvkit', include: ['{shared-abi,guest-sdk,host,test}/test/**/*.test.ts'] } },
      { extends: true, test: { name: 'blocks-first', include: GUEST_RUNNING, env: { PVKIT_JIT_HOT: '1' } } },
    ],
  },
});
