// `pvkit run --nested`: the guest runs as L2 under a TypeScript L1 (PolicyL1) on the emulator (L0). L2 sees the
// same devices at the same addresses as a plain `pvkit run` (debug console 0xe9, pvtest at ports 0x600 and
// MMIO 0xfe000000), but on L0 the pvtest device sits elsewhere (ports 0x1600, MMIO 0xfd000000): L1 renumbers the
// ports on each reflected access and assigns the MMIO window, so every translation is real and visible.
import { XEN_HVM_DEBUGCONS_IOPORT, type PvioFeatureName } from '@pvkit/shared-abi';
import {
  CostCounters, CostModel, IoBusRouter, NestedMachine, PolicyL1, PvTestDevice,
  type Exit, type NestedExit, type NestedPathCost, type PolicyL1Options, type Vendor,
} from '@pvkit/host';
import type { GuestImage } from './loader.js';
import { attachStandardDevices, DebugConsole, loadSegments, makePersonality, PVTEST_MMIO, PVTEST_PORT, placeAbis, type AbiRequest } from './machine.js';
import { completeUnclaimed, type Unclaimed } from './session.js';

/** Where L0 really has the pvtest device (L1 maps L2's PVTEST_PORT / PVTEST_MMIO onto these). */
export const L0_PVTEST_PORT = 0x1600;
export const L0_PVTEST_MMIO = 0xfd00_0000n;

export interface NestedRunOptions {
  /** L0's personalities (placed as `pvkit run --abi` places them). */
  readonly abis: readonly AbiRequest[];
  /** The hardware (L0) vendor. */
  readonly vendor: Vendor;
  /** The vendor L1 presents to L2 (default: the L0 vendor). */
  readonly l1Vendor?: Vendor;
  readonly bits: 64 | 32;
  readonly memMiB: number;
  /** L0's fix-hypercall quirk for #UDs L1 leaves to it (default on). */
  readonly fixHypercallInsn?: boolean;
  /** L1 policy: pvio hypercalls, hidden pvio features, other hypercalls, foreign-instruction #UD, interception. */
  readonly pvio?: PolicyL1Options['pvio'];
  readonly hidePvio?: readonly PvioFeatureName[];
  readonly hypercalls?: PolicyL1Options['hypercalls'];
  readonly ud?: PolicyL1Options['ud'];
  readonly interceptsHypercall?: boolean;
  /** Identical re-executions before a Livelock exit (default 16). */
  readonly livelockAfter?: number;
}

export interface NestedRig {
  readonly nm: NestedMachine;
  readonly l1: PolicyL1;
  readonly router: IoBusRouter;
  readonly counters: CostCounters;
  readonly console: DebugConsole;
  readonly pvtest: PvTestDevice;
  /** L0 personalities as name@base. */
  readonly placed: readonly string[];
}

/** Build L0 (devices, personalities), L1 (PolicyL1 from the options) and L2 (the guest image in RAM). */
export function buildNestedMachine(img: GuestImage, o: NestedRunOptions): NestedRig {
  const counters = new CostCounters();
  const router = new IoBusRouter({ counters });
  const personalities = placeAbis(o.abis).map(({ req, base }) => makePersonality(req, base));
  const l1 = new PolicyL1({
    name: 'pvkit-l1',
    presentVendor: o.l1Vendor ?? o.vendor,
    portMap: [
      { l2: XEN_HVM_DEBUGCONS_IOPORT, l0: XEN_HVM_DEBUGCONS_IOPORT, length: 1 },
      { l2: PVTEST_PORT, l0: L0_PVTEST_PORT, length: 0x40 },
    ],
    assignMmio: [{ l2: PVTEST_MMIO, l0: L0_PVTEST_MMIO, length: 0x1000n }],
    ...(o.pvio ? { pvio: o.pvio } : {}),
    ...(o.hidePvio ? { hidePvio: o.hidePvio } : {}),
    ...(o.hypercalls ? { hypercalls: o.hypercalls } : {}),
    ...(o.ud ? { ud: o.ud } : {}),
    ...(o.interceptsHypercall !== undefined ? { interceptsHypercall: o.interceptsHypercall } : {}),
  });
  const nm = new NestedMachine({
    l0: { vendor: o.vendor, personalities, router, fixHypercallInsn: o.fixHypercallInsn ?? true },
    l1,
    l2: { mode: o.bits === 64 ? 'long64' : 'prot32' },
    ...(o.livelockAfter !== undefined ? { livelockAfter: o.livelockAfter } : {}),
  });
  const mem = nm.vm.memory;
  const ram = o.memMiB * 1024 * 1024;
  mem.addRam(0, ram);
  mem.addMmio(PVTEST_MMIO, 0x1000, 'pvtest (assigned by L1)');
  const { console, pvtest } = attachStandardDevices(router, mem, { port: L0_PVTEST_PORT, mmio: L0_PVTEST_MMIO });
  loadSegments(mem, img, o.memMiB);
  nm.vcpu.rip = img.entry;
  nm.vcpu.setReg('rsp', BigInt(ram - 16));
  const placed = nm.l0?.personalities.map((p) => `${p.name}@0x${p.base.toString(16)}`) ?? [];
  return { nm, l1, router, counters, console, pvtest, placed };
}

export interface NestedRunOutcome {
  /** Hlt (success), Exception, Shutdown, BudgetExhausted, Livelock, or an unhandled Hypercall/Cpuid/MSR exit. */
  readonly final: NestedExit;
  readonly ok: boolean;
  readonly instructions: number;
  readonly wallMs: number;
  readonly unclaimed: readonly Unclaimed[];
  /** Every L2 exit with its hops (L2 -> L0 -> L1 -> L0 -> device). */
  readonly trace: readonly string[];
  readonly paths: readonly NestedPathCost[];
}

/** Run to a final exit; unclaimed accesses are completed as QEMU does (reads all ones, writes dropped). */
export function runNested(r: NestedRig, opts: { budget: number; wallMs: number }, model: CostModel = new CostModel()): NestedRunOutcome {
  const unclaimed: Unclaimed[] = [];
  const t0 = performance.now();
  const v = r.nm.vcpu;
  const start = v.icount;
  let final: NestedExit;
  for (;;) {
    const left = opts.budget - (v.icount - start);
    const e = r.nm.run({ budget: Math.max(1, left), wallMs: Math.max(1, opts.wallMs - (performance.now() - t0)) });
    if (completeUnclaimed(e as Exit, v, unclaimed)) continue;
    final = e;
    break;
  }
  return {
    final, ok: final.kind === 'Hlt', instructions: v.icount - start, wallMs: performance.now() - t0, unclaimed,
    trace: r.nm.trace.map((t) => `#${t.seq} rip=0x${t.rip.toString(16)} [${t.route}] ${t.text}`),
    paths: r.nm.pathCosts(model),
  };
}

/** The nested part of the text report: the stack, patches, the hop trace (when asked) and the per-path costs. */
export function formatNested(r: NestedRig, out: NestedRunOutcome, opts: { trace?: boolean; model?: CostModel } = {}): string {
  const lines: string[] = [];
  lines.push(`nested    L0 ${r.nm.l0Vendor}${r.placed.length ? ' ' + r.placed.join(' ') : ''} -> L1 ${r.l1.name} (presents ${r.l1.presentVendor}, pvio ${r.l1.pvio}` +
    `${r.l1.hidePvio.length ? ', hides ' + r.l1.hidePvio.join('+') : ''}, #UD ${r.l1.ud}) -> L2`);
  if (out.final.kind === 'Livelock') lines.push(`livelock  ${out.final.message}`);
  if (r.nm.patches.length) lines.push(`patched   ${r.nm.patches.map((p) => `0x${p.gpa.toString(16)} ${p.from} -> ${p.to} by ${p.by}`).join(', ')}`);
  if (opts.trace) {
    lines.push('', `nested exit trace (${out.trace.length}):`);
    for (const t of out.trace) lines.push(`  ${t}`);
  }
  lines.push('', 'cost per path (cycles each; the reflection part in parentheses):');
  lines.push(r.nm.formatPathCosts(opts.model));
  return lines.join('\n');
}

/** Flags `pvkit run --nested` adds (for the lead's parseFlags spec and help text). */
export const NESTED_FLAGS = {
  nested: 'boolean', 'l1-vendor': 'string', 'l1-pvio': 'string', 'l1-hide': 'string', 'l1-ud': 'string',
  'l1-no-intercept': 'boolean', 'l1-refuse-hypercalls': 'boolean', livelock: 'string',
} as const;

export const NESTED_HELP = `  --nested          run the guest as L2 under a TypeScript L1 (PolicyL1) on the emulator (L0)
  --l1-vendor V     vendor L1 presents to L2 (default: --vendor, the L0 hardware)
  --l1-pvio P       translate | passthrough | refuse: what L1 does with pvio hypercalls (default translate)
  --l1-hide LIST    pvio features L1 clears in CPUID (e.g. MMIO_HCALL,PIO_HCALL)
  --l1-ud U         patch | fix-same | inject | forward: foreign VMCALL/VMMCALL #UD (default patch)
  --l1-no-intercept L1 does not intercept L2's native hypercall (L0 sees #UD)
  --l1-refuse-hypercalls  non-pvio hypercalls get -KVM_ENOSYS from L1 instead of reaching L0
  --livelock N      identical re-executions before a Livelock exit (default 16)`;

/** Turn parsed flags into the nested part of NestedRunOptions; errors name the flag and the value. */
export function nestedOptionsFromFlags(flags: Record<string, string | boolean | undefined>): Partial<NestedRunOptions> {
  const o: { -readonly [K in keyof NestedRunOptions]?: NestedRunOptions[K] } = {};
  const pick = <T extends string>(flag: string, allowed: readonly T[]): T | undefined => {
    const v = flags[flag];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) throw new RangeError(`--${flag}: expected ${allowed.join(' | ')}, got '${String(v)}'`);
    return v as T;
  };
  const l1Vendor = pick('l1-vendor', ['intel', 'amd'] as const);
  if (l1Vendor) o.l1Vendor = l1Vendor;
  const pvio = pick('l1-pvio', ['translate', 'passthrough', 'refuse'] as const);
  if (pvio) o.pvio = pvio;
  const ud = pick('l1-ud', ['patch', 'fix-same', 'inject', 'forward'] as const);
  if (ud) o.ud = ud;
  const hide = flags['l1-hide'];
  if (typeof hide === 'string') {
    const known = ['MMIO_HCALL', 'PIO_HCALL', 'DOORBELL', 'HCPAGE', 'ANY_INSN'];
    const list = hide.split(',').filter(Boolean);
    for (const f of list) if (!known.includes(f)) throw new RangeError(`--l1-hide: unknown pvio feature '${f}' (known: ${known.join(', ')})`);
    o.hidePvio = list as PvioFeatureName[];
  }
  if (flags['l1-no-intercept']) o.interceptsHypercall = false;
  if (flags['l1-refuse-hypercalls']) o.hypercalls = 'refuse';
  const ll = flags.livelock;
  if (ll !== undefined) {
    const n = typeof ll === 'string' && /^\d+$/.test(ll) ? Number(ll) : NaN;
    if (!Number.isSafeInteger(n) || n < 2) throw new RangeError(`--livelock: whole number >= 2 expected, got '${String(ll)}'`);
    o.livelockAfter = n;
  }
  return o;
}
