// Bench rows beyond single exits: a gcc-compiled C workload, hypercall-page calls, stub generation for a
// 1 000-hypercall user ABI in every output format, the conformance suite's wall time; and the memory figure.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Asm, eax, ecx, edx, r12, rbx, rdi, generateStubs, toBinary, toCHeader, toElf, toGas, toHex, toManifest, toNasm } from '@pvkit/guest-sdk';
import { defineAbi, XEN_HC } from '@pvkit/shared-abi';
import { Vm, XenPersonality } from '@pvkit/host';
import { isElf, loadElf } from '../run/loader.js';
import { loadSegments } from '../run/machine.js';
import { CODE_BASE, loadGuest } from './guest.js';
import type { BenchCase } from './measure.js';

const HERE = import.meta.dirname;

/** gcc -O2 -mgeneral-regs-only freestanding C (c-workload.c), 64-bit ELF at 1 MiB; skipped without gcc. */
export function cWorkloadCase(): BenchCase {
  return {
    id: 'emu.c-workload', label: 'guest gcc -O2 C workload (crc32, xorshift, sort)', unit: 'instruction', targetNsPerOp: 10,
    prepare() {
      const dir = mkdtempSync(join(tmpdir(), 'pvkit-bench-c-'));
      try {
        const out = join(dir, 'w.elf');
        const r = spawnSync('gcc', ['-ffreestanding', '-nostdlib', '-static', '-O2', '-mgeneral-regs-only', '-fno-pic', '-no-pie', '-fno-stack-protector',
          '-Wl,-Ttext=0x100000', '-Wl,--build-id=none', '-o', out, join(HERE, 'c-workload.c')], { encoding: 'utf8' });
        if (r.error || r.status !== 0) return { skip: `gcc unavailable or failed: ${r.error?.message ?? r.stderr.trim()}` };
        const bytes = readFileSync(out);
        if (!isElf(bytes)) return { skip: 'gcc did not produce an ELF file' };
        const img = loadElf(out, bytes);
        const vm = new Vm();
        vm.memory.addRam(0, 8 * 1024 * 1024);
        loadSegments(vm.memory, img, 8);
        const v = vm.vcpus[0]!;
        v.rip = img.entry;
        v.setReg('rsp', 0x7ff000n);
        // Count the instructions once (the loop is deterministic), then time a fresh VM doing the same.
        const probe = vm.run({ budget: 500_000_000 });
        if (probe.kind !== 'Hlt') return { skip: `workload ended with ${probe.kind}` };
        const ops = v.icount;
        const fresh = new Vm();
        fresh.memory.addRam(0, 8 * 1024 * 1024);
        loadSegments(fresh.memory, img, 8);
        fresh.vcpus[0]!.rip = img.entry;
        fresh.vcpus[0]!.setReg('rsp', 0x7ff000n);
        const want = v.getReg('rax');
        return {
          ops,
          run: () => {
            const e = fresh.run({ budget: 500_000_000 });
            if (e.kind !== 'Hlt' || fresh.vcpus[0]!.getReg('rax') !== want) throw new Error('C workload: different result on the second run');
          },
        };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Calls through the Xen hypercall page (`call page + 17*32`: xen_version), the page written by the MSR write. */
export function hcpageCase(scale = 1): BenchCase {
  const N = Math.max(1, Math.round(500_000 * scale));
  const PAGE = 0x40000;
  return {
    id: 'emu.hcpage-call', label: 'Xen hypercall-page call (call page+17*32)', unit: 'hypercall', targetNsPerOp: 50,
    prepare() {
      const a = new Asm({ bits: 64, origin: CODE_BASE });
      a.label('entry');
      // xen/arch/x86 msr.c: wrmsr(cpuid(base+2).EBX = 0x40000000, page GPA | 0) fills the page.
      a.mov(ecx, 0x40000000).mov(eax, PAGE).mov(edx, 0).wrmsr();
      a.mov(rbx, PAGE + XEN_HC.xen_version * 32).mov(r12, N).label('top'); // RBX is not a Xen argument register
      a.mov(rdi, 0).call(rbx);
      a.dec(r12).jcc('nz', 'top').hlt();
      const vm = loadGuest(a.finish());
      const xen = new XenPersonality();
      xen.attach(vm);
      return { ops: N, run: () => { const e = vm.run({ budget: 100_000_000 }); if (e.kind !== 'Hlt') throw new Error(`hcpage bench ended with ${e.kind}`); } };
    },
  };
}

/** A user ABI with `n` hypercalls (KVM convention), the input of the generation benchmark. */
export function bigAbi(n: number) {
  const b = defineAbi('bench').title('1000-hypercall bench ABI').signature('PvkitBench12').base(0x40000100).convention('kvm');
  for (let i = 0; i < n; i++) b.hypercall(`CALL_${i}`, 0x1000 + i, [{ name: 'a', type: 'u64' }, { name: 'b', type: 'u32' }]);
  return b.build();
}

/** guest-sdk generation of the 1 000-hypercall ABI in every output format (bin, hex, nasm, gas, c, elf, json). */
export function generationCase(): BenchCase {
  const abi = bigAbi(1000);
  return {
    id: 'gen.1000-hypercalls', label: 'generate 1000-hypercall ABI, all 7 formats', unit: 'generation', targetNsPerOp: 1e9,
    prepare: () => ({
      ops: 1,
      run: () => {
        const g = generateStubs({ abi, strategy: 'host-patch', bits: 64 });
        const out = [toBinary(g.image), toHex(g.image), toNasm(g.image), toGas(g.image), toCHeader(g.image, { prefix: 'bench', signatures: g.signatures }), toElf(g.image), toManifest(g.image)];
        if (g.wrappers.length !== 1000 || out.some((o) => o.length === 0)) throw new Error('generation bench: missing output');
      },
    }),
  };
}

/** The whole conformance table on the emulator backend (one op = one full suite run). */
export function conformCase(): BenchCase {
  return {
    id: 'conform.emulator', label: 'full conformance suite on the emulator', unit: 'suite run',
    async prepare() {
      const { CASES } = await import('../conform/cases/index.js');
      const { emulatorBackend } = await import('../conform/emulator.js');
      const { runSuite, summary } = await import('../conform/runner.js');
      return {
        ops: 1,
        run: async () => {
          const s = summary(await runSuite(CASES, [emulatorBackend]));
          if (s.FAIL) throw new Error(`conformance suite: ${s.FAIL} failures`);
        },
      };
    },
  };
}

export interface MemoryFigure {
  readonly guestMiB: number;
  readonly rssDeltaMiB: number;
  /** Resident memory added per byte of guest RAM (target < 2). */
  readonly ratio: number;
}

/** memoryFigure in a fresh Node process (memory-main.ts), so earlier allocations do not hide or inflate it. */
export function memoryFigureIsolated(guestMiB = 64): MemoryFigure {
  const r = spawnSync(process.execPath, ['--conditions=source', '--import', import.meta.resolve('tsx'), join(HERE, 'memory-main.ts'), String(guestMiB)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`memory figure: child process failed: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as MemoryFigure;
}

/** Resident memory of a 64 MiB guest with every page written and a loop run over it (target: under 2x). */
export function memoryFigure(guestMiB = 64): MemoryFigure {
  globalThis.gc?.();
  const before = process.memoryUsage().rss;
  const vm = new Vm();
  const size = guestMiB * 1024 * 1024;
  vm.memory.addRam(0, size);
  // The guest writes every page (rep stosq over all RAM above its code), so every page is resident.
  const a = new Asm({ bits: 64, origin: CODE_BASE });
  a.label('entry');
  a.mov(rdi, 0x20000).mov(ecx, (size - 0x20000) / 8).mov(eax, 0x5a5a5a5a);
  a.rep.stosq();
  a.hlt();
  vm.memory.writeBytes(CODE_BASE, toBinary(a.finish()));
  vm.vcpus[0]!.rip = CODE_BASE;
  const e = vm.run({ budget: 50_000_000 });
  if (e.kind !== 'Hlt') throw new Error(`memory figure: guest ended with ${e.kind}`);
  const delta = process.memoryUsage().rss - before;
  return { guestMiB, rssDeltaMiB: delta / 2 ** 20, ratio: delta / size };
}
