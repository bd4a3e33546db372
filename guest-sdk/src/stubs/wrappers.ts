// One C-callable wrapper per hypercall per calling convention: C arguments (SysV registers / cdecl stack)
// into the ABI's registers, the number (or Hyper-V control word) and fixed values, the strategy's trap,
// then the first result as the C return value and, for multi-result ABIs, every result into an out-struct
// `uint64_t out[n]` (a 32-bit register is stored zero-extended, a hi:lo pair as one value).

import { AbiError, type AbiDefinition, type ArgType, type CallingConvention, type HypercallDef, type Slot } from '@pvkit/shared-abi';
import type { Asm } from '../x86/asm.js';
import { type Mem, dword, mem, qword } from '../x86/operands.js';
import type { Reg } from '../x86/registers.js';
import { CFunc, type CParam, type CType, type RegMove, cdecl, isPair, parallelMove, reg, regOf, slotNums } from './cabi.js';
import { cident } from './names.js';
import type { TrapEmitter } from './strategies.js';

/** Wrapper-level parameters that are not ABI argument registers. */
type Special = 'varhead_qwords' | 'rep_count' | 'rep_start' | 'out';
const isSpecial = (r: Slot | Special): r is Special => r === 'varhead_qwords' || r === 'rep_count' || r === 'rep_start' || r === 'out';

export interface WrapperPlan {
  readonly symbol: string;
  readonly hc: HypercallDef;
  readonly conv: CallingConvention;
  readonly params: readonly CParam[];
  /** ABI slot of each parameter, or the wrapper-level role. */
  readonly roles: readonly (Slot | Special)[];
  readonly ret: CType;
  /** Static value of the number slot (Hyper-V: control word with the fast bit). */
  readonly number: bigint;
  readonly rep: boolean;
  /** Hyper-V _EX calls: variable-header size in qwords (control bits 26:17) is a parameter. */
  readonly varhead: boolean;
  readonly out: boolean;
  readonly prototype: string;
}

const HV_FAST_BIT = 1n << 16n; // hvgdk_mini.h HV_HYPERCALL_FAST_BIT
const HV_REP_MASK = 0xfff; // hvgdk_mini.h rep count / start index are 12 bits (GENMASK 43:32, 59:48)
const HV_VARHEAD_MASK = 0x3ff; // hvgdk_mini.h HV_HYPERCALL_VARHEAD_MASK GENMASK_ULL(26, 17)
const HV_VARHEAD_SHIFT = 17; // HV_HYPERCALL_VARHEAD_OFFSET

function slotBits(s: Slot): 32 | 64 {
  return isPair(s) ? 64 : (reg(s).size as 32 | 64);
}

function argBits(t: ArgType): 8 | 16 | 32 | 64 {
  return t === 'u8' ? 8 : t === 'u16' ? 16 : t === 'u32' || t === 'i32' || t === 'flags' ? 32 : 64;
}

/** C type of an argument: the ABI type, narrowed to the register that carries it (the prototype shows it). */
function ctypeOf(t: ArgType, s: Slot): CType {
  const b = Math.min(argBits(t), slotBits(s));
  const signed = t === 'i32' || t === 'i64';
  return b === 8 ? 'uint8_t' : b === 16 ? 'uint16_t' : b === 32 ? (signed ? 'int32_t' : 'uint32_t') : signed ? 'int64_t' : 'uint64_t';
}

function retType(abi: AbiDefinition, s: Slot): CType {
  const b = slotBits(s);
  const signed = abi.errors.encoding === 'neg-errno'; // -errno comes back in the result register
  return b === 64 ? (signed ? 'int64_t' : 'uint64_t') : signed ? 'int32_t' : 'uint32_t';
}

/** Fast calls: conventions whose id says so (Hyper-V `x64-fast`/`x86-fast`, TLFS "fast hypercalls"). */
function isFast(conv: CallingConvention): boolean {
  return /(^|-)fast($|-)/.test(conv.id);
}

function suffixOf(conv: CallingConvention): string {
  const s = conv.id.replace(/(^|-)(x64|x86|64|32|hcpage)(?=-|$)/g, '').replace(/^-+|-+$/g, '');
  return cident(s || conv.id);
}

/** Plans for one hypercall in one mode: one per convention it may use. */
export function planWrappers(abi: AbiDefinition, hc: HypercallDef, convs: readonly CallingConvention[]): WrapperPlan[] {
  const usable = convs.filter((c) => !hc.conventions || hc.conventions.includes(c.id)).filter((c) => !hc.bits || hc.bits.includes(c.bits));
  const stem = hc.name.toLowerCase().startsWith(`${abi.name.toLowerCase()}_`) ? hc.name.slice(abi.name.length + 1) : hc.name;
  const base = `pvkit_${cident(abi.name)}_${cident(stem)}`;
  return usable.map((conv, k) => {
    const symbol = k === 0 ? base : `${base}_${suffixOf(conv)}`;
    const where = `${abi.name}.hypercalls[${hc.name}] (${conv.id})`;
    if (hc.args.length > conv.args.length) {
      throw new AbiError([{ path: `${where}.args`, value: hc.args.length, message: `convention ${conv.id} carries ${conv.args.length} arguments` }]);
    }
    const hv = abi.errors.encoding === 'hv-status';
    const rep = hv && !!hc.rep;
    const fast = hv && isFast(conv);
    const params: CParam[] = [];
    const roles: WrapperPlan['roles'][number][] = [];
    hc.args.forEach((arg, i) => {
      params.push({ name: cident(arg.name), ctype: ctypeOf(arg.type, conv.args[i]!) });
      roles.push(conv.args[i]!);
    });
    const varhead = hv && !!(hc as { varHeader?: boolean }).varHeader;
    if (varhead) {
      params.push({ name: 'varhead_qwords', ctype: 'uint32_t' });
      roles.push('varhead_qwords');
    }
    if (rep) {
      params.push({ name: 'rep_count', ctype: 'uint32_t' }, { name: 'rep_start', ctype: 'uint32_t' });
      roles.push('rep_count', 'rep_start');
    }
    const out = conv.results.length > 1;
    if (out) {
      params.push({ name: 'out', ctype: 'ptr' });
      roles.push('out');
    }
    // Unique C parameter names (Xen calls have several `arg`s).
    const seen = new Map<string, number>();
    const named = params.map((p) => {
      const n = seen.get(p.name) ?? 0;
      seen.set(p.name, n + 1);
      return n ? { ...p, name: `${p.name}${n + 1}` } : p;
    });
    const ret = retType(abi, conv.results[0]!);
    const proto = `${cdecl(ret)} ${symbol}(${named.length ? named.map((p) => `${p.ctype === 'ptr' ? 'uint64_t *' : cdecl(p.ctype) + ' '}${p.name}`).join(', ') : 'void'})`;
    return { symbol, hc, conv, params: named, roles, ret, number: BigInt(hc.nr) | (fast ? HV_FAST_BIT : 0n), rep, varhead, out, prototype: proto };
  });
}

function fixedReg(r: string): Reg {
  return r === 'dx' ? reg('dx') : reg(r);
}

/** Registers a call touches (encoding numbers): argument registers beyond `nargs` keep their value. */
function convNums(conv: CallingConvention, nargs: number): Set<number> {
  const s = new Set<number>();
  for (const x of [conv.number, ...conv.args.slice(0, nargs), ...conv.results, ...conv.clobbers]) slotNums(x).forEach((n) => s.add(n));
  for (const f of conv.fixed ?? []) slotNums(f.reg === 'dx' ? 'dx' : f.reg).forEach((n) => s.add(n));
  return s;
}

const SCRATCH: Record<64 | 32, string[]> = {
  64: ['r11', 'r10', 'r9', 'rsi', 'rdi', 'r8', 'rdx', 'rcx', 'rax', 'rbp', 'r12'],
  32: ['ecx', 'edx', 'esi', 'edi', 'ebx', 'ebp'],
};

function pickScratch(bits: 64 | 32, avoid: Set<number>, what: string): Reg {
  for (const n of SCRATCH[bits]) {
    const r = reg(n);
    if (!avoid.has(r.num)) return r;
  }
  throw new AbiError([{ path: what, value: [...avoid], message: 'the convention uses every register: no scratch register left' }]);
}

/** Put an immediate into a slot (a register, or a hi:lo pair). */
function loadImm(a: Asm, s: Slot, v: bigint): void {
  if (isPair(s)) {
    a.mov(reg(s.lo), Number(v & 0xffffffffn)).mov(reg(s.hi), Number((v >> 32n) & 0xffffffffn));
    return;
  }
  const r = reg(s);
  if (v <= 0xffffffffn) a.mov(regOf(r.num, 32), Number(v)); // writing r32 zero-extends (SDM 3.4.1.1)
  else a.mov(r, v);
}

export function emitWrapper(a: Asm, p: WrapperPlan, traps: TrapEmitter): void {
  const { conv } = p;
  const bits = a.bits;
  const w = bits === 64;
  const f = new CFunc(a, p.params);
  const used = convNums(conv, p.hc.args.length);
  const paramNums = new Set<number>(w ? p.params.map((_, i) => (f.loc(i) as { reg: Reg }).reg.num) : []);
  // Runtime control word (x86-64, rep or variable header): r11 control, r10 masked rep count, r9 scratch.
  const ctlRuntime = p.rep || p.varhead;
  const repRegs = w && ctlRuntime ? [reg('r11'), reg('r10'), reg('r9')] : [];
  for (const r of repRegs) {
    if (used.has(r.num)) throw new AbiError([{ path: `${p.symbol}`, value: r.name, message: 'a runtime control word needs r9-r11, which the convention uses' }]);
  }
  const reserved = new Set([...used, ...repRegs.map((r) => r.num)]);
  const trapScratch = traps.needsScratch(conv) ? pickScratch(bits, reserved, `${p.symbol} trap`) : undefined;
  const outScratch = p.out ? pickScratch(bits, new Set(conv.results.flatMap((s) => slotNums(s))), `${p.symbol} out`) : undefined;
  const repScratch = !w && p.rep ? pickScratch(bits, used, `${p.symbol} rep`) : undefined;
  const saveNums = new Set([...used, ...[trapScratch, outScratch, repScratch].filter((r): r is Reg => !!r).map((r) => r.num)]);
  a.global(p.symbol).label(p.symbol);
  f.save(saveNums);
  let outPos = -1;
  if (p.out && w) {
    f.push(regOf((f.loc(p.roles.indexOf('out')) as { reg: Reg }).reg.num, 64));
    outPos = f.pushed;
  }
  const ri = (role: string) => p.roles.indexOf(role as never);
  if (w) {
    if (ctlRuntime) {
      // Built from the C parameters before the argument moves overwrite them.
      const [ctl, cnt, tmp] = repRegs as [Reg, Reg, Reg];
      const r32 = (r: Reg) => regOf(r.num, 32);
      a.mov(r32(ctl), Number(p.number));
      if (p.varhead) {
        const v = (f.loc(ri('varhead_qwords')) as { reg: Reg }).reg;
        a.mov(r32(tmp), r32(v)).and(r32(tmp), HV_VARHEAD_MASK).shl(r32(tmp), HV_VARHEAD_SHIFT).or(r32(ctl), r32(tmp));
      }
      if (p.rep) {
        const c = (f.loc(ri('rep_count')) as { reg: Reg }).reg, s = (f.loc(ri('rep_start')) as { reg: Reg }).reg;
        a.mov(r32(tmp), r32(s)).and(r32(tmp), HV_REP_MASK).shl(tmp, 48).or(ctl, tmp);
        a.mov(r32(cnt), r32(c)).and(r32(cnt), HV_REP_MASK);
        a.mov(tmp, cnt).shl(tmp, 32).or(ctl, tmp);
      }
    }
    const moves: RegMove[] = [];
    p.roles.forEach((role, i) => {
      if (isSpecial(role)) return;
      if (isPair(role)) throw new AbiError([{ path: p.symbol, value: role, message: 'a hi:lo register pair in a 64-bit convention' }]);
      moves.push({ dst: reg(role), src: (f.loc(i) as { reg: Reg }).reg, ctype: p.params[i]!.ctype });
    });
    const avoid = new Set([...used, ...paramNums, ...repRegs.map((r) => r.num)]);
    parallelMove(a, moves, pickScratch(64, avoid, `${p.symbol} moves`));
  } else {
    if (ctlRuntime) {
      // [esp+8] (rep) or [esp] (no rep): control bits 31:0 with the variable-header size.
      const eax = reg('eax'), edx = reg('edx');
      a.mov(eax, Number(p.number & 0xffffffffn));
      if (p.varhead) {
        a.mov(edx, dword((f.loc(ri('varhead_qwords')) as { mem: Mem }).mem)).and(edx, HV_VARHEAD_MASK).shl(edx, HV_VARHEAD_SHIFT).or(eax, edx);
      }
      f.push(eax);
    }
    if (p.rep) {
      const eax = reg('eax'), edx = reg('edx');
      const c = f.loc(ri('rep_count')) as { mem: Mem };
      a.mov(eax, dword(c.mem)).and(eax, HV_REP_MASK);
      const s = f.loc(ri('rep_start')) as { mem: Mem };
      a.mov(edx, dword(s.mem)).and(edx, HV_REP_MASK).shl(edx, 16).or(edx, eax);
      f.push(edx); // [esp+4]: control bits 63:32 (rep start 59:48, rep count 43:32)
      f.push(eax); // [esp]:   masked rep count
    }
    p.roles.forEach((role, i) => {
      if (isSpecial(role)) return;
      const l = f.loc(i) as { mem: Mem; hiMem?: Mem };
      if (isPair(role)) {
        f.loadFromStack(i, reg(role.lo));
        if (l.hiMem) a.mov(reg(role.hi), dword(l.hiMem));
        else a.xor(reg(role.hi), reg(role.hi));
      } else f.loadFromStack(i, reg(role));
    });
  }
  for (const fx of conv.fixed ?? []) {
    const r = fixedReg(fx.reg);
    a.mov(r.size === 16 ? r : regOf(r.num, 32), fx.value);
  }
  const loop = a.newLabel('rep'), done = a.newLabel('repdone');
  if (p.rep) {
    a.label(loop);
    if (w) a.mov(reg((conv.number as string)), repRegs[0]!);
    else {
      const num = conv.number;
      if (!isPair(num)) throw new AbiError([{ path: p.symbol, value: num, message: 'a 32-bit rep call needs a hi:lo control word pair' }]);
      a.mov(reg(num.lo), dword(mem(reg('esp'), { disp: 8 }))).mov(reg(num.hi), dword(mem(reg('esp'), { disp: 4 })));
    }
  } else if (p.varhead) {
    if (w) a.mov(reg(conv.number as string), repRegs[0]!);
    else {
      const num = conv.number;
      if (!isPair(num)) throw new AbiError([{ path: p.symbol, value: num, message: 'a 32-bit Hyper-V call needs a hi:lo control word pair' }]);
      a.mov(reg(num.lo), dword(mem(reg('esp')))).xor(reg(num.hi), reg(num.hi));
    }
  } else loadImm(a, conv.number, p.number);
  traps.trap(conv, Number(p.hc.nr), trapScratch);
  if (p.rep) {
    // Linux hv_do_rep_hypercall(): re-issue with rep start = reps completed while the status is success.
    const res = conv.results[0]!;
    const status = regOf((isPair(res) ? reg(res.lo) : reg(res)).num, 32);
    a.test(status, 0xffff).jcc('nz', done); // HV_HYPERCALL_RESULT_MASK 15:0
    if (w) {
      const [ctl, cnt, tmp] = repRegs as [Reg, Reg, Reg];
      a.mov(tmp, reg('rax')).shr(tmp, 32).and(regOf(tmp.num, 32), HV_REP_MASK).cmp(regOf(tmp.num, 32), regOf(cnt.num, 32)).jcc('ae', done);
      a.shl(tmp, 48).shl(ctl, 16).shr(ctl, 16).or(ctl, tmp).jmp(loop); // bits 63:60 are RsvdZ, so clearing 63:48 is exact
    } else {
      const hi = reg((res as { hi: string }).hi), t = repScratch!;
      const esp = reg('esp');
      a.mov(t, hi).and(t, HV_REP_MASK).cmp(t, dword(mem(esp))).jcc('ae', done);
      a.shl(t, 16).and(dword(mem(esp, { disp: 4 })), 0xf000ffff).or(dword(mem(esp, { disp: 4 })), t).jmp(loop);
    }
    a.label(done);
  }
  if (!w && ctlRuntime) {
    const n = p.rep ? 12 : 4;
    a.lea(reg('esp'), mem(reg('esp'), { disp: n })); // drop the control-word slots
    f.pushed -= n;
  }
  if (p.out) {
    const o = outScratch!;
    if (w) a.mov(regOf(o.num, 64), qword(mem(reg('rsp'), { disp: f.pushed - outPos })));
    else a.mov(o, dword((f.loc(ri('out')) as { mem: Mem }).mem));
    const base = regOf(o.num, bits);
    conv.results.forEach((s, i) => {
      const at = (k: number) => dword(mem(base, { disp: 8 * i + k }));
      if (isPair(s)) a.mov(at(0), reg(s.lo)).mov(at(4), reg(s.hi));
      else if (reg(s).size === 64) a.mov(qword(mem(base, { disp: 8 * i })), reg(s));
      else a.mov(at(0), reg(s)).mov(at(4), 0);
    });
  }
  // First result into the C return register(s).
  const r0 = conv.results[0]!;
  if (isPair(r0)) {
    if (r0.lo !== 'eax' || r0.hi !== 'edx') {
      if (r0.lo === 'edx' && r0.hi === 'eax') a.xchg(reg('eax'), reg('edx'));
      else if (r0.hi === 'eax') a.mov(reg('edx'), reg('eax')).mov(reg('eax'), reg(r0.lo));
      else a.mov(reg('eax'), reg(r0.lo)).mov(reg('edx'), reg(r0.hi));
    }
  } else if (reg(r0).num !== 0) a.mov(reg(r0).size === 64 ? reg('rax') : reg('eax'), reg(r0));
  if (outPos >= 0) {
    a.lea(reg('rsp'), mem(reg('rsp'), { disp: 8 }));
    f.pushed -= 8;
  }
  f.ret();
  a.endSymbol(p.symbol);
}
