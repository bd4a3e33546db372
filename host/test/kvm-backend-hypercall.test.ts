// Hypercalls on real KVM. On kvm_pvm (software KVM) VMCALL/VMMCALL never come back from KVM_RUN: the bounded run
// must turn that into a wall-clock exit and leave the process alive. On hardware KVM an unknown hypercall number
// must answer -KVM_ENOSYS as the emulator's KvmPersonality does.
import { describe, expect, it } from 'vitest';
import { KvmPersonality } from '../src/hypervisor/kvm.js';
import { hasNasm, nasm } from './cpu-util.js';
import { CODE, backend, emuWith, kvmMissing, kvmWith } from './kvm/harness.js';

const usable = kvmMissing === undefined && hasNasm;
const insn = backend.vendor === 'amd' ? 'vmmcall' : 'vmcall';
const GUEST = `mov eax, 0xfff0\nxor ebx, ebx\n${insn}\nhlt`;

if (usable && backend.hypercallsComplete) console.log(`kvm-backend-hypercall: ${backend.reason}`);
if (usable && !backend.hypercallsComplete) console.warn(`kvm-backend-hypercall: SKIP hypercall result checks: ${backend.reason}`);

describe.skipIf(!usable)('KVM backend: hypercalls', () => {
  it('the backend kind is detected and named', () => {
    expect(['hardware', 'pvm', 'unknown']).toContain(backend.kind);
    expect(backend.reason.length).toBeGreaterThan(0);
  });

  it.runIf(backend.kind === 'pvm')('kvm_pvm: a VMCALL hangs KVM_RUN; the bounded run returns a wall-clock exit at the call', async () => {
    const kvm = await kvmWith(nasm(GUEST, 64, CODE));
    try {
      const e = kvm.vcpu(0).run({ timeoutMs: 200 });
      expect(e).toMatchObject({ kind: 'BudgetExhausted', limit: 'wallclock' });
      // RIP is at (or just past) the hypercall: the guest did reach it.
      expect(e.rip >= BigInt(CODE + 7) && e.rip <= BigInt(CODE + 10)).toBe(true);
    } finally {
      kvm.close();
    }
  });

  it.runIf(backend.hypercallsComplete)('hardware KVM: an unknown hypercall answers -KVM_ENOSYS like KvmPersonality', async () => {
    const code = nasm(GUEST, 64, CODE);
    const kvm = await kvmWith(code);
    try {
      expect(kvm.vcpu(0).run({ timeoutMs: 2000 }).kind).toBe('Hlt');
      const emu = emuWith(code, { vendor: backend.vendor });
      new KvmPersonality().attach(emu);
      expect(emu.run({ budget: 100 }).kind).toBe('Hlt');
      expect(kvm.vcpu(0).getReg('rax')).toBe(emu.vcpu(0).getReg('rax'));
      expect(kvm.vcpu(0).getReg('rax')).toBe(BigInt.asUintN(64, -1000n)); // linux/kvm_para.h KVM_ENOSYS 1000
    } finally {
      kvm.close();
    }
  });

  it('exitHypercalls enables KVM_CAP_EXIT_HYPERCALL with the mask KVM offers (KVM_HC_MAP_GPA_RANGE)', async () => {
    const kvm = await kvmWith(new Uint8Array([0xf4]), { exitHypercalls: true });
    try {
      expect(kvm.exitHypercallMask & (1n << 12n)).toBe(1n << 12n); // linux/kvm_para.h KVM_HC_MAP_GPA_RANGE 12
    } finally {
      kvm.close();
    }
  });

  it.runIf(backend.hypercallsComplete)('hardware KVM: KVM_HC_MAP_GPA_RANGE comes back as a Hypercall exit, answered by completeHypercall', async () => {
    const code = nasm(`mov eax, 12\nmov ebx, 0x100000\nmov ecx, 1\nxor edx, edx\n${insn}\nhlt`, 64, CODE);
    const kvm = await kvmWith(code, { exitHypercalls: true });
    try {
      const e = kvm.vcpu(0).run({ timeoutMs: 2000 });
      expect(e).toMatchObject({ kind: 'Hypercall', insn, bits: 64 });
      expect(kvm.vcpu(0).hypercallArgs().nr).toBe(12n);
      kvm.vcpu(0).completeHypercall(0n);
      expect(kvm.vcpu(0).run({ timeoutMs: 2000 }).kind).toBe('Hlt');
      expect(kvm.vcpu(0).getReg('rax')).toBe(0n);
    } finally {
      kvm.close();
    }
  });
});
