// Runs cases in the host emulator with the same layout as the native harness: code at CODE_BASE followed by
// hlt, scratch at SCRATCH_BASE, all GPRs and RFLAGS set, run until the Hlt exit.
import { GuestMemory } from '../../src/memory/memory.js';
import { DecodeCache } from '../../src/cpu/cache.js';
import { Vcpu } from '../../src/cpu/vcpu.js';
import type { CpuEnv } from '../../src/cpu/types.js';
import type { Exit } from '../../src/exits.js';
import type { MachineCase } from './harness.js';
import type { EmuResult } from './compare.js';
import { type Bits, CODE_BASE, FLAG_MASK, SCRATCH_BASE, SCRATCH_SIZE, gprCount } from './layout.js';

const HLT = 0xf4; // SDM Vol.2 HLT: F4
const PAGE = 0x1000;

export class EmulatorRunner {
  readonly mem = new GuestMemory();
  readonly cache: DecodeCache;
  readonly vcpu: Vcpu;
  private readonly code: Uint8Array;
  private readonly scratch: Uint8Array;

  constructor(readonly bits: Bits, readonly budget = 1000) {
    this.code = this.mem.addRam(CODE_BASE, PAGE, 'code').bytes;
    this.scratch = this.mem.addRam(SCRATCH_BASE, PAGE, 'scratch').bytes;
    this.cache = new DecodeCache(this.mem);
    const env: CpuEnv = { router: undefined, hooks: undefined, fixHypercallInsn: true, notePatch: () => undefined };
    this.vcpu = new Vcpu(this.mem, this.cache, env, { id: 0, mode: bits === 64 ? 'long64' : 'prot32' });
  }

  /** Runs one case; never throws for what the guest does (the emulator must turn it into an exit). */
  runCase(c: MachineCase): EmuResult {
    const code = new Uint8Array(c.code.length + 1);
    code.set(c.code);
    code[c.code.length] = HLT;
    // Through the memory write path, so the decode cache drops the previous case's instructions.
    this.mem.writeBytes(CODE_BASE, code);
    const scratch = new Uint8Array(PAGE);
    if (c.scratch) scratch.set(c.scratch);
    this.mem.writeBytes(SCRATCH_BASE, scratch);
    const n = gprCount(this.bits);
    for (let i = 0; i < n; i++) this.vcpu.setReg(i, c.regs[i]!);
    this.vcpu.rflags = BigInt((c.flags & FLAG_MASK) | 0x2);
    this.vcpu.rip = CODE_BASE;
    const exit: Exit | undefined = this.vcpu.run(this.budget);
    const end = CODE_BASE + BigInt(c.code.length) + 1n;
    if (exit?.kind !== 'Hlt' || this.vcpu.rip !== end) {
      const text = exit === undefined ? `no exit after ${this.budget} instructions` : describeExit(exit);
      return { kind: 'exit', text, ...(exit?.kind === 'Exception' ? { vector: exit.vector } : {}) };
    }
    return {
      kind: 'ok',
      regs: Array.from({ length: n }, (_, i) => this.vcpu.getReg(i)),
      flags: Number(this.vcpu.rflags) & FLAG_MASK,
      scratch: Uint8Array.from(this.scratch.subarray(0, SCRATCH_SIZE)),
    };
  }

  runAll(cases: readonly MachineCase[]): EmuResult[] {
    return cases.map((c) => this.runCase(c));
  }
}

export function describeExit(e: Exit): string {
  if (e.kind === 'Exception') return `Exception #${e.vector} at 0x${e.rip.toString(16)}: ${e.message}`;
  return `${e.kind} at 0x${e.rip.toString(16)}`;
}
