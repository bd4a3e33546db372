// Real tools for the assembler tests: nasm assembles, objdump decodes. Both are run, never imitated.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONDITIONS } from '../src/x86/forms.js';

function has(cmd: string, arg: string): boolean {
  const r = spawnSync(cmd, [arg], { encoding: 'utf8' });
  return r.status === 0;
}
export const hasNasm = has('nasm', '-v');
export const hasObjdump = has('objdump', '--version');

function withTmp<T>(f: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'pvkit-x86-'));
  try {
    return f(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `nasm -f bin` on the source; throws with nasm's messages on failure. */
export function nasm(src: string): Uint8Array {
  return withTmp((dir) => {
    writeFileSync(join(dir, 'a.asm'), src);
    const r = spawnSync('nasm', ['-f', 'bin', '-o', join(dir, 'a.bin'), join(dir, 'a.asm')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`nasm failed:\n${r.stderr}\n--- source ---\n${src}`);
    return new Uint8Array(readFileSync(join(dir, 'a.bin')));
  });
}

export interface Decoded {
  readonly addr: bigint;
  readonly length: number;
  /** objdump's Intel-syntax text, comment kept separately. */
  readonly text: string;
  readonly comment?: string;
}

/** Disassemble raw bytes with `objdump -D -b binary -M intel` at the given load address. */
export function objdump(bytes: Uint8Array, bits: 32 | 64, origin = 0n): Decoded[] {
  return withTmp((dir) => {
    writeFileSync(join(dir, 'a.bin'), bytes);
    const r = spawnSync('objdump', ['-D', '-b', 'binary', '-m', bits === 64 ? 'i386:x86-64' : 'i386', '-M', 'intel',
      `--adjust-vma=0x${origin.toString(16)}`, '-w', join(dir, 'a.bin')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`objdump failed: ${r.stderr}`);
    const out: Decoded[] = [];
    for (const line of r.stdout.split('\n')) {
      const m = /^\s*([0-9a-f]+):\t((?:[0-9a-f]{2} )+)\s*\t?(.*)$/.exec(line);
      if (!m) continue;
      const [text, comment] = m[3]!.split(/\s+#\s+/);
      out.push({ addr: BigInt(`0x${m[1]}`), length: m[2]!.trim().split(' ').length, text: text!.trim(), comment });
    }
    return out;
  });
}

const CANON_CC = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];
const SIZE_SUFFIX: Record<string, string> = { byte: 'b', word: 'w', dword: 'd', qword: 'q' };
const STRING_OPS = new Set(['movs', 'stos', 'lods', 'cmps', 'scas', 'ins', 'outs']);

export interface Norm {
  readonly mn: string;
  readonly ops: readonly string[];
}

function canonMnemonic(mn: string): string {
  if (mn === 'movabs') return 'mov';
  if (mn === 'sal') return 'shl';
  if (mn === 'iretd') return 'iret'; // objdump's name for CF without REX.W
  if (mn === 'movsxd') return 'movsx'; // objdump's name for 63 /r; nasm accepts both
  for (const stem of ['set', 'cmov', 'j']) {
    if (mn.startsWith(stem) && CONDITIONS[mn.slice(stem.length)] !== undefined && mn !== 'jmp') {
      return stem + CANON_CC[CONDITIONS[mn.slice(stem.length)]!];
    }
  }
  return mn;
}

function splitOps(s: string): string[] {
  const out: string[] = [];
  let depth = 0, cur = '';
  for (const ch of s) {
    if (ch === '[') depth++;
    if (ch === ']') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

const NUM = /^-?(0x[0-9a-f]+|\d+)$/;
function num(s: string): bigint {
  return s.startsWith('-') ? -BigInt(s.slice(1)) : BigInt(s);
}

function normMem(s: string, bits: 32 | 64): string {
  let t = s.replace(/\bptr\b/g, '').replace(/\b(rel|abs|nosplit|strict)\b/g, '').replace(/\s+/g, ' ').trim();
  t = t.replace(/(?:es|ds|ss|cs|fs|gs):\s*(0x[0-9a-f]+)/g, '[$1]').replace(/(?:es|ds|ss|cs|fs|gs):/g, '');
  // Sizes forced on displacements inside brackets, and hex/decimal numbers, to one spelling.
  t = t.replace(/\[\s*(byte|dword)\s+/g, '[').replace(/\s/g, '');
  t = t.replace(/(0x[0-9a-f]+|\b\d+\b)/g, (m) => BigInt.asIntN(bits, BigInt(m)).toString()).replace(/\+-/g, '-');
  t = t.replace(/\+0\]/g, ']');
  return t;
}

/** Normalise nasm-style or objdump Intel-style text to one comparable form. */
export function normalize(text: string, bits: 32 | 64): Norm {
  let t = text.toLowerCase().trim().replace(/\s+/g, ' ');
  if (t === 'o16 nop') t = 'xchg ax,ax';
  let pre = '';
  const pm = /^(lock|rep|repe|repz|repne|repnz) (.*)$/.exec(t);
  if (pm) {
    pre = { lock: 'lock', rep: 'rep', repe: 'repz', repz: 'repz', repne: 'repnz', repnz: 'repnz' }[pm[1]!]!;
    t = pm[2]!;
  }
  const sp = t.indexOf(' ');
  let mn = canonMnemonic(sp < 0 ? t : t.slice(0, sp));
  let ops = sp < 0 ? [] : splitOps(t.slice(sp + 1));
  if (STRING_OPS.has(mn)) {
    // objdump spells string instructions with explicit operands; size from the memory operand.
    const size = /\b(byte|word|dword|qword)\b/.exec(ops.join(' '))?.[1];
    mn += SIZE_SUFFIX[size!] ?? '';
    ops = [];
  }
  if (/^(movs|stos|lods|cmps|scas|ins|outs)[bwdq]$/.test(mn) && pre === 'rep' && /^(cmps|scas)/.test(mn)) pre = 'repz';
  ops = ops.map((o) => (o.includes('[') || /:\s*0x/.test(o) ? normMem(o, bits) : NUM.test(o) ? o : o.replace(/\s+/g, '')));
  if (mn === 'imul' && ops.length === 2 && NUM.test(ops[1]!)) ops = [ops[0]!, ops[0]!, ops[1]!];
  if (mn === 'xchg' || mn === 'test') ops = [...ops].sort();
  return { mn: (pre ? pre + ' ' : '') + mn, ops };
}

const REG_SIZE = (r: string): number | undefined => {
  if (/^(r\d+b|[abcd]l|[abcd]h|spl|bpl|sil|dil)$/.test(r)) return 8;
  if (/^(r\d+w|[abcd]x|sp|bp|si|di)$/.test(r)) return 16;
  if (/^(r\d+d|e[abcd]x|esp|ebp|esi|edi)$/.test(r)) return 32;
  if (/^(r\d+|r[abcd]x|rsp|rbp|rsi|rdi)$/.test(r)) return 64;
  return undefined;
};

/** Compare two normalised instructions; immediates are equal modulo the operand width. */
export function sameInstruction(ours: string, theirs: string, bits: 32 | 64): string | undefined {
  const a = normalize(ours, bits), b = normalize(theirs, bits);
  // In 32-bit mode 90 is both xchg eax,eax and nop (SDM NOP); objdump says nop.
  if (bits === 32 && b.mn === 'nop' && a.mn === 'xchg' && a.ops.join() === 'eax,eax') return undefined;
  if (a.mn !== b.mn || a.ops.length !== b.ops.length) return `mnemonic/arity: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
  const first = a.ops[0] ?? '';
  const sizeWord = /\b(byte|word|dword|qword)\b/.exec(first)?.[1];
  const w = REG_SIZE(first) ?? (sizeWord ? { byte: 8, word: 16, dword: 32, qword: 64 }[sizeWord] : undefined) ?? bits;
  for (let i = 0; i < a.ops.length; i++) {
    const x = a.ops[i]!, y = b.ops[i]!;
    if (NUM.test(x) && NUM.test(y)) {
      const m = 1n << BigInt(/^(in|out|ret|int|shl|shr|sar|rol|ror|rcl|rcr|bt|bts|btr|btc)$/.test(a.mn) ? 64 : w);
      if (((num(x) - num(y)) % m + m) % m !== 0n) return `operand ${i + 1}: ${x} vs ${y}`;
    } else if (x !== y) return `operand ${i + 1}: ${x} vs ${y}`;
  }
  return undefined;
}

// iced-x86 (a real decoder, structured): optional because it is not in package.json; tests skip with a reason.
/* eslint-disable @typescript-eslint/no-explicit-any */
import { createRequire } from 'node:module';
let iced: any;
export let icedMissing = '';
try {
  iced = createRequire(import.meta.url)('iced-x86');
} catch (e) {
  icedMissing = `iced-x86 is not installed (${(e as Error).message.split('\n')[0]})`;
}
export const hasIced = iced !== undefined;

export type IcedOp =
  | { kind: 'reg'; name: string }
  | { kind: 'mem'; base: string; index: string; scale: number; disp: bigint; size: number }
  | { kind: 'imm'; value: bigint }
  | { kind: 'other'; what: string };

export interface IcedInsn {
  readonly length: number;
  readonly mnemonic: string;
  readonly prefix: string;
  readonly ops: readonly IcedOp[];
}

/** Decode all instructions; every iced object is freed before returning. */
export function icedDecode(bytes: Uint8Array, bits: 32 | 64, ip = 0n): IcedInsn[] {
  const { Decoder, DecoderOptions, Mnemonic, OpKind, Register, MemorySizeExt } = iced;
  const decoder = new Decoder(bits, bytes, DecoderOptions.None);
  decoder.ip = ip;
  const out: IcedInsn[] = [];
  try {
    while (decoder.canDecode) {
      const ins = decoder.decode();
      try {
        const ops: IcedOp[] = [];
        for (let i = 0; i < ins.opCount; i++) {
          const k = ins.opKind(i);
          const kname = String(OpKind[k]);
          if (k === OpKind.Register) ops.push({ kind: 'reg', name: String(Register[ins.opRegister(i)]).toLowerCase() });
          else if (k === OpKind.Memory) {
            ops.push({
              kind: 'mem', base: String(Register[ins.memoryBase]).toLowerCase(), index: String(Register[ins.memoryIndex]).toLowerCase(),
              scale: ins.memoryIndexScale, disp: BigInt(ins.memoryDisplacement), size: MemorySizeExt.size(ins.memorySize),
            });
          } else if (kname.startsWith('Immediate')) ops.push({ kind: 'imm', value: BigInt(ins.immediate(i)) });
          else ops.push({ kind: 'other', what: kname });
        }
        const prefix = ins.hasLockPrefix ? 'lock' : ins.hasRepePrefix ? 'repe' : ins.hasRepnePrefix ? 'repne' : '';
        out.push({ length: ins.length, mnemonic: String(Mnemonic[ins.mnemonic]).toLowerCase(), prefix, ops });
      } finally {
        ins.free();
      }
    }
  } finally {
    decoder.free();
  }
  return out;
}
