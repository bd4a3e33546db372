// The vCPU run loop: instruction fetch + decode into the shared cache, and execution of cached closures
// until an exit or the instruction budget. Everything the guest does that throws becomes a typed exit.
import type { Exit } from '../exits.js';
import type { CachedInsn } from './cache.js';
import { decode } from './decode.js';
import { compile } from './compile.js';
import { Fault, gp } from './fault.js';
import { CANON_LOW_END } from './state.js';
import type { Vcpu } from './vcpu.js';

const TWO32 = 4294967296;
const fetchBuf = new Uint8Array(16);

/** Fetch and decode the instruction at `ip`, caching it. */
export function fetchInsn(c: Vcpu, ip: number): CachedInsn {
  const mem = c.mem;
  const buf = fetchBuf;
  let avail = 0;
  const top = c.mode64 ? CANON_LOW_END : TWO32;
  while (avail < 15 && ip + avail < top) {
    const r = mem.findRam(ip + avail, 1);
    if (r === undefined) break;
    const n = Math.min(15 - avail, r.end - (ip + avail), top - (ip + avail));
    buf.set(r.bytes.subarray(ip + avail - r.base, ip + avail - r.base + n), avail);
    avail += n;
  }
  const res = decode(buf, avail, c.mode64);
  if (!res.ok) {
    if (res.fault === 'toolong') throw gp('instruction longer than 15 bytes');
    const a = ip + res.at;
    if (a >= top) {
      throw new Fault(13, `instruction fetch crosses ${c.mode64 ? 'the canonical boundary' : '4 GiB'} at 0x${a.toString(16)}`, 0, BigInt(a));
    }
    throw new Fault(14, `instruction fetch from 0x${a.toString(16)}: no RAM there`, 0x10, BigInt(a));
  }
  const insn: CachedInsn = { exec: compile(res.d), len: res.d.len, d: res.d };
  c.cache.put(ip, c.mode64, insn);
  return insn;
}

/** Vcpu.run(): up to `max` instructions; the exit that stopped the vCPU, or undefined when `max` ran out. */
export function runVcpu(c: Vcpu, max: number): Exit | undefined {
  // Waiting for an answer that was not given: re-executing reports the same exit again.
  const cache = c.cache;
  const start = c.icount;
  let prev: CachedInsn | undefined;
  let prevIp = 0;
  try {
    while (c.icount - start < max) {
      const ip = c.ip;
      c.curIp = ip;
      // Follow the previous instruction's cached successor (fall-through or last branch target) when it is
      // still live; otherwise look the address up (and remember it for next time).
      let insn: CachedInsn | undefined;
      if (prev !== undefined) {
        if (ip === prevIp + prev.len) {
          insn = prev.next;
          if (insn === undefined || insn.dead) insn = prev.next = cache.get(ip * 2 + (c.mode64 ? 1 : 0));
        } else if (ip === prev.targetIp && prev.target !== undefined && !prev.target.dead) insn = prev.target;
        else {
          insn = cache.get(ip * 2 + (c.mode64 ? 1 : 0));
          prev.targetIp = ip;
          prev.target = insn;
        }
      } else insn = cache.get(ip * 2 + (c.mode64 ? 1 : 0));
      if (insn === undefined) {
        insn = fetchInsn(c, ip);
        if (prev !== undefined) {
          if (ip === prevIp + prev.len) prev.next = insn;
          else prev.target = insn;
        }
      }
      const next = ip + insn.len;
      c.nextIp = c.mode64 ? next : next % TWO32;
      insn.exec(c);
      c.ip = c.nextIp;
      c.icount++;
      prev = insn;
      prevIp = ip;
      if (c.completions.length !== 0) c.completions = [];
      if (c.exit !== undefined) {
        const e = c.exit;
        c.exit = undefined;
        c.executed = c.icount - start;
        return e;
      }
    }
    c.executed = c.icount - start;
    return undefined;
  } catch (err) {
    c.executed = c.icount - start;
    return c.exitFromError(err);
  }
}
