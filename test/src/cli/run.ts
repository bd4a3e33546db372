// `pvkit run GUEST.bin|GUEST.elf --abi kvm[,hyperv,...] --vendor intel|amd --bits 64|32 [--trace] [--json]`
import { readFileSync, statSync } from 'node:fs';
import { CostModel, formatReport, GPR_NAMES, XenPersonality } from '@pvkit/host';
import { isElf, loadElf, loadFlat, LoadError, type GuestImage } from '../run/loader.js';
import { ABI_NAMES, buildMachine, placeAbis, type AbiName, type AbiRequest } from '../run/machine.js';
import { runMachine } from '../run/session.js';
import { buildNestedMachine, formatNested, NESTED_FLAGS, NESTED_HELP, nestedOptionsFromFlags, runNested } from '../run/nested.js';
import { parseFlags, UsageError } from './usage.js';

const HELP = `usage: pvkit run GUEST.bin|GUEST.elf [options]

  --abi LIST        personalities, comma-separated, each NAME or NAME@BASE (${ABI_NAMES.join(', ')}); default none
  --vendor V        intel (VMCALL native) or amd (VMMCALL native); default intel
  --bits 64|32      CPU mode for a flat binary (an ELF file says it itself); default 64
  --origin ADDR     load address of a flat binary; default 0x10000
  --mem MIB         guest RAM in MiB from address 0; default 16
  --budget N        instruction budget; default 100000000
  --timeout MS      wall-clock limit; default 10000
  --mmu ept|npt|shadow   modelled MMU (EPT enables the fast MMIO doorbell path); default ept
  --no-fix-hypercall     the foreign VMCALL/VMMCALL raises #UD instead of being patched
  --ghz N           clock rate for the cost report; default 3
  --trace           print every exit
  --json            one JSON document instead of text
${NESTED_HELP}

Devices: debug console on port 0xe9; the pvkit test device at ports 0x600-0x63f and MMIO 0xfe000000.
Exit code: 0 when the guest halts, 1 when it faults, shuts down or runs out of budget, 2 on misuse.`;

function num(flag: string, v: string | boolean | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  const n = typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${flag}: expected a whole number from ${min} to ${max}, got '${String(v)}'`);
  return n;
}

export function parseAbiList(s: string): AbiRequest[] {
  return s.split(',').filter(Boolean).map((item) => {
    const [name, base] = item.split('@');
    if (!(ABI_NAMES as readonly string[]).includes(name!)) throw new UsageError(`--abi: unknown ABI '${name}' (known: ${ABI_NAMES.join(', ')})`);
    if (base === undefined) return { name: name as AbiName };
    const b = Number(base);
    if (!/^0x[0-9a-f]+$/i.test(base) || b < 0x40000000 || b > 0x4000ff00 || b % 0x100) {
      throw new UsageError(`--abi: base '${base}' for ${name} must be a hex CPUID leaf 0x40000000..0x4000ff00 on a 0x100 boundary`);
    }
    return { name: name as AbiName, base: b };
  });
}

const hex = (v: bigint, w = 16) => '0x' + v.toString(16).padStart(w, '0');

export async function run(argv: string[]): Promise<number> {
  const { flags, positionals } = parseFlags(argv, {
    abi: 'string', vendor: 'string', bits: 'string', origin: 'string', mem: 'string', budget: 'string', timeout: 'string',
    mmu: 'string', 'no-fix-hypercall': 'boolean', ghz: 'string', trace: 'boolean', json: 'boolean', help: 'boolean',
    ...NESTED_FLAGS,
  });
  if (flags.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length ? `one guest file expected, got ${positionals.length}` : 'missing the guest file (GUEST.bin or GUEST.elf)');
  const file = positionals[0]!;
  const vendor = flags.vendor ?? 'intel';
  if (vendor !== 'intel' && vendor !== 'amd') throw new UsageError(`--vendor must be intel or amd, got '${String(vendor)}'`);
  const mmu = flags.mmu ?? 'ept';
  if (mmu !== 'ept' && mmu !== 'npt' && mmu !== 'shadow') throw new UsageError(`--mmu must be ept, npt or shadow, got '${String(mmu)}'`);
  const bitsFlag = flags.bits === undefined ? undefined : flags.bits === '64' ? 64 : flags.bits === '32' ? 32 : undefined;
  if (flags.bits !== undefined && bitsFlag === undefined) throw new UsageError(`--bits must be 64 or 32, got '${String(flags.bits)}'`);
  const memMiB = num('mem', flags.mem, 16, 1, 4096);
  const budget = num('budget', flags.budget, 100_000_000, 1, Number.MAX_SAFE_INTEGER);
  const timeout = num('timeout', flags.timeout, 10_000, 1, 3_600_000);
  const origin = num('origin', flags.origin, 0x10000, 0, memMiB * 1024 * 1024 - 1);
  const ghz = flags.ghz === undefined ? 3 : Number(flags.ghz);
  if (!(ghz > 0 && ghz < 100)) throw new UsageError(`--ghz must be a positive number, got '${String(flags.ghz)}'`);
  const abis = typeof flags.abi === 'string' ? parseAbiList(flags.abi) : [];
  try {
    placeAbis(abis);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }

  let bytes: Uint8Array;
  try {
    if (!statSync(file).isFile()) throw new UsageError(`${file}: not a regular file`);
    bytes = readFileSync(file);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let img: GuestImage;
  try {
    img = isElf(bytes) ? loadElf(file, bytes) : loadFlat(file, bytes, BigInt(origin), bitsFlag ?? 64);
    if (bitsFlag !== undefined && img.bits !== bitsFlag) throw new LoadError(`${file}: --bits ${bitsFlag} but the ELF file is ${img.bits}-bit`);
  } catch (e) {
    if (e instanceof LoadError) {
      console.error(`pvkit run: ${e.message}`);
      return 1;
    }
    throw e;
  }

  if (flags.nested) {
    let nested;
    try {
      nested = nestedOptionsFromFlags(flags);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    return runNestedGuest(file, img, { abis, vendor, bits: img.bits, memMiB, fixHypercallInsn: !flags['no-fix-hypercall'], ...nested },
      { budget, timeout, ghz, trace: !!flags.trace, json: !!flags.json });
  }

  let m;
  try {
    m = buildMachine(img, { abis, vendor, bits: img.bits, memMiB, trace: !!flags.trace, fixHypercallInsn: !flags['no-fix-hypercall'], mmuMode: mmu });
  } catch (e) {
    console.error(`pvkit run: ${(e as Error).message}`);
    return 1;
  }
  const out = runMachine(m, { budget, wallMs: timeout });
  const v0 = m.vm.vcpus[0]!;
  const regs = Object.fromEntries(GPR_NAMES.slice(0, img.bits === 64 ? 16 : 8).map((r) => [r, v0.getReg(r)]));
  const report = new CostModel().report(m.counters, { ghz, seconds: Math.max(out.wallMs / 1000, 1e-9) });
  const xen = m.hypervisor?.find(XenPersonality);
  const placed = m.hypervisor?.personalities.map((p) => `${p.name}@0x${p.base.toString(16)}`) ?? [];

  if (flags.json) {
    const big = (_k: string, x: unknown) => (typeof x === 'bigint' ? '0x' + x.toString(16) : x);
    console.log(JSON.stringify({
      file, format: img.format, bits: img.bits, vendor, abis: placed, ok: out.ok, final: out.final,
      instructions: out.instructions, wallMs: Math.round(out.wallMs * 1000) / 1000, registers: { ...regs, rip: v0.rip, rflags: v0.rflags },
      console: m.console.text(), xenConsole: xen?.consoleText() ?? null, unclaimed: out.unclaimed,
      patches: m.vm.patches, trace: flags.trace ? m.vm.trace.map((t) => ({ kind: t.kind, vcpu: t.vcpu, rip: t.rip, handled: t.handled, text: t.text })) : undefined,
      cost: report,
    }, big, 2));
    return out.ok ? 0 : 1;
  }
  const w = img.bits === 64 ? 16 : 8;
  console.log(`guest     ${file} (${img.format}, ${img.bits}-bit, entry ${hex(img.entry, 0)}) on ${vendor}${placed.length ? ', ' + placed.join(' ') : ', no hypervisor'}`);
  console.log(`stopped   ${describeFinal(out.final)} after ${out.instructions} instructions (${out.wallMs.toFixed(1)} ms)`);
  const names = Object.keys(regs);
  for (let i = 0; i < names.length; i += 4) console.log('  ' + names.slice(i, i + 4).map((r) => `${r.padEnd(3)} ${hex(regs[r]!, w)}`).join('  '));
  console.log(`  rip ${hex(v0.rip, w)}  rflags ${hex(v0.rflags, 8)}`);
  if (m.console.bytes.length) console.log(`console   (port 0xe9) ${JSON.stringify(m.console.text())}`);
  if (xen && xen.console.length) console.log(`console   (xen console_io) ${JSON.stringify(xen.consoleText())}`);
  if (m.vm.patches.length) console.log(`patched   ${m.vm.patches.length} hypercall site(s): ${m.vm.patches.map((p) => `${hex(p.gpa, 0)} -> ${p.to}`).join(', ')}`);
  if (out.unclaimed.length) console.log(`unclaimed ${out.unclaimed.length} access(es) nobody handles, first: ${out.unclaimed[0]!.text}`);
  if (flags.trace) {
    console.log(`\nexit trace (${m.vm.trace.length}):`);
    for (const t of m.vm.trace) console.log(`  ${t.handled ? 'handled ' : 'returned'} ${t.text}`);
  }
  console.log(`\ncost report (${ghz} GHz, default cycle table from published measurements):`);
  console.log(formatReport(report));
  return out.ok ? 0 : 1;
}

function runNestedGuest(file: string, img: GuestImage, o: Parameters<typeof buildNestedMachine>[1],
  out: { budget: number; timeout: number; ghz: number; trace: boolean; json: boolean }): number {
  let rig;
  try {
    rig = buildNestedMachine(img, o);
  } catch (e) {
    console.error(`pvkit run: ${(e as Error).message}`);
    return 1;
  }
  const res = runNested(rig, { budget: out.budget, wallMs: out.timeout });
  const v = rig.nm.vcpu;
  const regs = Object.fromEntries(GPR_NAMES.slice(0, img.bits === 64 ? 16 : 8).map((r) => [r, v.getReg(r)]));
  if (out.json) {
    const big = (_k: string, x: unknown) => (typeof x === 'bigint' ? '0x' + x.toString(16) : x);
    console.log(JSON.stringify({
      file, format: img.format, bits: img.bits, nested: true, l0: { vendor: o.vendor, abis: rig.placed }, l1: { name: rig.l1.name, presents: rig.l1.presentVendor, pvio: rig.l1.pvio, hides: rig.l1.hidePvio, ud: rig.l1.ud },
      ok: res.ok, final: res.final, instructions: res.instructions, registers: { ...regs, rip: v.rip, rflags: v.rflags },
      console: rig.console.text(), device: rig.pvtest.outputText(), unclaimed: res.unclaimed, patches: rig.nm.patches,
      trace: out.trace ? res.trace : undefined, paths: res.paths,
    }, big, 2));
    return res.ok ? 0 : 1;
  }
  const w = img.bits === 64 ? 16 : 8;
  console.log(`guest     ${file} (${img.format}, ${img.bits}-bit, entry ${hex(img.entry, 0)}) as L2`);
  console.log(`stopped   ${res.final.kind === 'Livelock' ? `Livelock at ${hex(res.final.rip, 0)}` : describeFinal(res.final)} after ${res.instructions} instructions (${res.wallMs.toFixed(1)} ms)`);
  const names = Object.keys(regs);
  for (let i = 0; i < names.length; i += 4) console.log('  ' + names.slice(i, i + 4).map((r) => `${r.padEnd(3)} ${hex(regs[r]!, w)}`).join('  '));
  if (rig.console.bytes.length) console.log(`console   (port 0xe9) ${JSON.stringify(rig.console.text())}`);
  if (rig.pvtest.output().length) console.log(`device    (pvtest output) ${JSON.stringify(rig.pvtest.outputText())}`);
  if (res.unclaimed.length) console.log(`unclaimed ${res.unclaimed.length} access(es) nobody handles, first: ${res.unclaimed[0]!.text}`);
  console.log(formatNested(rig, res, { trace: out.trace }));
  return res.ok ? 0 : 1;
}

function describeFinal(e: import('@pvkit/host').Exit): string {
  switch (e.kind) {
    case 'Hlt': return `HLT at ${hex(e.rip, 0)}`;
    case 'Exception': return `exception #${e.vector} at ${hex(e.rip, 0)}: ${e.message}`;
    default: return `${e.kind} at ${hex(e.rip, 0)}`;
  }
}
