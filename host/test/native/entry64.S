# Entry for cfuncs.c, first in the flat image: SysV x86-64 arguments are already in rdi, rsi, rdx, rcx.
.intel_syntax noprefix
.section .entry, "ax"
.globl entry
entry:
  call run
  add rsp, 0 # defined final flags, whatever gcc's last instruction was
  jmp done
.section .done, "ax"
.globl done
done:
.section .note.GNU-stack,"",@progbits
