// The KVM backend on real /dev/kvm: the same guest bytes (nasm) on KVM and on the emulator with the same
// IoBusRouter setup must give the same port I/O trace and final registers; a spinning guest is bounded.
import { describe, expect, it } from 'vitest';
import { IoBusRouter } from '../src/bus/router.js';
import { runWithRouter } from '../src/backends/kvm/index.js';
import { hasNasm, nasm } from './cpu-util.js';
import { CODE, RecordingPio, emuWith, kvmMissing, kvmWith } from './kvm/harness.js';
import type { Exit } from '../src/exits.js';

const skip = kvmMissing !== undefined || !hasNasm;
if (!hasNasm) console.warn('kvm-backend.test: nasm missing, guest programs cannot be assembled');

const GPRS = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;

// Port I/O of every size, both directions, values folded into registers so the final state depends on them.
const PIO_GUEST = `
  mov dx, 0x3f0
  mov al, 0x5a
  out dx, al
  mov ax, 0x1234
  out dx, ax
  mov eax, 0xdeadbeef
  out dx, eax
  in al, dx
  movzx ebx, al
  in ax, dx
  movzx ecx, ax
  in eax, dx
  mov esi, eax
  mov r8, 0x1122334455667788
  add r8, rbx
  mov dx, 0x3f2
  out dx, al
  hlt
`;

function setup(): { router: IoBusRouter; dev: RecordingPio } {
  const router = new IoBusRouter();
  const dev = new RecordingPio([0xa5, 0xbeef, 0xcafef00d]);
  router.pio.register(0x3f0, 8, dev);
  return { router, dev };
}

describe.skipIf(skip)('KVM backend: 64-bit guest, port I/O', () => {
  it('same port I/O order/values and final registers as the emulator', async () => {
    const code = nasm(PIO_GUEST, 64, CODE);
    const k = setup();
    const kvm = await kvmWith(code);
    const kTrace: string[] = [];
    try {
      const ke = runWithRouter(kvm.vcpu(0), { router: k.router, timeoutMs: 2000, trace: (e) => kTrace.push(e.kind) });
      const e = setup();
      const emu = emuWith(code, { router: e.router });
      const ee = emu.run({ budget: 10_000 });
      expect(ke).toEqual(ee);
      expect(ke.kind).toBe('Hlt');
      expect(k.dev.log).toEqual(e.dev.log);
      expect(k.dev.log[0]).toBe('out 0/1 = 0x5a');
      for (const r of GPRS) expect({ r, v: kvm.vcpu(0).getReg(r) }).toEqual({ r, v: emu.vcpu(0).getReg(r) });
      expect(kvm.vcpu(0).rip).toBe(emu.vcpu(0).rip);
      expect(kvm.vcpu(0).getReg('rsi')).toBe(0xcafef00dn);
      expect(kTrace.filter((x) => x === 'IoOut').length).toBe(4);
    } finally {
      kvm.close();
    }
  });

  it('an unclaimed OUT returns IoOut with the data from kvm_run, like the emulator', async () => {
    const code = nasm('mov eax, 0x89abcdef\nmov dx, 0x80\nout dx, eax\nhlt', 64, CODE);
    const kvm = await kvmWith(code);
    try {
      const ke = kvm.vcpu(0).run({ timeoutMs: 2000 });
      const ee = emuWith(code).run({ budget: 100 });
      expect(ke).toEqual(ee);
      expect(ke).toMatchObject({ kind: 'IoOut', port: 0x80, size: 4, value: 0x89abcdef });
    } finally {
      kvm.close();
    }
  });

  it('a guest that spins forever comes back as a wall-clock BudgetExhausted exit', async () => {
    const kvm = await kvmWith(nasm('spin: jmp spin', 64, CODE));
    try {
      const t0 = performance.now();
      const e: Exit = kvm.vcpu(0).run({ timeoutMs: 100 });
      console.log(`kvm-backend: spin guest returned after ${(performance.now() - t0).toFixed(1)} ms (timeout 100 ms)`);
      expect(e).toMatchObject({ kind: 'BudgetExhausted', limit: 'wallclock', rip: BigInt(CODE) });
      // The vCPU is still usable: move it to a HLT and run again.
      kvm.writeBytes(CODE + 0x10, [0xf4]);
      kvm.vcpu(0).rip = BigInt(CODE + 0x10);
      expect(kvm.vcpu(0).run({ timeoutMs: 1000 })).toMatchObject({ kind: 'Hlt', rip: BigInt(CODE + 0x10) });
    } finally {
      kvm.close();
    }
  });

  it('string OUT (rep outsb) and prefixed OUTs: same elements in order and same exit addresses as the emulator', async () => {
    const src = `
      mov rsi, msg
      mov ecx, 5
      mov dx, 0x3f0
      rep outsb
      mov al, 1
      db 0x3e
      out dx, al
      db 0x2e
      out 0x80, al
      hlt
      msg: db 'hello'`;
    const code = nasm(src, 64, CODE);
    const k = setup();
    const kvm = await kvmWith(code);
    try {
      const kTrace: Exit[] = [];
      const ke = runWithRouter(kvm.vcpu(0), { router: k.router, timeoutMs: 2000, trace: (e) => kTrace.push(e) });
      const e = setup();
      const emu = emuWith(code, { router: e.router, trace: true });
      const ee = emu.run({ budget: 10_000 });
      expect(ke).toEqual(ee); // the unclaimed `out 0x80` behind a CS prefix: decoded back with iced-x86
      expect(ke).toMatchObject({ kind: 'IoOut', port: 0x80 });
      expect(k.dev.log).toEqual(e.dev.log);
      expect(k.dev.log.slice(0, 5)).toEqual([...'hello'].map((c) => `out 0/1 = 0x${c.charCodeAt(0).toString(16)}`));
      const kOuts = kTrace.filter((x) => x.kind === 'IoOut').map((x) => x.rip);
      const eOuts = emu.trace.filter((x) => x.kind === 'IoOut').map((x) => x.rip);
      expect(kOuts.at(-1)).toBe(eOuts.at(-1));
      expect(kOuts.at(-2)).toBe(eOuts.at(-2)); // DS-prefixed OUT DX, AL
      for (const r of GPRS) expect({ r, v: kvm.vcpu(0).getReg(r) }).toEqual({ r, v: emu.vcpu(0).getReg(r) });
    } finally {
      kvm.close();
    }
  });

  it('runWithRouter bounds a guest that does I/O and then spins', async () => {
    const kvm = await kvmWith(nasm('mov dx, 0x3f0\nout dx, al\nspin: jmp spin', 64, CODE));
    try {
      const k = setup();
      const e = runWithRouter(kvm.vcpu(0), { router: k.router, timeoutMs: 150 });
      expect(e).toMatchObject({ kind: 'BudgetExhausted', limit: 'wallclock' });
      expect(k.dev.log).toEqual(['out 0/1 = 0x0']);
    } finally {
      kvm.close();
    }
  });

  it('bad options and out-of-order completions fail with the field and the reason', async () => {
    await expect(kvmWith(new Uint8Array([0xf4]), { memory: [{ gpa: 0x123n, size: 0x1000 }] }))
      .rejects.toThrow(/KvmVmOptions\.memory: gpa 0x123 must be 4 KiB aligned/);
    await expect(kvmWith(new Uint8Array([0xf4]), { memory: [{ gpa: 0n, size: 0x1000 }, { gpa: 0n, size: 0x2000 }] }))
      .rejects.toThrow(/overlaps slot 0/);
    await expect(kvmWith(new Uint8Array([0xf4]), { systemGpa: 0x1000n })).rejects.toThrow(/KvmVmOptions\.systemGpa: .* overlaps slot 0/);
    await expect(kvmWith(new Uint8Array([0xf4]), { vcpus: 0 })).rejects.toThrow(/KvmVmOptions\.vcpus: 1\.\.255 expected, got 0/);
    const kvm = await kvmWith(nasm('in al, 0x60\nhlt', 64, CODE));
    try {
      expect(() => kvm.vcpu(0).completeIoIn(1)).toThrow(/not waiting for a IoIn answer \(waiting: nothing\)/);
      expect(kvm.vcpu(0).run({ timeoutMs: 2000 })).toMatchObject({ kind: 'IoIn', port: 0x60, size: 1 });
      expect(() => kvm.vcpu(0).completeMmioRead(1n)).toThrow(/not waiting for a MmioRead answer \(waiting: IoIn\)/);
      expect(() => kvm.vcpu(0).run()).toThrow(/previous IoIn exit was not completed/);
      kvm.vcpu(0).completeIoIn(0x42);
      expect(kvm.vcpu(0).run({ timeoutMs: 2000 }).kind).toBe('Hlt');
      expect(kvm.vcpu(0).getReg('rax')).toBe(0x42n);
      expect(() => kvm.vcpu(0).getReg('xmm0' as 'rax')).toThrow(/register xmm0: expected a GPR name or index 0\.\.15/);
      expect(() => kvm.readBytes(0x100000 - 2, 4)).toThrow(/kvmVm\.readBytes: \[0xffffe, \+4\) is not inside one RAM slot/);
    } finally {
      kvm.close();
    }
    expect(() => kvm.vcpu(0).run()).toThrow(/vcpu 0: closed/);
  });
});
