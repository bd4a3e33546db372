// Faults against the real CPU: instructions that trap in user mode run natively (the harness reads the state
// at the fault from the signal context) and in the emulator at CPL 3. The exception must match the signal
// Linux delivers (compare.ts SIGNAL_VECTORS), RIP must be the faulting instruction (after it for the int3/into
// traps), and registers and flags must hold what the instructions before it left there.
import { describe, expect, it } from 'vitest';
import { assembleSnippets, hasGnuAs } from './native/assemble.js';
import { compareFault, mismatchTable } from './native/compare.js';
import { EmulatorRunner } from './native/emulator.js';
import type { GenCase } from './native/generator.js';
import { buildHarness, runNative } from './native/harness.js';
import { type Bits, OF, SCRATCH_BASE, SCRATCH_SIZE } from './native/layout.js';
import { Rng } from './native/rng.js';

interface FaultCase {
  readonly asm: readonly string[];
  readonly bits?: Bits;
  /** Register values (encoding order) that make it fault. */
  readonly set?: (regs: bigint[], bits: Bits) => void;
  readonly flags?: number;
  /**
   * Known engine gap (reported): the form is still run, and must still mismatch; when the engine is fixed the
   * test fails and says to drop the mark. Nothing is excused silently.
   */
  readonly known?: string;
}

const NONCANON = 0x8000_0000_0000_0000n; // SDM Vol.1 3.3.7.1: bits 63..47 not all equal
const FAULTS: readonly FaultCase[] = [
  { asm: ['div ecx'], set: (r) => { r[1] = 0n; } },
  { asm: ['add eax, ebx', 'sub edx, 5', 'div ecx'], set: (r) => { r[1] = 0n; } }, // state of retired instructions
  { asm: ['idiv ecx'], set: (r) => { r[0] = 0x80000000n; r[2] = 0xffffffffn; r[1] = 0xffffffffn; } },
  { asm: ['idiv rcx'], bits: 64, set: (r) => { r[0] = 1n << 63n; r[2] = (1n << 64n) - 1n; r[1] = (1n << 64n) - 1n; } },
  { asm: ['div cl'], set: (r) => { r[0] = 0xffffn; r[1] = 1n; } },
  { asm: ['div dword ptr [ebx+8]'], bits: 32, set: (r) => { r[3] = SCRATCH_BASE; } },
  { asm: ['div dword ptr [rbx+8]'], bits: 64, set: (r) => { r[3] = SCRATCH_BASE; } },
  { asm: ['ud2'] },
  { asm: ['.byte 0xf0', 'add eax, ebx'] }, // lock with a register destination: #UD (SDM Vol.2 LOCK)
  { asm: ['int3'] },
  { asm: ['into'], bits: 32, flags: OF, known: 'INTO (CE) not implemented: #UD instead of #OF (trap, vector 4) when OF=1' },
  { asm: ['hlt'] },
  { asm: ['cli'] },
  { asm: ['sti'] },
  { asm: ['in al, dx'] },
  { asm: ['out dx, eax'] },
  { asm: ['in eax, 0x80'] },
  { asm: ['rep insb'], set: (r) => { r[7] = SCRATCH_BASE; r[1] = 4n; } },
  { asm: ['rdmsr'] },
  { asm: ['wrmsr'] },
  { asm: ['mov eax, cr0'], bits: 32, known: 'MOV from CR0 (0F 20) not implemented: #UD instead of #GP(0) at CPL 3' },
  { asm: ['mov rax, cr0'], bits: 64, known: 'MOV from CR0 (0F 20) not implemented: #UD instead of #GP(0) at CPL 3' },
  { asm: ['.byte 0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66', 'nop'] }, // 16 bytes > 15
  { asm: ['mov rax, qword ptr [rbx]'], bits: 64, set: (r) => { r[3] = NONCANON; } },
  { asm: ['mov rax, qword ptr [rsp+8]'], bits: 64, set: (r) => { r[4] = NONCANON; } },
  { asm: ['push rax'], bits: 64, set: (r) => { r[4] = NONCANON + 8n; } },
];
const VARIANTS = 6;

describe.each([64, 32] as const)('faults, %i-bit user mode: emulator (CPL 3) vs CPU', (bits) => {
  const harness = buildHarness(bits);
  const reason = !harness.ok ? harness.reason : !hasGnuAs() ? 'GNU as/objcopy/nm (binutils) not installed' : undefined;
  if (reason) console.warn(`fault differential test (${bits}-bit) skipped: ${reason}`);

  it.skipIf(reason !== undefined)('raises the same exception with the same state', () => {
    if (!harness.ok) return;
    const rng = new Rng(bits * 7);
    const forms = FAULTS.filter((f) => f.bits === undefined || f.bits === bits);
    const cases: GenCase[] = [];
    for (const f of forms) {
      for (let v = 0; v < VARIANTS; v++) {
        const regs = Array.from({ length: bits === 64 ? 16 : 8 }, () => rng.value(bits));
        f.set?.(regs, bits);
        const flags = f.flags ?? rng.u32() & 0x8d5; // DF stays 0: the signal frame would not show it reliably
        cases.push({
          id: cases.length, group: f.asm.join('; '), asm: f.asm, regs, flags, scratch: new Uint8Array(SCRATCH_SIZE),
          undefinedFlags: 0, undefinedRegs: [], undefinedScratch: false, tags: [],
        });
      }
    }
    const codes = assembleSnippets(cases.map((c) => c.asm), bits);
    const machine = cases.map((c, i) => ({ code: codes[i]!, regs: c.regs, flags: c.flags, scratch: c.scratch }));
    const nat = runNative(harness, machine);
    const emu = new EmulatorRunner(bits, 1000, 3).runAll(machine);
    const knownOf = new Map(forms.map((f) => [f.asm.join('; '), f.known]));
    const all = cases.map((c, i) => ({ c, diffs: compareFault(c, bits, nat[i]!, emu[i]!) }));
    const bad = all.filter((r) => knownOf.get(r.c.group) === undefined).flatMap((r) => r.diffs);
    const fixed = [...new Set(all.filter((r) => knownOf.get(r.c.group) !== undefined && r.diffs.length === 0).map((r) => r.c.group))];
    const known = [...new Set(all.filter((r) => r.diffs.length > 0 && knownOf.get(r.c.group) !== undefined).map((r) => `${r.c.group}: ${knownOf.get(r.c.group)}`))];
    if (known.length) console.log(`known engine gaps still present:\n  ${known.join('\n  ')}`);
    expect(fixed.map((g) => `${g} now matches the CPU: remove its 'known' mark`)).toEqual([]);
    console.log(`${bits}-bit: ${cases.length} faulting cases (${forms.length} forms), ${bad.length} mismatches`);
    if (bad.length) console.log(mismatchTable(bad, bits, 60));
    expect(bad.map((m) => `${m.c.asm.join('; ')}: ${m.what} native ${m.native} emulated ${m.emulated}`)).toEqual([]);
  });
});
