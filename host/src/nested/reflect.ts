// The L2 VM's hooks and I/O router: each L2 exit is reflected to L1 and its decision carried out against L0
// (its personalities for CPUID / MSR / hypercalls, its device buses for port I/O and MMIO).
import type { IoRouter, IoSize, MmioSize } from '../bus/types.js';
import type { CpuidResult, GprName, HypervisorHooks, VcpuApi } from '../cpu/types.js';
import { GPR_NAMES } from '../cpu/types.js';
import type { HypercallInsn } from '../exits.js';
import { Vcpu } from '../cpu/vcpu.js';
import { guestFault, repeatInstruction } from '../hypervisor/common.js';
import type { NestedMachine } from './machine.js';
import { nativeInsn } from './machine.js';
import type { Hop, L1Decision, L2Exit, NestedRoute } from './types.js';

const h = (v: number | bigint): string => `0x${v.toString(16)}`;

function engineVcpu(v: VcpuApi): Vcpu {
  if (!(v instanceof Vcpu)) throw new TypeError('nested: hooks need the engine Vcpu');
  return v;
}

function invalid(m: NestedMachine, d: L1Decision, exit: L2Exit, allowed: string): never {
  throw new TypeError(`L1 ${m.l1.name}: decision ${JSON.stringify(d.action)} is not valid for a ${exit.kind} exit (${allowed})`);
}

function sameKind<K extends L2Exit['kind']>(m: NestedMachine, exit: L2Exit, kind: K): Extract<L2Exit, { kind: K }> {
  if (exit.kind !== kind) throw new TypeError(`L1 ${m.l1.name}: translate of a ${kind} exit must reissue a ${kind} exit, got ${exit.kind}`);
  return exit as Extract<L2Exit, { kind: K }>;
}

function writeRegs(v: VcpuApi, regs: Partial<Record<GprName, bigint>> | undefined): string {
  if (regs === undefined) return '';
  for (const [r, x] of Object.entries(regs)) v.setReg(r as GprName, x as bigint);
  return Object.entries(regs).map(([r, x]) => `${r}=${h(x as bigint)}`).join(' ');
}

/** L2's vCPU as L0 sees it for a translated call: some argument registers overridden until L0 writes them. */
function overridden(v: Vcpu, regs: Partial<Record<GprName, bigint>>): VcpuApi {
  const ov = new Map<number, bigint>();
  for (const [r, x] of Object.entries(regs)) ov.set(GPR_NAMES.indexOf(r as GprName), x as bigint);
  const idx = (r: GprName | number): number => (typeof r === 'number' ? r : GPR_NAMES.indexOf(r));
  return {
    id: v.id, vendor: v.vendor, mode: v.mode, cpl: v.cpl,
    get rip() { return v.rip; },
    set rip(x: bigint) { v.rip = x; },
    get rflags() { return v.rflags; },
    set rflags(x: bigint) { v.rflags = x; },
    getReg: (r) => ov.get(idx(r)) ?? v.getReg(r),
    setReg: (r, x) => {
      ov.delete(idx(r));
      v.setReg(r, x);
    },
    // Number access sees the same overrides (the value as getReg gives it, split into halves).
    getReg32: (i) => {
      const o = ov.get(i);
      return o === undefined ? v.getReg32(i) : Number(BigInt.asUintN(32, o));
    },
    getRegHi: (i) => {
      const o = ov.get(i);
      return o === undefined ? v.getRegHi(i) : Number(BigInt.asUintN(64, o) >> 32n);
    },
    setRegParts: (i, lo, hi) => {
      v.setRegParts(i, lo, hi);
      ov.delete(i);
    },
  };
}

/** CPUID, MSRs and hypercalls of L2. */
export class NestedHooks implements HypervisorHooks {
  constructor(private readonly m: NestedMachine) {}

  cpuid(api: VcpuApi, leaf: number, subleaf: number): CpuidResult {
    const v = engineVcpu(api);
    const exit: L2Exit = { kind: 'cpuid', leaf: leaf >>> 0, subleaf: subleaf >>> 0 };
    return this.m.account(v, exit, (hops, route) => {
      hops.push({ from: 'L2', to: 'L0', note: 'CPUID exit' }, { from: 'L0', to: 'L1', note: 'reflected' });
      const d = this.m.reflect(v, exit);
      switch (d.action) {
        case 'handle':
          if (d.cpuid === undefined) throw new TypeError(`L1 ${this.m.l1.name}: 'handle' of a cpuid exit needs \`cpuid\``);
          this.m.counters.add('cpuid');
          hops.push({ from: 'L1', to: 'L2', note: 'answered by L1' });
          return d.cpuid;
        case 'forward':
        case 'translate': {
          const to = d.action === 'forward' ? exit : sameKind(this.m, d.to, 'cpuid');
          route(d.action === 'forward' ? 'l1-forward' : 'l1-translate');
          hops.push({ from: 'L1', to: 'L0', note: d.action === 'forward' ? 'forwarded' : `leaf ${h(to.leaf)}` }, { from: 'L0', to: 'L2', note: 'L0 personality answer' });
          return this.m.l0Cpuid(v, to.leaf, to.subleaf);
        }
        case 'inject':
          route('l1-inject');
          hops.push({ from: 'L1', to: 'L2', note: `exception ${d.vector}` });
          this.m.counters.add('cpuid');
          return guestFault(d.vector, d.message ?? `L1 ${this.m.l1.name} injected vector ${d.vector} on CPUID`);
        default:
          return invalid(this.m, d, exit, 'handle | forward | translate | inject');
      }
    });
  }

  rdmsr(api: VcpuApi, index: number): bigint | 'gp' | undefined {
    const v = engineVcpu(api);
    const exit: L2Exit = { kind: 'rdmsr', index: index >>> 0 };
    const r = this.m.account(v, exit, (hops, route) => this.msr(v, exit, hops, route, (i) => this.m.l0Hooks?.rdmsr(v, i)));
    return r === 'ok' ? undefined : r;
  }

  wrmsr(api: VcpuApi, index: number, value: bigint): 'ok' | 'gp' | undefined {
    const v = engineVcpu(api);
    const exit: L2Exit = { kind: 'wrmsr', index: index >>> 0, value };
    const r = this.m.account(v, exit, (hops, route) => this.msr(v, exit, hops, route, (i, x) => this.m.l0Hooks?.wrmsr(v, i, x ?? value)));
    return r === undefined || r === 'gp' || r === 'ok' ? r : 'ok';
  }

  private msr(
    v: Vcpu, exit: Extract<L2Exit, { kind: 'rdmsr' | 'wrmsr' }>, hops: Hop[], route: (r: NestedRoute) => void,
    l0: (index: number, value?: bigint) => bigint | 'ok' | 'gp' | undefined,
  ): bigint | 'ok' | 'gp' | undefined {
    hops.push({ from: 'L2', to: 'L0', note: `${exit.kind.toUpperCase()} exit` }, { from: 'L0', to: 'L1', note: 'reflected' });
    const d = this.m.reflect(v, exit);
    switch (d.action) {
      case 'handle':
        this.m.counters.add('msr');
        hops.push({ from: 'L1', to: 'L2', note: 'answered by L1' });
        if (exit.kind === 'rdmsr') {
          if (d.value === undefined) throw new TypeError(`L1 ${this.m.l1.name}: 'handle' of an rdmsr exit needs \`value\``);
          return d.value;
        }
        return 'ok';
      case 'forward':
      case 'translate': {
        const to = d.action === 'forward' ? exit : sameKind(this.m, d.to, exit.kind);
        route(d.action === 'forward' ? 'l1-forward' : 'l1-translate');
        hops.push({ from: 'L1', to: 'L0', note: d.action === 'forward' ? 'forwarded' : `index ${h(to.index)}` });
        const r = l0(to.index, to.kind === 'wrmsr' ? to.value : undefined);
        hops.push({ from: 'L0', to: 'L2', note: r === undefined ? 'unclaimed: exit to the user' : r === 'gp' ? '#GP' : 'completed' });
        return r;
      }
      case 'inject':
        route('l1-inject');
        this.m.counters.add('msr');
        hops.push({ from: 'L1', to: 'L2', note: `exception ${d.vector}` });
        return guestFault(d.vector, d.message ?? `L1 ${this.m.l1.name} injected vector ${d.vector} on ${exit.kind.toUpperCase()}`);
      default:
        return invalid(this.m, d, exit, 'handle | forward | translate | inject');
    }
  }

  hypercall(api: VcpuApi, insn: HypercallInsn): 'handled' | undefined {
    const v = engineVcpu(api);
    const exit: L2Exit = { kind: 'hypercall', insn, bits: v.mode === 'long64' ? 64 : 32, cpl: v.cpl, nr: v.getReg('rax') };
    const m = this.m;
    if (m.l1.interceptsHypercall === false) return this.notIntercepted(v, insn);
    return m.account(v, exit, (hops, route) => {
      hops.push({ from: 'L2', to: 'L0', note: `${insn} exit` }, { from: 'L0', to: 'L1', note: 'reflected' });
      const d = m.reflect(v, exit);
      switch (d.action) {
        case 'handle': {
          m.counters.add('hypercall');
          hops.push({ from: 'L1', to: 'L2', note: `handled by L1 ${writeRegs(v, d.regs)}`.trim() });
          return 'handled';
        }
        case 'error':
          route('l1-error');
          m.counters.add('hypercall');
          v.setReg('rax', d.rax);
          hops.push({ from: 'L1', to: 'L2', note: `refused: rax=${h(BigInt.asUintN(64, d.rax))}` });
          return 'handled';
        case 'forward':
        case 'translate': {
          route(d.action === 'forward' ? 'l1-forward' : 'l1-translate');
          const regs = d.action === 'translate' ? (sameKind(m, d.to, 'hypercall'), d.regs) : undefined;
          hops.push({ from: 'L1', to: 'L0', note: d.action === 'forward' ? 'forwarded' : `translated ${Object.entries(regs ?? {}).map(([r, x]) => `${r}=${h(x as bigint)}`).join(' ')}`.trim() });
          const target = regs === undefined ? v : overridden(v, regs);
          const before = new Map(m.l0?.routed ?? []);
          const r = m.l0Hooks?.hypercall(target, insn);
          const who = [...(m.l0?.routed ?? [])].find(([n, c]) => c !== (before.get(n) ?? 0))?.[0] ?? 'nobody';
          hops.push({ from: 'L0', to: 'L2', note: r === 'handled' ? `answered by L0 ${who} rax=${h(v.getReg('rax'))}` : 'unclaimed: Hypercall exit to the user' });
          return r;
        }
        case 'inject':
          route('l1-inject');
          m.counters.add('hypercall');
          hops.push({ from: 'L1', to: 'L2', note: `exception ${d.vector}` });
          return guestFault(d.vector, d.message ?? `L1 ${m.l1.name} injected vector ${d.vector} on ${insn}`);
        default:
          return invalid(m, d, exit, 'handle | error | forward | translate | inject');
      }
    });
  }

  /**
   * L1 does not intercept the native instruction: the hardware raises #UD in L2 and L0 (which intercepts #UD)
   * emulates it. KVM's emulator_fix_hypercall then writes the native instruction, i.e. the same bytes, and
   * restarts: the hang of ABI-FACTS §1.3, reported as a Livelock exit after `livelockAfter` repeats.
   */
  private notIntercepted(v: Vcpu, insn: HypercallInsn): 'handled' {
    const m = this.m;
    return m.account(v, { kind: 'ud-hypercall', insn, gpa: BigInt(v.curIp) }, (hops, route) => {
      route('l0-ud');
      hops.push({ from: 'L2', to: 'L0', note: `#UD on ${insn} (L1 does not intercept it)` });
      if (!m.l0FixHypercallInsn) {
        hops.push({ from: 'L0', to: 'L2', note: '#UD (fix-hypercall quirk off)' });
        return guestFault(6, `${insn} in L2 not intercepted by L1 ${m.l1.name}: #UD`);
      }
      const to = nativeInsn(m.l0Vendor);
      hops.push({ from: 'L0', to: 'L2', note: `fixed ${insn} -> ${to} (same bytes), re-execute` });
      m.patchSite(BigInt(v.curIp), insn, to, 'L0');
      repeatInstruction(v);
      if (m.noteRepeat(v, insn, 1)) v.raiseExit({ kind: 'Shutdown', vcpu: v.id, rip: BigInt(v.curIp), reason: m.pendingLivelock!.message });
      return 'handled';
    });
  }
}

/** Port I/O and MMIO of L2: assigned MMIO goes straight to L0's buses; everything else is reflected to L1. */
export class NestedRouter implements IoRouter {
  constructor(private readonly m: NestedMachine) {}

  private get v(): Vcpu {
    return this.m.vcpu;
  }

  /** The L0 address of an assigned L2 MMIO access, or undefined. */
  private assigned(gpa: bigint, size: number): bigint | undefined {
    for (const a of this.m.l1.assignedMmio ?? []) {
      if (gpa >= a.l2 && gpa + BigInt(size) <= a.l2 + a.length) return a.l0 + (gpa - a.l2);
    }
    return undefined;
  }

  private pioDevice(port: number): string {
    return this.m.l0Router.pio.rangeAt(port)?.device.name ?? 'no device';
  }

  private mmioDevice(gpa: bigint): string {
    return this.m.l0Router.mmio.rangeAt(gpa)?.device.name ?? 'no device';
  }

  pioRead(port: number, size: IoSize): number | undefined {
    const exit: L2Exit = { kind: 'pio-read', port, size };
    return this.io(exit, (e, hops) => {
      const r = this.m.l0Router.pioRead(e.port, e.size);
      hops.push({ from: 'L0', to: 'device', note: `${this.pioDevice(e.port)} port ${h(e.port)}${r === undefined ? ' unclaimed' : ` -> ${h(r)}`}` });
      return r;
    }, (d) => Number(d.value ?? 0xffffffffn) & (size === 4 ? 0xffffffff : (1 << (8 * size)) - 1));
  }

  pioWrite(port: number, size: IoSize, value: number): boolean {
    const exit: L2Exit = { kind: 'pio-write', port, size, value };
    return this.io(exit, (e, hops) => {
      const ok = this.m.l0Router.pioWrite(e.port, e.size, e.value);
      hops.push({ from: 'L0', to: 'device', note: `${this.pioDevice(e.port)} port ${h(e.port)}${ok ? '' : ' unclaimed'}` });
      return ok;
    }, () => true);
  }

  mmioRead(gpa: bigint, size: MmioSize): bigint | undefined {
    const exit: L2Exit = { kind: 'mmio-read', gpa, size };
    const l0 = this.assigned(gpa, size);
    if (l0 !== undefined) return this.direct(exit, l0, (hops) => {
      const r = this.m.l0Router.mmioRead(l0, size);
      hops.push({ from: 'L0', to: 'device', note: `${this.mmioDevice(l0)} at ${h(l0)}${r === undefined ? ' unclaimed' : ` -> ${h(r)}`}` });
      return r;
    });
    return this.io(exit, (e, hops) => {
      const r = this.m.l0Router.mmioRead(e.gpa, e.size);
      hops.push({ from: 'L0', to: 'device', note: `${this.mmioDevice(e.gpa)} at ${h(e.gpa)}${r === undefined ? ' unclaimed' : ` -> ${h(r)}`}` });
      return r;
    }, (d) => BigInt.asUintN(8 * size, d.value ?? -1n));
  }

  mmioWrite(gpa: bigint, size: MmioSize, value: bigint): boolean {
    const exit: L2Exit = { kind: 'mmio-write', gpa, size, value };
    const l0 = this.assigned(gpa, size);
    if (l0 !== undefined) return this.direct(exit, l0, (hops) => {
      const ok = this.m.l0Router.mmioWrite(l0, size, value);
      hops.push({ from: 'L0', to: 'device', note: `${this.mmioDevice(l0)} at ${h(l0)}${ok ? '' : ' unclaimed'}` });
      return ok;
    });
    return this.io(exit, (e, hops) => {
      const ok = this.m.l0Router.mmioWrite(e.gpa, e.size, e.value);
      hops.push({ from: 'L0', to: 'device', note: `${this.mmioDevice(e.gpa)} at ${h(e.gpa)}${ok ? '' : ' unclaimed'}` });
      return ok;
    }, () => true);
  }

  /** No EPT fast path for L2: handle_ept_misconfig skips KVM_FAST_MMIO_BUS when is_guest_mode (ABI-FACTS §6). */
  fastMmio(_gpa: bigint): boolean {
    return false;
  }

  /** Assigned MMIO: L0 resolves the access through L1's EPT mapping itself; L1 is not involved. */
  private direct<T>(exit: L2Exit, l0: bigint, body: (hops: Hop[]) => T): T {
    return this.m.account(this.v, exit, (hops, route) => {
      route('direct');
      hops.push({ from: 'L2', to: 'L0', note: `assigned MMIO, L1 maps it to ${h(l0)}` });
      return body(hops);
    });
  }

  /** A reflected access: L1 decides; `l0` carries it out on L0's buses; `handled` is L1's own completion. */
  private io<T, E extends Extract<L2Exit, { kind: 'pio-read' | 'pio-write' | 'mmio-read' | 'mmio-write' }>>(
    exit: E, l0: (e: E, hops: Hop[]) => T, handled: (d: Extract<L1Decision, { action: 'handle' }>) => T,
  ): T {
    const m = this.m;
    const v = this.v;
    return m.account(v, exit, (hops, route) => {
      hops.push({ from: 'L2', to: 'L0', note: `${exit.kind} exit` }, { from: 'L0', to: 'L1', note: 'reflected' });
      const d = m.reflect(v, exit);
      switch (d.action) {
        case 'handle':
          m.counters.add(exit.kind.startsWith('pio') ? 'pio' : 'mmioEmulated');
          hops.push({ from: 'L1', to: 'L2', note: 'emulated by L1' });
          return handled(d);
        case 'forward':
          route('l1-forward');
          hops.push({ from: 'L1', to: 'L0', note: 'forwarded' });
          return l0(exit, hops);
        case 'translate': {
          route('l1-translate');
          const to = sameKind(m, d.to, exit.kind) as E;
          const what = to.kind.startsWith('pio') ? `port ${h((exit as { port: number }).port)} -> ${h((to as { port: number }).port)}` : `gpa ${h((exit as { gpa: bigint }).gpa)} -> ${h((to as { gpa: bigint }).gpa)}`;
          hops.push({ from: 'L1', to: 'L0', note: `translated ${what}` });
          return l0(to, hops);
        }
        case 'inject':
          route('l1-inject');
          m.counters.add(exit.kind.startsWith('pio') ? 'pio' : 'mmioEmulated');
          hops.push({ from: 'L1', to: 'L2', note: `exception ${d.vector}` });
          return guestFault(d.vector, d.message ?? `L1 ${m.l1.name} injected vector ${d.vector} on ${exit.kind}`);
        default:
          return invalid(m, d, exit, 'handle | forward | translate | inject');
      }
    });
  }
}
