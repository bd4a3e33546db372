// Op generators for memory and control flow: string instructions, branches and the stack (see ops.ts for the
// arithmetic ones and the OpGen contract).
import { ARITH, SCRATCH_BASE } from './layout.js';
import { type Width, regName, toSigned } from './context.js';
import type { OpGen } from './ops.js';
import { CC_NAMES, CC_READS } from './undefined.js';

/**
 * String instructions (SDM Vol.2 MOVS/STOS/LODS/CMPS/SCAS and REP/REPE/REPNE) with DF 0 or 1, counts 0..15 and
 * rsi/rdi in the middle of the scratch buffer, so that up to 15 8-byte elements in either direction stay inside it.
 */
export function stringOp(): OpGen {
  return {
    group: 'string',
    setsFlags: true,
    gen(c) {
      const kind = c.rng.pick(['movs', 'stos', 'lods', 'cmps', 'scas'] as const);
      const w = c.rng.pick(c.widths);
      const suffix = { 8: 'b', 16: 'w', 32: 'd', 64: 'q' }[w];
      const compares = kind === 'cmps' || kind === 'scas';
      const prefix = c.rng.pick(compares ? ['', 'repe ', 'repne '] : ['', 'rep ']);
      const count = c.rng.int(16);
      const down = c.rng.chance(0.5);
      const si = 120 + c.rng.int(17);
      const di = 120 + c.rng.int(17);
      // 64-bit mode with a 0x67 prefix: esi/edi/ecx are used, whatever bits 63..32 of the registers hold
      const addr32 = c.bits === 64 && c.rng.chance(0.25);
      const junk = (): bigint => (addr32 && !c.chain ? c.rng.value(64) & ~0xffffffffn : 0n);
      c.reserve(0, 1, 6, 7);
      c.emit(down ? 'std' : 'cld');
      if (c.chain) {
        const base = c.mem(8).base; // a pinned register holding SCRATCH_BASE
        const b = regName(base, c.bits === 64 ? 64 : 32);
        c.emit(`lea ${c.bits === 64 ? 'rsi' : 'esi'}, [${b}+${si}]`, `lea ${c.bits === 64 ? 'rdi' : 'edi'}, [${b}+${di}]`, `mov ecx, ${count}`);
      } else {
        c.regs[6] = junk() | (SCRATCH_BASE + BigInt(si));
        c.regs[7] = junk() | (SCRATCH_BASE + BigInt(di));
        c.regs[1] = junk() | BigInt(count);
        if (compares && c.rng.chance(0.5)) {
          // equal data half of the time, so repe runs on and repne stops at once
          const bytes = (w / 8) * 16;
          const d0 = down ? di - bytes + w / 8 : di;
          const s0 = down ? si - bytes + w / 8 : si;
          for (let i = 0; i < bytes; i++) {
            c.scratch[d0 + i] = kind === 'cmps' ? c.scratch[s0 + i]! : Number((c.regs[0]! >> BigInt(8 * (i % (w / 8)))) & 0xffn);
          }
        }
      }
      c.emit(`${addr32 ? 'addr32 ' : ''}${prefix}${kind}${suffix}`);
      if (compares && (prefix === '' || count > 0)) c.flagsOp(ARITH);
      return true;
    },
  };
}

/**
 * Branches whose outcome shows in a register: jcc / jrcxz over a `not`, and loop / loope / loopne around an `add`
 * (SDM Vol.2 Jcc, JrCXZ, LOOP/LOOPcc). Exercises condition evaluation on the flags the case carries.
 */
export function branch(): OpGen {
  return {
    group: 'branch',
    setsFlags: true,
    gen(c) {
      const form = c.rng.int(3);
      const w: Width = c.bits === 64 ? 64 : 32;
      if (form === 0) {
        const cc = c.rng.int(16);
        if (!c.canRead(CC_READS[cc]!)) return false;
        c.emit(`j${CC_NAMES[cc]} 1f`, `not ${c.reg(w).text}`, '1:');
        return true;
      }
      c.reserve(1);
      if (form === 1) {
        const cx = c.bits === 64 ? 'jrcxz' : 'jecxz';
        if (!c.chain && c.rng.chance(0.5)) c.regs[1] = 0n;
        c.emit(`${cx} 1f`, `not ${c.reg(w, [1]).text}`, '1:');
        return true;
      }
      const n = 1 + c.rng.int(20);
      if (c.chain) c.emit(`mov ecx, ${n}`);
      else c.regs[1] = BigInt(n);
      const mn = c.rng.pick(['loop', 'loope', 'loopne']);
      const acc = c.reg(c.rng.pick(c.widths), [1]);
      // small steps so that ZF=1 (loope goes on) happens: with 0 the sum never changes
      c.emit('1:', `add ${acc.text}, ${c.rng.pick([0, 1, -1, 3, 0x40])}`, `${mn} 1b`);
      c.flagsOp(ARITH);
      return true;
    },
  };
}

/**
 * Stack instructions with RSP in the scratch buffer (single-op cases only): push/pop of registers, immediates and
 * memory (16-bit and native width), call to the next instruction (pushes CODE_BASE-relative return address, which
 * is the same on both sides), leave. No flags.
 */
export function stack(): OpGen {
  return {
    group: 'stack',
    setsFlags: false,
    gen(c) {
      if (c.chain) return false;
      const nat: Width = c.bits === 64 ? 64 : 32;
      c.reserve(4, 5);
      c.regs[4] = SCRATCH_BASE + BigInt(112 + c.rng.int(16));
      c.regs[5] = SCRATCH_BASE + BigInt(160 + c.rng.int(16));
      const m = c.mem(nat); // one pinned base for every memory operand of this case
      const baseName = regName(m.base, nat);
      const memText = (w: Width): string => `${w === 16 ? 'word' : nat === 64 ? 'qword' : 'dword'} ptr [${baseName}+${c.rng.int(240)}]`;
      const steps = 1 + c.rng.int(4);
      if (c.rng.chance(0.2)) c.emit('leave'); // rsp := rbp; pop rbp (only first: a pop may change rbp)
      for (let i = 0; i < steps; i++) {
        const w: Width = c.rng.chance(0.2) ? 16 : nat;
        switch (c.rng.int(6)) {
          case 0: c.emit(`push ${c.reg(w).text}`); break; // may be rsp itself: pushes the old value
          case 1: c.emit(`pop ${c.reg(w, [4, 5]).text}`); break;
          case 2: c.emit(`push ${toSigned(c.rng.value(c.rng.chance(0.5) ? 8 : 32), 32)}`); break;
          case 3: c.emit(`push ${memText(w)}`); break;
          case 4: c.emit(`pop ${memText(w)}`); break;
          default: c.emit('call 2f', '2:', `pop ${c.reg(nat, [4, 5]).text}`); break;
        }
      }
      return true;
    },
  };
}
