// Differential tests, real KVM vs the emulator, same guest bytes (nasm) and same IoBusRouter setup: MMIO,
// the pvtest device, CPUID leaf 0x40000000 (real KVM vs KvmPersonality), ioeventfd counts, unknown MSRs and a
// 32-bit protected-mode guest.
import { describe, expect, it } from 'vitest';
import { IoBusRouter } from '../src/bus/router.js';
import { DoorbellSet } from '../src/bus/doorbell.js';
import { PvTestDevice } from '../src/devices/pvtest.js';
import { PvtestControl, PvtestReg, PvtestRing, PVTEST_ID_VALUE, PVTEST_WINDOW } from '../src/devices/pvtest-regs.js';
import { KvmPersonality } from '../src/hypervisor/kvm.js';
import { runWithRouter, type KvmVm } from '../src/backends/kvm/index.js';
import type { Vm } from '../src/vm.js';
import type { Exit } from '../src/exits.js';
import { MSR_KVM } from '@pvkit/shared-abi';
import { hasNasm, nasm } from './cpu-util.js';
import { CODE, GPRS64, RecordingMmio, RecordingPio, emuWith, kvmMissing, kvmWith } from './kvm/harness.js';

const skip = kvmMissing !== undefined || !hasNasm;
if (!hasNasm) console.warn('kvm-backend-devices.test: nasm missing, guest programs cannot be assembled');

const MMIO = 0x200000; // outside the 1 MiB of RAM: MMIO on both backends

function sameRegs(kvm: KvmVm, emu: Vm, names: readonly string[] = GPRS64): void {
  for (const r of names) {
    expect({ r, v: kvm.vcpu(0).getReg(r as 'rax') }).toEqual({ r, v: emu.vcpu(0).getReg(r as 'rax') });
  }
  expect(kvm.vcpu(0).rip).toBe(emu.vcpu(0).rip);
}

async function both(
  src: string, setup: () => IoBusRouter, opts: { bits?: 32 | 64; kvmExtra?: (k: KvmVm, r: IoBusRouter) => void } = {},
): Promise<{ kvm: KvmVm; emu: Vm; ke: Exit; ee: Exit; kr: IoBusRouter; er: IoBusRouter }> {
  const bits = opts.bits ?? 64;
  const code = nasm(src, bits, CODE);
  const mode = bits === 64 ? 'long64' : 'prot32';
  const kr = setup();
  const kvm = await kvmWith(code, { mode });
  opts.kvmExtra?.(kvm, kr);
  const ke = runWithRouter(kvm.vcpu(0), { router: kr, timeoutMs: 2000 });
  const er = setup();
  const emu = emuWith(code, { router: er, mode });
  const ee = emu.run({ budget: 100_000 });
  return { kvm, emu, ke, ee, kr, er };
}

describe.skipIf(skip)('KVM backend vs emulator: devices', () => {
  it('MMIO reads and writes of 1, 2, 4 and 8 bytes reach the same device in the same order', async () => {
    let dev!: RecordingMmio;
    const setup = () => {
      const r = new IoBusRouter();
      dev = new RecordingMmio();
      r.mmio.register(BigInt(MMIO), 0x1000n, dev);
      return r;
    };
    const src = `
      mov byte [${MMIO}], 0x11
      mov word [${MMIO + 2}], 0x2222
      mov dword [${MMIO + 4}], 0x33333333
      mov rax, 0x4444444455555555
      mov [${MMIO + 8}], rax
      mov rbx, ${MMIO}
      mov dword [rbx + 0x20], 0x66
      movzx ecx, byte [${MMIO + 0x10}]
      movzx edx, word [${MMIO + 0x12}]
      mov esi, [${MMIO + 0x14}]
      mov rdi, [rbx + 0x18]
      hlt`;
    const { kvm, emu, ke, ee } = await both(src, setup);
    const kLog = [...dev.log];
    try {
      expect(ke).toEqual(ee);
      expect(ke.kind).toBe('Hlt');
      sameRegs(kvm, emu);
      // dev now belongs to the emulator run; compare with the KVM run's copy.
      expect(kLog).toEqual(dev.log);
      expect(kLog).toHaveLength(9);
      expect(kLog[3]).toBe('write 0x8/8 = 0x4444444455555555');
    } finally {
      kvm.close();
    }
  });

  it('unclaimed MMIO exits carry the instruction address, GPA, size and value like the emulator', async () => {
    const code = nasm(`mov rbx, ${MMIO}\nmov dword [rbx + 0x40], 0xabcd\nmov eax, [rbx + 0x44]\nhlt`, 64, CODE);
    const kvm = await kvmWith(code);
    try {
      const emu = emuWith(code);
      const w = kvm.vcpu(0).run({ timeoutMs: 2000 });
      expect(w).toEqual(emu.run({ budget: 100 }));
      expect(w).toMatchObject({ kind: 'MmioWrite', gpa: BigInt(MMIO + 0x40), size: 4, value: 0xabcdn });
      const r = kvm.vcpu(0).run({ timeoutMs: 2000 });
      expect(r).toEqual(emu.run({ budget: 100 }));
      kvm.vcpu(0).completeMmioRead(0xfeedbeefn);
      emu.vcpu(0).completeMmioRead(0xfeedbeefn);
      expect(kvm.vcpu(0).run({ timeoutMs: 2000 })).toEqual(emu.run({ budget: 100 }));
      sameRegs(kvm, emu);
      expect(kvm.vcpu(0).getReg('rax')).toBe(0xfeedbeefn);
    } finally {
      kvm.close();
    }
  });

  it('the pvtest device driven by port I/O and MMIO gives the same register values, output and trace', async () => {
    const devs: PvTestDevice[] = [];
    let mem: { readBytes(g: bigint, l: number): Uint8Array; writeBytes(g: bigint, d: Uint8Array): void } | undefined;
    const setup = () => {
      const r = new IoBusRouter();
      const d = new PvTestDevice('pvtest', {
        readBytes: (g, l) => mem!.readBytes(g, l),
        writeBytes: (g, b) => mem!.writeBytes(g, b),
      });
      d.pushInput([0x41, 0x42, 0x43, 0x44, 0x45]);
      r.pio.register(0x600, PVTEST_WINDOW, d.pio);
      r.mmio.register(BigInt(MMIO), BigInt(PVTEST_WINDOW), d.mmio);
      devs.push(d);
      return r;
    };
    const P = (reg: number) => 0x600 + reg;
    const src = `
      mov dx, ${P(PvtestReg.ID)}
      in eax, dx
      mov r8d, eax
      mov r9d, [${MMIO + PvtestReg.ID}]
      mov dx, ${P(PvtestReg.DATA_OUT)}
      mov al, 'h'
      out dx, al
      mov dword [${MMIO + PvtestReg.DATA_OUT}], 0x21216b6f
      mov dx, ${P(PvtestReg.DATA_IN)}
      in ax, dx
      movzx r10d, ax
      mov r11d, [${MMIO + PvtestReg.IN_COUNT}]
      mov r12d, [${MMIO + PvtestReg.OUT_COUNT}]
      mov dx, ${P(PvtestReg.DOORBELL)}
      out dx, al
      mov r13d, [${MMIO + PvtestReg.NOTIFIES}]
      hlt`;
    const code = nasm(src, 64, CODE);
    const kr = setup();
    const kvm = await kvmWith(code);
    try {
      mem = kvm;
      const ke = runWithRouter(kvm.vcpu(0), { router: kr, timeoutMs: 2000 });
      const er = setup();
      const emu = emuWith(code, { router: er });
      mem = { readBytes: (g, l) => emu.memory.readBytes(g, l), writeBytes: (g, b) => emu.memory.writeBytes(g, b) };
      const ee = emu.run({ budget: 10_000 });
      expect(ke).toEqual(ee);
      sameRegs(kvm, emu);
      expect(kvm.vcpu(0).getReg('r8')).toBe(BigInt(PVTEST_ID_VALUE));
      expect(kvm.vcpu(0).getReg('r9')).toBe(BigInt(PVTEST_ID_VALUE));
      expect(devs[0]!.outputText()).toBe('hok!!');
      expect(devs[0]!.outputText()).toBe(devs[1]!.outputText());
      expect(devs[0]!.trace).toEqual(devs[1]!.trace);
    } finally {
      kvm.close();
    }
  });

  it('CPUID 0x40000000 on real KVM says "KVMKVMKVM", as the emulator\'s KvmPersonality does', async () => {
    const src = 'mov eax, 0x40000000\nxor ecx, ecx\ncpuid\nhlt';
    const code = nasm(src, 64, CODE);
    const kvm = await kvmWith(code);
    try {
      expect(kvm.vcpu(0).run({ timeoutMs: 2000 }).kind).toBe('Hlt');
      const emu = emuWith(code);
      new KvmPersonality().attach(emu);
      expect(emu.run({ budget: 100 }).kind).toBe('Hlt');
      const sig = (get: (r: 'rbx' | 'rcx' | 'rdx') => bigint) => {
        const b = Buffer.alloc(12);
        b.writeUInt32LE(Number(get('rbx')), 0);
        b.writeUInt32LE(Number(get('rcx')), 4);
        b.writeUInt32LE(Number(get('rdx')), 8);
        return b.toString('latin1');
      };
      const k = sig((r) => kvm.vcpu(0).getReg(r));
      expect(k).toBe('KVMKVMKVM\0\0\0');
      expect(sig((r) => emu.vcpu(0).getReg(r))).toBe(k);
      // Max hypervisor leaf: logged, not compared (real KVM advertises the leaves it implements, e.g. 0x40000001).
      console.log(`kvm-backend: CPUID.40000000.EAX real KVM 0x${kvm.vcpu(0).getReg('rax').toString(16)}, emulator 0x${emu.vcpu(0).getReg('rax').toString(16)}`);
      expect(kvm.cpuid.some((e) => e.fn === 0x40000000)).toBe(true);
    } finally {
      kvm.close();
    }
  });

  it('doorbells as real ioeventfds: matching writes never exit and the eventfd counts equal the emulator\'s signals', async () => {
    let pio!: RecordingPio;
    const specs = [
      { space: 'pio' as const, addr: 0x510, len: 2, datamatch: 0x1n, fd: 0 },
      { space: 'mmio' as const, addr: MMIO + 0x100, len: 4, fd: 1 },
      { space: 'mmio' as const, addr: MMIO + 0x200, len: 0, fd: 2 },
    ];
    const setup = () => {
      const set = new DoorbellSet();
      for (const s of specs) expect(set.assign(s).errno).toBe(0);
      const r = new IoBusRouter({ doorbells: set });
      pio = new RecordingPio();
      r.pio.register(0x510, 4, pio);
      return r;
    };
    const src = `
      mov dx, 0x510
      mov ax, 1
      out dx, ax
      out dx, ax
      mov ax, 2
      out dx, ax
      mov ax, 1
      out dx, ax
      mov dword [${MMIO + 0x100}], 7
      mov dword [${MMIO + 0x100}], 8
      mov byte [${MMIO + 0x200}], 1
      mov dword [${MMIO + 0x200}], 9
      mov qword [${MMIO + 0x200}], 0
      hlt`;
    let fds: ReturnType<KvmVm['ioeventfds']['mirror']> = [];
    const { kvm, ke, ee, kr, er } = await both(src, setup, {
      kvmExtra: (k, r) => { fds = k.ioeventfds.mirror((r as IoBusRouter).doorbells); },
    });
    try {
      expect(ke).toEqual(ee);
      const counts = fds.map((h) => kvm.ioeventfds.read(h));
      const signals = er.doorbells.list().map((d) => BigInt(d.signals));
      expect(counts).toEqual([3n, 2n, 3n]);
      expect(counts).toEqual(signals);
      // Only the non-matching OUT reached userspace, on both backends.
      expect(kr.stats.pioWrite).toBe(er.stats.pioWrite);
      expect(pio.log).toEqual(['out 0/2 = 0x2']);
      expect(kvm.ioeventfds.read(fds[0]!)).toBe(0n); // reading resets the counter
    } finally {
      kvm.close();
    }
  });

  it('an unknown MSR exits to userspace (KVM_CAP_X86_USER_SPACE_MSR) like the emulator with an undecided hook', async () => {
    const src = 'mov ecx, 0x4b564dfe\nrdmsr\nmov r8, rax\nmov r9, rdx\nmov eax, 0x89abcdef\nmov edx, 0x01234567\nwrmsr\nhlt';
    const code = nasm(src, 64, CODE);
    const kvm = await kvmWith(code);
    try {
      expect(kvm.userSpaceMsr).toBe(true);
      const emu = emuWith(code, { hooks: { rdmsr: () => undefined, wrmsr: () => undefined } });
      const kr = kvm.vcpu(0).run({ timeoutMs: 2000 });
      expect(kr).toEqual(emu.run({ budget: 100 }));
      expect(kr).toMatchObject({ kind: 'Rdmsr', index: 0x4b564dfe });
      kvm.vcpu(0).completeRdmsr(0x1122334455667788n);
      emu.vcpu(0).completeRdmsr(0x1122334455667788n);
      const kw = kvm.vcpu(0).run({ timeoutMs: 2000 });
      expect(kw).toEqual(emu.run({ budget: 100 }));
      expect(kw).toMatchObject({ kind: 'Wrmsr', index: 0x4b564dfe, value: 0x0123456789abcdefn });
      expect(kvm.vcpu(0).run({ timeoutMs: 2000 })).toEqual(emu.run({ budget: 100 }));
      sameRegs(kvm, emu);
      expect(kvm.vcpu(0).getReg('r8')).toBe(0x55667788n);
      expect(kvm.vcpu(0).getReg('r9')).toBe(0x11223344n);
    } finally {
      kvm.close();
    }
  });

  it('an MSR answered with #GP: KVM injects it (no IDT: triple fault = Shutdown), the emulator raises #GP', async () => {
    const code = nasm('mov ecx, 0x4b564dfe\nrdmsr\nhlt', 64, CODE);
    const kvm = await kvmWith(code);
    try {
      expect(kvm.vcpu(0).run({ timeoutMs: 2000 })).toMatchObject({ kind: 'Rdmsr' });
      kvm.vcpu(0).completeRdmsr('gp');
      // Deliberate difference: no IDT in this boot state, so real hardware/KVM escalates to a triple fault.
      expect(kvm.vcpu(0).run({ timeoutMs: 2000 })).toMatchObject({ kind: 'Shutdown' });
      const emu = emuWith(code, { hooks: { rdmsr: () => 'gp' } });
      expect(emu.run({ budget: 100 })).toMatchObject({ kind: 'Exception', vector: 13 });
    } finally {
      kvm.close();
    }
  });

  it('a 32-bit protected-mode guest: port I/O and MMIO identical to the emulator', async () => {
    let pio!: RecordingPio;
    let mmio!: RecordingMmio;
    const setup = () => {
      const r = new IoBusRouter();
      pio = new RecordingPio([0x77, 0x12345678]);
      mmio = new RecordingMmio([0xaabbccddn]);
      r.pio.register(0x3f0, 8, pio);
      r.mmio.register(BigInt(MMIO), 0x1000n, mmio);
      return r;
    };
    const src = `
      mov dx, 0x3f0
      mov al, 0x5a
      out dx, al
      in al, dx
      movzx ebx, al
      in eax, dx
      mov esi, eax
      mov dword [${MMIO}], 0xcafe
      mov edi, [${MMIO + 4}]
      lea ebp, [ebx + esi]
      hlt`;
    const kLogs: string[][] = [];
    const { kvm, emu, ke, ee } = await both(src, () => {
      const r = setup();
      return r;
    }, { bits: 32, kvmExtra: () => { kLogs.push(pio.log, mmio.log); } });
    try {
      expect(ke).toEqual(ee);
      expect(ke.kind).toBe('Hlt');
      sameRegs(kvm, emu, ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi']);
      expect(kLogs[0]).toEqual(pio.log);
      expect(kLogs[1]).toEqual(mmio.log);
      expect(kvm.vcpu(0).getReg('rdi')).toBe(0xaabbccddn);
      expect(kvm.vcpu(0).getReg('rbp')).toBe(0x77n + 0x12345678n);
    } finally {
      kvm.close();
    }
  });

  it('trapMsrs: MSRs KVM itself implements (IA32_TSC, MSR_KVM_SYSTEM_TIME_NEW) exit through KVM_X86_SET_MSR_FILTER', async () => {
    const tsc = 0x10; // SDM Vol. 4 Table 2-2 IA32_TIME_STAMP_COUNTER
    const clock = MSR_KVM.SYSTEM_TIME_NEW;
    // Without the filter KVM answers RDMSR of the TSC in-kernel: no exit before HLT.
    const plain = await kvmWith(nasm(`mov ecx, ${tsc}\nrdmsr\nhlt`, 64, CODE));
    try {
      expect(plain.vcpu(0).run({ timeoutMs: 2000 }).kind).toBe('Hlt');
    } finally {
      plain.close();
    }
    const code = nasm(`mov ecx, ${tsc}\nrdmsr\nmov ecx, ${clock}\nmov eax, 0x1001\nxor edx, edx\nwrmsr\nhlt`, 64, CODE);
    const kvm = await kvmWith(code, { trapMsrs: [tsc, clock] });
    try {
      const r = kvm.vcpu(0).run({ timeoutMs: 2000 });
      expect(r).toMatchObject({ kind: 'Rdmsr', index: tsc, rip: BigInt(CODE + 5) });
      kvm.vcpu(0).completeRdmsr(0x123456789n);
      const w = kvm.vcpu(0).run({ timeoutMs: 2000 });
      expect(w).toMatchObject({ kind: 'Wrmsr', index: clock, value: 0x1001n });
      expect(kvm.vcpu(0).getReg('rdx')).toBe(0n); // the guest zeroed EDX after our RDMSR answer
      expect(kvm.vcpu(0).getReg('rcx')).toBe(BigInt(clock));
      // The emulator implements IA32_TSC itself (no hook), so only the Wrmsr exit is compared with it.
      const emu = emuWith(code, { hooks: { wrmsr: () => undefined } });
      expect(w).toEqual(emu.run({ budget: 100 }));
      expect(kvm.vcpu(0).run({ timeoutMs: 2000 })).toEqual(emu.run({ budget: 100 }));
    } finally {
      kvm.close();
    }
  });

  it('trapMsrs: bad lists are refused with the field and the reason', async () => {
    await expect(kvmWith(new Uint8Array([0xf4]), { trapMsrs: Array.from({ length: 17 }, (_, i) => 0x4b564d00 + i) }))
      .rejects.toThrow(/trapMsrs: at most 16 MSRs/);
    await expect(kvmWith(new Uint8Array([0xf4]), { trapMsrs: [-1] })).rejects.toThrow(/trapMsrs\[0\]: -1 is not a u32/);
  });

  it('the guest sees the CPUID table given by KVM_SET_CPUID2 (KVM_GET_SUPPORTED_CPUID): leaves 0 and 0x40000001', async () => {
    const code = nasm('xor eax, eax\nxor ecx, ecx\ncpuid\nmov r8d, eax\nmov r9d, ebx\nmov eax, 0x40000001\nxor ecx, ecx\ncpuid\nhlt', 64, CODE);
    const kvm = await kvmWith(code);
    try {
      expect(kvm.vcpu(0).run({ timeoutMs: 2000 }).kind).toBe('Hlt');
      const leaf = (fn: number) => kvm.cpuid.find((e) => e.fn === fn)!;
      expect(kvm.vcpu(0).getReg('r8')).toBe(BigInt(leaf(0).eax));
      expect(kvm.vcpu(0).getReg('r9')).toBe(BigInt(leaf(0).ebx));
      expect(kvm.vcpu(0).getReg('rax')).toBe(BigInt(leaf(0x40000001).eax)); // KVM_CPUID_FEATURES
    } finally {
      kvm.close();
    }
  });

  it('two vCPUs run in turn, each with its own registers and exits', async () => {
    const code = nasm('mov eax, 0x11\nadd eax, esp\nmov dx, 0x3f0\nout dx, eax\nhlt', 64, CODE);
    const kvm = await kvmWith(code, { vcpus: 2 });
    try {
      const emu = emuWith(code, { vcpus: 2 });
      const k0 = kvm.vcpu(0).run({ timeoutMs: 2000 });
      const k1 = kvm.vcpu(1).run({ timeoutMs: 2000 });
      expect(k0).toMatchObject({ kind: 'IoOut', vcpu: 0, value: 0x11 + 0x80000 });
      expect(k1).toMatchObject({ kind: 'IoOut', vcpu: 1, value: 0x11 + 0x7f000 });
      // Each emulator vCPU driven alone, in the same order.
      expect(k0).toEqual(emu.vcpu(0).run(100));
      expect(k1).toEqual(emu.vcpu(1).run(100));
      expect(kvm.vcpu(1).getReg('rax')).toBe(emu.vcpu(1).getReg('rax'));
    } finally {
      kvm.close();
    }
  });

  it('pvtest ring: the guest rings a real ioeventfd, the device DMAs through the zero-copy KVM memory, like the emulator', async () => {
    const RING = 0x30000;
    const BUF = 0x20000;
    const DB_PORT = 0x600 + PvtestReg.DOORBELL;
    const src = `
      mov rdi, ${BUF}
      mov dword [rdi], 'ring'
      mov byte [rdi + 4], '!'
      mov rdi, ${RING}
      mov qword [rdi + ${PvtestRing.DESCS + PvtestRing.DESC_ADDR}], ${BUF}
      mov dword [rdi + ${PvtestRing.DESCS + PvtestRing.DESC_LEN}], 5
      mov dword [rdi + ${PvtestRing.DESCS + PvtestRing.DESC_LEN + 4}], 0
      mov dword [rdi + ${PvtestRing.PRODUCER}], 1
      mov rax, ${RING}
      mov [${MMIO + PvtestReg.RING_BASE_LO}], rax
      mov dword [${MMIO + PvtestReg.RING_SIZE}], 4
      mov dword [${MMIO + PvtestReg.CONTROL}], ${PvtestControl.ENABLE}
      mov dx, ${DB_PORT}
      mov eax, 1
      out dx, eax
      hlt
      mov eax, [${RING + PvtestRing.CONSUMER}]
      mov ebx, [${MMIO + PvtestReg.PROCESSED}]
      hlt`;
    const code = nasm(src, 64, CODE);
    const doorbell = { space: 'pio' as const, addr: DB_PORT, len: 4 };
    const make = (mem: { readBytes(g: bigint, l: number): Uint8Array; writeBytes(g: bigint, d: Uint8Array): void }) => {
      const dev = new PvTestDevice('pvtest', mem);
      const set = new DoorbellSet();
      expect(set.assign({ ...doorbell, onSignal: () => dev.notify() }).errno).toBe(0);
      const router = new IoBusRouter({ doorbells: set });
      router.pio.register(0x600, PVTEST_WINDOW, dev.pio);
      router.mmio.register(BigInt(MMIO), BigInt(PVTEST_WINDOW), dev.mmio);
      return { dev, router };
    };
    const kvm = await kvmWith(code);
    try {
      const k = make(kvm);
      const [efd] = kvm.ioeventfds.mirror(k.router.doorbells);
      expect(runWithRouter(kvm.vcpu(0), { router: k.router, timeoutMs: 2000 }).kind).toBe('Hlt');
      // The kernel consumed the doorbell write; the host services the eventfd count.
      const n = kvm.ioeventfds.read(efd!);
      expect(n).toBe(1n);
      for (let i = 0n; i < n; i++) k.dev.notify();
      expect(k.dev.outputText()).toBe('ring!');
      expect(new DataView(kvm.readBytes(RING + PvtestRing.CONSUMER, 4).buffer).getUint32(0, true)).toBe(1);
      const ke = runWithRouter(kvm.vcpu(0), { router: k.router, timeoutMs: 2000 });

      const emu = emuWith(code);
      const e = make({ readBytes: (g, l) => emu.memory.readBytes(g, l), writeBytes: (g, b) => emu.memory.writeBytes(g, b) });
      emu.router = e.router;
      expect(emu.run({ budget: 1000 }).kind).toBe('Hlt');
      emu.vcpu(0).halted = false;
      expect(ke).toEqual(emu.run({ budget: 1000 }));
      expect(e.dev.outputText()).toBe('ring!');
      expect(k.dev.trace).toEqual(e.dev.trace);
      sameRegs(kvm, emu);
      expect(kvm.vcpu(0).getReg('rax')).toBe(1n);
      expect(kvm.vcpu(0).getReg('rbx')).toBe(1n);
    } finally {
      kvm.close();
    }
  });
});
