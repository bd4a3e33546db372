// Fixed addresses shared by the native harness (harness.c) and the emulator runner, so that address-dependent
// results (lea with RIP, memory operands into the scratch buffer) are identical on both sides.

export type Bits = 64 | 32;

/** Where the snippet is copied; harness.c CODE_BASE. Above mmap_min_addr (64 KiB), below a no-pie binary. */
export const CODE_BASE = 0x100000n;
/** Room for code (snippets and small gcc-built images); harness.c CODE_SIZE. */
export const CODE_SIZE = 0x10000;
/** Scratch page a register may point into for memory operands (its top also serves as a stack); harness.c SCRATCH_BASE. */
export const SCRATCH_BASE = 0x110000n;
/** Size of the scratch mapping (only the first SCRATCH_SIZE bytes are compared). */
export const SCRATCH_PAGE = 0x1000;
/** Bytes of scratch compared after each case; harness.c SCRATCH_SIZE. */
export const SCRATCH_SIZE = 256;

/** GPR names in encoding order (ModRM reg numbers), as the harness reads and prints them. */
export const GPR64 = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;
export const GPR32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'] as const;

export function gprCount(bits: Bits): number {
  return bits === 64 ? 16 : 8;
}

// RFLAGS bits (Intel SDM Vol. 1, 3.4.3 "EFLAGS Register").
export const CF = 1 << 0;
export const PF = 1 << 2;
export const AF = 1 << 4;
export const ZF = 1 << 6;
export const SF = 1 << 7;
export const DF = 1 << 10;
export const OF = 1 << 11;
/** The six arithmetic status flags. */
export const ARITH = CF | PF | AF | ZF | SF | OF;
/** The flags the harness loads and compares: CF PF AF ZF SF OF and DF. */
export const FLAG_MASK = CF | PF | AF | ZF | SF | DF | OF;

export const FLAG_NAMES: ReadonlyArray<readonly [number, string]> = [
  [CF, 'CF'], [PF, 'PF'], [AF, 'AF'], [ZF, 'ZF'], [SF, 'SF'], [DF, 'DF'], [OF, 'OF'],
];

export function flagText(flags: number): string {
  const on = FLAG_NAMES.filter(([bit]) => (flags & bit) !== 0).map(([, n]) => n);
  return on.length ? on.join(' ') : '-';
}
