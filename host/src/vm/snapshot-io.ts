// Taking and restoring VM snapshots (format in snapshot.ts).
import { GuestMemory, PAGE_SIZE, type RamRegion } from '../memory/memory.js';
import type { Vcpu } from '../cpu/vcpu.js';
import type { Vendor } from '../cpu/types.js';
import type { Vm, VmOptions } from '../vm.js';
import {
  SNAPSHOT_VERSION, SnapshotError, exitFromJson, exitToJson, hex, parseHex,
  type RegionSnapshot, type VcpuSnapshot, type VmSnapshot,
} from './snapshot.js';

function ramPages(r: RamRegion): Record<string, string> {
  const pages: Record<string, string> = {};
  for (let off = 0; off < r.size; off += PAGE_SIZE) {
    const page = r.bytes.subarray(off, off + PAGE_SIZE);
    if (page.some((b) => b !== 0)) pages[hex(off)] = Buffer.from(page).toString('base64');
  }
  return pages;
}

function vcpuSnapshot(v: Vcpu): VcpuSnapshot & { completions?: unknown } {
  return {
    id: v.id, mode: v.mode, vendor: v.vendor, cpl: v.cpl, rip: hex(v.rip), rflags: hex(v.rflags),
    gprs: Array.from({ length: 16 }, (_, i) => hex(v.getReg(i))),
    fsBase: hex(v.fsBase), gsBase: hex(v.gsBase), kernelGsBase: hex(v.kernelGsBase), tscAux: hex(v.tscAux),
    icount: v.icount, halted: v.halted,
    ...(v.awaiting !== undefined ? { awaiting: exitToJson(v.awaiting) } : {}),
    ...(v.completions.length !== 0
      ? { completions: v.completions.map((c) => ({ key: c.key, lo: c.lo, hi: c.hi, ...(c.regs ? { regs: c.regs } : {}) })) }
      : {}),
  };
}

export function takeSnapshot(vm: Vm, next: number, left: number, extra?: unknown): VmSnapshot {
  const regions: RegionSnapshot[] = vm.memory.regions().map((r) =>
    r.kind === 'ram'
      ? { kind: 'ram', name: r.name, base: hex(r.base), size: r.size, pages: ramPages(r) }
      : { kind: 'mmio', name: r.name, base: hex(r.base), size: r.size });
  return {
    version: SNAPSHOT_VERSION,
    physBits: Math.log2(vm.memory.physLimit),
    fixHypercallInsn: vm.fixHypercallInsn,
    quantum: vm.quantum,
    next,
    left,
    regions,
    vcpus: vm.vcpus.map(vcpuSnapshot),
    patches: vm.patches.map((p) => ({ gpa: hex(p.gpa), vcpu: p.vcpu, to: p.to, at: p.at })),
    patchCounts: [...vm.patchCounts].map(([gpa, n]) => [hex(gpa), n] as const),
    ...(extra !== undefined ? { extra } : {}),
  };
}

export interface RestoreOptions extends Pick<VmOptions, 'router' | 'hooks' | 'trace' | 'counters'> {
  /** Run every vCPU as this vendor (migration to the other vendor). */
  vendor?: Vendor;
  /**
   * Called after a vendor change, before anything runs: the hypervisor layer rewrites hypercall pages here.
   * Patched sites in ordinary code need nothing: they #UD and are patched again.
   */
  onVendorChange?(vm: Vm, from: Vendor, to: Vendor): void;
}

export function restoreSnapshot(
  VmClass: new (o: VmOptions) => Vm, snap: VmSnapshot, opts: RestoreOptions,
): { vm: Vm; next: number; left: number } {
  if (snap === null || typeof snap !== 'object') throw new SnapshotError('$', snap, 'not an object');
  if (snap.version !== SNAPSHOT_VERSION) throw new SnapshotError('version', snap.version, `this engine reads version ${SNAPSHOT_VERSION}`);
  const memory = new GuestMemory({ physBits: snap.physBits });
  snap.regions.forEach((r, i) => {
    const base = parseHex(`regions[${i}].base`, r.base);
    if (r.kind === 'mmio') {
      memory.addMmio(base, r.size, r.name);
      return;
    }
    const ram = memory.addRam(base, r.size, r.name);
    for (const [off, b64] of Object.entries(r.pages ?? {})) {
      const o = Number(parseHex(`regions[${i}].pages key`, off));
      const bytes = Buffer.from(b64, 'base64');
      if (o % PAGE_SIZE !== 0 || o + bytes.length > r.size || bytes.length !== PAGE_SIZE) {
        throw new SnapshotError(`regions[${i}].pages[${off}]`, off, 'page outside the region or not 4 KiB');
      }
      ram.bytes.set(bytes, o);
    }
  });
  const vm = new VmClass({
    memory, vcpus: 0 as unknown as number, fixHypercallInsn: snap.fixHypercallInsn, quantum: snap.quantum,
    ...(opts.router ? { router: opts.router } : {}), ...(opts.hooks ? { hooks: opts.hooks } : {}),
    ...(opts.trace !== undefined ? { trace: opts.trace } : {}), ...(opts.counters ? { counters: opts.counters } : {}),
  });
  let from: Vendor | undefined;
  snap.vcpus.forEach((s, i) => {
    const w = `vcpus[${i}]`;
    if (s.id !== i) throw new SnapshotError(`${w}.id`, s.id, `expected ${i}`);
    from ??= s.vendor;
    const v = vm.addVcpu({ mode: s.mode, vendor: opts.vendor ?? s.vendor, cpl: s.cpl });
    s.gprs.forEach((g, r) => v.setReg(r, parseHex(`${w}.gprs[${r}]`, g)));
    v.rip = parseHex(`${w}.rip`, s.rip);
    v.rflags = parseHex(`${w}.rflags`, s.rflags);
    v.fsBase = parseHex(`${w}.fsBase`, s.fsBase);
    v.gsBase = parseHex(`${w}.gsBase`, s.gsBase);
    v.kernelGsBase = parseHex(`${w}.kernelGsBase`, s.kernelGsBase);
    v.tscAux = parseHex(`${w}.tscAux`, s.tscAux);
    v.icount = s.icount;
    v.halted = s.halted;
    if (s.awaiting !== undefined) v.awaiting = exitFromJson(s.awaiting);
    const comps = (s as { completions?: { key: string; lo: number; hi: number; regs?: { eax: number; ebx: number; ecx: number; edx: number } }[] }).completions;
    if (comps) v.completions = comps.map((c) => ({ ...c, used: false }));
  });
  snap.patches.forEach((p, i) => vm.patches.push({ gpa: parseHex(`patches[${i}].gpa`, p.gpa), vcpu: p.vcpu, to: p.to, at: p.at }));
  snap.patchCounts.forEach(([g, n], i) => vm.patchCounts.set(parseHex(`patchCounts[${i}]`, g), n));
  if (opts.vendor !== undefined && from !== undefined && from !== opts.vendor) opts.onVendorChange?.(vm, from, opts.vendor);
  const left = Number.isInteger(snap.left) && snap.left > 0 && snap.left <= snap.quantum ? snap.left : snap.quantum;
  return { vm, next: snap.next % Math.max(1, snap.vcpus.length), left };
}
