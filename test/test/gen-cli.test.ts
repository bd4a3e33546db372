// `pvkit gen` through the real command (node test/bin/pvkit.mjs): each format read back by its consumer
// (byte-equal to the library, nasm reassembles, gcc compiles the header, readelf reads the object), a user
// ABI file, --list, and misuse answered with one line and exit 2 (invalid ABI file: exit 1).
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILTIN_ABIS, kvmAbi, loadAbiJson, xenAbi } from '@pvkit/shared-abi';
import { STRATEGIES, checkCombination, generate, toBinary, toElf } from '@pvkit/guest-sdk';

const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'pvkit-gen-'));
const SLOW = { timeout: 240_000 };
type Run = { code: number | null; out: string; err: string };

function pvkitAll(runs: string[][]): Promise<Run[]> {
  return Promise.all(runs.map((args) => new Promise<Run>((resolve, reject) => {
    const c = spawn(process.execPath, ['test/bin/pvkit.mjs', 'gen', ...args], { cwd: root });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, out, err }));
  })));
}

const has = (cmd: string, arg: string) => spawnSync(cmd, [arg], { stdio: 'ignore' }).status === 0;
const hasNasm = has('nasm', '-v');
const hasGcc = has('gcc', '--version');
const hasReadelf = has('readelf', '--version');
for (const [t, ok] of [['nasm', hasNasm], ['gcc', hasGcc], ['readelf', hasReadelf]] as const) if (!ok) console.warn(`gen-cli: ${t} is not installed; its consumer check is skipped`);
const f = (n: string) => join(dir, n);

describe('pvkit gen', () => {
  it('writes every format; each one is what the library makes and what its consumer accepts', SLOW, async () => {
    const runs = await pvkitAll([
      ['--abi', 'kvm', '--format', 'bin', '-o', f('kvm.bin')],
      ['--abi', 'kvm', '--strategy', 'guest-patch', '--bits', '32', '--format', 'elf', '-o', f('kvm32.o')],
      ['--abi', 'kvm', '--format', 'nasm', '-o', f('kvm.asm')],
      ['--abi', 'kvm', '--format', 'gas'],
      ['--abi', 'kvm', '--format', 'hex'],
      ['--abi', 'kvm', '--format', 'c', '-o', f('kvm.h')],
      ['--abi', 'xen', '--strategy', 'hcpage', '--format', 'c', '-o', f('xen.h')],
      ['--abi', 'pvio', '--strategy', 'dispatch', '--bits', '32', '--format', 'json'],
    ]);
    for (const r of runs) expect(r.code, r.err).toBe(0);
    expect([...readFileSync(f('kvm.bin'))]).toEqual([...toBinary(generate({ abi: kvmAbi, strategy: 'host-patch', bits: 64 }))]);
    expect([...readFileSync(f('kvm32.o'))]).toEqual([...toElf(generate({ abi: kvmAbi, strategy: 'guest-patch', bits: 32 }))]);
    expect(runs[0]!.err).toMatch(/^pvkit gen: wrote .*kvm\.bin \(kvm host-patch 64-bit bin, 7 wrappers, 7 patch sites\)\n$/);
    expect(runs[3]!.out).toMatch(/pvkit_kvm_hc_kick_cpu:/);
    expect(runs[4]!.out).toMatch(/patch site vmcall \(pvkit_kvm_hc_kick_cpu\)/);
    const m = JSON.parse(runs[7]!.out);
    expect(m.abi.name).toBe('pvio');
    expect(m.strategy).toBe('dispatch');
    expect(m.bits).toBe(32);
    if (hasNasm) {
      const r = spawnSync('nasm', ['-f', 'bin', '-o', f('kvm.nasm.bin'), f('kvm.asm')], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect([...readFileSync(f('kvm.nasm.bin'))]).toEqual([...readFileSync(f('kvm.bin'))]);
    }
    if (hasReadelf) {
      const r = spawnSync('readelf', ['-W', '-h', '-s', f('kvm32.o')], { encoding: 'utf8' });
      expect(r.stdout).toMatch(/ELF32/);
      expect(r.stdout).toMatch(/pvkit_patch_hypercalls/);
    }
    if (hasGcc) {
      // Both headers in one translation unit: struct pvkit_detect is declared once.
      writeFileSync(f('use.c'), '#include "kvm.h"\n#include "xen.h"\nint main(void) { struct pvkit_detect d; return (int)pvkit_kvm_detect(&d) + (int)sizeof pvkit_kvm_stubs_image + (int)sizeof pvkit_xen_stubs_image; }\n');
      const r = spawnSync('gcc', ['-std=c11', '-Wall', '-Wextra', '-Werror', '-fsyntax-only', f('use.c')], { cwd: dir, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
    }
  });

  it('--list: the working combinations, and the reason for each one that cannot work', SLOW, async () => {
    const [r] = await pvkitAll([['--list']]);
    expect(r!.code).toBe(0);
    for (const abi of BUILTIN_ABIS) {
      for (const s of STRATEGIES) {
        for (const bits of [64, 32]) {
          const why = checkCombination(abi, s, bits as 64 | 32);
          const line = r!.out.split('\n').find((l) => l.split(/\s+/).slice(0, 3).join(' ') === `${abi.name} ${s} ${bits}`);
          expect(line, `${abi.name} ${s} ${bits}`).toMatch(why ? /\bno: ABI \w+ has no hypercall page/ : / yes$/);
        }
      }
    }
  });

  it('a user-defined ABI file', SLOW, async () => {
    const file = 'shared-abi/examples/mydev.json';
    const [r] = await pvkitAll([['--abi', file, '--format', 'bin', '-o', f('mydev.bin')]]);
    expect(r!.code, r!.err).toBe(0);
    const abi = loadAbiJson(readFileSync(join(root, file), 'utf8'));
    expect([...readFileSync(f('mydev.bin'))]).toEqual([...toBinary(generate({ abi, strategy: 'host-patch', bits: 64 }))]);
  });

  it('misuse: one line and exit 2; an invalid ABI file: exit 1 with its problems', SLOW, async () => {
    const cases: [string[], number, RegExp][] = [
      [['--abi', 'kvm', '--strategy', 'hcpage'], 2, /^pvkit gen: abi kvm with strategy hcpage \(64-bit\) cannot work: ABI kvm has no hypercall page/],
      [['--abi', 'vmware', '--strategy', 'hcpage', '--bits', '32'], 2, /abi vmware with strategy hcpage \(32-bit\) cannot work/],
      [['--abi', 'kvm', '--strategy', 'magic'], 2, /--strategy 'magic' is not one of host-patch, guest-patch, hcpage, dispatch/],
      [['--abi', 'kvm', '--bits', '16'], 2, /--bits '16' must be 64 or 32/],
      [['--abi', 'kvm', '--format', 'pdf'], 2, /--format 'pdf' is not one of/],
      [['--abi', 'kvm', '--format', 'bin'], 2, /--format bin is binary: give -o FILE/],
      [['--abi', 'nope'], 2, /unknown ABI 'nope'/],
      [['--abi', 'kvm', '--frobnicate'], 2, /unknown option '--frobnicate'/],
      [['--abi', 'kvm', '--format', 'hex', '--hypercalls', 'KVM_HC_NOPE'], 2, /ABI kvm has no hypercall of that name/],
      [[], 2, /--abi is required/],
      [['--abi', 'shared-abi/examples/broken.json', '--format', 'hex'], 1, /broken\.json is not a valid ABI definition/],
    ];
    const runs = await pvkitAll(cases.map((c) => c[0]));
    runs.forEach((r, i) => {
      const [args, code, re] = cases[i]!;
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.err, args.join(' ')).toMatch(re);
      if (code === 2) expect(r.err.trim().split('\n').length, `${args.join(' ')}: one line`).toBe(1);
      expect(r.out).toBe('');
    });
    expect(xenAbi.name).toBe('xen');
  });
});
