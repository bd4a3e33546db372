// A nested stack: L0 (this emulator, with its own personalities and device buses) runs an L1 hypervisor whose
// logic is TypeScript (L1Hypervisor), which runs L2 real guest code in a Vm whose hooks and router are this
// layer. Every L2 exit goes to L1 first (L0 pays a `nestedReflection` for it) except MMIO L1 assigned to an L0
// device, which L0 completes directly. Each completed exit is traced with its hops and costed per path.
import { VMCALL_BYTES, VMMCALL_BYTES } from '@pvkit/shared-abi';
import { Vm, type RunOptions } from '../vm.js';
import type { Exit, ExceptionExit, HypercallInsn } from '../exits.js';
import { IoBusRouter } from '../bus/router.js';
import { CostCounters, emptyCostCounts, type CostKind, type CounterSnapshot } from '../cost/counters.js';
import { CostModel } from '../cost/model.js';
import { GuestMemory, type GuestMemoryOptions } from '../memory/memory.js';
import type { CpuMode, Vendor } from '../cpu/types.js';
import { Vcpu } from '../cpu/vcpu.js';
import { defaultCpuid } from '../cpu/cpuid-default.js';
import { Hypervisor } from '../hypervisor/compose.js';
import type { CoreHooks, HvVm, PersonalityCore } from '../hypervisor/common.js';
import { NestedHooks, NestedRouter } from './reflect.js';
import type { Hop, L1Context, L1Decision, L1Hypervisor, L2Exit, NestedRoute, NestedTraceEntry } from './types.js';

export interface L0Options {
  /** The real hardware's vendor: decides which hypercall instruction L2 can execute natively. */
  vendor: Vendor;
  /** L0's personalities (composed with Hypervisor); forwarded CPUID / MSR / hypercalls reach them. */
  personalities?: readonly PersonalityCore[];
  /** L0's device buses (made `nested`: no EPT fast MMIO for L2, vmx.c handle_ept_misconfig). */
  router?: IoBusRouter;
  /** L0's KVM_X86_QUIRK_FIX_HYPERCALL_INSN (linux asm/kvm.h 1 << 5) for #UDs L1 leaves to it. Default on. */
  fixHypercallInsn?: boolean;
}

export interface NestedOptions {
  l0: L0Options;
  l1: L1Hypervisor;
  /** L2's CPU mode and memory (one vCPU: the IoRouter interface does not say which vCPU made an access). */
  l2?: { mode?: CpuMode; memory?: GuestMemory | GuestMemoryOptions; quantum?: number };
  /** Identical re-executions of one hypercall site without progress before a Livelock exit (default 16). */
  livelockAfter?: number;
}

/** The L2 guest re-executed one instruction N times with nothing else retiring (the KVM L2 VMMCALL hang). */
export interface LivelockExit {
  readonly kind: 'Livelock';
  readonly vcpu: number;
  readonly rip: bigint;
  readonly insn: HypercallInsn;
  readonly repeats: number;
  readonly message: string;
}

export type NestedExit = Exit | LivelockExit;

/** A hypercall site rewritten on L2's behalf. */
export interface NestedPatch {
  readonly gpa: bigint;
  readonly by: 'L1' | 'L0';
  readonly from: HypercallInsn;
  readonly to: HypercallInsn;
}

/** Counts and cycles of one path ("<exit kind> <route>"), from the counters added while it ran. */
export interface NestedPathCost {
  readonly path: string;
  readonly count: number;
  readonly counts: CounterSnapshot;
  readonly cycles: number;
  readonly cyclesEach: number;
  /** Of cyclesEach, what the nestedReflection(s) cost. */
  readonly reflectionCyclesEach: number;
}

const BYTES: Record<HypercallInsn, readonly number[]> = { vmcall: VMCALL_BYTES, vmmcall: VMMCALL_BYTES };
export const nativeInsn = (v: Vendor): HypercallInsn => (v === 'intel' ? 'vmcall' : 'vmmcall'); // ABI-FACTS §1.3

const h = (v: number | bigint): string => `0x${v.toString(16)}`;

/** One line naming an L2 exit and its operands. */
export function describeL2Exit(e: L2Exit): string {
  switch (e.kind) {
    case 'cpuid': return `cpuid leaf=${h(e.leaf)} subleaf=${h(e.subleaf)}`;
    case 'rdmsr': return `rdmsr index=${h(e.index)}`;
    case 'wrmsr': return `wrmsr index=${h(e.index)} value=${h(e.value)}`;
    case 'hypercall': return `hypercall ${e.insn} nr=${h(e.nr)} bits=${e.bits} cpl=${e.cpl}`;
    case 'pio-read': return `pio-read port=${h(e.port)} size=${e.size}`;
    case 'pio-write': return `pio-write port=${h(e.port)} size=${e.size} value=${h(e.value)}`;
    case 'mmio-read': return `mmio-read gpa=${h(e.gpa)} size=${e.size}`;
    case 'mmio-write': return `mmio-write gpa=${h(e.gpa)} size=${e.size} value=${h(e.value)}`;
    case 'ud-hypercall': return `#UD ${e.insn} at ${h(e.gpa)}`;
  }
}

export class NestedMachine {
  /** The L2 guest. */
  readonly vm: Vm;
  readonly l1: L1Hypervisor;
  readonly l0Vendor: Vendor;
  readonly l0Router: IoBusRouter;
  readonly l0: Hypervisor | undefined;
  readonly l0Hooks: CoreHooks | undefined;
  /** Shared with the L0 router and personalities: every exit at every level is counted here. */
  readonly counters: CostCounters;
  readonly l0FixHypercallInsn: boolean;
  readonly livelockAfter: number;
  readonly trace: NestedTraceEntry[] = [];
  readonly patches: NestedPatch[] = [];
  /** Counter deltas per path ("<kind> <route>"). */
  readonly paths = new Map<string, { count: number; counts: Record<CostKind, number> }>();
  /** Set by the hooks when a livelock is detected; run() turns it into the exit. */
  pendingLivelock: LivelockExit | undefined;
  private seq = 0;
  private site: { rip: number; icount: number; repeats: number } | undefined;

  constructor(opts: NestedOptions) {
    const { l0, l1 } = opts;
    if (l0.vendor !== 'intel' && l0.vendor !== 'amd') throw new RangeError(`NestedOptions.l0.vendor: 'intel' | 'amd' expected, got ${String(l0.vendor)}`);
    if (l1.presentVendor !== 'intel' && l1.presentVendor !== 'amd') throw new RangeError(`L1 ${l1.name}: presentVendor: 'intel' | 'amd' expected, got ${String(l1.presentVendor)}`);
    this.livelockAfter = opts.livelockAfter ?? 16;
    if (!Number.isInteger(this.livelockAfter) || this.livelockAfter < 2) throw new RangeError(`NestedOptions.livelockAfter: integer >= 2 expected, got ${opts.livelockAfter}`);
    for (const [i, a] of (l1.assignedMmio ?? []).entries()) {
      if (a.length <= 0n || a.l2 < 0n || a.l0 < 0n) throw new RangeError(`L1 ${l1.name}: assignedMmio[${i}]: l2/l0 >= 0 and length > 0 expected (l2=${h(a.l2)} l0=${h(a.l0)} length=${h(a.length)})`);
    }
    this.l1 = l1;
    this.l0Vendor = l0.vendor;
    this.l0FixHypercallInsn = l0.fixHypercallInsn ?? true;
    this.l0Router = l0.router ?? new IoBusRouter();
    this.l0Router.nested = true; // every access through it is made on L2's behalf (is_guest_mode)
    this.counters = this.l0Router.counters;
    const memory = opts.l2?.memory instanceof GuestMemory ? opts.l2.memory : new GuestMemory(opts.l2?.memory ?? {});
    // L2 instructions run on the L0 hardware: the engine vendor is L0's; L1 presents its own vendor via CPUID.
    // The engine's own #UD patching is off: a foreign hypercall's #UD goes to L1 first (run()).
    this.vm = new Vm({
      vendor: l0.vendor, mode: opts.l2?.mode ?? 'long64', memory, fixHypercallInsn: false,
      ...(opts.l2?.quantum !== undefined ? { quantum: opts.l2.quantum } : {}),
    });
    this.vm.router = new NestedRouter(this);
    this.vm.hooks = new NestedHooks(this);
    if (l0.personalities !== undefined && l0.personalities.length > 0) {
      this.l0 = new Hypervisor(l0.personalities, { counters: this.counters });
      const view: HvVm = { memory, router: this.l0Router, vcpus: this.vm.vcpus, hooks: undefined };
      this.l0Hooks = this.l0.attach(view);
    }
  }

  /** The L2 vCPU. */
  get vcpu(): Vcpu {
    return this.vm.vcpu(0);
  }

  /** What L1 gets besides the exit. */
  context(v: Vcpu): L1Context {
    return { vcpu: v, memory: this.vm.memory, l0Vendor: this.l0Vendor, l0Cpuid: (leaf, sub) => this.l0Cpuid(v, leaf, sub) };
  }

  /** CPUID as L0 answers it (its personalities, else the bare L0 CPU with the hypervisor bit). */
  l0Cpuid(v: Vcpu, leaf: number, subleaf: number) {
    if (this.l0Hooks !== undefined) return this.l0Hooks.cpuid(v, leaf, subleaf);
    this.counters.add('cpuid');
    return defaultCpuid(this.l0Vendor, leaf >>> 0, subleaf >>> 0, true);
  }

  /** Ask L1 about an exit (counted as a reflection). */
  reflect(v: Vcpu, exit: L2Exit): L1Decision {
    this.counters.add('nestedReflection');
    return this.l1.onExit(exit, this.context(v));
  }

  /** Run `body` for one L2 exit, attributing the counters it adds to its path and tracing its hops. */
  account<T>(v: Vcpu, exit: L2Exit, body: (hops: Hop[], setRoute: (r: NestedRoute) => void) => T): T {
    const before = this.counters.snapshot();
    const hops: Hop[] = [];
    let route: NestedRoute = 'l1-handle';
    const done = (): void => {
      const d = this.counters.since(before);
      const key = `${exit.kind} ${route}`;
      const p = this.paths.get(key) ?? { count: 0, counts: emptyCostCounts() };
      p.count++;
      for (const k of Object.keys(d) as CostKind[]) p.counts[k] += d[k];
      this.paths.set(key, p);
      const text = `${describeL2Exit(exit)}: ${hops.map((x) => `${x.from}->${x.to} (${x.note})`).join(' | ')}`;
      this.trace.push({ seq: this.seq++, vcpu: v.id, rip: BigInt(v.curIp), exit, route, hops, text });
    };
    try {
      const r = body(hops, (x) => (route = x));
      done();
      return r;
    } catch (err) {
      done(); // injected faults and completions still took their path
      throw err;
    }
  }

  /** Rewrite a hypercall site (decode of the page is dropped by the memory write path). */
  patchSite(gpa: bigint, from: HypercallInsn, to: HypercallInsn, by: 'L1' | 'L0'): void {
    this.vm.memory.writeBytes(gpa, Uint8Array.from(BYTES[to]));
    this.counters.add('udPatch');
    this.patches.push({ gpa, by, from, to });
  }

  /**
   * Livelock detector: the same site again with nothing else retired in between (`retiredSince` = instructions
   * the re-execution itself retires: 1 when the hook completes it, 0 when it faults). True once the threshold is hit.
   */
  noteRepeat(v: Vcpu, insn: HypercallInsn, retiredSince: 0 | 1): boolean {
    const s = this.site;
    if (s !== undefined && s.rip === v.curIp && v.icount === s.icount + retiredSince) {
      s.repeats++;
      s.icount = v.icount;
    } else {
      this.site = { rip: v.curIp, icount: v.icount, repeats: 1 };
    }
    const n = this.site!.repeats;
    if (n < this.livelockAfter) return false;
    this.site = undefined;
    this.pendingLivelock = {
      kind: 'Livelock', vcpu: v.id, rip: BigInt(v.curIp), insn, repeats: n,
      message: `L2 re-executed ${insn} at ${h(v.curIp)} ${n} times with no progress (the #UD is "fixed" to the same bytes)`,
    };
    return true;
  }

  private hypercallAt(gpa: bigint): HypercallInsn | undefined {
    try {
      const b = this.vm.memory.readBytes(gpa, 3);
      for (const insn of ['vmcall', 'vmmcall'] as const) if (BYTES[insn].every((x, i) => b[i] === x)) return insn;
    } catch {
      return undefined;
    }
    return undefined;
  }

  /** A #UD on the hypercall instruction the L0 hardware lacks: L1 decides; 'continue' resumes L2. */
  private onUd(e: ExceptionExit, insn: HypercallInsn): 'continue' | NestedExit {
    const v = this.vm.vcpu(e.vcpu);
    if (this.noteRepeat(v, insn, 0)) return this.takeLivelock()!;
    const exit: L2Exit = { kind: 'ud-hypercall', insn, gpa: e.rip };
    return this.account(v, exit, (hops, route) => {
      hops.push({ from: 'L2', to: 'L0', note: `#UD intercept on ${insn}` }, { from: 'L0', to: 'L1', note: 'reflected #UD' });
      const d = this.reflect(v, exit);
      switch (d.action) {
        case 'patch': {
          const to = d.to ?? nativeInsn(this.l0Vendor);
          route('l1-patch');
          hops.push({ from: 'L1', to: 'L2', note: `patched ${insn} -> ${to}${to === insn ? ' (same bytes)' : ''}, re-execute` });
          this.patchSite(e.rip, insn, to, 'L1');
          return 'continue';
        }
        case 'inject':
          route('l1-inject');
          hops.push({ from: 'L1', to: 'L2', note: `#UD injected` });
          return e;
        case 'forward':
          route('l1-forward');
          if (!this.l0FixHypercallInsn) {
            hops.push({ from: 'L1', to: 'L0', note: 'not intercepted' }, { from: 'L0', to: 'L2', note: '#UD (fix-hypercall quirk off)' });
            return e;
          }
          hops.push({ from: 'L1', to: 'L0', note: 'not intercepted' }, { from: 'L0', to: 'L2', note: `patched ${insn} -> ${nativeInsn(this.l0Vendor)}, re-execute` });
          this.patchSite(e.rip, insn, nativeInsn(this.l0Vendor), 'L0');
          return 'continue';
        default:
          throw new TypeError(`L1 ${this.l1.name}: decision ${JSON.stringify(d.action)} is not valid for a ud-hypercall exit (patch | inject | forward)`);
      }
    });
  }

  takeLivelock(): LivelockExit | undefined {
    const l = this.pendingLivelock;
    this.pendingLivelock = undefined;
    return l;
  }

  /** Run L2 until an exit nobody at any level handles (or a Livelock / the budget). */
  run(opts: RunOptions = {}): NestedExit {
    let budget = opts.budget ?? 100_000_000;
    const deadline = opts.wallMs !== undefined ? Date.now() + opts.wallMs : undefined;
    for (;;) {
      const before = this.vcpu.icount;
      const e = this.vm.run({ budget: Math.max(0, budget), ...(deadline !== undefined ? { wallMs: Math.max(0, deadline - Date.now()) } : {}) });
      budget -= this.vcpu.icount - before;
      const l = this.takeLivelock();
      if (l !== undefined) return l;
      if (e.kind === 'Exception' && e.vector === 6) {
        const insn = this.hypercallAt(e.rip);
        if (insn !== undefined && insn !== nativeInsn(this.l0Vendor)) {
          const r = this.onUd(e, insn);
          if (r === 'continue') continue;
          return r;
        }
      }
      return e;
    }
  }

  /** Per path: counts, cycles each and the part the reflections cost (CostModel cycle table). */
  pathCosts(model: CostModel = new CostModel()): NestedPathCost[] {
    const out: NestedPathCost[] = [];
    for (const [path, p] of [...this.paths].sort(([a], [b]) => a.localeCompare(b))) {
      let cycles = 0;
      for (const k of Object.keys(p.counts) as CostKind[]) cycles += p.counts[k] * model.cycles(k);
      const refl = p.counts.nestedReflection * model.cycles('nestedReflection');
      out.push({ path, count: p.count, counts: { ...p.counts }, cycles, cyclesEach: cycles / p.count, reflectionCyclesEach: refl / p.count });
    }
    return out;
  }

  /** The per-path table as text (for the CLI and test logs). */
  formatPathCosts(model?: CostModel): string {
    const rows = this.pathCosts(model);
    const lines = rows.map((r) => `${r.path.padEnd(28)} ${String(r.count).padStart(6)}  ${r.cyclesEach.toFixed(0).padStart(8)} cyc each  (reflection ${r.reflectionCyclesEach.toFixed(0)})`);
    return ['path                          count  cycles each', ...lines].join('\n');
  }
}
