// General-purpose registers of every width with their encoding numbers (Intel SDM Vol. 2 Table 2-2 / 3-1).

export type RegSize = 8 | 16 | 32 | 64;

export interface Reg {
  readonly kind: 'reg';
  readonly name: string;
  readonly size: RegSize;
  /** Encoding number 0..15 (ModRM reg/rm plus REX.R/B/X bit 3). */
  readonly num: number;
  /** spl/bpl/sil/dil and r8b..r15b: only encodable with a REX prefix (SDM 3.7.2.1). */
  readonly needsRex: boolean;
  /** ah/ch/dh/bh: not encodable when any REX prefix is present (SDM 2.2.1.2). */
  readonly high8: boolean;
}

function reg(name: string, size: RegSize, num: number, needsRex = false, high8 = false): Reg {
  return Object.freeze({ kind: 'reg', name, size, num, needsRex, high8 });
}

const N64 = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi'];
const N32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi'];
const N16 = ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di'];
const N8 = ['al', 'cl', 'dl', 'bl', 'spl', 'bpl', 'sil', 'dil'];

/** Every register by name (nasm spelling: r8b, r8w, r8d). */
export const REGISTERS: ReadonlyMap<string, Reg> = (() => {
  const m = new Map<string, Reg>();
  for (let i = 0; i < 16; i++) {
    const hi = i >= 8;
    m.set(hi ? `r${i}` : N64[i]!, reg(hi ? `r${i}` : N64[i]!, 64, i));
    m.set(hi ? `r${i}d` : N32[i]!, reg(hi ? `r${i}d` : N32[i]!, 32, i));
    m.set(hi ? `r${i}w` : N16[i]!, reg(hi ? `r${i}w` : N16[i]!, 16, i));
    m.set(hi ? `r${i}b` : N8[i]!, reg(hi ? `r${i}b` : N8[i]!, 8, i, i >= 4));
  }
  ['ah', 'ch', 'dh', 'bh'].forEach((n, i) => m.set(n, reg(n, 8, i + 4, false, true)));
  return m;
})();

function r(name: string): Reg {
  const v = REGISTERS.get(name);
  if (!v) throw new Error(`internal: no register ${name}`);
  return v;
}

/** True for registers that exist only in 64-bit mode (r8..r15 of any width, 64-bit regs, spl..dil). */
export function isLongModeOnly(x: Reg): boolean {
  return x.size === 64 || x.num >= 8 || x.needsRex;
}

export const rax = r('rax'), rcx = r('rcx'), rdx = r('rdx'), rbx = r('rbx'), rsp = r('rsp'), rbp = r('rbp'),
  rsi = r('rsi'), rdi = r('rdi'), r8 = r('r8'), r9 = r('r9'), r10 = r('r10'), r11 = r('r11'), r12 = r('r12'),
  r13 = r('r13'), r14 = r('r14'), r15 = r('r15');
export const eax = r('eax'), ecx = r('ecx'), edx = r('edx'), ebx = r('ebx'), esp = r('esp'), ebp = r('ebp'),
  esi = r('esi'), edi = r('edi'), r8d = r('r8d'), r9d = r('r9d'), r10d = r('r10d'), r11d = r('r11d'),
  r12d = r('r12d'), r13d = r('r13d'), r14d = r('r14d'), r15d = r('r15d');
export const ax = r('ax'), cx = r('cx'), dx = r('dx'), bx = r('bx'), sp = r('sp'), bp = r('bp'), si = r('si'),
  di = r('di'), r8w = r('r8w'), r9w = r('r9w'), r10w = r('r10w'), r11w = r('r11w'), r12w = r('r12w'),
  r13w = r('r13w'), r14w = r('r14w'), r15w = r('r15w');
export const al = r('al'), cl = r('cl'), dl = r('dl'), bl = r('bl'), spl = r('spl'), bpl = r('bpl'),
  sil = r('sil'), dil = r('dil'), r8b = r('r8b'), r9b = r('r9b'), r10b = r('r10b'), r11b = r('r11b'),
  r12b = r('r12b'), r13b = r('r13b'), r14b = r('r14b'), r15b = r('r15b');
export const ah = r('ah'), ch = r('ch'), dh = r('dh'), bh = r('bh');
