// Every builder, decoded by GNU objdump: one instruction, our length, same mnemonic and operands.
// The same listing also goes through `nasm -f bin`, which must give the same bytes.

import { describe, expect, it } from 'vitest';
import {
  Asm, type Cond, CONDITIONS, mem, byte, word, dword, qword,
  rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8, r9, r12, r13, r15, eax, ebx, ecx, edx, esi, edi, esp, ebp, r8d, r11d,
  ax, bx, cx, dx, di, r8w, r9w, al, bl, cl, dl, ah, bh, ch, dh, spl, sil, dil, r8b, r15b,
} from '@pvkit/guest-sdk';
import { type Operand, type Reg } from '@pvkit/guest-sdk';
import { hasIced, hasNasm, hasObjdump, icedDecode, icedMissing, type IcedOp, nasm, objdump, sameInstruction } from './x86-tools.js';

type Case = (a: Asm) => unknown;

const ALU = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'] as const;
const SHIFT = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'] as const;
const CCS = Object.keys(CONDITIONS) as Cond[];

function common64(): Case[] {
  const c: Case[] = [];
  for (const op of ALU) {
    c.push((a) => a[op](rax, rbx), (a) => a[op](r8d, ecx), (a) => a[op](al, r15b), (a) => a[op](cx, r9w));
    c.push((a) => a[op](eax, mem(rsi, { disp: 8 })), (a) => a[op](mem(r12, { index: r13, scale: 8, disp: -0x80 }), rdx));
    c.push((a) => a[op](eax, 5), (a) => a[op](eax, 500), (a) => a[op](rax, -1), (a) => a[op](al, 0x7f), (a) => a[op](ax, 0x1234));
    c.push((a) => a[op](dword(mem(rbp)), 0x12345678), (a) => a[op](byte(mem(rsp, { disp: 0x100 })), 0xff), (a) => a[op](qword(mem(rbx)), -2));
    c.push((a) => a[op](r9w, 3), (a) => a[op](spl, 1), (a) => a[op](ecx, 0xffffffff));
  }
  c.push(
    (a) => a.mov(rax, 0x1234_5678_9abc_def0n), (a) => a.mov(rax, 1), (a) => a.mov(r9, 0xffffffffn), (a) => a.mov(rcx, -1),
    (a) => a.mov(eax, ebx), (a) => a.mov(r15, mem(rsp, { disp: 8 })), (a) => a.mov(mem(rdi), sil), (a) => a.mov(dil, 0x80),
    (a) => a.mov(dword(mem(rbx, { index: rcx, scale: 4, disp: 8 })), 5), (a) => a.mov(word(mem(r13)), 0xbeef),
    (a) => a.mov(qword(mem(rax)), -5), (a) => a.mov(ah, bh), (a) => a.mov(ax, 0xffff), (a) => a.mov(eax, mem(0x1000)),
    (a) => a.mov(eax, mem(0)), (a) => a.mov(rax, mem(rax, { index: rax, scale: 2 })), (a) => a.mov(cl, mem(rbx, { index: r8, scale: 1 })),
    (a) => a.mov(eax, mem(0xffffffffffffff00n, {})), (a) => a.mov(eax, mem(-8)),
    (a) => a.movzx(eax, cl), (a) => a.movzx(rax, word(mem(rsi))), (a) => a.movzx(r8w, byte(mem(rdi))), (a) => a.movsx(rcx, r8b),
    (a) => a.movsx(eax, word(mem(rbx))), (a) => a.movsxd(rax, ecx), (a) => a.movsxd(r9, dword(mem(rsp))), (a) => a.movsx(rax, ecx),
    (a) => a.lea(rax, mem(rbx, { index: rcx, scale: 8, disp: 0x10 })), (a) => a.lea(esi, mem(rbp, { disp: -4 })),
    (a) => a.lea(rax, mem(rbp, { index: rax })), (a) => a.lea(r12, mem(r13)), (a) => a.lea(rdi, mem(0x2000, {})),
    (a) => a.lea(rax, mem(rcx, { index: rdx, scale: 4, disp: 0 })), (a) => a.lea(rax, mem(rsp, { disp: 0x1000 })),
    (a) => a.test(eax, ebx), (a) => a.test(al, 1), (a) => a.test(ecx, 1), (a) => a.test(eax, 0x100), (a) => a.test(rax, mem(rbx)),
    (a) => a.test(byte(mem(rdi)), 0x80), (a) => a.test(qword(mem(rdi)), -1),
    (a) => a.inc(eax), (a) => a.inc(r8), (a) => a.dec(byte(mem(rax))), (a) => a.dec(cx), (a) => a.neg(rax), (a) => a.not(dword(mem(rsp))),
    (a) => a.mul(rcx), (a) => a.imul(ebx), (a) => a.div(byte(mem(rsi))), (a) => a.idiv(r9), (a) => a.imul(eax, ecx),
    (a) => a.imul(rax, mem(rbx)), (a) => a.imul(eax, 5), (a) => a.imul(eax, ecx, 200), (a) => a.imul(r8, qword(mem(rsp)), -3), (a) => a.imul(ax, bx, 0x1000),
    (a) => a.push(rax), (a) => a.push(r15), (a) => a.push(bx), (a) => a.push(5), (a) => a.push(0x1000), (a) => a.push(-1), (a) => a.push(qword(mem(rax))),
    (a) => a.push(mem(rsp, { disp: 8 })), (a) => a.pop(rbx), (a) => a.pop(r12), (a) => a.pop(qword(mem(rdi))), (a) => a.pop(ax),
    (a) => a.call(rax), (a) => a.call(qword(mem(rbx, { disp: 16 }))), (a) => a.jmp(r9), (a) => a.jmp(mem(rax, { index: rcx, scale: 8 })),
    (a) => a.ret(), (a) => a.ret(8), (a) => a.ret(0), (a) => a.leave(),
    (a) => a.xchg(eax, ebx), (a) => a.xchg(ebx, eax), (a) => a.xchg(rcx, rax), (a) => a.xchg(eax, eax), (a) => a.xchg(ecx, edx),
    (a) => a.xchg(mem(rax), eax), (a) => a.xchg(al, cl), (a) => a.xchg(ax, r9w), (a) => a.xchg(rdx, mem(rsp)), (a) => a.xchg(r8, rax),
    (a) => a.cmpxchg(mem(rdi), ecx), (a) => a.lock.cmpxchg(qword(mem(rdi)), r8), (a) => a.cmpxchg(bl, dl), (a) => a.lock.cmpxchg(byte(mem(rsi)), al),
    (a) => a.xadd(eax, ebx), (a) => a.lock.xadd(mem(rsp), ecx), (a) => a.lock.xadd(word(mem(rax)), r9w),
    (a) => a.lock.add(dword(mem(rax)), 1), (a) => a.lock.inc(qword(mem(rbx))), (a) => a.lock.or(mem(rdi), al), (a) => a.lock.bts(dword(mem(rsi)), 3),
    (a) => a.lock.xchg(mem(rax), rbx), (a) => a.lock.sub(mem(rdi), r11d), (a) => a.lock.neg(byte(mem(rcx))),
    (a) => a.bt(eax, ecx), (a) => a.bts(rax, 63), (a) => a.btr(dword(mem(rbx)), 5), (a) => a.btc(mem(rsi), r8d), (a) => a.bt(ax, bx),
    (a) => a.bswap(eax), (a) => a.bswap(r15), (a) => a.bswap(rcx),
    (a) => a.in(al, 0x60), (a) => a.in(ax, 0x70), (a) => a.in(eax, 0xff), (a) => a.in(al, dx), (a) => a.in(ax, dx), (a) => a.in(eax, dx),
    (a) => a.out(0x80, al), (a) => a.out(0x81, ax), (a) => a.out(0, eax), (a) => a.out(dx, al), (a) => a.out(dx, ax), (a) => a.out(dx, eax),
    (a) => a.movsb(), (a) => a.movsw(), (a) => a.movsd(), (a) => a.movsq(), (a) => a.rep.movsb(), (a) => a.rep.movsq(),
    (a) => a.stosb(), (a) => a.rep.stosw(), (a) => a.rep.stosd(), (a) => a.stosq(), (a) => a.lodsb(), (a) => a.lodsw(), (a) => a.lodsd(), (a) => a.lodsq(),
    (a) => a.cmpsb(), (a) => a.repe.cmpsw(), (a) => a.repne.cmpsd(), (a) => a.repe.cmpsq(), (a) => a.scasb(), (a) => a.repne.scasb(),
    (a) => a.repe.scasd(), (a) => a.scasq(), (a) => a.insb(), (a) => a.rep.insw(), (a) => a.insd(), (a) => a.outsb(), (a) => a.outsw(), (a) => a.rep.outsd(),
    (a) => a.cpuid(), (a) => a.rdmsr(), (a) => a.wrmsr(), (a) => a.rdtsc(), (a) => a.vmcall(), (a) => a.vmmcall(), (a) => a.hlt(), (a) => a.pause(),
    (a) => a.int3(), (a) => a.int(0x80), (a) => a.ud2(), (a) => a.cli(), (a) => a.sti(), (a) => a.cld(), (a) => a.std(), (a) => a.clc(), (a) => a.stc(), (a) => a.cmc(),
    (a) => a.cwd(), (a) => a.cdq(), (a) => a.cqo(), (a) => a.cbw(), (a) => a.cwde(), (a) => a.cdqe(),
    (a) => a.rdtscp(), (a) => a.wbinvd(), (a) => a.lfence(), (a) => a.mfence(), (a) => a.sfence(), (a) => a.iretd(), (a) => a.iretq(),
  );
  for (let n = 1; n <= 9; n++) c.push((a) => a.nop(n));
  for (const op of SHIFT) {
    c.push((a) => a[op](eax, 1), (a) => a[op](rax, 5), (a) => a[op](cl, cl), (a) => a[op](dword(mem(rbx)), cl), (a) => a[op](r9w, 15), (a) => a[op](byte(mem(rax)), 1));
  }
  for (const cc of CCS) c.push((a) => a.setcc(cc, al), (a) => a.setcc(cc, byte(mem(rdi))), (a) => a.cmovcc(cc, rax, rbx), (a) => a.cmovcc(cc, cx, mem(rsi)));
  c.push((a) => a.setcc('e', r8b), (a) => a.setcc('ne', dil), (a) => a.cmovcc('l', r8d, mem(rsp, { index: r9, scale: 2 })));
  return c;
}

function common32(): Case[] {
  const c: Case[] = [];
  for (const op of ALU) {
    c.push((a) => a[op](eax, ebx), (a) => a[op](al, dl), (a) => a[op](cx, bx), (a) => a[op](ecx, mem(esi, { disp: 8 })));
    c.push((a) => a[op](mem(esp, { index: ebp, scale: 8, disp: -0x80 }), edx), (a) => a[op](eax, 5), (a) => a[op](eax, 500), (a) => a[op](eax, 0xffffffff));
    c.push((a) => a[op](dword(mem(ebp)), 0x12345678), (a) => a[op](byte(mem(0x1000)), 3), (a) => a[op](ax, 0x1234), (a) => a[op](ah, 1));
  }
  c.push(
    (a) => a.mov(eax, 0x12345678), (a) => a.mov(eax, mem(0x1000)), (a) => a.mov(mem(0x2000), al), (a) => a.mov(ax, mem(0x10)), (a) => a.mov(ebx, mem(0x1000)),
    (a) => a.mov(mem(ebx, { index: ecx, scale: 4 }), esi), (a) => a.mov(dh, 5), (a) => a.mov(word(mem(edi)), 0x1234), (a) => a.mov(esp, ebp),
    (a) => a.mov(eax, mem(0, { index: ecx, scale: 4 })), (a) => a.movzx(eax, bh), (a) => a.movsx(edx, word(mem(esi))), (a) => a.movzx(cx, byte(mem(esp))),
    (a) => a.lea(eax, mem(ebx, { index: ecx, scale: 2, disp: 0x7f })), (a) => a.lea(edi, mem(ebp, { disp: 0x80 })), (a) => a.lea(eax, mem(0x1234)),
    (a) => a.inc(eax), (a) => a.inc(di), (a) => a.dec(esp), (a) => a.inc(bl), (a) => a.dec(dword(mem(eax))),
    (a) => a.push(eax), (a) => a.push(cx), (a) => a.push(7), (a) => a.push(0xffffffff), (a) => a.push(0x12345678), (a) => a.push(dword(mem(esp, { disp: 4 }))),
    (a) => a.pop(edi), (a) => a.pop(mem(eax)), (a) => a.call(eax), (a) => a.jmp(dword(mem(ebx))), (a) => a.ret(4),
    (a) => a.xchg(eax, ecx), (a) => a.xchg(eax, eax), (a) => a.xchg(ebx, edx), (a) => a.xchg(mem(esi), al),
    (a) => a.lock.cmpxchg(mem(edi), ecx), (a) => a.lock.xadd(mem(esi), eax), (a) => a.test(edx, edx), (a) => a.test(ax, 0x100),
    (a) => a.imul(esi, mem(edi), 7), (a) => a.mul(bl), (a) => a.div(ecx), (a) => a.shl(eax, 4), (a) => a.sar(edx, cl), (a) => a.rol(ah, 1),
    (a) => a.bt(eax, 31), (a) => a.bts(mem(ebx), eax), (a) => a.bswap(esi), (a) => a.setcc('a', ch), (a) => a.cmovcc('ge', eax, mem(ecx)),
    (a) => a.in(al, dx), (a) => a.in(eax, 0x20), (a) => a.out(dx, ax), (a) => a.out(0x21, al),
    (a) => a.rep.movsd(), (a) => a.rep.stosb(), (a) => a.repe.cmpsb(), (a) => a.repne.scasw(), (a) => a.rep.insb(), (a) => a.rep.outsw(), (a) => a.lodsd(),
    (a) => a.cpuid(), (a) => a.rdmsr(), (a) => a.wrmsr(), (a) => a.rdtsc(), (a) => a.vmcall(), (a) => a.vmmcall(), (a) => a.hlt(), (a) => a.pause(),
    (a) => a.cdq(), (a) => a.cwde(), (a) => a.cwd(), (a) => a.cbw(), (a) => a.leave(), (a) => a.ud2(), (a) => a.int3(),
    (a) => a.iretd(), (a) => a.mfence(), (a) => a.rdtscp(),
  );
  for (let n = 1; n <= 9; n++) c.push((a) => a.nop(n));
  for (const op of SHIFT) c.push((a) => a[op](ecx, 1), (a) => a[op](dl, cl), (a) => a[op](word(mem(ebx, { disp: 2 })), 7));
  for (const cc of CCS) c.push((a) => a.setcc(cc, dh), (a) => a.cmovcc(cc, esi, dword(mem(esp, { disp: 4 }))));
  return c;
}


interface Record { mn: string; ops: Operand[]; prefix: string }

/** Records what each builder asked the encoder for, so iced's structured decode can be compared with it. */
class Recorder extends Asm {
  log: Record[] = [];
  override insn(mn: string, ...ops: Operand[]): this {
    this.log.push({ mn, ops, prefix: this.pending ?? '' });
    return super.insn(mn, ...ops);
  }
}

interface Built {
  bytes: Uint8Array[];
  text: string[];
  rec: (Record | undefined)[];
  all: Uint8Array;
  source: string;
}

const CANON_CC = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];
const STRINGS = /^(movs|stos|lods|cmps|scas|ins|outs)[bwdq]$/;
const icedReg = (r: Reg): string => r.name.replace(/^(r\d+)b$/, '$1l');

function expectedMnemonic(r: Record, bits: 32 | 64): string {
  const { mn, ops } = r;
  if (mn === 'sal') return 'shl';
  if (mn === 'movsx' && (ops[0] as Reg).size === 64 && (ops[1] as { size?: number }).size === 32) return 'movsxd';
  if (bits === 32 && mn === 'xchg' && ops.every((o) => (o as Reg).name === 'eax')) return 'nop';
  for (const stem of ['set', 'cmov']) {
    const cc = CONDITIONS[mn.slice(stem.length)];
    if (mn.startsWith(stem) && cc !== undefined) return stem + CANON_CC[cc];
  }
  return mn;
}

function compareOp(o: Operand, d: IcedOp, width: number, r: Record, bits: 32 | 64): string | undefined {
  if (typeof o === 'number' || typeof o === 'bigint') {
    if (d.kind !== 'imm') return `expected immediate, got ${d.kind}`;
    const w = /^(in|out|ret|int|rol|ror|rcl|rcr|shl|shr|sal|sar|bt|bts|btr|btc)$/.test(r.mn) ? 64 : width;
    return BigInt.asUintN(w, BigInt(o)) === BigInt.asUintN(w, d.value) ? undefined : `immediate ${o} vs ${d.value}`;
  }
  if (o.kind === 'label') return d.kind === 'imm' ? undefined : `expected label immediate, got ${d.kind}`;
  if (o.kind === 'reg') {
    if (d.kind !== 'reg') return `expected register ${o.name}, got ${d.kind}`;
    // mov r64, imm that zero-extends is encoded as mov r32, imm32.
    if (r.mn === 'mov' && o.size === 64 && /^(e..|r\d+d)$/.test(d.name) && typeof r.ops[1] !== 'object') return undefined;
    return d.name === icedReg(o) ? undefined : `register ${o.name} vs ${d.name}`;
  }
  if (d.kind !== 'mem') return `expected memory, got ${d.kind}`;
  if (o.rip) return d.base === 'rip' ? undefined : `expected rip base, got ${d.base}`;
  const want = { base: o.base ? icedReg(o.base) : 'none', index: o.index ? icedReg(o.index) : 'none' };
  if (d.base !== want.base || d.index !== want.index) return `memory regs ${JSON.stringify(want)} vs ${d.base}/${d.index}`;
  if (o.index && d.scale !== o.scale) return `scale ${o.scale} vs ${d.scale}`;
  if (BigInt.asUintN(bits, o.disp) !== BigInt.asUintN(bits, d.disp)) return `displacement ${o.disp} vs ${d.disp}`;
  if (o.size && r.mn !== 'lea' && d.size !== o.size / 8) return `memory size ${o.size / 8} vs ${d.size}`;
  return undefined;
}

function compareIced(r: Record, d: { mnemonic: string; prefix: string; ops: readonly IcedOp[] }, bits: 32 | 64): string | undefined {
  const mn = expectedMnemonic(r, bits);
  if (d.mnemonic !== mn) return `mnemonic ${mn} vs ${d.mnemonic}`;
  const wantPrefix = r.prefix === 'rep' && /^(cmps|scas)/.test(r.mn) ? 'repe' : r.prefix === 'rep' ? 'repe' : r.prefix;
  if (wantPrefix !== d.prefix) return `prefix "${r.prefix}" vs "${d.prefix}"`;
  if (STRINGS.test(r.mn) || mn === 'nop') return undefined; // operands are implicit
  let ops = r.ops;
  if (r.mn === 'imul' && ops.length === 2 && (typeof ops[1] === 'number' || typeof ops[1] === 'bigint')) ops = [ops[0]!, ops[0]!, ops[1]!];
  if (ops.length !== d.ops.length) return `operand count ${ops.length} vs ${d.ops.length}`;
  const first = ops[0] as { size?: number } | undefined;
  const width = (typeof first === 'object' && first?.size) || bits;
  let dops = [...d.ops];
  if (r.mn === 'xchg' || r.mn === 'test') {
    // Operand order follows the encoding (r/m first); match either order.
    const direct = ops.every((o, i) => !compareOp(o, dops[i]!, width, r, bits));
    if (!direct) dops = dops.reverse();
  }
  for (let i = 0; i < ops.length; i++) {
    const e = compareOp(ops[i]!, dops[i]!, width, r, bits);
    if (e) return `operand ${i + 1}: ${e}`;
  }
  return undefined;
}

function build(bits: 32 | 64, cases: Case[]): Built {
  const bytes: Uint8Array[] = [];
  const text: string[] = [];
  const rec: (Record | undefined)[] = [];
  for (const c of cases) {
    const a = new Recorder({ bits, origin: 0x1000n });
    c(a);
    const img = a.finish();
    bytes.push(img.sections[0]!.bytes);
    text.push(a.toNasm().trimEnd().split('\n').pop()!.trim());
    rec.push(a.log.length === 1 ? a.log[0] : undefined);
  }
  const whole = new Asm({ bits, origin: 0x1000n });
  for (const c of cases) c(whole);
  const img = whole.finish();
  return { bytes, text, rec, all: img.sections[0]!.bytes, source: whole.toNasm() };
}

for (const bits of [64, 32] as const) {
  describe(`x86 builders, ${bits}-bit`, () => {
    const cases = bits === 64 ? common64() : common32();
    const b = build(bits, cases);

    it.skipIf(!hasObjdump)('objdump decodes each to one instruction of our length with our mnemonic and operands', () => {
      const decoded = objdump(b.all, bits, 0x1000n);
      const problems: string[] = [];
      let k = 0;
      b.bytes.forEach((bytes, i) => {
        const d = decoded[k++];
        if (!d) return problems.push(`#${i} ${b.text[i]}: nothing decoded`);
        if (d.length !== bytes.length) problems.push(`#${i} ${b.text[i]}: objdump length ${d.length}, ours ${bytes.length} (${d.text})`);
        const diff = sameInstruction(b.text[i]!, d.text, bits);
        if (diff) problems.push(`#${i} ${b.text[i]} decoded as "${d.text}": ${diff}`);
      });
      expect(k).toBe(decoded.length);
      expect(problems).toEqual([]);
      expect(cases.length).toBeGreaterThan(bits === 64 ? 450 : 200);
    });

    it.skipIf(!hasIced)('iced-x86 decodes each to one instruction of our length, Mnemonic and operands', () => {
      const problems: string[] = [];
      let checked = 0;
      b.bytes.forEach((bytes, i) => {
        const d = icedDecode(bytes, bits, 0x1000n);
        if (d.length !== 1 || d[0]!.length !== bytes.length) return problems.push(`#${i} ${b.text[i]}: iced decoded ${d.length} instruction(s), lengths ${d.map((x) => x.length)}`);
        const r = b.rec[i];
        if (!r) return; // nop(n): no encoder record; objdump covers it
        checked++;
        const e = compareIced(r, d[0]!, bits);
        if (e) problems.push(`#${i} ${b.text[i]}: ${e}`);
      });
      expect(problems).toEqual([]);
      expect(checked).toBeGreaterThan(bits === 64 ? 450 : 200);
    });

    it.skipIf(!hasNasm)('nasm assembles the printed listing to identical bytes', () => {
      expect(Buffer.from(nasm(b.source)).toString('hex')).toBe(Buffer.from(b.all).toString('hex'));
    });
  });
}

if (!hasObjdump) console.warn('x86-decode: objdump (GNU binutils) not found; decode checks skipped');
if (!hasNasm) console.warn('x86-decode: nasm not found; nasm checks skipped');
if (!hasIced) console.warn(`x86-decode: ${icedMissing}; iced-x86 checks skipped (objdump still decodes every builder)`);

describe.skipIf(!hasObjdump)('the decode comparison itself', () => {
  it('notices a wrong register, immediate, memory operand, size or mnemonic', () => {
    const dec = (hex: string, bits: 32 | 64 = 64): string => objdump(Uint8Array.from(Buffer.from(hex, 'hex')), bits)[0]!.text;
    expect(sameInstruction('mov eax, ebx', dec('89d8'), 64)).toBeUndefined();
    expect(sameInstruction('mov eax, ebx', dec('89d9'), 64)).toMatch(/operand/);
    expect(sameInstruction('add eax, 0x5', dec('83c006'), 64)).toMatch(/operand 2/);
    expect(sameInstruction('add eax, -0x1', dec('83c0ff'), 64)).toBeUndefined();
    expect(sameInstruction('mov eax, dword [rbx+0x8]', dec('8b430c'), 64)).toMatch(/operand 2/);
    expect(sameInstruction('mov eax, dword [rbx+0x8]', dec('668b4308'), 64)).toMatch(/operand/);
    expect(sameInstruction('sub eax, ebx', dec('01d8'), 64)).toMatch(/mnemonic/);
  });
});

describe.skipIf(!hasIced)('the iced-x86 comparison itself', () => {
  it('notices a wrong mnemonic, register, memory operand, immediate or prefix', () => {
    const dec = (hex: string) => icedDecode(Uint8Array.from(Buffer.from(hex, 'hex')), 64)[0]!;
    const rec = (mn: string, ops: Operand[], prefix = ''): Record => ({ mn, ops, prefix });
    expect(compareIced(rec('mov', [eax, ebx]), dec('89d8'), 64)).toBeUndefined();
    expect(compareIced(rec('mov', [eax, ecx]), dec('89d8'), 64)).toMatch(/register ecx vs ebx/);
    expect(compareIced(rec('add', [eax, ebx]), dec('89d8'), 64)).toMatch(/mnemonic add vs mov/);
    expect(compareIced(rec('add', [eax, 6]), dec('83c005'), 64)).toMatch(/immediate 6 vs 5/);
    expect(compareIced(rec('add', [eax, -1]), dec('83c0ff'), 64)).toBeUndefined();
    expect(compareIced(rec('mov', [eax, mem(rbx, { disp: 8 })]), dec('8b430c'), 64)).toMatch(/displacement 8 vs 12/);
    expect(compareIced(rec('mov', [eax, mem(rbx, { index: rcx, scale: 4 })]), dec('8b048b'), 64)).toBeUndefined();
    expect(compareIced(rec('mov', [eax, mem(rbx, { index: rcx, scale: 2 })]), dec('8b048b'), 64)).toMatch(/scale 2 vs 4/);
    expect(compareIced(rec('add', [dword(mem(rax)), eax], 'lock'), dec('0100'), 64)).toMatch(/prefix/);
    expect(compareIced(rec('add', [word(mem(rax)), ax]), dec('0100'), 64)).toMatch(/memory size 2 vs 4|register ax vs eax/);
  });
});
