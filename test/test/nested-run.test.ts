// The 2009 seed scenario end to end: the guest-sdk's pvio fallback stubs run as L2 under a TypeScript L1 on the
// emulator (L0). Whatever L1 does with the pvio hypercalls (translate them, hide the feature bits, refuse them),
// the device sees the same accesses; only the exit paths and their cost differ. Also through `pvkit run --nested`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pvioAbi } from '@pvkit/shared-abi';
import { Asm, REGISTERS, generateStubs, symbolAddress, toBinary } from '@pvkit/guest-sdk';
import { buildNestedMachine, runNested } from '../src/run/nested.js';
import type { GuestImage } from '../src/run/loader.js';
import { PVTEST_MMIO, PVTEST_PORT } from '../src/run/machine.js';

const ORIGIN = 0x10000n;
const STUBS = 0x11000n;
const OUT = 0x30000n;

/** One flat 64-bit guest: a driver at ORIGIN calling the pvio fallback stubs placed at STUBS. */
function guest(): Uint8Array {
  const g = generateStubs({ abi: pvioAbi, strategy: 'dispatch', bits: 64, origin: STUBS });
  const a = new Asm({ bits: 64, origin: ORIGIN });
  const r = (n: string) => REGISTERS.get(n)!;
  const call = (sym: string, args: bigint[]) => {
    args.forEach((v, i) => a.mov(r(['rdi', 'rsi', 'rdx'][i]!), v));
    a.mov(r('rax'), symbolAddress(g.image, sym)).call(r('rax'));
  };
  a.label('entry');
  call('pvkit_pvio_detect', [OUT]);
  call('pvkit_pvio_fallback_init', [OUT]);
  call('pvkit_reg_write8', [PVTEST_MMIO + 0x10n, 0x48n]); // DATA_OUT 'H' by MMIO (hypercall or plain)
  call('pvkit_port_write8', [BigInt(PVTEST_PORT + 0x10), 0x69n]); // DATA_OUT 'i' by port I/O (hypercall or plain)
  call('pvkit_reg_read32', [PVTEST_MMIO]); // ID
  a.hlt();
  const driver = toBinary(a.finish());
  const stubs = toBinary(g.image);
  if (driver.length > Number(STUBS - ORIGIN)) throw new Error('driver too large');
  const flat = new Uint8Array(Number(STUBS - ORIGIN) + stubs.length);
  flat.set(driver, 0);
  flat.set(stubs, Number(STUBS - ORIGIN));
  return flat;
}

const POLICIES = [
  { name: 'L1 translates pvio hypercalls', opts: {}, hypercalls: true },
  { name: 'L1 hides the pvio feature bits', opts: { hidePvio: ['MMIO_HCALL', 'PIO_HCALL'] as ('MMIO_HCALL' | 'PIO_HCALL')[] }, hypercalls: false },
  { name: 'L1 refuses pvio hypercalls', opts: { pvio: 'refuse' as const }, hypercalls: true },
];

describe('seed scenario: pvio fallback stubs as L2', () => {
  const bytes = guest();
  const img: GuestImage = { format: 'flat', bits: 64, entry: ORIGIN, segments: [{ gpa: ORIGIN, bytes, zero: 0 }] };
  for (const vendor of ['intel', 'amd'] as const) {
    it(`${vendor}: the device sees the same accesses under every L1 policy`, () => {
      const traces: string[] = [];
      for (const p of POLICIES) {
        const rig = buildNestedMachine(img, { abis: [{ name: 'pvio' }], vendor, bits: 64, memMiB: 4, ...p.opts });
        const out = runNested(rig, { budget: 1_000_000, wallMs: 10_000 });
        expect(out.final.kind, p.name).toBe('Hlt');
        expect(rig.pvtest.outputText(), p.name).toBe('Hi');
        expect(rig.nm.vcpu.getReg('rax') & 0xffffffffn, p.name).toBe(0x544b5650n); // ID "PVKT"
        traces.push(JSON.stringify(rig.pvtest.trace, (_k, x) => (typeof x === "bigint" ? x.toString(16) : x)));
        const paths = out.paths.map((x) => x.path).join(' ');
        // Hidden bits: no hypercall is ever made. Otherwise hypercalls reach L1 (translated or refused).
        if (p.hypercalls) expect(paths, p.name).toMatch(/hypercall/);
        else expect(paths, p.name).not.toMatch(/hypercall/);
        // MMIO to the assigned device goes straight to L0 when the guest uses plain MMIO.
        if (!p.hypercalls || p.opts.pvio === 'refuse') expect(paths, p.name).toMatch(/mmio/i);
      }
      expect(new Set(traces).size).toBe(1);
    });
  }

  it('pvkit run --nested runs it from the command line with the hop trace and per-path costs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvkit-nested-'));
    const file = join(dir, 'seed.bin');
    writeFileSync(file, bytes);
    const root = join(import.meta.dirname, '..', '..');
    const r = spawnSync(process.execPath, [join(root, 'test', 'bin', 'pvkit.mjs'), 'run', file, '--abi', 'pvio', '--vendor', 'amd', '--nested', '--l1-hide', 'MMIO_HCALL,PIO_HCALL', '--trace'], { encoding: 'utf8' });
    expect(r.status, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toContain('device    (pvtest output) "Hi"');
    expect(r.stdout).toMatch(/nested\s+L0 amd pvio@0x40000100 -> L1 pvkit-l1 .*hides MMIO_HCALL\+PIO_HCALL/);
    expect(r.stdout).toMatch(/nested exit trace/);
    expect(r.stdout).toMatch(/cost per path/);
    const bad = spawnSync(process.execPath, [join(root, 'test', 'bin', 'pvkit.mjs'), 'run', file, '--nested', '--l1-ud', 'maybe'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--l1-ud: expected patch \| fix-same \| inject \| forward, got 'maybe'/);
  });
});
