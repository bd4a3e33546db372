// When can assembler text reproduce an instruction's exact bytes? nasm and GNU as pick one preferred
// encoding per text; an instruction encoded any other way is either steered with a syntax hint (nasm
// `strict`/`byte`/`dword`/`nosplit`, gas `{load}`/`{disp8}`/`{disp32}`) or emitted as bytes.
import { Code, Encoder, OpKind, Register, type Instruction } from 'iced-x86';

export type Verdict =
  | { readonly ok: true; readonly gasPrefix?: string; readonly nasmFallback?: string; readonly gasFallback?: string }
  | { readonly ok: false; readonly reason: string };

const ALU = /^(Add|Or|Adc|Sbb|And|Sub|Xor|Cmp|Mov)_r(8|16|32|64)_rm(8|16|32|64)$/;
const ACC = new Set<Register>([Register.AL, Register.AX, Register.EAX, Register.RAX]);

function codeName(c: Code): string {
  return Code[c] ?? '';
}

function immValue(ins: Instruction): bigint | undefined {
  for (let k = 0; k < ins.opCount; k++) {
    const kind = ins.opKind(k);
    if (kind === OpKind.Immediate8 || kind === OpKind.Immediate16 || kind === OpKind.Immediate32 || kind === OpKind.Immediate64
      || kind === OpKind.Immediate8to16 || kind === OpKind.Immediate8to32 || kind === OpKind.Immediate8to64 || kind === OpKind.Immediate32to64) {
      return ins.immediate(k);
    }
  }
  return undefined;
}

// SDM 2.1.1 legacy prefixes: groups 1-4
const LEGACY = new Set([0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65, 0x66, 0x67]);
const SEGMENT = new Set([0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65]);

function legacyPrefixes(b: Uint8Array): number[] {
  const out: number[] = [];
  for (const x of b) { if (!LEGACY.has(x)) break; out.push(x); }
  return out;
}

/** Same bytes except, possibly, the order of the legacy prefixes. */
function samePrefixSets(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  const pa = legacyPrefixes(a);
  const pb = legacyPrefixes(b);
  if (pa.length !== pb.length || [...pa].sort().join() !== [...pb].sort().join()) return false;
  return a.subarray(pa.length).every((x, k) => x === b[pb.length + k]);
}

function hasMemory(ins: Instruction): boolean {
  for (let k = 0; k < ins.opCount; k++) if (ins.opKind(k) === OpKind.Memory) return true;
  return false;
}

/** Value as the operand-size-wide two's complement fits a sign-extended imm8. */
function fitsI8(v: bigint, size: number): boolean {
  const m = 1n << BigInt(size);
  const s = BigInt.asIntN(size, v % m);
  return s >= -128n && s <= 127n;
}

/**
 * Decide for one decoded instruction (original bytes given) whether assembler text can reproduce it.
 * Shared by both syntaxes; gasPrefix carries the pseudo-prefix gas needs to pick the direction.
 */
export function judge(ins: Instruction, bytes: Uint8Array, bits: 64 | 32, hasFieldReloc: boolean, uselessPrefix: boolean): Verdict {
  const name = codeName(ins.code);
  // 0. a prefix with no effect (rep on add, cs: on a register operation) is not printed by iced, so text loses it
  if (uselessPrefix) return { ok: false, reason: 'prefix without effect' };
  // 1. iced re-encodes from the decoded form; anything it would encode differently (redundant prefixes,
  //    REX, a SIB byte that is not needed) is not something an assembler writes from text.
  const enc = new Encoder(bits);
  try {
    const n = enc.encode(ins, ins.ip);
    const again = enc.takeBuffer();
    if (n !== bytes.length || !samePrefixSets(again, bytes)) return { ok: false, reason: 'non-canonical encoding (prefixes, REX or ModRM/SIB form)' };
  } catch {
    return { ok: false, reason: 'iced cannot re-encode it' };
  } finally {
    enc.free();
  }
  // 2. aliases that share text with a preferred opcode: 82 /r (32-bit), F6/F7 /1 test, 66 90, 16-bit addressing
  if (/_82$|_F6r1$|_F7r1$/.test(name)) return { ok: false, reason: 'alias opcode' };
  if (/^Mov[sz]x_r(16|32|64)_rm(16|32|64)$/.test(name) && /_r(\d+)_rm\1$/.test(name)) return { ok: false, reason: 'movzx/movsx to the same size: assemblers refuse the text' };
  if (/^Movsxd_r(16|32)_rm(16|32)$/.test(name)) return { ok: false, reason: 'movsxd without REX.W: assemblers refuse the text' };
  if (/^(Retnw|Leavew)/.test(name)) return { ok: false, reason: '16-bit operand size is not visible in the text' };
  if (name === 'Bswap_r16') return { ok: false, reason: 'bswap of a 16-bit register is undefined; assemblers refuse it' };
  if (name === 'Nopw' || name === 'Nopq') return { ok: false, reason: 'prefixed one-byte nop' };
  if ((ins.memoryBase >= Register.BX && ins.memoryBase <= Register.DI) || (hasMemory(ins) && ins.memoryDisplSize === 2)) return { ok: false, reason: '16-bit addressing' };
  if (/^Sal_/.test(name)) return { ok: false, reason: 'SAL /6 is an alias of SHL /4; assemblers write /4' };
  if (hasMemory(ins) && ins.memoryIndex === Register.None && ins.memoryIndexScale !== 1) return { ok: false, reason: 'SIB byte with a scale but no index' };
  // 3. moffs forms: assemblers pick A0-A3 in 32-bit code and the ModRM/SIB form in 64-bit code
  if (/_moffs/.test(name) && bits === 64) return { ok: false, reason: '64-bit moffs form' };
  if (bits === 32 && /^Mov_(r|rm)(8|16|32)_(rm|r)(8|16|32)$/.test(name) && ins.memoryBase === Register.None && ins.memoryIndex === Register.None) {
    const regOp = ins.op0Kind === OpKind.Register ? ins.op0Register : ins.op1Register;
    if (ACC.has(regOp) && (ins.op0Kind === OpKind.Memory || ins.op1Kind === OpKind.Memory)) return { ok: false, reason: 'assemblers use the moffs form' };
  }
  // 4. immediate size: the sign-extended imm8 form is preferred when the value fits, then the accumulator form
  const imm = immValue(ins);
  if (imm !== undefined && !hasFieldReloc) {
    const m = /^(.*)_imm(16|32)$/.exec(name);
    const sizeM = /(8|16|32|64)_imm(16|32)$/.exec(name);
    if (m && sizeM && Code[`${m[1]}_imm8` as keyof typeof Code] !== undefined && fitsI8(imm, Number(sizeM[1]))) {
      return { ok: false, reason: 'a long immediate where assemblers use imm8' };
    }
    const acc = /^(Add|Or|Adc|Sbb|And|Sub|Xor|Cmp|Test)_rm(8|16|32|64)_imm(8|16|32)$/.exec(name);
    if (acc && ins.op0Kind === OpKind.Register && ACC.has(ins.op0Register) && !(acc[2] !== '8' && acc[3] === '8')) {
      return { ok: false, reason: 'ModRM form where assemblers use the accumulator form' };
    }
    if (/^Mov_rm(8|16|32)_imm(8|16|32)$/.test(name) && ins.op0Kind === OpKind.Register) return { ok: false, reason: 'C6/C7 form where assemblers use B0/B8+r' };
    if (/^(Rol|Ror|Rcl|Rcr|Shl|Sal|Shr|Sar)_rm(8|16|32|64)_imm8$/.test(name) && imm === 1n) return { ok: false, reason: 'shift by imm8 1 where assemblers use the D0/D1 form' };
  }
  if (/^(Add|Or|Adc|Sbb|And|Sub|Xor|Cmp)_(AL|AX|EAX|RAX)_imm(16|32)$/.test(name) && imm !== undefined && !hasFieldReloc && fitsI8(imm, ins.op0Register === Register.AX ? 16 : ins.op0Register === Register.EAX ? 32 : 64)) {
    return { ok: false, reason: 'accumulator imm32 form where assemblers use imm8' };
  }
  // 5b. one-byte register forms assemblers prefer: inc/dec r (40+r/48+r, 32-bit only), push/pop r (50+r/58+r)
  if (bits === 32 && /^(Inc|Dec)_rm(16|32)$/.test(name) && ins.op0Kind === OpKind.Register) return { ok: false, reason: 'FF /0 or /1 where 32-bit assemblers use 40+r/48+r' };
  if (/^(Push|Pop)_rm(16|32|64)$/.test(name) && ins.op0Kind === OpKind.Register) return { ok: false, reason: 'FF /6 or 8F /0 where assemblers use 50+r/58+r' };
  // 5. xchg with the accumulator: assemblers use 90+r
  if (/^Xchg_rm(16|32|64)_r(16|32|64)$/.test(name) && ins.op0Kind === OpKind.Register && (ACC.has(ins.op0Register) || ACC.has(ins.op1Register))) {
    return { ok: false, reason: 'xchg with the accumulator: assemblers use 90+r' };
  }
  // 6. several legacy prefixes: each assembler writes them in its own fixed order
  const pre = legacyPrefixes(bytes);
  let nasmFallback: string | undefined;
  let gasFallback: string | undefined;
  if (pre.length >= 2) {
    if (pre.some((b) => SEGMENT.has(b))) return { ok: false, reason: 'several prefixes including a segment override' };
    const order = (rank: (b: number) => number) => pre.every((b, k) => k === 0 || rank(pre[k - 1]!) < rank(b));
    // observed: nasm 2.16 writes lock/rep, then 66, then 67; GNU as 2.40 writes 67, then 66, then lock/rep
    if (!order((b) => (b === 0x66 ? 1 : b === 0x67 ? 2 : 0))) nasmFallback = 'prefix order nasm does not write';
    if (!order((b) => (b === 0x67 ? 0 : b === 0x66 ? 1 : 2))) gasFallback = 'prefix order GNU as does not write';
  }
  // 7. register-register with the "load" direction opcode: nasm cannot ask for it, gas can with {load}
  if (ALU.test(name) && ins.op1Kind === OpKind.Register) {
    return { ok: true, gasPrefix: '{load}', nasmFallback: nasmFallback ?? 'register-register in the load direction (nasm has no {load})', ...(gasFallback ? { gasFallback } : {}) };
  }
  return { ok: true, ...(nasmFallback ? { nasmFallback } : {}), ...(gasFallback ? { gasFallback } : {}) };
}
