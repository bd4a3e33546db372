// Which results the Intel SDM (Vol. 2, instruction reference, "Flags Affected") leaves undefined. The
// differential test still compares these against the native CPU, but a mismatch there is reported, not failed:
// the lead decides whether the emulator should copy this machine's behaviour.
import { AF, CF, OF, PF, SF, ZF } from './layout.js';

export interface UndefinedRule {
  readonly mnemonic: string;
  /** Flags left undefined (always, or under `when`). */
  readonly flags: number;
  readonly when: string;
  /** SDM Vol. 2 section. */
  readonly source: string;
}

/** The documented list (what the report prints and the lead reviews). */
export const UNDEFINED_RULES: readonly UndefinedRule[] = [
  { mnemonic: 'and/or/xor/test', flags: AF, when: 'always', source: 'SDM Vol.2 AND/OR/XOR/TEST "Flags Affected"' },
  { mnemonic: 'shl/sal/shr/sar', flags: AF, when: 'masked count != 0', source: 'SDM Vol.2 SAL/SAR/SHL/SHR "Flags Affected"' },
  { mnemonic: 'shl/sal/shr/sar', flags: OF, when: 'masked count > 1', source: 'SDM Vol.2 SAL/SAR/SHL/SHR "Flags Affected"' },
  { mnemonic: 'shl/shr', flags: CF, when: 'masked count >= operand width (8/16-bit only)', source: 'SDM Vol.2 SAL/SAR/SHL/SHR "Flags Affected"' },
  { mnemonic: 'rol/ror/rcl/rcr', flags: OF, when: 'masked count > 1', source: 'SDM Vol.2 RCL/RCR/ROL/ROR "Flags Affected"' },
  { mnemonic: 'shld/shrd', flags: AF, when: 'masked count != 0', source: 'SDM Vol.2 SHLD/SHRD "Flags Affected"' },
  { mnemonic: 'shld/shrd', flags: OF, when: 'masked count > 1', source: 'SDM Vol.2 SHLD/SHRD "Flags Affected"' },
  { mnemonic: 'shld/shrd', flags: CF | OF | SF | ZF | PF | AF, when: 'masked count > operand width (16-bit); destination undefined too', source: 'SDM Vol.2 SHLD/SHRD "Flags Affected"' },
  { mnemonic: 'mul/imul', flags: SF | ZF | AF | PF, when: 'always', source: 'SDM Vol.2 MUL/IMUL "Flags Affected"' },
  { mnemonic: 'div/idiv', flags: CF | OF | SF | ZF | AF | PF, when: 'always', source: 'SDM Vol.2 DIV/IDIV "Flags Affected"' },
  { mnemonic: 'bt/bts/btr/btc', flags: OF | SF | AF | PF, when: 'always (ZF unaffected)', source: 'SDM Vol.2 BT "Flags Affected"' },
  { mnemonic: 'bsf/bsr', flags: CF | OF | SF | AF | PF, when: 'always; destination undefined when source is 0', source: 'SDM Vol.2 BSF/BSR "Flags Affected"' },
  { mnemonic: 'bswap r16', flags: 0, when: 'result undefined (16-bit operand)', source: 'SDM Vol.2 BSWAP Description' },
  { mnemonic: 'setcc/cmovcc', flags: 0, when: 'result undefined when the condition reads a flag the previous instruction left undefined', source: 'follows from the rows above' },
];

/** Flags each condition code (low nibble of Jcc/SETcc/CMOVcc opcode) reads. SDM Vol.1 B.1 "Condition Codes". */
export const CC_READS: readonly number[] = [
  OF, OF, // o, no
  CF, CF, // b, ae
  ZF, ZF, // e, ne
  CF | ZF, CF | ZF, // be, a
  SF, SF, // s, ns
  PF, PF, // p, np
  SF | OF, SF | OF, // l, ge
  ZF | SF | OF, ZF | SF | OF, // le, g
];

export const CC_NAMES = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'] as const;

/** Evaluates condition code `cc` (0..15) on `flags`. SDM Vol.1 B.1. */
export function ccHolds(cc: number, flags: number): boolean {
  const f = (bit: number): boolean => (flags & bit) !== 0;
  let r: boolean;
  switch (cc >> 1) {
    case 0: r = f(OF); break;
    case 1: r = f(CF); break;
    case 2: r = f(ZF); break;
    case 3: r = f(CF) || f(ZF); break;
    case 4: r = f(SF); break;
    case 5: r = f(PF); break;
    case 6: r = f(SF) !== f(OF); break;
    default: r = f(ZF) || f(SF) !== f(OF); break;
  }
  return (cc & 1) === 0 ? r : !r;
}
