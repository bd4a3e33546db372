// The benchmark loops are hand-encoded: check the bytes against nasm, and that each benchmark really does the
// work it counts (no timing assertions).
import { describe, expect, it } from 'vitest';
import { BENCH_BODIES, MMIO_PROLOGUE, formatBench, loopProgram, runEngineBench } from '../src/vm/bench.js';
import { hasNasm, nasm } from './cpu-util.js';

describe('engine benchmarks', () => {
  it.skipIf(!hasNasm)('hand-encoded loops equal what nasm assembles', () => {
    const loop = (body: string, pro = ''): Uint8Array => nasm(`${pro}\nmov ecx, 7\nl: ${body}\ndec ecx\njnz l\nhlt`, 64, 0);
    expect(loopProgram(7, BENCH_BODIES.alu)).toEqual(
      loop('add rax, rcx\nxor rdx, rax\nshl rdx, 3\nsub rbx, rdx\nmov [abs 0x9000], rbx\nmov rsi, [abs 0x9000]'));
    expect(loopProgram(7, BENCH_BODIES.hypercall)).toEqual(loop('vmcall'));
    expect(loopProgram(7, BENCH_BODIES.pio)).toEqual(loop('out 0x80, al'));
    expect(loopProgram(7, BENCH_BODIES.mmio, MMIO_PROLOGUE)).toEqual(loop('mov [rbx], eax', 'mov ebx, 0xfee00000'));
  });

  it('runs every benchmark and counts the operations it claims', () => {
    const rows = runEngineBench(0.01);
    expect(rows.map((r) => r.name)).toEqual(['alu-loop', 'hypercall-exit', 'pio-exit', 'mmio-emulated']);
    expect(rows[0]!.ops).toBe(1 + 3000 * 8 + 1); // mov ecx + 8 per iteration + hlt
    expect(rows[1]!.ops).toBe(500);
    expect(rows[2]!.ops).toBe(500);
    expect(rows[3]!.ops).toBe(2000);
    const text = formatBench(rows);
    console.log(text);
    expect(text.split('\n')).toHaveLength(4);
  });
});
