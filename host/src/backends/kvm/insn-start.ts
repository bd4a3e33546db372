// KVM completes OUT and MMIO stores before exiting to userspace (its RIP is already past them; measured on
// this kernel, see kvm-backend.test.ts), while the emulator's Exit.rip names the instruction itself. Recover
// the start by decoding backwards with iced-x86: the candidate must end exactly at RIP and match the exit
// (OUT to that port; a memory operand whose address is the exit's GPA). Assumes flat segments (base 0) and an
// identity-mapped code page, which is what this backend sets up.
import { Decoder, DecoderOptions, Mnemonic, OpKind, Register } from 'iced-x86';

const MAX_INSN = 15; // SDM Vol. 2A 2.3.11: an instruction is at most 15 bytes

export type RegFile = (r: Register) => bigint | undefined;

interface Candidate {
  start: bigint;
  ok: boolean;
}

function decodeBack(
  code: Uint8Array, rip: bigint, bits: 32 | 64, test: (i: import('iced-x86').Instruction, start: bigint) => boolean,
): bigint | undefined {
  const found: Candidate[] = [];
  for (let len = Math.min(MAX_INSN, code.length); len >= 1; len--) {
    const bytes = code.subarray(code.length - len);
    const d = new Decoder(bits, bytes, DecoderOptions.None);
    const start = rip - BigInt(len);
    d.ip = start;
    const ins = d.decode();
    if (!ins.isInvalid && ins.length === len) found.push({ start, ok: test(ins, start) });
    ins.free();
    d.free();
  }
  return found.find((c) => c.ok)?.start;
}

/** Start of the OUT/OUTS that ends at `rip` and wrote `port`; `code` = the bytes just before rip. */
export function outInsnStart(code: Uint8Array, rip: bigint, bits: 32 | 64, port: number, rdx: bigint): bigint | undefined {
  return decodeBack(code, rip, bits, (i) => {
    const m = i.mnemonic;
    if (m === Mnemonic.Outsb || m === Mnemonic.Outsw || m === Mnemonic.Outsd) return Number(rdx & 0xffffn) === port;
    if (m !== Mnemonic.Out) return false;
    return i.op0Kind === OpKind.Immediate8 ? i.immediate8 === port : Number(rdx & 0xffffn) === port;
  });
}

/** Start of the store that ends at `rip` and wrote `gpa` (effective address checked with the current GPRs). */
export function storeInsnStart(code: Uint8Array, rip: bigint, bits: 32 | 64, gpa: bigint, reg: RegFile): bigint | undefined {
  const mask = bits === 64 ? (1n << 64n) - 1n : 0xffffffffn;
  return decodeBack(code, rip, bits, (i) => {
    let mem = false;
    for (let k = 0; k < i.opCount; k++) if (i.opKind(k) === OpKind.Memory) mem = true;
    if (!mem) return false;
    if (i.memoryBase === Register.RIP || i.memoryBase === Register.EIP) return (i.memoryDisplacement & mask) === gpa;
    const base = i.memoryBase === Register.None ? 0n : reg(i.memoryBase);
    const index = i.memoryIndex === Register.None ? 0n : reg(i.memoryIndex);
    if (base === undefined || index === undefined) return false;
    return ((base + index * BigInt(i.memoryIndexScale) + i.memoryDisplacement) & mask) === gpa;
  });
}

/** iced Register -> the GPR index 0..15 (x86 encoding order) for 64- and 32-bit registers. */
export function gprIndex(r: Register): number | undefined {
  if (r >= Register.RAX && r <= Register.RAX + 15) return r - Register.RAX;
  if (r >= Register.EAX && r <= Register.EAX + 15) return r - Register.EAX;
  return undefined;
}

/** Legacy prefixes (SDM Vol. 2A 2.1.1) and, in 64-bit mode, REX (40-4F). */
export function maybePrefix(b: number | undefined, bits: 32 | 64): boolean {
  if (b === undefined) return false;
  if (bits === 64 && (b & 0xf0) === 0x40) return true;
  return [0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3].includes(b);
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Little-endian unsigned value of `size` (<= 4) bytes at `at`. */
export function readLe(b: Uint8Array, at: number, size: number): number {
  let x = 0;
  for (let i = size - 1; i >= 0; i--) x = x * 256 + b[at + i]!;
  return x;
}
