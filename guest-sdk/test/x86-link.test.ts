// End to end: code written with the assembler, emitted as an ELF object, linked by gcc into a C program
// and run on this CPU. The functions' results are what the C driver prints.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Asm, toElf, addr, mem, byte, rax, rbx, rdi, rsi, rdx, eax, ebx, ecx, edx, esi, edi, esp, dl } from '@pvkit/guest-sdk';
import { hasIced, icedMissing } from './x86-tools.js';

const hasGcc = spawnSync('gcc', ['--version']).status === 0;
const has32 = hasGcc && (() => {
  const dir = mkdtempSync(join(tmpdir(), 'pvkit-m32-'));
  try {
    writeFileSync(join(dir, 'a.c'), 'int main(void){return 0;}\n');
    return spawnSync('gcc', ['-m32', '-o', join(dir, 'a'), join(dir, 'a.c')]).status === 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
})();
const why = !hasGcc ? 'gcc not found' : !hasIced ? `${icedMissing} (toElf decodes .text with it)` : '';
if (why) console.warn(`x86-link: ${why}; link-and-run tests skipped`);
if (hasGcc && !has32) console.warn('x86-link: gcc -m32 cannot link (gcc-multilib missing); the 32-bit run is skipped');

function program(bits: 64 | 32): Asm {
  const a = new Asm({ bits });
  a.extern('c_helper');
  if (bits === 64) {
    a.global('sum3').label('sum3').lea(rax, mem(rdi, { index: rsi })).add(rax, rdx).ret();
    // count_byte(p, n, b): how many of n bytes at p equal b
    a.global('count_byte').label('count_byte').xor(eax, eax).test(rsi, rsi).jcc('z', 'cb_done');
    a.label('cb_loop').cmp(byte(mem(rdi)), dl).jcc('ne', 'cb_skip').inc(eax).label('cb_skip').inc(rdi).dec(rsi).jcc('nz', 'cb_loop');
    a.label('cb_done').ret();
    a.global('get_msg').label('get_msg').lea(rax, mem.rip('msg')).ret();
    // via_helper(x) = c_helper(x * 3) + 1, keeping rbx (callee-saved) intact
    a.global('via_helper').label('via_helper').push(rbx).mov(ebx, edi).imul(edi, ebx, 3).call('c_helper').add(eax, 1).pop(rbx).ret();
    a.global('table_addr').label('table_addr').mov(rax, addr('table')).ret();
    a.section('.data').global('table', 'object').label('table').dq('sum3', 'count_byte');
  } else {
    a.global('sum3').label('sum3').mov(eax, mem(esp, { disp: 4 })).add(eax, mem(esp, { disp: 8 })).add(eax, mem(esp, { disp: 12 })).ret();
    a.global('count_byte').label('count_byte').push(esi).push(edi).mov(edi, mem(esp, { disp: 12 })).mov(esi, mem(esp, { disp: 16 }));
    a.mov(edx, mem(esp, { disp: 20 })).xor(eax, eax).test(esi, esi).jcc('z', 'cb_done');
    a.label('cb_loop').cmp(byte(mem(edi)), dl).jcc('ne', 'cb_skip').inc(eax).label('cb_skip').inc(edi).dec(esi).jcc('nz', 'cb_loop');
    a.label('cb_done').pop(edi).pop(esi).ret();
    a.global('get_msg').label('get_msg').mov(eax, addr('msg')).ret();
    a.global('via_helper').label('via_helper').push(ebx).mov(ebx, mem(esp, { disp: 8 })).imul(ecx, ebx, 3).push(ecx).call('c_helper');
    a.add(esp, 4).add(eax, 1).pop(ebx).ret();
    a.global('table_addr').label('table_addr').mov(eax, addr('table')).ret();
    a.section('.data').global('table', 'object').label('table').dd('sum3', 'count_byte');
  }
  a.section('.rodata').label('msg').db('hello from pvkit\0');
  return a;
}

const DRIVER = `#include <stdio.h>
#include <stdint.h>
long sum3(long, long, long);
int count_byte(const char *, unsigned long, int);
const char *get_msg(void);
int via_helper(int);
void *table_addr(void);
extern void *table[2];
int c_helper(int x) { return x + 100; }
int main(void) {
  static const char s[] = "abracadabra";
  printf("%ld %d %s %d %d %d\\n", sum3(1, 20, 300), count_byte(s, sizeof s - 1, 'a'), get_msg(), via_helper(5),
         table_addr() == (void *)table, table[0] == (void *)sum3 && table[1] == (void *)count_byte);
  return 0;
}
`;

describe.skipIf(!!why)('assembled code linked with gcc and run', () => {
  for (const bits of [64, 32] as const) {
    it.skipIf(bits === 32 && !has32)(`${bits}-bit`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'pvkit-link-'));
      try {
        const img = program(bits).finish();
        writeFileSync(join(dir, 'sdk.o'), toElf(img));
        writeFileSync(join(dir, 'main.c'), bits === 32 ? DRIVER.replace(/\blong\b/g, 'int').replace('%ld', '%d').replace('unsigned int', 'unsigned') : DRIVER);
        const cc = spawnSync('gcc', [`-m${bits}`, '-no-pie', '-Wall', '-Wextra', '-Werror', '-o', join(dir, 'main'), join(dir, 'main.c'), join(dir, 'sdk.o')], { encoding: 'utf8' });
        expect(cc.stderr).toBe('');
        expect(cc.status).toBe(0);
        const run = spawnSync(join(dir, 'main'), { encoding: 'utf8' });
        // sum3 = 321; 'a' appears 5 times; via_helper(5) = (15 + 100) + 1
        expect(run.stdout).toBe('321 5 hello from pvkit 116 1 1\n');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
