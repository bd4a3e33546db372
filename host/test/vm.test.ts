// The VM run loop: deterministic round-robin over vCPUs sharing memory, budget and wall-clock limits, trace,
// self-modifying code seen by every vCPU.
import { describe, expect, it } from 'vitest';
import { CODE, hasNasm, nasm, vmWith } from './cpu-util.js';
import { FakeRouter } from './cpu-util-router.js';
import { Vm } from '../src/vm.js';

describe.skipIf(!hasNasm)('Vm.run', () => {
  it('runs vCPUs round-robin with a fixed quantum; each sees the other\'s writes', () => {
    // vCPU 0 spins until [0x9000] != 0 then halts; vCPU 1 counts to 5000 and writes the flag.
    const code = nasm(`
      cmp dword [rel id], 0
      jne one
    spin: cmp dword [0x9000], 0
      je spin
      mov eax, [0x9000]
      hlt
    one: mov ecx, 5000
    l: dec ecx
      jnz l
      mov dword [0x9000], 77
      hlt
    id: dd 0`);
    const vm = vmWith(code, { vcpus: 2, quantum: 100 });
    // Same code, different "id": give vCPU 1 its own copy with id = 1.
    const copy = Uint8Array.from(code);
    copy.set([1, 0, 0, 0], code.length - 4);
    vm.memory.writeBytes(0x4000, copy);
    vm.vcpus[1]!.rip = 0x4000n;
    const first = vm.run();
    expect(first).toMatchObject({ kind: 'Hlt', vcpu: 1 });
    const second = vm.run();
    expect(second).toMatchObject({ kind: 'Hlt', vcpu: 0 });
    expect(vm.vcpus[0]!.getReg('rax')).toBe(77n);
    // Deterministic: a second VM does exactly the same number of instructions.
    const vm2 = vmWith(code, { vcpus: 2, quantum: 100 });
    vm2.memory.writeBytes(0x4000, copy);
    vm2.vcpus[1]!.rip = 0x4000n;
    vm2.run();
    vm2.run();
    expect(vm2.vcpus.map((v) => v.icount)).toEqual(vm.vcpus.map((v) => v.icount));
    expect(vm.run().kind).toBe('Hlt'); // all halted
  });

  it('budget and wall-clock limits end a runaway guest with a typed exit', () => {
    const vm = vmWith(nasm('l: jmp l'));
    const e = vm.run({ budget: 12345 });
    expect(e).toMatchObject({ kind: 'BudgetExhausted', executed: 12345, limit: 'instructions', rip: BigInt(CODE) });
    const w = vm.run({ budget: Number.MAX_SAFE_INTEGER, wallMs: 30 });
    expect(w).toMatchObject({ kind: 'BudgetExhausted', limit: 'wallclock' });
  });

  it('trace records handled and unhandled exits with operands', () => {
    const router = new FakeRouter();
    const vm = vmWith(nasm('out 0x80, al\nin al, 0x81\nvmcall\nhlt'), { router, trace: true });
    expect(vm.run().kind).toBe('Hypercall');
    expect(vm.run().kind).toBe('Hlt');
    expect(vm.trace.map((t) => [t.kind, t.handled])).toEqual([
      ['IoOut', true], ['IoIn', true], ['Hypercall', false], ['Hlt', false],
    ]);
    expect(vm.trace[0]!.text).toMatch(/^IoOut vcpu=0 rip=0x1000 port=0x80 size=1/);
  });

  it('self-modifying code: a store over the next instruction takes effect (decode cache invalidated)', () => {
    const vm = vmWith(nasm(`
      mov byte [rel patch + 1], 42
    patch: mov eax, 1
      hlt`));
    expect(vm.run().kind).toBe('Hlt');
    expect(vm.vcpus[0]!.getReg('rax')).toBe(42n);
    // Running the same code again after the host rewrites it: the new bytes execute.
    const v = vm.vcpus[0]!;
    vm.memory.writeBytes(CODE, nasm('mov eax, 9\nhlt'));
    v.rip = BigInt(CODE);
    v.halted = false;
    expect(vm.run().kind).toBe('Hlt');
    expect(v.getReg('rax')).toBe(9n);
  });

  it('one vCPU rewriting code another vCPU has already decoded', () => {
    const vm = new Vm({ vcpus: 2, quantum: 10 });
    vm.memory.addRam(0, 0x10000);
    // vCPU 0 loops "inc eax; jmp" at 0x1000; vCPU 1 then patches the inc into a hlt.
    vm.memory.writeBytes(0x1000, nasm('l: inc eax\njmp l', 64, 0x1000));
    vm.memory.writeBytes(0x2000, nasm('mov ecx, 100\nw: dec ecx\njnz w\nmov byte [0x1000], 0xf4\nhlt', 64, 0x2000));
    vm.vcpus[0]!.rip = 0x1000n;
    vm.vcpus[1]!.rip = 0x2000n;
    expect(vm.run()).toMatchObject({ kind: 'Hlt', vcpu: 1 });
    expect(vm.run()).toMatchObject({ kind: 'Hlt', vcpu: 0, rip: 0x1000n });
    expect(vm.cache.invalidations).toBeGreaterThan(0);
  });

  it('32-bit protected mode: push/call/ret use 32-bit stack slots, addresses wrap at 4 GiB', () => {
    const vm = vmWith(nasm(`
      call f
      hlt
    f: mov eax, [esp]
      ret`, 32), { mode: 'prot32' });
    vm.vcpus[0]!.setReg('rsp', 0x8000n);
    expect(vm.run().kind).toBe('Hlt');
    expect(vm.vcpus[0]!.getReg('rax')).toBe(BigInt(CODE + 5));
    expect(vm.vcpus[0]!.getReg('rsp')).toBe(0x8000n);
  });

  it('RDTSC is the retired-instruction count, advancing within a quantum', () => {
    const vm = vmWith(nasm('rdtsc\nmov ebx, eax\nrdtsc\nsub eax, ebx\nhlt'));
    expect(vm.run().kind).toBe('Hlt');
    expect(vm.vcpus[0]!.getReg('rax')).toBe(2n);
    expect(vm.vcpus[0]!.getReg('rbx')).toBe(0n);
  });
});
