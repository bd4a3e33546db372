// The `emulator` backend: the host package's Vm with the real personalities (no test hooks), composed at the
// case's CPUID bases, plus the same devices `pvkit run` has (debug console 0xe9, pvtest at 0x600 / 0xfe000000).
import { CostCounters, GPR_NAMES, Hypervisor, IoBusRouter, Vm, type Exit, type GprName, type PvTestDevice, type TraceEntry } from '@pvkit/host';
import { attachStandardDevices, DebugConsole, makePersonality, placeAbis } from '../run/machine.js';
import { completeUnclaimed } from '../run/session.js';
import { buildNestedMachine, runNested } from '../run/nested.js';
import { MIGRATE_PORT, RAM_BYTES, LAYOUT } from './guest.js';
import { userAbiHooks } from './user-host.js';
import type { Backend, CaseEnv, ConformCase, GuestProgram, MachineSpec, Observation } from './types.js';

export interface EmulatorMachine {
  readonly vm: Vm;
  readonly hypervisor: Hypervisor | undefined;
  readonly counters: CostCounters;
  readonly console: DebugConsole;
  readonly pvtest: PvTestDevice;
  /** The Vm the devices' DMA reaches (replaced on migration). */
  readonly current: { vm: Vm };
}

/** Build the machine for one case instance and load the program. */
export function buildEmulator(env: CaseEnv, spec: MachineSpec, prog: GuestProgram): EmulatorMachine {
  const counters = new CostCounters();
  const router = new IoBusRouter({ counters, mmuMode: 'ept' });
  const vm = new Vm({
    mode: env.bits === 64 ? 'long64' : 'prot32', vendor: env.vendor, router, trace: true,
    vcpus: [{ cpl: spec.cpl ?? 0 }, ...(spec.secondary ?? []).map(() => ({ cpl: spec.cpl ?? 0 }))], fixHypercallInsn: spec.fixHypercallInsn ?? true, counters,
  });
  vm.memory.addRam(0, RAM_BYTES);
  for (const r of spec.extraRam ?? []) vm.memory.addRam(r.gpa, r.size);
  const current = { vm }; // migration swaps the Vm (and its memory): DMA goes to whichever is current
  const { console, pvtest } = attachStandardDevices(router, { readBytes: (a, n) => current.vm.memory.readBytes(a, n), writeBytes: (a, d) => current.vm.memory.writeBytes(a, d) });
  if (spec.pvtestInput) pvtest.pushInput(spec.pvtestInput);
  for (const s of prog.segments) vm.memory.writeBytes(s.gpa, s.bytes);
  const v = vm.vcpus[0]!;
  v.rip = prog.entry;
  v.setReg('rsp', LAYOUT.stack);
  (spec.secondary ?? []).forEach((s, i) => {
    const w = vm.vcpus[i + 1]!;
    w.rip = s.entry;
    w.setReg('rsp', LAYOUT.stack - 0x1000n * BigInt(i + 1)); // a page of stack each below vCPU 0's
  });
  let hypervisor: Hypervisor | undefined;
  if (spec.abis.length) {
    const placed = placeAbis(spec.abis.map((a) => ({ name: a.name, base: a.base })));
    hypervisor = new Hypervisor(placed.map(({ base }, i) => makePersonality({ name: spec.abis[i]!.name }, base, spec.abis[i]!.options ?? {})), { counters });
    hypervisor.attach(vm);
  }
  if (spec.userAbis?.length) vm.hooks = userAbiHooks(spec.userAbis, vm.hooks);
  return { vm, hypervisor, counters, console, pvtest, current };
}

export function observe(m: EmulatorMachine, final: Observation['final']): Observation {
  const v = m.vm.vcpus[0]!;
  const registers = Object.fromEntries(GPR_NAMES.map((n) => [n, v.getReg(n)])) as Record<GprName, bigint>;
  return {
    final,
    registers,
    readMemory: (gpa, n) => m.vm.memory.readBytes(gpa, n),
    trace: m.vm.trace,
    patches: m.vm.patches.length,
    counters: m.counters.snapshot(),
    console: m.console.text(),
    device: { output: m.pvtest.outputText(), trace: m.pvtest.trace.slice() },
  };
}

/** Run to a final exit; unclaimed port/MMIO accesses complete as QEMU's unassigned ones (cf. run/session.ts). */
function runToEnd(m: EmulatorMachine, spec: MachineSpec, budget: number): { m: EmulatorMachine; final: Exit; trace: TraceEntry[]; patches: number } {
  const trace: TraceEntry[] = [];
  let left = budget;
  for (;;) {
    const before = m.vm.vcpus.reduce((n, v) => n + v.icount, 0);
    const e = m.vm.run({ budget: Math.max(1, left), wallMs: 10_000 });
    left -= m.vm.vcpus.reduce((n, v) => n + v.icount, 0) - before;
    const v = m.vm.vcpus[e.vcpu]!;
    if (e.kind === 'IoOut' && e.port === MIGRATE_PORT && spec.migrate) {
      const old = m.vm;
      const to = old.vcpus[0]!.vendor === 'intel' ? 'amd' : 'intel';
      const hv = m.hypervisor;
      const vm = Vm.restore(old.snapshot(), { vendor: to, router: old.router, trace: true, counters: m.counters, onVendorChange: (nvm, _f, t) => { hv?.attach(nvm); hv?.onVendorChange(t); } });
      trace.push(...old.trace); // the snapshot carries the patch records, not the trace
      m.current.vm = vm;
      m = { ...m, vm };
      continue;
    }
    // One vCPU halting is not the end while another still runs (SMP cases); all halted is.
    if (e.kind === 'Hlt' && m.vm.vcpus.some((x) => !x.halted)) continue;
    if (!completeUnclaimed(e, v, [])) return { m, final: e, trace: [...trace, ...m.vm.trace], patches: m.vm.patches.length };
  }
}

export const emulatorBackend: Backend = {
  name: 'emulator',
  available: () => ({ ok: true }),
  skipReason: () => undefined,
  run(c: ConformCase, env: CaseEnv, spec: MachineSpec, prog: GuestProgram): Observation {
    if (spec.nested) return runNestedCase(c, env, spec, prog);
    const r = runToEnd(buildEmulator(env, spec, prog), spec, c.budget ?? 2_000_000);
    const o = observe(r.m, { kind: r.final.kind, vector: r.final.kind === 'Exception' ? r.final.vector : undefined, rip: r.final.rip, text: describe(r.final) });
    return { ...o, trace: r.trace, patches: r.patches };
  },
};

/** The same program as L2 under PolicyL1 (test/src/run/nested.ts): L2 sees the devices at the usual addresses. */
function runNestedCase(c: ConformCase, env: CaseEnv, spec: MachineSpec, prog: GuestProgram): Observation {
  const rig = buildNestedMachine(
    { format: 'flat', bits: env.bits, entry: prog.entry, segments: prog.segments.map((s) => ({ ...s, zero: 0 })) },
    {
      abis: spec.abis.map((a) => ({ name: a.name, ...(a.base !== undefined ? { base: a.base } : {}) })), vendor: env.vendor, bits: env.bits,
      memMiB: RAM_BYTES / (1024 * 1024), fixHypercallInsn: spec.fixHypercallInsn ?? true,
      ...(spec.nested?.pvio ? { pvio: spec.nested.pvio } : {}), ...(spec.nested?.hidePvio ? { hidePvio: [...spec.nested.hidePvio] } : {}),
    },
  );
  if (spec.pvtestInput) rig.pvtest.pushInput(spec.pvtestInput);
  const v = rig.nm.vcpu;
  v.setReg('rsp', LAYOUT.stack);
  const out = runNested(rig, { budget: c.budget ?? 2_000_000, wallMs: 10_000 });
  const f = out.final;
  return {
    final: { kind: f.kind === 'Livelock' ? 'Shutdown' : f.kind, vector: f.kind === 'Exception' ? f.vector : undefined, rip: f.rip, text: f.kind === 'Livelock' ? f.message : describe(f) },
    registers: Object.fromEntries(GPR_NAMES.map((n) => [n, v.getReg(n)])) as Record<GprName, bigint>,
    readMemory: (gpa, n) => rig.nm.vm.memory.readBytes(gpa, n),
    trace: rig.nm.vm.trace,
    patches: rig.nm.patches.length,
    counters: rig.counters.snapshot(),
    console: rig.console.text(),
    device: { output: rig.pvtest.outputText(), trace: rig.pvtest.trace.slice() },
  };
}

function describe(f: Parameters<typeof import('@pvkit/host').describeExit>[0]): string {
  return f.kind === 'Exception' ? `Exception vector ${f.vector} at 0x${f.rip.toString(16)}: ${f.message}` : `${f.kind} at 0x${f.rip.toString(16)}`;
}
