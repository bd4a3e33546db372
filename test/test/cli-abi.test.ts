// `pvkit abi ...` and `pvkit demo` through the real command (node test/bin/pvkit.mjs), from the repo root.
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILTIN_ABIS, cHeader, findAbi, loadAbiJson } from '@pvkit/shared-abi';

const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'pvkit-cli-'));
const ex = (f: string): string => `shared-abi/examples/${f}`;

type Run = { code: number | null; out: string; err: string };

function pvkit(...args: string[]): Run {
  const r = spawnSync(process.execPath, ['test/bin/pvkit.mjs', ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Several runs at once (each start-up compiles TypeScript through tsx, which takes a while). */
function pvkitAll(runs: string[][]): Promise<Run[]> {
  return Promise.all(runs.map((args) => new Promise<Run>((resolve, reject) => {
    const c = spawn(process.execPath, ['test/bin/pvkit.mjs', ...args], { cwd: root });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, out, err }));
  })));
}

// Each case spawns node + tsx; allow for a loaded machine.
const SLOW = { timeout: 180_000 };

describe('pvkit abi', () => {
  it('list: every built-in ABI with its signature and base', SLOW, () => {
    const r = pvkit('abi', 'list');
    expect(r.code).toBe(0);
    for (const a of BUILTIN_ABIS) expect(r.out).toMatch(new RegExp(`^${a.name} .*0x${a.cpuid.defaultBase.toString(16)} +${a.hypercalls.length} `, 'm'));
    expect(r.out).toContain('"KVMKVMKVM\\0\\0\\0"');
  });

  it('show: a readable summary; --json is the loadable JSON form', SLOW, () => {
    const r = pvkit('abi', 'show', 'kvm');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^signature +"KVMKVMKVM\\0\\0\\0" +\(ebx 0x4b4d564b, ecx 0x564b4d56, edx 0x4d\)$/m);
    expect(r.out).toMatch(/^ {2}0x5 +KVM_HC_KICK_CPU +flags:flags, apicid:u32/m);
    expect(r.out).toMatch(/^ {2}x64 +64 +hypercall +rax +rbx,rcx,rdx,rsi +rax/m);
    expect(r.out).toMatch(/MSRs \(\d+\):/);
    const j = pvkit('abi', 'show', 'kvm', '--json');
    expect(j.code).toBe(0);
    expect(loadAbiJson(j.out)).toEqual(findAbi('kvm'));
    const f = pvkit('abi', 'show', ex('mydev.json'));
    expect(f.code).toBe(0);
    expect(f.out).toMatch(/^ {2}0x1000 +PING +cookie:u64/m);
  });

  it('validate: exit 0 for a valid file', SLOW, () => {
    const r = pvkit('abi', 'validate', ex('mydev.json'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/mydev\.json: ok: mydev 1\.0, signature "MyDevHvMyDev" at 0x40000200, 3 hypercalls.*conventions from kvm/);
    // overlaps with other built-ins are notes, not errors: Hyper-V's 32-bit call code is EAX bits 15:0
    expect(r.out).toMatch(/^note: mydev\/hyperv: 32-bit hypercall \(rax\): mydev and hyperv overlap on rax at 0x1000\.\.0x1002/m);
  });

  it('validate: exit 1 and every problem named (file, JSON path, value, why) for a malformed file', SLOW, () => {
    const r = pvkit('abi', 'validate', ex('broken.json'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/broken\.json is not a valid ABI definition \(\d+ problems\)/);
    expect(r.err).toContain(`${ex('broken.json')}: $.signature: a CPUID signature is exactly 12 one-byte characters (EBX, ECX, EDX), got 8 bytes (value: "TooShort")`);
    expect(r.err).toContain(`${ex('broken.json')}: $.hypercalls[0].nr: collides with kvm's hypercall space 0x0..0x3ff`);
    expect(r.err).toContain(`${ex('broken.json')}: $.features[0].bit: a CPUID register has bits 0..31 (value: 0x20)`);
    const bad = join(dir, 'syntax.json');
    writeFileSync(bad, '{ "name": "x",\n  "signature": }');
    const s = pvkit('abi', 'validate', bad);
    expect(s.code).toBe(1);
    expect(s.err).toMatch(/\$: not valid JSON at line 2, column 16/);
  });

  it('diff: exit 0 for compatible changes, 1 for breaking ones, with each change listed', SLOW, () => {
    const ok = pvkit('abi', 'diff', ex('mydev.json'), ex('mydev-v2.json'));
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^compatible +hypercall-added +\$\.hypercalls\[3\] +BATCH_NOTIFY nr 0x1003/m);
    expect(ok.out).toMatch(/6 changes, 0 breaking/);
    const bad = pvkit('abi', 'diff', ex('mydev-v2.json'), ex('mydev-v3.json'));
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/^BREAKING +hypercall-renumbered +\$\.hypercalls\[1\]\.nr +QUEUE_NOTIFY: 0x1001 -> 0x1010$/m);
    expect(bad.out).toMatch(/^BREAKING +feature-bit-reused /m);
    expect(bad.out).toMatch(/8 changes, 6 breaking/);
    const same = pvkit('abi', 'diff', 'xen', 'xen');
    expect(same.code).toBe(0);
    expect(same.out).toMatch(/no changes/);
  });

  it('header: the generated header on stdout or in -o OUT', SLOW, () => {
    const r = pvkit('abi', 'header', 'kvm');
    expect(r.code).toBe(0);
    expect(r.out).toBe(cHeader(findAbi('kvm')!));
    const out = join(dir, 'mydev.h');
    const f = pvkit('abi', 'header', ex('mydev.json'), '-o', out);
    expect(f.code).toBe(0);
    expect(readFileSync(out, 'utf8')).toMatch(/#define PVKIT_MYDEV_HC_PING 0x1000u/);
  });

  it('misuse exits 2 with a message naming the problem', SLOW, async () => {
    const cases: [string[], RegExp][] = [
      [['abi'], /missing subcommand/],
      [['abi', 'frobnicate'], /unknown subcommand 'frobnicate'/],
      [['abi', 'list', '--bogus'], /unknown option '--bogus'/],
      [['abi', 'validate', 'no/such/file.json'], /no such file 'no\/such\/file\.json'/],
      [['abi', 'show', 'nosuch'], /'nosuch' is neither a built-in ABI \(kvm, xen, hyperv, vmware, pvio\) nor an existing file/],
      [['abi', 'diff', ex('mydev.json')], /expected OLD NEW, got 'shared-abi\/examples\/mydev\.json'/],
      [['abi', 'header', 'kvm', '-o'], /option '--o' needs a value/],
    ];
    const runs = await pvkitAll(cases.map(([args]) => args));
    cases.forEach(([args, msg], i) => {
      expect(runs[i]!.code, args.join(' ')).toBe(2);
      expect(runs[i]!.err, args.join(' ')).toMatch(msg);
    });
  });
});

describe('pvkit demo', () => {
  it('prints the catalogue with every ABI and the hypercall-space report', SLOW, () => {
    const r = pvkit('demo');
    expect(r.code).toBe(0);
    for (const a of BUILTIN_ABIS) expect(r.out).toMatch(new RegExp(`^${a.name} +${a.title.replace(/[()/]/g, '.')}`, 'm'));
    expect(r.out).toMatch(/^hypercall number spaces: /m);
    // space.ts: KVM and Xen both take VMCALL with the number in RAX
    expect(r.out).toMatch(/^ {2}kvm\/xen: 64-bit hypercall \(rax\): kvm and xen overlap on rax at 0x0\.\.0x7f/m);
  });
});
