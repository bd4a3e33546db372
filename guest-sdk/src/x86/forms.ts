// The opcode-form table: the one source of truth for what each mnemonic can encode (Intel SDM Vol. 2 opcode
// tables, column "Op/En"). The encoder tries every form that matches and keeps the shortest, first on ties,
// which reproduces nasm's canonical choices (sign-extended imm8, accumulator short forms, MR for reg,reg).

/**
 * Operand patterns. Sizes: 8/16/32/64 fixed; v = 16/32/64 (64 in long mode only); y = 32/64; z = 16/32;
 * n = 16 or native (push/pop); p = native only (64 in long mode, 32 otherwise).
 * r: register, rm: register or memory, m: memory of any size, acc: al/ax/eax/rax,
 * iv: imm of the operand size (imm32 sign-extended for 64-bit), s8: sign-extended imm8, ib: imm8 -128..255,
 * u8: imm8 0..255, i16: imm16, i64: full imm64, u32: imm that zero-extends from 32 bits,
 * one: the constant 1, cl / dx: that register, moffs: absolute address with no base/index (32-bit mode).
 */
export type Pat = string;

export interface Form {
  readonly ops: readonly Pat[];
  /** Opcode bytes (mandatory prefixes such as pause's F3 included). */
  readonly op: readonly number[];
  /** Operand index in ModRM.reg. */
  readonly reg?: number;
  /** ModRM.reg opcode extension (/digit). */
  readonly ext?: number;
  /** Operand index in ModRM.rm. */
  readonly rm?: number;
  /** Operand index added to the low 3 bits of the last opcode byte (+rb/+rw/+rd/+ro). */
  readonly plus?: number;
  /** Operand index of the immediate. */
  readonly imm?: number;
  /** Operand index of a moffs address. */
  readonly moffs?: number;
  /** Default operand size is 64 in long mode (no REX.W needed, 32 not encodable): push, pop, call/jmp r/m. */
  readonly d64?: boolean;
  /** 64-bit destination written through the 32-bit form (mov r64, u32 zero-extends; SDM 3.4.1.1). */
  readonly noW?: boolean;
  /** Operand size for forms without sized operands (cwd/cdq/cqo, string ops). */
  readonly size?: 16 | 32 | 64;
  readonly mode?: 32 | 64;
  /** 90+r with eax,eax in long mode is NOP, not a zero-extending xchg: skip it there. */
  readonly notNop?: boolean;
}

type F = Form;
const T: Record<string, F[]> = {};
function def(mn: string, ...forms: F[]): void {
  (T[mn] ??= []).push(...forms);
}

// ALU group: add/or/adc/sbb/and/sub/xor/cmp share a layout; digit n gives base opcode n*8 (SDM Table A-2).
(['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'] as const).forEach((mn, n) => {
  const b = n * 8;
  def(mn,
    { ops: ['rm8', 'r8'], op: [b], rm: 0, reg: 1 },
    { ops: ['rmv', 'rv'], op: [b + 1], rm: 0, reg: 1 },
    { ops: ['r8', 'rm8'], op: [b + 2], reg: 0, rm: 1 },
    { ops: ['rv', 'rmv'], op: [b + 3], reg: 0, rm: 1 },
    // 83 /n before the accumulator form: on a tie (16-bit: 66 83 /n ib vs 66 05+ iw) nasm picks 83.
    { ops: ['rmv', 's8'], op: [0x83], ext: n, rm: 0, imm: 1 },
    { ops: ['acc8', 'ib'], op: [b + 4], imm: 1 },
    { ops: ['accv', 'iv'], op: [b + 5], imm: 1 },
    { ops: ['rm8', 'ib'], op: [0x80], ext: n, rm: 0, imm: 1 },
    { ops: ['rmv', 'iv'], op: [0x81], ext: n, rm: 0, imm: 1 },
  );
});

def('mov',
  { ops: ['rm8', 'r8'], op: [0x88], rm: 0, reg: 1 },
  { ops: ['rmv', 'rv'], op: [0x89], rm: 0, reg: 1 },
  { ops: ['r8', 'rm8'], op: [0x8a], reg: 0, rm: 1 },
  { ops: ['rv', 'rmv'], op: [0x8b], reg: 0, rm: 1 },
  { ops: ['acc8', 'moffs'], op: [0xa0], moffs: 1, mode: 32 },
  { ops: ['accv', 'moffs'], op: [0xa1], moffs: 1, mode: 32 },
  { ops: ['moffs', 'acc8'], op: [0xa2], moffs: 0, mode: 32 },
  { ops: ['moffs', 'accv'], op: [0xa3], moffs: 0, mode: 32 },
  { ops: ['r8', 'ib'], op: [0xb0], plus: 0, imm: 1 },
  { ops: ['rz', 'iv'], op: [0xb8], plus: 0, imm: 1 },
  { ops: ['r64', 'u32'], op: [0xb8], plus: 0, imm: 1, noW: true },
  { ops: ['r64', 'i64'], op: [0xb8], plus: 0, imm: 1 },
  { ops: ['rm8', 'ib'], op: [0xc6], ext: 0, rm: 0, imm: 1 },
  { ops: ['rmv', 'iv'], op: [0xc7], ext: 0, rm: 0, imm: 1 },
);

def('test',
  { ops: ['rm8', 'r8'], op: [0x84], rm: 0, reg: 1 },
  { ops: ['rmv', 'rv'], op: [0x85], rm: 0, reg: 1 },
  { ops: ['r8', 'm8'], op: [0x84], reg: 0, rm: 1 },
  { ops: ['rv', 'mv'], op: [0x85], reg: 0, rm: 1 },
  { ops: ['acc8', 'ib'], op: [0xa8], imm: 1 },
  { ops: ['accv', 'iv'], op: [0xa9], imm: 1 },
  { ops: ['rm8', 'ib'], op: [0xf6], ext: 0, rm: 0, imm: 1 },
  { ops: ['rmv', 'iv'], op: [0xf7], ext: 0, rm: 0, imm: 1 },
);

def('xchg',
  { ops: ['accv', 'rv'], op: [0x90], plus: 1, notNop: true },
  { ops: ['rv', 'accv'], op: [0x90], plus: 0, notNop: true },
  { ops: ['r8', 'rm8'], op: [0x86], reg: 0, rm: 1 },
  { ops: ['m8', 'r8'], op: [0x86], rm: 0, reg: 1 },
  { ops: ['rv', 'rmv'], op: [0x87], reg: 0, rm: 1 },
  { ops: ['mv', 'rv'], op: [0x87], rm: 0, reg: 1 },
);

// inc/dec: 40+r/48+r exist only outside long mode, where they became REX (SDM 2.2.1).
def('inc', { ops: ['rz'], op: [0x40], plus: 0, mode: 32 }, { ops: ['rm8'], op: [0xfe], ext: 0, rm: 0 }, { ops: ['rmv'], op: [0xff], ext: 0, rm: 0 });
def('dec', { ops: ['rz'], op: [0x48], plus: 0, mode: 32 }, { ops: ['rm8'], op: [0xfe], ext: 1, rm: 0 }, { ops: ['rmv'], op: [0xff], ext: 1, rm: 0 });

// Group 3 (F6/F7 /digit).
(['', '', 'not', 'neg', 'mul', 'imul', 'div', 'idiv'] as const).forEach((mn, n) => {
  if (mn) def(mn, { ops: ['rm8'], op: [0xf6], ext: n, rm: 0 }, { ops: ['rmv'], op: [0xf7], ext: n, rm: 0 });
});
def('imul',
  { ops: ['rv', 'rmv'], op: [0x0f, 0xaf], reg: 0, rm: 1 },
  { ops: ['rv', 'rmv', 's8'], op: [0x6b], reg: 0, rm: 1, imm: 2 },
  { ops: ['rv', 'rmv', 'iv'], op: [0x69], reg: 0, rm: 1, imm: 2 },
  { ops: ['rv', 's8'], op: [0x6b], reg: 0, rm: 0, imm: 1 },
  { ops: ['rv', 'iv'], op: [0x69], reg: 0, rm: 0, imm: 1 },
);

// Group 2 shifts and rotates (C0/C1 ib, D0/D1 by 1, D2/D3 by cl).
(['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'] as const).forEach((mn, i) => {
  const n = mn === 'sal' ? 4 : i;
  def(mn,
    { ops: ['rm8', 'one'], op: [0xd0], ext: n, rm: 0 },
    { ops: ['rm8', 'cl'], op: [0xd2], ext: n, rm: 0 },
    { ops: ['rm8', 'ib'], op: [0xc0], ext: n, rm: 0, imm: 1 },
    { ops: ['rmv', 'one'], op: [0xd1], ext: n, rm: 0 },
    { ops: ['rmv', 'cl'], op: [0xd3], ext: n, rm: 0 },
    { ops: ['rmv', 'ib'], op: [0xc1], ext: n, rm: 0, imm: 1 },
  );
});

def('lea', { ops: ['rv', 'm'], op: [0x8d], reg: 0, rm: 1 });
def('movzx', { ops: ['rv', 'rm8'], op: [0x0f, 0xb6], reg: 0, rm: 1 }, { ops: ['ry', 'rm16'], op: [0x0f, 0xb7], reg: 0, rm: 1 });
def('movsx',
  { ops: ['rv', 'rm8'], op: [0x0f, 0xbe], reg: 0, rm: 1 },
  { ops: ['ry', 'rm16'], op: [0x0f, 0xbf], reg: 0, rm: 1 },
  { ops: ['r64', 'rm32'], op: [0x63], reg: 0, rm: 1, mode: 64 },
);
def('movsxd', { ops: ['r64', 'rm32'], op: [0x63], reg: 0, rm: 1, mode: 64 });

def('push',
  { ops: ['rn'], op: [0x50], plus: 0, d64: true },
  { ops: ['rmn'], op: [0xff], ext: 6, rm: 0, d64: true },
  { ops: ['s8'], op: [0x6a], imm: 0, d64: true },
  { ops: ['iv'], op: [0x68], imm: 0, d64: true },
);
def('pop', { ops: ['rn'], op: [0x58], plus: 0, d64: true }, { ops: ['rmn'], op: [0x8f], ext: 0, rm: 0, d64: true });
// Indirect near branches take only the native width (66h is ignored by Intel CPUs in long mode; nasm rejects it).
def('call', { ops: ['rmp'], op: [0xff], ext: 2, rm: 0, d64: true });
def('jmp', { ops: ['rmp'], op: [0xff], ext: 4, rm: 0, d64: true });
def('ret', { ops: [], op: [0xc3] }, { ops: ['i16'], op: [0xc2], imm: 0 });
def('int', { ops: ['u8'], op: [0xcd], imm: 0 });

def('cmpxchg', { ops: ['rm8', 'r8'], op: [0x0f, 0xb0], rm: 0, reg: 1 }, { ops: ['rmv', 'rv'], op: [0x0f, 0xb1], rm: 0, reg: 1 });
def('xadd', { ops: ['rm8', 'r8'], op: [0x0f, 0xc0], rm: 0, reg: 1 }, { ops: ['rmv', 'rv'], op: [0x0f, 0xc1], rm: 0, reg: 1 });
(['bt', 'bts', 'btr', 'btc'] as const).forEach((mn, i) => {
  def(mn, { ops: ['rmv', 'rv'], op: [0x0f, 0xa3 + i * 8], rm: 0, reg: 1 }, { ops: ['rmv', 'ib'], op: [0x0f, 0xba], ext: 4 + i, rm: 0, imm: 1 });
});
def('bswap', { ops: ['ry'], op: [0x0f, 0xc8], plus: 0 });

// Port I/O (SDM IN/OUT): imm8 port or dx, 8/16/32-bit accumulator.
def('in',
  { ops: ['acc8', 'u8'], op: [0xe4], imm: 1 }, { ops: ['accz', 'u8'], op: [0xe5], imm: 1 },
  { ops: ['acc8', 'dx'], op: [0xec] }, { ops: ['accz', 'dx'], op: [0xed] });
def('out',
  { ops: ['u8', 'acc8'], op: [0xe6], imm: 0 }, { ops: ['u8', 'accz'], op: [0xe7], imm: 0 },
  { ops: ['dx', 'acc8'], op: [0xee] }, { ops: ['dx', 'accz'], op: [0xef] });

// String instructions: b/w/d/q suffix gives the operand size (SDM MOVS/STOS/LODS/CMPS/SCAS/INS/OUTS).
for (const [stem, opc, hasQ] of [['movs', 0xa4, true], ['stos', 0xaa, true], ['lods', 0xac, true], ['cmps', 0xa6, true],
  ['scas', 0xae, true], ['ins', 0x6c, false], ['outs', 0x6e, false]] as const) {
  def(`${stem}b`, { ops: [], op: [opc] });
  def(`${stem}w`, { ops: [], op: [opc + 1], size: 16 });
  def(`${stem}d`, { ops: [], op: [opc + 1], size: 32 });
  if (hasQ) def(`${stem}q`, { ops: [], op: [opc + 1], size: 64, mode: 64 });
}

// Operand-less instructions.
const ZO: Record<string, readonly number[]> = {
  cpuid: [0x0f, 0xa2], rdmsr: [0x0f, 0x32], wrmsr: [0x0f, 0x30], rdtsc: [0x0f, 0x31],
  vmcall: [0x0f, 0x01, 0xc1], vmmcall: [0x0f, 0x01, 0xd9], // SDM VMCALL; AMD APM Vol. 3 VMMCALL
  hlt: [0xf4], pause: [0xf3, 0x90], int3: [0xcc], ud2: [0x0f, 0x0b], nop: [0x90], leave: [0xc9],
  cli: [0xfa], sti: [0xfb], cld: [0xfc], std: [0xfd], clc: [0xf8], stc: [0xf9], cmc: [0xf5],
  rdtscp: [0x0f, 0x01, 0xf9], wbinvd: [0x0f, 0x09], // SDM RDTSCP, WBINVD
  lfence: [0x0f, 0xae, 0xe8], mfence: [0x0f, 0xae, 0xf0], sfence: [0x0f, 0xae, 0xf8], // SDM xFENCE (0F AE /5,/6,/7)
};
for (const [mn, op] of Object.entries(ZO)) def(mn, { ops: [], op });
def('cwd', { ops: [], op: [0x99], size: 16 });
def('cdq', { ops: [], op: [0x99], size: 32 });
def('cqo', { ops: [], op: [0x99], size: 64, mode: 64 });
def('cbw', { ops: [], op: [0x98], size: 16 });
def('cwde', { ops: [], op: [0x98], size: 32 });
def('cdqe', { ops: [], op: [0x98], size: 64, mode: 64 });
def('iretd', { ops: [], op: [0xcf], size: 32 });
def('iretq', { ops: [], op: [0xcf], size: 64, mode: 64 });

/** Condition codes and their 4-bit encoding (SDM Appendix B.1.4.7, Table B-10). */
const CC = {
  o: 0, no: 1, b: 2, c: 2, nae: 2, ae: 3, nb: 3, nc: 3, e: 4, z: 4, ne: 5, nz: 5, be: 6, na: 6, a: 7, nbe: 7,
  s: 8, ns: 9, p: 10, pe: 10, np: 11, po: 11, l: 12, nge: 12, ge: 13, nl: 13, le: 14, ng: 14, g: 15, nle: 15,
} as const;
export type Cond = keyof typeof CC;
export const CONDITIONS: Readonly<Record<string, number>> = CC;

for (const [cc, n] of Object.entries(CONDITIONS)) {
  def(`set${cc}`, { ops: ['rm8'], op: [0x0f, 0x90 + n], ext: 0, rm: 0 });
  def(`cmov${cc}`, { ops: ['rv', 'rmv'], op: [0x0f, 0x40 + n], reg: 0, rm: 1 });
}

export const FORMS: Readonly<Record<string, readonly Form[]>> = T;

/** Instructions that accept a lock prefix (SDM 8.1.2.2), when their destination is memory. */
export const LOCKABLE = new Set(['add', 'adc', 'and', 'btc', 'btr', 'bts', 'cmpxchg', 'dec', 'inc', 'neg', 'not', 'or', 'sbb', 'sub', 'xor', 'xadd', 'xchg']);
