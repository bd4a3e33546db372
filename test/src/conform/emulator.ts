// The `emulator` backend: the host package's Vm with the real personalities (no test hooks), composed at the
// case's CPUID bases, plus the same devices `pvkit run` has (debug console 0xe9, pvtest at 0x600 / 0xfe000000).
import { XEN_HVM_DEBUGCONS_IOPORT } from '@pvkit/shared-abi';
import {
  CostCounters, GPR_NAMES, HypervPersonality, Hypervisor, IoBusRouter, KvmPersonality, PvioPersonality, PvTestDevice,
  Vm, VmwarePersonality, XenPersonality, type GprName,
} from '@pvkit/host';
import { DebugConsole, PVTEST_MMIO, PVTEST_PORT, placeAbis, type AbiName } from '../run/machine.js';
import { runMachine } from '../run/session.js';
import { RAM_BYTES, LAYOUT } from './guest.js';
import { userAbiHooks } from './user-host.js';
import type { Backend, CaseEnv, ConformCase, GuestProgram, MachineSpec, Observation } from './types.js';

type Opts = Record<string, unknown>;

function personality(name: AbiName, base: number, o: Opts) {
  switch (name) {
    case 'kvm': return new KvmPersonality({ ...o, base });
    case 'xen': return new XenPersonality({ ...o, base });
    case 'hyperv': return new HypervPersonality(o);
    case 'vmware': return new VmwarePersonality(o);
    case 'pvio': return new PvioPersonality({ ...o, base });
  }
}

export interface EmulatorMachine {
  readonly vm: Vm;
  readonly hypervisor: Hypervisor | undefined;
  readonly counters: CostCounters;
  readonly console: DebugConsole;
  readonly pvtest: PvTestDevice;
}

/** Build the machine for one case instance and load the program. */
export function buildEmulator(env: CaseEnv, spec: MachineSpec, prog: GuestProgram): EmulatorMachine {
  const counters = new CostCounters();
  const router = new IoBusRouter({ counters, mmuMode: 'ept' });
  const console = new DebugConsole();
  router.pio.register(XEN_HVM_DEBUGCONS_IOPORT, 1, console);
  const vm = new Vm({
    mode: env.bits === 64 ? 'long64' : 'prot32', vendor: env.vendor, router, trace: true,
    vcpus: [{ cpl: spec.cpl ?? 0 }], fixHypercallInsn: spec.fixHypercallInsn ?? true,
  });
  vm.memory.addRam(0, RAM_BYTES);
  for (const r of spec.extraRam ?? []) vm.memory.addRam(r.gpa, r.size);
  const pvtest = new PvTestDevice('pvtest', vm.memory);
  router.pio.register(PVTEST_PORT, 0x40, pvtest.pio);
  router.mmio.register(PVTEST_MMIO, 0x40n, pvtest.mmio);
  if (spec.pvtestInput) pvtest.pushInput(spec.pvtestInput);
  for (const s of prog.segments) vm.memory.writeBytes(s.gpa, s.bytes);
  const v = vm.vcpus[0]!;
  v.rip = prog.entry;
  v.setReg('rsp', LAYOUT.stack);
  let hypervisor: Hypervisor | undefined;
  if (spec.abis.length) {
    const placed = placeAbis(spec.abis.map((a) => ({ name: a.name, base: a.base })));
    hypervisor = new Hypervisor(placed.map(({ base }, i) => personality(spec.abis[i]!.name, base, spec.abis[i]!.options ?? {})), { counters });
    hypervisor.attach(vm);
  }
  if (spec.userAbis?.length) vm.hooks = userAbiHooks(spec.userAbis, vm.hooks);
  return { vm, hypervisor, counters, console, pvtest };
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

export const emulatorBackend: Backend = {
  name: 'emulator',
  available: () => ({ ok: true }),
  skipReason: () => undefined,
  run(c: ConformCase, env: CaseEnv, spec: MachineSpec, prog: GuestProgram): Observation {
    const m = buildEmulator(env, spec, prog);
    const out = runMachine(
      { vm: m.vm, router: m.vm.router as IoBusRouter, counters: m.counters, hypervisor: m.hypervisor, console: m.console, pvtest: m.pvtest },
      { budget: c.budget ?? 2_000_000, wallMs: 10_000 },
    );
    const f = out.final;
    return observe(m, { kind: f.kind, vector: f.kind === 'Exception' ? f.vector : undefined, rip: f.rip, text: describe(f) });
  },
};

function describe(f: Parameters<typeof import('@pvkit/host').describeExit>[0]): string {
  return f.kind === 'Exception' ? `Exception vector ${f.vector} at 0x${f.rip.toString(16)}: ${f.message}` : `${f.kind} at 0x${f.rip.toString(16)}`;
}
