// The L1Hypervisor interface itself: a hand-written L1 handles, translates, injects and refuses; bad decisions and
// bad PolicyL1 options give located errors; a 32-bit L2 gets its pvio descriptor (ECX:EBX) translated.
import { describe, expect, it } from 'vitest';
import { PVIO_HC, encodePvioDesc } from '@pvkit/shared-abi';
import { IoBusRouter } from '../src/bus/router.js';
import { PvTestDevice } from '../src/devices/pvtest.js';
import { PvtestReg, PVTEST_ID_VALUE } from '../src/devices/pvtest-regs.js';
import { PvioPersonality } from '../src/hypervisor/pvio.js';
import { KvmPersonality } from '../src/hypervisor/kvm.js';
import { NestedMachine } from '../src/nested/machine.js';
import { PolicyL1, KVM_ENOSYS } from '../src/nested/policy.js';
import type { L1Decision, L1Hypervisor, L2Exit } from '../src/nested/types.js';
import { CODE } from './cpu-util.js';
import { DEV_L0, DEV_L2, hasNasm, nasm, stack } from './nested-util.js';
import { readFileSync, existsSync } from 'node:fs';

if (!hasNasm) console.warn('nasm missing: nested L1 interface tests skipped (they run nasm-assembled L2 code)');

function machine(l1: L1Hypervisor, src: string, bits: 64 | 32 = 64) {
  const router = new IoBusRouter();
  const m = new NestedMachine({ l0: { vendor: 'intel', personalities: [new KvmPersonality(), new PvioPersonality()], router }, l1, l2: { mode: bits === 64 ? 'long64' : 'prot32' } });
  m.vm.memory.addRam(0, 0x100000);
  m.vm.memory.addMmio(DEV_L2, 0x1000);
  m.vm.memory.writeBytes(CODE, nasm(src, bits, CODE));
  m.vcpu.rip = BigInt(CODE);
  m.vcpu.setReg('rsp', 0x80000n);
  const dev = new PvTestDevice('pvtest', m.vm.memory);
  router.mmio.register(DEV_L0, 0x40n, dev.mmio);
  return { m, dev, router };
}

/** An L1 written directly against the interface, answering from a table of decisions. */
class TableL1 implements L1Hypervisor {
  readonly name = 'table-l1';
  readonly presentVendor = 'intel' as const;
  readonly seen: L2Exit[] = [];
  constructor(private readonly decide: (e: L2Exit) => L1Decision) {}
  onExit(e: L2Exit): L1Decision {
    this.seen.push(e);
    return this.decide(e);
  }
}

describe.skipIf(!hasNasm)('L1Hypervisor interface', () => {
  it('L1 handles a hypercall itself (sets L2 registers), translates a CPUID leaf, answers an MSR and injects #GP', () => {
    const l1 = new TableL1((e) => {
      switch (e.kind) {
        case 'hypercall': return { action: 'handle', regs: { rax: 0x1234n, rbx: e.nr } };
        case 'cpuid': return e.leaf === 0x40000000 ? { action: 'translate', to: { kind: 'cpuid', leaf: 0x40000100, subleaf: 0 } } : { action: 'forward' };
        case 'rdmsr': return e.index === 0x10001 ? { action: 'handle', value: 0xfeedn } : { action: 'inject', vector: 13 };
        default: return { action: 'forward' };
      }
    });
    const { m } = machine(l1, 'mov eax, 7\nvmcall\nmov r8, rax\nmov r9, rbx\nmov eax, 0x40000000\ncpuid\nmov r10, rbx\nmov ecx, 0x10001\nrdmsr\nmov r11, rax\nmov ecx, 0x10002\nrdmsr\nhlt');
    const e = m.run({ budget: 1000 });
    expect(e).toMatchObject({ kind: 'Exception', vector: 13 });
    const v = m.vcpu;
    expect(v.getReg('r8')).toBe(0x1234n);
    expect(v.getReg('r9')).toBe(7n);
    expect(Number(v.getReg('r10'))).toBe(0x696b7650); // 'Pvki': leaf 0x40000000 translated to pvio's base (pvio spec §1)
    expect(v.getReg('r11')).toBe(0xfeedn);
    expect(l1.seen.map((x) => x.kind)).toEqual(['hypercall', 'cpuid', 'rdmsr', 'rdmsr']);
    expect(m.trace.map((t) => t.route)).toEqual(['l1-handle', 'l1-translate', 'l1-handle', 'l1-inject']);
  });

  it('a decision that does not fit the exit kind stops L2 with a message naming the L1 and the decision', () => {
    const l1 = new TableL1(() => ({ action: 'patch' }));
    const { m } = machine(l1, 'xor eax, eax\ncpuid\nhlt');
    const e = m.run({ budget: 100 });
    expect(e.kind).toBe('Shutdown');
    expect(e.kind === 'Shutdown' && e.reason).toContain('L1 table-l1: decision "patch" is not valid for a cpuid exit');
  });

  it('PolicyL1 refuses non-pvio hypercalls with -KVM_ENOSYS when told to (linux/kvm_para.h)', () => {
    const hdr = '/usr/include/linux/kvm_para.h';
    if (existsSync(hdr)) expect(readFileSync(hdr, 'utf8')).toMatch(new RegExp(`#define KVM_ENOSYS\\s+${KVM_ENOSYS}\\b`));
    else console.warn(`${hdr} missing: KVM_ENOSYS not cross-checked`);
    const s = stack('mov eax, 9\nvmcall\nhlt', { hypercalls: 'refuse' });
    expect(s.m.run({ budget: 100 }).kind).toBe('Hlt');
    expect(s.m.vcpu.getReg('rax')).toBe(BigInt.asUintN(64, BigInt(-KVM_ENOSYS)));
    const f = stack('mov eax, 9\nvmcall\nhlt', { hypercalls: 'forward' });
    expect(f.m.run({ budget: 100 }).kind).toBe('Hlt');
    expect(f.m.trace.at(-1)!.hops.at(-1)!.note).toContain('answered by L0 kvm');
  });

  it('32-bit L2: the pvio descriptor in ECX:EBX is translated and the result comes back in EDX', () => {
    const desc = encodePvioDesc({ space: 'mmio', address: DEV_L2 + BigInt(PvtestReg.ID), size: 4, write: false });
    const src = `mov eax, 0x${PVIO_HC.MMIO.toString(16)}\nmov ebx, 0x${(desc & 0xffffffffn).toString(16)}\nmov ecx, 0x${(desc >> 32n).toString(16)}\n` +
      'xor edx, edx\nxor esi, esi\nvmcall\nhlt';
    const l1 = new PolicyL1({ presentVendor: 'intel', assignMmio: [{ l2: DEV_L2, l0: DEV_L0, length: 0x1000n }] });
    const { m, dev } = machine(l1, src, 32);
    expect(m.run({ budget: 100 }).kind).toBe('Hlt');
    expect(m.vcpu.getReg('rax')).toBe(0n);
    expect(m.vcpu.getReg('rdx')).toBe(BigInt(PVTEST_ID_VALUE));
    expect(m.vcpu.getReg('rbx')).toBe(desc & 0xffffffffn); // L2's own registers keep the L2 address
    expect(dev.trace).toEqual([{ op: 'read', offset: PvtestReg.ID, size: 4, value: BigInt(PVTEST_ID_VALUE) }]);
  });

  it('bad options are refused with the field and the value', () => {
    expect(() => new PolicyL1({ presentVendor: 'intel', portMap: [{ l2: 0xfff0, l0: 0x600, length: 0x40 }] })).toThrow(/portMap\[0\]\.l2: range \[65520, 65584\)/);
    expect(() => new PolicyL1({ presentVendor: 'intel', hidePvio: ['NOPE' as never] })).toThrow(/hidePvio: unknown pvio feature "NOPE"/);
    const l1 = new PolicyL1({ presentVendor: 'intel' });
    expect(() => new NestedMachine({ l0: { vendor: 'intel' }, l1, livelockAfter: 1 })).toThrow(/livelockAfter: integer >= 2 expected, got 1/);
    expect(() => new NestedMachine({ l0: { vendor: 'arm' as never }, l1 })).toThrow(/l0\.vendor/);
    const bad = new PolicyL1({ presentVendor: 'intel', assignMmio: [{ l2: 0n, l0: 0n, length: 0n }] });
    expect(() => new NestedMachine({ l0: { vendor: 'intel' }, l1: bad })).toThrow(/assignedMmio\[0\]: .*length=0x0/);
  });
});

describe.skipIf(!hasNasm)('each level its own personality', () => {
  it('L1 shows L2 its own KVM (leaves, hypercalls, MSRs) while L0 offers only pvio, passed through', async () => {
    const { KVM_HC } = await import('@pvkit/shared-abi');
    const l1 = new PolicyL1({ presentVendor: 'amd', personalities: [new KvmPersonality()], pvio: 'passthrough' });
    const router = new IoBusRouter();
    const m = new NestedMachine({ l0: { vendor: 'intel', personalities: [new PvioPersonality()], router }, l1 });
    m.vm.memory.addRam(0, 0x100000);
    // leaf 0x40000000 from L1's KVM, 0x40000100 from L0's pvio; KVM_HC_VAPIC_POLL_IRQ answered 0 by L1's KVM
    // (L0 would answer it with pvio's -ENOSYS); MSR_KVM_SYSTEM_TIME_NEW read through L1's KVM.
    const src = `mov eax, 0x40000000\ncpuid\nmov r8, rbx\nmov eax, 0x40000100\ncpuid\nmov r9, rbx\n` +
      `mov eax, ${KVM_HC.VAPIC_POLL_IRQ}\nvmcall\nmov r10, rax\nmov ecx, 0x4b564d01\nrdmsr\nhlt`;
    m.vm.memory.writeBytes(CODE, nasm(src, 64, CODE));
    m.vcpu.rip = BigInt(CODE);
    expect(m.run({ budget: 1000 }).kind).toBe('Hlt');
    const hdr = '/usr/include/x86_64-linux-gnu/asm/kvm_para.h';
    const sig = existsSync(hdr) ? /#define KVM_SIGNATURE "(\w{4})/.exec(readFileSync(hdr, 'utf8'))?.[1] : undefined;
    if (sig === undefined) console.warn(`${hdr} missing: KVM signature checked against the literal "KVMK"`);
    expect(Number(m.vcpu.getReg('r8'))).toBe(Buffer.from(sig ?? 'KVMK', 'latin1').readUInt32LE(0)); // EBX = first 4 signature bytes
    expect(Number(m.vcpu.getReg('r9'))).toBe(0x696b7650); // "Pvki" (pvio spec §1)
    expect(m.vcpu.getReg('r10')).toBe(0n);
    expect(m.trace.map((t) => `${t.exit.kind} ${t.route}`)).toEqual(['cpuid l1-handle', 'cpuid l1-forward', 'hypercall l1-handle', 'rdmsr l1-handle']);
    // L2 sees L1's vendor, the hardware is Intel
    const src2 = 'xor eax, eax\ncpuid\nhlt';
    const m2 = new NestedMachine({ l0: { vendor: 'intel' }, l1 });
    m2.vm.memory.addRam(0, 0x100000);
    m2.vm.memory.writeBytes(CODE, nasm(src2, 64, CODE));
    m2.vcpu.rip = BigInt(CODE);
    expect(m2.run({ budget: 100 }).kind).toBe('Hlt');
    expect(Number(m2.vcpu.getReg('rbx'))).toBe(Buffer.from('Auth', 'latin1').readUInt32LE(0)); // AuthenticAMD, CPUID leaf 0 EBX
  });
});
