// The assembler's public face: one typed method per instruction, all encoded through the form table.

import { AsmError } from './errors.js';
import { CONDITIONS, type Cond } from './forms.js';
import { AsmCore } from './core.js';
import { NOPS, nopText } from './items.js';
import type { Imm, LabelRef, Mem, Operand } from './operands.js';
import type { Reg } from './registers.js';

type RM = Reg | Mem;
type Src = Reg | Mem | Imm | LabelRef;
type Target = string | LabelRef;
export interface BranchOpts {
  /** Force rel8 (error if the target is out of range) or rel32; default: shortest that reaches. */
  short?: boolean;
  near?: boolean;
}

function force(o?: BranchOpts): 'short' | 'near' | undefined {
  if (o?.short && o.near) throw new AsmError('branch', 'short and near both requested');
  return o?.short ? 'short' : o?.near ? 'near' : undefined;
}

function isTarget(t: unknown): t is Target {
  return typeof t === 'string' || (typeof t === 'object' && t !== null && (t as LabelRef).kind === 'label');
}

export class Asm extends AsmCore {
  // Prefixes: `a.lock.xadd(mem(rdi), eax)`, `a.rep.movsb()`.
  get lock(): this { return this.setPrefix('lock'); }
  get rep(): this { return this.setPrefix('rep'); }
  get repe(): this { return this.setPrefix('repe'); }
  get repz(): this { return this.setPrefix('repe'); }
  get repne(): this { return this.setPrefix('repne'); }
  get repnz(): this { return this.setPrefix('repne'); }
  private setPrefix(p: 'lock' | 'rep' | 'repe' | 'repne'): this {
    if (this.pending) throw new AsmError(`${this.pending} ${p}`, 'two prefixes in a row');
    this.pending = p;
    return this;
  }

  mov(d: RM, s: Src): this { return this.insn('mov', d, s); }
  movzx(d: Reg, s: RM): this { return this.insn('movzx', d, s); }
  movsx(d: Reg, s: RM): this { return this.insn('movsx', d, s); }
  movsxd(d: Reg, s: RM): this { return this.insn('movsxd', d, s); }
  lea(d: Reg, s: Mem): this { return this.insn('lea', d, s); }
  add(d: RM, s: Src): this { return this.insn('add', d, s); }
  adc(d: RM, s: Src): this { return this.insn('adc', d, s); }
  sub(d: RM, s: Src): this { return this.insn('sub', d, s); }
  sbb(d: RM, s: Src): this { return this.insn('sbb', d, s); }
  and(d: RM, s: Src): this { return this.insn('and', d, s); }
  or(d: RM, s: Src): this { return this.insn('or', d, s); }
  xor(d: RM, s: Src): this { return this.insn('xor', d, s); }
  cmp(d: RM, s: Src): this { return this.insn('cmp', d, s); }
  test(d: RM, s: Src): this { return this.insn('test', d, s); }
  inc(d: RM): this { return this.insn('inc', d); }
  dec(d: RM): this { return this.insn('dec', d); }
  neg(d: RM): this { return this.insn('neg', d); }
  not(d: RM): this { return this.insn('not', d); }
  shl(d: RM, n: Reg | Imm): this { return this.insn('shl', d, n); }
  sal(d: RM, n: Reg | Imm): this { return this.insn('sal', d, n); }
  shr(d: RM, n: Reg | Imm): this { return this.insn('shr', d, n); }
  sar(d: RM, n: Reg | Imm): this { return this.insn('sar', d, n); }
  rol(d: RM, n: Reg | Imm): this { return this.insn('rol', d, n); }
  ror(d: RM, n: Reg | Imm): this { return this.insn('ror', d, n); }
  rcl(d: RM, n: Reg | Imm): this { return this.insn('rcl', d, n); }
  rcr(d: RM, n: Reg | Imm): this { return this.insn('rcr', d, n); }
  mul(s: RM): this { return this.insn('mul', s); }
  /** imul r/m; imul r, r/m; imul r, imm; imul r, r/m, imm. */
  imul(a: RM, b?: RM | Imm, c?: Imm): this {
    return this.insn('imul', ...([a, b, c].filter((x) => x !== undefined) as Operand[]));
  }
  div(s: RM): this { return this.insn('div', s); }
  idiv(s: RM): this { return this.insn('idiv', s); }
  push(s: Reg | Mem | Imm | LabelRef): this { return this.insn('push', s); }
  pop(d: RM): this { return this.insn('pop', d); }
  xchg(a: RM, b: RM): this { return this.insn('xchg', a, b); }
  cmpxchg(d: RM, s: Reg): this { return this.insn('cmpxchg', d, s); }
  xadd(d: RM, s: Reg): this { return this.insn('xadd', d, s); }
  bt(d: RM, s: Reg | Imm): this { return this.insn('bt', d, s); }
  bts(d: RM, s: Reg | Imm): this { return this.insn('bts', d, s); }
  btr(d: RM, s: Reg | Imm): this { return this.insn('btr', d, s); }
  btc(d: RM, s: Reg | Imm): this { return this.insn('btc', d, s); }
  bswap(r: Reg): this { return this.insn('bswap', r); }
  setcc(cc: Cond, d: RM): this { return this.cc('set', cc, d); }
  cmovcc(cc: Cond, d: Reg, s: RM): this { return this.cc('cmov', cc, d, s); }
  private cc(stem: string, cc: string, ...ops: Operand[]): this {
    if (CONDITIONS[cc] === undefined) throw new AsmError(`${stem}${cc}`, `unknown condition "${cc}"; use one of ${Object.keys(CONDITIONS).join(' ')}`);
    return this.insn(`${stem}${cc}`, ...ops);
  }

  /** jmp label (rel8/rel32 by relaxation) or jmp r/m (indirect). */
  jmp(t: Target | RM, o?: BranchOpts): this {
    return isTarget(t) ? this.branch('jmp', t, undefined, force(o)) : this.insn('jmp', t);
  }
  /** call label (rel32) or call r/m (indirect). */
  call(t: Target | RM): this {
    return isTarget(t) ? this.branch('call', t) : this.insn('call', t);
  }
  jcc(cc: Cond, t: Target, o?: BranchOpts): this { return this.branch('jcc', t, cc, force(o)); }
  ret(n?: Imm): this { return n === undefined ? this.insn('ret') : this.insn('ret', n); }
  leave(): this { return this.insn('leave'); }

  // Port I/O: in(al|ax|eax, imm8|dx), out(imm8|dx, al|ax|eax).
  in(d: Reg, port: Reg | Imm): this { return this.insn('in', d, port); }
  out(port: Reg | Imm, s: Reg): this { return this.insn('out', port, s); }

  // String instructions (combine with a.rep / a.repe / a.repne).
  movsb(): this { return this.insn('movsb'); }
  movsw(): this { return this.insn('movsw'); }
  movsd(): this { return this.insn('movsd'); }
  movsq(): this { return this.insn('movsq'); }
  stosb(): this { return this.insn('stosb'); }
  stosw(): this { return this.insn('stosw'); }
  stosd(): this { return this.insn('stosd'); }
  stosq(): this { return this.insn('stosq'); }
  lodsb(): this { return this.insn('lodsb'); }
  lodsw(): this { return this.insn('lodsw'); }
  lodsd(): this { return this.insn('lodsd'); }
  lodsq(): this { return this.insn('lodsq'); }
  cmpsb(): this { return this.insn('cmpsb'); }
  cmpsw(): this { return this.insn('cmpsw'); }
  cmpsd(): this { return this.insn('cmpsd'); }
  cmpsq(): this { return this.insn('cmpsq'); }
  scasb(): this { return this.insn('scasb'); }
  scasw(): this { return this.insn('scasw'); }
  scasd(): this { return this.insn('scasd'); }
  scasq(): this { return this.insn('scasq'); }
  insb(): this { return this.insn('insb'); }
  insw(): this { return this.insn('insw'); }
  insd(): this { return this.insn('insd'); }
  outsb(): this { return this.insn('outsb'); }
  outsw(): this { return this.insn('outsw'); }
  outsd(): this { return this.insn('outsd'); }

  cpuid(): this { return this.insn('cpuid'); }
  rdmsr(): this { return this.insn('rdmsr'); }
  wrmsr(): this { return this.insn('wrmsr'); }
  rdtsc(): this { return this.insn('rdtsc'); }
  /** VMCALL (Intel). With patchSite the 3-byte site is recorded in Image.patchSites. */
  vmcall(o?: { patchSite?: boolean }): this { return o?.patchSite ? this.patchSite('vmcall') : this.insn('vmcall'); }
  /** VMMCALL (AMD). */
  vmmcall(o?: { patchSite?: boolean }): this { return o?.patchSite ? this.patchSite('vmmcall') : this.insn('vmmcall'); }
  hlt(): this { return this.insn('hlt'); }
  pause(): this { return this.insn('pause'); }
  int3(): this { return this.insn('int3'); }
  int(n: Imm): this { return this.insn('int', n); }
  ud2(): this { return this.insn('ud2'); }
  cli(): this { return this.insn('cli'); }
  sti(): this { return this.insn('sti'); }
  cld(): this { return this.insn('cld'); }
  std(): this { return this.insn('std'); }
  clc(): this { return this.insn('clc'); }
  stc(): this { return this.insn('stc'); }
  cmc(): this { return this.insn('cmc'); }
  rdtscp(): this { return this.insn('rdtscp'); }
  wbinvd(): this { return this.insn('wbinvd'); }
  lfence(): this { return this.insn('lfence'); }
  mfence(): this { return this.insn('mfence'); }
  sfence(): this { return this.insn('sfence'); }
  iretd(): this { return this.insn('iretd'); }
  iretq(): this { return this.insn('iretq'); }
  cwd(): this { return this.insn('cwd'); }
  cdq(): this { return this.insn('cdq'); }
  cqo(): this { return this.insn('cqo'); }
  cbw(): this { return this.insn('cbw'); }
  cwde(): this { return this.insn('cwde'); }
  cdqe(): this { return this.insn('cdqe'); }

  /** NOP of 1..9 bytes, in the Intel-recommended forms (SDM Vol. 2B NOP, Table 4-12). */
  nop(n = 1): this {
    if (!Number.isInteger(n) || n < 1 || n > 9) throw new AsmError(`nop(${n})`, 'multi-byte NOPs are 1 to 9 bytes');
    if (this.pending) throw new AsmError(`${this.pending} nop`, 'no prefix on nop');
    this.items.get(this.cur)!.push({ k: 'code', enc: { bytes: Uint8Array.from(NOPS[n]!), fixups: [], text: nopText(n, this.bits) } });
    return this;
  }
}
