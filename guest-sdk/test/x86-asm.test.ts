// Labels, branch relaxation, sections, symbols, relocations, patch sites, alignment and data, checked
// against nasm (its own relaxation on hand-written source), objdump (branch targets) and the emitters.

import { describe, expect, it } from 'vitest';
import { Asm, AsmError, addr, mem, rax, rsi, eax, ecx, esi, dword, toBinary, validateImage } from '@pvkit/guest-sdk';
import { flatten, sectionAddresses } from '../src/x86/layout.js';
import { hasNasm, hasObjdump, nasm, objdump } from './x86-tools.js';

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');
if (!hasNasm) console.warn('x86-asm: nasm not found; nasm comparisons skipped');
if (!hasObjdump) console.warn('x86-asm: objdump (GNU binutils) not found; decode checks skipped');

describe.skipIf(!hasNasm)('branch sizing agrees with nasm\'s own optimiser', () => {
  // nasm gets plain `jmp L` (no short/near) and picks sizes itself; our relaxation must land on the same bytes.
  for (const bits of [64, 32] as const) {
    it(`${bits}-bit: forward and backward jmp/jcc around the rel8 limit`, () => {
      for (const n of [0, 1, 120, 125, 126, 127, 128, 129, 130, 200]) {
        const a = new Asm({ bits, origin: 0x1000n });
        a.label('top').jmp('fwd').jcc('z', 'fwd').db(new Uint8Array(n)).label('fwd').jcc('ne', 'top').jmp('top').call('top');
        const src = `bits ${bits}\norg 0x1000\ntop: jmp fwd\njz fwd\ntimes ${n} db 0\nfwd: jne top\njmp top\ncall top\n`;
        expect(hexOf(flatten(a.finish())), `n=${n}`).toBe(hexOf(nasm(src)));
      }
    });

    it(`${bits}-bit: a chain where widening one branch pushes another out of range`, () => {
      const a = new Asm({ bits, origin: 0 });
      let src = `bits ${bits}\n`;
      for (let i = 0; i < 8; i++) {
        a.jmp(`L${i}`).db(new Uint8Array(100 + i));
        src += `jmp L${i}\ntimes ${100 + i} db 0\n`;
      }
      for (let i = 0; i < 8; i++) {
        a.label(`L${i}`).jcc('c', `L${7 - i}`);
        src += `L${i}: jc L${7 - i}\n`;
      }
      expect(hexOf(flatten(a.finish()))).toBe(hexOf(nasm(src)));
    });
  }
});

describe('branches', () => {
  it.skipIf(!hasObjdump)('objdump sees each branch land on its label', () => {
    const a = new Asm({ bits: 64, origin: 0x400000n });
    a.label('a').jcc('e', 'b').nop(9).jmp('c').label('b').db(new Uint8Array(300)).label('c').call('a').jmp('b', { near: true }).jmp('c', { short: true });
    const img = a.finish();
    const at = (n: string): bigint => 0x400000n + BigInt(img.symbols.find((s) => s.name === n)!.offset);
    const d = objdump(flatten(img), 64, 0x400000n).filter((x) => /^(j|call)/.test(x.text));
    expect(d.map((x) => x.text.replace(/\s+/g, ' '))).toEqual([
      `je 0x${at('b').toString(16)}`, `jmp 0x${at('c').toString(16)}`, `call 0x${at('a').toString(16)}`,
      `jmp 0x${at('b').toString(16)}`, `jmp 0x${at('c').toString(16)}`,
    ]);
    expect(d.map((x) => x.length)).toEqual([2, 5, 5, 5, 2]);
  });

  it('forced short out of range, unknown label and duplicate label are errors that say where', () => {
    const a = new Asm({ bits: 64 });
    a.label('x').db(new Uint8Array(200)).jmp('x', { short: true });
    expect(() => a.finish()).toThrow(/jmp short x: target is -202 bytes away, outside the rel8 range/);
    const b = new Asm({ bits: 64 });
    b.nop().jcc('ne', 'nowhere');
    expect(() => b.finish()).toThrow(/jne nowhere \(\.text\+0x1\): undefined label "nowhere"/);
    expect(() => new Asm({ bits: 32 }).label('x').label('x')).toThrow(/label x: already defined/);
    expect(() => new Asm({ bits: 32 }).label('1x')).toThrow(AsmError);
  });
});

describe('sections, symbols, relocations, patch sites', () => {
  function program(bits: 64 | 32): Asm {
    const a = new Asm({ bits, origin: 0x10000n });
    a.global('entry', 'func').label('entry');
    if (bits === 64) a.lea(rsi, mem.rip('msg', 2)).mov(rax, addr('table'));
    else a.lea(esi, mem.rip('msg', 2)).mov(eax, addr('table')).mov(ecx, dword(mem(addr('table', 4))));
    a.vmcall({ patchSite: true }).ret();
    a.global('second', 'func').label('second').vmmcall({ patchSite: true }).jmp('entry').endSymbol('second').int3();
    a.section('.rodata').global('msg', 'object').label('msg').db('hello\0').align(8).label('table').dd(addr('msg', 1));
    if (bits === 64) a.dq('second');
    else a.dd('second');
    a.section('.data').label('counter').dq(0n);
    return a;
  }

  for (const bits of [64, 32] as const) {
    it(`${bits}-bit: image layout, symbols and relocations`, () => {
      const img = program(bits).finish();
      validateImage(img);
      expect(img.sections.map((s) => s.name)).toEqual(['.text', '.rodata', '.data']);
      const sym = Object.fromEntries(img.symbols.map((s) => [s.name, s]));
      expect(sym.entry).toMatchObject({ section: '.text', offset: 0, global: true, kind: 'func' });
      expect(sym.entry!.size).toBe(sym.second!.offset);
      expect(sym.second!.size).toBe(3 + 2); // vmmcall + short jmp; int3 after endSymbol is outside
      expect(sym.msg).toMatchObject({ section: '.rodata', kind: 'object', global: true, size: img.sections[1]!.bytes.length });
      expect(sym.counter).toMatchObject({ section: '.data', kind: 'notype', global: false, size: 0 });
      expect(img.patchSites.map((p) => [p.insn, p.symbol])).toEqual([['vmcall', 'entry'], ['vmmcall', 'second']]);
      for (const p of img.patchSites) {
        const b = img.sections[0]!.bytes.slice(p.offset, p.offset + 3);
        expect(hexOf(b)).toBe(p.insn === 'vmcall' ? '0f01c1' : '0f01d9');
      }
      const kinds = img.relocations.map((r) => `${r.section}:${r.kind}:${r.symbol}:${r.addend}`);
      if (bits === 64) expect(kinds).toEqual(['.text:pc32:msg:-2', '.text:abs64:table:0', '.rodata:abs32:msg:1', '.rodata:abs64:second:0']);
      else expect(kinds).toEqual(['.text:abs32:msg:2', '.text:abs32:table:0', '.text:abs32:table:4', '.rodata:abs32:msg:1', '.rodata:abs32:second:0']);
      // The emitters' flat binary (which recomputes every relocation) equals the assembler's resolved bytes.
      expect(hexOf(toBinary(img))).toBe(hexOf(flatten(img)));
    });

    it.skipIf(!hasNasm)(`${bits}-bit: toNasm reproduces the flat image`, () => {
      const a = program(bits);
      const img = a.finish();
      expect(hexOf(nasm(a.toNasm()))).toBe(hexOf(flatten(img)));
    });
  }

  it.skipIf(!hasObjdump)('RIP-relative lea reaches the label in another section', () => {
    const img = program(64).finish();
    const msg = sectionAddresses(img).get('.rodata')!;
    const d = objdump(flatten(img), 64, 0x10000n)[0]!;
    expect(d.text).toMatch(/^lea\s+rsi,\[rip\+0x[0-9a-f]+\]$/);
    expect(BigInt(d.comment!)).toBe(msg + 2n);
  });

  it('finish(meta) carries the producer description into the image', () => {
    const img = new Asm({ bits: 64 }).label('f').ret().finish({ abi: 'kvm', strategy: 'host-patch' });
    expect(img.meta).toEqual({ abi: 'kvm', strategy: 'host-patch' });
    expect(new Asm({ bits: 64 }).label('f').ret().finish().meta).toBeUndefined();
  });

  it('external symbols become relocations with zeroed fields', () => {
    const a = new Asm({ bits: 64 });
    a.extern('ext_fn').extern('ext_data').call('ext_fn').jmp('ext_fn').mov(rax, mem.rip('ext_data', 8)).mov(rax, addr('ext_data'));
    const img = a.finish();
    expect(img.relocations.map((r) => [r.offset, r.kind, r.symbol, r.addend])).toEqual([
      [1, 'pc32', 'ext_fn', -4n], [6, 'pc32', 'ext_fn', -4n], [13, 'pc32', 'ext_data', 4n], [19, 'abs64', 'ext_data', 0n],
    ]);
    expect(hexOf(img.sections[0]!.bytes)).toBe('e800000000' + 'e900000000' + '488b0500000000' + '48b80000000000000000');
    expect(a.toNasm()).toContain('; extern ext_fn, ext_data');
  });
});

describe('alignment and data', () => {
  it.skipIf(!hasObjdump)('text padding is the recommended multi-byte NOPs, other sections pad with zeros', () => {
    for (let start = 0; start < 32; start++) {
      const a = new Asm({ bits: 64 });
      a.db(new Uint8Array(start).fill(0xcc)).align(32).label('x').ret();
      a.section('.data').db(1).align(16).dd(2);
      const img = a.finish();
      const text = img.sections[0]!.bytes;
      expect(text.length).toBe((start === 0 ? 0 : 32) + 1);
      const pad = text.slice(start, text.length - 1);
      const d = pad.length ? objdump(pad, 64) : [];
      expect(d.map((x) => x.text).filter((t) => !/^(nop|xchg\s+ax,ax)/.test(t))).toEqual([]);
      expect(d.length).toBe(Math.ceil((text.length - 1 - start) / 9));
      expect(hexOf(img.sections[1]!.bytes)).toBe('01' + '00'.repeat(15) + '02000000');
      expect(img.sections[0]!.align).toBe(32);
    }
  });

  it('data directives: sizes, little-endian, strings, label values', () => {
    const a = new Asm({ bits: 32, origin: 0x100n });
    a.section('.data').label('d').db(1, -1, 'Az', [2, 3]).dw(0x1234, -2).dd(0xdeadbeef, -1, 'd').dq(0x0102030405060708n, -1n);
    const img = a.finish();
    expect(hexOf(img.sections[0]!.bytes)).toBe('01ff417a0203' + '3412feff' + 'efbeadde' + 'ffffffff' + '00010000' + '0807060504030201' + 'ffffffffffffffff');
    expect(() => a.dw(0x10000)).toThrow(/dw 0x10000: value does not fit in 16 bits/);
    expect(() => a.dw(addr('d') as never)).toThrow(AsmError);
    expect(() => a.dq('d')).toThrow(/dq d: a 32-bit image has no 64-bit absolute relocation/);
  });
});
