// Compare an Observation with a case's Expect; every difference becomes one located line.
import type { Expect, GuestProgram, Observation } from './types.js';

const hex = (v: bigint | number) => `0x${v.toString(16)}`;
const bytesHex = (b: ArrayLike<number>) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');

export function check(want: Expect, got: Observation, prog: GuestProgram): string[] {
  const p: string[] = [];
  const fin = want.final ?? { kind: 'Hlt' };
  if (got.final.kind !== fin.kind || (fin.vector !== undefined && got.final.vector !== fin.vector)) {
    p.push(`final exit: want ${fin.kind}${fin.vector !== undefined ? ` vector ${fin.vector}` : ''}, got ${got.final.text}`);
  } else if (fin.rip !== undefined && got.final.rip !== fin.rip) {
    p.push(`final exit rip: want ${hex(fin.rip)}, got ${hex(got.final.rip)}`);
  }
  if (want.results) {
    const r = prog.results;
    if (!r) p.push('results: the program is not a stub program (no results table)');
    else {
      if (want.results.length !== r.widths.length) p.push(`results: ${want.results.length} expected values for ${r.widths.length} calls`);
      const raw = got.readMemory(r.gpa, 8 * r.widths.length);
      want.results.forEach((w, i) => {
        const bits = r.widths[i] ?? 64;
        const m = (1n << BigInt(bits)) - 1n;
        let v = 0n;
        for (let k = 7; k >= 0; k--) v = (v << 8n) | BigInt(raw[8 * i + k] ?? 0);
        if ((v & m) !== (BigInt.asUintN(bits, w) & m)) p.push(`result ${i} (${r.names[i]}, ${bits}-bit): want ${hex(BigInt.asUintN(bits, w))}, got ${hex(v & m)}`);
      });
    }
  }
  for (const [n, w] of Object.entries(want.registers ?? {})) {
    const v = got.registers[n as keyof typeof got.registers];
    const { value, mask } = typeof w === 'bigint' ? { value: w, mask: (1n << 64n) - 1n } : w;
    if (v === undefined || (v & mask) !== value) {
      p.push(`register ${n}${typeof w === 'bigint' ? '' : ` & ${hex(mask)}`}: want ${hex(value)}, got ${v === undefined ? 'nothing' : hex(v & mask)}`);
    }
  }
  for (const m of want.memory ?? []) {
    const b = got.readMemory(m.gpa, m.bytes.length);
    if (bytesHex(b) !== bytesHex(m.bytes)) p.push(`memory ${hex(m.gpa)} (${m.what}): want [${bytesHex(m.bytes)}], got [${bytesHex(b)}]`);
  }
  if (want.exitTrace) {
    if (!got.trace) p.push('exit trace: this backend cannot see handled exits');
    else {
      const kinds = got.trace.map((t) => t.kind).filter((k) => want.exitTrace!.of.includes(k));
      if (kinds.join(',') !== want.exitTrace.kinds.join(',')) p.push(`exit trace (${want.exitTrace.of.join('|')}): want [${want.exitTrace.kinds.join(', ')}], got [${kinds.join(', ')}]`);
    }
  }
  if (want.patches !== undefined && got.patches !== want.patches) p.push(`#UD patches: want ${want.patches}, got ${got.patches ?? 'unknown'}`);
  for (const [k, w] of Object.entries(want.counters ?? {})) {
    const v = got.counters?.[k as keyof NonNullable<Observation['counters']>];
    if (v !== w) p.push(`counter ${k}: want ${w}, got ${v ?? 'unknown'}`);
  }
  if (want.console !== undefined && got.console !== want.console) p.push(`console: want ${JSON.stringify(want.console)}, got ${JSON.stringify(got.console)}`);
  if (want.device?.output !== undefined && got.device.output !== want.device.output) {
    p.push(`pvtest output: want ${JSON.stringify(want.device.output)}, got ${JSON.stringify(got.device.output)}`);
  }
  if (want.device?.trace) {
    const s = (t: readonly unknown[]) => JSON.stringify(t, (_k, v) => (typeof v === 'bigint' ? hex(v) : v));
    if (s(got.device.trace) !== s(want.device.trace)) p.push(`pvtest trace: want ${s(want.device.trace)}, got ${s(got.device.trace)}`);
  }
  return p;
}
