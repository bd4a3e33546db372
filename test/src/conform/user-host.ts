// A data-driven test host for user ABIs (JSON files): no hand-written personality exists for them, so the
// suite answers their CPUID leaves from the ABI data (signature leaf EAX = base + maxLeafOffset; every feature
// bit the ABI defines set) and echoes each of their hypercalls: the number, read from the convention's number
// register, comes back in its first result register. That checks the stubs' register use against the ABI data
// (instruction, number and result registers) without inventing semantics. Other leaves/calls go to `inner`.
import { signatureToRegs, type AbiDefinition, type Slot } from '@pvkit/shared-abi';
import { conventionsFor } from '@pvkit/guest-sdk';
import { defaultCpuid, type CpuidResult, type GprName, type HypervisorHooks, type VcpuApi } from '@pvkit/host';

const R64: Record<string, GprName> = { eax: 'rax', ebx: 'rbx', ecx: 'rcx', edx: 'rdx', esi: 'rsi', edi: 'rdi', ebp: 'rbp', r8d: 'r8', r9d: 'r9', r10d: 'r10', r11d: 'r11' };
const gpr = (n: string): GprName => (R64[n] ?? n) as GprName;

function readSlot(v: VcpuApi, s: Slot, bits: 64 | 32): bigint {
  if (typeof s !== 'string') return ((v.getReg(gpr(s.hi)) & 0xffffffffn) << 32n) | (v.getReg(gpr(s.lo)) & 0xffffffffn);
  const x = v.getReg(gpr(s));
  return bits === 32 || s.startsWith('e') ? x & 0xffffffffn : x;
}

function writeSlot(v: VcpuApi, s: Slot, val: bigint): void {
  if (typeof s !== 'string') {
    v.setReg(gpr(s.lo), val & 0xffffffffn);
    v.setReg(gpr(s.hi), (val >> 32n) & 0xffffffffn);
  } else v.setReg(gpr(s), val);
}

export function userAbiCpuid(abi: AbiDefinition, base: number, leaf: number): CpuidResult | undefined {
  const off = leaf - base;
  if (off < 0 || off > abi.cpuid.maxLeafOffset) return undefined;
  const r: CpuidResult = { eax: 0, ebx: 0, ecx: 0, edx: 0 };
  if (off === 0) {
    const s = signatureToRegs(abi.cpuid.signature);
    Object.assign(r, { eax: base + abi.cpuid.maxLeafOffset, ebx: s.ebx, ecx: s.ecx, edx: s.edx });
  }
  for (const f of abi.features) if (f.leaf === off) r[f.reg] = (r[f.reg] | (1 << f.bit)) >>> 0;
  return r;
}

export function userAbiHooks(users: readonly { abi: AbiDefinition; base: number }[], inner: HypervisorHooks | undefined): HypervisorHooks {
  return {
    ...inner,
    cpuid(v, leaf, sub) {
      for (const u of users) {
        const r = userAbiCpuid(u.abi, u.base, leaf);
        if (r) return r;
      }
      // Otherwise the personalities' answer, or the engine's CPU model with CPUID.1:ECX[31] set (ABI-FACTS §2).
      return inner?.cpuid?.(v, leaf, sub) ?? defaultCpuid(v.vendor, leaf, sub, true);
    },
    hypercall(v, insn) {
      const bits = v.mode === 'long64' ? 64 : 32;
      for (const u of users) {
        for (const c of conventionsFor(u.abi, 'dispatch', bits)) {
          if (c.trap !== 'hypercall') continue;
          const nr = readSlot(v, c.number, bits);
          if (!u.abi.hypercalls.some((h) => BigInt(h.nr) === nr)) continue;
          if (c.results[0] !== undefined) writeSlot(v, c.results[0], nr);
          return 'handled';
        }
      }
      return inner?.hypercall?.(v, insn);
    },
  };
}
