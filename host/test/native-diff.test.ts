// Differential test: the same generated instruction sequences run on this machine's CPU (native harness) and in
// the host emulator; all GPRs, CF PF AF ZF SF OF DF and the scratch memory are compared. Defined results must
// match exactly (except the reported known issues in native/known.ts); undefined ones are summarised.
// A second batch runs chains of several ops, where lazy-flag and register-forwarding bugs show.
// Both engines are compared with the CPU: compiled blocks (compiled at first entry) and the interpreter.
// PVKIT_DIFF_SEED / PVKIT_DIFF_COUNT vary the batch.
import { describe, expect, it } from 'vitest';
import { assembleSnippets, hasGnuAs } from './native/assemble.js';
import { type Mismatch, compareCase, mismatchTable, undefinedSummary } from './native/compare.js';
import { ENGINES, EmulatorRunner } from './native/emulator.js';
import { generateCases, type GenCase } from './native/generator.js';
import { type HarnessBuild, type MachineCase, buildHarness, runNative } from './native/harness.js';
import { FIXED_ISSUES, KNOWN_ISSUES, type Repro, knownIssueOf } from './native/known.js';
import { type Bits, flagText } from './native/layout.js';
import { UNDEFINED_RULES } from './native/undefined.js';

const SEED = Number(process.env.PVKIT_DIFF_SEED ?? 20261123);
const COUNT = Number(process.env.PVKIT_DIFF_COUNT ?? 4000);
const CHAINS = Math.ceil(COUNT / 2);
const builds: Record<Bits, HarnessBuild> = { 64: buildHarness(64), 32: buildHarness(32) };
const asOk = hasGnuAs();
if (!asOk) console.warn('native differential tests skipped: GNU as/objcopy/nm (binutils) not installed');
for (const bits of [64, 32] as const) {
  const b = builds[bits];
  if (!b.ok) console.warn(`native ${bits}-bit differential tests skipped: ${b.reason}`);
}

/** Every case on both engines against the native results; each mismatch names its engine. */
function compareEngines(bits: Bits, cases: readonly GenCase[], machine: readonly MachineCase[], nat: ReturnType<typeof runNative>): Mismatch[] {
  return ENGINES.flatMap((engine) => {
    const emu = new EmulatorRunner(bits, 1000, 0, engine).runAll(machine);
    return cases.flatMap((c, i) => compareCase(c, bits, nat[i]!, emu[i]!).map((m) => ({ ...m, engine })));
  });
}

function toMachine(c: GenCase, code: Uint8Array): MachineCase {
  return { code, regs: c.regs, flags: c.flags, scratch: c.scratch };
}

describe.each([64, 32] as const)('emulator vs native CPU, %i-bit', (bits) => {
  const build = builds[bits];
  const ready = build.ok && asOk;

  it.skipIf(!ready)(`matches the CPU on ${COUNT} generated cases (seed ${SEED}) in every defined result`, () => {
    if (!build.ok) return;
    const cases = generateCases({ bits, seed: SEED, count: COUNT });
    const codes = assembleSnippets(cases.map((c) => c.asm), bits);
    const machine = cases.map((c, i) => toMachine(c, codes[i]!));
    const nat = runNative(build, machine);
    const all = compareEngines(bits, cases, machine, nat);
    const defined = all.filter((m) => m.severity === 'defined');
    const known = defined.filter((m) => knownIssueOf(m) !== undefined);
    const unknown = defined.filter((m) => knownIssueOf(m) === undefined);
    const undef = all.filter((m) => m.severity === 'undefined');

    const report = [`${bits}-bit, seed ${SEED}, ${cases.length} cases: ${unknown.length} new and ${known.length} known mismatches in defined results, ${undef.length} in undefined ones`];
    if (known.length) {
      const ids = [...new Set(known.map((m) => knownIssueOf(m)!.id))];
      report.push(`known issues seen (native/known.ts): ${ids.join(', ')}`, mismatchTable(known, bits, 8));
    }
    if (undef.length) report.push('undefined results (SDM) where this CPU and the emulator differ:', undefinedSummary(undef, cases));
    if (unknown.length) report.push('MISMATCHES IN DEFINED RESULTS:', mismatchTable(unknown, bits));
    console.log(report.join('\n\n'));
    expect(unknown.map((m) => `#${m.c.id} [${m.engine}] ${m.c.asm.join('; ')}: ${m.what}`)).toEqual([]);
  });

  it.skipIf(!ready)(`matches the CPU on ${CHAINS} chains of 2..6 ops (flags and values flowing between instructions)`, () => {
    if (!build.ok) return;
    // Chains steer around the known issues (each already has its single-op reproducer), so that one known bug
    // does not hide others behind it.
    const avoidTags = KNOWN_ISSUES.flatMap((k) => (k.tag ? [k.tag] : []));
    const cases = generateCases({ bits, seed: SEED + 1, count: CHAINS, chain: 6, avoidTags });
    const codes = assembleSnippets(cases.map((c) => c.asm), bits);
    const machine = cases.map((c, i) => toMachine(c, codes[i]!));
    const nat = runNative(build, machine);
    const all = compareEngines(bits, cases, machine, nat);
    const defined = all.filter((m) => m.severity === 'defined');
    const lines = cases.reduce((n, c) => n + c.asm.length, 0);
    console.log(`${bits}-bit chains: ${cases.length} cases, ${lines} instructions, avoiding [${avoidTags.join(', ')}]: ` +
      `${defined.length} mismatches in defined results, ${all.length - defined.length} in undefined ones (final flags)`);
    if (defined.length) console.log(mismatchTable(defined, bits));
    expect(defined.map((m) => `#${m.c.id} [${m.engine}] ${m.c.asm.join('; ')}: ${m.what}`)).toEqual([]);
  });

  it.skipIf(!ready)('keeps a documented list of the SDM-undefined results it tolerates', () => {
    expect(UNDEFINED_RULES.length).toBeGreaterThan(0);
    for (const r of UNDEFINED_RULES) expect(r.source).toMatch(/SDM|follows/);
    console.log(UNDEFINED_RULES.map((r) => `${r.mnemonic}: ${flagText(r.flags)} when ${r.when} (${r.source})`).join('\n'));
  });
});

/** Runs a reproducer natively and in the emulator; returns the differences as text. */
function reproDiffs(k: Repro): string[] {
  const build = builds[k.repro.bits];
  if (!build.ok) return [];
  const n = k.repro.bits === 64 ? 16 : 8;
  const regs = Array.from({ length: n }, (_, i) => k.repro.regs[i] ?? 0n);
  const c: GenCase = {
    id: 0, group: 'repro', asm: k.repro.asm, regs, flags: k.repro.flags, scratch: new Uint8Array(16),
    undefinedFlags: 0, undefinedRegs: [], undefinedScratch: false, tags: [],
  };
  const [code] = assembleSnippets([c.asm], k.repro.bits);
  const m = toMachine(c, code!);
  const [nat] = runNative(build, [m]);
  const emu = new EmulatorRunner(k.repro.bits).runCase(m);
  const diffs: Mismatch[] = compareCase(c, k.repro.bits, nat!, emu);
  return diffs.map((d) => `${d.what}: native ${d.native}, emulated ${d.emulated}`);
}

describe('known emulator issues (expected to fail until fixed; then move the entry to FIXED_ISSUES)', () => {
  it('has no open issue without a reproducer', () => {
    for (const k of KNOWN_ISSUES) expect(k.repro.asm.length).toBeGreaterThan(0);
  });
  for (const k of KNOWN_ISSUES) {
    it.skipIf(!builds[k.repro.bits].ok || !asOk).fails(`${k.id}: ${k.repro.asm.join('; ')}`, () => {
      expect(reproDiffs(k)).toEqual([]);
    });
  }
});

describe('fixed emulator issues stay fixed', () => {
  for (const k of FIXED_ISSUES) {
    it.skipIf(!builds[k.repro.bits].ok || !asOk)(`${k.id}: ${k.repro.asm.join('; ')}`, () => {
      expect(reproDiffs(k)).toEqual([]);
    });
  }
});
