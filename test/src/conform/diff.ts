// Differential mode: two backends ran the same guest; everything the guest can observe must agree.
import { GPR_NAMES, type GprName } from '@pvkit/host';
import type { GuestProgram, Observation } from './types.js';

const hex = (v: bigint) => `0x${v.toString(16)}`;

export function diffObservations(a: Observation, b: Observation, prog: GuestProgram, ignore: readonly GprName[] = []): string[] {
  const d: string[] = [];
  if (a.final.kind !== b.final.kind || a.final.vector !== b.final.vector || a.final.rip !== b.final.rip) d.push(`final exit: ${a.final.text} vs ${b.final.text}`);
  for (const n of GPR_NAMES) if (!ignore.includes(n) && a.registers[n] !== b.registers[n]) d.push(`register ${n}: ${hex(a.registers[n])} vs ${hex(b.registers[n])}`);
  if (prog.results) {
    const n = 8 * prog.results.widths.length;
    const x = a.readMemory(prog.results.gpa, n);
    const y = b.readMemory(prog.results.gpa, n);
    for (let i = 0; i < n; i++) if (x[i] !== y[i]) d.push(`results byte ${i} (call ${i >> 3}, ${prog.results.names[i >> 3]}): ${x[i]} vs ${y[i]}`);
  }
  // Every byte the program loaded (a patched site is one of them).
  for (const s of prog.segments) {
    const x = a.readMemory(s.gpa, s.bytes.length);
    const y = b.readMemory(s.gpa, s.bytes.length);
    const i = x.findIndex((v, k) => v !== y[k]);
    if (i >= 0) d.push(`memory ${hex(s.gpa + BigInt(i))}: ${x[i]} vs ${y[i]}`);
  }
  if (a.console !== b.console) d.push(`console: ${JSON.stringify(a.console)} vs ${JSON.stringify(b.console)}`);
  const t = (o: Observation) => JSON.stringify(o.device.trace, (_k, v) => (typeof v === 'bigint' ? hex(v) : v));
  if (t(a) !== t(b)) d.push(`pvtest trace: ${t(a)} vs ${t(b)}`);
  return d;
}
