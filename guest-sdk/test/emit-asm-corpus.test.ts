// Canonical code (what nasm itself emits for the instruction set the assembler covers) must come back from
// toNasm/toGas as text, with no byte fallbacks, and reassemble to the same bytes in nasm and GNU as.
import { describe, expect, it } from 'vitest';
import { asmSource } from '../src/emit/index.js';
import type { Image } from '../src/image.js';
import { nasmFlat } from './support/nasm-fixture.js';
import { checkRoundTrip } from './support/roundtrip.js';
import { gas, hasAs, hasLd, hasNasm, scratch, warnMissing, writeFileSync } from './support/tools.js';
import { sectionHex } from './support/objects.js';

const noTools = warnMissing('nasm', hasNasm) || warnMissing('GNU as', hasAs) || warnMissing('ld', hasLd);

const COMMON = `
  add eax, ebx
  add eax, 5
  add eax, 0x1000
  add ecx, 0x1000
  add byte [ebx], 1
  adc edx, 0
  sub esp, 0x28
  sbb eax, ecx
  and eax, 0xfff0
  or dword [ebx+8], 0x80
  xor eax, eax
  cmp edi, 3
  cmp byte [eax], 0
  cmp al, 0x41
  test al, 1
  test eax, 0x100
  test ecx, ecx
  test byte [eax+8], 0x80
  mov eax, 1
  mov cl, 0x7f
  mov dword [ebx+ecx*4+0x10], 5
  mov byte [edi], 0x7f
  mov al, [esi-1]
  mov ax, [esi+2]
  mov [ebp-4], ecx
  mov eax, [ebp+0x200]
  movzx eax, byte [edi]
  movzx ecx, word [eax+2]
  movsx eax, cx
  movsx edx, byte [ebx]
  lea eax, [ebx+ecx*8+0x40]
  lea esi, [esp+4]
  neg ecx
  not eax
  dec dword [ebx]
  shl eax, 1
  shl eax, 4
  shr ecx, cl
  sar edx, 31
  rol eax, 8
  ror word [ebx], 1
  rcl eax, 1
  rcr ecx, 3
  mul ecx
  imul eax, ebx
  imul eax, ecx, 10
  imul eax, ecx, 1000
  imul edx
  div ecx
  idiv dword [ebx]
  push 5
  push 0x1000
  call [ebx+8]
  jmp [eax]
  setc al
  sete byte [ebx]
  cmovz eax, ebx
  cmovnz eax, [ecx]
  xchg eax, ebx
  xchg [ebx], ecx
  xchg ecx, edx
  lock cmpxchg [edi], esi
  lock xadd [edi], eax
  cmpxchg ecx, edx
  bt eax, 3
  bts dword [ebx], 5
  btr ecx, edx
  btc eax, 31
  bswap eax
  rep movsb
  rep stosd
  lodsd
  repe cmpsb
  repne scasb
  movsw
  stosb
  cpuid
  rdmsr
  wrmsr
  rdtsc
  vmcall
  vmmcall
  in al, 0x60
  in ax, dx
  in eax, dx
  in eax, 0x71
  out 0x80, al
  out dx, ax
  out dx, eax
  out 0x43, eax
  rep insb
  rep outsw
  insd
  outsb
  hlt
  pause
  int3
  ud2
  nop
  nop dword [eax+eax*1+0]
  nop word [eax+eax*1+0]
  cli
  sti
  cld
  std
  cdq
  cwd
  cbw
  cwde
  ret 8
  leave
`;

const SRC64 = `
start:
  mov rax, 0x123456789abcdef0
  mov rax, -1
  mov r8d, [rsp+8]
  mov qword [rbx+rcx*4+0x10], 5
  mov r9, [r13]
  mov [r12], rax
  movsx rax, byte [rbx]
  movsxd rax, dword [rbx+4]
  lea rsi, [rel data]
  mov rax, [rel data+8]
  add rax, rbx
  sub rsp, 0x28
  cmp rdi, 3
  test rdi, rdi
  inc rax
  dec r10
  neg rcx
  not r9
  shl rax, 1
  sar r8, 63
  mul rcx
  imul rax, rbx
  div r8
  push rbp
  push r12
  push qword [rax]
  pop rbx
  pop r15
  call rax
  call start
  jmp r11
  cmovz rax, rbx
  xchg rax, rbx
  xchg r8, r9
  lock cmpxchg [rdi], rsi
  bts qword [rbx], 5
  bswap r10
  rep stosq
  lodsq
  cqo
  cdqe
  jz start
  jnz far_away
  jmp start
  times 140 nop
far_away:
  jmp short start2
start2:
  ret
${COMMON}
data: dq 0
`;

const SRC32 = `
start:
  mov eax, [0x1000]
  push dword [eax]
  pop dword [eax]
  call ecx
  jmp eax
  mov [0x2000], al
  mov ecx, [0x1000]
  inc eax
  dec ecx
  push eax
  push ebp
  pop esi
  mov eax, data
  mov eax, [data]
  call start
  jz start
  jnz far_away
  times 140 nop
far_away:
  jmp start
  ret
${COMMON}
data: dd 0
`;

function imageOf(bits: 64 | 32, src: string): Image {
  const f = nasmFlat(bits, 0x400000n, src);
  const text = f.sections.find((s) => s.name === '.text')!;
  return {
    bits, origin: 0x400000n, relocations: [], patchSites: [], sections: [text],
    symbols: [{ name: 'start', section: '.text', offset: 0, size: text.bytes.length, kind: 'func', global: true }],
  };
}

describe.skipIf(noTools)('canonical code: no fallbacks', () => {
  for (const bits of [64, 32] as const) {
    it(`${bits}-bit: every instruction nasm emitted prints as text and reassembles identically (nasm and as)`, () => {
      const img = imageOf(bits, bits === 64 ? SRC64 : SRC32);
      const n = asmSource(img, 'nasm');
      const g = asmSource(img, 'gas');
      expect(n.fallbacks.map((f) => f.reason)).toEqual([]);
      // nasm and GNU as write several legacy prefixes in different orders (nasm: F0/F3, 66, 67; as: 67, 66,
      // F0/F3), so nasm's own output keeps those few as bytes in the GAS text, and nothing else
      expect(g.fallbacks.filter((f) => !/prefix order GNU as does not write/.test(f.reason)).map((f) => f.reason)).toEqual([]);
      expect(g.fallbacks.length).toBeLessThanOrEqual(6);
      expect(checkRoundTrip(img)).toEqual({ nasmFallbacks: 0, gasFallbacks: g.fallbacks.length });
    });
  }
});

// The same idea from GNU as's side: what as emits must come back as GAS text with no fallbacks.
const GAS_COMMON = `
  addl %ebx, %eax
  addl $5, %eax
  addl $0x1000, %eax
  addl $0x1000, %ecx
  subl $0x28, %esp
  cmpb $0, (%eax)
  testb $1, %al
  testl $0x100, %eax
  movl $1, %eax
  movl %eax, -4(%ebp)
  movl 0x200(%ebp), %eax
  movw 2(%esi), %ax
  movzbl (%edi), %eax
  movswl %cx, %eax
  leal 0x40(%ebx,%ecx,8), %eax
  shll $1, %eax
  shll $4, %eax
  shrl %cl, %ecx
  rorw $1, (%ebx)
  imull $10, %ecx, %eax
  imull $1000, %ecx, %eax
  xchgl %ecx, %edx
  lock cmpxchgl %esi, (%edi)
  lock xaddl %eax, (%edi)
  rep outsw
  rep stosl
  btsl $5, (%ebx)
  bswap %eax
  inb $0x60, %al
  outl %eax, %dx
  cpuid
  vmcall
  vmmcall
  nopw (%eax,%eax,1)
  ret $8
`;

function gasImage(bits: 64 | 32, src: string): Image {
  const s = scratch();
  try {
    writeFileSync(s.path('a.o'), gas(src, bits));
    const bytes = Uint8Array.from(Buffer.from(sectionHex(s.path('a.o'), '.text'), 'hex'));
    return {
      bits, origin: 0x400000n, relocations: [], patchSites: [], sections: [{ name: '.text', bytes, align: 16 }],
      symbols: [{ name: 'start', section: '.text', offset: 0, size: bytes.length, kind: 'func', global: true }],
    };
  } finally { s.done(); }
}

describe.skipIf(noTools)('canonical GNU as code: no GAS fallbacks', () => {
  for (const bits of [64, 32] as const) {
    it(`${bits}-bit: what as emitted prints as text and reassembles identically`, () => {
      const extra = bits === 64 ? '  movq $-1, %rax\n  movabsq $0x123456789abcdef0, %rax\n  addq %rbx, %rax\n  pushq %r12\n  pushq $5\n  movq 8(%rsp), %r8\n' : '  incl %eax\n  pushl %ebp\n  pushl $5\n  movl 0x1000, %eax\n';
      const img = gasImage(bits, extra + GAS_COMMON);
      const g = asmSource(img, 'gas');
      expect(g.fallbacks.map((f) => `${f.text} (${f.reason})`)).toEqual([]);
      const n = asmSource(img, 'nasm');
      // nasm writes several prefixes in another order than as: those few stay bytes in the NASM text
      expect(n.fallbacks.filter((f) => !/prefix order nasm does not write/.test(f.reason)).map((f) => `${f.text} (${f.reason})`)).toEqual([]);
      expect(checkRoundTrip(img)).toEqual({ nasmFallbacks: n.fallbacks.length, gasFallbacks: 0 });
    });
  }
});
