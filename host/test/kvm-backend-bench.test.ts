// Rough cost of a userspace port I/O exit on this KVM (for the bench report): printed, never asserted.
import { describe, expect, it } from 'vitest';
import { IoBusRouter } from '../src/bus/router.js';
import { runWithRouter } from '../src/backends/kvm/index.js';
import { hasNasm, nasm } from './cpu-util.js';
import { CODE, RecordingPio, backend, kvmMissing, kvmWith } from './kvm/harness.js';

const N = 20_000;

describe.skipIf(kvmMissing !== undefined || !hasNasm)('KVM backend: PIO exit latency', () => {
  it(`${N} OUT exits through run() + the router, and through the raw ioctl`, async () => {
    const src = `mov ecx, ${N}\nmov dx, 0x3f0\nl: out dx, al\ndec ecx\njnz l\nhlt`;
    const kvm = await kvmWith(nasm(src, 64, CODE));
    try {
      const router = new IoBusRouter();
      const dev = new RecordingPio();
      dev.write = () => {}; // no logging cost
      router.pio.register(0x3f0, 8, dev);
      const t0 = performance.now();
      const e = runWithRouter(kvm.vcpu(0), { router, timeoutMs: 60_000 });
      const routed = (performance.now() - t0) / N;
      expect(e.kind).toBe('Hlt');
      expect(router.stats.pioWrite).toBe(N);
      // Raw: KVM_RUN only (no register read, no Exit object), same guest again.
      const v = kvm.vcpu(0);
      v.rip = BigInt(CODE);
      v.registers(); // flush pending state via the next run
      const run = kvm.libc;
      v.run({ timeoutMs: 1000 }); // first OUT (also writes regs)
      const t1 = performance.now();
      for (let i = 1; i < N; i++) run.run(v.fd, 0xae80); // linux/kvm.h KVM_RUN
      const raw = (performance.now() - t1) / (N - 1);
      console.log(`kvm-backend bench (${backend.kind} KVM): PIO exit round trip ${(routed * 1000).toFixed(2)} us via run()+router, ${(raw * 1000).toFixed(2)} us raw KVM_RUN ioctl from JS`);
    } finally {
      kvm.close();
    }
  });

  it(`${N} MMIO write exits through run() + the router (store decoded back for Exit.rip)`, async () => {
    const src = `mov ecx, ${N}\nmov rbx, 0x200000\nl: mov dword [rbx + 8], ecx\ndec ecx\njnz l\nhlt`;
    const kvm = await kvmWith(nasm(src, 64, CODE));
    try {
      const router = new IoBusRouter();
      let writes = 0;
      router.mmio.register(0x200000n, 0x1000n, { name: 'sink', read: () => 0n, write: () => { writes++; } });
      const t0 = performance.now();
      expect(runWithRouter(kvm.vcpu(0), { router, timeoutMs: 60_000 }).kind).toBe('Hlt');
      const per = (performance.now() - t0) / N;
      expect(writes).toBe(N);
      console.log(`kvm-backend bench (${backend.kind} KVM): MMIO write exit round trip ${(per * 1000).toFixed(2)} us via run()+router`);
    } finally {
      kvm.close();
    }
  });
});
