// Cross-vendor hypercall instructions (ABI-FACTS §1.3): the foreign instruction #UDs; with the fix-hypercall
// quirk the host rewrites the 3 bytes to the native one (all vCPUs see it) and re-executes without advancing RIP.
import { describe, expect, it } from 'vitest';
import { VMCALL_BYTES, VMMCALL_BYTES } from '@pvkit/shared-abi';
import { CODE, hasNasm, nasm, vmWith } from './cpu-util.js';
import { Vm } from '../src/vm.js';

const LOOP = 'l: vmmcall\ndec ebx\njnz l\nhlt';

describe.skipIf(!hasNasm)('lazy #UD patching', () => {
  it('VMMCALL on Intel: first call = #UD(patched) + Hypercall, later calls = Hypercall only', () => {
    const vm = vmWith(nasm(LOOP), { trace: true });
    vm.vcpus[0]!.setReg('rbx', 3n);
    const exits: string[] = [];
    for (let i = 0; i < 4; i++) {
      const e = vm.run();
      exits.push(e.kind);
      if (e.kind === 'Hypercall') expect(e).toMatchObject({ insn: 'vmcall', rip: BigInt(CODE), cpl: 0, bits: 64 });
    }
    expect(exits).toEqual(['Hypercall', 'Hypercall', 'Hypercall', 'Hlt']);
    expect(vm.trace.map((t) => (t.kind === 'Exception' ? `UD(${t.handled})` : t.kind))).toEqual([
      'UD(true)', 'Hypercall', 'Hypercall', 'Hypercall', 'Hlt',
    ]);
    expect([...vm.memory.readBytes(CODE, 3)]).toEqual([...VMCALL_BYTES]);
    expect(vm.patchCounts.get(BigInt(CODE))).toBe(1);
  });

  it('VMCALL on AMD is patched to VMMCALL', () => {
    const vm = vmWith(nasm('vmcall\nhlt'), { vendor: 'amd' });
    expect(vm.run()).toMatchObject({ kind: 'Hypercall', insn: 'vmmcall' });
    expect([...vm.memory.readBytes(CODE, 3)]).toEqual([...VMMCALL_BYTES]);
  });

  it('two vCPUs running the same site: patched once, both see the native instruction', () => {
    const vm = vmWith(nasm(LOOP), { vcpus: 2, quantum: 1, trace: true });
    for (const v of vm.vcpus) v.setReg('rbx', 3n);
    // Let both vCPUs decode the site before anything is patched: vCPU 1 first runs a different entry.
    const kinds: string[] = [];
    for (;;) {
      const e = vm.run();
      kinds.push(`${e.kind}${e.vcpu}`);
      if (kinds.filter((k) => k.startsWith('Hlt')).length === 2) break;
    }
    expect(kinds.filter((k) => k.startsWith('Hypercall')).length).toBe(6);
    expect(vm.patchCounts.get(BigInt(CODE))).toBe(1);
    expect(vm.trace.filter((t) => t.kind === 'Exception').length).toBe(1);
  });

  it('with the quirk off the guest gets #UD and the bytes stay', () => {
    const vm = vmWith(nasm(LOOP), { fixHypercallInsn: false });
    const e = vm.run();
    expect(e).toMatchObject({ kind: 'Exception', vector: 6, rip: BigInt(CODE) });
    expect(e.kind === 'Exception' && e.message).toMatch(/VMMCALL on an Intel vCPU/);
    expect([...vm.memory.readBytes(CODE, 3)]).toEqual([...VMMCALL_BYTES]);
    expect(vm.patchCounts.size).toBe(0);
  });

  it('a foreign hypercall in the last 3 bytes before unmapped memory is patched and runs', () => {
    const vm = new Vm({ trace: true });
    vm.memory.addRam(0x1000, 0x1000);
    vm.memory.writeBytes(0x1ffd, VMMCALL_BYTES as number[]);
    vm.vcpus[0]!.rip = 0x1ffdn;
    expect(vm.run()).toMatchObject({ kind: 'Hypercall', insn: 'vmcall', rip: 0x1ffdn });
    // The next fetch (at 0x2000) faults: #PF with that address.
    expect(vm.run()).toMatchObject({ kind: 'Exception', vector: 14, address: 0x2000n });
    expect(vm.patchCounts.get(0x1ffdn)).toBe(1);
  });

  it('a hypercall at CPL 3 exits with cpl 3 (the personality decides how to refuse it)', () => {
    const vm = vmWith(nasm('vmcall\nhlt'));
    vm.vcpus[0]!.cpl = 3;
    expect(vm.run()).toMatchObject({ kind: 'Hypercall', cpl: 3 });
  });

  it('switching a vCPU to the other vendor re-patches on the next #UD', () => {
    const vm = vmWith(nasm(LOOP));
    vm.vcpus[0]!.setReg('rbx', 2n);
    expect(vm.run()).toMatchObject({ kind: 'Hypercall', insn: 'vmcall' });
    vm.vcpus[0]!.vendor = 'amd';
    expect(vm.run()).toMatchObject({ kind: 'Hypercall', insn: 'vmmcall' });
    expect([...vm.memory.readBytes(CODE, 3)]).toEqual([...VMMCALL_BYTES]);
    expect(vm.patchCounts.get(BigInt(CODE))).toBe(2);
  });
});

describe('lazy #UD patching at the canonical boundary', () => {
  it('a foreign hypercall in the last 3 bytes below 2^47 is patched and runs; the next fetch is #GP', () => {
    const vm = new Vm({ memory: { physBits: 48 } });
    const top = 2 ** 47;
    vm.memory.addRam(top - 0x1000, 0x1000);
    vm.memory.writeBytes(top - 3, VMMCALL_BYTES as number[]);
    vm.vcpus[0]!.rip = BigInt(top - 3);
    expect(vm.run()).toMatchObject({ kind: 'Hypercall', insn: 'vmcall', rip: BigInt(top - 3) });
    expect([...vm.memory.readBytes(top - 3, 3)]).toEqual([...VMCALL_BYTES]);
    expect(vm.run()).toMatchObject({ kind: 'Exception', vector: 13, address: BigInt(top) });
  });
});
