// Stub sizes against Linux's inline kvm_hypercallN() (arch/x86/include/asm/kvm_para.h): there the compiler
// emits only the moves into RAX/RBX/RCX/RDX/RSI and the 3-byte VMCALL inside the caller. The same moves are
// assembled here with the Asm, so the difference is exactly what being an out-of-line C function costs:
// saving/restoring RBX (callee-saved, psABI Figure 3.4) and RET.

import { kvmAbi } from '@pvkit/shared-abi';
import type { Image } from '../image.js';
import { Asm } from '../x86/asm.js';
import { dword, mem } from '../x86/operands.js';
import { CALLEE_SAVED, type RegMove, parallelMove, reg } from './cabi.js';
import { generateStubs } from './generate.js';
import { conventionsFor } from './strategies.js';
import { planWrappers } from './wrappers.js';

export interface SizeRow {
  readonly symbol: string;
  readonly bits: 64 | 32;
  readonly args: number;
  /** Bytes of our stub (host-patch strategy). */
  readonly stub: number;
  /** Bytes of the Linux inline sequence: moves + mov eax, nr + vmcall. */
  readonly linux: number;
  readonly why: string;
}

function symSize(img: Image, name: string): number {
  const s = img.symbols.find((x) => x.name === name);
  if (!s) throw new Error(`internal: no symbol ${name}`);
  return s.size;
}

export function kvmSizeTable(): SizeRow[] {
  const rows: SizeRow[] = [];
  for (const bits of [64, 32] as const) {
    const g = generateStubs({ abi: kvmAbi, strategy: 'host-patch', bits });
    const convs = conventionsFor(kvmAbi, 'host-patch', bits);
    for (const hc of kvmAbi.hypercalls) {
      for (const p of planWrappers(kvmAbi, hc, convs)) {
        const a = new Asm({ bits });
        if (bits === 64) {
          // Arguments arrive in the SysV registers; Linux's register constraints cost the same moves.
          const moves: RegMove[] = p.params.map((q, i) => ({ dst: reg(p.roles[i] as string), src: reg(['rdi', 'rsi', 'rdx', 'rcx'][i]!), ctype: q.ctype }));
          parallelMove(a, moves, reg('r11'));
        } else {
          // i386 cdecl: the values sit in the caller's stack frame; one `mov r32, [esp+disp8]` each.
          p.params.forEach((_, i) => a.mov(reg(p.roles[i] as string), dword(mem(reg('esp'), { disp: 4 + 4 * i }))));
        }
        a.mov(reg('eax'), Number(p.number)).vmcall();
        const linux = a.finish().sections[0]!.bytes.length;
        const stub = symSize(g.image, p.symbol);
        const saved = CALLEE_SAVED[bits].filter((r) => p.roles.slice(0, p.hc.args.length).some((x) => x === r));
        const parts = [`ret 1`, ...(saved.length ? [`push/pop ${saved.join(',')} ${2 * saved.length}`] : [])];
        const explained = 1 + 2 * saved.length;
        rows.push({
          symbol: p.symbol, bits, args: p.params.length, stub, linux,
          why: stub - linux === explained ? parts.join(' + ') : `UNEXPLAINED: ${stub - linux} bytes vs ${parts.join(' + ')}`,
        });
      }
    }
  }
  return rows;
}

/** The markdown table SIZES.md carries. */
export function kvmSizeMarkdown(): string {
  const rows = kvmSizeTable();
  const L = ['| stub | bits | args | stub bytes | Linux inline bytes | extra | why |', '|---|---|---|---|---|---|---|'];
  for (const r of rows) L.push(`| ${r.symbol} | ${r.bits} | ${r.args} | ${r.stub} | ${r.linux} | ${r.stub - r.linux} | ${r.why} |`);
  return L.join('\n');
}
