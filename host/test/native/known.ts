// Emulator disagreements in DEFINED results. A known (reported, unfixed) issue is excused in the batch tests
// only through `matches`, and its reproducer runs as an expected failure (`it.fails`) in native-diff.test.ts:
// once the engine is fixed that test fails and says to move the entry to FIXED_ISSUES, whose reproducers then
// run as ordinary regression tests. Nothing else is excused.
import type { Mismatch } from './compare.js';

export interface Repro {
  readonly id: string;
  readonly summary: string;
  /** Minimal reproducer: Intel-syntax lines, mode, initial registers (encoding order) and flags. */
  readonly repro: { readonly bits: 64 | 32; readonly asm: readonly string[]; readonly regs: Readonly<Record<number, bigint>>; readonly flags: number };
}

export interface KnownIssue extends Repro {
  /** Does this mismatch come from this issue (and nothing else)? */
  matches(m: Mismatch): boolean;
  /** Generator tag (context.ts `tags`) of cases that hit the issue; chains are generated around it. */
  readonly tag?: string;
}

/** Open issues (none at the moment). */
export const KNOWN_ISSUES: readonly KnownIssue[] = [];

/** Issues this harness found and the engine fixed (host commit 8ff9f03); kept as regression reproducers. */
export const FIXED_ISSUES: readonly Repro[] = [
  {
    id: 'xadd-same-register',
    summary:
      'xadd r, r (both operands the same register) kept the old value; the CPU writes the sum last ' +
      '(SDM Vol.2 XADD Operation: TEMP := SRC + DEST; SRC := DEST; DEST := TEMP)',
    repro: { bits: 64, asm: ['xadd rax, rax'], regs: { 0: 0x8000000000000001n }, flags: 0 },
  },
  {
    id: 'xadd-same-register-32',
    summary: 'the same in protected mode with a high-byte register',
    repro: { bits: 32, asm: ['xadd ah, ah'], regs: { 0: 0xce7a18bbn }, flags: 0 },
  },
  {
    id: 'shift-count0-no-zero-extend',
    summary:
      '64-bit mode, 32-bit destination register, masked shift/rotate count 0: the CPU still writes the register and so ' +
      'zero-extends it (SDM Vol.1 3.4.1.1); the emulator left bits 63..32 unchanged',
    repro: { bits: 64, asm: ['rcl esi, 0', 'mov cl, 32', 'shr edi, cl', 'shld ebx, edx, 64'], regs: { 6: 0x97f5c2bebe5f9bafn, 7: 0xd63d23d5cc876e30n, 3: 0x6e6b50b8e38b6db9n }, flags: 0 },
  },
];

export function knownIssueOf(m: Mismatch): KnownIssue | undefined {
  return KNOWN_ISSUES.find((k) => k.matches(m));
}
