// The decoder against real tools: instruction lengths of gcc -O2 output (objdump's disassembly as the oracle)
// and of a table of hand-written forms (nasm's listing as the oracle), 64- and 32-bit; every gcc instruction
// must also compile to something other than #UD.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decode } from '../src/cpu/decode.js';
import { mnemonic } from '../src/cpu/format.js';
import { hasGcc, hasNasm, hasObjdump } from './cpu-util.js';

const SRC = fileURLToPath(new URL('./cpu-gcc-guest.c', import.meta.url));

interface Insn { addr: number; bytes: number[]; text: string }

/** objdump -d of an object's .text: one entry per instruction (continuation lines merged). */
function objdumpInsns(obj: string, bits: 32 | 64): Insn[] {
  const out = execFileSync('objdump', ['-d', '-M', bits === 64 ? 'x86-64' : 'i386', obj], { encoding: 'utf8' });
  const res: Insn[] = [];
  for (const line of out.split('\n')) {
    const m = /^\s+([0-9a-f]+):\t((?:[0-9a-f]{2} )+)\s*\t?(.*)$/.exec(line);
    if (!m) continue;
    const bytes = m[2]!.trim().split(' ').map((b) => parseInt(b, 16));
    const text = m[3]!.trim();
    if (text === '') res[res.length - 1]!.bytes.push(...bytes); // long instruction continued on the next line
    else res.push({ addr: parseInt(m[1]!, 16), bytes, text });
  }
  return res;
}

describe.skipIf(!hasGcc || !hasObjdump)('decoder vs objdump on gcc -O2 output', () => {
  for (const bits of [64, 32] as const) {
    it(`${bits}-bit: same instruction boundaries, all decoded as valid`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'pvkit-dec-'));
      try {
        const obj = join(dir, 'g.o');
        const m = bits === 32 ? ['-m32'] : [];
        execFileSync('gcc', [...m, '-ffreestanding', '-O2', '-mgeneral-regs-only', '-fno-pic', '-c', SRC, '-o', obj]);
        const insns = objdumpInsns(obj, bits);
        expect(insns.length).toBeGreaterThan(300);
        for (const i of insns) {
          const buf = Uint8Array.from([...i.bytes, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
          const r = decode(buf, buf.length, bits === 64);
          expect(r.ok, i.text).toBe(true);
          if (!r.ok) continue;
          expect(r.d.len, `${i.text} @${i.addr.toString(16)}`).toBe(i.bytes.length);
          expect(r.d.valid, i.text).toBe(true);
          expect(mnemonic(r.d), i.text).not.toMatch(/bad/);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

const FORMS = [
  'add rax, [rbx+rcx*8+0x12345678]', 'add [rel $+0x100], r15d', 'mov r8b, [r13]', 'mov [rsp], spl', 'lea r12, [r12+r13*2-8]',
  'mov rax, 0x1122334455667788', 'mov eax, [0x1000]', 'mov al, [abs qword 0x1122334455667788]', 'imul r9, [rbp-8], 0x1234',
  'imul ax, cx, -3', 'shld rax, rbx, 7', 'shrd [rsi], ecx, cl', 'bt qword [rdi], 63', 'btc rax, rcx', 'cmpxchg [rdx], r11',
  'lock xadd [rsp+0x40], bx', 'movzx r10d, byte [rsi+1]', 'movsx rax, word [r12]', 'movsxd r9, dword [r8+r9*4]',
  'cmovge rax, [rax]', 'setnz byte [rcx+rdx]', 'test byte [rax], 0x80', 'test word [rax], 0x8000', 'not qword [rbx]',
  'div qword [rsp+8]', 'ror r11w, 3', 'rcl byte [rax], cl', 'push qword [rel $+0x10]', 'pop qword [rax]', 'call [rax+8]',
  'jmp qword [rel $+0x20]', 'ret 8', 'enter 16, 0', 'in al, dx', 'o16 out dx, ax', 'rep movsq', 'a32 rep stosb',
  'repne scasb', 'fs mov rax, [0x28]', 'gs lock inc dword [rax]', 'bswap r12', 'bsf rax, [rbx]', 'tzcnt eax, ecx',
  'lzcnt r8, r9', 'popcnt rax, [rbx]', 'nop dword [rax+rax*1+0]', 'nop word cs:[rax+rax*1+0]', 'xchg r8, rax',
  'cqo', 'cdqe', 'cwd', 'lahf', 'sahf', 'cpuid', 'rdtsc', 'rdtscp', 'rdmsr', 'wrmsr', 'vmcall', 'vmmcall', 'pause',
  'hlt', 'ud2', 'int3', 'int 0x80', 'lfence', 'mfence', 'sfence', 'endbr64', 'loop $', 'jrcxz $', 'a32 loop $',
  'jz $+0x1000', 'jz $+2', 'call $+0x100', 'add r13, -1', 'sub dword [r13+0], 0x12345', 'and spl, 0x7f', 'or ah, bh',
];

describe.skipIf(!hasNasm)('decoder vs nasm on hand-written forms (64-bit)', () => {
  it('lengths match the assembler listing and all are valid', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvkit-forms-'));
    try {
      writeFileSync(join(dir, 'f.asm'), `bits 64\ndefault rel\n${FORMS.join('\n')}\n`);
      execFileSync('nasm', ['-f', 'bin', '-l', join(dir, 'f.lst'), '-o', join(dir, 'f.bin'), join(dir, 'f.asm')]);
      const lst = readFileSync(join(dir, 'f.lst'), 'utf8').split('\n');
      const insns: { bytes: number[]; text: string }[] = [];
      for (const l of lst) {
        const m = /^\s*\d+\s+([0-9A-F]{8})\s+([0-9A-F[\]()]+)(-?)\s*(.*)$/.exec(l);
        if (!m) continue;
        const bytes = (m[2]!.replace(/[[\]()]/g, '').match(/../g) ?? []).map((b) => parseInt(b, 16));
        if (m[4] === '' && insns.length > 0) insns[insns.length - 1]!.bytes.push(...bytes);
        else insns.push({ bytes, text: m[4]! });
      }
      expect(insns.length).toBe(FORMS.length);
      for (const i of insns) {
        const buf = Uint8Array.from([...i.bytes, ...new Array(15).fill(0x90)]);
        const r = decode(buf, buf.length, true);
        expect(r.ok && r.d.len, i.text).toBe(i.bytes.length);
        expect(r.ok && r.d.valid, i.text).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
