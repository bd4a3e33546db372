// Instruction encoder: match operands against the form table, then lay out
// [group-1 prefix][66][REX][opcode][ModRM][SIB][disp][imm] (Intel SDM Vol. 2 chapter 2).

import { AsmError } from './errors.js';
import { FORMS, LOCKABLE, type Form } from './forms.js';
import { type LabelRef, type Mem, type Operand, type Size, isImm, isLabel, isMem, isReg, showMem, showLabel, hex } from './operands.js';
import { REGISTERS, type Reg, isLongModeOnly } from './registers.js';

import { type Bits, type ModRM, encodeModRM, fitsS, immBytes } from './modrm.js';

export type { Bits };
export type Prefix = 'lock' | 'rep' | 'repe' | 'repne';

/** A place in the instruction that holds a label's address (abs) or its distance from the instruction end (pcrel). */
export interface Fixup {
  readonly at: number;
  readonly size: 4 | 8;
  readonly ref: LabelRef;
  readonly pcrel: boolean;
}

export interface Encoded {
  readonly bytes: Uint8Array;
  readonly fixups: readonly Fixup[];
  /** nasm source for exactly these bytes. */
  readonly text: string;
}

interface Pat {
  k: 'r' | 'rm' | 'm' | 'acc' | 'imm' | 'cl' | 'dx' | 'one' | 'moffs';
  s?: string;
  imm?: string;
}

const patCache = new Map<string, Pat>();
function parsePat(p: string): Pat {
  let v = patCache.get(p);
  if (!v) {
    const m = /^(rm|r|m|acc)(8|16|32|64|v|y|z|n|p)?$/.exec(p);
    if (m) v = { k: m[1] as Pat['k'], s: m[2] };
    else if (['iv', 's8', 'ib', 'u8', 'i16', 'i64', 'u32'].includes(p)) v = { k: 'imm', imm: p };
    else if (p === 'cl' || p === 'dx' || p === 'one' || p === 'moffs') v = { k: p };
    else throw new Error(`internal: bad pattern ${p}`);
    patCache.set(p, v);
  }
  return v;
}

const formPats = new WeakMap<Form, Pat[]>();
function patsOf(form: Form): Pat[] {
  let v = formPats.get(form);
  if (!v) formPats.set(form, (v = form.ops.map(parsePat)));
  return v;
}

function sizesOf(s: string | undefined, bits: Bits): readonly number[] {
  switch (s) {
    case 'v': return bits === 64 ? [16, 32, 64] : [16, 32];
    case 'y': return bits === 64 ? [32, 64] : [32];
    case 'z': return [16, 32];
    case 'n': return bits === 64 ? [16, 64] : [16, 32];
    case 'p': return [bits];
    case undefined: return [];
    default: return [Number(s)];
  }
}

const generic = (s: string | undefined): boolean => s === 'v' || s === 'y' || s === 'z' || s === 'n' || s === 'p';

/** A form that does not fit; the reason is built only if it ends up in an error message. */
class NoMatch {
  constructor(readonly rank: number, private readonly reason: string | (() => string)) {}
  get why(): string {
    return typeof this.reason === 'string' ? this.reason : this.reason();
  }
}

const POW = (n: number): bigint => 1n << BigInt(n);
/** Two's-complement value of v in `bits` bits as a signed number. */
function asSigned(v: bigint, bits: number): bigint {
  return BigInt.asIntN(bits, v);
}

interface Resolved {
  osz: number;
  /** Operands as printed (memory sizes filled in). */
  ops: Operand[];
}

function operandSize(o: Operand): number | undefined {
  if (isReg(o)) return o.size;
  if (isMem(o)) return o.size;
  return undefined;
}

/** Check one form: the resolved operands, or why it does not fit (returned, not thrown: this runs per form). */
function match(form: Form, ops: readonly Operand[], bits: Bits): Resolved | NoMatch {
  if (form.mode && form.mode !== bits) return new NoMatch(0, 'mode');
  if (form.ops.length !== ops.length) return new NoMatch(0, 'operand count');
  const pats = patsOf(form);
  // Kinds first.
  for (let i = 0; i < pats.length; i++) {
    const p = pats[i]!, o = ops[i]!;
    const ok =
      p.k === 'r' || p.k === 'acc' ? isReg(o) && (p.k === 'r' || o.num === 0) && !(p.k === 'acc' && o.high8) :
      p.k === 'rm' ? isReg(o) || isMem(o) :
      p.k === 'm' ? isMem(o) :
      p.k === 'moffs' ? isMem(o) && !o.base && !o.index && !o.rip :
      p.k === 'cl' ? isReg(o) && o.name === 'cl' :
      p.k === 'dx' ? isReg(o) && o.name === 'dx' :
      p.k === 'one' ? isImm(o) && BigInt(o) === 1n :
      /* imm */ isImm(o) || (isLabel(o) && (p.imm === 'iv' || p.imm === 'i64'));
    if (!ok) return new NoMatch(0, 'operand kind');
  }
  // Operand size: fixed by the form, else by the first generic sized operand.
  let osz = form.size ?? 0;
  for (let i = 0; !osz && i < pats.length; i++) {
    const sz = operandSize(ops[i]!);
    if (generic(pats[i]!.s) && sz) osz = sz;
  }
  if (!osz) {
    const first = pats.findIndex((p) => (p.k === 'r' || p.k === 'rm' || p.k === 'acc' || (p.k === 'm' && p.s)) && p.s);
    if (first >= 0 && !generic(pats[first]!.s)) osz = Number(pats[first]!.s);
    else if (form.d64) osz = bits;
    else if (first >= 0) return new NoMatch(1, SIZE_NEEDED);
  }
  let out: Operand[] | undefined;
  for (let i = 0; i < pats.length; i++) {
    const p = pats[i]!, o = ops[i]!;
    if (!(p.k === 'r' || p.k === 'rm' || p.k === 'acc' || p.k === 'm' || p.k === 'moffs') || (p.k === 'm' && !p.s)) continue;
    const allowed = generic(p.s) ? sizesOf(p.s, bits).filter((x) => x === osz) : p.s ? sizesOf(p.s, bits) : [osz];
    const sz = operandSize(o);
    if (sz === undefined) {
      const want = allowed[0];
      if (want === undefined) return new NoMatch(1, () => `operand size ${osz} not allowed here`);
      // An unsized memory operand takes its size from a register operand (not cl/dx used as fixed operands).
      const sizedByReg = pats.some((q, j) => (q.k === 'r' || q.k === 'rm' || q.k === 'acc') && isReg(ops[j]!) && (ops[j] as Reg).size === want);
      if (!sizedByReg && !form.d64) return new NoMatch(1, SIZE_NEEDED);
      (out ??= [...ops])[i] = { ...(o as Mem), size: want as Size };
    } else if (!allowed.includes(sz)) {
      return new NoMatch(1, () => `operand sizes do not fit this instruction (${ops.map((x) => operandSize(x) ?? '-').join(', ')})`);
    }
  }
  for (let i = 0; i < pats.length; i++) {
    const p = pats[i]!;
    if (p.k !== 'imm') continue;
    const why = immProblem(p.imm!, ops[i]!, osz);
    if (why) return why;
  }
  if (form.notNop && bits === 64 && ops.every((o) => isReg(o) && o.num === 0 && o.size === 32)) return new NoMatch(0, 'nop');
  return { osz, ops: out ?? [...ops] };
}

const SIZE_NEEDED = 'operand size not specified: give the memory operand a size (byte/word/dword/qword)';

/** Why an immediate (or label address) does not fit an immediate pattern at operand size osz, if it does not. */
function immProblem(imm: string, o: Operand, osz: number): NoMatch | undefined {
  if (isLabel(o)) {
    if (imm === 'iv' && osz === 64) return new NoMatch(2, 'a label address as a sign-extended imm32 would need R_X86_64_32S, which images do not carry; use mov r64, label or lea r64, [rel label]');
    if (imm === 'iv' && osz !== 32) return new NoMatch(2, () => `a label address does not fit a ${osz}-bit immediate`);
    if (imm === 'i64' && osz !== 64) return new NoMatch(2, 'label');
    return undefined;
  }
  const v = BigInt(o as bigint);
  const range = (lo: bigint, hi: bigint, what: string): NoMatch | undefined =>
    v < lo || v >= hi ? new NoMatch(2, () => `immediate ${hex(v)} does not fit ${what}`) : undefined;
  switch (imm) {
    case 'iv':
      if (osz !== 64) return range(-POW(osz - 1), POW(osz), `in ${osz} bits`);
      return range(-POW(63), POW(64), 'in 64 bits') ??
        (fitsS(asSigned(v, 64), 32) ? undefined : new NoMatch(2, () => `immediate ${hex(v)} does not fit a sign-extended 32-bit field`));
    case 's8':
      return range(-POW(osz - 1), POW(osz), `in ${osz} bits`) ??
        (fitsS(asSigned(v, osz), 8) ? undefined : new NoMatch(2, () => `immediate ${hex(v)} does not fit a sign-extended 8-bit field`));
    case 'ib': return range(-128n, 256n, 'in 8 bits');
    case 'u8': return range(0n, 256n, 'an unsigned 8-bit field');
    case 'i16': return range(0n, POW(16), 'an unsigned 16-bit field');
    case 'i64': return range(-POW(63), POW(64), 'in 64 bits');
    case 'u32':
      return range(-POW(63), POW(64), 'in 64 bits') ?? (BigInt.asUintN(64, v) >= POW(32) ? new NoMatch(2, 'u32') : undefined);
    default: return undefined;
  }
}

function immWidth(p: string, osz: number): number {
  switch (p) {
    case 'iv': return osz === 16 ? 2 : 4;
    case 's8': case 'ib': case 'u8': return 1;
    case 'i16': return 2;
    case 'i64': return 8;
    case 'u32': return 4;
    default: return 0;
  }
}

function showOp(o: Operand, p: Pat, osz: number): string {
  if (isReg(o)) return o.name;
  if (isMem(o)) return showMem(o, p.k !== 'moffs' && !(p.k === 'm' && !p.s));
  if (isLabel(o)) return `strict ${p.imm === 'i64' ? 'qword' : 'dword'} ${showLabel(o)}`;
  const v = BigInt(o);
  // Print the value the encoder used, so nasm sees the same immediate (e.g. 0xffffffff as -1 for imm8 forms).
  if (p.imm === 's8') return hex(asSigned(v, osz));
  return hex(v);
}

const PREFIX_BYTE: Record<Prefix, number> = { lock: 0xf0, rep: 0xf3, repe: 0xf3, repne: 0xf2 };

function emit(form: Form, r: Resolved, bits: Bits, prefix: Prefix | undefined, where: () => string): Encoded {
  const pats = patsOf(form);
  const ops = r.ops;
  const bytes: number[] = [];
  if (prefix) bytes.push(PREFIX_BYTE[prefix]);
  if (r.osz === 16) bytes.push(0x66);
  let rexW = r.osz === 64 && !form.d64 && !form.noW;
  let rexR = false, rexX = false, rexB = false;
  let modrm: ModRM | undefined;
  if (form.rm !== undefined) {
    const regField = form.ext ?? (ops[form.reg!] as Reg).num;
    rexR = form.ext === undefined && (ops[form.reg!] as Reg).num >= 8;
    modrm = encodeModRM(where, regField, ops[form.rm] as Reg | Mem, bits);
    rexB = modrm.rexB;
    rexX = modrm.rexX;
  }
  const op = [...form.op];
  if (form.plus !== undefined) {
    const pr = ops[form.plus] as Reg;
    op[op.length - 1]! += pr.num & 7;
    rexB = pr.num >= 8;
  }
  const regs = ops.filter(isReg);
  const forceRex = regs.some((x) => x.needsRex);
  const rex = rexW || rexR || rexX || rexB || forceRex;
  if (rex) {
    const h = regs.find((x) => x.high8);
    if (h) {
      const other = regs.find((x) => x.needsRex || x.num >= 8 || x.size === 64);
      const why = other ? `${other.name} needs one` : 'the operands need one';
      throw new AsmError(where(), `${h.name} cannot be encoded in an instruction that needs a REX prefix (${why}; SDM 2.2.1.2)`);
    }
    if (bits !== 64) throw new AsmError(where(), 'needs a REX prefix, which does not exist in 32-bit mode');
    bytes.push(0x40 | (rexW ? 8 : 0) | (rexR ? 4 : 0) | (rexX ? 2 : 0) | (rexB ? 1 : 0));
  }
  bytes.push(...op);
  const fixups: Fixup[] = [];
  if (modrm) {
    if (modrm.fix) fixups.push({ at: bytes.length + modrm.fix.at, size: 4, ref: modrm.fix.ref, pcrel: modrm.fix.pcrel });
    bytes.push(...modrm.bytes);
  }
  if (form.moffs !== undefined) {
    const m = ops[form.moffs] as Mem;
    if (m.disp < -POW(31) || m.disp >= POW(32)) throw new AsmError(where(), `address ${hex(m.disp)} does not fit 32 bits`);
    if (m.label) fixups.push({ at: bytes.length, size: 4, ref: m.label, pcrel: false });
    immBytes(m.disp, 4, bytes);
  }
  if (form.imm !== undefined) {
    const p = pats[form.imm]!;
    const n = immWidth(p.imm!, r.osz);
    const o = ops[form.imm]!;
    if (isLabel(o)) {
      fixups.push({ at: bytes.length, size: n as 4 | 8, ref: o, pcrel: false });
      immBytes(0n, n, bytes);
    } else immBytes(BigInt(o as bigint), n, bytes);
  }
  return { bytes: Uint8Array.from(bytes), fixups, text: '' };
}

/** nasm text of the chosen form (built once, for the winner only). */
function textOf(mn: string, form: Form, r: Resolved, prefix: Prefix | undefined): string {
  const pats = patsOf(form);
  // mov r64, u32 is encoded as mov r32, imm32: print that, it is what the bytes say.
  const shown = form.noW ? r.ops.map((o) => (isReg(o) ? [...REGISTERS.values()].find((x) => x.size === 32 && x.num === o.num)! : o)) : r.ops;
  return `${prefix ? prefix + ' ' : ''}${mn}${shown.length ? ' ' + shown.map((o, i) => showOp(o, pats[i]!, r.osz)).join(', ') : ''}`;
}

export function describe(mn: string, ops: readonly Operand[], prefix?: Prefix): string {
  const show = (o: Operand): string => isReg(o) ? o.name : isMem(o) ? showMem(o, true) : isLabel(o) ? showLabel(o) : hex(BigInt(o));
  return `${prefix ? prefix + ' ' : ''}${mn}${ops.length ? ' ' + ops.map(show).join(', ') : ''}`;
}

/** Encode one instruction; throws AsmError naming the instruction, its operands and why. */
export function encode(mn: string, given: readonly Operand[], bits: Bits, prefix?: Prefix): Encoded {
  let whereText: string | undefined;
  const where = (): string => (whereText ??= describe(mn, given, prefix));
  // mem.rip(label) in 32-bit mode is the label's absolute address (there is no RIP-relative form).
  const ops = bits === 32 ? given.map((o) => (isMem(o) && o.rip ? { ...o, rip: false } : o)) : given;
  const forms = FORMS[mn];
  if (!forms) throw new AsmError(where(), `unknown instruction "${mn}"`);
  for (const o of ops) {
    const regs = isReg(o) ? [o] : isMem(o) ? [o.base, o.index].filter((x): x is Reg => !!x) : [];
    for (const x of regs) {
      if (bits === 32 && isLongModeOnly(x)) throw new AsmError(where(), `${x.name} does not exist in 32-bit mode`);
    }
    if (typeof o === 'number' && !Number.isSafeInteger(o)) throw new AsmError(where(), `immediate ${o} is not a safe integer; pass a bigint`);
  }
  let best: { enc: Encoded; form: Form; r: Resolved } | undefined;
  let fail: NoMatch | undefined;
  for (const form of forms) {
    const r = match(form, ops, bits);
    if (r instanceof NoMatch) {
      if (!fail || r.rank >= fail.rank) fail = r; // the last, widest form explains best
      continue;
    }
    const enc = emit(form, r, bits, prefix, where);
    if (!best || enc.bytes.length < best.enc.bytes.length) best = { enc, form, r };
  }
  if (!best) {
    let why = fail && fail.rank > 0 ? fail.why : `no ${bits}-bit encoding takes these operands (${ops.map(kindOf).join(', ') || 'none'})`;
    if (fail?.rank === 2 && ops.some(isMem) && ops.some((o) => isImm(o) && !fitsS(asSigned(BigInt(o), 64), 32))) {
      why = `a 64-bit immediate cannot be stored to memory: only mov r64, imm64 takes one; memory gets a sign-extended imm32 (${fail.why})`;
    }
    throw new AsmError(where(), why);
  }
  if (prefix === 'lock') {
    if (!LOCKABLE.has(mn) || !isMem(ops[0]!)) throw new AsmError(where(), 'lock needs a read-modify-write instruction with a memory destination (SDM 8.1.2.2)');
  }
  if (prefix && prefix !== 'lock') {
    const stem = mn.replace(/[bwdq]$/, '');
    const ok = prefix === 'rep' ? ['movs', 'stos', 'lods', 'ins', 'outs', 'cmps', 'scas'].includes(stem) : ['cmps', 'scas'].includes(stem);
    if (!ok || ops.length) throw new AsmError(where(), `${prefix} applies only to string instructions${prefix === 'rep' ? '' : ' cmps/scas'}`);
  }
  return { ...best.enc, text: textOf(mn, best.form, best.r, prefix) };
}


function kindOf(o: Operand): string {
  if (isReg(o)) return `reg${o.size}`;
  if (isMem(o)) return `mem${o.size ?? ''}`;
  if (isLabel(o)) return 'label';
  return 'imm';
}
