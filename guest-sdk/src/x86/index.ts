export { Asm, type BranchOpts } from './asm.js';
export { type AsmOptions, type SymbolKind } from './core.js';
export { AsmError } from './errors.js';
export { encode, type Bits, type Encoded, type Fixup, type Prefix } from './encode.js';
export { CONDITIONS, FORMS, type Cond, type Form } from './forms.js';
export { addr, byte, dword, mem, qword, word, type Imm, type LabelRef, type Mem, type MemOpts, type Operand } from './operands.js';
export * from './registers.js';
