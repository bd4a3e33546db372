// Cross-vendor strategies: how a stub leaves to the hypervisor when VMCALL (Intel) and VMMCALL (AMD) differ.
//  host-patch  : a plain 3-byte VMCALL recorded as a PatchSite; the host rewrites it on #UD (KVM
//                KVM_X86_QUIRK_FIX_HYPERCALL_INSN, arch/x86/kvm/x86.c emulator_fix_hypercall).
//  guest-patch : the same sites plus a table; pvkit_patch_hypercalls() rewrites byte 2 (C1 <-> D9) by CPUID
//                vendor once (Linux does this with alternatives: X86_FEATURE_VMMCALL).
//  hcpage      : `call` into a page the hypervisor writes after an MSR write (Xen, Hyper-V, pvio).
//  dispatch    : a branch on a vendor byte set lazily from CPUID leaf 0: correct before any patching.

import { AbiError, type AbiDefinition, type CallingConvention } from '@pvkit/shared-abi';
import type { Asm } from '../x86/asm.js';
import { addr, byte, mem } from '../x86/operands.js';
import type { Reg } from '../x86/registers.js';
import { reg, regOf } from './cabi.js';
import { VENDOR, local } from './detect.js';
import { pageStyle } from './hcpage.js';
import { dataRef, names, type Names } from './names.js';

export const STRATEGIES = ['host-patch', 'guest-patch', 'hcpage', 'dispatch'] as const;
export type Strategy = (typeof STRATEGIES)[number];

export function isStrategy(s: string): s is Strategy {
  return (STRATEGIES as readonly string[]).includes(s);
}

/**
 * Conventions a strategy uses for one mode. hcpage: the ABI's `hcpage` conventions (none: the combination
 * cannot work). Others: the direct ones; an ABI whose only conventions are page calls (Hyper-V) issues
 * the same registers with a direct VMCALL, which KVM and Hyper-V accept once the hypercall MSR is enabled.
 */
export function conventionsFor(abi: AbiDefinition, strategy: Strategy, bits: 64 | 32): CallingConvention[] {
  const mine = abi.conventions.filter((c) => c.bits === bits);
  if (!mine.length) throw new AbiError([{ path: `${abi.name}.conventions`, value: bits, message: `ABI ${abi.name} has no ${bits}-bit calling convention` }]);
  if (strategy === 'hcpage') {
    const page = mine.filter((c) => c.trap === 'hcpage');
    if (!page.length) {
      throw new AbiError([{ path: 'strategy', value: strategy, message: `ABI ${abi.name} has no hypercall page (no ${bits}-bit convention with trap 'hcpage'), so strategy hcpage cannot work; use host-patch, guest-patch or dispatch` }]);
    }
    pageStyle(abi);
    return page;
  }
  const direct = mine.filter((c) => c.trap !== 'hcpage');
  return direct.length ? direct : mine;
}

/** Emits the instruction(s) that leave to the hypervisor, and the shared routines/data a strategy needs. */
export class TrapEmitter {
  private readonly sites: string[] = [];
  private usedDispatch = false;
  readonly n: Names;

  constructor(readonly a: Asm, readonly abi: AbiDefinition, readonly strategy: Strategy) {
    this.n = names(abi);
  }

  /** Whether `trap()` needs a scratch register (hcpage: the call target). */
  needsScratch(conv: CallingConvention): boolean {
    return conv.trap === 'hcpage' && this.strategy === 'hcpage';
  }

  /**
   * The trap for one call. `nr` is the static hypercall number (Xen page slot nr*32); `scratch` is a register
   * the convention does not use.
   */
  trap(conv: CallingConvention, nr: number, scratch?: Reg): void {
    const a = this.a;
    if (conv.trap === 'port') {
      // VMware LB backdoor: `in eax, dx` with DX = 0x5658 (asm/vmware.h VMWARE_HYPERCALL port form).
      a.in(reg('eax'), reg('dx'));
      return;
    }
    if (conv.trap === 'hcpage' && this.strategy === 'hcpage') {
      if (!scratch) throw new Error('internal: hcpage trap without a scratch register');
      const s = regOf(scratch.num, a.bits);
      const slot = pageStyle(this.abi).slotSize * nr;
      a.mov(s, dataRef(a, this.n.hcpageVar));
      if (slot) a.add(s, slot);
      a.call(s);
      return;
    }
    switch (this.strategy) {
      case 'hcpage': // a direct convention under hcpage cannot happen (conventionsFor), keep the compiler honest
      case 'host-patch':
        a.vmcall({ patchSite: true });
        return;
      case 'guest-patch': {
        const l = `${this.n.prefix}_site_${this.sites.length}`;
        this.sites.push(l);
        a.label(l).vmcall({ patchSite: true });
        return;
      }
      case 'dispatch': {
        this.usedDispatch = true;
        const flag = byte(dataRef(a, this.n.vendorFlag));
        const ready = a.newLabel('ready'), amd = a.newLabel('amd'), done = a.newLabel('done');
        a.cmp(flag, 0).jcc('ne', ready).call(local(this.n.dispatchInit));
        a.label(ready).cmp(flag, VENDOR.VMMCALL).jcc('e', amd);
        a.vmcall().jmp(done);
        a.label(amd).vmmcall();
        a.label(done);
        return;
      }
    }
  }

  /** Shared routines and data, after every stub. */
  finish(): void {
    const a = this.a;
    if (this.strategy === 'guest-patch') this.emitPatcher();
    if (this.strategy === 'dispatch' || this.usedDispatch) {
      // void init(void): keeps every register (it runs between loading the hypercall registers and the trap).
      const f = this.n.dispatchInit;
      const regs = (a.bits === 64 ? ['rax', 'rcx', 'rdx'] : ['eax', 'ecx', 'edx']).map(reg);
      a.label(local(f)).global(f).label(f);
      for (const r of regs) a.push(r);
      a.call(local(this.n.vendor)).mov(byte(dataRef(a, this.n.vendorFlag)), reg('al'));
      for (const r of [...regs].reverse()) a.pop(r);
      a.ret().endSymbol(f);
      a.section('.data').global(this.n.vendorFlag, 'object').label(this.n.vendorFlag).db(0).endSymbol(this.n.vendorFlag).section('.text');
    }
  }

  /** uint32_t pvkit_patch_hypercalls(void): writes C1 (VMCALL) or D9 (VMMCALL) into byte 2 of every site; returns the count. */
  private emitPatcher(): void {
    const a = this.a;
    const f = this.n.patchAll;
    const w = a.bits === 64;
    const bx = reg(w ? 'rbx' : 'ebx'), si = reg(w ? 'rsi' : 'esi'), dx = reg(w ? 'rdx' : 'edx');
    const ecx = reg('ecx'), eax = reg('eax'), bl = reg('bl');
    const skip = a.newLabel('vm'), loop = a.newLabel('patch'), done = a.newLabel('pdone');
    a.global(f).label(f);
    a.push(bx);
    if (!w) a.push(si);
    a.call(local(this.n.vendor));
    // SDM VMCALL 0F 01 C1, APM VMMCALL 0F 01 D9: only the ModRM byte differs.
    a.mov(bl, 0xc1).cmp(eax, VENDOR.VMMCALL).jcc('ne', skip).mov(bl, 0xd9).label(skip);
    a.mov(ecx, this.sites.length).test(ecx, ecx).jcc('z', done);
    if (w) a.lea(si, mem.rip(this.n.patchTable));
    else a.mov(si, addr(this.n.patchTable));
    a.label(loop).mov(dx, mem(si)).mov(byte(mem(dx, { disp: 2 })), bl).add(si, a.bits / 8).dec(ecx).jcc('nz', loop);
    a.label(done).mov(eax, this.sites.length);
    if (!w) a.pop(si);
    a.pop(bx).ret().endSymbol(f);
    a.section('.rodata').align(a.bits / 8).global(this.n.patchTable, 'object').label(this.n.patchTable);
    if (this.sites.length === 0) a.dd(0);
    for (const s of this.sites) (w ? a.dq(s) : a.dd(s));
    a.endSymbol(this.n.patchTable).section('.text');
  }

  get siteCount(): number {
    return this.sites.length;
  }
}
