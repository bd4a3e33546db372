// Short instruction text for exits and traces: a mnemonic where the engine knows one, then the bytes.
// (iced-x86's formatter is not installed in this workspace; see the package report.)
import { hexBytes, type Decoded } from './decode.js';

const ONE: Record<number, string> = {
  0x0f: '0f', 0x63: 'movsxd', 0x68: 'push', 0x69: 'imul', 0x6a: 'push', 0x6b: 'imul', 0x6c: 'insb', 0x6d: 'ins',
  0x6e: 'outsb', 0x6f: 'outs', 0x84: 'test', 0x85: 'test', 0x86: 'xchg', 0x87: 'xchg', 0x88: 'mov', 0x89: 'mov',
  0x8a: 'mov', 0x8b: 'mov', 0x8c: 'mov sreg', 0x8d: 'lea', 0x8e: 'mov sreg', 0x8f: 'pop', 0x90: 'nop',
  0x98: 'cbw/cwde/cdqe', 0x99: 'cwd/cdq/cqo', 0x9a: 'callf', 0x9c: 'pushf', 0x9d: 'popf', 0x9e: 'sahf',
  0x9f: 'lahf', 0xa4: 'movsb', 0xa5: 'movs', 0xa6: 'cmpsb', 0xa7: 'cmps', 0xa8: 'test', 0xa9: 'test',
  0xaa: 'stosb', 0xab: 'stos', 0xac: 'lodsb', 0xad: 'lods', 0xae: 'scasb', 0xaf: 'scas', 0xc2: 'ret', 0xc3: 'ret',
  0xc4: 'les/vex3', 0xc5: 'lds/vex2', 0xc8: 'enter', 0xc9: 'leave', 0xca: 'retf', 0xcb: 'retf', 0xcc: 'int3',
  0xcd: 'int', 0xce: 'into', 0xcf: 'iret', 0xd4: 'aam', 0xd5: 'aad', 0xd6: 'salc', 0xd7: 'xlat', 0xe0: 'loopne',
  0xe1: 'loope', 0xe2: 'loop', 0xe3: 'jrcxz', 0xe4: 'in', 0xe5: 'in', 0xe6: 'out', 0xe7: 'out', 0xe8: 'call',
  0xe9: 'jmp', 0xea: 'jmpf', 0xeb: 'jmp', 0xec: 'in', 0xed: 'in', 0xee: 'out', 0xef: 'out', 0xf1: 'int1',
  0xf4: 'hlt', 0xf5: 'cmc', 0xf8: 'clc', 0xf9: 'stc', 0xfa: 'cli', 0xfb: 'sti', 0xfc: 'cld', 0xfd: 'std',
  0x06: 'push es', 0x07: 'pop es', 0x0e: 'push cs', 0x16: 'push ss', 0x17: 'pop ss', 0x1e: 'push ds',
  0x1f: 'pop ds', 0x27: 'daa', 0x2f: 'das', 0x37: 'aaa', 0x3f: 'aas', 0x60: 'pusha', 0x61: 'popa', 0x62: 'bound',
};
const TWO: Record<number, string> = {
  0x00: 'group6', 0x05: 'syscall', 0x06: 'clts', 0x07: 'sysret', 0x08: 'invd', 0x09: 'wbinvd', 0x0b: 'ud2',
  0x20: 'mov from cr', 0x22: 'mov to cr', 0x30: 'wrmsr', 0x31: 'rdtsc', 0x32: 'rdmsr', 0x33: 'rdpmc',
  0x34: 'sysenter', 0x35: 'sysexit', 0xa0: 'push fs', 0xa1: 'pop fs', 0xa2: 'cpuid', 0xa3: 'bt', 0xa4: 'shld',
  0xa5: 'shld', 0xa8: 'push gs', 0xa9: 'pop gs', 0xaa: 'rsm', 0xab: 'bts', 0xac: 'shrd', 0xad: 'shrd',
  0xaf: 'imul', 0xb0: 'cmpxchg', 0xb1: 'cmpxchg', 0xb3: 'btr', 0xb6: 'movzx', 0xb7: 'movzx', 0xb9: 'ud1',
  0xbb: 'btc', 0xbc: 'bsf/tzcnt', 0xbd: 'bsr/lzcnt', 0xbe: 'movsx', 0xbf: 'movsx', 0xc0: 'xadd', 0xc1: 'xadd',
  0xc7: 'group9 (cmpxchg8b/16b, rdrand)', 0xff: 'ud0',
};
const ALU = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
const SHIFT = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'];
const GRP3 = ['test', 'test', 'not', 'neg', 'mul', 'imul', 'div', 'idiv'];
const GRP5 = ['inc', 'dec', 'call', 'callf', 'jmp', 'jmpf', 'push', '(bad)'];
const CC = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];

export function mnemonic(d: Decoded): string {
  const op = d.op;
  const r = d.reg & 7;
  if (op < 0x40 && (op & 7) < 6) return ALU[op >> 3]!;
  if (op >= 0x40 && op < 0x50) return op < 0x48 ? 'inc' : 'dec';
  if (op >= 0x50 && op < 0x58) return 'push';
  if (op >= 0x58 && op < 0x60) return 'pop';
  if (op >= 0x70 && op < 0x80) return `j${CC[op & 15]}`;
  if (op >= 0x80 && op <= 0x83) return ALU[r]!;
  if (op >= 0x91 && op <= 0x97) return 'xchg';
  if (op >= 0xa0 && op <= 0xa3) return 'mov';
  if (op >= 0xb0 && op <= 0xbf) return 'mov';
  if (op === 0xc0 || op === 0xc1 || (op >= 0xd0 && op <= 0xd3)) return SHIFT[r]!;
  if (op === 0xc6 || op === 0xc7) return r === 0 ? 'mov' : '(bad)';
  if (op >= 0xd8 && op <= 0xdf) return 'x87';
  if (op === 0xf6 || op === 0xf7) return GRP3[r]!;
  if (op === 0xfe) return r < 2 ? GRP5[r]! : '(bad)';
  if (op === 0xff) return GRP5[r]!;
  if (op >= 0x140 && op < 0x150) return `cmov${CC[op & 15]}`;
  if (op >= 0x180 && op < 0x190) return `j${CC[op & 15]}`;
  if (op >= 0x190 && op < 0x1a0) return `set${CC[op & 15]}`;
  if (op >= 0x1c8 && op <= 0x1cf) return 'bswap';
  if (op === 0x101 && d.mod === 3) {
    const m = 0xc0 | (r << 3) | (d.rm & 7);
    if (m === 0xc1) return 'vmcall';
    if (m === 0xd9) return 'vmmcall';
    if (m === 0xf9) return 'rdtscp';
    if (m === 0xd0) return 'xgetbv';
    if (m === 0xf8) return 'swapgs';
    return 'group7';
  }
  if (op === 0x101) return ['sgdt', 'sidt', 'lgdt', 'lidt', 'smsw', '(bad)', 'lmsw', 'invlpg'][r]!;
  if (op >= 0x118 && op <= 0x11f) return 'nop';
  if (op === 0x1ba) return ['(bad)', '(bad)', '(bad)', '(bad)', 'bt', 'bts', 'btr', 'btc'][r]!;
  if (op >= 0x200) return op >= 0x300 ? '0f3a-map' : '0f38-map';
  if (op >= 0x100) return TWO[op & 0xff] ?? `0f ${(op & 0xff).toString(16).padStart(2, '0')}`;
  return ONE[op] ?? `(bad)`;
}

export function formatInsn(d: Decoded): string {
  const pre = (d.lock ? 'lock ' : '') + (d.rep === 0xf3 ? 'rep ' : d.rep === 0xf2 ? 'repne ' : '');
  return `${pre}${mnemonic(d)} [${hexBytes(d.bytes)}]`;
}
