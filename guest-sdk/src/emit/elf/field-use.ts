// Decides, from the decoded instruction around each relocation field, which x86-64 relocation type GNU as
// would use: a 32-bit absolute that the CPU sign-extends (disp32 of an absolute memory operand, imm32 of a
// 64-bit operation) is R_X86_64_32S, a zero-extended one R_X86_64_32; rel32 of call/jmp is a branch.
import type { Image, Relocation } from '../../image.js';
import { decodeText, fieldOf, type Insn } from '../asm/decode.js';
import type { FieldUse } from './object.js';

export function fieldUseFromCode(img: Image): (r: Relocation) => FieldUse {
  const text = img.relocations.some((r) => r.section === '.text') ? decodeText(img).insns : [];
  return (r) => {
    if (r.section !== '.text') return 'zeroExtended'; // `.long sym` in data, as gas emits it
    const i: Insn | undefined = text.find((x) => x.code && r.offset >= x.offset && r.offset < x.offset + x.length);
    if (!i) return 'zeroExtended';
    const f = fieldOf(i, r);
    if (f === 'branch') return 'branch';
    // SDM 2.2.1.3: in 64-bit mode a disp32 is sign-extended to 64 bits
    if (f === 'disp') return img.bits === 64 ? 'signExtended' : 'other';
    // imm32 of an operation on a 64-bit operand is sign-extended (SDM 2.2.1.5); iced names it *_rm64_imm32 etc.
    if (f === 'imm') return /64_imm32$|^Pushq_imm32$/.test(i.code ?? '') ? 'signExtended' : 'zeroExtended';
    return 'other';
  };
}
