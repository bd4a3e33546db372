// Snapshot -> JSON -> restore -> run gives the same results as an uninterrupted run (property over the split
// point); restoring onto the other vendor re-patches hypercall sites on #UD.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { VMCALL_BYTES, VMMCALL_BYTES } from '@pvkit/shared-abi';
import { CODE, hasNasm, nasm, vmWith } from './cpu-util.js';
import { Vm } from '../src/vm.js';
import type { VmSnapshot } from '../src/vm/snapshot.js';

const PROGRAM = `
  mov ecx, 200
l: mov rax, 6364136223846793005
  imul rbx, rax
  mov rdx, 1442695040888963407
  add rbx, rdx
  mov [rdi], rbx
  add rdi, 8
  mov eax, 1
  lock xadd [0x9000], eax
  test ecx, 31
  jnz skip
  out 0x80, eax
  vmmcall
skip:
  dec ecx
  jnz l
  hlt`;

function fresh(): Vm {
  const vm = vmWith(nasm(PROGRAM), { vcpus: 3, quantum: 37 });
  vm.vcpus.forEach((v, i) => {
    v.setReg('rbx', BigInt(i + 1) * 0x9e3779b97f4a7c15n);
    v.setReg('rdi', BigInt(0x20000 + i * 0x2000));
  });
  return vm;
}

const total = (vm: Vm): number => vm.vcpus.reduce((s, v) => s + v.icount, 0);

/** Run to completion, logging every exit but BudgetExhausted; optionally migrate through JSON at `split`. */
function drive(vm0: Vm, split?: number): { vm: Vm; log: string[] } {
  let vm = vm0;
  const log: string[] = [];
  let migrated = split === undefined;
  for (let guard = 0; guard < 10_000; guard++) {
    const budget = migrated ? 1_000_000 : split! - total(vm);
    if (!migrated && budget <= 0) {
      const json = JSON.stringify(vm.snapshot({ note: 'device state goes here' }));
      const snap = JSON.parse(json) as VmSnapshot;
      expect(snap.extra).toEqual({ note: 'device state goes here' });
      vm = Vm.restore(snap);
      migrated = true;
      continue;
    }
    const e = vm.run({ budget });
    if (e.kind === 'BudgetExhausted') continue;
    log.push(`${e.kind}:${e.vcpu}:${e.rip.toString(16)}`);
    if (e.kind === 'Hlt' && vm.vcpus.every((v) => v.halted)) return { vm, log };
  }
  throw new Error('did not finish');
}

describe.skipIf(!hasNasm)('snapshot / restore', () => {
  it('snapshot -> JSON -> restore -> run equals an uninterrupted run, wherever the split falls', () => {
    const ref = drive(fresh());
    const refRegs = ref.vm.vcpus.map((v) => Array.from({ length: 16 }, (_, i) => v.getReg(i)));
    const refMem = ref.vm.memory.readBytes(0x9000, 0x20000);
    expect(ref.log.filter((l) => l.startsWith('Hypercall')).length).toBe(3 * 6);
    expect(ref.vm.memory.readU32(0x9000)).toBe(600);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: total(ref.vm) - 1 }), (split) => {
        const got = drive(fresh(), split);
        expect(got.log).toEqual(ref.log);
        expect(got.vm.vcpus.map((v) => Array.from({ length: 16 }, (_, i) => v.getReg(i)))).toEqual(refRegs);
        expect(got.vm.memory.readBytes(0x9000, 0x20000)).toEqual(refMem);
        expect([...got.vm.patchCounts]).toEqual([...ref.vm.patchCounts]);
      }),
      { numRuns: 15, seed: 42 },
    );
  });

  it('an exit waiting for an answer survives the snapshot', () => {
    const vm = vmWith(nasm('in eax, 0x60\nhlt'));
    expect(vm.run().kind).toBe('IoIn');
    const vm2 = Vm.restore(JSON.parse(JSON.stringify(vm.snapshot())) as VmSnapshot);
    expect(vm2.vcpus[0]!.awaiting).toMatchObject({ kind: 'IoIn', port: 0x60, rip: BigInt(CODE) });
    vm2.vcpus[0]!.completeIoIn(0xabcd);
    expect(vm2.run().kind).toBe('Hlt');
    expect(vm2.vcpus[0]!.getReg('rax')).toBe(0xabcdn);
  });

  it('restore onto the other vendor: patched sites #UD and are patched again; the hypervisor hook runs once', () => {
    const vm = vmWith(nasm('l: vmmcall\njmp l'));
    expect(vm.run()).toMatchObject({ kind: 'Hypercall', insn: 'vmcall' }); // Intel: patched to VMCALL
    expect([...vm.memory.readBytes(CODE, 3)]).toEqual([...VMCALL_BYTES]);
    const calls: string[] = [];
    const amd = Vm.restore(JSON.parse(JSON.stringify(vm.snapshot())) as VmSnapshot, {
      vendor: 'amd', onVendorChange: (_vm, from, to) => calls.push(`${from}->${to}`),
    });
    expect(calls).toEqual(['intel->amd']);
    expect(amd.run()).toMatchObject({ kind: 'Hypercall', insn: 'vmmcall', rip: BigInt(CODE) });
    expect([...amd.memory.readBytes(CODE, 3)]).toEqual([...VMMCALL_BYTES]);
    expect(amd.patchCounts.get(BigInt(CODE))).toBe(2);
    expect(amd.patches.map((p) => p.to)).toEqual(['vmcall', 'vmmcall']);
    expect(amd.run()).toMatchObject({ kind: 'Hypercall', insn: 'vmmcall' }); // no further patch
    expect(amd.patchCounts.get(BigInt(CODE))).toBe(2);
  });

  it('rejects a snapshot of another version or with bad fields, naming the field', () => {
    const vm = vmWith(nasm('hlt'));
    const snap = vm.snapshot();
    expect(() => Vm.restore({ ...snap, version: 2 } as unknown as VmSnapshot)).toThrow(/snapshot version: this engine reads version 1/);
    const bad = { ...snap, vcpus: [{ ...snap.vcpus[0]!, rip: 'zz' }] };
    expect(() => Vm.restore(bad)).toThrow(/snapshot vcpus\[0\]\.rip: expected a hex string/);
  });
});
