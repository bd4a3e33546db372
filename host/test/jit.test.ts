// Compiled blocks against the interpreter: the same random guest programs (loops over the inlined
// instruction forms, memory operands that may fault or hit the code page, forward branches) run on a VM that
// compiles every block at its first entry and on one that only interprets; exits, registers, flags,
// instruction counts and all of RAM must be identical, also when the budget cuts runs at arbitrary points.
// The native CPU comparison of the blocks engine is in native-diff.test.ts.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Vm } from '../src/vm.js';
import { describeExit, type Exit } from '../src/exits.js';
import { DecodeCache } from '../src/cpu/cache.js';
import { FakeRouter } from './cpu-util-router.js';
import { Rng } from './native/rng.js';

const RAM = 0x20000;
const CODE = 0x1000;
const COUNTER = 0x800;

/** The generator behind each random program (fast-check supplies the seed and shrinks it). */
function rng(seed: number): () => number {
  const g = new Rng(seed);
  return () => g.u32();
}

/** ModRM (+ SIB + displacement) with a random addressing form; `regOnly` forces mod = 3. */
function modrm(r: () => number, reg: number, regOnly = false): number[] {
  const mod = regOnly ? 3 : r() % 4;
  const rm = r() % 8;
  const out = [(mod << 6) | ((reg & 7) << 3) | rm];
  if (mod !== 3 && rm === 4) out.push(r() & 0xff); // SIB
  if (mod === 1) out.push(r() & 0x7f);
  if (mod === 2 || (mod === 0 && rm === 5) || (mod !== 3 && rm === 4 && (out[1]! & 7) === 5 && mod === 0)) {
    const d = r() % 0x1800;
    out.push(d & 0xff, d >> 8, 0, 0);
  }
  return out;
}

function imm32(r: () => number): number[] {
  const v = r();
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
}

/** One random instruction from the forms the templates inline, plus some that run closures. */
function insn(r: () => number, mode64: boolean): number[] {
  const rex = mode64 && r() % 2 === 0 ? [0x40 | (r() % 16)] : [];
  const w = rex;
  switch (r() % 29) {
    case 0: case 1: { const ops = [0x01, 0x09, 0x21, 0x29, 0x31, 0x39, 0x03, 0x0b, 0x23, 0x2b, 0x33, 0x3b, 0x11, 0x19]; return [...w, ops[r() % ops.length]!, ...modrm(r, r())]; }
    case 2: return [...w, 0x83, ...modrm(r, r()), r() & 0xff];
    case 3: return [...w, 0x81, ...modrm(r, r()), ...imm32(r)];
    case 4: return [...w, 0x85, ...modrm(r, r())];
    case 5: return tf7(r, w);
    case 6: return [...w, 0xff, ...modrm(r, r() % 2)];
    case 7: case 8: return [...w, r() % 2 ? 0x89 : 0x8b, ...modrm(r, r())];
    case 9: return [...w, 0xc7, ...modrm(r, 0), ...imm32(r)];
    case 10: return [...w, 0xb8 + (r() % 8), ...imm32(r), ...(mode64 && w.length && (w[0]! & 8) ? imm32(r) : [])];
    case 11: return lea(r, w);
    case 12: return mode64 ? [...w, 0x63, ...modrm(r, r())] : [0x90];
    case 13: return [...w, 0x0f, [0xb6, 0xb7, 0xbe, 0xbf][r() % 4]!, ...modrm(r, r())];
    case 14: return [...w, 0x0f, 0x40 + (r() % 16), ...modrm(r, r())];
    case 15: return [...w, 0x0f, 0x90 + (r() % 16), ...modrm(r, 0, true)];
    case 16: return [...w, r() % 3 === 0 ? 0xd1 : 0xc1, ...modrm(r, [4, 5, 6, 7][r() % 4]!, r() % 4 !== 0), r() % 70];
    case 17: return [...(mode64 ? [0x40 | (r() % 2)] : []), 0x50 + (r() % 8)];
    case 18: return [...(mode64 ? [0x40 | (r() % 2)] : []), 0x58 + (r() % 8)];
    case 19: return [0x70 + (r() % 16), 2 + 2 * (r() % 2)]; // short forward skip over 2 or 4 bytes of NOPs
    case 20: return [...w, 0x0f, 0xaf, ...modrm(r, r())]; // IMUL: closure
    case 21: return [...w, [0x88, 0x8a][r() % 2]!, ...modrm(r, r())];
    case 22: return [...w, 0xc6, ...modrm(r, 0), r() & 0xff];
    case 23: return [...w, 0x98 + (r() % 2)];
    case 24: return [0xeb, 2 + 2 * (r() % 2)]; // JMP short forward over NOPs (the trace follows it)
    case 25: return [0xe8, 2 + 2 * (r() % 2), 0, 0, 0]; // CALL forward over NOPs: pushes and goes on
    case 26: return [0xe8, 2, 0, 0, 0, 0xeb, 2, 0x90, 0xc3]; // call a NOP; ret subroutine, jump over it
    default: return [0x66, ...w, 0x01, ...modrm(r, r())]; // 16-bit: closure
  }
}

function tf7(r: () => number, w: number[]): number[] {
  const k = r() % 4;
  return [...w, 0xf7, ...modrm(r, k), ...(k < 2 ? imm32(r) : [])];
}

/** LEA needs a memory form (mod = 3 is #UD): draw until there is one. */
function lea(r: () => number, w: number[]): number[] {
  for (;;) {
    const m = modrm(r, r());
    if (m[0]! >> 6 !== 3) return [...w, 0x8d, ...m];
  }
}

interface Program { code: Uint8Array; regs: bigint[]; mode64: boolean }

function program(seed: number, mode64: boolean): Program {
  const r = rng(seed);
  const body: number[] = [];
  const n = 3 + (r() % 14);
  const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
  for (let i = 0; i < n; i++) {
    // Indirect branches through EBX (traces predict their targets): jmp to the next instruction, or call a
    // NOP; RET subroutine and jump over it.
    if (r() % 10 === 0) body.push(0xbb, ...le32(CODE + body.length + 7), 0xff, 0xe3);
    if (r() % 10 === 0) body.push(0xbb, ...le32(CODE + body.length + 9), 0xff, 0xd3, 0xeb, 0x02, 0x90, 0xc3);
    // ... and through memory: store the target at COUNTER + 8, then jmp/call [COUNTER + 8] (SIB, no base).
    if (r() % 10 === 0) {
      const call = r() % 2 === 0;
      const at = CODE + body.length + 11 + 7 + (call ? 2 : 0); // after the 11-byte MOV and the 7-byte branch
      body.push(0xc7, 0x04, 0x25, ...le32(COUNTER + 8), ...le32(at));
      body.push(0xff, call ? 0x14 : 0x24, 0x25, ...le32(COUNTER + 8));
      if (call) body.push(0xeb, 0x02, 0x90, 0xc3);
    }
    const x = insn(r, mode64);
    body.push(...x);
    const skip = (x[0]! >= 0x70 && x[0]! <= 0x7f) || x[0] === 0xeb || x[0] === 0xe8;
    if (skip && (x.length === 2 || (x[0] === 0xe8 && x.length === 5))) body.push(...new Array<number>(x[1]!).fill(0x90));
  }
  // dec dword [COUNTER]; jnz CODE; hlt  (absolute disp32 addressing works in both modes: SIB with no base)
  const dec = [0xff, 0x0c, 0x25, COUNTER & 0xff, COUNTER >> 8, 0, 0];
  const tail = body.length + dec.length + 6;
  const rel = -tail;
  const code = [...body, ...dec, 0x0f, 0x85, rel & 0xff, (rel >> 8) & 0xff, (rel >> 16) & 0xff, (rel >>> 24) & 0xff, 0xf4];
  const regs = Array.from({ length: 16 }, (_, i) => {
    if (i === 4) return 0x1f000n; // RSP: inside RAM
    const k = r() % 4;
    if (k === 0) return BigInt(r() % RAM);
    if (k === 1) return BigInt(r() % 64);
    return (BigInt(r()) << 32n) | BigInt(r());
  });
  return { code: Uint8Array.from(code), regs, mode64 };
}

const routers = new WeakMap<Vm, FakeRouter>();

function makeVm(p: Program, hot: number, iters: number): Vm {
  const router = new FakeRouter(0xfee00000n, 0x1000);
  const vm = new Vm({ mode: p.mode64 ? 'long64' : 'prot32', router });
  routers.set(vm, router);
  vm.cache.hot = hot;
  vm.memory.addRam(0, RAM);
  vm.memory.writeBytes(CODE, p.code);
  vm.memory.writeBytes(COUNTER, [iters, 0, 0, 0]);
  const v = vm.vcpus[0]!;
  p.regs.forEach((x, i) => v.setReg(i, x));
  v.rip = BigInt(CODE);
  return vm;
}

/** Registers, flags and counts at an exit; with `ram`, a hash of all of RAM too (kept for final states: it costs). */
function state(vm: Vm, e: Exit, ram = false): unknown {
  const v = vm.vcpus[0]!;
  return {
    exit: describeExit(e), rip: v.rip, rflags: v.rflags, icount: (v as unknown as { icount: number }).icount,
    regs: Array.from({ length: 16 }, (_, i) => v.getReg(i)),
    ...(ram ? { ram: createHash('sha1').update(vm.memory.readBytes(0, RAM)).digest('hex') } : {}),
    ...(ram ? { io: createHash('sha1').update(JSON.stringify(routers.get(vm)!.events, (_, x) => (typeof x === 'bigint' ? `${x}n` : x))).digest('hex') } : {}),
  };
}

/**
 * Run until a final exit or `cap` instructions, answering reads with fixed values and cutting the budget as
 * `slices` says; returns the state at every exit except the budget cuts, and at the cap.
 */
function runAll(vm: Vm, slices: readonly number[], cap = 20_000): unknown[] {
  const seen: unknown[] = [];
  const v = vm.vcpus[0]!;
  const icount = (): number => (v as unknown as { icount: number }).icount;
  const start = icount();
  for (let i = 0; ; i++) {
    const want = Math.min(slices[i % slices.length]!, cap - (icount() - start));
    if (want <= 0 || seen.length >= 2_000) { // an instruction that keeps asking for answers: stop there too
      seen.push({ cap: true, ...(state(vm, { kind: 'Hlt', vcpu: 0, rip: v.rip }, true) as object) });
      return seen;
    }
    const e = vm.run({ budget: want });
    if (e.kind === 'BudgetExhausted') continue;
    const final = e.kind !== 'IoIn' && e.kind !== 'MmioRead' && e.kind !== 'IoOut' && e.kind !== 'MmioWrite';
    seen.push(state(vm, e, final));
    if (e.kind === 'IoIn') v.completeIoIn(0x12345678);
    else if (e.kind === 'MmioRead') v.completeMmioRead(0x1122334455667788n);
    else if (final) return seen;
  }
}

describe('compiled blocks', () => {
  it('compile a hot loop, inline its instructions and loop inside the block', () => {
    // add eax, ecx; xor ebx, eax; dec ecx; jnz -8; hlt
    const vm = new Vm({ mode: 'long64' });
    vm.memory.addRam(0, 0x10000);
    vm.memory.writeBytes(0x1000, [0x01, 0xc8, 0x31, 0xc3, 0xff, 0xc9, 0x75, 0xf8, 0xf4]);
    const v = vm.vcpus[0]!;
    v.setReg('rcx', 100_000n);
    v.rip = 0x1000n;
    const e = vm.run({ budget: 1_000_000 });
    expect(e.kind).toBe('Hlt');
    expect(vm.cache.blocksBuilt).toBe(1);
    expect(v.getReg('rcx')).toBe(0n);
    expect(v.getReg('rax')).toBe(5_000_050_000n & 0xffffffffn);
    const blk = vm.cache.getBlock(DecodeCache.key(0x1000, true))!;
    expect(blk.inlined).toBe(4);
    // vm.run's 1000-instruction quantum: 250 passes per entry, so far fewer entries than iterations.
    expect(blk.runs).toBeLessThan(100_000 / 100);
  });

  it('drop a block whose code page is written, and pick up the new code', () => {
    // mov eax, imm32; mov [0x1001], ecx (patch the immediate); dec edx; jnz 0x1000; hlt
    const vm = new Vm({ mode: 'long64' });
    vm.cache.hot = 1;
    vm.memory.addRam(0, 0x10000);
    const code = [0xb8, 1, 0, 0, 0, 0x89, 0x0c, 0x25, 0x01, 0x10, 0, 0, 0xff, 0xca, 0x75, 0xf0, 0xf4];
    vm.memory.writeBytes(0x1000, code);
    const v = vm.vcpus[0]!;
    v.setReg('rcx', 7n);
    v.setReg('rdx', 3n);
    v.rip = 0x1000n;
    expect(vm.run({ budget: 1000 }).kind).toBe('Hlt');
    expect(v.getReg('rax')).toBe(7n); // the second and third passes load the patched immediate
    expect(vm.cache.blocksDropped).toBeGreaterThan(0);
  });

  it('show hooks called from inside a block the RIP, flags and count the interpreter shows', () => {
    // top: mov eax, 0x40000000; cpuid; dec ecx; jnz top; hlt   (0x1000)
    const vm = new Vm({ mode: 'long64' });
    vm.cache.hot = 1;
    vm.memory.addRam(0, 0x10000);
    vm.memory.writeBytes(0x1000, [0xb8, 0, 0, 0, 0x40, 0x0f, 0xa2, 0xff, 0xc9, 0x75, 0xf5, 0xf4]);
    const seen: [bigint, bigint, number][] = [];
    vm.hooks = {
      cpuid(v, leaf) {
        seen.push([v.rip, v.rflags, (v as unknown as { icount: number }).icount]);
        return { eax: leaf, ebx: 0, ecx: Number(v.getReg('rcx')), edx: 0 };
      },
    };
    const v = vm.vcpus[0]!;
    v.setReg('rcx', 5n);
    v.rip = 0x1000n;
    expect(vm.run({ budget: 1000 }).kind).toBe('Hlt');
    expect(vm.cache.blocksBuilt).toBeGreaterThan(0);
    expect(seen.map((x) => x[0])).toEqual(new Array(5).fill(0x1005n));
    // Flags after DEC ECX of the previous pass (ZF clear), instruction counts 1, 5, 9, ...
    expect(seen.map((x) => x[2])).toEqual([1, 5, 9, 13, 17]);
    expect(seen.slice(1).every((x) => (x[1] & 0x40n) === 0n)).toBe(true);
  });

  it.each([true, false])('match the interpreter on random programs (long mode: %s), budgets sliced anywhere', (mode64) => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 0x7fffffff }), fc.integer({ min: 1, max: 9 }),
        fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 4 }), (seed, iters, slices) => {
          const p = program(seed, mode64);
          const interp = runAll(makeVm(p, 0, iters), [100_000]);
          expect(runAll(makeVm(p, 1, iters), [100_000])).toEqual(interp);
          // Cut into small budgets: the same exits in the same states.
          expect(runAll(makeVm(p, 1, iters), slices)).toEqual(interp);
        }),
      { numRuns: 300 },
    );
  });

  it.each([true, false])('match the interpreter on random bytes as code (long mode: %s)', (mode64) => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 96 }), fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { minLength: 16, maxLength: 16 }),
        (bytes, regs) => {
          // The bytes are followed by a back-edge to their start, so whatever decodes loops and gets compiled.
          const rel = -(bytes.length + 5);
          const code = Uint8Array.from([...bytes, 0xe9, rel & 0xff, (rel >> 8) & 0xff, (rel >> 16) & 0xff, (rel >>> 24) & 0xff]);
          const p: Program = { code, regs: regs.map((x, i) => (i === 4 ? 0x1f000n : i % 3 === 0 ? x % BigInt(RAM) : x)), mode64 };
          const interp = runAll(makeVm(p, 0, 3), [100_000], 3_000);
          expect(runAll(makeVm(p, 1, 3), [100_000], 3_000)).toEqual(interp);
          for (const s of interp) expect((s as { exit: string }).exit).not.toMatch(/internal error/);
        }),
      { numRuns: 300 },
    );
  });
});
