// Guest-code fuzzing: random byte strings run as guest code in both modes (CPL 0 and 3). Every run must end in
// a typed exit (never a raw exception, never a hang: the instruction budget stops loops), no exit may be an
// "internal error" Shutdown (a JS exception the vCPU caught), and the same VM must still run a known program.
// PVKIT_FUZZ_RUNS / PVKIT_FUZZ_SEED vary the campaign.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Vm } from '../src/vm.js';
import { describeExit, type Exit, type ExitKind } from '../src/exits.js';
import type { CpuMode } from '../src/cpu/types.js';
import { assembleSnippets, hasGnuAs } from './native/assemble.js';

const KINDS: ReadonlySet<ExitKind> = new Set<ExitKind>([
  'Cpuid', 'Rdmsr', 'Wrmsr', 'Hypercall', 'IoIn', 'IoOut', 'MmioRead', 'MmioWrite', 'Exception', 'Hlt', 'Shutdown',
  'BudgetExhausted',
]);
const RAM_SIZE = 0x10000;
const CODE = 0x1000n;
const STACK_TOP = 0xf000n;
const BUDGET = 2000;
const RUNS = Number(process.env.PVKIT_FUZZ_RUNS ?? 600);
const asOk = hasGnuAs();
if (!asOk) console.warn('fuzz sanity program: GNU as missing, using the two-instruction program from its SDM encoding');

/** `mov eax, 0x2a; hlt` assembled by GNU as (fallback: SDM Vol.2 MOV B8+rd id, HLT F4). */
function knownProgram(bits: 64 | 32): Uint8Array {
  if (asOk) return assembleSnippets([['mov eax, 0x2a', 'hlt']], bits)[0]!;
  return Uint8Array.from([0xb8, 0x2a, 0, 0, 0, 0xf4]);
}

describe.each(['long64', 'prot32'] as const)('fuzz: random guest code, %s', (mode: CpuMode) => {
  const bits = mode === 'long64' ? 64 : 32;
  const vm = new Vm({ mode });
  vm.memory.addRam(0, RAM_SIZE, 'ram');
  const vcpu = vm.vcpu(0);
  const zero = new Uint8Array(RAM_SIZE);
  const sane = knownProgram(bits);

  function start(code: Uint8Array, regs: readonly bigint[], cpl: 0 | 3): Exit {
    vm.memory.writeBytes(0, zero); // same memory for every run, so a failure replays
    vm.memory.writeBytes(CODE, code);
    for (let i = 0; i < (bits === 64 ? 16 : 8); i++) vcpu.setReg(i, regs[i]!);
    vcpu.setReg(4, STACK_TOP);
    vcpu.rflags = 0x2n;
    vcpu.cpl = cpl;
    vcpu.rip = CODE;
    vcpu.halted = false;
    return vm.run({ budget: BUDGET });
  }

  it(`ends every one of ${RUNS} runs in a typed exit and stays usable`, () => {
    const seen = new Map<string, number>();
    const value = fc.bigInt({ min: 0n, max: (1n << BigInt(bits)) - 1n });
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        fc.array(value, { minLength: 16, maxLength: 16 }),
        fc.constantFrom<0 | 3>(0, 3),
        (code, regs, cpl) => {
          let exit: Exit | undefined;
          expect(() => { exit = start(code, regs, cpl); }).not.toThrow();
          const e = exit!;
          expect(KINDS.has(e.kind), `unknown exit ${JSON.stringify(e, (_, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v))}`).toBe(true);
          expect(e.vcpu).toBe(0);
          expect(typeof e.rip).toBe('bigint');
          if (e.kind === 'Shutdown') expect(e.reason, Buffer.from(code).toString('hex')).not.toMatch(/internal error/);
          if (e.kind === 'BudgetExhausted') expect(e.executed).toBeLessThanOrEqual(BUDGET);
          seen.set(e.kind, (seen.get(e.kind) ?? 0) + 1);
          // the same VM still runs a known program afterwards
          const after = start(sane, regs, 0);
          expect(after.kind, describeExit(after)).toBe('Hlt');
          expect(vcpu.getReg(0)).toBe(0x2an);
        },
      ),
      { numRuns: RUNS, seed: Number(process.env.PVKIT_FUZZ_SEED ?? 42) },
    );
    console.log(`${mode}: exits over ${RUNS} random programs: ${[...seen].map(([k, n]) => `${k} ${n}`).join(', ')}`);
    expect(seen.get('Exception')).toBeGreaterThan(0);
  });
});
