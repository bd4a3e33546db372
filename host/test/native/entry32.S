# Entry for cfuncs.c, first in the flat image: i386 cdecl, the 64-bit arguments which/a/b come in
# edx:eax, ecx:ebx, edi:esi (high:low), buf in ebp; pushed right to left.
.intel_syntax noprefix
.section .entry, "ax"
.globl entry
entry:
  push ebp
  push edi
  push esi
  push ecx
  push ebx
  push edx
  push eax
  call run
  add esp, 28
  jmp done
.section .done, "ax"
.globl done
done:
.section .note.GNU-stack,"",@progbits
