// `pvkit conform` as a user runs it (spawned through test/bin/pvkit.mjs): reporters, -o, filters, exit codes
// 0 (nothing failed) and 2 (misuse); exit code 1 in-process with one deliberately wrong case added to the table.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'pvkit-conform-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function pvkit(...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'test', 'bin', 'pvkit.mjs'), 'conform', ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('pvkit conform', () => {
  it('--reporter json --group detection --abi kvm: only KVM detection cases, all PASS, exit 0', () => {
    const r = pvkit('--reporter', 'json', '--group', 'detection', '--abi', 'kvm');
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.results.length).toBeGreaterThan(0);
    for (const x of j.results) {
      expect(x.groups).toContain('detection');
      expect(x.abis).toContain('kvm');
      expect(x.status).toBe('PASS');
    }
    expect(j.results.map((x: { id: string }) => x.id)).toContain('kvm detect behind hyper-v at 0x40000100 [32-bit amd]');
  });
  it('--backend both -o FILE --reporter junit: the file has both backends, kvm SKIPs pvio cases with a reason, a summary on stdout', () => {
    const f = join(dir, 'r.xml');
    const r = pvkit('--backend', 'both', '--group', 'fallback', '--name', 'pvio fallback with', '--reporter', 'junit', '-o', f);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^pvkit conform: \d+ results on emulator\+kvm: \d+ passed, 0 failed, \d+ skipped/);
    const x = readFileSync(f, 'utf8');
    expect(x).toContain('name="pvkit conform (emulator)"');
    expect(x).toContain('name="pvkit conform (kvm)"');
    // Real KVM cannot offer the pvio leaves (or is absent): every kvm instance is skipped with a reason.
    expect((x.match(/<skipped message="[^"]{10,}"\/>/g) ?? []).length).toBe(8);
  });
  it('--abi-file adds the user ABI cases and --abi accepts its name', () => {
    const r = pvkit('--abi-file', 'shared-abi/examples/mydev.json', '--abi', 'mydev', '--reporter', 'json');
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.summary).toEqual({ PASS: 12, FAIL: 0, SKIP: 0 });
    expect(j.results.every((x: { abis: string[] }) => x.abis[0] === 'mydev')).toBe(true);
  });
  it('--list prints instances without running', () => {
    const r = pvkit('--list', '--group', 'hcpage', '--abi', 'hyperv', '--name', 'GET_PARTITION_ID');
    expect(r.code).toBe(0);
    expect(r.out.trim().split('\n').map((l) => l.split('  ')[0])).toEqual(['64-bit intel', '64-bit amd', '32-bit intel', '32-bit amd'].map((e) => `hyperv hcpage: GUEST_OS_ID then HYPERCALL MSR; GET_PARTITION_ID through the overlay [${e}]`));
  });
  it('misuse through the real command: exit 2 and a one-line reason', () => {
    const r = pvkit('--backend', 'qemu');
    expect(r.code).toBe(2);
    expect(r.err.trim()).toBe("pvkit conform: --backend: expected emulator, kvm or both, got 'qemu'");
  });
  it.each([
    [['--reporter', 'xml'], /^--reporter: expected console, tap, junit, json, got 'xml'$/],
    [['--group', 'detection,bogus'], /^--group: unknown 'bogus' \(known: detection, /],
    [['--abi', 'hyperv,foo'], /^--abi: unknown 'foo'/],
    [['--name', 'no such case'], /^no case matches/],
    [['--frobnicate'], /^unknown option '--frobnicate'/],
    [['extra'], /^unexpected argument 'extra'/],
    [['-o'], /^option '--o' needs a value$/],
    [['--abi-file', 'no/such.json'], /^--abi-file: cannot read no\/such.json: ENOENT$/],
    [['--abi-file', join(ROOT, 'shared-abi', 'examples', 'broken.json')], /^--abi-file: .*broken.json is not a valid ABI: /],
  ])('misuse %j is a UsageError (exit 2 in main.ts)', async (args, msg) => {
    const { run } = await import('../src/cli/conform.js');
    const { UsageError } = await import('../src/cli/usage.js');
    const e = await run(args).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(UsageError);
    expect((e as Error).message).toMatch(msg);
  });
});

describe('pvkit conform exit code 1 on a failure', () => {
  it('one wrong expectation -> exit 1 and the difference in the report', async () => {
    vi.resetModules();
    vi.doMock('../src/conform/cases/index.js', async () => {
      const real = await vi.importActual<typeof import('../src/conform/cases/index.js')>('../src/conform/cases/index.js');
      const c = real.CASES.find((x) => x.name === 'kvm detect alone')!;
      return { CASES: [{ ...c, name: 'wrong on purpose', vendors: ['intel'], bits: [64], expect: () => ({ results: [0x40000100n] }) }] };
    });
    const out: string[] = [];
    const log = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const errLog = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const { run } = await import('../src/cli/conform.js');
      expect(await run(['--reporter', 'tap'])).toBe(1);
    } finally {
      log.mockRestore();
      err.mockRestore();
      errLog.mockRestore();
      vi.doUnmock('../src/conform/cases/index.js');
    }
    const tap = out.join('');
    expect(tap).toContain('not ok 1 - wrong on purpose [64-bit intel] on emulator');
    expect(tap).toContain('message: "result 0 (pvkit_kvm_detect, 32-bit): want 0x40000100, got 0x40000000"');
  });
});
