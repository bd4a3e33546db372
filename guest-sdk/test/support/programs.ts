// Fixture programs for the emitter tests, written once as NASM source; bytes and offsets come from nasm.
import type { Image } from '../../src/image.js';
import { imageFrom, nasmFlat, type FixtureSpec, type NasmFlat } from './nasm-fixture.js';

export const ORIGIN = 0x1000n;

const SRC64 = `
add2:                       ; uint64_t add2(uint64_t a, uint64_t b)  (System V)
  lea rax, [rdi+rsi]
  ret
.end:
hc_kick:                    ; KVM_HC_KICK_CPU style call with a 3-byte patch site
  push rbx
  mov eax, 5
  mov ebx, edi
  mov ecx, esi
.site:
  vmcall
  pop rbx
  ret
.end:
get_msg:                    ; RIP-relative reference into .rodata
  lea rax, [rel msg]
.r1:
  ret
.end:
bump:                       ; local helper: absolute and RIP-relative data references, a short branch
  mov rdx, [abs counter]
.r2:
  mov ecx, msg
.r3:
  mov rax, [rel counter]
.r4:
  test rax, rax
  jz .skip
  add rax, 1
.skip:
  mov [rel counter], rax
.r5:
  ret
.end:
section .rodata
msg: db "pvkit", 0
.end:
section .data
counter: dq 41
.end:
table: dq add2
.r6:
  dd msg
.r7:
.end:
`;

const SPEC64: FixtureSpec = {
  symbols: {
    add2: { kind: 'func', global: true },
    hc_kick: { kind: 'func', global: true },
    get_msg: { kind: 'func', global: true },
    bump: { kind: 'func', global: false },
    msg: { kind: 'object', global: false },
    counter: { kind: 'object', global: true },
    table: { kind: 'object', global: true },
  },
  relocs: [
    { at: 'get_msg.r1', delta: -4, kind: 'pc32', symbol: 'msg', addend: -4n },
    { at: 'bump.r2', delta: -4, kind: 'abs32', symbol: 'counter', addend: 0n },
    { at: 'bump.r3', delta: -4, kind: 'abs32', symbol: 'msg', addend: 0n },
    { at: 'bump.r4', delta: -4, kind: 'pc32', symbol: 'counter', addend: -4n },
    { at: 'bump.r5', delta: -4, kind: 'pc32', symbol: 'counter', addend: -4n },
    { at: 'table', delta: 0, kind: 'abs64', symbol: 'add2', addend: 0n },
    { at: 'table.r6', delta: 0, kind: 'abs32', symbol: 'msg', addend: 0n },
  ],
  patches: [{ at: 'hc_kick.site', insn: 'vmcall', symbol: 'hc_kick' }],
};

const SRC32 = `
add2:                       ; uint32_t add2(uint32_t a, uint32_t b)  (cdecl)
  mov eax, [esp+4]
  add eax, [esp+8]
  ret
.end:
hc_kick:
  push ebx
  mov eax, 5
  mov ebx, [esp+8]
  mov ecx, [esp+12]
.site:
  vmmcall
  pop ebx
  ret
.end:
get_msg:
  mov eax, msg
.r1:
  ret
.end:
bump:
  mov eax, [counter]
.r2:
  test eax, eax
  jz .skip
  inc eax
.skip:
  mov [counter], eax
.r3:
  call add2
.r4:
  ret
.end:
section .rodata
msg: db "pvkit", 0
.end:
section .data
counter: dd 41
.end:
table: dd add2
.r5:
.end:
`;

const SPEC32: FixtureSpec = {
  symbols: SPEC64.symbols,
  relocs: [
    { at: 'get_msg.r1', delta: -4, kind: 'abs32', symbol: 'msg', addend: 0n },
    { at: 'bump.r2', delta: -4, kind: 'abs32', symbol: 'counter', addend: 0n },
    { at: 'bump.r3', delta: -4, kind: 'abs32', symbol: 'counter', addend: 0n },
    { at: 'bump.r4', delta: -4, kind: 'pc32', symbol: 'add2', addend: -4n },
    { at: 'table', delta: 0, kind: 'abs32', symbol: 'add2', addend: 0n },
  ],
  patches: [{ at: 'hc_kick.site', insn: 'vmmcall', symbol: 'hc_kick' }],
};

export interface Program { readonly img: Image; readonly nasm: NasmFlat; readonly src: string }

export function program(bits: 64 | 32): Program {
  const src = bits === 64 ? SRC64 : SRC32;
  const f = nasmFlat(bits, ORIGIN, src);
  const img = imageFrom(bits, ORIGIN, f, bits === 64 ? SPEC64 : SPEC32, { abi: 'kvm', abiVersion: 'test', strategy: 'host-patch' });
  return { img, nasm: f, src };
}

/** A program that calls a symbol it does not define (a flat binary cannot hold it; ELF can). */
export function externalCaller(bits: 64 | 32): Image {
  const src = bits === 64
    ? `call_ext:\n  mov edi, 40\n  mov esi, 2\n  call $+5\n.r1:\n  add rax, 1\n  ret\n.end:\n`
    : `call_ext:\n  push dword 2\n  push dword 40\n  call $+5\n.r1:\n  add esp, 8\n  inc eax\n  ret\n.end:\n`;
  const f = nasmFlat(bits, 0n, src);
  return imageFrom(bits, 0n, f, {
    symbols: { call_ext: { kind: 'func', global: true } },
    relocs: [{ at: 'call_ext.r1', delta: -4, kind: 'pc32', symbol: 'ext_add2', addend: -4n }],
  });
}

/** The same fixture as an ELF-format NASM source (globals declared), for comparing objects with nasm's. */
export function elfSource(bits: 64 | 32): string {
  const { src } = program(bits);
  const globals = Object.entries((bits === 64 ? SPEC64 : SPEC32).symbols).filter(([, d]) => d.global).map(([n]) => n);
  return [`bits ${bits}`, `global ${globals.join(', ')}`, 'section .text align=16', 'section .rodata align=8', 'section .data align=16', 'section .text', src].join('\n');
}
