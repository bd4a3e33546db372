// Invalid combinations are AsmErrors that name the instruction, its operands and why.

import { describe, expect, it } from 'vitest';
import {
  Asm, AsmError, type Cond, addr, mem, qword, dword, byte,
  rax, rbx, rsp, r8, r8d, r8b, eax, ebx, esp, bx, ah, sil, al, dx,
} from '@pvkit/guest-sdk';

const a64 = (): Asm => new Asm({ bits: 64 });
const a32 = (): Asm => new Asm({ bits: 32 });

function err(f: () => unknown): AsmError {
  try {
    f();
  } catch (e) {
    if (e instanceof AsmError) return e;
    throw e;
  }
  throw new Error('no error thrown');
}

const cases: [string, () => unknown, RegExp][] = [
  ['64-bit immediate into memory', () => a64().mov(qword(mem(rax)), 0x1_0000_0000n),
    /^mov qword \[rax\], 0x100000000: a 64-bit immediate cannot be stored to memory/],
  ['mismatched operand sizes', () => a64().mov(eax, bx), /^mov eax, bx: operand sizes do not fit this instruction \(32, 16\)/],
  ['r8d in 32-bit mode', () => a32().mov(r8d, 1), /^mov r8d, 0x1: r8d does not exist in 32-bit mode/],
  ['64-bit register in 32-bit mode', () => a32().add(rax, rbx), /^add rax, rbx: rax does not exist in 32-bit mode/],
  ['64-bit base register in 32-bit mode', () => a32().mov(eax, mem(rbx)), /rbx does not exist in 32-bit mode/],
  ['ah with a REX-only register', () => a64().mov(ah, sil), /^mov ah, sil: ah cannot be encoded in an instruction that needs a REX prefix \(sil needs one; SDM 2.2.1.2\)/],
  ['ah with r8b', () => a64().add(ah, r8b), /^add ah, r8b: ah cannot be encoded .*REX/],
  ['ah with a 64-bit operation', () => a64().movzx(rax, ah), /^movzx rax, ah: ah cannot be encoded/],
  ['scale 3', () => mem(rax, { index: rbx, scale: 3 }), /^mem\(rax\): scale 3 is not 1, 2, 4 or 8/],
  ['rsp as index', () => mem(rax, { index: rsp }), /^mem\(rax\): rsp cannot be an index register/],
  ['esp as index', () => mem(eax, { index: esp, scale: 2 }), /esp cannot be an index register/],
  ['16-bit addressing', () => mem(bx), /bx cannot address memory: 16-bit addressing is not supported/],
  ['32-bit address in 64-bit mode', () => a64().mov(eax, mem(ebx)), /^mov eax, dword \[ebx\]|^mov eax, \[ebx\]: ebx cannot address memory in 64-bit mode/],
  ['unsized memory with an immediate', () => a64().add(mem(rax), 1), /^add \[rax\], 0x1: operand size not specified/],
  ['immediate too wide', () => a64().add(eax, 0x1_0000_0000n), /^add eax, 0x100000000: immediate 0x100000000 does not fit in 32 bits/],
  ['sign-extended imm32 out of range for a 64-bit op', () => a64().add(rax, 0x8000_0000n), /^add rax, 0x80000000: immediate 0x80000000 does not fit a sign-extended 32-bit field/],
  ['port number above 255', () => a64().in(al, 256), /^in al, 0x100: immediate 0x100 does not fit an unsigned 8-bit field/],
  ['in with a 64-bit accumulator', () => a64().in(rax, dx), /^in rax, dx: operand sizes do not fit/],
  ['lock on a register destination', () => a64().lock.add(eax, ebx), /^lock add eax, ebx: lock needs a read-modify-write instruction with a memory destination/],
  ['lock on mov', () => a64().lock.mov(dword(mem(rax)), eax), /lock needs a read-modify-write instruction/],
  ['rep on a non-string instruction', () => a64().rep.add(eax, ebx), /^rep add eax, ebx: rep applies only to string instructions/],
  ['repne on movs', () => a64().repne.movsb(), /^repne movsb: repne applies only to string instructions cmps\/scas/],
  ['two prefixes', () => a64().lock.rep, /two prefixes in a row/],
  ['absolute label in 64-bit mode', () => a64().mov(eax, mem('x')), /use mem\.rip\(label\) instead/],
  ['label as sign-extended imm32 in 64-bit mode', () => a64().push(addr('x')), /^push x: a label address as a sign-extended imm32 would need R_X86_64_32S/],
  ['push of a 32-bit register in 64-bit mode', () => a64().push(eax), /^push eax: operand sizes do not fit/],
  ['movsxd in 32-bit mode', () => a32().movsxd(eax, ebx), /^movsxd eax, ebx: no 32-bit encoding takes these operands/],
  ['64-bit displacement', () => a64().mov(eax, mem(0x1_0000_0000n)), /does not fit a sign-extended 32-bit field/],
  ['indirect call through a 16-bit register', () => a64().call(bx), /^call bx: operand sizes do not fit/],
  ['unknown condition', () => a64().jcc('xx' as Cond, 'l'), /^jxx l: unknown condition "xx"/],
  ['unknown mnemonic', () => a64().insn('frob', eax), /^frob eax: unknown instruction "frob"/],
  ['nop of 10 bytes', () => a64().nop(10), /^nop\(10\): multi-byte NOPs are 1 to 9 bytes/],
  ['alignment not a power of two', () => a64().align(3), /^align 3: alignment must be a power of two/],
  ['unsafe JS number', () => a64().mov(rax, 2 ** 60), /is not a safe integer; pass a bigint/],
  ['byte store of a word value', () => a64().mov(byte(mem(rax)), 0x100), /^mov byte \[rax\], 0x100: immediate 0x100 does not fit in 8 bits/],
  ['short jump to an external symbol', () => a64().extern('e').jmp('e', { short: true }).finish(), /^jmp short e: a short branch cannot reach an external symbol/],
  ['short jump across sections', () => a64().section('.data').label('d').section('.text').jmp('d', { short: true }).finish(), /a short branch cannot reach \.data from \.text/],
  ['undefined label in data', () => a64().dq('nowhere').finish(), /^dq nowhere \(\.text\+0x0\): undefined label "nowhere"/],
  ['declared global never defined', () => a64().global('f').ret().finish(), /^symbol f: declared with global\(\)\/symbol\(\) but never defined/],
  ['dangling prefix', () => a64().ret().lock.finish(), /prefix with no instruction after it/],
  ['origin outside the address space', () => new Asm({ bits: 32, origin: 0x1_0000_0000n }), /origin 0x100000000 is outside the 32-bit address space/],
  ['patch site with no label before it', () => a64().vmcall({ patchSite: true }).finish(), /^vmcall \(patch site at \.text\+0x0\): no label before it/],
  ['iretq in 32-bit mode', () => a32().iretq(), /^iretq: no 32-bit encoding takes these operands/],
  ['r8 as 32-bit mode base', () => a32().lea(eax, mem(r8)), /r8 does not exist in 32-bit mode/],
];

describe('assembler errors', () => {
  for (const [name, f, re] of cases) {
    it(name, () => {
      const e = err(f);
      expect(e.message).toMatch(re);
    });
  }
});
