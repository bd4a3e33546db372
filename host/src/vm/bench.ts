// Engine micro-benchmarks for `npm run bench`: guest instructions per second on an ALU loop, hypercall
// round trips through vm.run(), port I/O exits and MMIO accesses per second. The guest loops are hand-encoded
// (SDM Vol. 2 opcode tables; checked against nasm in host/test/vm-bench.test.ts) so no assembler is needed.
import type { IoRouter } from '../bus/types.js';
import { Vm } from '../vm.js';

export interface BenchResult {
  readonly name: string;
  /** What one operation is. */
  readonly unit: string;
  readonly ops: number;
  readonly ms: number;
  readonly perSecond: number;
}

const CODE = 0x1000;
const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

/** mov ecx, n; l: <body>; dec ecx; jnz l; hlt */
export function loopProgram(n: number, body: readonly number[], prologue: readonly number[] = []): Uint8Array {
  const tail = [0xff, 0xc9]; // dec ecx
  const rel = -(body.length + tail.length + 2);
  if (rel < -128) throw new RangeError('loop body too long for jnz rel8');
  return Uint8Array.from([...prologue, 0xb9, ...le32(n), ...body, ...tail, 0x75, rel & 0xff, 0xf4]);
}

export const BENCH_BODIES = {
  /** add rax, rcx; xor rdx, rax; shl rdx, 3; sub rbx, rdx; mov [0x9000], rbx; mov rsi, [0x9000] */
  alu: [0x48, 0x01, 0xc8, 0x48, 0x31, 0xc2, 0x48, 0xc1, 0xe2, 0x03, 0x48, 0x29, 0xd3,
    0x48, 0x89, 0x1c, 0x25, ...le32(0x9000), 0x48, 0x8b, 0x34, 0x25, ...le32(0x9000)],
  /** vmcall */
  hypercall: [0x0f, 0x01, 0xc1],
  /** out 0x80, al */
  pio: [0xe6, 0x80],
  /** mov [rbx], eax (rbx -> MMIO, set by the prologue mov ebx, 0xfee00000) */
  mmio: [0x89, 0x03],
} as const;
export const MMIO_PROLOGUE = [0xbb, ...le32(0xfee00000)]; // mov ebx, 0xfee00000

function vmFor(code: Uint8Array, router?: IoRouter): Vm {
  const vm = new Vm(router ? { router } : {});
  vm.memory.addRam(0, 0x100000, 'ram');
  vm.memory.writeBytes(CODE, code);
  vm.vcpus[0]!.rip = BigInt(CODE);
  vm.vcpus[0]!.setReg('rsp', 0x80000n);
  return vm;
}

function result(name: string, unit: string, ops: number, ms: number): BenchResult {
  return { name, unit, ops, ms, perSecond: ms > 0 ? Math.round((ops / ms) * 1000) : 0 };
}

/** Run the engine benchmarks; `scale` multiplies the iteration counts (1 = about a second in total). */
export function runEngineBench(scale = 1): BenchResult[] {
  const out: BenchResult[] = [];
  {
    const n = Math.max(1, Math.round(300_000 * scale));
    const vm = vmFor(loopProgram(n, BENCH_BODIES.alu));
    const t0 = performance.now();
    vm.run({ budget: Number.MAX_SAFE_INTEGER });
    out.push(result('alu-loop', 'guest instruction', vm.vcpus[0]!.icount, performance.now() - t0));
  }
  const exitsPerSecond = (name: string, unit: string, vm: Vm, kind: string): void => {
    let count = 0;
    const t0 = performance.now();
    for (;;) {
      const e = vm.run({ budget: Number.MAX_SAFE_INTEGER });
      if (e.kind !== kind) break;
      count++;
    }
    out.push(result(name, unit, count, performance.now() - t0));
  };
  const m = Math.max(1, Math.round(50_000 * scale));
  exitsPerSecond('hypercall-exit', 'hypercall round trip (exit to the caller and back)', vmFor(loopProgram(m, BENCH_BODIES.hypercall)), 'Hypercall');
  exitsPerSecond('pio-exit', 'port I/O exit (OUT to the caller and back)', vmFor(loopProgram(m, BENCH_BODIES.pio)), 'IoOut');
  {
    let writes = 0;
    const router: IoRouter = {
      pioRead: () => undefined, pioWrite: () => false, mmioRead: () => undefined,
      mmioWrite: () => { writes++; return true; },
    };
    const vm = vmFor(loopProgram(m * 4, BENCH_BODIES.mmio, MMIO_PROLOGUE), router);
    const t0 = performance.now();
    vm.run({ budget: Number.MAX_SAFE_INTEGER });
    out.push(result('mmio-emulated', 'MMIO write emulated through the router', writes, performance.now() - t0));
  }
  return out;
}

export function formatBench(rows: readonly BenchResult[]): string {
  const w = Math.max(...rows.map((r) => r.name.length));
  return rows.map((r) => `${r.name.padEnd(w)}  ${r.perSecond.toLocaleString('en-US').padStart(14)} /s  (${r.unit}; ${r.ops} in ${r.ms.toFixed(0)} ms)`).join('\n');
}
