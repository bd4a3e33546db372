// The KVM personality: CPUID signature + feature leaves at a configurable base, the kvmclock and other PV MSRs,
// and the x86 hypercalls exactly as arch/x86/kvm/x86.c kvm_emulate_hypercall answers them (ABI-FACTS §1).
import {
  KVM_CLOCK_PAIRING_WALLCLOCK, KVM_CPUID, KVM_ERRNO, KVM_FEATURE, KVM_HC, KVM_HINTS, KVM_HYPERCALLS, KVM_MSR_LAYOUTS, MSR_KVM,
  decodeMapGpaAttrs, kvmHypercallInputs, kvmResult, reservedBits, signatureToRegs,
  type KvmErrnoName, type KvmFeatureName, type KvmMsrName,
  kvmAbi,
} from '@pvkit/shared-abi';
import { GPR, type CpuidResult, type VcpuApi } from '../cpu/types.js';
import type { HypercallInsn } from '../exits.js';
import {
  Personality, StateError, bigOf, callerBits, guestTsc, hexOf, hypercallTable, setSignedResult, smallNr, tryWrite, wakeVcpu,
} from './common.js';
import { KvmClock } from './kvm-clock.js';

/**
 * What KVM_GET_SUPPORTED_CPUID reports for 0x40000001 EAX on a modern host (x86/kvm/cpuid.c __do_cpuid_func,
 * case KVM_CPUID_FEATURES; STEAL_TIME when sched_info_on()). MSI_EXT_DEST_ID, HC_MAP_GPA_RANGE and
 * MIGRATION_CONTROL are added by the VMM, not KVM.
 */
export const KVM_DEFAULT_FEATURES: readonly KvmFeatureName[] = [
  'CLOCKSOURCE', 'NOP_IO_DELAY', 'CLOCKSOURCE2', 'ASYNC_PF', 'STEAL_TIME', 'PV_EOI', 'PV_UNHALT', 'PV_TLB_FLUSH',
  'ASYNC_PF_VMEXIT', 'PV_SEND_IPI', 'POLL_CONTROL', 'PV_SCHED_YIELD', 'ASYNC_PF_INT', 'CLOCKSOURCE_STABLE_BIT',
];

/** The feature that gates each PV MSR (msr.rst; x86.c kvm_set_msr_common guest_pv_has checks). */
const MSR_FEATURE: { readonly [K in KvmMsrName]: KvmFeatureName } = {
  WALL_CLOCK: 'CLOCKSOURCE', SYSTEM_TIME: 'CLOCKSOURCE', WALL_CLOCK_NEW: 'CLOCKSOURCE2', SYSTEM_TIME_NEW: 'CLOCKSOURCE2',
  ASYNC_PF_EN: 'ASYNC_PF', STEAL_TIME: 'STEAL_TIME', PV_EOI_EN: 'PV_EOI', POLL_CONTROL: 'POLL_CONTROL',
  ASYNC_PF_INT: 'ASYNC_PF_INT', ASYNC_PF_ACK: 'ASYNC_PF_INT', MIGRATION_CONTROL: 'MIGRATION_CONTROL',
};

/** The feature gating each hypercall under KVM_CAP_ENFORCE_PV_FEATURE_CPUID (x86.c guest_pv_has checks). */
const HC_FEATURE: Partial<Record<number, KvmFeatureName>> = {
  [KVM_HC.KICK_CPU]: 'PV_UNHALT',
  [KVM_HC.SEND_IPI]: 'PV_SEND_IPI',
  [KVM_HC.SCHED_YIELD]: 'PV_SCHED_YIELD',
  [KVM_HC.MAP_GPA_RANGE]: 'HC_MAP_GPA_RANGE',
};

/**
 * MSRs where KVM refuses reserved bits with #GP (x86.c: ASYNC_PF_EN `data & 0x30`, STEAL_TIME
 * KVM_STEAL_RESERVED_MASK, PV_EOI alignment, POLL_CONTROL `data & (-1ULL << 1)`, ASYNC_PF_INT `data >> 8`,
 * MIGRATION_CONTROL). The clock MSRs take any value (KVM uses `data & ~1`).
 */
const GP_ON_RESERVED: ReadonlySet<KvmMsrName> = new Set<KvmMsrName>([
  'ASYNC_PF_EN', 'STEAL_TIME', 'PV_EOI_EN', 'POLL_CONTROL', 'ASYNC_PF_INT', 'MIGRATION_CONTROL',
]);

/** A KVM_HYPERCALLS entry as the dispatcher needs it: which widths may call it (`bits`) and its feature gate. */
interface HcEntry {
  readonly nr: number;
  readonly ok64: boolean;
  readonly ok32: boolean;
  readonly gate: KvmFeatureName | undefined;
}
/** KVM_HYPERCALLS by number (x86.c's switch on nr), with the per-call checks precomputed. */
const HC_BY_NR: readonly (HcEntry | undefined)[] = hypercallTable(KVM_HYPERCALLS).map((d) =>
  d === undefined ? undefined : { nr: d.nr, ok64: d.bits?.includes(64) ?? true, ok32: d.bits?.includes(32) ?? true, gate: HC_FEATURE[d.nr] });
// Case labels as module constants (no property load of the imported KVM_HC per case).
const HC_VAPIC_POLL_IRQ = KVM_HC.VAPIC_POLL_IRQ;
const HC_KICK_CPU = KVM_HC.KICK_CPU;
const HC_SEND_IPI = KVM_HC.SEND_IPI;
const HC_SCHED_YIELD = KVM_HC.SCHED_YIELD;
const HC_MAP_GPA_RANGE = KVM_HC.MAP_GPA_RANGE;
const HC_CLOCK_PAIRING = KVM_HC.CLOCK_PAIRING;

/** KVM_CPUID_SIGNATURE EBX/ECX/EDX ("KVMKVMKVM\0\0\0", asm/kvm_para.h), computed once. */
const KVM_SIG = signatureToRegs(KVM_CPUID.signature);

const MSR_BY_INDEX = new Map<number, KvmMsrName>((Object.keys(MSR_KVM) as KvmMsrName[]).map((k) => [MSR_KVM[k], k]));

export interface KvmOptions {
  /** CPUID base of the KVM leaves (0x40000100 beside Hyper-V). Default KVM_CPUID.defaultBase. */
  base?: number;
  /** KVM_FEATURE_* names set in base+1 EAX. Default KVM_DEFAULT_FEATURES. */
  features?: readonly KvmFeatureName[];
  /** KVM_HINTS_REALTIME in base+1 EDX. */
  realtimeHint?: boolean;
  /** KVM_CAP_ENFORCE_PV_FEATURE_CPUID: hypercalls and MSRs whose feature bit is clear fail. */
  enforcePvFeatureCpuid?: boolean;
  /** KVM_CAP_EXIT_HYPERCALL for KVM_HC_MAP_GPA_RANGE (else -KVM_ENOSYS); the host then answers 0 and records it. */
  exitOnMapGpaRange?: boolean;
  /** Host clocksource is TSC (else KVM_HC_CLOCK_PAIRING gives -KVM_EOPNOTSUPP). Default true. */
  hostClocksourceTsc?: boolean;
  tscHz?: bigint;
  bootWallNs?: bigint;
}

export interface KvmEvent {
  readonly call: 'KICK_CPU' | 'SEND_IPI' | 'SCHED_YIELD' | 'MAP_GPA_RANGE';
  readonly vcpu: number;
  readonly args: readonly bigint[];
  readonly targets?: readonly number[];
}

export class KvmPersonality extends Personality {
  readonly name = 'kvm';
  readonly abi = kvmAbi;
  readonly base: number;
  readonly features: ReadonlySet<KvmFeatureName>;
  readonly realtimeHint: boolean;
  enforcePvFeatureCpuid: boolean;
  exitOnMapGpaRange: boolean;
  hostClocksourceTsc: boolean;
  readonly clock: KvmClock;
  /** Calls with side effects, in order (kicks, IPIs, yields, GPA range changes). */
  readonly events: KvmEvent[] = [];
  /** Stored MSR values: VM-wide for the wall clock MSRs, `${vcpu}:${index}` otherwise. */
  private readonly msrs = new Map<string, bigint>();
  private readonly timeVersion = new Map<number, number>();
  private wallVersion = 0;

  constructor(opts: KvmOptions = {}) {
    super();
    this.base = opts.base ?? KVM_CPUID.defaultBase;
    this.features = new Set(opts.features ?? KVM_DEFAULT_FEATURES);
    for (const f of this.features) if (!(f in KVM_FEATURE)) throw new RangeError(`KvmOptions.features: unknown feature ${JSON.stringify(f)}`);
    this.realtimeHint = opts.realtimeHint ?? false;
    this.enforcePvFeatureCpuid = opts.enforcePvFeatureCpuid ?? false;
    this.exitOnMapGpaRange = opts.exitOnMapGpaRange ?? false;
    this.hostClocksourceTsc = opts.hostClocksourceTsc ?? true;
    this.clock = new KvmClock({
      tscHz: opts.tscHz ?? 1_000_000_000n, bootWallNs: opts.bootWallNs ?? 1_700_000_000_000_000_000n,
      stable: this.features.has('CLOCKSOURCE_STABLE_BIT'),
    });
  }

  override state(): Record<string, unknown> {
    return {
      msrs: Object.fromEntries([...this.msrs].map(([k, v]) => [k, hexOf(v)])),
      timeVersion: Object.fromEntries(this.timeVersion), wallVersion: this.wallVersion,
    };
  }

  override loadState(s: Record<string, unknown>): void {
    const msrs = s.msrs as Record<string, unknown> | undefined;
    if (typeof msrs !== 'object' || msrs === null) throw new StateError('kvm.msrs', msrs, 'expected an object');
    this.msrs.clear();
    for (const [k, v] of Object.entries(msrs)) this.msrs.set(k, bigOf(`kvm.msrs.${k}`, v));
    this.timeVersion.clear();
    for (const [k, v] of Object.entries((s.timeVersion ?? {}) as Record<string, number>)) this.timeVersion.set(Number(k), Number(v));
    this.wallVersion = Number(s.wallVersion ?? 0);
  }

  /** guest_pv_has(): always true unless KVM_CAP_ENFORCE_PV_FEATURE_CPUID is on (arch/x86/kvm/cpuid.h). */
  pvHas(f: KvmFeatureName): boolean {
    return !this.enforcePvFeatureCpuid || this.features.has(f);
  }

  cpuidRange(): readonly [number, number] {
    return [this.base, this.base + KVM_CPUID.maxLeafOffset];
  }

  /** The two leaves depend only on options fixed at construction: built once, shared and frozen. */
  private leaves: readonly [CpuidResult, CpuidResult] | undefined;

  cpuidLeaf(_v: VcpuApi, leaf: number): CpuidResult {
    const l = (this.leaves ??= this.buildLeaves());
    return leaf === this.base ? l[0] : l[1];
  }

  private buildLeaves(): readonly [CpuidResult, CpuidResult] {
    let eax = 0;
    for (const f of this.features) eax |= 1 << KVM_FEATURE[f];
    return [
      Object.freeze({ eax: this.base + KVM_CPUID.maxLeafOffset, ebx: KVM_SIG.ebx, ecx: KVM_SIG.ecx, edx: KVM_SIG.edx }),
      Object.freeze({ eax: eax >>> 0, ebx: 0, ecx: 0, edx: this.realtimeHint ? 1 << KVM_HINTS.REALTIME : 0 }),
    ];
  }

  /** Map keys by vCPU id and MSR name, made once (MSR exits are hot; the keys are also the state() format). */
  private readonly keys: Partial<Record<KvmMsrName, string>>[] = [];

  private key(v: VcpuApi, name: KvmMsrName): string {
    const perVcpu = (this.keys[v.id] ??= {});
    return (perVcpu[name] ??= name === 'WALL_CLOCK' || name === 'WALL_CLOCK_NEW' ? `vm:${name}` : `${v.id}:${name}`);
  }

  readMsr(v: VcpuApi, index: number): bigint | 'gp' | undefined {
    const name = MSR_BY_INDEX.get(index);
    if (name === undefined) return undefined;
    if (!this.pvHas(MSR_FEATURE[name])) return 'gp';
    if (name === 'ASYNC_PF_ACK') return 0n; // x86.c kvm_get_msr_common: reads as 0
    // POLL_CONTROL resets to 1 (x86.c kvm_vcpu_reset: msr_kvm_poll_control = 1).
    return this.msrs.get(this.key(v, name)) ?? (name === 'POLL_CONTROL' ? 1n : 0n);
  }

  writeMsr(v: VcpuApi, index: number, value: bigint): 'ok' | 'gp' | undefined {
    const name = MSR_BY_INDEX.get(index);
    if (name === undefined) return undefined;
    if (!this.pvHas(MSR_FEATURE[name])) return 'gp';
    if (GP_ON_RESERVED.has(name) && reservedBits(KVM_MSR_LAYOUTS[name], value) !== 0n) return 'gp';
    if (name === 'ASYNC_PF_EN' && (value & 8n) !== 0n && !this.pvHas('ASYNC_PF_INT')) return 'gp'; // DELIVERY_AS_INT needs ASYNC_PF_INT
    if (name === 'ASYNC_PF_ACK') return 'ok';
    this.msrs.set(this.key(v, name), value);
    if (name === 'WALL_CLOCK' || name === 'WALL_CLOCK_NEW') {
      // kvm_write_wall_clock: version odd while writing, even after; filled once per write.
      this.wallVersion += 2;
      tryWrite(this.memory, value & ~3n, this.clock.wallClock(this.wallVersion));
    } else if ((name === 'SYSTEM_TIME' || name === 'SYSTEM_TIME_NEW') && (value & 1n) !== 0n) {
      this.updateClock(v);
    }
    return 'ok';
  }

  /** Rewrite this vCPU's pvclock_vcpu_time_info (what KVM_REQ_CLOCK_UPDATE does before the next entry). */
  updateClock(v: VcpuApi): boolean {
    const sys = this.msrs.get(`${v.id}:SYSTEM_TIME_NEW`) ?? this.msrs.get(`${v.id}:SYSTEM_TIME`);
    if (sys === undefined || (sys & 1n) === 0n) return false;
    const ver = (this.timeVersion.get(v.id) ?? 0) + 2;
    this.timeVersion.set(v.id, ver);
    // KVM maps data & ~1ULL (x86.c kvm_write_system_time); a non-RAM address leaves the clock unwritten.
    return tryWrite(this.memory, sys & ~1n, this.clock.timeInfo(guestTsc(v), ver));
  }

  call(v: VcpuApi, _insn: HypercallInsn): 'handled' {
    const bits = callerBits(v);
    const ret = this.dispatch(v, smallNr(v, GPR.rax, bits), bits);
    setSignedResult(v, typeof ret === 'string' ? -KVM_ERRNO[ret] : ret, bits, kvmResult);
    return 'handled';
  }

  /** a0..a3 as KVM reads them (kvmHypercallInputs: RBX, RCX, RDX, RSI masked to the caller's width). */
  private args(v: VcpuApi, bits: 64 | 32): [bigint, bigint, bigint, bigint] {
    return kvmHypercallInputs((r) => v.getReg(r), bits).args as [bigint, bigint, bigint, bigint];
  }

  /**
   * The switch of ____kvm_emulate_hypercall: a signed result or an error name. `nr` is RAX at the caller's
   * width when it is at most 0xffff, else -1 (no such call); arguments are read only by the calls that take them.
   */
  private dispatch(v: VcpuApi, nr: number, bits: 64 | 32): number | bigint | KvmErrnoName {
    if (v.cpl !== 0) return 'EPERM'; // x86.c: if (cpl) { ret = -KVM_EPERM; goto out; }
    const def = nr >= 0 && nr < HC_BY_NR.length ? HC_BY_NR[nr] : undefined;
    if (def === undefined || !(bits === 64 ? def.ok64 : def.ok32)) return 'ENOSYS';
    if (def.gate !== undefined && !this.pvHas(def.gate)) return 'ENOSYS';
    switch (def.nr) {
      case HC_VAPIC_POLL_IRQ:
        return 0;
      case HC_KICK_CPU: {
        const a = this.args(v, bits);
        const t = this.vcpuByApicId(a[1]);
        if (t !== undefined) wakeVcpu(t);
        this.events.push({ call: 'KICK_CPU', vcpu: v.id, args: a.slice(0, 2), targets: t ? [t.id] : [] });
        return 0n;
      }
      case HC_SEND_IPI:
        return this.sendIpi(v, this.args(v, bits), bits);
      case HC_SCHED_YIELD:
        this.events.push({ call: 'SCHED_YIELD', vcpu: v.id, args: this.args(v, bits).slice(0, 1) });
        return 0n;
      case HC_MAP_GPA_RANGE: {
        if (!this.exitOnMapGpaRange) return 'ENOSYS'; // user_exit_on_hypercall() false
        const a = this.args(v, bits);
        const [gpa, npages, attrs] = a;
        // x86.c: !PAGE_ALIGNED(gpa) || !npages || gfn + npages wraps -> -KVM_EINVAL; attrs checked as the ABI data says.
        if ((gpa & 0xfffn) !== 0n || npages === 0n || (gpa >> 12n) + npages >= 1n << 52n) return 'EINVAL';
        try {
          decodeMapGpaAttrs(attrs);
        } catch {
          return 'EINVAL';
        }
        this.events.push({ call: 'MAP_GPA_RANGE', vcpu: v.id, args: a.slice(0, 3) });
        return 0n;
      }
      case HC_CLOCK_PAIRING: {
        // x86.c kvm_pv_clock_pairing
        const a = this.args(v, bits);
        if (a[1] !== BigInt(KVM_CLOCK_PAIRING_WALLCLOCK) || !this.hostClocksourceTsc) return 'EOPNOTSUPP';
        return tryWrite(this.memory, a[0], this.clock.pairing(guestTsc(v))) ? 0n : 'EFAULT';
      }
      default:
        return 'ENOSYS'; // KVM_HC_MMU_OP: no x86 handler
    }
  }

  /** APIC ID = vCPU id in this emulator (KVM's default xAPIC IDs for a VMM that numbers vCPUs from 0). */
  private vcpuByApicId(id: bigint): VcpuApi | undefined {
    return id < 256n ? this.vcpuByApicNum(Number(id)) : undefined;
  }

  private vcpuByApicNum(id: number): VcpuApi | undefined {
    if (id >= 256) return undefined;
    for (const x of this.vm?.vcpus ?? []) if (x.id === id) return x;
    return undefined;
  }

  /**
   * lapic.c kvm_pv_send_ipi: bitmap low covers APIC IDs min..min+N-1, high min+N..min+2N-1, N = 64 for a
   * 64-bit caller, 32 for a 32-bit one (the registers were masked to 32 bits); returns the vCPUs delivered to.
   */
  private sendIpi(v: VcpuApi, a: [bigint, bigint, bigint, bigint], bits: 64 | 32): number {
    const [low, high, min] = a;
    const base = Number(min & 0xffffffffn); // + at most 127 stays exact in a double
    const targets: number[] = [];
    for (let half = 0; half < 2; half++) {
      const bitmap = half === 0 ? low : high;
      const w = [Number(bitmap & 0xffffffffn), Number((bitmap >> 32n) & 0xffffffffn)]; // 32-bit words of the bitmap
      for (let i = 0; i < bits; i++) {
        if (((w[i >> 5]! >>> (i & 31)) & 1) === 0) continue;
        const t = this.vcpuByApicNum(base + half * bits + i);
        if (t === undefined) continue;
        targets.push(t.id);
        wakeVcpu(t); // an interrupt wakes a vCPU halted in HLT
      }
    }
    this.events.push({ call: 'SEND_IPI', vcpu: v.id, args: a, targets });
    return targets.length;
  }
}
