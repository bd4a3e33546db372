// Flag code for compiled blocks: which status flags each ALU form writes, the JS expressions that compute
// them exactly as host/src/cpu/alu.ts does (SDM Vol. 1 3.4.3, Vol. 2 "Flags Affected"), and Jcc/CMOVcc/SETcc
// conditions (SDM Vol. 2 Table B-1) on the packed RFLAGS held in the local `fl`.
import { AF, CF, OF, PF, SF, STATUS, ZF } from '../alu.js';

export { STATUS };

/** ALU forms the templates compute inline. */
export type AluKind = 'add' | 'sub' | 'and' | 'or' | 'xor';

/**
 * `fl = ...` statement for the flags in `need` after `kind` at `size` (4 or 8), or '' when none is needed.
 * Expects locals a, b, r (low halves / 32-bit values), t (the unwrapped low sum/difference) and for size 8
 * ah, bh, rh, th (th = unwrapped high sum/difference).
 */
export function flagsStmt(kind: AluKind, size: 4 | 8, need: number): string {
  if (need === 0) return '';
  const terms: string[] = [];
  const arith = kind === 'add' || kind === 'sub';
  if (need & CF && arith) {
    const w = size === 8 ? 'th' : 't';
    terms.push(kind === 'add' ? `(${w} > 4294967295 ? 1 : 0)` : `(${w} < 0 ? 1 : 0)`);
  }
  if (need & PF) terms.push('PAR[r & 255]');
  if (need & AF && arith) terms.push('((a ^ b ^ r) & 16)');
  if (need & ZF) terms.push(size === 8 ? '((r | rh) === 0 ? 64 : 0)' : '(r === 0 ? 64 : 0)');
  if (need & SF) terms.push(size === 8 ? '((rh >>> 24) & 128)' : '((r >>> 24) & 128)');
  if (need & OF && arith) {
    const [x, y, z] = size === 8 ? ['ah', 'bh', 'rh'] : ['a', 'b', 'r'];
    terms.push(kind === 'add'
      ? `(((${x} ^ ${z}) & (${y} ^ ${z})) >>> 31 << 11)`
      : `(((${x} ^ ${y}) & (${x} ^ ${z})) >>> 31 << 11)`);
  }
  const keep = `fl & ${~need & 0xffffffff}`;
  return terms.length === 0 ? `fl = ${keep};` : `fl = (${keep}) | ${terms.join(' | ')};`;
}

/**
 * The result statement of `kind` on (a, b) at `size`: sets r (and rh, t, th). The flags come from flagsStmt.
 */
export function aluStmt(kind: AluKind, size: 4 | 8): string {
  if (size === 4) {
    switch (kind) {
      case 'add': return 't = a + b; r = t >>> 0;';
      case 'sub': return 't = a - b; r = t >>> 0;';
      case 'and': return 'r = (a & b) >>> 0;';
      case 'or': return 'r = (a | b) >>> 0;';
      default: return 'r = (a ^ b) >>> 0;';
    }
  }
  switch (kind) {
    case 'add': return 't = a + b; r = t >>> 0; th = ah + bh + (t > 4294967295 ? 1 : 0); rh = th >>> 0;';
    case 'sub': return 't = a - b; r = t >>> 0; th = ah - bh - (t < 0 ? 1 : 0); rh = th >>> 0;';
    case 'and': return 'r = (a & b) >>> 0; rh = (ah & bh) >>> 0;';
    case 'or': return 'r = (a | b) >>> 0; rh = (ah | bh) >>> 0;';
    default: return 'r = (a ^ b) >>> 0; rh = (ah ^ bh) >>> 0;';
  }
}

/** Flags each Jcc/CMOVcc/SETcc condition reads. */
export function condUses(cc: number): number {
  return [OF, CF, ZF, CF | ZF, SF, PF, SF | OF, ZF | SF | OF][cc >> 1]!;
}

/** JS boolean expression for condition cc on `fl`. */
export function condExpr(cc: number): string {
  let e: string;
  switch (cc >> 1) {
    case 0: e = '(fl & 2048) !== 0'; break;
    case 1: e = '(fl & 1) !== 0'; break;
    case 2: e = '(fl & 64) !== 0'; break;
    case 3: e = '(fl & 65) !== 0'; break;
    case 4: e = '(fl & 128) !== 0'; break;
    case 5: e = '(fl & 4) !== 0'; break;
    case 6: e = '(((fl >>> 7) ^ (fl >>> 11)) & 1) !== 0'; break;
    default: e = '((fl & 64) !== 0 || (((fl >>> 7) ^ (fl >>> 11)) & 1) !== 0)';
  }
  return (cc & 1) !== 0 ? `!(${e})` : `(${e})`;
}

/** INC/DEC write every status flag but CF. */
export const INC_DEC_DEFS = STATUS & ~CF;
