// The Xen HVM personality: leaves base+0..base+limit (base 0x40000100 and MSR base 0x40000200 with the Viridian
// layout), the hypercall-page MSR, and a handful of hypercalls (ABI-FACTS §3; xen/arch/x86/hvm/hypercall.c,
// msr.c, cpuid.c). Pointers in arguments are guest-virtual; this engine maps them 1:1 to guest-physical.
import {
  CONSOLEIO, HVMOP, SCHEDOP, XENVER, XEN_CONVENTION_X64, XEN_CONVENTION_X86, XEN_CPUID, XEN_CPUID_MAX_NUM_LEAVES,
  XEN_HC, XEN_HVM_CPUID, XEN_HYPERCALLS, XEN_HYPERCALL_MSR_READ_VALUE, decodeXenHypercallMsr, signatureToRegs,
  XEN_ERRNO, xenHypercallPage, xenLayout, xenResult, xenSignatureEax, type Gpr, type XenErrnoName,
  xenAbi,
} from '@pvkit/shared-abi';
import { GPR, type CpuidResult, type VcpuApi, type Vendor } from '../cpu/types.js';
import type { HypercallInsn } from '../exits.js';
import {
  Personality, bigOf, callerBits, haltVcpu, hexOf, hypercallTable, regIs, setSignedResult, smallNr, tryRead, tryWrite,
} from './common.js';

/** Debug Xen's clobber values (xen/arch/x86/include/asm/hypercall.h clobber_regs). */
export const XEN_CLOBBER_64 = 0xdeadbeefdeadf00dn;
export const XEN_CLOBBER_32 = 0xdeadf00dn;

/**
 * struct xen_hvm_param (xen/hvm/hvm_op.h): domid_t domid @0 (u16), uint32_t index @4, uint64_t value @8; 16 bytes.
 * DOMID_SELF = 0x7FF0 (xen/xen.h). HVM_NR_PARAMS 39 (xen/hvm/params.h, 4.17; UNVERIFIED for other versions).
 */
const HVM_PARAM_SIZE = 16;

export const XEN_DOMID_SELF = 0x7ff0;
export const XEN_HVM_NR_PARAMS = 39;

/** 32-bit register names map onto the 64-bit registers VcpuApi knows. */
const REG64: Readonly<Record<string, 'rax' | 'rbx' | 'rcx' | 'rdx' | 'rsi' | 'rdi'>> = { eax: 'rax', ebx: 'rbx', ecx: 'rcx', edx: 'rdx', esi: 'rsi', edi: 'rdi' };
function reg64(r: Gpr): 'rax' | 'rbx' | 'rcx' | 'rdx' | 'rsi' | 'rdi' | 'r8' | 'r10' {
  return (REG64[r] ?? r) as 'rax' | 'rbx' | 'rcx' | 'rdx' | 'rsi' | 'rdi' | 'r8' | 'r10';
}

/** XEN_HYPERCALLS by number (hvm_hypercall_table). */
const HC_BY_NR = hypercallTable(XEN_HYPERCALLS);
/** Xen's conventions name plain registers (no hi:lo pairs): the argument registers as GPR indices, per width. */
const ARG_REGS_64: readonly number[] = (XEN_CONVENTION_X64.args as readonly Gpr[]).map((r) => GPR[reg64(r)]);
const ARG_REGS_32: readonly number[] = (XEN_CONVENTION_X86.args as readonly Gpr[]).map((r) => GPR[reg64(r)]);
/** "XenVMMXenVMM" (arch-x86/cpuid.h XEN_CPUID_SIGNATURE_E[BCD]X), computed once. */
const XEN_SIG = signatureToRegs(XEN_CPUID.signature);

export interface XenOptions {
  /** Viridian layout: CPUID base 0x40000100, hypercall MSR 0x40000200 (Hyper-V leaves/MSRs below). */
  viridian?: boolean;
  /** Explicit CPUID base (overrides the layout's). */
  base?: number;
  /** Leaf limit 2..5 (toolstack), default 5. */
  leafLimit?: number;
  version?: { major: number; minor: number };
  domid?: number;
  /** Guest TSC kHz reported in leaf base+3 (the TSC counts retired instructions). */
  tscKhz?: number;
  /** Write 0xdeadbeefdeadf00d into the argument registers a call used, as a debug Xen does. Default off. */
  debugClobber?: boolean;
  /** ud2 in slot 23 (Xen) rather than a normal stub (KVM's Xen emulation). Default true. */
  iretUd2?: boolean;
}

export class XenPersonality extends Personality {
  readonly name = 'xen';
  readonly abi = xenAbi;
  readonly base: number;
  readonly msrBase: number;
  readonly leafLimit: number;
  /** Leaf base+0 EAX (xenSignatureEax of base and limit). */
  private readonly sigEax: number;
  readonly version: { major: number; minor: number };
  /** XENVER_version's answer: major << 16 | minor. */
  private readonly versionNr: number;
  readonly domid: number;
  readonly tscKhz: number;
  debugClobber: boolean;
  readonly iretUd2: boolean;
  /** Bytes written with CONSOLEIO_write, for the host to read. */
  readonly console: number[] = [];
  private consoleIn: number[] = [];
  /** HVM params set by the guest or the host (HVMOP_get/set_param). */
  readonly params = new Map<number, bigint>();
  /** GPAs of hypercall pages the guest asked for (rewritten by onVendorChange). */
  readonly hypercallPages: bigint[] = [];
  /** sched_op calls seen (yield/block), for the host's scheduler to look at. */
  readonly schedOps: { vcpu: number; cmd: number }[] = [];

  constructor(opts: XenOptions = {}) {
    super();
    const lay = xenLayout(opts.viridian ?? false);
    this.base = opts.base ?? lay.cpuidBase;
    this.msrBase = lay.msrBase;
    this.leafLimit = opts.leafLimit ?? XEN_CPUID_MAX_NUM_LEAVES;
    this.sigEax = xenSignatureEax(this.base, this.leafLimit); // validates the limit (AbiError)
    const ver = opts.version ?? { major: 4, minor: 17 };
    this.version = Object.freeze({ major: ver.major, minor: ver.minor }); // a copy: versionNr cannot go stale
    this.versionNr = (this.version.major << 16) | this.version.minor; // int32, as BigInt((major << 16) | minor) was
    this.domid = opts.domid ?? 1;
    this.tscKhz = opts.tscKhz ?? 1_000_000;
    this.debugClobber = opts.debugClobber ?? false;
    this.iretUd2 = opts.iretUd2 ?? true;
  }

  cpuidRange(): readonly [number, number] {
    return [this.base, this.base + XEN_CPUID_MAX_NUM_LEAVES];
  }

  cpuidLeaf(v: VcpuApi, leaf: number, subleaf: number): CpuidResult {
    const off = leaf - this.base;
    const z = { eax: 0, ebx: 0, ecx: 0, edx: 0 };
    if (off > this.leafLimit) return z; // leaves above the limit read as zero (cpuid.c)
    switch (off) {
      case 0: return { eax: this.sigEax, ebx: XEN_SIG.ebx, ecx: XEN_SIG.ecx, edx: XEN_SIG.edx };
      case 1: return { ...z, eax: ((this.version.major << 16) | this.version.minor) >>> 0 };
      case 2: return { eax: 1, ebx: this.msrBase, ecx: 0, edx: 0 }; // 1 hypercall page; ECX PRESERVE_AD is PV only
      case 3: return subleaf === 0 ? { eax: 0, ebx: 0, ecx: this.tscKhz, edx: 0 } : subleaf === 2 ? { ...z, eax: this.tscKhz } : z;
      case 4:
        return subleaf === 0
          ? { eax: (1 << XEN_HVM_CPUID.VCPU_ID_PRESENT) | (1 << XEN_HVM_CPUID.DOMID_PRESENT), ebx: v.id, ecx: this.domid, edx: 0 }
          : z;
      default: return z; // base+5 is PV only
    }
  }

  readMsr(_v: VcpuApi, index: number): bigint | 'gp' | undefined {
    return index === this.msrBase ? XEN_HYPERCALL_MSR_READ_VALUE : undefined;
  }

  writeMsr(v: VcpuApi, index: number, value: bigint): 'ok' | 'gp' | undefined {
    if (index !== this.msrBase) return undefined;
    const w = decodeXenHypercallMsr(value);
    if (!w.ok) return 'gp'; // page index > 0
    if (!tryWrite(this.memory, w.gpa, xenHypercallPage(v.vendor === 'intel' ? 'vmcall' : 'vmmcall', { iretUd2: this.iretUd2 }))) return 'gp';
    if (!this.hypercallPages.includes(w.gpa)) this.hypercallPages.push(w.gpa);
    return 'ok';
  }

  /** After migration to the other vendor: rewrite every hypercall page with that vendor's instruction. */
  onVendorChange(vendor: Vendor = this.vm?.vcpus[0]?.vendor ?? 'intel'): number {
    for (const gpa of this.hypercallPages) tryWrite(this.memory, gpa, xenHypercallPage(vendor === 'intel' ? 'vmcall' : 'vmmcall', { iretUd2: this.iretUd2 }));
    return this.hypercallPages.length;
  }

  override state(): Record<string, unknown> {
    return {
      console: [...this.console], consoleIn: [...this.consoleIn],
      params: Object.fromEntries([...this.params].map(([k, v]) => [k, hexOf(v)])),
      hypercallPages: this.hypercallPages.map(hexOf),
    };
  }

  override loadState(s: Record<string, unknown>): void {
    this.console.splice(0, this.console.length, ...((s.console ?? []) as number[]));
    this.consoleIn = [...((s.consoleIn ?? []) as number[])];
    this.params.clear();
    for (const [k, v] of Object.entries((s.params ?? {}) as Record<string, unknown>)) this.params.set(Number(k), bigOf(`xen.params.${k}`, v));
    this.hypercallPages.splice(0, this.hypercallPages.length, ...((s.hypercallPages ?? []) as unknown[]).map((v, i) => bigOf(`xen.hypercallPages[${i}]`, v)));
  }

  pushConsoleInput(bytes: Uint8Array | readonly number[]): void {
    for (const b of bytes) this.consoleIn.push(b & 0xff);
  }

  consoleText(): string {
    return new TextDecoder().decode(Uint8Array.from(this.console));
  }

  call(v: VcpuApi, _insn: HypercallInsn): 'handled' {
    const bits = callerBits(v);
    const nr = smallNr(v, GPR.rax, bits); // -1: above every table entry
    const ret = this.dispatch(v, nr, bits);
    setSignedResult(v, typeof ret === 'string' ? -XEN_ERRNO[ret] : ret, bits, xenResult);
    // Debug Xen clobbers the argument registers it used unless the result is -ENOSYS (hypercall.h clobber_regs).
    if (this.debugClobber && ret !== 'ENOSYS') {
      const def = nr >= 0 ? HC_BY_NR[nr] : undefined;
      const regs = bits === 64 ? ARG_REGS_64 : ARG_REGS_32;
      for (let i = 0; i < (def?.args.length ?? 0) && i < regs.length; i++) v.setReg(regs[i]!, bits === 64 ? XEN_CLOBBER_64 : XEN_CLOBBER_32);
    }
    return 'handled';
  }

  /** Argument `i` masked to the caller's width (read only by the calls that need the value). */
  private arg(v: VcpuApi, i: number, bits: 64 | 32): bigint {
    const r = v.getReg((bits === 64 ? ARG_REGS_64 : ARG_REGS_32)[i]!);
    return bits === 64 ? r : r & 0xffffffffn;
  }

  /** `nr`: RAX at the caller's width when at most 0xffff, else -1 (no such call). */
  private dispatch(v: VcpuApi, nr: number, bits: 64 | 32): number | bigint | XenErrnoName {
    if (v.cpl !== 0) return 'EPERM'; // hvm_hypercall: CPL != 0 -> -EPERM
    const def = nr >= 0 && nr < HC_BY_NR.length ? HC_BY_NR[nr] : undefined;
    if (def === undefined || (def.bits !== undefined && !def.bits.includes(bits))) return 'ENOSYS';
    const a0 = bits === 64 ? ARG_REGS_64[0]! : ARG_REGS_32[0]!; // the sub-command register
    switch (def.nr) {
      case XEN_HC.xen_version:
        return regIs(v, a0, bits, XENVER.version) ? this.versionNr : 'ENOSYS';
      case XEN_HC.console_io:
        return this.consoleIo(this.arg(v, 0, bits), this.arg(v, 1, bits), this.arg(v, 2, bits));
      case XEN_HC.sched_op:
        if (regIs(v, a0, bits, SCHEDOP.yield)) {
          this.schedOps.push({ vcpu: v.id, cmd: SCHEDOP.yield });
          return 0;
        }
        if (regIs(v, a0, bits, SCHEDOP.block)) {
          this.schedOps.push({ vcpu: v.id, cmd: SCHEDOP.block });
          haltVcpu(v); // blocks until an event (here: until the host wakes it)
          return 0;
        }
        return 'ENOSYS';
      case XEN_HC.hvm_op:
        return this.hvmParam(this.arg(v, 0, bits), this.arg(v, 1, bits));
      default:
        return 'ENOSYS';
    }
  }

  /** do_console_io: write appends `count` bytes from `buf` (returns 0); read copies up to `count` (returns bytes). */
  private consoleIo(cmd: bigint, count: bigint, buf: bigint): bigint | XenErrnoName {
    if (count > 0x100000n) return 'EINVAL';
    const n = Number(count);
    if (cmd === BigInt(CONSOLEIO.write)) {
      const bytes = tryRead(this.memory, buf, n);
      if (bytes === undefined) return 'EFAULT';
      this.console.push(...bytes);
      return 0n;
    }
    if (cmd === BigInt(CONSOLEIO.read)) {
      const take = this.consoleIn.slice(0, n);
      if (!tryWrite(this.memory, buf, Uint8Array.from(take))) return 'EFAULT';
      this.consoleIn = this.consoleIn.slice(take.length);
      return BigInt(take.length);
    }
    return 'ENOSYS';
  }

  /** HVMOP_set_param / HVMOP_get_param on struct xen_hvm_param at `arg`. */
  private hvmParam(op: bigint, arg: bigint): bigint | XenErrnoName {
    if (op !== BigInt(HVMOP.set_param) && op !== BigInt(HVMOP.get_param)) return 'ENOSYS';
    const raw = tryRead(this.memory, arg, HVM_PARAM_SIZE);
    if (raw === undefined) return 'EFAULT';
    const dv = new DataView(raw.buffer);
    const domid = dv.getUint16(0, true);
    const index = dv.getUint32(4, true);
    if (domid !== XEN_DOMID_SELF && domid !== this.domid) return 'ESRCH';
    if (index >= XEN_HVM_NR_PARAMS) return 'EINVAL';
    if (op === BigInt(HVMOP.set_param)) {
      this.params.set(index, dv.getBigUint64(8, true));
      return 0n;
    }
    dv.setBigUint64(8, this.params.get(index) ?? 0n, true);
    return tryWrite(this.memory, arg, raw) ? 0n : 'EFAULT';
  }
}
