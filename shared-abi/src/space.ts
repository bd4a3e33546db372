// Hypercall number spaces per ABI, collision checks when ABIs share a vCPU, and the combined CPUID layout.
//
// A call is a register state at a trap (VMCALL/VMMCALL, or an I/O port access). Each ABI constrains some
// registers: its selector (`space`: register, mask, lo..hi) and the `fixed` registers of its conventions
// (VMware: EAX = magic, DX = port). Two ABIs are told apart by the registers only if some register both
// constrain has disjoint allowed values; otherwise a host must route by configuration, as KVM does:
// Xen hypercall interception configured -> Xen, Hyper-V hypercall MSR enabled -> Hyper-V, else KVM
// (arch/x86/kvm/x86.c kvm_emulate_hypercall; ABI-FACTS §1.2).
import type { AbiDefinition, CallingConvention, Gpr, Gpr64, Slot } from './types.js';
import { AbiError, type Problem } from './errors.js';
import { HYPERVISOR_CPUID_SCAN } from './cpuid.js';

/** Allowed values of one register: (reg & mask) in lo..hi. */
export interface RegConstraint {
  readonly reg: Gpr64;
  readonly mask: bigint;
  readonly lo: bigint;
  readonly hi: bigint;
  /** `selector`, or the reason of a fixed value. */
  readonly what: string;
}

/** One ABI's calls in one mode at one trap ('hcpage' counts as 'hypercall': the page itself executes VMCALL). */
export interface SpaceEntry {
  readonly abi: string;
  readonly bits: 64 | 32;
  readonly trap: 'hypercall' | 'port';
  readonly conventions: readonly string[];
  /** The selector constraint, when the ABI's `space` applies to this trap. */
  readonly selector?: RegConstraint;
  /** Selector plus fixed-register constraints shared by every convention of the group. */
  readonly constraints: readonly RegConstraint[];
  readonly discriminator?: string;
  readonly source: string;
}

const M64 = (1n << 64n) - 1n;
const R32: Record<string, Gpr64> = {
  eax: 'rax', ebx: 'rbx', ecx: 'rcx', edx: 'rdx', esi: 'rsi', edi: 'rdi', ebp: 'rbp', esp: 'rsp',
};

function reg64(r: Gpr | 'dx'): { reg: Gpr64; mask: bigint } {
  if (r === 'dx') return { reg: 'rdx', mask: 0xffffn };
  const w = R32[r];
  return w ? { reg: w, mask: 0xffffffffn } : { reg: r as Gpr64, mask: M64 };
}

/** The register a convention's number lives in: a hi:lo pair selects through its low half (Hyper-V x86 EDX:EAX). */
function selectorReg(c: CallingConvention, fallback: Gpr64): Gpr64 {
  const n: Slot = c.number;
  return typeof n === 'object' ? reg64(n.lo).reg : fallback;
}

const isLowMask = (m: bigint): boolean => m > 0n && (m & (m + 1n)) === 0n;

/** Every (ABI, mode, trap) group with its register constraints. */
export function hypercallSpaces(abis: readonly AbiDefinition[]): SpaceEntry[] {
  const out: SpaceEntry[] = [];
  for (const abi of abis) {
    const groups = new Map<string, CallingConvention[]>();
    for (const c of abi.conventions) {
      const trap = c.trap === 'port' ? 'port' : 'hypercall';
      const k = `${c.bits}/${trap}`;
      groups.set(k, [...(groups.get(k) ?? []), c]);
    }
    for (const [k, convs] of groups) {
      const [bitsS, trap] = k.split('/') as [string, 'hypercall' | 'port'];
      const bits = Number(bitsS) as 64 | 32;
      const spaceTrap = abi.space.trap === 'port' ? 'port' : 'hypercall';
      const first = convs[0] as CallingConvention;
      const selector: RegConstraint | undefined = spaceTrap === trap ? {
        reg: selectorReg(first, abi.space.selector), mask: BigInt(abi.space.mask),
        lo: BigInt(abi.space.lo), hi: BigInt(abi.space.hi), what: 'selector',
      } : undefined;
      // Fixed values count only if every convention of the group sets them.
      const fixedOf = (c: CallingConvention) => (c.fixed ?? []).map((f) => ({ ...reg64(f.reg), value: BigInt(f.value), why: f.why }));
      const common = fixedOf(first).filter((f) => convs.every((c) => fixedOf(c).some((g) => g.reg === f.reg && g.mask === f.mask && g.value === f.value)));
      const constraints: RegConstraint[] = [...(selector ? [selector] : [])];
      for (const f of common) {
        const c = { reg: f.reg, mask: f.mask, lo: f.value & f.mask, hi: f.value & f.mask, what: `fixed: ${f.why}` };
        if (!constraints.some((x) => x.reg === c.reg && x.mask === c.mask && x.lo === c.lo && x.hi === c.hi)) constraints.push(c);
      }
      out.push({
        abi: abi.name, bits, trap, conventions: convs.map((c) => c.id), constraints, source: abi.space.source,
        ...(selector ? { selector } : {}), ...(abi.space.discriminator ? { discriminator: abi.space.discriminator } : {}),
      });
    }
  }
  return out;
}

type Interval = readonly [bigint, bigint];

/** Values of (r & small mask) common to both constraints on the same register; masks must be nested low masks. */
export function intersectConstraints(a: RegConstraint, b: RegConstraint): Interval[] {
  const [s, l] = a.mask <= b.mask ? [a, b] : [b, a];
  const m = s.mask;
  let proj: Interval[];
  if (l.hi - l.lo >= m) proj = [[0n, m]];
  else {
    const x = l.lo & m;
    const y = l.hi & m;
    proj = x <= y ? [[x, y]] : [[x, m], [0n, y]];
  }
  const sHi = s.hi < m ? s.hi : m;
  const out: Interval[] = [];
  for (const [p, q] of proj) {
    const lo = p > s.lo ? p : s.lo;
    const hi = q < sHi ? q : sHi;
    if (lo <= hi) out.push([lo, hi]);
  }
  return out.sort((u, v) => (u[0] < v[0] ? -1 : 1));
}

const hx = (v: bigint): string => `0x${v.toString(16)}`;
const showRanges = (r: readonly Interval[]): string => r.map(([a, b]) => (a === b ? hx(a) : `${hx(a)}..${hx(b)}`)).join(', ');
const showC = (c: RegConstraint): string => `${c.reg}&${hx(c.mask)} in ${c.lo === c.hi ? hx(c.lo) : `${hx(c.lo)}..${hx(c.hi)}`}`;

export interface CollisionOptions {
  /**
   * Also report pairs whose selectors are different registers with no register constraining both (e.g. Hyper-V
   * x64 control word in RCX vs KVM's RAX): every call of one is then a well-formed call of the other.
   */
  readonly crossRegister?: boolean;
}

/**
 * Pairs of ABIs whose calls cannot be told apart by register values on the same trap and mode. By default only
 * pairs that constrain a common register (the same selector register, with masks) are reported.
 */
export function checkSpaceCollisions(abis: readonly AbiDefinition[], opts: CollisionOptions = {}): Problem[] {
  const problems: Problem[] = [];
  abis.forEach((abi, i) => {
    const s = abi.space;
    const at = `abis[${i}](${abi.name}).space`;
    if (!Number.isSafeInteger(s.mask) || !isLowMask(BigInt(s.mask))) problems.push({ path: `${at}.mask`, value: s.mask, message: 'mask must be contiguous low bits (2^k - 1)' });
    if (!Number.isSafeInteger(s.lo) || !Number.isSafeInteger(s.hi) || s.lo < 0 || s.lo > s.hi || BigInt(s.hi) > BigInt(s.mask)) {
      problems.push({ path: at, value: { lo: s.lo, hi: s.hi, mask: s.mask }, message: 'need 0 <= lo <= hi <= mask' });
    }
  });
  if (problems.length) return problems;
  const entries = hypercallSpaces(abis);
  for (let i = 0; i < entries.length; i++) {
    for (let j = i + 1; j < entries.length; j++) {
      const a = entries[i] as SpaceEntry;
      const b = entries[j] as SpaceEntry;
      if (a.abi === b.abi || a.bits !== b.bits || a.trap !== b.trap) continue;
      const shared: { reg: Gpr64; ca: RegConstraint; cb: RegConstraint; both: Interval[] }[] = [];
      let disjoint = false;
      for (const ca of a.constraints) {
        for (const cb of b.constraints) {
          if (ca.reg !== cb.reg) continue;
          const both = intersectConstraints(ca, cb);
          if (both.length === 0) disjoint = true;
          shared.push({ reg: ca.reg, ca, cb, both });
        }
      }
      if (disjoint) continue;
      const where = `${a.abi}/${b.abi}: ${a.bits}-bit ${a.trap}`;
      const disc = `Discriminators - ${a.abi}: ${a.discriminator ?? 'none'}; ${b.abi}: ${b.discriminator ?? 'none'}.`;
      const routing = 'The registers cannot tell these calls apart; a host must route by configuration, as KVM does (Xen hypercall interception configured -> Xen, Hyper-V hypercall MSR enabled -> Hyper-V, else KVM; ABI-FACTS §1.2).';
      if (shared.length > 0) {
        const sel = shared.find((x) => x.ca.what === 'selector' || x.cb.what === 'selector') ?? shared[0];
        if (!sel) continue;
        problems.push({
          path: `${where} (${sel.reg})`,
          value: { [a.abi]: showC(sel.ca), [b.abi]: showC(sel.cb), overlap: showRanges(sel.both) },
          message: `${a.abi} and ${b.abi} overlap on ${sel.reg} at ${showRanges(sel.both)} (low ${hx(sel.ca.mask < sel.cb.mask ? sel.ca.mask : sel.cb.mask)} bits; ${a.abi}: ${showC(sel.ca)}, ${b.abi}: ${showC(sel.cb)}). ${disc} ${routing}`,
        });
      } else if (opts.crossRegister) {
        const sa = a.selector ? showC(a.selector) : 'no selector';
        const sb = b.selector ? showC(b.selector) : 'no selector';
        problems.push({
          path: `${where} (${a.selector?.reg ?? '-'} vs ${b.selector?.reg ?? '-'})`,
          value: { [a.abi]: sa, [b.abi]: sb },
          message: `${a.abi} (${sa}) and ${b.abi} (${sb}) select on different registers and share no constrained register, so every call of one is also a well-formed call of the other. ${disc} ${routing}`,
        });
      }
    }
  }
  return problems;
}

// ---- combined CPUID layout ---------------------------------------------------------------------------------

export interface CpuidPlacement {
  readonly abi: AbiDefinition;
  readonly base: number;
}
export interface CpuidLayoutEntry {
  readonly abi: string;
  readonly base: number;
  readonly first: number;
  readonly last: number;
}

/** Problems of placing several ABIs' CPUID leaves side by side (empty when the layout works). */
export function checkCpuidLayout(list: readonly CpuidPlacement[]): Problem[] {
  const problems: Problem[] = [];
  list.forEach(({ abi, base }, i) => {
    const at = `[${i}](${abi.name}).base`;
    const { first, last, step } = HYPERVISOR_CPUID_SCAN;
    if (abi.cpuid.detection === 'fixed' && base !== abi.cpuid.defaultBase) {
      problems.push({ path: at, value: base, message: `${abi.name} guests only look at ${hx(BigInt(abi.cpuid.defaultBase))} (detection 'fixed')` });
    } else if (!Number.isInteger(base) || base < first || base > last || (base - first) % step !== 0) {
      problems.push({ path: at, value: base, message: `not a base the Linux scan visits (${hx(BigInt(first))}..${hx(BigInt(last))} step ${hx(BigInt(step))})` });
    }
  });
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      const a = list[i] as CpuidPlacement;
      const b = list[j] as CpuidPlacement;
      const [a0, a1] = [a.base, a.base + a.abi.cpuid.maxLeafOffset];
      const [b0, b1] = [b.base, b.base + b.abi.cpuid.maxLeafOffset];
      if (a.base === b.base) {
        problems.push({ path: `[${i}](${a.abi.name}).base / [${j}](${b.abi.name}).base`, value: a.base, message: `${a.abi.name} and ${b.abi.name} both at ${hx(BigInt(a.base))}` });
      } else if (a0 <= b1 && b0 <= a1) {
        problems.push({
          path: `[${i}](${a.abi.name}) / [${j}](${b.abi.name})`, value: { [a.abi.name]: [a0, a1], [b.abi.name]: [b0, b1] },
          message: `leaves ${hx(BigInt(Math.max(a0, b0)))}..${hx(BigInt(Math.min(a1, b1)))} claimed by both ${a.abi.name} and ${b.abi.name}`,
        });
      }
    }
  }
  return problems;
}

/** The combined layout sorted by base; throws AbiError listing every conflict. */
export function combinedCpuidLayout(list: readonly CpuidPlacement[]): CpuidLayoutEntry[] {
  const problems = checkCpuidLayout(list);
  if (problems.length) throw new AbiError(problems);
  return list
    .map(({ abi, base }) => ({ abi: abi.name, base, first: base, last: base + abi.cpuid.maxLeafOffset }))
    .sort((x, y) => x.base - y.base);
}
