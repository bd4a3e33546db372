// Linear decode of an image section with iced-x86, split at every label so no instruction straddles a
// symbol or branch target. Produces plain data (iced objects are freed at once).
import { Code, Decoder, DecoderOptions, FlowControl, Mnemonic, OpKind, Register } from 'iced-x86';
import type { Image, Relocation, SectionName } from '../../image.js';

export interface Insn {
  readonly offset: number;
  readonly length: number;
  /** iced Code name, e.g. `Add_rm32_imm8`; `undefined` when the bytes do not decode (emitted as data). */
  readonly code?: string;
  readonly mnemonic?: string;
  /** Section offset of a direct near branch/call target, when the instruction is one. */
  readonly branchTarget?: number;
  /** The branch displacement is 8 bits (short) rather than 16/32. */
  readonly shortBranch?: boolean;
  readonly disp?: { offset: number; size: number };
  readonly imm?: { offset: number; size: number };
  readonly ripRelative?: boolean;
  /** Memory operand with a displacement but neither base nor index register (absolute address). */
  readonly absoluteMem?: boolean;
}

function sectionBytes(img: Image, name: SectionName): Uint8Array {
  return img.sections.find((s) => s.name === name)?.bytes ?? new Uint8Array(0);
}

/** Decode [from, to) of a section; stops an instruction at `to` (the rest is returned as undecodable bytes). */
function decodeRange(bits: 64 | 32, bytes: Uint8Array, from: number, to: number, out: Insn[]): void {
  const dec = new Decoder(bits, bytes.subarray(from, to), DecoderOptions.None);
  dec.ip = BigInt(from);
  try {
    while (dec.canDecode) {
      const pos = Number(dec.position) + from;
      const ins = dec.decode();
      try {
        if (ins.code === Code.INVALID || pos + ins.length > to) {
          out.push({ offset: pos, length: 1 });
          dec.position = pos - from + 1;
          dec.ip = BigInt(pos + 1);
          continue;
        }
        const co = dec.getConstantOffsets(ins);
        const flow = ins.flowControl;
        const direct = (flow === FlowControl.UnconditionalBranch || flow === FlowControl.ConditionalBranch || flow === FlowControl.Call)
          && (ins.op0Kind === OpKind.NearBranch16 || ins.op0Kind === OpKind.NearBranch32 || ins.op0Kind === OpKind.NearBranch64);
        let hasMem = false;
        for (let k = 0; k < ins.opCount; k++) if (ins.opKind(k) === OpKind.Memory) hasMem = true;
        out.push({
          offset: pos,
          length: ins.length,
          code: Code[ins.code],
          mnemonic: Mnemonic[ins.mnemonic],
          ...(direct ? { branchTarget: Number(ins.nearBranchTarget), shortBranch: co.immediateSize === 1 } : {}),
          ...(co.hasDisplacement ? { disp: { offset: co.displacementOffset, size: co.displacementSize } } : {}),
          ...(co.hasImmediate ? { imm: { offset: co.immediateOffset, size: co.immediateSize } } : {}),
          ...(ins.isIpRelMemoryOperand ? { ripRelative: true } : {}),
          ...(hasMem && !ins.isIpRelMemoryOperand && ins.memoryBase === Register.None && ins.memoryIndex === Register.None ? { absoluteMem: true } : {}),
        });
        co.free();
      } finally {
        ins.free();
      }
    }
  } finally {
    dec.free();
  }
}

export interface DecodedSection {
  readonly insns: readonly Insn[];
  /** Section offsets that get a label (symbols and branch targets at instruction starts). */
  readonly labels: ReadonlySet<number>;
}

/**
 * Decode .text split at symbols and at direct branch targets; repeats until the set of split points is stable
 * (a target found in one pass can move instruction boundaries in the next).
 */
export function decodeText(img: Image, section: SectionName = '.text'): DecodedSection {
  const bytes = sectionBytes(img, section);
  const cuts = new Set<number>(img.symbols.filter((s) => s.section === section).flatMap((s) => [s.offset, s.offset + s.size]));
  for (const p of img.patchSites) if (p.section === section) cuts.add(p.offset);
  let insns: Insn[] = [];
  for (let pass = 0; pass < 8; pass++) {
    insns = [];
    const pts = [...new Set([0, ...cuts, bytes.length])].filter((x) => x >= 0 && x <= bytes.length).sort((a, b) => a - b);
    for (let k = 0; k + 1 < pts.length; k++) decodeRange(img.bits, bytes, pts[k]!, pts[k + 1]!, insns);
    const before = cuts.size;
    for (const i of insns) if (i.branchTarget !== undefined && i.branchTarget >= 0 && i.branchTarget <= bytes.length) cuts.add(i.branchTarget);
    if (cuts.size === before) break;
  }
  const starts = new Set(insns.map((i) => i.offset));
  const labels = new Set<number>();
  for (const s of img.symbols) if (s.section === section) labels.add(s.offset);
  for (const i of insns) if (i.branchTarget !== undefined && (starts.has(i.branchTarget) || i.branchTarget === bytes.length)) labels.add(i.branchTarget);
  return { insns, labels };
}

/** The relocation fields inside one instruction, with which operand field each one is. */
export function fieldOf(i: Insn, r: Relocation): 'disp' | 'imm' | 'branch' | undefined {
  const at = r.offset - i.offset;
  const w = r.kind === 'abs64' ? 8 : 4;
  if (i.disp && i.disp.offset === at && i.disp.size === w) return 'disp';
  if (i.imm && i.imm.offset === at && i.imm.size === w) return i.branchTarget !== undefined ? 'branch' : 'imm';
  return undefined;
}
