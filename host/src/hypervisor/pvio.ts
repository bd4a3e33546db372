// The pvio personality (pvkit's PV-I/O ABI, spec in shared-abi/README.md): CPUID leaves at a configurable base,
// maskable features, and MMIO / PIO / doorbell hypercalls that go through the VM's IoRouter exactly as the plain
// access does (devices cannot tell the difference; unclaimed accesses become the same exits).
import {
  PVIO_DEFAULT_BASE, PVIO_FEATURE, PVIO_HCPAGE_MSR_LAYOUT, PVIO_HC_FIRST, PVIO_HC_LAST,
  PVIO_MAX_LEAF_OFFSET, PVIO_MSR_HCPAGE_DEFAULT, PVIO_SIGNATURE, PVIO_VERSION_MAJOR, PVIO_VERSION_MINOR,
  checkPvioBase, dataProblems, decodeFields, parsePvioCall, pvioHypercallPage, pvioStatusReg, reservedBits,
  signatureToRegs, makePvioAbi, type AbiDefinition, type PvioAccess, type PvioFeatureName, type PvioStatusName,
} from '@pvkit/shared-abi';
import type { IoSize, MmioSize } from '../bus/types.js';
import { Vcpu } from '../cpu/vcpu.js';
import type { CpuidResult, VcpuApi, Vendor } from '../cpu/types.js';
import type { HypercallInsn } from '../exits.js';
import { M32, Personality, StateError, bigOf, callerBits, hcAccess, hexOf, tryWrite } from './common.js';

/** PVIO_SIGNATURE as EBX/ECX/EDX (spec §1 leaf B+0), computed once. */
const PVIO_SIG = signatureToRegs(PVIO_SIGNATURE);

/**
 * Features offered by default. ANY_INSN is not: the engine #UD-patches the foreign instruction before any hook
 * sees it (host/src/cpu/ops-sys.ts), so this host cannot promise "no #UD, no patching".
 */
export const PVIO_DEFAULT_FEATURES: readonly PvioFeatureName[] = ['MMIO_HCALL', 'PIO_HCALL', 'DOORBELL', 'HCPAGE'];

export interface PvioOptions {
  base?: number;
  features?: readonly PvioFeatureName[];
  /** Doorbell table size (leaf B+2 EBX). Default 64. */
  maxDoorbells?: number;
  /** Guest-physical address bits accepted by PVIO_HC_MMIO (leaf B+2 ECX). Default: the memory's width. */
  physBits?: number;
  hcpageMsr?: number;
}

export class PvioPersonality extends Personality {
  readonly name = 'pvio';
  readonly base: number;
  readonly abi: AbiDefinition;
  /** Advertised features; clearing one at run time makes its calls -PVIO_ENOSYS (spec §8). */
  features: Set<PvioFeatureName>;
  readonly maxDoorbells: number;
  readonly hcpageMsr: number;
  private readonly physBitsOpt: number | undefined;
  /** Doorbell table: id -> registered write (ids from 1). */
  readonly doorbells = new Map<number, PvioAccess>();
  private hcpage = 0n;

  constructor(opts: PvioOptions = {}) {
    super();
    this.base = opts.base ?? PVIO_DEFAULT_BASE;
    checkPvioBase(this.base);
    this.abi = makePvioAbi({ base: this.base });
    this.features = new Set(opts.features ?? PVIO_DEFAULT_FEATURES);
    for (const f of this.features) if (!(f in PVIO_FEATURE)) throw new RangeError(`PvioOptions.features: unknown feature ${JSON.stringify(f)}`);
    this.maxDoorbells = opts.maxDoorbells ?? 64;
    this.hcpageMsr = opts.hcpageMsr ?? PVIO_MSR_HCPAGE_DEFAULT;
    this.physBitsOpt = opts.physBits;
  }

  get physBits(): number {
    return this.physBitsOpt ?? (this.vm ? Math.log2(this.vm.memory.physLimit) : 48);
  }

  override state(): Record<string, unknown> {
    return {
      features: [...this.features], hcpage: hexOf(this.hcpage),
      doorbells: [...this.doorbells].map(([id, a]) => ({ id, space: a.space, address: hexOf(a.address), size: a.size, write: a.write })),
    };
  }

  override loadState(s: Record<string, unknown>): void {
    const feats = (s.features ?? []) as PvioFeatureName[];
    for (const f of feats) if (!(f in PVIO_FEATURE)) throw new StateError('pvio.features', f, 'unknown feature');
    this.features = new Set(feats);
    this.hcpage = bigOf('pvio.hcpage', s.hcpage);
    this.doorbells.clear();
    ((s.doorbells ?? []) as { id: number; space: 'mmio' | 'pio'; address: string; size: 1 | 2 | 4 | 8; write: boolean }[]).forEach((d, i) => {
      this.doorbells.set(d.id, { space: d.space, address: bigOf(`pvio.doorbells[${i}].address`, d.address), size: d.size, write: d.write });
    });
  }

  /** True when `nr` (at the caller's width) is a pvio number (spec §3: in 64-bit mode RAX 63:32 must be 0). */
  static isPvioNumber(rax: bigint, bits: 64 | 32): boolean {
    const nr = bits === 64 ? rax : rax & M32;
    return nr >= BigInt(PVIO_HC_FIRST) && nr <= BigInt(PVIO_HC_LAST);
  }

  cpuidRange(): readonly [number, number] {
    return [this.base, this.base + PVIO_MAX_LEAF_OFFSET];
  }

  cpuidLeaf(_v: VcpuApi, leaf: number): CpuidResult {
    // Leaf layout: PVIO_CPUID_LEAVES (spec §1).
    switch (leaf - this.base) {
      case 0: return { eax: this.base + PVIO_MAX_LEAF_OFFSET, ebx: PVIO_SIG.ebx, ecx: PVIO_SIG.ecx, edx: PVIO_SIG.edx };
      case 1: {
        let eax = 0;
        for (const f of this.features) eax |= 1 << PVIO_FEATURE[f];
        return { eax, ebx: ((PVIO_VERSION_MAJOR << 16) | PVIO_VERSION_MINOR) >>> 0, ecx: 0, edx: 0 };
      }
      default:
        return {
          eax: this.features.has('HCPAGE') ? this.hcpageMsr : 0,
          ebx: this.features.has('DOORBELL') ? this.maxDoorbells : 0,
          ecx: this.physBits,
          edx: 0,
        };
    }
  }

  readMsr(_v: VcpuApi, index: number): bigint | 'gp' | undefined {
    if (index !== this.hcpageMsr || !this.features.has('HCPAGE')) return undefined;
    return this.hcpage;
  }

  writeMsr(v: VcpuApi, index: number, value: bigint): 'ok' | 'gp' | undefined {
    if (index !== this.hcpageMsr || !this.features.has('HCPAGE')) return undefined;
    if (reservedBits(PVIO_HCPAGE_MSR_LAYOUT, value) !== 0n) return 'gp'; // spec §7
    const f = decodeFields(PVIO_HCPAGE_MSR_LAYOUT, value);
    if (f.enable === true && !tryWrite(this.memory, f.gpa as bigint, pvioHypercallPage(v.vendor === 'intel' ? 'vmcall' : 'vmmcall'))) return 'gp';
    this.hcpage = value;
    return 'ok';
  }

  /** Spec §7: after migration to another vendor the host rewrites the page before the guest runs. */
  onVendorChange(vendor: Vendor = this.vm?.vcpus[0]?.vendor ?? 'intel'): boolean {
    if ((this.hcpage & 1n) === 0n) return false;
    return tryWrite(this.memory, this.hcpage & ~0xfffn, pvioHypercallPage(vendor === 'intel' ? 'vmcall' : 'vmmcall'));
  }

  call(v: VcpuApi, _insn: HypercallInsn): 'handled' {
    const bits = callerBits(v);
    const pair = (hi: 'rcx' | 'rsi', lo: 'rbx' | 'rdx'): bigint => ((v.getReg(hi) & M32) << 32n) | (v.getReg(lo) & M32);
    const nr = bits === 64 ? v.getReg('rax') : v.getReg('rax') & M32;
    const arg0 = bits === 64 ? v.getReg('rbx') : pair('rcx', 'rbx');
    const arg1 = bits === 64 ? v.getReg('rcx') : pair('rsi', 'rdx');
    const { status, data } = this.run(v, nr, arg0, arg1, bits);
    v.setReg('rax', pvioStatusReg(status, bits));
    if (status === 'OK' && data !== undefined) {
      if (bits === 64) v.setReg('rcx', data);
      else {
        v.setReg('rdx', data & M32);
        v.setReg('rsi', data >> 32n);
      }
    }
    return 'handled';
  }

  private run(v: VcpuApi, nr: bigint, arg0: bigint, arg1: bigint, bits: 64 | 32): { status: PvioStatusName; data?: bigint } {
    const p = parsePvioCall(nr, arg0, arg1, { bits, features: this.featureList(), physBits: this.physBits, cpl: v.cpl });
    if (!p.ok) return { status: p.status };
    const op = p.value;
    switch (op.kind) {
      case 'access':
        return this.access(v, op.access, op.data);
      case 'doorbell-register': {
        if (this.isRam(op.access)) return { status: 'EFAULT' };
        for (const [id, a] of this.doorbells) if (sameAccess(a, op.access)) return { status: 'OK', data: BigInt(id) };
        if (this.doorbells.size >= this.maxDoorbells) return { status: 'ENOSPC' };
        let id = 1;
        while (this.doorbells.has(id)) id++;
        this.doorbells.set(id, op.access);
        return { status: 'OK', data: BigInt(id) };
      }
      case 'doorbell-ring': {
        const a = this.doorbells.get(op.id);
        if (a === undefined) return { status: 'ENOENT' };
        if (dataProblems(a, op.data).length) return { status: 'EINVAL' };
        const r = this.access(v, a, op.data);
        return { status: r.status };
      }
      case 'doorbell-unregister':
        return this.doorbells.delete(op.id) ? { status: 'OK' } : { status: 'ENOENT' };
    }
  }

  private featureCache: PvioFeatureName[] = [];

  /** `[...this.features]` without a new array per call: the cached list while the set still holds exactly it. */
  private featureList(): readonly PvioFeatureName[] {
    const c = this.featureCache;
    let same = c.length === this.features.size;
    for (let i = 0; same && i < c.length; i++) same = this.features.has(c[i]!);
    if (!same) this.featureCache = [...this.features];
    return this.featureCache;
  }

  private isRam(a: PvioAccess): boolean {
    if (a.space !== 'mmio') return false;
    for (let i = 0; i < a.size; i++) if (this.memory.isRam(Number(a.address) + i, 1)) return true;
    return false;
  }

  /**
   * One access through the IoRouter, as the plain instruction makes it: doorbells and devices first; unclaimed
   * reads wait for the caller's answer (the same MmioRead/IoIn exit and complete*() as a plain load), unclaimed
   * writes leave with the same MmioWrite/IoOut exit after the call completes.
   */
  private access(v: VcpuApi, a: PvioAccess, data: bigint): { status: PvioStatusName; data?: bigint } {
    if (this.isRam(a)) return { status: 'EFAULT' };
    const router = this.vm?.router;
    const cpu = v instanceof Vcpu ? v : undefined;
    const rip = cpu ? BigInt(cpu.curIp) : v.rip;
    if (a.space === 'mmio') {
      const size = a.size as MmioSize;
      if (a.write) {
        if (hcAccess(router, () => router?.mmioWrite(a.address, size, data)) !== true) cpu?.raiseExit({ kind: 'MmioWrite', vcpu: v.id, rip, gpa: a.address, size, value: data });
        return { status: 'OK' };
      }
      const done = cpu?.takeCompletion(`mmio:${a.address}:${size}`);
      if (done !== undefined) return { status: 'OK', data: ((BigInt(done.hi >>> 0) << 32n) | BigInt(done.lo >>> 0)) & mask(size) };
      const r = hcAccess(router, () => router?.mmioRead(a.address, size));
      if (r === undefined) {
        if (cpu === undefined) return { status: 'OK', data: mask(size) };
        return cpu.needCompletion({ kind: 'MmioRead', vcpu: v.id, rip, gpa: a.address, size });
      }
      return { status: 'OK', data: r & mask(size) };
    }
    const port = Number(a.address);
    const size = a.size as IoSize;
    if (a.write) {
      if (hcAccess(router, () => router?.pioWrite(port, size, Number(data))) !== true) cpu?.raiseExit({ kind: 'IoOut', vcpu: v.id, rip, port, size, value: Number(data) });
      return { status: 'OK' };
    }
    const done = cpu?.takeCompletion(`io:${port}:${size}`);
    if (done !== undefined) return { status: 'OK', data: BigInt(done.lo >>> 0) & mask(size) };
    const r = hcAccess(router, () => router?.pioRead(port, size));
    if (r === undefined) {
      if (cpu === undefined) return { status: 'OK', data: mask(size) };
      return cpu.needCompletion({ kind: 'IoIn', vcpu: v.id, rip, port, size });
    }
    return { status: 'OK', data: BigInt(r >>> 0) & mask(size) };
  }
}

const mask = (size: number): bigint => (1n << BigInt(8 * size)) - 1n;
const sameAccess = (a: PvioAccess, b: PvioAccess): boolean =>
  a.space === b.space && a.address === b.address && a.size === b.size && a.write === b.write;
