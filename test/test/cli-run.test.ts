// `pvkit run` end to end: a gcc-compiled freestanding C guest (64- and 32-bit ELF) on both vendors with the KVM
// personality: console output, hypercall results exactly as KVM returns them, the #UD patch on the foreign vendor.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const hasGcc = spawnSync('gcc', ['--version']).status === 0;
const has32 = hasGcc && spawnSync('sh', ['-c', 'echo "int x;" | gcc -m32 -c -x c - -o /dev/null']).status === 0;
if (!hasGcc) console.warn('gcc missing: pvkit run C-guest tests skipped (.ci/run installs gcc)');
else if (!has32) console.warn('gcc -m32 unavailable: 32-bit pvkit run tests skipped (.ci/run installs gcc-multilib)');

const dir = mkdtempSync(join(tmpdir(), 'pvkit-run-'));

function build(bits: 64 | 32): string {
  const out = join(dir, `hello-${bits}.elf`);
  const r = spawnSync('gcc', [
    `-m${bits}`, '-ffreestanding', '-nostdlib', '-static', '-O2', '-mgeneral-regs-only', '-fno-pic', '-no-pie',
    '-fno-stack-protector', '-Wl,-Ttext=0x100000', '-Wl,--build-id=none', '-o', out, join(import.meta.dirname, 'fixtures', 'hello-kvm.c'),
  ], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`gcc failed: ${r.stderr}`);
  return out;
}

function pvkit(...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'test', 'bin', 'pvkit.mjs'), 'run', ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe.skipIf(!hasGcc)('pvkit run', () => {
  for (const bits of [64, 32] as const) {
    for (const vendor of ['intel', 'amd'] as const) {
      it.skipIf(bits === 32 && !has32)(`${bits}-bit ELF on ${vendor}: console, KVM results, patching`, () => {
        const r = pvkit(build(bits), '--abi', 'kvm', '--vendor', vendor, '--json');
        expect(r.code, r.err).toBe(0);
        const j = JSON.parse(r.out);
        expect(j.format).toBe('elf');
        expect(j.bits).toBe(bits);
        expect(j.final.kind).toBe('Hlt');
        expect(j.console).toBe('hello from a gcc guest\n');
        expect(BigInt(j.registers.rax)).toBe(0n);
        // -KVM_ENOSYS, truncated to 32 bits for a 32-bit caller (x86.c: if (!op_64_bit) ret = (u32)ret)
        expect(BigInt(j.registers.rbx)).toBe(bits === 64 ? 0xfffffffffffffc18n : 0xfffffc18n);
        // The C code has VMCALL: native on Intel; on AMD every site is patched once to VMMCALL (KVM's quirk).
        if (vendor === 'intel') expect(j.patches).toEqual([]);
        else {
          expect(j.patches.length).toBeGreaterThanOrEqual(1);
          expect(j.patches.every((p: { to: string }) => p.to === 'vmmcall')).toBe(true);
        }
        expect(j.cost.rows.find((x: { kind: string }) => x.kind === 'hypercall').count).toBe(2);
      });
    }
  }

  it('--no-fix-hypercall on AMD: the guest gets #UD (exit 1, message names the instruction)', () => {
    const r = pvkit(build(64), '--abi', 'kvm', '--vendor', 'amd', '--no-fix-hypercall');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/stopped\s+exception #6 at 0x[0-9a-f]+: .*vmcall/i);
  });

  it('text output shows registers, console and the cost report', () => {
    const r = pvkit(build(64), '--abi', 'hyperv,kvm', '--trace');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/on intel, hyperv@0x40000000 kvm@0x40000100/);
    expect(r.out).toContain('console   (port 0xe9) "hello from a gcc guest\\n"');
    expect(r.out).toMatch(/exit trace/);
    expect(r.out).toMatch(/cost report/);
  });

  it('bad input: a clear message and a non-zero exit code, never a stack trace', () => {
    const junk = join(dir, 'junk.elf');
    writeFileSync(junk, Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 9, 1, 1, 0, ...new Array(60).fill(0)]));
    let r = pvkit(junk);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/junk\.elf: ELF e_ident\[EI_CLASS\] = 0x9: neither ELFCLASS32 nor ELFCLASS64/);
    r = pvkit(join(dir, 'missing.bin'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/missing\.bin: cannot read \(ENOENT\)/);
    r = pvkit(build(64), '--abi', 'kvm,nope');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown ABI 'nope'/);
    r = pvkit(build(64), '--vendor', 'via');
    expect(r.code).toBe(2);
    for (const x of [r.err]) expect(x).not.toMatch(/\n\s+at /);
  });

  it('a flat binary that faults reports the exception and exits 1', () => {
    const bin = join(dir, 'ud.bin');
    writeFileSync(bin, Uint8Array.from([0x90, 0x0f, 0x0b])); // nop; ud2
    const r = pvkit(bin, '--json');
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out);
    expect(j.final).toMatchObject({ kind: 'Exception', vector: 6, rip: '0x10001' });
  });
});
