// Emulator disagreements in DEFINED results that are already reported to the engine's owner (helper E1 /
// the lead). Each has a minimal reproducer that native-diff.test.ts runs as an expected failure (`it.fails`):
// once the engine is fixed that test fails and says to delete the entry here. Nothing else is excused.
import type { Mismatch } from './compare.js';
import { regName, type Width } from './context.js';
import { GPR32, GPR64 } from './layout.js';

export interface KnownIssue {
  readonly id: string;
  readonly summary: string;
  /** Minimal reproducer: Intel-syntax lines, mode, initial registers (encoding order) and flags. */
  readonly repro: { readonly bits: 64 | 32; readonly asm: readonly string[]; readonly regs: Readonly<Record<number, bigint>>; readonly flags: number };
  /** Does this mismatch come from this issue (and nothing else)? */
  matches(m: Mismatch): boolean;
}

const SHIFT_GROUPS = new Set(['shl', 'shr', 'sar', 'rol', 'ror', 'rcl', 'rcr', 'shld', 'shrd']);

export const KNOWN_ISSUES: readonly KnownIssue[] = [
  {
    id: 'xadd-same-register',
    summary:
      'xadd r, r (both operands the same register) keeps the old value; the CPU writes the sum last ' +
      '(SDM Vol.2 XADD Operation: TEMP := SRC + DEST; SRC := DEST; DEST := TEMP)',
    repro: { bits: 64, asm: ['xadd rax, rax'], regs: { 0: 0x8000000000000001n }, flags: 0 },
    matches: (m) => {
      const same = /^(?:lock )?xadd (\w+), \1$/.exec(m.c.asm[0] ?? '');
      if (m.c.group !== 'xadd' || same === null) return false;
      // the wrong value may flow on into the destination of a following cmovcc
      const next = /^cmov\w+ (\w+), /.exec(m.c.asm[1] ?? '');
      const long = m.c.regs.length === 16;
      return m.what === fullRegister(same[1]!, long) || (next !== null && m.what === fullRegister(next[1]!, long));
    },
  },
  {
    id: 'shift-count0-no-zero-extend',
    summary:
      '64-bit mode, 32-bit destination register, masked shift/rotate count 0: the CPU still writes the register and so ' +
      'zero-extends it (SDM Vol.1 3.4.1.1), the emulator leaves bits 63..32 unchanged',
    repro: { bits: 64, asm: ['rcl esi, 0'], regs: { 6: 0x97f5c2bebe5f9bafn }, flags: 0 },
    matches: (m) => {
      if (!SHIFT_GROUPS.has(m.c.group) || m.what.startsWith('flags') || m.what.startsWith('scratch')) return false;
      const nat = BigInt(m.native);
      const emu = BigInt(m.emulated);
      return nat >> 32n === 0n && emu >> 32n !== 0n && (emu & 0xffffffffn) === nat;
    },
  },
];

export function knownIssueOf(m: Mismatch): KnownIssue | undefined {
  return KNOWN_ISSUES.find((k) => k.matches(m));
}

/** 'ah' -> 'rax' (64-bit) / 'eax' (32-bit): the name compareCase uses for the whole register. */
function fullRegister(name: string, long: boolean): string | undefined {
  for (let i = 0; i < (long ? 16 : 8); i++) {
    const hits = ([8, 16, 32, 64] as Width[]).some((w) => regName(i, w) === name) || (i < 4 && regName(i, 8, true) === name);
    if (hits) return long ? GPR64[i] : GPR32[i];
  }
  return undefined;
}
