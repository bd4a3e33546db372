# Trampoline for harness.c: loads every GPR and the flags from in_regs/in_flags without using the
# snippet's stack, jumps to code_ptr; the snippet jumps back to case_return, which stores them to out_regs/out_flags.
.intel_syntax noprefix
.text
.globl run_case
run_case:
  push ebx
  push ebp
  push esi
  push edi
  mov [host_sp], esp
  lea esp, [flag_stack_top]
  push dword ptr [in_flags]
  popfd
  mov eax, dword ptr [in_regs+0]
  mov ecx, dword ptr [in_regs+4]
  mov edx, dword ptr [in_regs+8]
  mov ebx, dword ptr [in_regs+12]
  mov esp, dword ptr [in_regs+16]
  mov ebp, dword ptr [in_regs+20]
  mov esi, dword ptr [in_regs+24]
  mov edi, dword ptr [in_regs+28]
  jmp dword ptr [code_ptr]
.globl case_return
case_return:
  mov dword ptr [out_regs+0], eax
  mov dword ptr [out_regs+4], ecx
  mov dword ptr [out_regs+8], edx
  mov dword ptr [out_regs+12], ebx
  mov dword ptr [out_regs+16], esp
  mov dword ptr [out_regs+20], ebp
  mov dword ptr [out_regs+24], esi
  mov dword ptr [out_regs+28], edi
  mov esp, dword ptr [host_sp]
  pushfd
  pop dword ptr [out_flags]
  cld
  pop edi
  pop esi
  pop ebp
  pop ebx
  ret
.bss
.balign 16
flag_stack: .skip 64
flag_stack_top:
.section .note.GNU-stack,"",@progbits
