# Trampoline for harness.c: loads every GPR and the flags from in_regs/in_flags without using the
# snippet's stack, jumps to code_ptr; the snippet jumps back to case_return, which stores them to out_regs/out_flags.
.intel_syntax noprefix
.text
.globl run_case
run_case:
  push rbx
  push rbp
  push r12
  push r13
  push r14
  push r15
  mov [rip+host_sp], rsp
  lea rsp, [rip+flag_stack_top]
  push qword ptr [rip+in_flags]
  popfq
  mov rax, qword ptr [rip+in_regs+0]
  mov rcx, qword ptr [rip+in_regs+8]
  mov rdx, qword ptr [rip+in_regs+16]
  mov rbx, qword ptr [rip+in_regs+24]
  mov rsp, qword ptr [rip+in_regs+32]
  mov rbp, qword ptr [rip+in_regs+40]
  mov rsi, qword ptr [rip+in_regs+48]
  mov rdi, qword ptr [rip+in_regs+56]
  mov r8, qword ptr [rip+in_regs+64]
  mov r9, qword ptr [rip+in_regs+72]
  mov r10, qword ptr [rip+in_regs+80]
  mov r11, qword ptr [rip+in_regs+88]
  mov r12, qword ptr [rip+in_regs+96]
  mov r13, qword ptr [rip+in_regs+104]
  mov r14, qword ptr [rip+in_regs+112]
  mov r15, qword ptr [rip+in_regs+120]
  jmp qword ptr [rip+code_ptr]
.globl case_return
case_return:
  mov qword ptr [rip+out_regs+0], rax
  mov qword ptr [rip+out_regs+8], rcx
  mov qword ptr [rip+out_regs+16], rdx
  mov qword ptr [rip+out_regs+24], rbx
  mov qword ptr [rip+out_regs+32], rsp
  mov qword ptr [rip+out_regs+40], rbp
  mov qword ptr [rip+out_regs+48], rsi
  mov qword ptr [rip+out_regs+56], rdi
  mov qword ptr [rip+out_regs+64], r8
  mov qword ptr [rip+out_regs+72], r9
  mov qword ptr [rip+out_regs+80], r10
  mov qword ptr [rip+out_regs+88], r11
  mov qword ptr [rip+out_regs+96], r12
  mov qword ptr [rip+out_regs+104], r13
  mov qword ptr [rip+out_regs+112], r14
  mov qword ptr [rip+out_regs+120], r15
  mov rsp, qword ptr [rip+host_sp]
  pushfq
  pop qword ptr [rip+out_flags]
  cld
  pop r15
  pop r14
  pop r13
  pop r12
  pop rbp
  pop rbx
  ret
.bss
.balign 16
flag_stack: .skip 64
flag_stack_top:
.section .note.GNU-stack,"",@progbits
