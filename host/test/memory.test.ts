// Guest-physical memory: regions, bounds and overlap errors, host read/write, code-page write tracking.
import { describe, expect, it } from 'vitest';
import { GuestMemory, MemoryError, PAGE_SIZE } from '../src/memory/memory.js';
import { DecodeCache } from '../src/cpu/cache.js';
import { decode } from '../src/cpu/decode.js';
import { compile } from '../src/cpu/compile.js';

describe('GuestMemory', () => {
  it('reads back what the host writes, across adjacent RAM regions', () => {
    const m = new GuestMemory();
    m.addRam(0, 0x2000, 'a');
    m.addRam(0x2000, 0x1000, 'b');
    const data = Uint8Array.from({ length: 64 }, (_, i) => i + 1);
    m.writeBytes(0x1fe0n, data);
    expect(m.readBytes(0x1fe0, 64)).toEqual(data);
    m.writeU64(0x100, 0xfedcba9876543210n);
    expect(m.readU64(0x100)).toBe(0xfedcba9876543210n);
    expect(m.readU32(0x104)).toBe(0xfedcba98);
  });

  it('rejects overlapping, unaligned and out-of-range regions with located errors', () => {
    const m = new GuestMemory({ physBits: 36 });
    m.addRam(0x10000, 0x10000, 'low');
    expect(() => m.addRam(0x18000, 0x1000)).toThrow(/addRam\.gpa: overlaps region low/);
    expect(() => m.addMmio(0x1f000, 0x2000)).toThrow(/overlaps region low/);
    expect(() => m.addRam(0x123, 0x1000)).toThrow(/4 KiB aligned/);
    expect(() => m.addRam(0x40000, 100)).toThrow(/addRam\.size/);
    expect(() => m.addRam(2n ** 36n - 0x1000n, 0x2000)).toThrow(/beyond 2\^physBits/);
    expect(() => new GuestMemory({ physBits: 60 })).toThrow(MemoryError);
  });

  it('host access outside RAM is a MemoryError naming the address', () => {
    const m = new GuestMemory();
    m.addRam(0, 0x1000);
    expect(() => m.readBytes(0xff0, 0x20)).toThrow(/readBytes\.gpa: not RAM \(value: 0x1000\)/);
    expect(() => m.writeBytes(0x2000, [1])).toThrow(MemoryError);
    expect(() => m.readBytes(-1n, 1)).toThrow(/outside 0\.\.2\^52/);
  });

  it('a write to a page holding decoded code drops exactly that page from the decode cache', () => {
    const m = new GuestMemory();
    m.addRam(0, 4 * PAGE_SIZE);
    const cache = new DecodeCache(m);
    const nop = decode(Uint8Array.of(0x90), 1, true);
    if (!nop.ok) throw new Error('decode');
    const insn = { exec: compile(nop.d), len: 1, d: nop.d, term: false, hits: 0 };
    cache.put(0x1000, true, insn);
    cache.put(0x2000, true, insn);
    cache.put(0x2fff, true, { ...insn, len: 2 }); // straddles into page 3
    expect(cache.size).toBe(3);
    m.writeBytes(0x1800, [1]); // same page as 0x1000, not the instruction's bytes
    expect(cache.get(DecodeCache.key(0x1000, true))).toBeUndefined();
    expect(cache.size).toBe(2);
    m.writeBytes(0x3000, [1]); // page 3 holds the second byte of the straddling instruction
    expect(cache.get(DecodeCache.key(0x2fff, true))).toBeUndefined();
    expect(cache.get(DecodeCache.key(0x2000, true))).toBeDefined();
    expect(cache.invalidations).toBe(2);
    m.writeBytes(0x0, [1]); // page without code: nothing dropped
    expect(cache.invalidations).toBe(2);
  });
});
