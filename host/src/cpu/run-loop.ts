// The vCPU run loop: instruction fetch + decode into the shared cache, and execution of cached closures
// until an exit or the instruction budget. Everything the guest does that throws becomes a typed exit.
import type { Exit } from '../exits.js';
import { DecodeCache, type CachedInsn } from './cache.js';
import { decode } from './decode.js';
import { compile } from './compile.js';
import { Fault, gp } from './fault.js';
import { CANON_LOW_END } from './state.js';
import type { Vcpu } from './vcpu.js';
import { Block, buildBlock, endsBlock } from './jit/block.js';

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
  const insn: CachedInsn = { exec: compile(res.d), len: res.d.len, d: res.d, term: endsBlock(res.d), hits: 0 };
  c.cache.put(ip, c.mode64, insn);
  return insn;
}

/** Vcpu.run(): up to `max` instructions; the exit that stopped the vCPU, or undefined when `max` ran out. */
export function runVcpu(c: Vcpu, max: number): Exit | undefined {
  // Waiting for an answer that was not given: re-executing reports the same exit again.
  const cache = c.cache;
  const start = c.icount;
  let blk: Block | undefined; // the block that just ran (its successor links save the map lookup)
  try {
    while (c.icount - start < max) {
      // ---- at a block head: run the compiled block, or count towards compiling one ----
      const ip = c.ip;
      if (c.completions.length === 0) {
        let b: Block | undefined;
        if (blk !== undefined) {
          if (blk.s0Ip === ip) b = blk.s0;
          else if (blk.s1Ip === ip) b = blk.s1;
          if (b === undefined || b.dead) {
            b = cache.getBlock(ip * 2 + (c.mode64 ? 1 : 0));
            if (b !== undefined) {
              if (blk.s0Ip === -1 || blk.s0Ip === ip) { blk.s0Ip = ip; blk.s0 = b; } else { blk.s1Ip = ip; blk.s1 = b; }
            }
          }
        } else b = cache.getBlock(ip * 2 + (c.mode64 ? 1 : 0));
        if (b !== undefined) {
          const left = max - (c.icount - start);
          if (b.count <= left) {
            b.runs++;
            b.run(c, left);
            if (c.exit !== undefined) return takeExit(c, start);
            blk = b;
            continue;
          }
        } else if (cache.hot > 0) {
          c.curIp = ip;
          const head = cache.get(ip * 2 + (c.mode64 ? 1 : 0)) ?? fetchInsn(c, ip);
          if (head.hits >= 0 && ++head.hits >= cache.hot) {
            const built = buildBlock(ip, c.mode64, (a) => cache.get(a * 2 + (c.mode64 ? 1 : 0)) ?? fetchInsn(c, a), DecodeCache.pagesOf);
            if (built !== undefined) {
              cache.putBlock(built);
              continue;
            }
            head.hits = -1; // nothing to gain here: stay interpreted
          }
        }
      }
      blk = undefined;
      // ---- interpret up to the end of this block ----
      let prev: CachedInsn | undefined;
      while (c.icount - start < max) {
        const ip = c.ip;
        c.curIp = ip;
        // Follow the previous instruction's cached successor when it is still live; otherwise look it up.
        let insn: CachedInsn | undefined;
        if (prev !== undefined) {
          insn = prev.next;
          if (insn === undefined || insn.dead) insn = prev.next = cache.get(ip * 2 + (c.mode64 ? 1 : 0));
        } else insn = cache.get(ip * 2 + (c.mode64 ? 1 : 0));
        if (insn === undefined) {
          insn = fetchInsn(c, ip);
          if (prev !== undefined) prev.next = insn;
        }
        const next = ip + insn.len;
        const nextIp = c.mode64 ? next : next % TWO32;
        c.nextIp = nextIp;
        insn.exec(c);
        c.ip = c.nextIp;
        c.icount++;
        prev = insn;
        if (c.completions.length !== 0) c.completions = [];
        if (c.exit !== undefined) return takeExit(c, start);
        if (insn.term) {
          insn.targetIp = c.nextIp; // the last target: compiled traces predict indirect branches and returns from it
          break; // a branch (taken or not): next block head
        }
        if (c.nextIp !== nextIp) break; // a repeat (REP string, #UD patch): next block head
      }
    }
    c.executed = c.icount - start;
    return undefined;
  } catch (err) {
    c.executed = c.icount - start;
    return c.exitFromError(err);
  }
}

function takeExit(c: Vcpu, start: number): Exit {
  const e = c.exit!;
  c.exit = undefined;
  c.executed = c.icount - start;
  return e;
}
