// Guest drivers written in C (issue 7): one per transport, compiled by gcc (-ffreestanding -O2
// -mgeneral-regs-only, 64- and 32-bit), the pvio ones linked with guest-sdk's ELF stubs, loaded flat at
// C_TEXT. Each prints a line through the pvtest device; the plain transports (port I/O, MMIO, doorbell-kicked
// ring) need no hypervisor leaves, so real KVM runs them too and differential mode compares.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pvioAbi } from '@pvkit/shared-abi';
import { generateStubs, toCHeader, toElf } from '@pvkit/guest-sdk';
import { PvtestControl, PvtestReg } from '@pvkit/host';
import { PVTEST_MMIO, PVTEST_PORT } from '../../run/machine.js';
import { SkipCase, type Bits, type ConformCase, type GuestProgram, type MachineSpec } from '../types.js';
import { BITS, VENDORS } from './helpers.js';

const C_TEXT = 0x20000;
type Transport = 'pio' | 'mmio' | 'doorbell' | 'mmio-hypercall' | 'pio-hypercall' | 'fallback';
const MSG = (t: Transport) => `hello from C via ${t}\n`;

const COMMON = `
#include <stdint.h>
#define PVTEST_PORT ${PVTEST_PORT}u
#define PVTEST_MMIO ${PVTEST_MMIO}u
static inline void outb(uint16_t p, uint8_t v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(p)); }
static inline void outl(uint16_t p, uint32_t v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(p)); }
static void halt(void) { for (;;) __asm__ volatile("hlt"); }
`;

function source(t: Transport): string {
  const msg = JSON.stringify(MSG(t));
  switch (t) {
    case 'pio':
      return `${COMMON}void _start(void) { const char *s = ${msg}; while (*s) { outb(PVTEST_PORT + ${PvtestReg.DATA_OUT}, (uint8_t)*s++); }
        halt(); }`;
    case 'mmio':
      return `${COMMON}void _start(void) { volatile uint8_t *r = (volatile uint8_t *)(uintptr_t)PVTEST_MMIO; const char *s = ${msg};
        while (*s) { r[${PvtestReg.DATA_OUT}] = (uint8_t)*s++; }
        halt(); }`;
    case 'doorbell':
      return `${COMMON}
        static const char msg[] = ${msg};
        static struct { uint32_t prod, cons; struct { uint64_t addr; uint32_t len, flags; } d[1]; } __attribute__((aligned(8))) ring;
        void _start(void) {
          volatile uint32_t *r = (volatile uint32_t *)(uintptr_t)PVTEST_MMIO;
          ring.d[0].addr = (uintptr_t)msg; ring.d[0].len = sizeof msg - 1; ring.d[0].flags = 0;
          __asm__ volatile("" ::: "memory");
          *(volatile uint32_t *)&ring.prod = 1;
          r[${PvtestReg.RING_BASE_LO / 4}] = (uint32_t)(uintptr_t)&ring; r[${PvtestReg.RING_BASE_HI / 4}] = 0;
          r[${PvtestReg.RING_SIZE / 4}] = 1; r[${PvtestReg.CONTROL / 4}] = ${PvtestControl.ENABLE};
          outl(PVTEST_PORT + ${PvtestReg.DOORBELL}, 1);   /* the doorbell */
          halt(); }`;
    default: {
      const port = t === 'pio-hypercall';
      const put = port ? `pvkit_port_write8(PVTEST_PORT + ${PvtestReg.DATA_OUT}, (uint8_t)*s++)` : `pvkit_reg_write8(PVTEST_MMIO + ${PvtestReg.DATA_OUT}, (uint8_t)*s++)`;
      return `${COMMON}#include "stubs.h"
        void _start(void) { struct pvkit_detect d; const char *s = ${msg};
          if (pvkit_pvio_detect(&d) == 0) halt();
          pvkit_pvio_fallback_init(&d);
          while (*s) { ${put}; }
          halt(); }`;
    }
  }
}

const cache = new Map<string, { bin: Uint8Array; start: number }>();
const has = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
let m32: boolean | undefined;

function build(t: Transport, bits: Bits): { bin: Uint8Array; start: number } {
  const key = `${t}/${bits}`;
  const hit = cache.get(key);
  if (hit) return hit;
  if (!has('gcc', ['--version']) || !has('objcopy', ['--version'])) throw new SkipCase('needs gcc and objcopy, not installed');
  const dir = mkdtempSync(join(tmpdir(), 'pvkit-conform-c-'));
  const m = bits === 32 ? '-m32' : '-m64';
  try {
    if (bits === 32) {
      writeFileSync(join(dir, 't.c'), 'int f(void){return 0;}\n');
      m32 ??= has('gcc', ['-m32', '-c', join(dir, 't.c'), '-o', join(dir, 't.o')]);
      if (!m32) throw new SkipCase('needs gcc -m32 (gcc-multilib), not usable');
    }
    const objs = [join(dir, 'drv.o')];
    if (t === 'mmio-hypercall' || t === 'pio-hypercall' || t === 'fallback') {
      const g = generateStubs({ abi: pvioAbi, strategy: 'dispatch', bits });
      writeFileSync(join(dir, 'stubs.h'), toCHeader(g.image, { prefix: 'pvio', signatures: g.signatures, image: false }).replace('#include <stdint.h>\n', `#include <stdint.h>\n${g.cDecls}\n`));
      writeFileSync(join(dir, 'stubs.o'), toElf(g.image));
      objs.push(join(dir, 'stubs.o'));
    }
    writeFileSync(join(dir, 'drv.c'), source(t));
    execFileSync('gcc', [m, '-std=gnu11', '-Wall', '-Werror', '-ffreestanding', '-O2', '-mgeneral-regs-only', '-fno-pic', '-fno-stack-protector',
      '-fno-asynchronous-unwind-tables', '-c', join(dir, 'drv.c'), '-o', join(dir, 'drv.o')], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync('gcc', [m, '-nostdlib', '-static', '-no-pie', `-Wl,-Ttext=0x${C_TEXT.toString(16)}`, '-Wl,-e,_start', '-Wl,--build-id=none', ...objs, '-o', join(dir, 'drv.elf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    const nm = execFileSync('nm', [join(dir, 'drv.elf')], { encoding: 'utf8' });
    const start = parseInt(/^([0-9a-f]+) T _start$/m.exec(nm)![1]!, 16);
    execFileSync('objcopy', ['-O', 'binary', join(dir, 'drv.elf'), join(dir, 'drv.bin')]);
    const out = { bin: new Uint8Array(readFileSync(join(dir, 'drv.bin'))), start };
    cache.set(key, out);
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function program(t: Transport, bits: Bits): GuestProgram {
  const { bin, start } = build(t, bits);
  return { segments: [{ gpa: BigInt(C_TEXT), bytes: bin }], entry: BigInt(start) };
}

function cCase(t: Transport, groups: ConformCase['groups'], machine: MachineSpec, hypercalls: boolean): ConformCase {
  return {
    name: `C driver (gcc) via ${t}`, groups, abis: [machine.abis[0]!.name], vendors: VENDORS, bits: BITS, needs: ['gcc'],
    source: 'issue 7 "Guest drivers written in C"; host devices/pvtest-regs.ts' + (hypercalls ? '; pvio spec §6' : ''),
    machine: () => machine, program: (e) => program(t, e.bits),
    expect: () => ({
      device: { output: MSG(t) },
      exitTrace: hypercalls ? { of: ['IoOut', 'MmioWrite'], kinds: [] } : { of: ['Hypercall'], kinds: [] },
    }),
  };
}

const PVIO_ON = { abis: [{ name: 'pvio' as const, options: { features: ['MMIO_HCALL', 'PIO_HCALL'] } }] };
export const C_DRIVER_CASES: ConformCase[] = [
  cCase('pio', ['pio'], { abis: [{ name: 'kvm' }] }, false),
  cCase('mmio', ['mmio'], { abis: [{ name: 'kvm' }] }, false),
  cCase('doorbell', ['doorbell'], { abis: [{ name: 'kvm' }] }, false),
  cCase('mmio-hypercall', ['mmio-hypercall', 'fallback'], PVIO_ON, true),
  cCase('pio-hypercall', ['mmio-hypercall', 'fallback'], PVIO_ON, true),
  { ...cCase('fallback', ['fallback', 'mmio'], { abis: [{ name: 'pvio', options: { features: [] } }] }, false), name: 'C driver (gcc) via fallback (pvio features masked: plain MMIO)' },
];
