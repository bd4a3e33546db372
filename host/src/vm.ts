// The VM: guest memory + vCPUs + I/O router + hypervisor hooks + a deterministic round-robin run loop.
// Exits the router or hooks answer never leave the vCPU; run() returns the first exit nobody handles, or a
// BudgetExhausted exit when the instruction budget or the wall-clock limit runs out.
import type { IoRouter } from './bus/types.js';
import { describeExit, type Exit } from './exits.js';
import { GuestMemory, type GuestMemoryOptions } from './memory/memory.js';
import { DecodeCache } from './cpu/cache.js';
import { Vcpu } from './cpu/vcpu.js';
import type { Cpl, CpuEnv, CpuMode, HypervisorHooks, Vendor } from './cpu/types.js';
import { restoreSnapshot, takeSnapshot, type RestoreOptions } from './vm/snapshot-io.js';
import type { VmSnapshot } from './vm/snapshot.js';
import type { CostCounters } from './cost/counters.js';

export interface VcpuConfig {
  mode?: CpuMode;
  vendor?: Vendor;
  cpl?: Cpl;
}

export interface VmOptions {
  /** Number of vCPUs (default 1) or one config per vCPU. */
  vcpus?: number | VcpuConfig[];
  mode?: CpuMode;
  vendor?: Vendor;
  memory?: GuestMemory | GuestMemoryOptions;
  router?: IoRouter;
  hooks?: HypervisorHooks;
  /** KVM_X86_QUIRK_FIX_HYPERCALL_INSN (linux asm/kvm.h 1 << 5), on by default as in KVM. */
  fixHypercallInsn?: boolean;
  /** Instructions a vCPU runs before the next one gets its turn (default 1000). */
  quantum?: number;
  /** Record every exit, handled or not, in `vm.trace`. */
  trace?: boolean;
  /** Where the VM counts what it does itself (each #UD patch of a foreign hypercall instruction: `udPatch`). */
  counters?: CostCounters;
}

export interface RunOptions {
  /** Instruction budget for this call, all vCPUs together (default 100 000 000). */
  budget?: number;
  /** Wall-clock limit for this call in milliseconds (checked between quanta). */
  wallMs?: number;
}

export interface TraceEntry {
  readonly kind: Exit['kind'];
  readonly vcpu: number;
  readonly rip: bigint;
  /** True when a bus or hook answered it inside the vCPU. */
  readonly handled: boolean;
  readonly exit: Exit;
  /** One-line text with the operands (describeExit). */
  readonly text: string;
}

export interface PatchRecord {
  readonly gpa: bigint;
  readonly vcpu: number;
  /** The native instruction written. */
  readonly to: 'vmcall' | 'vmmcall';
  /** Instructions retired by that vCPU before the patch. */
  readonly at: number;
}

export class Vm {
  readonly memory: GuestMemory;
  readonly cache: DecodeCache;
  readonly vcpus: Vcpu[] = [];
  readonly trace: TraceEntry[] = [];
  /** Per-site patch counters: gpa -> number of times the #UD patcher rewrote it. */
  readonly patchCounts = new Map<bigint, number>();
  readonly patches: PatchRecord[] = [];
  quantum: number;
  tracing: boolean;
  private rr = 0;
  /** Instructions left in the current vCPU's quantum. */
  private left: number;
  private readonly env: CpuEnv;

  constructor(opts: VmOptions = {}) {
    this.memory = opts.memory instanceof GuestMemory ? opts.memory : new GuestMemory(opts.memory ?? {});
    this.cache = new DecodeCache(this.memory);
    this.quantum = opts.quantum ?? 1000;
    if (!Number.isInteger(this.quantum) || this.quantum < 1) throw new RangeError(`VmOptions.quantum: positive integer expected, got ${opts.quantum}`);
    this.left = this.quantum;
    this.tracing = opts.trace ?? false;
    const vm = this;
    this.env = {
      router: opts.router,
      hooks: opts.hooks,
      fixHypercallInsn: opts.fixHypercallInsn ?? true,
      notePatch(gpa: number) {
        opts.counters?.add('udPatch');
        const key = BigInt(gpa);
        vm.patchCounts.set(key, (vm.patchCounts.get(key) ?? 0) + 1);
        const cur = vm.vcpus.find((v) => v.curIp === gpa) ?? vm.vcpus[0]!;
        vm.patches.push({ gpa: key, vcpu: cur.id, to: cur.vendor === 'intel' ? 'vmcall' : 'vmmcall', at: cur.icount });
      },
      record: undefined,
    };
    if (this.tracing) this.env.record = (e) => this.recordExit(e, true);
    const cfgs = typeof opts.vcpus === 'object' ? opts.vcpus : Array.from({ length: opts.vcpus ?? 1 }, () => ({}));
    if (cfgs.length > 255) throw new RangeError(`VmOptions.vcpus: at most 255, got ${cfgs.length}`);
    for (const cfg of cfgs) this.addVcpu(cfg, opts);
  }

  get router(): IoRouter | undefined {
    return this.env.router;
  }
  set router(r: IoRouter | undefined) {
    this.env.router = r;
  }
  get hooks(): HypervisorHooks | undefined {
    return this.env.hooks;
  }
  set hooks(h: HypervisorHooks | undefined) {
    this.env.hooks = h;
  }
  get fixHypercallInsn(): boolean {
    return this.env.fixHypercallInsn;
  }
  set fixHypercallInsn(v: boolean) {
    this.env.fixHypercallInsn = v;
  }

  addVcpu(cfg: VcpuConfig = {}, defaults: VmOptions = {}): Vcpu {
    const v = new Vcpu(this.memory, this.cache, this.env, {
      id: this.vcpus.length,
      mode: cfg.mode ?? defaults.mode ?? 'long64',
      vendor: cfg.vendor ?? defaults.vendor ?? 'intel',
      cpl: cfg.cpl ?? 0,
    });
    this.vcpus.push(v);
    return v;
  }

  vcpu(id: number): Vcpu {
    const v = this.vcpus[id];
    if (v === undefined) throw new RangeError(`vm.vcpu(${id}): no such vCPU (have ${this.vcpus.length})`);
    return v;
  }

  private recordExit(e: Exit, handled: boolean): void {
    this.trace.push({ kind: e.kind, vcpu: e.vcpu, rip: e.rip, handled, exit: e, text: describeExit(e) });
  }

  /**
   * Run the vCPUs round-robin (a fixed quantum each, in id order, halted vCPUs skipped) until one exits
   * with something nobody handles, or the budget / wall-clock limit runs out.
   */
  run(opts: RunOptions = {}): Exit {
    const budget = opts.budget ?? 100_000_000;
    const deadline = opts.wallMs !== undefined ? Date.now() + opts.wallMs : Infinity;
    let executed = 0;
    const n = this.vcpus.length;
    if (n === 0) throw new Error('vm.run(): the VM has no vCPUs');
    let idle = 0;
    for (;;) {
      const v = this.vcpus[this.rr]!;
      if (v.halted) {
        this.rr = (this.rr + 1) % n;
        this.left = this.quantum;
        if (++idle >= n) {
          const h = this.vcpus[0]!; // all halted: report vCPU 0 (wake one with `vcpu.halted = false`)
          return { kind: 'Hlt', vcpu: h.id, rip: h.rip };
        }
        continue;
      }
      idle = 0;
      if (executed >= budget) return this.budgetExit(v, executed, 'instructions');
      if (Date.now() > deadline) return this.budgetExit(v, executed, 'wallclock');
      // The quantum left over survives exits and budget splits, so the schedule does not depend on how the
      // caller slices run() calls (snapshot -> restore -> run equals an uninterrupted run).
      const e = v.run(Math.min(this.left, budget - executed));
      executed += v.executed;
      this.left -= v.executed;
      if (this.left <= 0) {
        this.rr = (this.rr + 1) % n;
        this.left = this.quantum;
      }
      if (e !== undefined) {
        if (this.tracing) this.recordExit(e, false);
        return e;
      }
    }
  }

  /** A versioned, JSON-serialisable snapshot; `extra` carries device/doorbell/personality state as given. */
  snapshot(extra?: unknown): VmSnapshot {
    return takeSnapshot(this, this.rr, this.left, extra);
  }

  /** Rebuild a VM from a snapshot (optionally as the other vendor: patched sites re-patch on #UD). */
  static restore(snap: VmSnapshot, opts: RestoreOptions = {}): Vm {
    const { vm, next, left } = restoreSnapshot(Vm, snap, opts);
    vm.rr = next;
    vm.left = left;
    return vm;
  }

  private budgetExit(v: Vcpu, executed: number, limit: 'instructions' | 'wallclock'): Exit {
    const e: Exit = { kind: 'BudgetExhausted', vcpu: v.id, rip: v.rip, executed, limit };
    if (this.tracing) this.recordExit(e, false);
    return e;
  }
}
