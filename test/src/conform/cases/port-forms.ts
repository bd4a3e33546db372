// ABI-FACTS §7: the 24 port I/O forms a hypervisor must decode, one case each, 64- and 32-bit, both vendors.
// imm8 forms use the one-port debug console at 0xe9 (reads back 0xe9): a byte access reaches it, a word or dword
// access spans 0xe9.. beyond it, which no device claims whole, so it is unassigned I/O (reads all ones, writes
// dropped, as in QEMU) - the access size is what the case checks. DX and string forms use the pvtest device's
// DATA_IN FIFO and DATA_OUT register. Every expectation follows from §7's semantics: IN to AL/AX keeps the rest
// of RAX, IN to EAX zero-extends; string forms step rSI/rDI by the element size (DF=0); REP repeats rCX times and
// leaves rCX = 0. The machine is KVM-only, so `--backend both` compares each form with real /dev/kvm.
import { XEN_HVM_DEBUGCONS_IOPORT } from '@pvkit/shared-abi';
import { al, ax, dx, eax, ecx, edi, esi, rax, rcx, rdi, rsi, type Asm } from '@pvkit/guest-sdk';
import { PvtestReg } from '@pvkit/host';
import { PVTEST_PORT } from '../../run/machine.js';
import { asmProgram } from '../guest.js';
import type { Bits, ConformCase, Expect } from '../types.js';
import { BITS, VENDORS } from './helpers.js';

type Size = 1 | 2 | 4;
type Form =
  | { kind: 'in' | 'out'; port: 'imm8' | 'dx'; size: Size }
  | { kind: 'ins' | 'outs'; rep: boolean; size: Size };

const SIZES: Size[] = [1, 2, 4];
const FORMS: Form[] = [
  ...(['imm8', 'dx'] as const).flatMap((port) => (['in', 'out'] as const).flatMap((kind) => SIZES.map((size): Form => ({ kind, port, size })))),
  ...[false, true].flatMap((rep) => (['ins', 'outs'] as const).flatMap((kind) => SIZES.map((size): Form => ({ kind, rep, size })))),
];

const SENTINEL = 0x1111_1111_1111_1111n;
const BUF = 0x3000n; // INS destination
const SRC = 0x3100n; // OUTS source
const SRC_BYTES = [...new TextEncoder().encode('WXYZwxyz0123')];
const INPUT = [...new TextEncoder().encode('abcdefghijkl')]; // pvtest DATA_IN FIFO
const CONSOLE_READ = 0xe9; // DebugConsole.read (QEMU debugcon reads back 0xe9)
const OUT_VALUE = 0x4443_4241; // "ABCD"
const REP = 3;

const reg = (size: Size) => (size === 1 ? al : size === 2 ? ax : eax);
const suffix = (size: Size) => (size === 1 ? 'b' : size === 2 ? 'w' : 'd');
const mask = (bits: number) => (1n << BigInt(bits)) - 1n;
const le = (v: number, n: number) => Array.from({ length: n }, (_x, i) => (v >>> (8 * i)) & 0xff);

function name(f: Form): string {
  if (f.kind === 'in') return `IN ${reg(f.size).name}, ${f.port === 'dx' ? 'DX' : 'imm8'}`;
  if (f.kind === 'out') return `OUT ${f.port === 'dx' ? 'DX' : 'imm8'}, ${reg(f.size).name}`;
  return `${'rep' in f && f.rep ? 'REP ' : ''}${f.kind.toUpperCase()}${suffix(f.size).toUpperCase()}`;
}

function program(f: Form, bits: Bits) {
  return asmProgram(bits, (a: Asm) => {
    if (bits === 64) a.mov(rax, SENTINEL);
    else a.mov(eax, Number(SENTINEL & mask(32)));
    a.cld();
    if (f.kind === 'in' || f.kind === 'out') {
      const port = f.port === 'imm8' ? XEN_HVM_DEBUGCONS_IOPORT : PVTEST_PORT + (f.kind === 'in' ? PvtestReg.DATA_IN : PvtestReg.DATA_OUT);
      if (f.kind === 'out') a.mov(eax, OUT_VALUE);
      if (f.port === 'dx') a.mov(dx, port);
      const p = f.port === 'dx' ? dx : port;
      if (f.kind === 'in') a.in(reg(f.size), p);
      else a.out(p, reg(f.size));
    } else {
      a.mov(dx, PVTEST_PORT + (f.kind === 'ins' ? PvtestReg.DATA_IN : PvtestReg.DATA_OUT));
      if (bits === 64) a.mov(rdi, BUF).mov(rsi, SRC).mov(rcx, REP);
      else a.mov(edi, Number(BUF)).mov(esi, Number(SRC)).mov(ecx, REP);
      const op = `${f.kind}${suffix(f.size)}` as 'insb';
      ('rep' in f && f.rep ? a.rep : a)[op]();
    }
    a.hlt();
  }, [{ gpa: SRC, bytes: Uint8Array.from(SRC_BYTES) }]);
}

function expectFor(f: Form, bits: Bits): Expect {
  const w = bits === 64 ? mask(64) : mask(32);
  const r = (v: bigint) => ({ value: v & w, mask: w });
  if (f.kind === 'in') {
    const unassigned = Number(mask(8 * f.size));
    const got = BigInt(f.port === 'imm8' ? (f.size === 1 ? CONSOLE_READ : unassigned) : INPUT.slice(0, f.size).reduce((v, b, i) => v | (b << (8 * i)), 0) >>> 0);
    // IN AL/AX: only those bits change; IN EAX: zero-extends into RAX (§7 Semantics).
    const rax = f.size === 4 ? got : (SENTINEL & ~mask(8 * f.size)) | got;
    return { registers: { rax: r(rax) } };
  }
  if (f.kind === 'out') {
    const bytes = le(OUT_VALUE, f.size);
    if (f.port === 'imm8') return { console: f.size === 1 ? String.fromCharCode(...bytes) : '' };
    return { device: { output: String.fromCharCode(...bytes) } };
  }
  const rep = 'rep' in f && f.rep;
  const len = (rep ? REP : 1) * f.size;
  const regs: Expect['registers'] = {
    rcx: r(BigInt(rep ? 0 : REP)),
    [f.kind === 'ins' ? 'rdi' : 'rsi']: r((f.kind === 'ins' ? BUF : SRC) + BigInt(len)),
    [f.kind === 'ins' ? 'rsi' : 'rdi']: r(f.kind === 'ins' ? SRC : BUF),
  };
  if (f.kind === 'ins') return { registers: regs, memory: [{ gpa: BUF, bytes: INPUT.slice(0, len), what: `${name(f)} destination (ES:rDI)` }] };
  return { registers: regs, device: { output: String.fromCharCode(...SRC_BYTES.slice(0, len)) } };
}

export const PORT_FORM_CASES: ConformCase[] = FORMS.map((f, i) => ({
  name: `port I/O form ${i + 1}: ${name(f)}`,
  groups: ['pio'],
  abis: ['kvm'],
  vendors: VENDORS,
  bits: BITS,
  source: 'ABI-FACTS §7 (the 24 port I/O forms; semantics)',
  machine: () => ({ abis: [{ name: 'kvm' }], pvtestInput: INPUT }),
  program: (e) => program(f, e.bits),
  expect: (e) => expectFor(f, e.bits),
}));
