// Several personalities on one VM (e.g. Hyper-V at 0x40000000 with KVM at 0x40000100, as KVM offers Windows
// guests). CPUID placement is checked with shared-abi's combinedCpuidLayout; hypercalls are routed by the
// registers where the space registry can tell the ABIs apart (pvio's range, VMware's magic) and otherwise by
// configuration, as KVM does (arch/x86/kvm/x86.c kvm_emulate_hypercall; ABI-FACTS §1.2).
import { combinedCpuidLayout, hypercallSpaces, type CpuidLayoutEntry, type SpaceEntry } from '@pvkit/shared-abi';
import type { VcpuApi, Vendor } from '../cpu/types.js';
import type { HypercallInsn } from '../exits.js';
import { CoreHooks, callerBits, type HooksOptions, type HvVm, type PersonalityCore } from './common.js';
import { HypervPersonality } from './hyperv.js';
import { KvmPersonality } from './kvm.js';
import { PvioPersonality } from './pvio.js';
import { VmwarePersonality } from './vmware.js';
import { XenPersonality } from './xen.js';

export interface HypervisorOptions extends HooksOptions {
  /** KVM_XEN_HVM_CONFIG_INTERCEPT_HCALL: every hypercall goes to the Xen personality (EAX bit 31 -> Hyper-V). */
  xenIntercept?: boolean;
}

type Routed = PersonalityCore & {
  onVendorChange?(vendor?: Vendor): unknown;
  state?(): Record<string, unknown>;
  loadState?(s: Record<string, unknown>): void;
};

export class Hypervisor {
  readonly personalities: readonly Routed[];
  readonly layout: readonly CpuidLayoutEntry[];
  readonly xenIntercept: boolean;
  /** Hypercalls routed to each personality, by name. */
  readonly routed = new Map<string, number>();
  private readonly spaces: ReadonlyMap<PersonalityCore, readonly SpaceEntry[]>;
  private readonly opts: HooksOptions;
  /** The personalities route() asks about, found once (the set is fixed at construction). */
  private readonly pvio: PvioPersonality | undefined;
  private readonly hv: HypervPersonality | undefined;
  private readonly xen: XenPersonality | undefined;
  private readonly vmw: VmwarePersonality | undefined;
  private readonly kvm: KvmPersonality | undefined;
  hooks: CoreHooks | undefined;

  constructor(personalities: readonly Routed[], opts: HypervisorOptions = {}) {
    const names = personalities.map((p) => p.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup !== undefined) throw new RangeError(`Hypervisor: personality ${JSON.stringify(dup)} given twice`);
    // Throws AbiError naming every overlap / unscannable base.
    this.layout = combinedCpuidLayout(personalities.map((p) => ({ abi: p.abi, base: p.base })));
    this.personalities = [...personalities].sort((a, b) => a.base - b.base);
    this.xenIntercept = opts.xenIntercept ?? false;
    if (this.xenIntercept && this.find(XenPersonality) === undefined) throw new RangeError('Hypervisor: xenIntercept needs a Xen personality');
    this.spaces = new Map(personalities.map((p) => [p, hypercallSpaces([p.abi]).filter((e) => e.trap === 'hypercall')]));
    this.opts = { ...(opts.counters ? { counters: opts.counters } : {}), ...(opts.unknownMsr ? { unknownMsr: opts.unknownMsr } : {}) };
    this.pvio = this.find(PvioPersonality);
    this.hv = this.find(HypervPersonality);
    this.xen = this.find(XenPersonality);
    this.vmw = this.find(VmwarePersonality);
    this.kvm = this.find(KvmPersonality);
  }

  find<T extends PersonalityCore>(cls: abstract new (...a: never[]) => T): T | undefined {
    return this.personalities.find((p): p is Routed & T => p instanceof cls);
  }

  /** Bind every personality and install the combined hooks. */
  attach(vm: HvVm): CoreHooks {
    for (const p of this.personalities) p.bind(vm);
    this.hooks = new CoreHooks(() => this.personalities, (v, insn) => this.route(v, insn), this.opts);
    vm.hooks = this.hooks;
    return this.hooks;
  }

  /** The registry says the registers name this ABI: its selector range holds the selector register. */
  private selects(p: PersonalityCore, v: VcpuApi): boolean {
    const bits = callerBits(v);
    for (const e of this.spaces.get(p) ?? []) {
      if (e.bits !== bits || e.selector === undefined) continue;
      // A 64-bit caller's whole register is compared (KVM compares all of RAX; pvio requires 63:32 = 0).
      const r = v.getReg(e.selector.reg);
      const x = bits === 64 ? r : r & e.selector.mask;
      if (x >= e.selector.lo && x <= e.selector.hi) return true;
    }
    return false;
  }

  /**
   * pvio first (its spec: a host serving several ABIs checks the pvio range first), then KVM's order: Xen
   * interception, Hyper-V once its hypercall MSR is enabled, then the VMware magic, then KVM; with no KVM the
   * configured ABI that owns plain VMCALLs (Xen, else Hyper-V).
   */
  route(v: VcpuApi, _insn: HypercallInsn): PersonalityCore | undefined {
    const pick = (p: PersonalityCore | undefined): PersonalityCore | undefined => {
      if (p !== undefined) this.routed.set(p.name, (this.routed.get(p.name) ?? 0) + 1);
      return p;
    };
    const { pvio, hv, xen, vmw } = this;
    if (pvio && this.selects(pvio, v)) return pick(pvio);
    if (this.xenIntercept && xen) {
      // kvm_xen_hypercall: Hyper-V hypercalls get bit 31 set in EAX (the viridian page prefix).
      if (hv?.hypercallEnabled && (v.getReg('rax') & 0x80000000n) !== 0n) return pick(hv);
      return pick(xen);
    }
    if (hv?.hypercallEnabled) return pick(hv);
    if (vmw && this.selects(vmw, v)) return pick(vmw);
    return pick(this.kvm ?? xen ?? hv ?? vmw ?? pvio);
  }

  /** Every personality's state by name (put it in VmSnapshot `extra`). */
  state(): Record<string, Record<string, unknown>> {
    return Object.fromEntries(this.personalities.map((p) => [p.name, p.state?.() ?? {}]));
  }

  /** Load state() output into personalities built with the same options (unknown names are an error). */
  loadState(s: Record<string, Record<string, unknown>>): void {
    for (const name of Object.keys(s)) {
      if (!this.personalities.some((p) => p.name === name)) throw new RangeError(`Hypervisor.loadState: no personality ${JSON.stringify(name)} here`);
    }
    for (const p of this.personalities) if (s[p.name] !== undefined) p.loadState?.(s[p.name]!);
  }

  /** After migration to the other vendor: every hypercall page / overlay is rewritten for it. */
  onVendorChange(vendor?: Vendor): void {
    for (const p of this.personalities) p.onVendorChange?.(vendor);
  }
}
