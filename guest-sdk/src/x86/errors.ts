// Errors raised while assembling: always name the instruction (or directive), its operands and why.

export class AsmError extends Error {
  /** Instruction or directive text, e.g. `mov qword [rax], 0x100000000`. */
  readonly where: string;
  constructor(where: string, why: string) {
    super(`${where}: ${why}`);
    this.name = 'AsmError';
    this.where = where;
  }
}
