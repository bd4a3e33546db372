// What every personality shares: the binding to a VM, exit counting, and the few engine operations a hook
// needs that VcpuApi does not offer (guest exceptions, "do not advance RIP", the deterministic TSC).
import type { AbiDefinition } from '@pvkit/shared-abi';
import { defaultCpuid } from '../cpu/cpuid-default.js';
import { Fault } from '../cpu/fault.js';
import { Vcpu } from '../cpu/vcpu.js';
import { MSR_EFER, MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE, MSR_TSC, MSR_TSC_AUX } from '../cpu/ops-sys.js';
import type { CpuidResult, HypervisorHooks, VcpuApi } from '../cpu/types.js';
import type { HypercallInsn } from '../exits.js';
import { COST_INDEX, type CostCounters } from '../cost/counters.js';
import type { GuestMemory } from '../memory/memory.js';
import type { IoRouter } from '../bus/types.js';
import { MemoryError } from '../memory/memory.js';

/** The part of a Vm a personality uses (the Vm class satisfies it). */
export interface HvVm {
  readonly memory: GuestMemory;
  /** The VM's I/O router (MMIO/PIO hypercalls go through it like plain accesses). */
  readonly router?: IoRouter | undefined;
  readonly vcpus: readonly VcpuApi[];
  hooks: HypervisorHooks | undefined;
}

/** A device access made for a hypercall: accounted as such by routers that keep costs (IoRouter.viaHypercall). */
export function hcAccess<T>(router: IoRouter | undefined, fn: () => T): T {
  return router?.viaHypercall ? router.viaHypercall(fn) : fn();
}

/** 64 for a caller in long mode with CS.L (KVM is_64_bit_hypercall), else 32. */
export function callerBits(v: VcpuApi): 64 | 32 {
  return v.mode === 'long64' ? 64 : 32;
}

/** Raise an exception in the guest from inside a hook (fault semantics: RIP stays on the instruction). */
export function guestFault(vector: 6 | 13, message: string): never {
  throw new Fault(vector, message, vector === 13 ? 0 : undefined);
}

/**
 * Make the current instruction execute again (Hyper-V rep continuation: "returns to the guest without
 * advancing RIP"). Inside a hook the engine has already computed the next RIP; only the concrete Vcpu can
 * change it (VcpuApi.rip set from a hook is overwritten by the run loop).
 */
export function repeatInstruction(v: VcpuApi): void {
  if (!(v instanceof Vcpu)) throw new TypeError('repeatInstruction: needs the engine Vcpu (VcpuApi has no next-RIP control)');
  v.nextIp = v.curIp;
}

/** The deterministic TSC the guest reads with RDTSC (instructions retired, as host/src/cpu rdtsc). */
export function guestTsc(v: VcpuApi): bigint {
  return v instanceof Vcpu ? BigInt(v.icount) : 0n;
}

/** Wake a halted vCPU (KVM kvm_vcpu_kick after an unhalt/IPI). Returns whether it was halted. */
export function wakeVcpu(v: VcpuApi): boolean {
  if (!(v instanceof Vcpu)) return false;
  const was = v.halted;
  v.halted = false;
  return was;
}

/** Block the calling vCPU as HLT does (halted + an Hlt exit after the current instruction). */
export function haltVcpu(v: VcpuApi): void {
  if (!(v instanceof Vcpu)) throw new TypeError('haltVcpu: needs the engine Vcpu');
  v.halted = true;
  v.raiseExit({ kind: 'Hlt', vcpu: v.id, rip: BigInt(v.curIp) });
}

/** Write guest RAM; false (nothing written) when any byte is not RAM. */
export function tryWrite(mem: GuestMemory, gpa: bigint, bytes: Uint8Array): boolean {
  try {
    mem.writeBytes(gpa, bytes);
    return true;
  } catch (e) {
    if (e instanceof MemoryError) return false;
    throw e;
  }
}

/** Read guest RAM; undefined when any byte is not RAM. */
export function tryRead(mem: GuestMemory, gpa: bigint, len: number): Uint8Array | undefined {
  try {
    return mem.readBytes(gpa, len);
  } catch (e) {
    if (e instanceof MemoryError) return undefined;
    throw e;
  }
}

/** MSRs the bare vCPU implements (host/src/cpu/ops-sys.ts); a personality leaves them to the engine. */
const ARCH_MSRS: ReadonlySet<number> = new Set([MSR_TSC, MSR_EFER, MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE, MSR_TSC_AUX]);
export function isArchMsr(index: number): boolean {
  return ARCH_MSRS.has(index >>> 0);
}

/** A struct writer over a StructLayout-shaped description (field name -> offset/size). */
export function packStruct(
  layout: { readonly size: number; readonly fields: readonly { readonly name: string; readonly offset: number; readonly size: number }[] },
  values: Record<string, bigint | number>,
): Uint8Array {
  const out = new Uint8Array(layout.size);
  const dv = new DataView(out.buffer);
  for (const [name, raw] of Object.entries(values)) {
    const f = layout.fields.find((x) => x.name === name);
    if (f === undefined) throw new RangeError(`packStruct: no field ${name} in the layout`);
    const v = BigInt.asUintN(f.size * 8, BigInt(raw));
    for (let i = 0; i < f.size; i++) dv.setUint8(f.offset + i, Number((v >> BigInt(8 * i)) & 0xffn));
  }
  return out;
}

/**
 * One hypervisor ABI answering CPUID leaves in its range, its MSRs and the hypercalls routed to it.
 * Each `answer*` returns undefined for "not mine"; the hooks wrapper (Personality.hooks / Hypervisor) decides
 * what an unclaimed request becomes.
 */
export interface PersonalityCore {
  readonly name: string;
  /** CPUID base of this personality's leaves. */
  readonly base: number;
  /** The shared-abi definition it answers from (CPUID model and hypercall space used by the composition). */
  readonly abi: AbiDefinition;
  /** [first, last] CPUID leaves this personality answers (fixed once bound: CoreHooks keeps it). */
  cpuidRange(): readonly [number, number];
  cpuidLeaf(v: VcpuApi, leaf: number, subleaf: number): CpuidResult;
  /** MSR read: value, 'gp', or undefined when the index is not this personality's. */
  readMsr(v: VcpuApi, index: number): bigint | 'gp' | undefined;
  writeMsr(v: VcpuApi, index: number, value: bigint): 'ok' | 'gp' | undefined;
  /** Handle a hypercall routed to this personality (registers already updated). */
  call(v: VcpuApi, insn: HypercallInsn): 'handled' | undefined;
  /** Attach-time binding (memory, vCPUs). */
  bind(vm: HvVm): void;
}

export interface HooksOptions {
  /** Where exits are counted (share the IoBusRouter's counters to see everything in one place). */
  counters?: CostCounters;
  /** MSRs nobody claims: 'gp' (KVM without ignore_msrs, default) or 'exit' (an Rdmsr/Wrmsr exit to the caller). */
  unknownMsr?: 'gp' | 'exit';
}

/** Cost counter indices of the three hook kinds (CostCounters.bump: no name lookup per exit). */
const CPUID_I = COST_INDEX.cpuid;
const MSR_I = COST_INDEX.msr;
const HYPERCALL_I = COST_INDEX.hypercall;

/** Hooks for a set of cores with a hypercall router; used by single personalities and by the composition. */
export class CoreHooks implements HypervisorHooks {
  counters: CostCounters | undefined;
  readonly unknownMsr: 'gp' | 'exit';

  constructor(
    private readonly cores: () => readonly PersonalityCore[],
    private readonly route: (v: VcpuApi, insn: HypercallInsn) => PersonalityCore | undefined,
    opts: HooksOptions = {},
  ) {
    this.counters = opts.counters;
    this.unknownMsr = opts.unknownMsr ?? 'gp';
  }


  /** CPUID ranges of the cores (flat lo, hi pairs), rebuilt only when cores() returns another array. */
  private rangesOf: readonly PersonalityCore[] | undefined;
  private ranges: number[] = [];
  private rangeCores: PersonalityCore[] = [];

  private cpuidOwner(leaf: number): PersonalityCore | undefined {
    const cores = this.cores();
    if (cores !== this.rangesOf) {
      this.ranges = [];
      this.rangeCores = [];
      for (const c of cores) {
        const [lo, hi] = c.cpuidRange();
        this.ranges.push(lo, hi);
        this.rangeCores.push(c);
      }
      this.rangesOf = cores;
    }
    const r = this.ranges;
    for (let i = 0; i < r.length; i += 2) if (leaf >= r[i]! && leaf <= r[i + 1]!) return this.rangeCores[i >> 1];
    return undefined;
  }

  cpuid(v: VcpuApi, leaf: number, subleaf: number): CpuidResult {
    this.counters?.bump(CPUID_I);
    const l = leaf >>> 0;
    const c = this.cpuidOwner(l);
    if (c !== undefined) return c.cpuidLeaf(v, l, subleaf >>> 0);
    // Not a hypervisor leaf: the bare CPU's answer with CPUID.1:ECX[31] set (a hypervisor is present).
    return defaultCpuid(v.vendor, l, subleaf >>> 0, true);
  }

  rdmsr(v: VcpuApi, index: number): bigint | 'gp' | undefined {
    if (isArchMsr(index)) return undefined;
    this.counters?.bump(MSR_I);
    for (const c of this.cores()) {
      const r = c.readMsr(v, index >>> 0);
      if (r !== undefined) return r;
    }
    return this.unknownMsr === 'gp' ? 'gp' : undefined;
  }

  wrmsr(v: VcpuApi, index: number, value: bigint): 'ok' | 'gp' | undefined {
    if (isArchMsr(index)) return undefined;
    this.counters?.bump(MSR_I);
    for (const c of this.cores()) {
      const r = c.writeMsr(v, index >>> 0, value);
      if (r !== undefined) return r;
    }
    return this.unknownMsr === 'gp' ? 'gp' : undefined;
  }

  hypercall(v: VcpuApi, insn: HypercallInsn): 'handled' | undefined {
    this.counters?.bump(HYPERCALL_I);
    const c = this.route(v, insn);
    return c?.call(v, insn);
  }
}

/** Base of the five personalities: a core that can also be attached to a VM on its own. */
export abstract class Personality implements PersonalityCore {
  abstract readonly name: string;
  abstract readonly base: number;
  abstract readonly abi: AbiDefinition;
  protected vm: HvVm | undefined;
  abstract cpuidRange(): readonly [number, number];
  abstract cpuidLeaf(v: VcpuApi, leaf: number, subleaf: number): CpuidResult;
  abstract readMsr(v: VcpuApi, index: number): bigint | 'gp' | undefined;
  abstract writeMsr(v: VcpuApi, index: number, value: bigint): 'ok' | 'gp' | undefined;
  abstract call(v: VcpuApi, insn: HypercallInsn): 'handled' | undefined;

  bind(vm: HvVm): void {
    this.vm = vm;
  }

  protected get memory(): GuestMemory {
    if (this.vm === undefined) throw new Error(`${this.name} personality: not attached to a VM (call attach(vm) or add it to a Hypervisor)`);
    return this.vm.memory;
  }

  /** Guest-visible state as JSON (bigints as hex strings), for VmSnapshot `extra` and migration. */
  state(): Record<string, unknown> {
    return {};
  }

  /** Restore what state() returned (a personality built with the same options); bad input -> StateError. */
  loadState(_s: Record<string, unknown>): void {}

  /** Install this personality alone as the VM's hooks; returns the hooks (for the counters). */
  attach(vm: HvVm, opts: HooksOptions = {}): CoreHooks {
    this.bind(vm);
    const cores = [this] as const; // one array: CoreHooks keeps its CPUID ranges while cores() returns it
    const hooks = new CoreHooks(() => cores, () => this, opts);
    vm.hooks = hooks;
    return hooks;
  }
}

/** A personality state that does not fit (path, value, why). */
export class StateError extends Error {
  constructor(path: string, value: unknown, why: string) {
    super(`${path}: ${why} (value: ${JSON.stringify(value)})`);
    this.name = 'StateError';
  }
}

export const hexOf = (v: bigint): string => `0x${v.toString(16)}`;

/** Parse a hex string written by hexOf. */
export function bigOf(path: string, v: unknown): bigint {
  if (typeof v !== 'string' || !/^0x[0-9a-f]+$/i.test(v)) throw new StateError(path, v, 'expected a hex string such as "0x1f"');
  return BigInt(v);
}

/** Registers in hooks take bigint; these keep call sites short. */
export const M32 = 0xffffffffn;

// ---- number fast paths for hypercall handlers (results identical to the bigint helpers) ----

/**
 * Hypercall definitions indexed by number (the first definition of a number wins, as `defs.find` does):
 * a per-number dispatch table instead of a search per call.
 */
export function hypercallTable<T extends { readonly nr: number }>(defs: readonly T[]): readonly (T | undefined)[] {
  const t: (T | undefined)[] = [];
  for (const d of defs) {
    if (!Number.isInteger(d.nr) || d.nr < 0 || d.nr > 0xffff) throw new RangeError(`hypercallTable: number ${d.nr} of ${JSON.stringify(d)} outside 0..0xffff`);
    t[d.nr] ??= d;
  }
  for (let i = 0; i < t.length; i++) t[i] ??= undefined; // packed, no holes
  return t;
}

/**
 * The hypercall number in `reg` as the caller's width sees it (a 32-bit caller: bits 31:0), as a number when
 * it is at most 0xffff, else -1 (no table holds it). Equivalent to `getReg(reg) & mask <= 0xffff ? Number(...) : -1`.
 */
export function smallNr(v: VcpuApi, reg: number, bits: 64 | 32): number {
  if (bits === 64 && v.getRegHi(reg) !== 0) return -1;
  const lo = v.getReg32(reg);
  return lo <= 0xffff ? lo : -1;
}

/** Whether argument register `reg`, masked to the caller's width, equals `value` (0 <= value < 2^32). */
export function regIs(v: VcpuApi, reg: number, bits: 64 | 32, value: number): boolean {
  return v.getReg32(reg) === value && (bits === 32 || v.getRegHi(reg) === 0);
}

const TWO31 = 2 ** 31;

/**
 * RAX = the signed result `ret` as kvmResult / xenResult(ret, bits) give it (two's complement, masked to the
 * caller's width). Small numbers take the register halves directly; anything else goes through `exact`.
 */
export function setSignedResult(v: VcpuApi, ret: number | bigint, bits: 64 | 32, exact: (r: number | bigint, bits: 64 | 32) => bigint): void {
  if (typeof ret === 'number' && Number.isInteger(ret) && ret >= -TWO31 && ret < TWO31) {
    v.setRegParts(0, ret | 0, ret < 0 && bits === 64 ? -1 : 0); // GPR.rax; sign-extended to 64 bits, or cut to 32
    return;
  }
  v.setReg(0, exact(ret, bits));
}
