// End to end with real consumers: a freestanding C driver, compiled by gcc against the generated C header
// and linked with the generated ELF object (64-bit and -m32), runs in the emulator on an AMD vCPU. It
// detects KVM behind Hyper-V leaves, patches (guest-patch) or dispatches, and calls the wrappers from C;
// the hypercall hook checks the registers and answers, and C sees the answers.
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KVM_HC, hypervAbi, kvmAbi } from '@pvkit/shared-abi';
import { generateStubs, toCHeader, toElf, type Strategy } from '@pvkit/guest-sdk';
import { Vm, type HypervisorHooks, type VcpuApi } from '@pvkit/host';
import { abiCpuid } from './support/stubs-vm.js';

const TEXT = 0x40000;
const OUT = 0x30000;
const has = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
const hasGcc = has('gcc', ['--version']) && has('objcopy', ['--version']) && has('nm', ['--version']);
const hasM32 = hasGcc && (() => {
  const d = mkdtempSync(join(tmpdir(), 'pvkit-m32-'));
  try {
    writeFileSync(join(d, 'a.c'), 'int f(void){return 0;}\n');
    return has('gcc', ['-m32', '-c', join(d, 'a.c'), '-o', join(d, 'a.o')]);
  } finally { rmSync(d, { recursive: true, force: true }); }
})();
if (!hasGcc) console.warn('stubs-run-c: gcc/objcopy/nm not installed; C driver tests skipped');
else if (!hasM32) console.warn('stubs-run-c: gcc -m32 (gcc-multilib) not usable; 32-bit C driver test skipped');

const DRIVER = (strategy: Strategy) => `
#include <stdint.h>
#include "stubs.h"
void _start(void) {
  volatile uint64_t *out = (volatile uint64_t *)${OUT};
  struct pvkit_detect d;
  out[0] = pvkit_kvm_detect(&d);
  out[1] = d.leaves[0].eax;            /* KVM features leaf 0x40000101 EAX */
  out[2] = d.vendor;
  out[3] = ${strategy === 'guest-patch' ? 'pvkit_patch_hypercalls()' : '0'};
  out[4] = (uint64_t)pvkit_kvm_hc_kick_cpu(0, 7);
  out[5] = (uint64_t)pvkit_kvm_hc_send_ipi(0xffffffff, 0x1, 0x2, 0xfc);
  out[6] = (uint64_t)pvkit_kvm_hc_sched_yield(3);
  for (;;) __asm__ volatile("hlt");
}
`;

function build(bits: 64 | 32, strategy: Strategy): { bin: Uint8Array; start: number } {
  const g = generateStubs({ abi: kvmAbi, strategy, bits });
  const dir = mkdtempSync(join(tmpdir(), 'pvkit-stubs-c-'));
  const m = bits === 32 ? ['-m32'] : ['-m64'];
  try {
    writeFileSync(join(dir, 'stubs.h'), toCHeader(g.image, { prefix: 'kvm', signatures: g.signatures, image: false }).replace('#include <stdint.h>\n', `#include <stdint.h>\n${g.cDecls}\n`));
    writeFileSync(join(dir, 'stubs.o'), toElf(g.image));
    writeFileSync(join(dir, 'drv.c'), DRIVER(strategy));
    execFileSync('gcc', [...m, '-std=c11', '-Wall', '-Wextra', '-Werror', '-ffreestanding', '-O2', '-mgeneral-regs-only', '-fno-pic', '-fno-stack-protector',
      '-fno-asynchronous-unwind-tables', '-c', join(dir, 'drv.c'), '-o', join(dir, 'drv.o')], { cwd: dir });
    // -N: text writable, so pvkit_patch_hypercalls() can rewrite its sites (a kernel maps its own text so).
    execFileSync('gcc', [...m, '-nostdlib', '-static', '-no-pie', '-Wl,-N', `-Wl,-Ttext=0x${TEXT.toString(16)}`, '-Wl,-e,_start', '-Wl,--build-id=none',
      join(dir, 'drv.o'), join(dir, 'stubs.o'), '-o', join(dir, 'drv.elf')]);
    const nm = execFileSync('nm', [join(dir, 'drv.elf')], { encoding: 'utf8' });
    const start = parseInt(/^([0-9a-f]+) T _start$/m.exec(nm)![1]!, 16);
    execFileSync('objcopy', ['-O', 'binary', join(dir, 'drv.elf'), join(dir, 'drv.bin')]);
    return { bin: new Uint8Array(readFileSync(join(dir, 'drv.bin'))), start };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('a gcc-built C driver calling the generated wrappers, run in the emulator on AMD', () => {
  for (const bits of [64, 32] as const) {
    for (const strategy of ['guest-patch', 'dispatch', 'host-patch'] as Strategy[]) {
      it.skipIf(!hasGcc || (bits === 32 && !hasM32))(`${bits}-bit ${strategy}`, () => {
        const { bin, start } = build(bits, strategy);
        const calls: { insn: string; nr: bigint; a: bigint[] }[] = [];
        const r = (n: 'rax' | 'rbx' | 'rcx' | 'rdx' | 'rsi', v: VcpuApi) => v.getReg(n) & (bits === 64 ? (1n << 64n) - 1n : 0xffffffffn);
        const hooks: HypervisorHooks = {
          cpuid: abiCpuid([{ abi: hypervAbi, base: 0x40000000 }, { abi: kvmAbi, base: 0x40000100 }], 'amd'),
          hypercall(v, insn) {
            const call = { insn, nr: r('rax', v), a: [r('rbx', v), r('rcx', v), r('rdx', v), r('rsi', v)] };
            calls.push(call);
            v.setReg('rax', 0x100n + call.nr); // an answer C must see
            return 'handled';
          },
        };
        const vm = new Vm({ mode: bits === 64 ? 'long64' : 'prot32', vendor: 'amd', hooks });
        vm.memory.addRam(0, 0x100000, 'ram');
        vm.memory.writeBytes(TEXT, bin);
        const v = vm.vcpus[0]!;
        v.rip = BigInt(start);
        v.setReg('rsp', 0x80000n);
        expect(vm.run({ budget: 5_000_000 }).kind).toBe('Hlt');
        const out = [0, 1, 2, 3, 4, 5, 6].map((i) => vm.memory.readU64(OUT + 8 * i));
        expect(out[0]).toBe(0x40000100n); // KVM found behind the Hyper-V leaves
        expect(out[2]).toBe(2n); // PVKIT_VENDOR_VMMCALL
        if (strategy === 'guest-patch') expect(out[3]).toBeGreaterThan(0n);
        expect(calls.map((c) => c.insn)).toEqual(['vmmcall', 'vmmcall', 'vmmcall']);
        expect(calls.map((c) => [c.nr, ...c.a.slice(0, 4)])).toEqual([
          [BigInt(KVM_HC.KICK_CPU), 0n, 7n, calls[0]!.a[2], calls[0]!.a[3]],
          [BigInt(KVM_HC.SEND_IPI), 0xffffffffn, 1n, 2n, 0xfcn],
          [BigInt(KVM_HC.SCHED_YIELD), 3n, calls[2]!.a[1], calls[2]!.a[2], calls[2]!.a[3]],
        ]);
        const ret = (nr: number) => (0x100n + BigInt(nr)) & (bits === 64 ? (1n << 64n) - 1n : 0xffffffffn);
        expect(out.slice(4, 7).map((x) => (bits === 32 ? BigInt.asUintN(32, x) : x))).toEqual([ret(KVM_HC.KICK_CPU), ret(KVM_HC.SEND_IPI), ret(KVM_HC.SCHED_YIELD)]);
        // guest-patch and dispatch never need the host's #UD patcher; host-patch does, once per site used.
        expect(vm.patches.length).toBe(strategy === 'host-patch' ? 3 : 0);
      });
    }
  }
});
