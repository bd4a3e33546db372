// The 24 port I/O forms (ABI-FACTS §7), form by form against a table, in 64- and 32-bit mode, with DF = 0/1
// and the default and 0x67-overridden address size. Each table row's bytes are first checked against GNU
// objdump's disassembly, then executed; the expected results follow the SDM "IN/OUT/INS/OUTS/REP" semantics.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeRouter } from './cpu-util-router.js';
import { CODE, hasObjdump, vmWith } from './cpu-util.js';

interface Form {
  n: number;
  bytes: number[];
  /** objdump (AT&T) mnemonic expected for the bytes in 64-bit code. */
  att: RegExp;
  dir: 'in' | 'out';
  size: 1 | 2 | 4;
  port: 'imm' | 'dx';
  string: boolean;
  rep: boolean;
}

const IMM = 0x80;
const F: Form[] = [
  { n: 1, bytes: [0xe4, IMM], att: /^in\s+\$0x80,%al$/, dir: 'in', size: 1, port: 'imm', string: false, rep: false },
  { n: 2, bytes: [0x66, 0xe5, IMM], att: /^in\s+\$0x80,%ax$/, dir: 'in', size: 2, port: 'imm', string: false, rep: false },
  { n: 3, bytes: [0xe5, IMM], att: /^in\s+\$0x80,%eax$/, dir: 'in', size: 4, port: 'imm', string: false, rep: false },
  { n: 4, bytes: [0xe6, IMM], att: /^out\s+%al,\$0x80$/, dir: 'out', size: 1, port: 'imm', string: false, rep: false },
  { n: 5, bytes: [0x66, 0xe7, IMM], att: /^out\s+%ax,\$0x80$/, dir: 'out', size: 2, port: 'imm', string: false, rep: false },
  { n: 6, bytes: [0xe7, IMM], att: /^out\s+%eax,\$0x80$/, dir: 'out', size: 4, port: 'imm', string: false, rep: false },
  { n: 7, bytes: [0xec], att: /^in\s+\(%dx\),%al$/, dir: 'in', size: 1, port: 'dx', string: false, rep: false },
  { n: 8, bytes: [0x66, 0xed], att: /^in\s+\(%dx\),%ax$/, dir: 'in', size: 2, port: 'dx', string: false, rep: false },
  { n: 9, bytes: [0xed], att: /^in\s+\(%dx\),%eax$/, dir: 'in', size: 4, port: 'dx', string: false, rep: false },
  { n: 10, bytes: [0xee], att: /^out\s+%al,\(%dx\)$/, dir: 'out', size: 1, port: 'dx', string: false, rep: false },
  { n: 11, bytes: [0x66, 0xef], att: /^out\s+%ax,\(%dx\)$/, dir: 'out', size: 2, port: 'dx', string: false, rep: false },
  { n: 12, bytes: [0xef], att: /^out\s+%eax,\(%dx\)$/, dir: 'out', size: 4, port: 'dx', string: false, rep: false },
  { n: 13, bytes: [0x6c], att: /^insb\s+\(%dx\),%es:\(%rdi\)$/, dir: 'in', size: 1, port: 'dx', string: true, rep: false },
  { n: 14, bytes: [0x66, 0x6d], att: /^insw\s+\(%dx\),%es:\(%rdi\)$/, dir: 'in', size: 2, port: 'dx', string: true, rep: false },
  { n: 15, bytes: [0x6d], att: /^insl\s+\(%dx\),%es:\(%rdi\)$/, dir: 'in', size: 4, port: 'dx', string: true, rep: false },
  { n: 16, bytes: [0x6e], att: /^outsb\s+%ds:\(%rsi\),\(%dx\)$/, dir: 'out', size: 1, port: 'dx', string: true, rep: false },
  { n: 17, bytes: [0x66, 0x6f], att: /^outsw\s+%ds:\(%rsi\),\(%dx\)$/, dir: 'out', size: 2, port: 'dx', string: true, rep: false },
  { n: 18, bytes: [0x6f], att: /^outsl\s+%ds:\(%rsi\),\(%dx\)$/, dir: 'out', size: 4, port: 'dx', string: true, rep: false },
  { n: 19, bytes: [0xf3, 0x6c], att: /^rep insb\s+\(%dx\),%es:\(%rdi\)$/, dir: 'in', size: 1, port: 'dx', string: true, rep: true },
  { n: 20, bytes: [0xf3, 0x66, 0x6d], att: /^rep insw\s+\(%dx\),%es:\(%rdi\)$/, dir: 'in', size: 2, port: 'dx', string: true, rep: true },
  { n: 21, bytes: [0xf3, 0x6d], att: /^rep insl\s+\(%dx\),%es:\(%rdi\)$/, dir: 'in', size: 4, port: 'dx', string: true, rep: true },
  { n: 22, bytes: [0xf3, 0x6e], att: /^rep outsb\s+%ds:\(%rsi\),\(%dx\)$/, dir: 'out', size: 1, port: 'dx', string: true, rep: true },
  { n: 23, bytes: [0xf3, 0x66, 0x6f], att: /^rep outsw\s+%ds:\(%rsi\),\(%dx\)$/, dir: 'out', size: 2, port: 'dx', string: true, rep: true },
  { n: 24, bytes: [0xf3, 0x6f], att: /^rep outsl\s+%ds:\(%rsi\),\(%dx\)$/, dir: 'out', size: 4, port: 'dx', string: true, rep: true },
];

function objdump64(bytes: number[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'pvkit-od-'));
  try {
    writeFileSync(join(dir, 'b.bin'), Uint8Array.from(bytes));
    const out = execFileSync('objdump', ['-D', '-b', 'binary', '-m', 'i386:x86-64', join(dir, 'b.bin')], { encoding: 'utf8' });
    const line = out.split('\n').find((l) => /^\s+0:/.test(l))!;
    return line.split('\t')[2]!.trim().replace(/\s+/g, ' ').replace(/ (\(|%|\$)/, '\t$1').replace(/\t/, ' ');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const DX_PORT = 0x5678;
const RAX = 0x1122334455667788n;
const BUF = 0x8000; // below 64 KiB so 16-bit addressing reaches it
const COUNT = 3;

describe('port I/O: the 24 forms', () => {
  it.skipIf(!hasObjdump)('table bytes decode (objdump) as the named instructions', () => {
    for (const f of F) expect(objdump64(f.bytes), `form ${f.n}`).toMatch(f.att);
  });

  for (const mode of ['long64', 'prot32'] as const) {
    for (const df of [0, 1]) {
      for (const a67 of [false, true]) {
        for (const f of F) {
          if (a67 && !f.string) continue; // the address size matters only to the string forms
          if (df === 1 && !f.string) continue;
          const asz = mode === 'long64' ? (a67 ? 4 : 8) : a67 ? 2 : 4;
          it(`form ${f.n} ${mode} DF=${df} addr${asz * 8}`, () => runForm(f, mode, df, a67, asz));
        }
      }
    }
  }
});

function runForm(f: Form, mode: 'long64' | 'prot32', df: number, a67: boolean, asz: number): void {
  const code = [...(a67 ? [0x67] : []), ...f.bytes, 0xf4];
  const router = new FakeRouter();
  const vm = vmWith(Uint8Array.from(code), { mode, router });
  const v = vm.vcpus[0]!;
  const high = mode === 'long64' ? 0xabcd_0000_0000_0000n : 0n;
  // rSI/rDI carry junk above the address size that must be ignored (and preserved for 16-bit addressing).
  const junk = asz === 8 ? 0n : asz === 4 ? high : 0xdead0000n;
  const start = df ? BUF + 0x100 : BUF;
  v.setReg('rax', mode === 'long64' ? RAX : RAX & 0xffffffffn);
  v.setReg('rdx', 0xffff0000n | BigInt(DX_PORT));
  v.setReg('rsi', junk | BigInt(start));
  v.setReg('rdi', junk | BigInt(start));
  v.setReg('rcx', junk | BigInt(COUNT)); // junk above the address size is not part of the count
  v.rflags = df ? 0x402n : 0x2n;
  const src = Uint8Array.from({ length: 0x200 }, (_, i) => (i * 37 + 11) & 0xff);
  vm.memory.writeBytes(BUF, src);
  const exit = vm.run({ budget: 100 });
  expect(exit.kind).toBe('Hlt');
  expect(v.rip).toBe(BigInt(CODE + code.length));

  const port = f.port === 'imm' ? IMM : DX_PORT;
  const n = f.string && f.rep ? COUNT : 1;
  const step = (df ? -1 : 1) * f.size;
  const mask = (1n << BigInt(f.size * 8)) - 1n;
  const expectedEvents: { op: string; addr: number; size: number; value: number }[] = [];
  const mem = Uint8Array.from(src);
  const rax0 = v.getReg('rax');
  for (let i = 0; i < n; i++) {
    const at = start + i * step;
    if (f.dir === 'in') {
      const val = FakeRouter.portValue(i) & Number(mask);
      expectedEvents.push({ op: 'pioRead', addr: port, size: f.size, value: val >>> 0 });
      if (f.string) for (let b = 0; b < f.size; b++) mem[at - BUF + b] = (val >>> (8 * b)) & 0xff;
    } else {
      let val = 0;
      if (f.string) for (let b = f.size - 1; b >= 0; b--) val = val * 256 + src[at - BUF + b]!;
      else val = Number((mode === 'long64' ? RAX : RAX & 0xffffffffn) & mask);
      expectedEvents.push({ op: 'pioWrite', addr: port, size: f.size, value: val });
    }
  }
  expect(router.events).toEqual(expectedEvents);
  expect(vm.memory.readBytes(BUF, 0x200)).toEqual(mem);
  // Registers.
  if (!f.string && f.dir === 'in') {
    const val = BigInt(FakeRouter.portValue(0)) & mask;
    const orig = mode === 'long64' ? RAX : RAX & 0xffffffffn;
    const want = f.size === 4 ? val : (orig & ~mask) | val; // IN EAX zero-extends into RAX
    expect(rax0).toBe(want);
  } else {
    expect(rax0).toBe(mode === 'long64' ? RAX : RAX & 0xffffffffn);
  }
  const amask = (1n << BigInt(asz * 8)) - 1n;
  const moved = BigInt(start + n * step) & amask;
  const ptrAfter = asz === 2 ? (junk & ~0xffffn) | moved : asz === 4 ? moved : moved; // 32-bit writes zero-extend
  const ptrReg = f.dir === 'in' ? 'rdi' : 'rsi';
  const other = f.dir === 'in' ? 'rsi' : 'rdi';
  if (f.string) {
    expect(v.getReg(ptrReg)).toBe(ptrAfter);
    expect(v.getReg(other)).toBe(junk | BigInt(start));
  }
  const rcx0 = junk | BigInt(COUNT);
  if (f.rep) {
    const after = asz === 2 ? junk : 0n; // rCX at the address size counts to 0 (ECX writes zero-extend)
    expect(v.getReg('rcx')).toBe(after);
  } else expect(v.getReg('rcx')).toBe(rcx0);
}
