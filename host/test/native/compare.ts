// Compares native and emulated results of generated cases and renders mismatches as a table.
// Defined results must match exactly; results the SDM leaves undefined (see undefined.ts) are reported apart.
import type { GenCase } from './generator.js';
import type { MachineResult } from './harness.js';
import { type Bits, FLAG_MASK, GPR32, GPR64, flagText } from './layout.js';
import { regName, type Width } from './context.js';

/** Emulator outcome: like the native one, or an exit that is not the final hlt. */
export type EmuResult =
  | MachineResult
  | {
      readonly kind: 'exit';
      readonly text: string;
      readonly vector?: number;
      /** vCPU state after the exit: RIP (not advanced past a fault), GPRs, flags. */
      readonly rip?: bigint;
      readonly regs?: bigint[];
      readonly flags?: number;
    };

/**
 * Which exception vectors Linux reports as which signal in user mode (arch/x86/kernel/traps.c): #DE SIGFPE,
 * #BP SIGTRAP, #UD SIGILL, #OF/#GP/#PF SIGSEGV, #SS SIGBUS.
 */
export const SIGNAL_VECTORS: Readonly<Record<number, readonly number[]>> = {
  8: [0], // SIGFPE
  5: [3], // SIGTRAP
  4: [6], // SIGILL
  11: [4, 13, 14], // SIGSEGV
  7: [12], // SIGBUS
};

/** A case that faults natively must give the matching exception with the same architectural state. */
export function compareFault(c: GenCase, bits: Bits, nat: MachineResult, emu: EmuResult): Mismatch[] {
  const names = bits === 64 ? GPR64 : GPR32;
  if (nat.kind !== 'fault') return [{ c, severity: 'defined', what: 'outcome', native: 'completed', emulated: emu.kind }];
  const e = emu.kind === 'exit' ? emu : undefined;
  const out: Mismatch[] = [];
  const allowed = SIGNAL_VECTORS[nat.signal] ?? [];
  if (e?.vector === undefined || !allowed.includes(e.vector)) {
    const got = emu.kind === 'exit' ? emu.text : emu.kind === 'ok' ? 'completed' : `signal ${emu.signal}`;
    return [{ c, severity: 'defined', what: 'exception', native: `signal ${nat.signal} (vector ${allowed.join('/')})`, emulated: got }];
  }
  if (e.rip !== nat.rip) out.push({ c, severity: 'defined', what: 'rip', native: hex(nat.rip), emulated: hex(e.rip ?? -1n) });
  for (let i = 0; i < names.length; i++) {
    if (e.regs?.[i] !== nat.regs[i]) out.push({ c, severity: 'defined', what: names[i]!, native: hex(nat.regs[i]!), emulated: hex(e.regs?.[i] ?? -1n) });
  }
  if (e.flags !== nat.flags) out.push({ c, severity: 'defined', what: 'flags', native: flagText(nat.flags), emulated: flagText(e.flags ?? 0) });
  return out;
}

export interface Mismatch {
  readonly c: GenCase;
  /** 'defined': a real disagreement; 'undefined': only in results the SDM leaves undefined. */
  readonly severity: 'defined' | 'undefined';
  readonly what: string;
  readonly native: string;
  readonly emulated: string;
  /** Which emulator engine produced it (when several are compared). */
  readonly engine?: string;
}

/** SIGFPE from the harness corresponds to an emulator #DE exit (vector 0). */
const SIGFPE = 8;

function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

export function compareCase(c: GenCase, bits: Bits, nat: MachineResult, emu: EmuResult): Mismatch[] {
  const names = bits === 64 ? GPR64 : GPR32;
  if (nat.kind !== 'ok' || emu.kind !== 'ok') {
    const n = nat.kind === 'ok' ? 'completed' : `signal ${nat.signal}`;
    const e = emu.kind === 'ok' ? 'completed' : emu.kind === 'exit' ? emu.text : `signal ${emu.signal}`;
    const same = nat.kind === 'fault' && emu.kind === 'exit' && nat.signal === SIGFPE && emu.vector === 0;
    return same ? [] : [{ c, severity: 'defined', what: 'outcome', native: n, emulated: e }];
  }
  const out: Mismatch[] = [];
  for (let i = 0; i < names.length; i++) {
    const a = nat.regs[i]!;
    const b = emu.regs[i]!;
    if (a !== b) {
      const severity = c.undefinedRegs.includes(i) ? 'undefined' : 'defined';
      out.push({ c, severity, what: names[i]!, native: hex(a), emulated: hex(b) });
    }
  }
  const diff = (nat.flags ^ emu.flags) & FLAG_MASK;
  const def = diff & ~c.undefinedFlags;
  const undef = diff & c.undefinedFlags;
  for (const [bits_, severity] of [[def, 'defined'], [undef, 'undefined']] as const) {
    if (bits_) {
      out.push({ c, severity, what: `flags ${flagText(bits_)}`, native: flagText(nat.flags), emulated: flagText(emu.flags) });
    }
  }
  const sNat = nat.scratch;
  const sEmu = emu.scratch;
  for (let i = 0; i < sNat.length; i++) {
    if (sNat[i] !== sEmu[i]) {
      const slice = (s: Uint8Array): string => Buffer.from(s.subarray(i & ~7, (i & ~7) + 8)).toString('hex');
      out.push({ c, severity: c.undefinedScratch ? 'undefined' : 'defined', what: `scratch+${i & ~7}`, native: slice(sNat), emulated: slice(sEmu) });
      break;
    }
  }
  return out;
}

/** Registers (encoding numbers) that the case's instructions name, for the "inputs" column. */
export function namedRegs(c: GenCase, bits: Bits): number[] {
  const words = new Set(c.asm.join(' ').toLowerCase().split(/[^a-z0-9]+/));
  const found: number[] = [];
  const n = bits === 64 ? 16 : 8;
  for (let i = 0; i < n; i++) {
    const ws: Width[] = bits === 64 ? [8, 16, 32, 64] : [8, 16, 32];
    if (ws.some((w) => words.has(regName(i, w))) || (i < 4 && words.has(regName(i, 8, true)))) found.push(i);
  }
  // implicit operands: mul/div/cbw-family/cmpxchg use rax and rdx, shifts by cl use rcx
  if (/\b(mul|imul|div|idiv|cbw|cwde|cdqe|cwd|cdq|cqo|cmpxchg)\b/.test(c.asm.join(' '))) found.push(0, 2);
  return [...new Set(found)].sort((a, b) => a - b);
}

/** Plain-text table: case, instruction, inputs, what differs, native vs emulated. */
export function mismatchTable(rows: readonly Mismatch[], bits: Bits, limit = 40): string {
  const names = bits === 64 ? GPR64 : GPR32;
  const lines = ['| # | instruction | inputs | differs | native | emulated |', '|---|---|---|---|---|---|'];
  for (const m of rows.slice(0, limit)) {
    const inputs = namedRegs(m.c, bits).map((i) => `${names[i]}=${hex(m.c.regs[i]!)}`);
    inputs.push(`fl=${flagText(m.c.flags)}`);
    lines.push(`| ${m.c.id} | ${m.c.asm.join('; ')} | ${inputs.join(' ')} | ${m.engine ? `[${m.engine}] ` : ''}${m.what} | ${m.native} | ${m.emulated} |`);
  }
  if (rows.length > limit) lines.push(`| ... | ${rows.length - limit} more | | | | |`);
  return lines.join('\n');
}

/** Undefined-result disagreements per group and flag: how often this CPU and the emulator differ there. */
export function undefinedSummary(rows: readonly Mismatch[], cases: readonly GenCase[]): string {
  const FLAGS = ['CF', 'PF', 'AF', 'ZF', 'SF', 'OF'];
  const count = new Map<string, number>();
  for (const m of rows) {
    if (m.severity !== 'undefined') continue;
    const keys = m.what.startsWith('flags ') ? m.what.slice(6).split(' ') : ['destination'];
    for (const k of keys) {
      const key = `${m.c.group}\t${k}`;
      count.set(key, (count.get(key) ?? 0) + 1);
    }
  }
  const total = new Map<string, number>();
  for (const c of cases) total.set(c.group, (total.get(c.group) ?? 0) + 1);
  const order = (k: string): number => FLAGS.indexOf(k) >>> 0;
  const keys = [...count.keys()].sort((a, b) => {
    const [ga, fa] = a.split('\t') as [string, string];
    const [gb, fb] = b.split('\t') as [string, string];
    return ga === gb ? order(fa) - order(fb) : ga < gb ? -1 : 1;
  });
  const lines = ['| group | undefined result | cases differing / cases of the group |', '|---|---|---|'];
  for (const k of keys) {
    const [g, f] = k.split('\t') as [string, string];
    lines.push(`| ${g} | ${f} | ${count.get(k)}/${total.get(g)} |`);
  }
  return lines.join('\n');
}
