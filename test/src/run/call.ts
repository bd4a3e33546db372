// Call a C-ABI function that is already in guest memory: a tiny caller (assembled with the guest-sdk Asm) loads
// the arguments per System V x86-64 or i386 cdecl, plants sentinels in every callee-saved register, calls, and
// halts; the result says whether the callee kept the C ABI.
import { Asm, REGISTERS, toBinary } from '@pvkit/guest-sdk';
import type { Exit, Vm } from '@pvkit/host';

/** Where the caller and its stack live (inside the first MiB every pvkit machine has). */
export const CALLER_AT = 0x2000;
export const CALLER_STACK = 0x80000n;

const SENTINELS: Record<64 | 32, [string, bigint][]> = {
  64: [['rbx', 0x1111_2222_3333_4444n], ['rbp', 0x5555_6666_7777_8888n], ['r12', 0x1212_1212_1212_1212n], ['r13', 0x1313n], ['r14', 0x1414_0000_0000n], ['r15', 0xf15f_15f1_5f15_f15fn]],
  32: [['rbx', 0xb0b0_b0b0n], ['rsi', 0x5151_5151n], ['rdi', 0xd1d1_d1d1n], ['rbp', 0xbebe_beben]],
};
const SYSV = ['rdi', 'rsi', 'rdx', 'rcx', 'r8', 'r9'];

export interface CallResult {
  readonly exit: Exit;
  /** RAX (64-bit) or EDX:EAX (32-bit) after the call. */
  readonly ret: bigint;
  /** Callee-saved registers or the stack pointer not restored (empty: the C ABI was kept). */
  readonly clobbered: readonly string[];
}

/** Which C parameters are 64-bit integers (two i386 stack slots), from a prototype like `int64_t f(uint32_t a, uint64_t b)`. */
export function wideParams(prototype: string): boolean[] {
  const inner = prototype.slice(prototype.indexOf('(') + 1, prototype.lastIndexOf(')')).trim();
  if (inner === 'void' || inner === '') return [];
  return inner.split(',').map((p) => /int64_t/.test(p) && !/\*/.test(p));
}

export function callFunction(vm: Vm, fn: bigint, args: readonly bigint[], opts: { wide?: readonly boolean[]; vcpu?: number; budget?: number } = {}): CallResult {
  const v = vm.vcpus[opts.vcpu ?? 0]!;
  const bits = v.mode === 'long64' ? 64 : 32;
  const r = (n: string) => REGISTERS.get(bits === 64 ? n : n.replace(/^r/, 'e'))!;
  const a = new Asm({ bits, origin: BigInt(CALLER_AT) });
  for (const [n, val] of SENTINELS[bits]) a.mov(r(n), bits === 64 ? val : Number(val));
  if (bits === 64) {
    if (args.length > SYSV.length) throw new RangeError(`callFunction: at most ${SYSV.length} arguments in registers, got ${args.length}`);
    args.forEach((val, i) => a.mov(r(SYSV[i]!), BigInt.asUintN(64, val)));
    a.mov(r('rax'), fn).call(r('rax')).hlt();
  } else {
    let slots = 0;
    for (let i = args.length - 1; i >= 0; i--) {
      const val = BigInt.asUintN(64, args[i]!);
      if (opts.wide?.[i]) {
        a.push(Number(val >> 32n) | 0);
        slots++;
      }
      a.push(Number(val & 0xffffffffn) | 0);
      slots++;
    }
    a.mov(r('rax'), Number(fn)).call(r('rax'));
    if (slots) a.add(r('rsp'), 4 * slots);
    a.hlt();
  }
  vm.memory.writeBytes(CALLER_AT, toBinary(a.finish()));
  v.halted = false;
  v.rip = BigInt(CALLER_AT);
  v.setReg('rsp', CALLER_STACK);
  const exit = vm.run({ budget: opts.budget ?? 1_000_000 });
  const clobbered: string[] = [];
  if (exit.kind === 'Hlt') {
    for (const [n, want] of SENTINELS[bits]) {
      const got = v.getReg(n as never);
      if (got !== want) clobbered.push(`${n}=0x${got.toString(16)}`);
    }
    if (v.getReg('rsp') !== CALLER_STACK) clobbered.push(`rsp=0x${v.getReg('rsp').toString(16)}`);
  }
  const ret = bits === 64 ? v.getReg('rax') : ((v.getReg('rdx') & 0xffffffffn) << 32n) | (v.getReg('rax') & 0xffffffffn);
  return { exit, ret, clobbered };
}
