// Templates for control transfer, the stack and port I/O: Jcc/JMP/CALL rel, RET, indirect JMP/CALL, PUSH/POP
// of a register, IN/OUT. Same results as the closures in ops-flow.ts and ops-string.ts.
import type { Decoded } from '../decode.js';
import { addRsp, jumpTo, peek, push } from '../ops-flow.js';
import { ioAllowed } from '../ops-string.js';
import { condUses } from './flags.js';
import { immSigned } from '../operands.js';
import { setByteReg, writeReg, type Plan } from './plan.js';

const TWO32 = 4294967296;
const CANON = 2 ** 47;

/** Branch target of a relative branch, or undefined when it is not a plain in-range address. */
function relTarget(d: Decoded, next: number, mode64: boolean): number | undefined {
  const t = next + immSigned(d);
  if (d.osz === 2) return undefined;
  if (mode64) return t >= 0 && t < CANON ? t : undefined;
  return ((t % TWO32) + TWO32) % TWO32;
}

/**
 * The plan of a control-transfer, stack or port instruction; undefined = run its closure; null = not one of
 * these (templates.ts goes on).
 */
export function planFlow(d: Decoded, next: number, mode64: boolean): Plan | undefined | null {
  const op = d.op;
  const osz = d.osz;
  const size = osz as 4 | 8;
  if ((op >= 0x70 && op <= 0x7f) || (op >= 0x180 && op <= 0x18f)) {
    const target = relTarget(d, next, mode64);
    if (target === undefined) return undefined;
    return { use: condUses(op & 15), def: 0, emit() {}, end: { kind: 'jcc', cc: op & 15, target } };
  }
  if (op === 0xe9 || op === 0xeb) {
    const target = relTarget(d, next, mode64);
    if (target === undefined) return undefined;
    return { use: 0, def: 0, emit() {}, end: { kind: 'jmp', target } };
  }
  if (op === 0xe8) {
    const target = relTarget(d, next, mode64);
    if (target === undefined || (mode64 && osz !== 8) || (!mode64 && osz !== 4)) return undefined;
    return {
      use: 0, def: 0, end: { kind: 'jmp', target },
      emit(g) {
        g.fallible();
        g.line(`${g.k(push)}(c, ${osz}, ${next % TWO32}, ${Math.floor(next / TWO32)});`);
      },
    };
  }
  if ((op === 0xc3 || op === 0xc2) && osz === (mode64 ? 8 : 4)) return retPlan(osz, op === 0xc2 ? d.imm : 0);
  if (op === 0xff && ((d.reg & 7) === 2 || (d.reg & 7) === 4) && !d.has66) return indirectPlan(d, next, mode64);
  if ((op >= 0xe4 && op <= 0xe7) || (op >= 0xec && op <= 0xef)) return inOutPlan(d);
  if (op >= 0x50 && op <= 0x57 && osz === (mode64 ? 8 : 4)) {
    const r = (op & 7) | ((d.rex & 1) << 3);
    return {
      use: 0, def: 0,
      emit(g) { g.fallible(); g.line(`${g.k(push)}(c, ${osz}, L[${r}], ${osz === 8 ? `H[${r}]` : '0'});`); },
    };
  }
  if (op >= 0x58 && op <= 0x5f && osz === (mode64 ? 8 : 4)) {
    const r = (op & 7) | ((d.rex & 1) << 3);
    return {
      use: 0, def: 0,
      emit(g) {
        g.fallible();
        g.line(`v = ${g.k(peek)}(c, ${osz}); vh = c.vh; ${g.k(addRsp)}(c, ${osz});`);
        writeReg(g, r, size, 'v', 'vh');
      },
    };
  }
  return null;
}

/**
 * RET / RET imm16 (ops-flow.ts ret): the return address is read, a non-canonical one faults before RSP moves
 * (jumpTo), then RSP += size + imm. Leaves the target in `t`.
 */
function retPlan(osz: 4 | 8, imm: number): Plan {
  return {
    use: 0, def: 0, end: { kind: 'ret' },
    emit(g) {
      g.fallible();
      g.line(`v = ${g.k(peek)}(c, ${osz}); vh = c.vh;`);
      if (osz === 8) g.line(`if (vh >>> 15 !== 0) ${g.k(jumpTo)}(c, v, vh, 8);`); // throws: non-canonical
      g.line(osz === 8 ? `t = vh * ${TWO32} + v;` : 't = v;');
      g.line(`${g.k(addRsp)}(c, ${osz + imm});`);
    },
  };
}

/**
 * CALL/JMP r/m (FF /2, FF /4; ops-flow.ts callInd/jmpInd): 64-bit targets in long mode, a non-canonical one
 * faults before anything is pushed (jumpTo). Leaves the target in `t`.
 */
function indirectPlan(d: Decoded, next: number, mode64: boolean): Plan {
  const call = (d.reg & 7) === 2;
  const size = mode64 ? 8 : 4;
  return {
    use: 0, def: 0, end: { kind: 'ind', call },
    emit(g) {
      g.fallible();
      if (d.mem) { g.ea(d); g.load('v', size, false); } else g.line(size === 8 ? `v = L[${d.rm}]; vh = H[${d.rm}];` : `v = L[${d.rm}];`);
      if (size === 8) {
        g.line(`if (vh >>> 15 !== 0) ${g.k(jumpTo)}(c, v, vh, 8);`); // throws: non-canonical
        g.line(`t = vh * ${TWO32} + v;`);
      } else g.line('t = v;');
      if (call) g.line(`${g.k(push)}(c, ${size}, ${next % TWO32}, ${Math.floor(next / TWO32)});`);
    },
  };
}

/**
 * IN/OUT with an imm8 or DX port (ops-string.ts inOut): CPL > IOPL faults (ioAllowed); the router answers, or
 * the access becomes an exit (OUT: trap-like, IN: waits for completeIoIn and re-executes).
 */
function inOutPlan(d: Decoded): Plan {
  const op = d.op;
  const size = (op & 1) === 0 ? 1 : d.osz === 2 ? 2 : 4;
  const port = op < 0xe8 ? String(d.imm & 0xff) : '(L[2] & 65535)';
  const isIn = (op & 2) === 0;
  return {
    use: 0, def: 0,
    emit(g) {
      g.fallible();
      g.line(`if (c.cpl > ((fl >>> 12) & 3)) ${g.k(ioAllowed)}(c, '${isIn ? 'IN' : 'OUT'}');`);
      if (!isIn) {
        g.line(`c.pioWrite(${port}, ${size}, ${size === 1 ? 'L[0] & 255' : size === 2 ? 'L[0] & 65535' : 'L[0]'});`);
        return;
      }
      g.line(`v = c.pioRead(${port}, ${size});`);
      if (size === 1) setByteReg(g, 0, 'v');
      else if (size === 2) g.line('L[0] = (L[0] & 0xffff0000) | v;');
      else g.line('L[0] = v; H[0] = 0;');
    },
  };
}
