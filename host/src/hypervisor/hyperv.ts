// The Hyper-V personality (TLFS; ABI-FACTS §4): leaves 0x40000000..0x40000006, GUEST_OS_ID / HYPERCALL / VP_INDEX /
// TIME_REF_COUNT MSRs, and hypercalls decoded from the control word: memory-based blocks with the alignment and
// page rules, fast calls, rep calls in chunks with continuation, and HvCallMemoryMappedIoRead/Write on the IoRouter.
import {
  HV_CPUID_INTERFACE_HV1, HV_GET_PARTITION_ID_OUTPUT, HV_MMIO_WRITE_INPUT, HV_HYPERCALL_REP_START_MASK,
  HV_HYPERCALL_REP_START_OFFSET, HV_HYP_PAGE_SIZE, HV_MMIO_READ_INPUT, HV_MMIO_READ_OUTPUT, HV_STATUS, HV_TLB_FLUSH_INPUT,
  HV_X64_MSR, HV_X64_MSR_HYPERCALL_ENABLE, HV_X64_MSR_HYPERCALL_PAGE_ADDRESS_MASK, HVCALL, HYPERV_CPUID,
  HYPERV_FEATURES, HYPERV_HYPERCALLS, checkHvParamBlocks, decodeHvControl, encodeHvResult, hypervHypercallPage,
  signatureToRegs, validateHvControl, type HvHypercallDef,
  hypervAbi,
} from '@pvkit/shared-abi';
import type { MmioSize } from '../bus/types.js';
import type { CpuidResult, VcpuApi, Vendor } from '../cpu/types.js';
import type { HypercallInsn } from '../exits.js';
import {
  M32, Personality, bigOf, callerBits, guestFault, guestTsc, hcAccess, hexOf, hypercallTable, repeatInstruction, tryRead, tryWrite,
} from './common.js';

/** HYPERV_HYPERCALLS by call code (control word bits 15:0, TLFS "Hypercall Inputs"). */
const HC_BY_CODE = hypercallTable(HYPERV_HYPERCALLS);
/** "Microsoft Hv" (TLFS 2.4 leaf 0x40000000), computed once. */
const HV_SIG = signatureToRegs(HYPERV_CPUID.signature);

/** HV_X64_MSR_HYPERCALL bit 1, Locked (TLFS "Hypercall MSR": immutable until reset). */
const HYPERCALL_LOCKED = 0x2n;
/** TIME_REF_COUNT counts 100 ns units (TLFS "Partition Reference Counter"). */
const REF_UNITS_PER_SEC = 10_000_000n;

/** Bit of a named feature in HYPERV_FEATURES (leaf offset, register). */
function featureBit(name: string): { leaf: number; reg: 'eax' | 'ebx' | 'ecx' | 'edx'; mask: number } {
  const f = HYPERV_FEATURES.find((x) => x.name === name);
  if (f === undefined) throw new RangeError(`Hyper-V feature ${JSON.stringify(name)} is not in HYPERV_FEATURES`);
  return { leaf: f.leaf, reg: f.reg, mask: (1 << f.bit) >>> 0 };
}

/** What this personality implements, advertised in 0x40000003/4 (names from HYPERV_FEATURES). */
const DEFAULT_FEATURES = [
  'HV_MSR_TIME_REF_COUNT_AVAILABLE', 'HV_MSR_HYPERCALL_AVAILABLE', 'HV_MSR_VP_INDEX_AVAILABLE', 'HV_ACCESS_PARTITION_ID',
  'HV_X64_HYPERCALL_MSR_LOCK_AVAILABLE', 'HV_X64_USE_MMIO_HYPERCALLS',
];

export interface HypervOptions {
  /** Feature / recommendation names (HYPERV_FEATURES) set in leaves 0x40000003 and 0x40000004. */
  features?: readonly string[];
  /** Reps processed per exit before a rep call continues (TLFS: "~50 us" budget). Default 64. */
  repChunk?: number;
  /** Prefix the page stub with `or eax, 0x80000000` (Xen Viridian / KVM with Xen hypercalls). */
  xenViridianPrefix?: boolean;
  tscHz?: bigint;
  partitionId?: bigint;
  /**
   * KVM_CAP_HYPERV_ENFORCE_CPUID: an MSR whose privilege bit is not advertised raises #GP (GUEST_OS_ID and
   * HYPERCALL need HV_MSR_HYPERCALL_AVAILABLE; list post by V. Kuznetsov, ABI-FACTS §4.1).
   */
  enforceCpuid?: boolean;
}

/** The privilege (HYPERV_FEATURES name) each implemented MSR needs (TLFS feature-discovery, group A). */
const MSR_PRIVILEGE: Readonly<Record<number, string>> = {
  [HV_X64_MSR.GUEST_OS_ID]: 'HV_MSR_HYPERCALL_AVAILABLE',
  [HV_X64_MSR.HYPERCALL]: 'HV_MSR_HYPERCALL_AVAILABLE',
  [HV_X64_MSR.VP_INDEX]: 'HV_MSR_VP_INDEX_AVAILABLE',
  [HV_X64_MSR.TIME_REF_COUNT]: 'HV_MSR_TIME_REF_COUNT_AVAILABLE',
};

/** One implemented call: input block size for a rep count, output block size, and the body (an HV_STATUS). */
interface HvImpl {
  inSize: (reps: number) => number;
  outSize: number;
  run: (v: VcpuApi, input: Uint8Array, out: bigint | undefined, from: number, to: number) => number;
}

export interface HvCallRecord {
  readonly vcpu: number;
  readonly code: number;
  readonly status: number;
  readonly reps: number;
  readonly continued: boolean;
}

export class HypervPersonality extends Personality {
  readonly name = 'hyperv';
  readonly abi = hypervAbi;
  readonly base = HYPERV_CPUID.defaultBase;
  readonly features: readonly string[];
  repChunk: number;
  readonly enforceCpuid: boolean;
  readonly xenViridianPrefix: boolean;
  readonly tscHz: bigint;
  readonly partitionId: bigint;
  guestOsId = 0n;
  hypercallMsr = 0n;
  /** RAM bytes under the hypercall overlay, restored when the page is disabled. */
  private overlay: { gpa: bigint; saved: Uint8Array } | undefined;
  readonly calls: HvCallRecord[] = [];

  constructor(opts: HypervOptions = {}) {
    super();
    this.features = opts.features ?? DEFAULT_FEATURES;
    for (const f of this.features) featureBit(f);
    this.repChunk = opts.repChunk ?? 64;
    if (!Number.isInteger(this.repChunk) || this.repChunk < 1) throw new RangeError(`HypervOptions.repChunk: positive integer expected, got ${opts.repChunk}`);
    this.xenViridianPrefix = opts.xenViridianPrefix ?? false;
    this.enforceCpuid = opts.enforceCpuid ?? false;
    this.tscHz = opts.tscHz ?? 1_000_000_000n;
    this.partitionId = opts.partitionId ?? 1n;
  }

  override state(): Record<string, unknown> {
    return {
      guestOsId: hexOf(this.guestOsId), hypercallMsr: hexOf(this.hypercallMsr),
      ...(this.overlay ? { overlay: { gpa: hexOf(this.overlay.gpa), saved: Buffer.from(this.overlay.saved).toString('base64') } } : {}),
    };
  }

  override loadState(s: Record<string, unknown>): void {
    this.guestOsId = bigOf('hyperv.guestOsId', s.guestOsId);
    this.hypercallMsr = bigOf('hyperv.hypercallMsr', s.hypercallMsr);
    const o = s.overlay as { gpa: unknown; saved: string } | undefined;
    this.overlay = o ? { gpa: bigOf('hyperv.overlay.gpa', o.gpa), saved: new Uint8Array(Buffer.from(o.saved, 'base64')) } : undefined;
  }

  /** KVM's kvm_hv_hypercall_enabled(): the HYPERCALL MSR enable bit. */
  get hypercallEnabled(): boolean {
    return (this.hypercallMsr & HV_X64_MSR_HYPERCALL_ENABLE) !== 0n;
  }

  cpuidRange(): readonly [number, number] {
    return [this.base, this.base + HYPERV_CPUID.maxLeafOffset];
  }

  /** Leaves that depend only on construction options, built on first use (frozen, shared). */
  private readonly leafCache: (CpuidResult | undefined)[] = [];

  cpuidLeaf(v: VcpuApi, leaf: number): CpuidResult {
    const off = leaf - this.base;
    if (off === 5) return this.buildLeaf(v, off); // vCPU count: changes as the VM is built
    const hit = this.leafCache[off];
    if (hit !== undefined) return hit;
    const r = Object.freeze(this.buildLeaf(v, off));
    if (off >= 0 && off <= HYPERV_CPUID.maxLeafOffset) this.leafCache[off] = r;
    return r;
  }

  private buildLeaf(_v: VcpuApi, off: number): CpuidResult {
    const r: CpuidResult = { eax: 0, ebx: 0, ecx: 0, edx: 0 };
    for (const name of this.features) {
      const b = featureBit(name);
      if (b.leaf === off) r[b.reg] = (r[b.reg] | b.mask) >>> 0;
    }
    switch (off) {
      case 0: return { eax: this.base + HYPERV_CPUID.maxLeafOffset, ebx: HV_SIG.ebx, ecx: HV_SIG.ecx, edx: HV_SIG.edx };
      case 1: return { eax: HV_CPUID_INTERFACE_HV1, ebx: 0, ecx: 0, edx: 0 };
      case 2: return { eax: 0x3839, ebx: 0x000a0000, ecx: 0, edx: 0 }; // what KVM reports (hyperv.c: build 14393, 10.0)
      case 4: return { ...r, ebx: 0xffffffff }; // spinlock retries: never notify
      case 5: return { eax: Math.max(1, this.vm?.vcpus.length ?? 1), ebx: 0, ecx: 0, edx: 0 };
      default: return r;
    }
  }

  /** #GP for an implemented MSR whose privilege is not advertised (only with enforceCpuid). */
  private denied(index: number): boolean {
    const need = MSR_PRIVILEGE[index];
    return this.enforceCpuid && need !== undefined && !this.features.includes(need);
  }

  readMsr(v: VcpuApi, index: number): bigint | 'gp' | undefined {
    if (this.denied(index)) return 'gp';
    switch (index) {
      case HV_X64_MSR.GUEST_OS_ID: return this.guestOsId;
      case HV_X64_MSR.HYPERCALL: return this.hypercallMsr;
      case HV_X64_MSR.VP_INDEX: return BigInt(v.id);
      case HV_X64_MSR.TIME_REF_COUNT: return (guestTsc(v) * REF_UNITS_PER_SEC) / this.tscHz;
      default: return undefined;
    }
  }

  writeMsr(v: VcpuApi, index: number, value: bigint): 'ok' | 'gp' | undefined {
    if (this.denied(index)) return 'gp';
    switch (index) {
      case HV_X64_MSR.GUEST_OS_ID:
        this.guestOsId = value;
        // TLFS: clearing the guest OS identity disables the hypercall page.
        if (value === 0n && this.hypercallEnabled) {
          this.hypercallMsr &= ~HV_X64_MSR_HYPERCALL_ENABLE;
          this.removeOverlay();
        }
        return 'ok';
      case HV_X64_MSR.HYPERCALL:
        return this.writeHypercallMsr(v.vendor, value);
      case HV_X64_MSR.VP_INDEX:
      case HV_X64_MSR.TIME_REF_COUNT:
        return 'gp'; // read-only for the guest
      default:
        return undefined;
    }
  }

  private writeHypercallMsr(vendor: Vendor, value: bigint): 'ok' | 'gp' {
    if ((this.hypercallMsr & HYPERCALL_LOCKED) !== 0n) return 'ok'; // Locked: immutable until reset (write ignored)
    if (this.guestOsId === 0n) return 'ok'; // KVM kvm_hv_set_msr_pw: ignored while the guest OS id is 0
    if ((value & HV_X64_MSR_HYPERCALL_ENABLE) === 0n) {
      this.removeOverlay();
      this.hypercallMsr = value;
      return 'ok';
    }
    const gpa = value & HV_X64_MSR_HYPERCALL_PAGE_ADDRESS_MASK;
    const saved = tryRead(this.memory, gpa, HV_HYP_PAGE_SIZE);
    if (saved === undefined) return 'gp'; // the page must lie in guest RAM
    this.removeOverlay();
    this.overlay = { gpa, saved };
    tryWrite(this.memory, gpa, hypervHypercallPage(vendor === 'intel' ? 'vmcall' : 'vmmcall', { xenViridian: this.xenViridianPrefix }));
    this.hypercallMsr = value;
    return 'ok';
  }

  private removeOverlay(): void {
    if (this.overlay === undefined) return;
    tryWrite(this.memory, this.overlay.gpa, this.overlay.saved);
    this.overlay = undefined;
  }

  /** After migration to the other vendor: rewrite the overlay with that vendor's instruction. */
  onVendorChange(vendor: Vendor = this.vm?.vcpus[0]?.vendor ?? 'intel'): boolean {
    if (this.overlay === undefined) return false;
    tryWrite(this.memory, this.overlay.gpa, hypervHypercallPage(vendor === 'intel' ? 'vmcall' : 'vmmcall', { xenViridian: this.xenViridianPrefix }));
    return true;
  }

  call(v: VcpuApi, _insn: HypercallInsn): 'handled' | undefined {
    // TLFS: hypercalls are legal only at CPL 0 in protected mode; anything else is #UD.
    if (v.cpl !== 0) guestFault(6, 'Hyper-V hypercall at CPL 3 (TLFS: #UD)');
    const bits = callerBits(v);
    const pair = (hi: 'rdx' | 'rbx' | 'rdi', lo: 'rax' | 'rcx' | 'rsi'): bigint => ((v.getReg(hi) & M32) << 32n) | (v.getReg(lo) & M32);
    const control = bits === 64 ? v.getReg('rcx') : pair('rdx', 'rax');
    const inArg = bits === 64 ? v.getReg('rdx') : pair('rbx', 'rcx');
    const outArg = bits === 64 ? v.getReg('r8') : pair('rdi', 'rsi');
    const c = decodeHvControl(control);
    const def = c.code < HC_BY_CODE.length ? HC_BY_CODE[c.code] : undefined;
    const setResult = (status: number, reps: number): 'handled' => {
      const r = encodeHvResult({ status, repsCompleted: reps });
      if (bits === 64) v.setReg('rax', r);
      else {
        v.setReg('rax', r & M32);
        v.setReg('rdx', r >> 32n);
      }
      this.calls.push({ vcpu: v.id, code: c.code, status, reps, continued: false });
      return 'handled';
    };
    const verdict = validateHvControl(control, def);
    if (verdict.status !== HV_STATUS.SUCCESS || def === undefined) return setResult(verdict.status, 0);
    const impl = this.implemented(def);
    if (impl === undefined) return setResult(HV_STATUS.INVALID_HYPERCALL_CODE, 0);

    let input: Uint8Array | undefined;
    let outGpa: bigint | undefined;
    if (c.fast) {
      input = new Uint8Array(16);
      const dv = new DataView(input.buffer);
      dv.setBigUint64(0, inArg, true);
      dv.setBigUint64(8, outArg, true);
    } else {
      const inSize = impl.inSize(c.repCount);
      const outSize = impl.outSize;
      const limit = BigInt(this.memory.physLimit);
      for (const [gpa, size] of [[inArg, inSize], [outArg, outSize]] as const) {
        if (size > 0 && gpa + BigInt(size) > limit) return setResult(HV_STATUS.INVALID_ALIGNMENT, 0); // outside the GPA space
      }
      const chk = checkHvParamBlocks(inSize > 0 ? { gpa: inArg, size: inSize } : undefined, outSize > 0 ? { gpa: outArg, size: outSize } : undefined);
      if (chk.status !== HV_STATUS.SUCCESS) return setResult(chk.status, 0);
      if (inSize > 0) {
        input = tryRead(this.memory, inArg, inSize);
        if (input === undefined) return undefined; // unbacked input page: a memory intercept for the VMM (Hypercall exit)
      }
      if (outSize > 0) {
        if (tryRead(this.memory, outArg, outSize) === undefined) return undefined;
        outGpa = outArg;
      }
    }

    if (def.rep) {
      // Process one chunk; unfinished -> new start index in the control word and the instruction re-executes.
      const end = Math.min(c.repCount, c.repStart + this.repChunk);
      const status = impl.run(v, input ?? new Uint8Array(0), outGpa, c.repStart, end);
      if (status === HV_STATUS.SUCCESS && end < c.repCount) {
        const next = (control & ~HV_HYPERCALL_REP_START_MASK) | (BigInt(end) << HV_HYPERCALL_REP_START_OFFSET);
        if (bits === 64) v.setReg('rcx', next);
        else {
          v.setReg('rax', next & M32);
          v.setReg('rdx', next >> 32n);
        }
        repeatInstruction(v);
        this.calls.push({ vcpu: v.id, code: c.code, status, reps: end, continued: true });
        return 'handled';
      }
      return setResult(status, status === HV_STATUS.SUCCESS ? c.repCount : c.repStart);
    }
    return setResult(impl.run(v, input ?? new Uint8Array(0), outGpa, 0, 0), 0);
  }

  /** implemented() per call code, built on first use: the bodies read the personality's state when they run. */
  private readonly impls = new Map<number, HvImpl | undefined>();

  private implemented(def: HvHypercallDef): HvImpl | undefined {
    if (!this.impls.has(def.nr)) this.impls.set(def.nr, this.buildImpl(def));
    return this.impls.get(def.nr);
  }

  /** The calls this host implements: block sizes and a body returning an HV_STATUS. */
  private buildImpl(def: HvHypercallDef): HvImpl | undefined {
    switch (def.nr) {
      case HVCALL.NOTIFY_LONG_SPIN_WAIT:
        return { inSize: () => 8, outSize: 0, run: () => HV_STATUS.SUCCESS };
      case HVCALL.GET_PARTITION_ID:
        return {
          inSize: () => 0, outSize: HV_GET_PARTITION_ID_OUTPUT.size,
          run: (_v, _i, out) => {
            const b = new Uint8Array(8);
            new DataView(b.buffer).setBigUint64(0, this.partitionId, true);
            return out !== undefined && tryWrite(this.memory, out, b) ? HV_STATUS.SUCCESS : HV_STATUS.INVALID_PARAMETER;
          },
        };
      case HVCALL.FLUSH_VIRTUAL_ADDRESS_LIST:
        // Header + one u64 GVA range per rep; nothing to flush in an identity-mapped emulator.
        return { inSize: (reps) => HV_TLB_FLUSH_INPUT.size + 8 * reps, outSize: 0, run: () => HV_STATUS.SUCCESS };
      case HVCALL.MMIO_READ:
        return { inSize: () => HV_MMIO_READ_INPUT.size, outSize: HV_MMIO_READ_OUTPUT.size, run: (_v, i, out) => this.mmioRead(i, out) };
      case HVCALL.MMIO_WRITE:
        // The whole hv_mmio_write_input (header + 64-byte data block) must lie in one page.
        return { inSize: () => HV_MMIO_WRITE_INPUT.size, outSize: 0, run: (_v, i) => this.mmioWrite(i) };
      default:
        return undefined;
    }
  }

  private mmioAccess(input: Uint8Array): { gpa: bigint; size: MmioSize } | undefined {
    const dv = new DataView(input.buffer, input.byteOffset);
    const gpa = dv.getBigUint64(0, true);
    const size = dv.getUint32(8, true);
    if (dv.getUint32(12, true) !== 0) return undefined; // RsvdZ
    if (size !== 1 && size !== 2 && size !== 4 && size !== 8) return undefined;
    return { gpa, size };
  }

  /** HvCallMemoryMappedIoRead: the same IoRouter.mmioRead a plain load reaches. */
  private mmioRead(input: Uint8Array, out: bigint | undefined): number {
    const a = this.mmioAccess(input);
    if (a === undefined || out === undefined) return HV_STATUS.INVALID_PARAMETER;
    const router = this.vm?.router;
    const v = hcAccess(router, () => router?.mmioRead(a.gpa, a.size)) ?? (1n << BigInt(8 * a.size)) - 1n; // unclaimed: all ones
    const data = new Uint8Array(HV_MMIO_READ_OUTPUT.size);
    new DataView(data.buffer).setBigUint64(0, v, true);
    return tryWrite(this.memory, out, data) ? HV_STATUS.SUCCESS : HV_STATUS.INVALID_PARAMETER;
  }

  /** HvCallMemoryMappedIoWrite: IoRouter.mmioWrite (doorbells first, then devices), as a plain store. */
  private mmioWrite(input: Uint8Array): number {
    const a = this.mmioAccess(input);
    if (a === undefined) return HV_STATUS.INVALID_PARAMETER;
    const v = new DataView(input.buffer, input.byteOffset).getBigUint64(16, true) & ((1n << BigInt(8 * a.size)) - 1n);
    const router = this.vm?.router;
    hcAccess(router, () => router?.mmioWrite(a.gpa, a.size, v)); // unclaimed: dropped, like a store to nothing on a PC
    return HV_STATUS.SUCCESS;
  }
}
