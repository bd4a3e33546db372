// Memory operands that land outside RAM go through the IoRouter (sizes 1/2/4/8, read-modify-write, string
// moves); addresses nobody claims become MmioRead/MmioWrite exits the caller completes.
import { describe, expect, it } from 'vitest';
import { FakeRouter } from './cpu-util-router.js';
import { IoBusRouter } from '../src/bus/router.js';
import { Vm } from '../src/vm.js';
import { hasNasm, nasm, vmWith } from './cpu-util.js';

const BASE = 0xfee00000n;

describe.skipIf(!hasNasm)('MMIO through the router', () => {
  it('loads and stores of 1, 2, 4 and 8 bytes reach the device with the right offsets and values', () => {
    const router = new FakeRouter(BASE);
    const vm = vmWith(nasm(`
      mov rbx, 0xfee00000
      mov rax, 0x1122334455667788
      mov [rbx], al
      mov [rbx+2], ax
      mov [rbx+4], eax
      mov [rbx+8], rax
      movzx ecx, byte [rbx+8]
      movsx edx, word [rbx+14]
      mov esi, [rbx+12]
      mov rdi, [rbx+8]
      hlt`), { router });
    expect(vm.run().kind).toBe('Hlt');
    const v = vm.vcpus[0]!;
    expect(router.events.filter((e) => e.op === 'mmioWrite')).toEqual([
      { op: 'mmioWrite', addr: BASE, size: 1, value: 0x88n },
      { op: 'mmioWrite', addr: BASE + 2n, size: 2, value: 0x7788n },
      { op: 'mmioWrite', addr: BASE + 4n, size: 4, value: 0x55667788n },
      { op: 'mmioWrite', addr: BASE + 8n, size: 8, value: 0x1122334455667788n },
    ]);
    expect(v.getReg('rcx')).toBe(0x88n);
    expect(v.getReg('rdx')).toBe(0x1122n);
    expect(v.getReg('rsi')).toBe(0x11223344n);
    expect(v.getReg('rdi')).toBe(0x1122334455667788n);
  });

  it('read-modify-write (add [mmio], eax; xchg; lock xadd) reads then writes the device once each', () => {
    const router = new FakeRouter(BASE);
    router.mmio.set([0xff, 0xff, 0xff, 0xff], 0x10);
    const vm = vmWith(nasm(`
      mov rbx, 0xfee00010
      mov eax, 1
      add [rbx], eax
      setc cl
      setz ch
      mov edx, 7
      xchg [rbx+4], edx
      mov esi, 5
      lock xadd [rbx+8], esi
      hlt`), { router });
    expect(vm.run().kind).toBe('Hlt');
    const v = vm.vcpus[0]!;
    expect(router.events.map((e) => `${e.op}@${(e.addr as bigint) - BASE}:${e.size}=${e.value}`)).toEqual([
      'mmioRead@16:4=4294967295', 'mmioWrite@16:4=0', 'mmioRead@20:4=0', 'mmioWrite@20:4=7',
      'mmioRead@24:4=0', 'mmioWrite@24:4=5',
    ]);
    expect(v.getReg('rcx') & 0xffffn).toBe(0x0101n); // CF and ZF from the add
    expect(v.getReg('rdx')).toBe(0n);
    expect(v.getReg('rsi')).toBe(0n);
  });

  it('rep movsd between RAM and MMIO in both directions', () => {
    const router = new FakeRouter(BASE);
    const vm = vmWith(nasm(`
      mov rsi, 0x9000
      mov rdi, 0xfee00100
      mov ecx, 4
      rep movsd
      mov rsi, 0xfee00100
      mov rdi, 0xa000
      mov ecx, 4
      rep movsd
      hlt`), { router });
    const data = Uint8Array.from({ length: 16 }, (_, i) => 0x30 + i);
    vm.memory.writeBytes(0x9000, data);
    expect(vm.run().kind).toBe('Hlt');
    expect(router.mmio.subarray(0x100, 0x110)).toEqual(data);
    expect(vm.memory.readBytes(0xa000, 16)).toEqual(data);
    expect(router.events.length).toBe(8);
  });
});

describe.skipIf(!hasNasm)('unclaimed MMIO: exits completed by the caller', () => {
  it('add [unbacked], eax: MmioRead exit, completion, then MmioWrite exit with the sum; flags set', () => {
    const vm = vmWith(nasm('mov rbx, 0xc0000000\nmov eax, 5\nadd [rbx], eax\nsetc cl\nhlt'));
    const r1 = vm.run();
    expect(r1).toMatchObject({ kind: 'MmioRead', gpa: 0xc0000000n, size: 4 });
    vm.vcpus[0]!.completeMmioRead(0xfffffffen);
    expect(vm.run()).toMatchObject({ kind: 'MmioWrite', gpa: 0xc0000000n, size: 4, value: 3n });
    expect(vm.run().kind).toBe('Hlt');
    expect(vm.vcpus[0]!.getReg('rcx') & 0xffn).toBe(1n);
  });

  it('cmpsb with both operands unclaimed needs two answers, given one exit at a time', () => {
    const vm = vmWith(nasm('mov rsi, 0xc0000000\nmov rdi, 0xc0001000\ncmpsb\nsetb al\nhlt'));
    expect(vm.run()).toMatchObject({ kind: 'MmioRead', gpa: 0xc0000000n, size: 1 });
    vm.vcpus[0]!.completeMmioRead(3n);
    expect(vm.run()).toMatchObject({ kind: 'MmioRead', gpa: 0xc0001000n, size: 1 });
    vm.vcpus[0]!.completeMmioRead(9n);
    expect(vm.run().kind).toBe('Hlt');
    const v = vm.vcpus[0]!;
    expect(v.getReg('rax') & 0xffn).toBe(1n); // 3 < 9 unsigned
    expect(v.getReg('rsi')).toBe(0xc0000001n);
  });

  it('rep insb with no router: one IoIn exit per element, progress kept between exits', () => {
    const vm = vmWith(nasm('mov dx, 0x60\nmov rdi, 0x9000\nmov ecx, 3\nrep insb\nhlt'));
    const v = vm.vcpus[0]!;
    for (let i = 0; i < 3; i++) {
      expect(vm.run()).toMatchObject({ kind: 'IoIn', port: 0x60, size: 1 });
      v.completeIoIn(0x41 + i);
    }
    expect(vm.run().kind).toBe('Hlt');
    expect(vm.memory.readBytes(0x9000, 3)).toEqual(Uint8Array.of(0x41, 0x42, 0x43));
    expect(v.getReg('rcx')).toBe(0n);
  });

  it('rep outsw with no router: one IoOut exit per element with RIP held until the count is done', () => {
    const vm = vmWith(nasm('mov dx, 0x60\nmov rsi, 0x9000\nmov ecx, 2\nrep outsw\nhlt'));
    vm.memory.writeBytes(0x9000, [0x34, 0x12, 0x78, 0x56]);
    expect(vm.run()).toMatchObject({ kind: 'IoOut', value: 0x1234, size: 2 });
    expect(vm.vcpus[0]!.getReg('rcx')).toBe(1n);
    expect(vm.run()).toMatchObject({ kind: 'IoOut', value: 0x5678, size: 2 });
    expect(vm.run().kind).toBe('Hlt');
  });
});

describe('EPT fast MMIO path (len-0 doorbell)', () => {
  it('a store to a len-0 doorbell completes on the fast path under ept, the full path under npt, same guest result', () => {
    const results = [];
    for (const mmuMode of ['ept', 'npt'] as const) {
      const r = new IoBusRouter({ mmuMode });
      const res = r.doorbells.assign({ space: 'mmio', addr: 0xd0000000n, len: 0 });
      if (!res.ok) throw new Error(res.reason);
      const vm = new Vm({ router: r });
      vm.memory.addRam(0, 0x10000);
      // mov ebx, 0xd0000000 ; mov dword [rbx], eax ; mov dword [rbx], eax ; hlt
      vm.memory.writeBytes(0x1000, [0xbb, 0x00, 0x00, 0x00, 0xd0, 0x89, 0x03, 0x89, 0x03, 0xf4]);
      vm.vcpus[0]!.rip = 0x1000n;
      const exit = vm.run({ budget: 100 });
      results.push({ exit: exit.kind, rip: vm.vcpus[0]!.rip, fast: res.doorbell.fastSignals, full: res.doorbell.fullSignals, counted: [r.counters.get('doorbellFast'), r.counters.get('doorbellFull')] });
    }
    expect(results[0]).toEqual({ exit: 'Hlt', rip: 0x100an, fast: 2, full: 0, counted: [2, 0] });
    expect(results[1]).toEqual({ exit: 'Hlt', rip: 0x100an, fast: 0, full: 2, counted: [0, 2] });
  });
});
