/* Native differential harness: runs small user-mode x86 snippets on the real CPU.
 * stdin, one case per line:  <codehex> <reg0> .. <reg(N-1)> <flags> <scratchhex>
 *   regs in hex, in encoding order (rax rcx rdx rbx rsp rbp rsi rdi [r8..r15]); N = 16 (64-bit) or 8 (32-bit).
 * stdout, one line per case:  ok <reg0> .. <reg(N-1)> <flags> <scratchhex>
 *   or  fault <signo> <rip> <reg0> .. <reg(N-1)> <flags>  (state at the fault, from the signal context)
 * The code is copied to CODE_BASE (fixed, so emulators can use the same addresses), followed by a jump back to
 * the trampoline (tramp64.S / tramp32.S), which loads/stores every GPR and RFLAGS without using the stack. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#if defined(__x86_64__)
#define NREGS 16
#else
#define NREGS 8
#endif

#define CODE_BASE 0x100000UL    /* must match native/layout.ts CODE_BASE */
#define CODE_SIZE 0x10000UL     /* must match native/layout.ts CODE_SIZE */
#define SCRATCH_BASE 0x110000UL /* must match native/layout.ts SCRATCH_BASE */
#define SCRATCH_SIZE 256        /* bytes compared after each case; must match layout.ts SCRATCH_SIZE */
#define MAX_CODE (CODE_SIZE - 16)

/* Shared with the trampoline. */
uintptr_t in_regs[NREGS], out_regs[NREGS], in_flags, out_flags, host_sp, code_ptr;
extern void run_case(void);
extern void case_return(void);

static sigjmp_buf fault_jmp;
static volatile int fault_sig;
/* Architectural state at the fault, from the signal's ucontext: GPRs in encoding order, then RIP and RFLAGS. */
static uintptr_t fault_regs[NREGS], fault_ip, fault_flags;

static void on_fault(int sig, siginfo_t *si, void *ctx) {
  (void)si;
  const greg_t *g = ((ucontext_t *)ctx)->uc_mcontext.gregs;
#if defined(__x86_64__)
  static const int order[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
                                REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15};
  fault_ip = (uintptr_t)g[REG_RIP];
#else
  static const int order[8] = {REG_EAX, REG_ECX, REG_EDX, REG_EBX, REG_UESP, REG_EBP, REG_ESI, REG_EDI};
  fault_ip = (uintptr_t)g[REG_EIP];
#endif
  for (int i = 0; i < NREGS; i++) fault_regs[i] = (uintptr_t)g[order[i]];
  fault_flags = (uintptr_t)g[REG_EFL];
  fault_sig = sig;
  siglongjmp(fault_jmp, 1);
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes hex into out (at most max bytes); returns byte count or -1. */
static int unhex(const char *s, uint8_t *out, int max) {
  int n = 0;
  if (strcmp(s, "-") == 0) return 0;
  while (s[0] && s[1]) {
    int hi = hexval(s[0]), lo = hexval(s[1]);
    if (hi < 0 || lo < 0 || n >= max) return -1;
    out[n++] = (uint8_t)(hi << 4 | lo);
    s += 2;
  }
  return s[0] ? -1 : n;
}

int main(void) {
  uint8_t *code = mmap((void *)CODE_BASE, CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  uint8_t *scratch = mmap((void *)SCRATCH_BASE, 0x1000, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (code != (uint8_t *)CODE_BASE || scratch != (uint8_t *)SCRATCH_BASE) {
    fprintf(stderr, "harness: cannot map code/scratch at fixed addresses\n");
    return 2;
  }
  /* The snippet runs with arbitrary RSP, so faults are handled on an alternate stack. */
  static uint8_t altstack[65536];
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
  sigaltstack(&ss, NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_ONSTACK | SA_NODEFER | SA_SIGINFO;
  int sigs[] = {SIGFPE, SIGSEGV, SIGILL, SIGBUS, SIGTRAP};
  for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);

  static char line[2 * CODE_SIZE + 4096];
  static uint8_t buf[MAX_CODE];
  while (fgets(line, sizeof line, stdin)) {
    char *tok[NREGS + 3];
    int nt = 0;
    for (char *p = strtok(line, " \t\r\n"); p && nt < NREGS + 3; p = strtok(NULL, " \t\r\n")) tok[nt++] = p;
    if (nt == 0) continue;
    if (nt != NREGS + 3) {
      printf("error expected %d fields, got %d\n", NREGS + 3, nt);
      continue;
    }
    int len = unhex(tok[0], buf, MAX_CODE - 16);
    int slen = unhex(tok[NREGS + 2], scratch, SCRATCH_SIZE);
    if (len < 0 || slen < 0) {
      printf("error bad hex\n");
      continue;
    }
    memset(scratch + slen, 0, 0x1000 - slen);
    for (int i = 0; i < NREGS; i++) in_regs[i] = (uintptr_t)strtoull(tok[i + 1], NULL, 16);
    /* Only the arithmetic flags and DF are taken from input; bit 1 is reserved-1, IF stays as it is. */
    in_flags = ((uintptr_t)strtoull(tok[NREGS + 1], NULL, 16) & 0xCD5) | 0x202;
    memcpy(code, buf, len);
#if defined(__x86_64__)
    /* jmp qword [rip+0] ; dq case_return  (absolute, the code page may be anywhere relative to the binary) */
    uint8_t tail[14] = {0xFF, 0x25, 0, 0, 0, 0};
    uint64_t target = (uint64_t)(uintptr_t)&case_return;
    memcpy(tail + 6, &target, 8);
#else
    /* jmp rel32 (wraps modulo 2^32) */
    uint8_t tail[5] = {0xE9};
    uint32_t rel = (uint32_t)(uintptr_t)&case_return - (uint32_t)(CODE_BASE + len + 5);
    memcpy(tail + 1, &rel, 4);
#endif
    memcpy(code + len, tail, sizeof tail);
    __builtin___clear_cache((char *)code, (char *)code + len + sizeof tail);
    code_ptr = CODE_BASE;
    fault_sig = 0;
    if (sigsetjmp(fault_jmp, 1) == 0) {
      run_case();
    }
    if (fault_sig) {
      printf("fault %d %llx", fault_sig, (unsigned long long)fault_ip);
      for (int i = 0; i < NREGS; i++) printf(" %llx", (unsigned long long)fault_regs[i]);
      printf(" %llx\n", (unsigned long long)(fault_flags & 0xCD5));
      continue;
    }
    printf("ok");
    for (int i = 0; i < NREGS; i++) printf(" %llx", (unsigned long long)out_regs[i]);
    printf(" %llx ", (unsigned long long)(out_flags & 0xCD5));
    for (int i = 0; i < SCRATCH_SIZE; i++) printf("%02x", scratch[i]);
    printf("\n");
  }
  return 0;
}
