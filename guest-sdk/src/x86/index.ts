// x86 assembler for 64-bit long mode and 32-bit protected mode. Output: an Image (../image.ts).
//
//   const a = new Asm({ bits: 64, origin: 0x1000n });
//   a.global('entry', 'func').label('entry');
//   a.mov(rax, 0x1234_5678_9abc_def0n).lea(rsi, mem.rip('msg'));
//   a.cmp(eax, 3).jcc('ne', 'entry').vmcall({ patchSite: true }).ret();
//   a.section('.rodata').label('msg').db('hello\0');
//   const img = a.finish();   // sections, symbols, relocations, patch sites
//   a.toNasm();               // source that `nasm -f bin` assembles to the same bytes
//
// forms.ts is the instruction table; encode.ts matches operands against it and keeps the shortest
// encoding (nasm's choice); core.ts holds sections, labels, relaxation and the Image; nasm.ts prints.
export { Asm, type BranchOpts } from './asm.js';
export { type AsmOptions, type SymbolKind } from './core.js';
export { AsmError } from './errors.js';
export { encode, type Bits, type Encoded, type Fixup, type Prefix } from './encode.js';
export { CONDITIONS, FORMS, type Cond, type Form } from './forms.js';
export { addr, byte, dword, mem, qword, word, type Imm, type LabelRef, type Mem, type MemOpts, type Operand } from './operands.js';
export * from './registers.js';
