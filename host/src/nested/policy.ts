// A configurable L1 hypervisor: what a guest hypervisor typically decides, as options. CPUID filtering (incl.
// clearing pvio feature bits, the seed thread's remedy), port renumbering, MMIO device assignment, what it does
// with pvio and other hypercalls, and who patches a foreign hypercall instruction.
import {
  PVIO_DEFAULT_BASE, PVIO_FEATURE, PVIO_HC, PVIO_HC_FIRST, PVIO_HC_LAST, decodePvioDesc, encodePvioDesc, pvioStatusReg,
  type PvioAccess, type PvioFeatureName,
} from '@pvkit/shared-abi';
import type { GprName, Vendor } from '../cpu/types.js';
import { Hypervisor } from '../hypervisor/compose.js';
import type { CoreHooks, PersonalityCore } from '../hypervisor/common.js';
import { defaultCpuid } from '../cpu/cpuid-default.js';
import { M32 } from '../hypervisor/common.js';
import { nativeInsn } from './machine.js';
import type { L1Context, L1Decision, L1Hypervisor, L2Exit, MmioAssignment } from './types.js';

/** KVM_ENOSYS (linux/kvm_para.h): unknown hypercall; returned negated in RAX. */
export const KVM_ENOSYS = 1000;

/** L2 ports [l2, l2+length) that L1 maps onto L0 ports [l0, l0+length). */
export interface PortMapping {
  readonly l2: number;
  readonly l0: number;
  readonly length: number;
}

export interface PolicyL1Options {
  name?: string;
  /** Vendor L1 presents to L2 (CPUID leaf 0 and 0x80000000 vendor strings). */
  presentVendor: Vendor;
  /** Hypervisor CPUID leaves L1 passes through from L0 (default [0x40000000, 0x4fffffff]); other leaves: the bare presented CPU. */
  passLeaves?: readonly (readonly [number, number])[];
  /** pvio features L1 clears in leaf base+1 EAX before L2 sees it (pvio spec §2: a clear bit means take the plain path). */
  hidePvio?: readonly PvioFeatureName[];
  /** pvio CPUID base as L0 offers it (default PVIO_DEFAULT_BASE 0x40000100). */
  pvioBase?: number;
  portMap?: readonly PortMapping[];
  assignMmio?: readonly MmioAssignment[];
  /**
   * pvio hypercalls (PVIO_HC_FIRST..LAST): 'translate' rewrites the descriptor's address through portMap /
   * assignMmio and refuses (-PVIO_ENOSYS) what it cannot map; 'passthrough' forwards unchanged; 'refuse' always
   * -PVIO_ENOSYS (an L1 that does not know pvio). Default 'translate'.
   */
  pvio?: 'translate' | 'passthrough' | 'refuse';
  /** Other hypercalls: forward to L0 (default) or refuse with -KVM_ENOSYS. */
  hypercalls?: 'forward' | 'refuse';
  /**
   * #UD on the instruction the hardware lacks: 'patch' to the hardware's native one (L1 knows the real vendor),
   * 'fix-same' patch to the instruction native to the vendor L1 presents (KVM-style; same bytes when the guest used
   * it: livelock), 'inject' #UD into L2, 'forward' leave it to L0. Default 'patch'.
   */
  ud?: 'patch' | 'fix-same' | 'inject' | 'forward';
  /** Intercept L2's native hypercall instruction (default true). */
  interceptsHypercall?: boolean;
  /**
   * L1's own hypervisor ABI(s) shown to L2 (e.g. KVM while L0 is something else): their CPUID leaves, MSRs and
   * (non-pvio) hypercalls are answered by L1 itself, before passLeaves / `hypercalls` apply.
   */
  personalities?: readonly PersonalityCore[];
}

const inRange = (x: number, lo: number, len: number): boolean => x >= lo && x < lo + len;

export class PolicyL1 implements L1Hypervisor {
  readonly name: string;
  readonly presentVendor: Vendor;
  readonly assignedMmio: readonly MmioAssignment[];
  readonly interceptsHypercall: boolean;
  readonly portMap: readonly PortMapping[];
  readonly passLeaves: readonly (readonly [number, number])[];
  readonly hidePvio: readonly PvioFeatureName[];
  readonly pvioBase: number;
  readonly pvio: 'translate' | 'passthrough' | 'refuse';
  readonly hypercalls: 'forward' | 'refuse';
  readonly ud: 'patch' | 'fix-same' | 'inject' | 'forward';
  /** L2 exits this L1 saw, by kind. */
  readonly seen = new Map<L2Exit['kind'], number>();
  /** L1's own personalities (undefined without any). */
  readonly own: Hypervisor | undefined;
  private ownHooks: CoreHooks | undefined;

  constructor(opts: PolicyL1Options) {
    this.name = opts.name ?? 'policy-l1';
    this.presentVendor = opts.presentVendor;
    this.assignedMmio = opts.assignMmio ?? [];
    this.interceptsHypercall = opts.interceptsHypercall ?? true;
    this.portMap = opts.portMap ?? [];
    for (const [i, p] of this.portMap.entries()) {
      for (const [f, x] of [['l2', p.l2], ['l0', p.l0]] as const) {
        if (!Number.isInteger(x) || x < 0 || x + p.length > 0x10000) throw new RangeError(`PolicyL1 ${this.name}: portMap[${i}].${f}: range [${x}, ${x + p.length}) outside the port space 0..0xffff`);
      }
      if (!Number.isInteger(p.length) || p.length < 1) throw new RangeError(`PolicyL1 ${this.name}: portMap[${i}].length: positive integer expected, got ${p.length}`);
    }
    this.passLeaves = opts.passLeaves ?? [[0x40000000, 0x4fffffff]];
    this.hidePvio = opts.hidePvio ?? [];
    for (const f of this.hidePvio) if (!(f in PVIO_FEATURE)) throw new RangeError(`PolicyL1 ${this.name}: hidePvio: unknown pvio feature ${JSON.stringify(f)}`);
    this.pvioBase = opts.pvioBase ?? PVIO_DEFAULT_BASE;
    this.pvio = opts.pvio ?? 'translate';
    this.hypercalls = opts.hypercalls ?? 'forward';
    this.ud = opts.ud ?? 'patch';
    // unknownMsr 'exit': MSRs L1's personalities do not know go on to L0 instead of #GP.
    if (opts.personalities?.length) this.own = new Hypervisor(opts.personalities, { unknownMsr: 'exit' });
  }

  /** L1's personalities bound to L2's memory and vCPU on first use (L1 has no device buses of its own here). */
  private hooks(ctx: L1Context): CoreHooks | undefined {
    if (this.own === undefined) return undefined;
    this.ownHooks ??= this.own.attach({ memory: ctx.memory, router: undefined, vcpus: [ctx.vcpu], hooks: undefined });
    return this.ownHooks;
  }

  private ownsLeaf(leaf: number): boolean {
    return this.own?.personalities.some((p) => {
      const [lo, hi] = p.cpuidRange();
      return leaf >= lo && leaf <= hi;
    }) ?? false;
  }

  mapPort(port: number, size: number): number | undefined {
    const p = this.portMap.find((m) => inRange(port, m.l2, m.length) && port + size <= m.l2 + m.length);
    return p === undefined ? undefined : p.l0 + (port - p.l2);
  }

  mapMmio(gpa: bigint, size: number): bigint | undefined {
    const a = this.assignedMmio.find((m) => gpa >= m.l2 && gpa + BigInt(size) <= m.l2 + m.length);
    return a === undefined ? undefined : a.l0 + (gpa - a.l2);
  }

  onExit(exit: L2Exit, ctx: L1Context): L1Decision {
    this.seen.set(exit.kind, (this.seen.get(exit.kind) ?? 0) + 1);
    switch (exit.kind) {
      case 'cpuid': return this.cpuid(exit.leaf, exit.subleaf, ctx);
      case 'rdmsr': {
        const r = this.hooks(ctx)?.rdmsr(ctx.vcpu, exit.index);
        if (r === 'gp') return { action: 'inject', vector: 13, message: `L1 ${this.name}: RDMSR 0x${exit.index.toString(16)} #GP` };
        return r === undefined ? { action: 'forward' } : { action: 'handle', value: r };
      }
      case 'wrmsr': {
        const r = this.hooks(ctx)?.wrmsr(ctx.vcpu, exit.index, exit.value);
        if (r === 'gp') return { action: 'inject', vector: 13, message: `L1 ${this.name}: WRMSR 0x${exit.index.toString(16)} #GP` };
        return r === undefined ? { action: 'forward' } : { action: 'handle' };
      }
      case 'pio-read':
      case 'pio-write': {
        const to = this.mapPort(exit.port, exit.size);
        // No mapping: L1's own device model has nothing there (reads float high, writes are dropped).
        if (to === undefined) return exit.kind === 'pio-read' ? { action: 'handle', value: 0xffffffffn } : { action: 'handle' };
        return { action: 'translate', to: { ...exit, port: to } };
      }
      case 'mmio-read':
      case 'mmio-write': {
        // Assigned windows never get here (L0 completes them); a window L1 only emulates reads all ones.
        return exit.kind === 'mmio-read' ? { action: 'handle', value: -1n } : { action: 'handle' };
      }
      case 'hypercall': return this.hypercall(exit, ctx);
      case 'ud-hypercall':
        switch (this.ud) {
          case 'patch': return { action: 'patch', to: nativeInsn(ctx.l0Vendor) };
          case 'fix-same': return { action: 'patch', to: nativeInsn(this.presentVendor) };
          case 'inject': return { action: 'inject', vector: 6, message: `L1 ${this.name}: #UD on ${exit.insn} reflected into L2` };
          case 'forward': return { action: 'forward' };
        }
    }
  }

  private cpuid(leaf: number, subleaf: number, ctx: L1Context): L1Decision {
    if (this.ownsLeaf(leaf)) return { action: 'handle', cpuid: this.hooks(ctx)!.cpuid(ctx.vcpu, leaf, subleaf) };
    if (!this.passLeaves.some(([lo, hi]) => leaf >= lo && leaf <= hi)) {
      // The CPU L1 presents, with CPUID.1:ECX[31] (hypervisor present) set.
      return { action: 'handle', cpuid: defaultCpuid(this.presentVendor, leaf, subleaf, true) };
    }
    if (leaf !== this.pvioBase + 1 || this.hidePvio.length === 0) return { action: 'forward' };
    // Filter: L1 reads the leaf from L0 (its own CPUID exit) and clears the hidden bits (pvio spec §2 leaf base+1 EAX).
    const r = ctx.l0Cpuid(leaf, subleaf);
    let mask = 0;
    for (const f of this.hidePvio) mask |= 1 << PVIO_FEATURE[f];
    return { action: 'handle', cpuid: { ...r, eax: (r.eax & ~mask) >>> 0 } };
  }

  private hypercall(exit: Extract<L2Exit, { kind: 'hypercall' }>, ctx: L1Context): L1Decision {
    const nr = exit.bits === 64 ? exit.nr : exit.nr & M32;
    const isPvio = nr >= BigInt(PVIO_HC_FIRST) && nr <= BigInt(PVIO_HC_LAST); // pvio spec §3
    if (!isPvio) {
      // L1's own ABI answers (registers already written by the personality).
      if (this.own !== undefined && this.hooks(ctx)!.hypercall(ctx.vcpu, exit.insn) === 'handled') return { action: 'handle' };
      return this.hypercalls === 'forward' ? { action: 'forward' } : { action: 'error', rax: BigInt.asUintN(exit.bits, BigInt(-KVM_ENOSYS)) };
    }
    const enosys: L1Decision = { action: 'error', rax: pvioStatusReg('ENOSYS', exit.bits) };
    if (this.pvio === 'refuse') return enosys;
    if (this.pvio === 'passthrough') return { action: 'forward' };
    // Calls carrying a descriptor (arg0) need its address translated; ring/unregister name L0 doorbell ids.
    if (nr !== BigInt(PVIO_HC.MMIO) && nr !== BigInt(PVIO_HC.PIO) && nr !== BigInt(PVIO_HC.DOORBELL_REGISTER)) return { action: 'forward' };
    const v = ctx.vcpu;
    // arg0: RBX (64-bit) or ECX:EBX (32-bit), pvio spec §4.
    const arg0 = exit.bits === 64 ? v.getReg('rbx') : ((v.getReg('rcx') & M32) << 32n) | (v.getReg('rbx') & M32);
    const d = decodePvioDesc(arg0);
    if (d.reservedBits !== 0n) return { action: 'forward' }; // malformed: L0 answers EINVAL itself
    const to = d.space === 'pio' ? this.mapPort(Number(d.address), d.size) : this.mapMmio(d.address, d.size);
    if (to === undefined) return enosys; // L1 cannot make sense of this address: refuse, the guest falls back
    const a: PvioAccess = { space: d.space, address: BigInt(to), size: d.size, write: d.write };
    const desc = encodePvioDesc(a);
    const regs: Partial<Record<GprName, bigint>> = exit.bits === 64 ? { rbx: desc } : { rbx: desc & M32, rcx: desc >> 32n };
    return { action: 'translate', to: exit, regs };
  }
}
