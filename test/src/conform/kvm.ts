// The `kvm` backend: the same guest bytes on real /dev/kvm (host/src/backends/kvm, koffi), with the same
// router and devices as the emulator (debug console 0xe9, pvtest at 0x600 / 0xfe000000). Real KVM answers
// CPUID and hypercalls itself, so only cases whose machine is "KVM at 0x40000000" run here; the rest SKIP
// with the reason. On kvm_pvm (software KVM) VMCALL/VMMCALL never complete: hypercall cases SKIP too.
import {
  CostCounters, GPR_NAMES, IoBusRouter, createKvmVm, describeExit, detectKvmBackend, runWithRouter,
  type Exit, type GprName, type KvmBackendInfo, type TraceEntry,
} from '@pvkit/host';
import { attachStandardDevices } from '../run/machine.js';
import { completeUnclaimed } from '../run/session.js';
import { LAYOUT, RAM_BYTES } from './guest.js';
import { SkipCase, type Availability, type Backend, type CaseEnv, type ConformCase, type GuestProgram, type MachineSpec, type Observation } from './types.js';

let info: KvmBackendInfo | undefined;
const kvmInfo = () => (info ??= detectKvmBackend());

export function kvmAvailability(): Availability {
  const i = kvmInfo();
  return i.present ? { ok: true } : { ok: false, reason: i.reason };
}

/** kvm_pvm is the software KVM: no VMX/SVM, hypercall exits never come back (issue 7, "Backends"). */
export function isSoftwareKvm(): boolean {
  return kvmInfo().kind === 'pvm';
}

/** Groups whose programs execute VMCALL/VMMCALL. */
const HYPERCALL_GROUPS = new Set(['hypercall', 'patching', 'hcpage', 'mmio-hypercall', 'fallback']);

/** Why real KVM cannot run this instance, or undefined. */
export function kvmSkipReason(c: ConformCase, env: CaseEnv, spec: MachineSpec): string | undefined {
  const i = kvmInfo();
  if (env.vendor !== i.vendor) return `the real CPU is ${i.vendor}: ${env.vendor} instances run on the emulator only`;
  const onlyKvm = spec.abis.length === 1 && spec.abis[0]!.name === 'kvm' && (spec.abis[0]!.base ?? 0x40000000) === 0x40000000 && !spec.abis[0]!.options;
  if (!onlyKvm) return `real KVM offers only its own leaves at 0x40000000, not ${spec.abis.map((a) => a.name + (a.base ? `@0x${a.base.toString(16)}` : '')).join('+') || 'no hypervisor'}`;
  if (!i.hypercallsComplete && (c.needs?.includes('hypercall-exits') || c.groups.some((g) => HYPERCALL_GROUPS.has(g)))) return `${i.reason}`;
  if (spec.userAbis?.length) return 'real KVM cannot answer a user ABI\'s leaves or hypercalls (the echo host is emulator-only)';
  if (spec.migrate) return 'the kvm backend does not migrate between vendors';
  if (spec.nested) return 'nested runs on the emulator only (the L1 hypervisor is TypeScript)';
  if (spec.secondary?.length) return 'the kvm backend runs one vCPU';
  if (spec.cpl) return 'the kvm backend starts guests at CPL 0 only';
  if (spec.fixHypercallInsn === false) return 'the kvm backend does not disable KVM_X86_QUIRK_FIX_HYPERCALL_INSN';
  if (spec.extraRam?.length) return 'the kvm backend maps guest RAM from 0 only (identity paging of the low 4 GiB)';
  return undefined;
}

export const kvmBackend: Backend = {
  name: 'kvm',
  available: kvmAvailability,
  skipReason: (c, env) => kvmSkipReason(c, env, c.machine(env)),
  async run(_c: ConformCase, env: CaseEnv, spec: MachineSpec, prog: GuestProgram): Promise<Observation> {
    const vm = await createKvmVm({ memory: [{ gpa: 0n, size: RAM_BYTES }], mode: env.bits === 64 ? 'long64' : 'prot32' });
    if ('unavailable' in vm) throw new SkipCase(`kvm backend unavailable: ${vm.unavailable}`);
    try {
      const counters = new CostCounters();
      const router = new IoBusRouter({ counters, mmuMode: 'ept' });
      const { console, pvtest } = attachStandardDevices(router, { readBytes: (a, n) => vm.readBytes(a, n), writeBytes: (a, d) => vm.writeBytes(a, d) });
      if (spec.pvtestInput) pvtest.pushInput(spec.pvtestInput);
      for (const s of prog.segments) vm.writeBytes(s.gpa, s.bytes);
      const v = vm.vcpu(0);
      v.rip = prog.entry;
      v.setReg('rsp', LAYOUT.stack);
      const trace: TraceEntry[] = [];
      const rec = (e: Exit, handled: boolean) => trace.push({ kind: e.kind, vcpu: e.vcpu, rip: e.rip, handled, exit: e, text: describeExit(e) });
      // Unclaimed reads complete as all ones and writes are dropped, as the emulator's runMachine does.
      let f: Exit;
      do f = runWithRouter(v, { router, timeoutMs: 2000, trace: rec });
      while (completeUnclaimed(f, v, []));
      const registers = Object.fromEntries(GPR_NAMES.map((n) => [n, v.getReg(n)])) as Record<GprName, bigint>;
      const final = { kind: f.kind, vector: f.kind === 'Exception' ? f.vector : undefined, rip: f.rip, text: describeExit(f) };
      // The VM's memory goes away with close(): keep a copy of guest RAM for the checker.
      const ram = Uint8Array.from(vm.readBytes(0n, RAM_BYTES));
      return {
        final, registers, trace, console: console.text(), device: { output: pvtest.outputText(), trace: pvtest.trace.slice() },
        readMemory: (gpa, n) => {
          if (gpa < 0n || gpa + BigInt(n) > BigInt(ram.length)) throw new RangeError(`kvm observation: 0x${gpa.toString(16)}+${n} is outside guest RAM`);
          return ram.slice(Number(gpa), Number(gpa) + n);
        },
      };
    } finally {
      vm.close();
    }
  },
};
