// System-ish instructions: CPUID, RDMSR/WRMSR, RDTSC, VMCALL/VMMCALL (with lazy #UD patching, ABI-FACTS §1.3),
// HLT, flag instructions, PUSHF/POPF, LAHF/SAHF, INT3/INT n, CLI/STI.
import { VMCALL_BYTES, VMMCALL_BYTES } from '@pvkit/shared-abi';
import type { Exec } from './cache.js';
import type { Vcpu } from './vcpu.js';
import { AC, AF, CF, DF, ID, IF, IOPL_MASK, NT, OF, PF, SF, TF, ZF } from './alu.js';
import { Fault, gp, ud } from './fault.js';
import { defaultCpuid } from './cpuid-default.js';
import { push, peek, addRsp } from './ops-flow.js';
import type { Exit, HypercallInsn } from '../exits.js';

/** Architectural MSRs the bare vCPU implements (SDM Vol. 4 Table 2-2). */
export const MSR_TSC = 0x10; // IA32_TIME_STAMP_COUNTER
export const MSR_EFER = 0xc0000080; // IA32_EFER
export const MSR_FS_BASE = 0xc0000100; // IA32_FS_BASE
export const MSR_GS_BASE = 0xc0000101; // IA32_GS_BASE
export const MSR_KERNEL_GS_BASE = 0xc0000102; // IA32_KERNEL_GS_BASE
export const MSR_TSC_AUX = 0xc0000103; // IA32_TSC_AUX
/** The native instruction bytes the #UD patcher writes (ABI-FACTS §1.3); writeBytes copies them. */
const VMCALL_U8 = Uint8Array.from(VMCALL_BYTES);
const VMMCALL_U8 = Uint8Array.from(VMMCALL_BYTES);
/** EFER.LME bit 8, LMA bit 10 (SDM Vol. 3A 2.2.1). */
const EFER_LONG = (1n << 8n) | (1n << 10n);

function setEdxEax(c: Vcpu, v: bigint): void {
  c.setR(0, 4, Number(v & 0xffffffffn), 0);
  c.setR(2, 4, Number((v >> 32n) & 0xffffffffn), 0);
}

export function cpuid(): Exec {
  return (c) => {
    const leaf = c.lo[0]!, sub = c.lo[1]!;
    // Completions exist only after a Cpuid exit was answered: skip building the lookup key otherwise.
    let r = c.completions.length === 0 ? undefined : c.takeCpuid(leaf, sub);
    if (r === undefined) {
      const hook = c.env.hooks?.cpuid;
      if (hook !== undefined) {
        r = hook.call(c.env.hooks, c, leaf, sub);
        if (r !== undefined) c.env.record?.({ kind: 'Cpuid', vcpu: c.id, rip: BigInt(c.curIp), leaf, subleaf: sub });
      } else r = defaultCpuid(c.vendor, leaf, sub, c.env.hooks !== undefined);
    }
    if (r === undefined) return c.needCompletion({ kind: 'Cpuid', vcpu: c.id, rip: BigInt(c.curIp), leaf, subleaf: sub });
    // 32-bit results zero-extend (SDM "CPUID": the upper halves of RAX/RBX/RCX/RDX are cleared).
    const lo = c.lo, hi = c.hi;
    lo[0] = r.eax; hi[0] = 0;
    lo[3] = r.ebx; hi[3] = 0;
    lo[1] = r.ecx; hi[1] = 0;
    lo[2] = r.edx; hi[2] = 0;
  };
}

function builtinRdmsr(c: Vcpu, index: number): bigint | undefined {
  switch (index) {
    case MSR_TSC: return BigInt(c.icount);
    case MSR_EFER: return c.mode64 ? EFER_LONG : 0n;
    case MSR_FS_BASE: return (BigInt(c.fsHi) << 32n) | BigInt(c.fsLo);
    case MSR_GS_BASE: return (BigInt(c.gsHi) << 32n) | BigInt(c.gsLo);
    case MSR_KERNEL_GS_BASE: return c.kernelGsBase;
    case MSR_TSC_AUX: return c.tscAux;
    default: return undefined;
  }
}

function canonical(v: bigint): boolean {
  const top = v >> 47n;
  return top === 0n || top === 0x1ffffn;
}

function builtinWrmsr(c: Vcpu, index: number, v: bigint): 'ok' | 'gp' | undefined {
  switch (index) {
    case MSR_FS_BASE: case MSR_GS_BASE: {
      if (!canonical(v)) return 'gp';
      const lo = Number(v & 0xffffffffn), hi = Number(v >> 32n);
      if (index === MSR_FS_BASE) { c.fsLo = lo; c.fsHi = hi; } else { c.gsLo = lo; c.gsHi = hi; }
      return 'ok';
    }
    case MSR_KERNEL_GS_BASE:
      if (!canonical(v)) return 'gp';
      c.kernelGsBase = v;
      return 'ok';
    case MSR_TSC_AUX: c.tscAux = v & 0xffffffffn; return 'ok';
    case MSR_EFER: return v === (c.mode64 ? EFER_LONG : 0n) ? 'ok' : 'gp';
    default: return undefined;
  }
}

export function rdmsr(): Exec {
  return (c) => {
    if (c.cpl !== 0) throw gp('RDMSR at CPL 3');
    const index = c.lo[1]!;
    const done = c.completions.length === 0 ? undefined : c.takeCompletion(`msr:${index}`);
    if (done !== undefined) {
      setEdxEax(c, (BigInt(done.hi) << 32n) | BigInt(done.lo));
      return;
    }
    const hooks = c.env.hooks;
    const h = hooks?.rdmsr?.call(hooks, c, index);
    if (h === 'gp') throw gp(`RDMSR 0x${index.toString(16)} refused`);
    if (h !== undefined) c.env.record?.({ kind: 'Rdmsr', vcpu: c.id, rip: BigInt(c.curIp), index });
    const v = h ?? builtinRdmsr(c, index);
    if (v === undefined) {
      if (hooks?.rdmsr !== undefined) c.needCompletion({ kind: 'Rdmsr', vcpu: c.id, rip: BigInt(c.curIp), index });
      throw gp(`RDMSR of unknown MSR 0x${index.toString(16)}`);
    }
    setEdxEax(c, BigInt.asUintN(64, v));
  };
}

export function wrmsr(): Exec {
  return (c) => {
    if (c.cpl !== 0) throw gp('WRMSR at CPL 3');
    const index = c.lo[1]!;
    const value = (BigInt(c.lo[2]!) << 32n) | BigInt(c.lo[0]!);
    const hooks = c.env.hooks;
    let r = hooks?.wrmsr?.call(hooks, c, index, value);
    if (r === undefined) r = builtinWrmsr(c, index, value);
    if (r === 'gp') throw gp(`WRMSR 0x${index.toString(16)} <- 0x${value.toString(16)} refused`);
    if (r === 'ok') {
      c.env.record?.({ kind: 'Wrmsr', vcpu: c.id, rip: BigInt(c.curIp), index, value });
      return;
    }
    if (hooks?.wrmsr !== undefined) {
      c.raiseExit({ kind: 'Wrmsr', vcpu: c.id, rip: BigInt(c.curIp), index, value });
      return;
    }
    throw gp(`WRMSR of unknown MSR 0x${index.toString(16)}`);
  };
}

/** RDTSC: the deterministic TSC is the count of retired instructions (CR4.TSD not modelled). */
export function rdtsc(withAux: boolean): Exec {
  return (c) => {
    setEdxEax(c, BigInt(c.icount));
    if (withAux) c.setR(1, 4, Number(c.tscAux), 0);
  };
}

/**
 * VMCALL (0F 01 C1) / VMMCALL (0F 01 D9). The vendor lacking the instruction raises #UD; with
 * fixHypercallInsn the host rewrites the 3 bytes at RIP to the native instruction through the memory write
 * path (every vCPU's decode of the page is dropped) and re-executes without advancing RIP (ABI-FACTS §1.3).
 */
export function hypercall(insn: HypercallInsn): Exec {
  return (c) => {
    const native: HypercallInsn = c.vendor === 'intel' ? 'vmcall' : 'vmmcall';
    if (insn !== native) {
      if (!c.env.fixHypercallInsn) throw ud(`${insn.toUpperCase()} on an ${c.vendor === 'intel' ? 'Intel' : 'AMD'} vCPU (fix-hypercall quirk off)`);
      const bytes = native === 'vmcall' ? VMCALL_U8 : VMMCALL_U8;
      try {
        c.mem.writeBytes(c.curIp, bytes);
      } catch {
        throw new Fault(14, `patching the hypercall at 0x${c.curIp.toString(16)}: not writable RAM`, 2, BigInt(c.curIp));
      }
      c.env.notePatch(c.curIp);
      c.env.record?.({
        kind: 'Exception', vcpu: c.id, rip: BigInt(c.curIp), vector: 6, insn: insn,
        message: `#UD on ${insn}: patched to ${native} (fix-hypercall quirk)`,
      });
      c.nextIp = c.curIp;
      return;
    }
    const hooks = c.env.hooks;
    // The exit object is built only when it leaves the vCPU or a trace records it (env.record).
    if (hooks?.hypercall?.call(hooks, c, insn) === 'handled') {
      c.env.record?.(hypercallExit(c, insn));
      return;
    }
    c.raiseExit(hypercallExit(c, insn));
  };
}

function hypercallExit(c: Vcpu, insn: HypercallInsn): Exit {
  return { kind: 'Hypercall', vcpu: c.id, rip: BigInt(c.curIp), insn, bits: c.mode64 ? 64 : 32, cpl: c.cpl };
}

export function hlt(): Exec {
  return (c) => {
    if (c.cpl !== 0) throw gp('HLT at CPL 3');
    c.halted = true;
    c.raiseExit({ kind: 'Hlt', vcpu: c.id, rip: BigInt(c.curIp) });
  };
}

/** INT3 / INT n: trap-like Exception exits (no IDT delivery in this engine); RIP moves past the instruction. */
export function softInt(vector: number, text: string): Exec {
  return (c) => {
    c.raiseExit({
      kind: 'Exception', vcpu: c.id, rip: BigInt(c.curIp), vector, insn: text,
      message: vector === 3 ? 'breakpoint (INT3)' : `software interrupt INT 0x${vector.toString(16)}`,
    });
  };
}

export function flagOp(op: number): Exec {
  switch (op) {
    case 0xf5: return (c) => { c.fl ^= CF; };
    case 0xf8: return (c) => { c.fl &= ~CF; };
    case 0xf9: return (c) => { c.fl |= CF; };
    case 0xfc: return (c) => { c.fl &= ~DF; };
    case 0xfd: return (c) => { c.fl |= DF; };
    default: { // FA CLI / FB STI: CPL > IOPL -> #GP(0) (SDM "CLI", protected mode, no VME/PVI)
      const set = op === 0xfb;
      return (c) => {
        if (c.cpl > ((c.fl & IOPL_MASK) >>> 12)) throw gp(`${set ? 'STI' : 'CLI'} at CPL ${c.cpl}`);
        if (set) c.fl |= IF; else c.fl &= ~IF;
      };
    }
  }
}

/** PUSHF: RF (bit 16) and VM (bit 17) are pushed as 0 (SDM "PUSHF"). */
export function pushf(osz: number): Exec {
  return (c) => push(c, osz, osz === 2 ? c.fl & 0xffff : c.fl & 0xfcffff, 0);
}

/** POPF: at CPL 0 all of these change; at CPL 3 IOPL and IF stay (SDM "POPF" protected mode, IOPL < 3). */
export function popf(osz: number): Exec {
  return (c) => {
    const v = peek(c, osz);
    addRsp(c, osz);
    let mask = CF | PF | AF | ZF | SF | TF | DF | OF | NT | (osz === 2 ? 0 : AC | ID);
    if (c.cpl === 0) mask |= IOPL_MASK | IF;
    else if (c.cpl <= ((c.fl & IOPL_MASK) >>> 12)) mask |= IF;
    c.fl = ((c.fl & ~mask) | (v & mask) | 2) >>> 0;
  };
}

/** LAHF/SAHF (9F/9E): AH <-> SF:ZF:0:AF:0:PF:1:CF. */
export function lahfSahf(store: boolean): Exec {
  const m = SF | ZF | AF | PF | CF;
  if (store) return (c) => { c.fl = (c.fl & ~m) | (c.getR(16, 1) & m); };
  return (c) => c.setR(16, 1, (c.fl & m) | 2, 0);
}

export function privileged(name: string): Exec {
  return (c) => { if (c.cpl !== 0) throw gp(`${name} at CPL 3`); };
}
