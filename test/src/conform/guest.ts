// Guest programs for the suite. A stub program is the generated stub image plus a small driver (guest-sdk Asm)
// that calls each function per the C ABI (SysV x86-64 registers / i386 cdecl stack), stores each return value
// as a qword in a results table, and halts: the whole sequence runs inside the guest, so any backend can run it.
import { Asm, REGISTERS, generateStubs, mem, type Generated, type GenerateOptions, symbolAddress, toBinary } from '@pvkit/guest-sdk';
import type { Bits, GuestProgram } from './types.js';

/** Guest-physical layout shared by every case (identity-mapped RAM of RAM_BYTES). */
export const LAYOUT = {
  driver: 0x1000n,
  results: 0x8000n,
  image: 0x10000n,
  /** struct pvkit_detect and other output buffers. */
  buf: 0x30000n,
  out: 0x31000n,
  /** Hypercall pages (Xen, Hyper-V overlay, pvio). */
  page: 0x40000n,
  /** Hyper-V hypercall input and output pages (TLFS 4.5: 8-byte aligned, must not straddle a page). */
  hvIn: 0x50000n,
  hvOut: 0x51000n,
  stack: 0x80000n,
} as const;
export const RAM_BYTES = 4 * 1024 * 1024;
/** A write to this port asks the backend to migrate the VM to the other vendor (MachineSpec.migrate). */
export const MIGRATE_PORT = 0x6f0;
/** The pseudo-call that emits that write in a stub program's driver. */
export const MIGRATE = '@migrate';

/** An argument: a number, or the address of a symbol in the stub image. */
export type Arg = bigint | { readonly sym: string };

export interface Call {
  readonly sym: string;
  readonly args?: readonly Arg[];
}

const reg = (n: string) => {
  const r = REGISTERS.get(n);
  if (!r) throw new Error(`conform guest: no register '${n}'`);
  return r;
};

/** Parameter widths of a generated symbol from its C prototype: true where a 64-bit type takes two i386 slots. */
function params(g: Generated, sym: string): boolean[] {
  const proto = g.signatures[sym];
  if (!proto) throw new Error(`conform guest: the stub image has no function '${sym}' (have: ${Object.keys(g.signatures).join(', ')})`);
  const inner = proto.slice(proto.indexOf('(') + 1, proto.lastIndexOf(')')).trim();
  if (inner === 'void') return [];
  return inner.split(',').map((p) => /int64_t/.test(p) && !/\*/.test(p));
}

/** Bits of the C return type (void counts as 0: nothing to compare). */
function retBits(g: Generated, sym: string, bits: Bits): number {
  const proto = g.signatures[sym]!;
  const ret = proto.slice(0, proto.indexOf(sym)).trim();
  if (ret === 'void') return 0;
  if (/\*/.test(ret)) return bits;
  return /64/.test(ret) ? 64 : /16/.test(ret) ? 16 : /8/.test(ret) ? 8 : 32;
}

/** The driver: call each function, store RAX (64-bit) or EDX:EAX (32-bit) at results + 8*i, halt. */
function driver(g: Generated, calls: readonly Call[], bits: Bits): Uint8Array {
  const a = new Asm({ bits, origin: LAYOUT.driver });
  const value = (x: Arg): bigint => (typeof x === 'bigint' ? x : symbolAddress(g.image, x.sym));
  calls.forEach((c, i) => {
    if (c.sym === MIGRATE) {
      a.mov(reg('dx'), MIGRATE_PORT).insn('out', reg('dx'), reg('al'));
      return;
    }
    const wide = params(g, c.sym);
    const args = (c.args ?? []).map(value);
    if (wide.length !== args.length) throw new Error(`conform guest: ${c.sym} takes ${wide.length} arguments, got ${args.length}`);
    const at = LAYOUT.results + BigInt(8 * i);
    if (bits === 64) {
      if (args.length > 6) throw new Error(`conform guest: ${c.sym}: at most 6 arguments`);
      args.forEach((v, k) => a.mov(reg(['rdi', 'rsi', 'rdx', 'rcx', 'r8', 'r9'][k]!), BigInt.asUintN(64, v)));
      a.mov(reg('rax'), symbolAddress(g.image, c.sym)).call(reg('rax'));
      a.mov(reg('rcx'), at).mov(mem(reg('rcx')), reg('rax'));
    } else {
      let slots = 0;
      for (let k = args.length - 1; k >= 0; k--) {
        const v = BigInt.asUintN(64, args[k]!);
        if (wide[k]) (a.push(Number(v >> 32n) | 0), slots++);
        a.push(Number(v & 0xffffffffn) | 0);
        slots++;
      }
      a.mov(reg('eax'), Number(symbolAddress(g.image, c.sym))).call(reg('eax'));
      if (slots) a.add(reg('esp'), 4 * slots);
      a.mov(reg('ecx'), Number(at));
      a.mov(mem(reg('ecx')), reg('eax')).mov(mem(reg('ecx'), { disp: 4 }), reg('edx'));
    }
  });
  a.hlt();
  return toBinary(a.finish());
}

/** Stub image at LAYOUT.image + a driver calling `calls` in order. */
export function stubProgram(opts: Omit<GenerateOptions, 'origin'>, calls: readonly Call[]): GuestProgram {
  const g = generateStubs({ ...opts, origin: LAYOUT.image });
  return {
    segments: [{ gpa: LAYOUT.image, bytes: toBinary(g.image) }, { gpa: LAYOUT.driver, bytes: driver(g, calls, opts.bits) }],
    entry: LAYOUT.driver,
    stubs: g,
    results: { gpa: LAYOUT.results, widths: calls.map((c) => (c.sym === MIGRATE ? 0 : retBits(g, c.sym, opts.bits))), names: calls.map((c) => c.sym) },
  };
}

/** A program written directly with the assembler (origin LAYOUT.driver); `build` must end the run (hlt). */
export function asmProgram(bits: Bits, build: (a: Asm) => void, extra: GuestProgram['segments'] = []): GuestProgram {
  const a = new Asm({ bits, origin: LAYOUT.driver });
  build(a);
  return { segments: [{ gpa: LAYOUT.driver, bytes: toBinary(a.finish()) }, ...extra], entry: LAYOUT.driver };
}
