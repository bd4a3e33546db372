// The number register API (getReg32 / getRegHi / setRegParts) and the number fast paths of the hypercall and
// CPUID hooks: every result must equal what the exact bigint helpers of shared-abi give (kvmResult, xenResult,
// kvmHypercallInputs, the definitions searched by number), for any register contents, mode and CPL.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  KVM_CPUID, KVM_HC, KVM_HYPERCALLS, XEN_CONVENTION_X64, XEN_CONVENTION_X86, XEN_HC,
  XEN_HYPERCALLS, XENVER, PVIO_HC, VMWARE_CMD, VMWARE_HYPERVISOR_MAGIC, pvioHcName, kvmErrorResult, kvmHypercallInputs, kvmResult, signatureToRegs, xenErrorResult, xenResult,
} from '@pvkit/shared-abi';
import { Vm } from '../src/vm.js';
import { Vcpu } from '../src/cpu/vcpu.js';
import { GPR, GPR_NAMES, type CpuMode, type VcpuApi, type Vendor } from '../src/cpu/types.js';
import { defaultCpuid } from '../src/cpu/cpuid-default.js';
import { KvmPersonality } from '../src/hypervisor/kvm.js';
import type { KvmFeatureName } from '@pvkit/shared-abi';
import { XenPersonality, XEN_CLOBBER_32, XEN_CLOBBER_64 } from '../src/hypervisor/xen.js';
import { Hypervisor } from '../src/hypervisor/compose.js';
import { HypervPersonality } from '../src/hypervisor/hyperv.js';
import { VmwarePersonality } from '../src/hypervisor/vmware.js';
import { setSignedResult } from '../src/hypervisor/common.js';

const U64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
/** Register values that hit the boundaries of the fast paths as well as random ones. */
const REG = fc.oneof(
  U64,
  fc.constantFrom(0n, 1n, 0xffffn, 0x10000n, 0xffffffffn, 0x100000000n, 0x100000001n, (1n << 63n), (1n << 64n) - 1n),
  fc.integer({ min: 0, max: 40 }).map(BigInt),
  fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 0xffffffff })).map(([lo, hi]) => (BigInt(hi) << 32n) | BigInt(lo)),
);
const MODE = fc.constantFrom<CpuMode>('long64', 'prot32');
const VENDOR = fc.constantFrom<Vendor>('intel', 'amd');

function vmOf(mode: CpuMode, vendor: Vendor, cpl: 0 | 3 = 0, n = 4): Vm {
  const vm = new Vm({ vcpus: n, vendor, mode });
  vm.memory.addRam(0, 0x100000, 'ram');
  for (const v of vm.vcpus) v.cpl = cpl;
  return vm;
}

const regsOf = (v: Vcpu): bigint[] => GPR_NAMES.map((r) => v.getReg(r));

describe('VcpuApi number register access', () => {
  it('getReg32 / getRegHi are the halves of getReg, and setRegParts equals setReg of hi:lo (both modes)', () => {
    fc.assert(
      fc.property(MODE, fc.integer({ min: 0, max: 15 }), U64, fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }), fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }), (mode, i, val, lo, hi) => {
        const a = vmOf(mode, 'intel').vcpus[0]!;
        const b = vmOf(mode, 'intel').vcpus[0]!;
        a.setReg(i, val);
        expect((BigInt(a.getRegHi(i)) << 32n) | BigInt(a.getReg32(i))).toBe(a.getReg(i));
        expect(a.getReg32(i)).toBe(Number(a.getReg(i) & 0xffffffffn));
        a.setRegParts(i, lo, hi);
        b.setReg(i, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
        expect(regsOf(a)).toEqual(regsOf(b));
        expect(a.getReg32(i)).toBe(lo >>> 0);
        expect(a.getRegHi(i)).toBe(mode === 'long64' ? hi >>> 0 : 0);
      }),
    );
  });

  it('GPR indices are the GPR_NAMES order', () => {
    for (const [i, n] of GPR_NAMES.entries()) expect(GPR[n]).toBe(i);
  });

  it('bad indices and halves throw a RangeError naming the vCPU, the register and the value', () => {
    const v = vmOf('long64', 'intel').vcpus[0]!;
    for (const i of [-1, 16, 1.5, NaN]) {
      expect(() => v.getReg32(i)).toThrow(RangeError);
      expect(() => v.getRegHi(i)).toThrow(/vcpu 0: register index: expected 0\.\.15/);
      expect(() => v.setRegParts(i, 0, 0)).toThrow(RangeError);
    }
    for (const x of [2 ** 32, -(2 ** 31) - 1, 0.5, NaN, Infinity]) {
      expect(() => v.setRegParts(3, x, 0)).toThrow(/vcpu 0: setRegParts\(3\) lo: expected a 32-bit integer half/);
      expect(() => v.setRegParts(3, 0, x)).toThrow(/setRegParts\(3\) hi/);
    }
    expect(v.getReg('rbx')).toBe(0n); // nothing written by the refused calls
  });
});

/**
 * A VcpuApi whose registers always keep 64 bits, whatever the mode (as KVM's kvm_regs do): a 32-bit caller's
 * result must clear bits 63:32 itself, which the emulator's Vcpu would hide by dropping them.
 */
function regs64(mode: CpuMode): VcpuApi {
  const r = new Array<bigint>(16).fill(0n);
  return {
    id: 0, vendor: 'intel', mode, cpl: 0, rip: 0n, rflags: 2n,
    getReg: (i) => r[typeof i === 'number' ? i : GPR[i]]!,
    setReg: (i, x) => { r[typeof i === 'number' ? i : GPR[i]] = BigInt.asUintN(64, x); },
    getReg32: (i) => Number(r[i]! & 0xffffffffn),
    getRegHi: (i) => Number(r[i]! >> 32n),
    setRegParts: (i, lo, hi) => { r[i] = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0); },
  };
}

describe('setSignedResult equals kvmResult / xenResult', () => {
  it('for small numbers, numbers outside int32 and bigints, in both widths, on 64-bit register files too', () => {
    const NUM = fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.constantFrom(-(2 ** 31), 2 ** 31, -1000, -38));
    fc.assert(
      fc.property(MODE, fc.oneof(NUM, NUM.map(BigInt)), fc.boolean(), (mode, ret, keep64) => {
        const v = keep64 ? regs64(mode) : vmOf(mode, 'amd').vcpus[0]!;
        const bits = mode === 'long64' ? 64 : 32;
        v.setReg(0, (1n << 64n) - 1n); // stale upper half must not survive
        setSignedResult(v, ret, bits, kvmResult);
        expect(v.getReg('rax')).toBe(kvmResult(ret, bits));
        setSignedResult(v, ret, bits, xenResult);
        expect(v.getReg('rax')).toBe(xenResult(ret, bits));
      }),
    );
  });
});

/**
 * KVM x86.c ____kvm_emulate_hypercall as the bigint path computed it (a search of KVM_HYPERCALLS by value),
 * for the calls whose result depends on the registers alone; SEND_IPI counts the vCPUs (APIC ID = index) hit.
 */
/** x86.c guest_pv_has() gates of the calls (KVM_CAP_ENFORCE_PV_FEATURE_CPUID). */
const GATE: Partial<Record<number, KvmFeatureName>> = {
  [KVM_HC.KICK_CPU]: 'PV_UNHALT', [KVM_HC.SEND_IPI]: 'PV_SEND_IPI', [KVM_HC.SCHED_YIELD]: 'PV_SCHED_YIELD', [KVM_HC.MAP_GPA_RANGE]: 'HC_MAP_GPA_RANGE',
};

function kvmReference(rax: bigint, args: readonly bigint[], bits: 64 | 32, cpl: number, nVcpus: number, enforced?: readonly KvmFeatureName[]): bigint {
  const m = bits === 64 ? (1n << 64n) - 1n : 0xffffffffn;
  const { nr, args: a } = kvmHypercallInputs((r) => (r === 'rax' ? rax : args[['rbx', 'rcx', 'rdx', 'rsi'].indexOf(r)]!) & m, bits);
  if (cpl !== 0) return kvmErrorResult('EPERM', bits);
  const def = nr <= 0xffffn ? KVM_HYPERCALLS.find((h) => BigInt(h.nr) === nr) : undefined;
  if (def === undefined || (def.bits !== undefined && !def.bits.includes(bits))) return kvmErrorResult('ENOSYS', bits);
  const gate = GATE[def.nr];
  if (enforced !== undefined && gate !== undefined && !enforced.includes(gate)) return kvmErrorResult('ENOSYS', bits);
  switch (def.nr) {
    case KVM_HC.VAPIC_POLL_IRQ: case KVM_HC.KICK_CPU: case KVM_HC.SCHED_YIELD: return 0n;
    case KVM_HC.SEND_IPI: {
      let n = 0n;
      const w = BigInt(bits);
      [a[0]!, a[1]!].forEach((bm, half) => {
        for (let i = 0n; i < w; i++) {
          const id = (a[2]! & 0xffffffffn) + BigInt(half) * w + i;
          if (((bm >> i) & 1n) !== 0n && id < BigInt(nVcpus)) n++;
        }
      });
      return kvmResult(n, bits);
    }
    default: return kvmErrorResult('ENOSYS', bits); // MMU_OP; MAP_GPA_RANGE without the exit; CLOCK_PAIRING not reached here
  }
}

describe('KvmPersonality number fast path', () => {
  const NR = fc.oneof(REG, fc.constantFrom(...KVM_HYPERCALLS.filter((h) => h.nr !== KVM_HC.CLOCK_PAIRING).map((h) => BigInt(h.nr))));
  /** undefined: the default personality; else KVM_CAP_ENFORCE_PV_FEATURE_CPUID with these features. */
  const ENFORCED = fc.option(fc.subarray([...Object.values(GATE)] as KvmFeatureName[]), { nil: undefined });
  it('RAX equals the bigint reference; no other register changes', () => {
    fc.assert(
      fc.property(MODE, VENDOR, fc.constantFrom<0 | 3>(0, 0, 3), NR, fc.array(REG, { minLength: 4, maxLength: 4 }), ENFORCED, (mode, vendor, cpl, rax, args, enforced) => {
        const vm = vmOf(mode, vendor, cpl);
        const kvm = new KvmPersonality(enforced === undefined ? {} : { features: enforced, enforcePvFeatureCpuid: true });
        kvm.attach(vm);
        const v = vm.vcpus[0]!;
        const bits = mode === 'long64' ? 64 : 32;
        if ((rax & (bits === 64 ? (1n << 64n) - 1n : 0xffffffffn)) === BigInt(KVM_HC.CLOCK_PAIRING)) return; // writes guest memory
        v.setReg('rax', rax);
        ['rbx', 'rcx', 'rdx', 'rsi'].forEach((r, i) => v.setReg(r as 'rbx', args[i]!));
        const before = regsOf(v);
        expect(vm.hooks!.hypercall!(v, vendor === 'intel' ? 'vmcall' : 'vmmcall')).toBe('handled');
        const after = regsOf(v);
        expect(after[0]).toBe(kvmReference(before[0]!, [before[3]!, before[1]!, before[2]!, before[6]!], bits, cpl, vm.vcpus.length, enforced));
        expect(after.slice(1)).toEqual(before.slice(1));
      }),
      { numRuns: 400 },
    );
  });

  it('the CPUID leaves are the signature and features, shared and frozen (nobody can change the next answer)', () => {
    const vm = vmOf('long64', 'intel');
    const kvm = new KvmPersonality({ features: ['CLOCKSOURCE', 'PV_UNHALT'], realtimeHint: true });
    const hooks = kvm.attach(vm);
    const v = vm.vcpus[0]!;
    const s = signatureToRegs(KVM_CPUID.signature);
    const l0 = hooks.cpuid(v, KVM_CPUID.defaultBase, 0);
    expect(l0).toEqual({ eax: KVM_CPUID.defaultBase + KVM_CPUID.maxLeafOffset, ebx: s.ebx, ecx: s.ecx, edx: s.edx });
    expect(hooks.cpuid(v, KVM_CPUID.defaultBase + 1, 0)).toEqual({ eax: (1 << 0) | (1 << 7), ebx: 0, ecx: 0, edx: 1 });
    expect(Object.isFrozen(l0)).toBe(true);
    expect(hooks.cpuid(v, KVM_CPUID.defaultBase, 0)).toBe(l0);
    // Outside the KVM leaves: the bare CPU with the hypervisor bit, a fresh object each time.
    expect(hooks.cpuid(v, 1, 0)).toEqual(defaultCpuid('intel', 1, 0, true));
    expect(hooks.cpuid(v, 0, 0)).not.toBe(hooks.cpuid(v, 0, 0));
  });

  it('cost counters and routing are unchanged through a composed Hypervisor', () => {
    const vm = vmOf('long64', 'amd');
    const hv = new Hypervisor([new HypervPersonality(), new KvmPersonality({ base: 0x40000100 })]);
    hv.attach(vm);
    const v = vm.vcpus[0]!;
    v.setReg('rax', BigInt(KVM_HC.VAPIC_POLL_IRQ));
    vm.hooks!.hypercall!(v, 'vmmcall');
    expect(v.getReg('rax')).toBe(0n);
    expect(hv.routed.get('kvm')).toBe(1);
    expect(vm.hooks!.cpuid!(v, 0x40000100, 0)).toMatchObject({ eax: 0x40000101 });
  });
});

/** Xen hvm_hypercall as the bigint path computed it, for the calls whose result depends on the registers alone. */
function xenReference(rax: bigint, a0: bigint, bits: 64 | 32, cpl: number): bigint | 'console' {
  const m = bits === 64 ? (1n << 64n) - 1n : 0xffffffffn;
  const nr = rax & m;
  if (cpl !== 0) return xenErrorResult('EPERM', bits);
  const def = XEN_HYPERCALLS.find((h) => BigInt(h.nr) === nr);
  if (def === undefined || (def.bits !== undefined && !def.bits.includes(bits))) return xenErrorResult('ENOSYS', bits);
  switch (def.nr) {
    case XEN_HC.xen_version: return (a0 & m) === BigInt(XENVER.version) ? xenResult(BigInt((4 << 16) | 17), bits) : xenErrorResult('ENOSYS', bits);
    case XEN_HC.console_io: case XEN_HC.hvm_op: case XEN_HC.sched_op: return 'console'; // memory / scheduler effects: not compared here
    default: return xenErrorResult('ENOSYS', bits);
  }
}

describe('XenPersonality number fast path', () => {
  const NR = fc.oneof(REG, fc.constantFrom(...XEN_HYPERCALLS.map((h) => BigInt(h.nr))));
  const A0 = fc.oneof(REG, fc.constant(BigInt(XENVER.version)), fc.constant(1n << 32n));
  it('RAX equals the bigint reference; debug clobbering writes the same registers', () => {
    fc.assert(
      fc.property(MODE, VENDOR, fc.constantFrom<0 | 3>(0, 0, 3), NR, A0, fc.boolean(), (mode, vendor, cpl, rax, a0, clobber) => {
        const vm = vmOf(mode, vendor, cpl, 1);
        const xen = new XenPersonality({ debugClobber: clobber });
        xen.attach(vm);
        const v = vm.vcpus[0]!;
        const bits = mode === 'long64' ? 64 : 32;
        const conv = bits === 64 ? XEN_CONVENTION_X64 : XEN_CONVENTION_X86;
        const argRegs = conv.args.map((r) => ({ eax: 'rax', ebx: 'rbx', ecx: 'rcx', edx: 'rdx', esi: 'rsi', edi: 'rdi' } as Record<string, string>)[r as string] ?? r) as GprNameLike[];
        v.setReg('rax', rax);
        v.setReg(argRegs[0]!, a0);
        const want = xenReference(v.getReg('rax'), v.getReg(argRegs[0]!), bits, cpl);
        if (want === 'console') return;
        const before = regsOf(v);
        vm.hooks!.hypercall!(v, vendor === 'intel' ? 'vmcall' : 'vmmcall');
        expect(v.getReg('rax')).toBe(want);
        const nr = before[0]! & (bits === 64 ? (1n << 64n) - 1n : 0xffffffffn);
        const def = XEN_HYPERCALLS.find((h) => BigInt(h.nr) === nr);
        const clobbered = clobber && want !== xenErrorResult('ENOSYS', bits) ? argRegs.slice(0, def?.args.length ?? 0) : [];
        for (const [i, r] of GPR_NAMES.entries()) {
          if (r === 'rax') continue;
          expect(v.getReg(r), r).toBe(clobbered.includes(r as GprNameLike) ? (bits === 64 ? XEN_CLOBBER_64 : XEN_CLOBBER_32) : before[i]);
        }
      }),
      { numRuns: 400 },
    );
  });

});

type GprNameLike = 'rax' | 'rbx' | 'rcx' | 'rdx' | 'rsi' | 'rdi' | 'r8' | 'r10';

describe('pvio and VMware number paths', () => {
  it('pvioHcName equals the search of PVIO_HC by value', () => {
    const search = (nr: bigint) => (Object.keys(PVIO_HC) as (keyof typeof PVIO_HC)[]).find((k) => BigInt(PVIO_HC[k]) === nr);
    fc.assert(fc.property(fc.oneof(REG, fc.constantFrom(...Object.values(PVIO_HC).map(BigInt))), (nr) => { expect(pvioHcName(nr)).toBe(search(nr)); }));
  });

  it('VMware GETVERSION / GETHZ write each register as BigInt(x) & 0xffffffff did', () => {
    const M = 0xffffffffn;
    fc.assert(
      fc.property(MODE, fc.integer({ min: 0, max: 2 ** 53 - 1 }), fc.integer({ min: 0, max: 2 ** 40 }), U64, (mode, vmxType, apicBusHz, tscHz) => {
        const vm = vmOf(mode, 'intel', 0, 1);
        const p = new VmwarePersonality({ vmxType, apicBusHz, tscHz, registerPort: false });
        p.attach(vm);
        const v = vm.vcpus[0]!;
        for (const [cmd, want] of [
          [VMWARE_CMD.GETVERSION, { rbx: BigInt(VMWARE_HYPERVISOR_MAGIC), rcx: BigInt(vmxType) & M }],
          [VMWARE_CMD.GETHZ, { rbx: (tscHz >> 32n) & M, rcx: BigInt(apicBusHz) & M }],
        ] as const) {
          v.setReg('rax', (0xabcdn << 32n) | BigInt(VMWARE_HYPERVISOR_MAGIC));
          v.setReg('rcx', BigInt(cmd) | 0x1200n);
          vm.hooks!.hypercall!(v, 'vmcall');
          expect(v.getReg('rbx')).toBe(want.rbx);
          expect(v.getReg('rcx')).toBe(want.rcx);
        }
      }),
      { numRuns: 200 },
    );
  });
});
