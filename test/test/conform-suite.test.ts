// The conformance table on the emulator backend: every case instance must PASS. Then the judge itself:
// a wrong expectation (result, memory byte, exit trace, final exit) must FAIL with a located line, and an
// unavailable backend must SKIP with its reason, never pass silently.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAbiJson } from '@pvkit/shared-abi';
import { CASES, emulatorBackend, instanceId, instances, isSoftwareKvm, kvmAvailability, kvmBackend, runSuite, userAbiCases, type Backend, type ConformCase } from '../src/conform/index.js';

const EXAMPLES = join(import.meta.dirname, '..', '..', 'shared-abi', 'examples');

describe('conformance table on the emulator', () => {
  const rows = CASES.flatMap((c) => instances(c).map((env) => [instanceId(c, env), c, env] as const));
  it('has the issue-5 matrix: detection, hypercall, hcpage and fallback on both vendors and both modes', () => {
    for (const g of ['detection', 'hypercall', 'hcpage', 'fallback'] as const) {
      const cs = CASES.filter((c) => c.groups.includes(g));
      expect(cs.length, g).toBeGreaterThan(0);
      for (const abi of new Set(cs.map((c) => c.abis[0]))) {
        const envs = new Set(cs.filter((c) => c.abis[0] === abi).flatMap((c) => instances(c).map((e) => `${e.bits}-${e.vendor}`)));
        expect([...envs].sort(), `${g} ${abi}`).toEqual(['32-amd', '32-intel', '64-amd', '64-intel']);
      }
    }
    for (const abi of ['kvm', 'xen', 'hyperv', 'vmware', 'pvio']) expect(CASES.some((c) => c.abis[0] === abi && c.groups.includes('hypercall')), abi).toBe(true);
  });
  it.each(rows)('%s', async (_id, c, env) => {
    const [r] = await runSuite([{ ...c, bits: [env.bits], vendors: [env.vendor] }], [emulatorBackend]);
    expect(r!.reason ?? '', r!.id).toBe('');
    expect(r!.status).toBe('PASS');
  });
});

function mutate(c: ConformCase, f: (e: ReturnType<ConformCase['expect']>) => ReturnType<ConformCase['expect']>): ConformCase {
  return { ...c, bits: [64], vendors: ['amd'], expect: (env) => f(c.expect(env)) };
}

describe('the judge catches wrong expectations', () => {
  const kvm = CASES.find((c) => c.name.startsWith('kvm wrappers'))!;
  const xenPage = CASES.find((c) => c.name.startsWith('xen hcpage'))!;
  const fallback = CASES.find((c) => c.name.includes('features masked'))!;
  it('a wrong return value names the call, its width and both values', async () => {
    const [r] = await runSuite([mutate(kvm, (e) => ({ ...e, results: [0n, 0n, -1n] }))], [emulatorBackend]);
    expect(r!.status).toBe('FAIL');
    expect(r!.problems).toEqual(['result 2 (pvkit_kvm_hc_mmu_op, 64-bit): want 0xffffffffffffffff, got 0xfffffffffffffc18']);
  });
  it('a wrong byte of the hypercall page (VMCALL where AMD needs VMMCALL) is a memory difference', async () => {
    const [r] = await runSuite([mutate(xenPage, (e) => ({ ...e, memory: [{ gpa: 0x40000n + 17n * 32n + 7n, bytes: [0xc1], what: 'slot 17 modrm' }] }))], [emulatorBackend]);
    expect(r!.status).toBe('FAIL');
    expect(r!.problems).toEqual(['memory 0x40227 (slot 17 modrm): want [c1], got [d9]']);
  });
  it('a wrong exit trace and a wrong final exit are reported', async () => {
    const [r] = await runSuite([mutate(fallback, (e) => ({ ...e, exitTrace: { of: ['Hypercall'], kinds: ['Hypercall'] }, final: { kind: 'Exception', vector: 6 } }))], [emulatorBackend]);
    expect(r!.status).toBe('FAIL');
    expect(r!.problems[0]).toMatch(/^final exit: want Exception vector 6, got Hlt at 0x/);
    expect(r!.problems[1]).toBe('exit trace (Hypercall): want [Hypercall], got []');
  });
  it('a program that throws is a FAIL with the error, not a crash', async () => {
    const bad: ConformCase = { ...kvm, bits: [64], vendors: ['intel'], program: () => { throw new Error('no such stub'); } };
    const [r] = await runSuite([bad], [emulatorBackend]);
    expect(r).toMatchObject({ status: 'FAIL', problems: ['error: no such stub'] });
  });
});

describe('backends that cannot run report SKIP with the reason', () => {
  it('kvm and differential mode: every instance PASSes or SKIPs with a reason; what real KVM can run, it runs', async () => {
    const rs = await runSuite(CASES, [emulatorBackend, kvmBackend]);
    const kvm = rs.filter((r) => r.backend === 'kvm');
    for (const r of rs) {
      expect(r.status === 'FAIL' ? r.reason : r.status, r.id).not.toBe(undefined);
      expect(r.status, `${r.backend}: ${r.id}: ${r.reason}`).not.toBe('FAIL');
      if (r.status === 'SKIP') expect(r.reason!.length, r.id).toBeGreaterThan(10);
    }
    const ran = kvm.filter((r) => r.status === 'PASS');
    const a = kvmAvailability();
    if (!a.ok) {
      console.warn(`conform: kvm backend unavailable here (${a.reason}); every kvm instance SKIPs`);
      expect(ran).toEqual([]);
      return;
    }
    // Real KVM answers the KVM-only CPUID cases on the host vendor in both modes (compared with the emulator).
    expect(ran.map((r) => r.case)).toEqual(expect.arrayContaining(['kvm detect alone', 'ABI-FACTS 1.4: KVM signature leaf at 0x40000000']));
    expect(new Set(ran.map((r) => r.env.bits))).toEqual(new Set([64, 32]));
    if (isSoftwareKvm()) expect(kvm.filter((r) => r.groups.includes('hypercall') && r.status === 'PASS')).toEqual([]);
  });
  it('an available backend can still skip a case with its own reason', async () => {
    const picky: Backend = { ...emulatorBackend, name: 'picky', skipReason: (c) => (c.groups.includes('hcpage') ? 'no hypercall pages here' : undefined) };
    const rs = await runSuite(CASES.filter((c) => c.groups.includes('hcpage')).slice(0, 1), [picky]);
    expect(rs.every((r) => r.status === 'SKIP' && r.reason === 'no hypercall pages here')).toBe(true);
  });
});

describe("a user's own ABI (JSON) through the data-driven echo host", () => {
  const load = (f: string) => loadAbiJson(readFileSync(join(EXAMPLES, f), 'utf8'), f);
  it('mydev.json: detection alone and behind Hyper-V+KVM, every wrapper, both vendors and modes: all PASS', async () => {
    const cases = userAbiCases(load('mydev.json'), 'mydev.json');
    expect(cases.map((c) => c.groups[0])).toEqual(['detection', 'detection', 'hypercall']);
    const rs = await runSuite(cases, [emulatorBackend]);
    expect(rs.length).toBe(12);
    for (const r of rs) expect(r.reason ?? 'PASS', r.id).toBe('PASS');
  });
  it('a guest built from mydev-v3 (QUEUE_NOTIFY renumbered 0x1010) against a mydev v1 host fails at that call', async () => {
    const v1 = load('mydev.json');
    const [, , wrappers] = userAbiCases(load('mydev-v3.json'), 'mydev-v3.json');
    const c = { ...wrappers!, vendors: ['intel'] as const, bits: [64] as const, machine: () => ({ abis: [], userAbis: [{ abi: v1, base: v1.cpuid.defaultBase }] }) };
    const [r] = await runSuite([c], [emulatorBackend]);
    expect(r!.status).toBe('FAIL');
    expect(r!.problems[0]).toMatch(/^final exit: want Hlt, got Hypercall at 0x/);
  });
});

describe('smp and migration cases depend on what they claim', () => {
  it('without the second vCPU nobody writes the marker: the wait loop runs out of budget (FAIL)', async () => {
    const smp = CASES.find((c) => c.groups.includes('smp'))!;
    const c: ConformCase = { ...smp, vendors: ['intel'], bits: [64], budget: 200_000, machine: (e) => ({ ...smp.machine(e), secondary: [] }) };
    const [r] = await runSuite([c], [emulatorBackend]);
    expect(r!.status).toBe('FAIL');
    expect(r!.problems[0]).toMatch(/^final exit: want Hlt, got BudgetExhausted/);
  });
  it('without the migration the Xen page keeps the source vendor instruction (FAIL on slot 17)', async () => {
    const mig = CASES.find((c) => c.groups.includes('migration') && c.abis[0] === 'xen')!;
    const c: ConformCase = { ...mig, vendors: ['amd'], bits: [64], machine: (e) => ({ ...mig.machine(e), migrate: false }) };
    const [r] = await runSuite([c], [emulatorBackend]);
    expect(r!.status).toBe('FAIL');
    expect(r!.problems).toEqual(['memory 0x40220 (slot 17 after migration): want [b8 11 00 00 00 0f 01 c1 c3], got [b8 11 00 00 00 0f 01 d9 c3]']);
  });
});
