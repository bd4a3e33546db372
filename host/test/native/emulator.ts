// Runs cases in the host emulator with the same layout as the native harness: code at CODE_BASE followed by
// hlt, scratch at SCRATCH_BASE, all GPRs and RFLAGS set, run until the Hlt exit.
import { Vm } from '../../src/vm.js';
import type { Vcpu } from '../../src/cpu/vcpu.js';
import { describeExit, type Exit } from '../../src/exits.js';
import type { MachineCase } from './harness.js';
import type { EmuResult } from './compare.js';
import { type Bits, CODE_BASE, CODE_SIZE, FLAG_MASK, SCRATCH_BASE, SCRATCH_PAGE, SCRATCH_SIZE, gprCount } from './layout.js';

const HLT = 0xf4; // SDM Vol.2 HLT: F4

/** Which execution engine runs the cases: compiled blocks from the first entry, or the interpreter only. */
export type Engine = 'blocks' | 'interpreter';
export const ENGINES: readonly Engine[] = ['blocks', 'interpreter'];

export class EmulatorRunner {
  readonly vm: Vm;
  readonly vcpu: Vcpu;
  private readonly scratch: Uint8Array;

  constructor(readonly bits: Bits, readonly budget = 1000, cpl: 0 | 3 = 0, readonly engine: Engine = 'blocks') {
    this.vm = new Vm({ mode: bits === 64 ? 'long64' : 'prot32', vcpus: [{ cpl }] });
    this.vm.cache.hot = engine === 'blocks' ? 1 : 0;
    this.vm.memory.addRam(CODE_BASE, CODE_SIZE, 'code');
    this.scratch = this.vm.memory.addRam(SCRATCH_BASE, SCRATCH_PAGE, 'scratch').bytes;
    this.vcpu = this.vm.vcpu(0);
  }

  /** Runs one case; never throws for what the guest does (the emulator must turn it into an exit). */
  runCase(c: MachineCase): EmuResult {
    const code = new Uint8Array(c.code.length + 1);
    code.set(c.code);
    code[c.code.length] = HLT;
    // Through the memory write path, so the decode cache drops the previous case's instructions.
    this.vm.memory.writeBytes(CODE_BASE, code);
    const scratch = new Uint8Array(SCRATCH_PAGE);
    if (c.scratch) scratch.set(c.scratch);
    this.vm.memory.writeBytes(SCRATCH_BASE, scratch);
    const n = gprCount(this.bits);
    for (let i = 0; i < n; i++) this.vcpu.setReg(i, c.regs[i]!);
    this.vcpu.rflags = BigInt((c.flags & FLAG_MASK) | 0x2);
    this.vcpu.rip = CODE_BASE;
    this.vcpu.halted = false;
    const exit: Exit = this.vm.run({ budget: this.budget });
    const end = CODE_BASE + BigInt(c.code.length) + 1n;
    if (exit?.kind !== 'Hlt' || this.vcpu.rip !== end) {
      return {
        kind: 'exit',
        text: describeExit(exit),
        ...(exit.kind === 'Exception' ? { vector: exit.vector } : {}),
        rip: this.vcpu.rip,
        regs: Array.from({ length: n }, (_, i) => this.vcpu.getReg(i)),
        flags: Number(this.vcpu.rflags) & FLAG_MASK,
      };
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
