// Exits and faults: every guest action ends in a typed exit naming the vector, RIP and instruction.
import { describe, expect, it } from 'vitest';
import { CODE, hasNasm, nasm, vmWith } from './cpu-util.js';
import { describeExit, type Exit } from '../src/exits.js';
import { Vm } from '../src/vm.js';

function run(src: string, setup?: (vm: Vm) => void, opts = {}): { vm: Vm; exit: Exit } {
  const vm = vmWith(nasm(src, 64, CODE), opts);
  setup?.(vm);
  return { vm, exit: vm.run({ budget: 10_000 }) };
}

function exc(e: Exit): Extract<Exit, { kind: 'Exception' }> {
  if (e.kind !== 'Exception') throw new Error(`expected an Exception exit, got ${describeExit(e)}`);
  return e;
}

describe.skipIf(!hasNasm)('faults become Exception exits', () => {
  it('#DE on divide by zero and on quotient overflow, RIP at the DIV', () => {
    let r = run('xor ecx, ecx\nmov eax, 7\nxor edx, edx\ndiv ecx\nhlt');
    let e = exc(r.exit);
    expect(e.vector).toBe(0);
    expect(e.rip).toBe(BigInt(CODE + 2 + 5 + 2));
    expect(e.insn).toMatch(/^div /);
    r = run('mov edx, 5\nmov eax, 0\nmov ecx, 2\ndiv ecx\nhlt'); // 5:0 / 2 does not fit 32 bits
    expect(exc(r.exit).vector).toBe(0);
    r = run('mov rax, 0x8000000000000000\ncqo\nmov rcx, -1\nidiv rcx\nhlt'); // INT64_MIN / -1
    expect(exc(r.exit).vector).toBe(0);
  });

  it('#UD names the instruction and RIP: ud2, x87, syscall, invalid in 64-bit, LOCK on MOV', () => {
    for (const [src, re] of [
      ['ud2', /UD2: ud2 \[0f 0b\]/],
      ['fld1', /x87 \[d9 e8\]/],
      ['syscall', /syscall \[0f 05\]/],
      ['db 0x06', /invalid opcode: push es \[06\]/],
      ['db 0xf0, 0x89, 0x03', /LOCK prefix not allowed: lock mov \[f0 89 03\]/],
    ] as const) {
      const e = exc(run(`nop\n${src}`).exit);
      expect(e.vector, src).toBe(6);
      expect(e.rip).toBe(BigInt(CODE + 1));
      expect(e.message).toMatch(re);
    }
  });

  it('privileged instructions at CPL 3 raise #GP(0)', () => {
    for (const src of ['hlt', 'cli', 'sti', 'in al, 0x80', 'out dx, eax', 'rdmsr', 'wrmsr', 'insb']) {
      const { exit } = run(src, (vm) => { vm.vcpus[0]!.cpl = 3; });
      const e = exc(exit);
      expect(e.vector, src).toBe(13);
      expect(e.errorCode).toBe(0);
    }
    // IOPL 3 lets CPL 3 do port I/O (the exit is an IoOut, not a fault).
    const { exit } = run('out 0x80, al\nhlt', (vm) => { vm.vcpus[0]!.cpl = 3; vm.vcpus[0]!.rflags = 0x3002n; });
    expect(exit.kind).toBe('IoOut');
  });

  it('fetch from unmapped memory is #PF with the address; an instruction straddling the end faults there', () => {
    const vm = new Vm();
    vm.memory.addRam(0x1000, 0x1000);
    // mov eax, imm32 (5 bytes) starting 3 bytes before the end of RAM.
    vm.memory.writeBytes(0x1ffd, [0xb8, 0x11, 0x22]);
    vm.vcpus[0]!.rip = 0x1ffdn;
    const e = exc(vm.run());
    expect(e.vector).toBe(14);
    expect(e.address).toBe(0x2000n);
    expect(e.rip).toBe(0x1ffdn);
    vm.vcpus[0]!.rip = 0x5000n;
    expect(exc(vm.run()).address).toBe(0x5000n);
  });

  it('an instruction ending exactly at the end of RAM runs; fetch crossing the canonical boundary is #GP', () => {
    const vm = new Vm({ memory: { physBits: 48 } });
    const top = 2 ** 47;
    vm.memory.addRam(top - 0x1000, 0x1000);
    vm.memory.writeBytes(top - 4, [0x90, 0x0f, 0x01, 0xc1]); // nop; vmcall (last 3 bytes before 2^47)
    vm.vcpus[0]!.rip = BigInt(top - 4);
    const h = vm.run();
    expect(h.kind).toBe('Hypercall');
    expect(h.rip).toBe(BigInt(top - 3));
    vm.memory.writeBytes(top - 2, [0xb8, 0x00]); // mov eax, imm32 crossing 2^47
    vm.vcpus[0]!.rip = BigInt(top - 2);
    const e = exc(vm.run());
    expect(e.vector).toBe(13);
    expect(e.address).toBe(BigInt(top));
  });

  it('non-canonical data addresses: #GP, or #SS when the stack is involved', () => {
    let e = exc(run('mov rax, [rbx]\nhlt', (vm) => vm.vcpus[0]!.setReg('rbx', 0x0000800000000000n)).exit);
    expect(e.vector).toBe(13);
    expect(e.address).toBe(0x0000800000000000n);
    e = exc(run('mov rax, [rbp+8]\nhlt', (vm) => vm.vcpus[0]!.setReg('rbp', 0x1234000000000000n)).exit);
    expect(e.vector).toBe(12);
    e = exc(run('push rax\nhlt', (vm) => vm.vcpus[0]!.setReg('rsp', 0x8000000000000000n)).exit);
    expect(e.vector).toBe(12);
    e = exc(run('jmp rax', (vm) => vm.vcpus[0]!.setReg('rax', 0x0001000000000000n)).exit);
    expect(e.vector).toBe(13);
    expect(e.rip).toBe(BigInt(CODE));
    // Canonical but beyond guest-physical memory: #PF with the address.
    e = exc(run('mov rax, [rbx]\nhlt', (vm) => vm.vcpus[0]!.setReg('rbx', 0xffff800000001000n)).exit);
    expect(e.vector).toBe(14);
    expect(e.address).toBe(0xffff800000001000n);
  });

  it('INT3 is a trap (RIP past it), over-long instructions #GP', () => {
    const { vm, exit } = run('int3\nhlt');
    expect(exc(exit).vector).toBe(3);
    expect(vm.vcpus[0]!.rip).toBe(BigInt(CODE + 1));
    expect(vm.run().kind).toBe('Hlt');
    const e = exc(run('db 0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66,0x66\nnop').exit);
    expect(e.vector).toBe(13);
  });
});

describe.skipIf(!hasNasm)('exits that wait for the caller', () => {
  it('IoIn without a router: exit, completeIoIn, the instruction finishes with the value', () => {
    const { vm, exit } = run('mov eax, 0xffffffff\nmov dx, 0x3f8\nin al, dx\nhlt');
    expect(exit).toMatchObject({ kind: 'IoIn', port: 0x3f8, size: 1, vcpu: 0 });
    const v = vm.vcpus[0]!;
    expect(vm.run().kind).toBe('IoIn'); // no answer yet: the same exit again
    v.completeIoIn(0x5a);
    expect(vm.run().kind).toBe('Hlt');
    expect(v.getReg('rax')).toBe(0xffffff5an);
    expect(() => v.completeIoIn(1)).toThrow(/not waiting for a IoIn answer/);
  });

  it('IoOut and unbacked MMIO writes complete the instruction, then exit with the value', () => {
    const { vm, exit } = run('mov eax, 0x12345678\nout 0x80, ax\nmov [rbx], eax\nhlt', (vm) => vm.vcpus[0]!.setReg('rbx', 0xd0000000n));
    expect(exit).toMatchObject({ kind: 'IoOut', port: 0x80, size: 2, value: 0x5678 });
    expect(vm.run()).toMatchObject({ kind: 'MmioWrite', gpa: 0xd0000000n, size: 4, value: 0x12345678n });
    expect(vm.run().kind).toBe('Hlt');
  });

  it('MmioRead from an unbacked address: completeMmioRead feeds the load', () => {
    const { vm, exit } = run('mov rax, [rbx]\nhlt', (vm) => vm.vcpus[0]!.setReg('rbx', 0xd0000010n));
    expect(exit).toMatchObject({ kind: 'MmioRead', gpa: 0xd0000010n, size: 8 });
    vm.vcpus[0]!.completeMmioRead(0x0102030405060708n);
    expect(vm.run().kind).toBe('Hlt');
    expect(vm.vcpus[0]!.getReg('rax')).toBe(0x0102030405060708n);
  });

  it('CPUID default answers: vendor per vCPU vendor, hypervisor bit only with hooks', () => {
    const sig = (vm: Vm): string => {
      const v = vm.vcpus[0]!;
      const b = Buffer.alloc(12);
      b.writeUInt32LE(Number(v.getReg('rbx')), 0);
      b.writeUInt32LE(Number(v.getReg('rdx')), 4);
      b.writeUInt32LE(Number(v.getReg('rcx')), 8);
      return b.toString('latin1');
    };
    const prog = 'xor eax, eax\ncpuid\nhlt';
    let r = run(prog);
    expect(sig(r.vm)).toBe('GenuineIntel');
    r = run(prog, undefined, { vendor: 'amd' });
    expect(sig(r.vm)).toBe('AuthenticAMD');
    const leaf1 = 'mov eax, 1\ncpuid\nhlt';
    r = run(leaf1);
    expect((r.vm.vcpus[0]!.getReg('rcx') >> 31n) & 1n).toBe(0n);
    r = run(leaf1, undefined, { hooks: {} });
    expect((r.vm.vcpus[0]!.getReg('rcx') >> 31n) & 1n).toBe(1n);
    // A cpuid hook that declines: Cpuid exit, completed by the caller.
    r = run('mov eax, 0x40000000\ncpuid\nhlt', undefined, { hooks: { cpuid: () => undefined } });
    expect(r.exit).toMatchObject({ kind: 'Cpuid', leaf: 0x40000000, subleaf: 0 });
    r.vm.vcpus[0]!.completeCpuid({ eax: 1, ebx: 2, ecx: 3, edx: 4 });
    expect(r.vm.run().kind).toBe('Hlt');
    expect(r.vm.vcpus[0]!.getReg('rbx')).toBe(2n);
  });

  it('MSRs: unknown -> #GP without hooks; FS base via WRMSR is used by fs: accesses; hooks answer or exit', () => {
    let r = run('mov ecx, 0x12345\nrdmsr\nhlt');
    expect(exc(r.exit).vector).toBe(13);
    r = run('mov ecx, 0xc0000100\nmov eax, 0x10000\nxor edx, edx\nwrmsr\nmov rax, [fs:0x28]\nhlt', (vm) => vm.memory.writeU64(0x10028, 0xabcdefn));
    expect(r.exit.kind).toBe('Hlt');
    expect(r.vm.vcpus[0]!.getReg('rax')).toBe(0xabcdefn);
    const seen: [number, bigint][] = [];
    r = run('mov ecx, 0x4b564d00\nrdmsr\nmov ecx, 0x4b564d01\nwrmsr\nmov ecx, 0x4b564d02\nwrmsr\nhlt', undefined, {
      hooks: {
        rdmsr: (_v: unknown, i: number) => (i === 0x4b564d00 ? 0x1122334455667788n : undefined),
        wrmsr: (_v: unknown, i: number, val: bigint) => { seen.push([i, val]); return i === 0x4b564d01 ? 'ok' : undefined; },
      },
    });
    expect(r.exit).toMatchObject({ kind: 'Wrmsr', index: 0x4b564d02, value: 0x1122334455667788n });
    expect(seen[0]).toEqual([0x4b564d01, 0x1122334455667788n]);
    expect(r.vm.run().kind).toBe('Hlt');
  });

  it('hypercall: exit with insn/bits/cpl when no hook handles it; a hook can answer through registers', () => {
    let r = run('mov eax, 5\nvmcall\nhlt');
    expect(r.exit).toMatchObject({ kind: 'Hypercall', insn: 'vmcall', bits: 64, cpl: 0, rip: BigInt(CODE + 5) });
    expect(r.vm.vcpus[0]!.rip).toBe(BigInt(CODE + 8)); // completed: RIP past it
    r = run('mov eax, 5\nvmcall\nhlt', undefined, {
      hooks: { hypercall: (v: { setReg(r: string, x: bigint): void }) => { v.setReg('rax', 42n); return 'handled'; } },
    });
    expect(r.exit.kind).toBe('Hlt');
    expect(r.vm.vcpus[0]!.getReg('rax')).toBe(42n);
  });
});

describe.skipIf(!hasNasm)('32-bit protected mode addressing', () => {
  it('0x67 selects 16-bit ModRM addressing (BX+SI+disp, BP+DI, disp16) with 16-bit wrap', () => {
    const vm = vmWith(nasm(`
      a16 mov eax, [bx+si+4]
      a16 mov ecx, [bp+di]
      a16 mov edx, [0x9010]
      a16 mov [bx+si-2], dl
      hlt`, 32), { mode: 'prot32' });
    const v = vm.vcpus[0]!;
    v.setReg('rbx', 0xffff9000n); // upper half ignored by 16-bit addressing
    v.setReg('rsi', 0x8n);
    v.setReg('rbp', 0x9000n);
    v.setReg('rdi', 0x20n);
    vm.memory.writeBytes(0x9000, Uint8Array.from({ length: 64 }, (_, i) => i));
    expect(vm.run().kind).toBe('Hlt');
    expect(v.getReg('rax')).toBe(0x0f0e0d0cn);
    expect(v.getReg('rcx')).toBe(0x23222120n);
    expect(v.getReg('rdx')).toBe(0x13121110n);
    expect(vm.memory.readBytes(0x9006, 1)[0]).toBe(0x10);
  });
});
