// The cross-vendor strategies in the emulator, on the vendor each one has to cope with:
//  host-patch  : the foreign VMCALL is rewritten by the host's #UD patcher, once per site;
//  guest-patch : pvkit_patch_hypercalls() rewrites the sites itself, so zero #UD patches happen;
//  dispatch    : correct on both vendors before any patching, no #UD;
//  hcpage      : the setup routine's MSR write makes the test hook write the page from shared-abi bytes
//                (xenHypercallPage / hypervHypercallPage / pvioHypercallPage); calls go through it.
import { describe, expect, it } from 'vitest';
import {
  HV_X64_MSR, PVIO_MSR_HCPAGE_DEFAULT, XEN_MSR_BASE, type AbiDefinition, hypervAbi, hypervHypercallPage, kvmAbi, pvioAbi,
  pvioHypercallPage, vmwareAbi, xenAbi, xenHypercallPage,
} from '@pvkit/shared-abi';
import { generateStubs } from '@pvkit/guest-sdk';
import type { HypervisorHooks, Vendor } from '@pvkit/host';
import { IMAGE, StubVm, abiCpuid, type CpuidLayer } from './support/stubs-vm.js';

const BITS = [64, 32] as const;
const BUF = 0x30000n;
const PAGE = 0x40000n;
const native = (v: Vendor) => (v === 'intel' ? 'vmcall' : 'vmmcall');

/** First wrapper of an ABI with its number register, for calls that only need to reach the hypervisor. */
function firstCall(abi: AbiDefinition): string {
  return { kvm: 'KVM_HC_KICK_CPU', xen: 'HYPERVISOR_xen_version', hyperv: 'HVCALL_GET_PARTITION_ID', vmware: 'VMWARE_CMD_GETVERSION', pvio: 'PVIO_HC_DOORBELL_UNREGISTER' }[abi.name]!;
}

function recorder(): { hooks: HypervisorHooks; seen: { insn: string; rax: bigint; rcx: bigint; rip: bigint }[] } {
  const seen: { insn: string; rax: bigint; rcx: bigint; rip: bigint }[] = [];
  return {
    seen,
    hooks: {
      hypercall(v, insn) {
        seen.push({ insn, rax: v.getReg('rax'), rcx: v.getReg('rcx'), rip: v.rip });
        v.setReg('rax', 0n);
        return 'handled';
      },
    },
  };
}

describe('host-patch: the host rewrites the foreign instruction on #UD', () => {
  for (const bits of BITS) {
    for (const abi of [kvmAbi, xenAbi, pvioAbi, vmwareAbi]) {
      it(`${abi.name} ${bits}-bit on AMD: one patch per site, then the native instruction runs`, () => {
        const g = generateStubs({ abi, strategy: 'host-patch', bits, origin: IMAGE, hypercalls: [firstCall(abi)] });
        const plan = g.wrappers.find((p) => p.conv.trap === 'hypercall')!;
        const site = g.image.patchSites.find((s) => s.symbol === plan.symbol)!;
        const r = recorder();
        const sv = new StubVm(g, { vendor: 'amd', hooks: r.hooks });
        const args = plan.params.map((p) => (p.name === 'out' ? BUF : 1n));
        expect(sv.call(plan.symbol, args).clobbered).toEqual([]);
        expect(sv.call(plan.symbol, args).exit.kind).toBe('Hlt');
        expect(r.seen.map((s) => s.insn)).toEqual(['vmmcall', 'vmmcall']);
        expect(sv.vm.patches.map((p) => p.gpa)).toEqual([IMAGE + BigInt(site.offset)]);
        expect([...sv.readBytes(IMAGE + BigInt(site.offset), 3)]).toEqual([0x0f, 0x01, 0xd9]);
      });
    }
  }
});

describe('guest-patch: the guest rewrites its own sites, no #UD', () => {
  for (const bits of BITS) {
    for (const vendor of ['amd', 'intel'] as const) {
      it(`kvm ${bits}-bit on ${vendor}: pvkit_patch_hypercalls() returns the site count, every call is native`, () => {
        const g = generateStubs({ abi: kvmAbi, strategy: 'guest-patch', bits, origin: IMAGE });
        const r = recorder();
        const sv = new StubVm(g, { vendor, hooks: { ...r.hooks, cpuid: abiCpuid([{ abi: kvmAbi, base: 0x40000000 }], vendor) } });
        const p = sv.call('pvkit_patch_hypercalls');
        expect(p.clobbered).toEqual([]);
        expect(Number(p.ret & 0xffffffffn)).toBe(g.image.patchSites.length);
        for (const s of g.image.patchSites) expect([...sv.readBytes(IMAGE + BigInt(s.offset), 3)]).toEqual([0x0f, 0x01, vendor === 'amd' ? 0xd9 : 0xc1]);
        for (const w of g.wrappers) sv.call(w.symbol, w.params.map(() => 7n));
        expect(r.seen.map((s) => s.insn)).toEqual(g.wrappers.map(() => native(vendor)));
        expect(r.seen.map((s) => Number(s.rax & 0xffffffffn))).toEqual(g.wrappers.map((w) => w.hc.nr));
        expect(sv.vm.patches).toEqual([]);
      });
    }
  }
});

describe('dispatch: a vendor branch that is right before any patching', () => {
  for (const bits of BITS) {
    for (const vendor of ['amd', 'intel'] as const) {
      for (const abi of [kvmAbi, xenAbi, hypervAbi, pvioAbi]) {
        it(`${abi.name} ${bits}-bit on ${vendor}`, () => {
          const g = generateStubs({ abi, strategy: 'dispatch', bits, origin: IMAGE, hypercalls: [firstCall(abi)] });
          const r = recorder();
          const sv = new StubVm(g, { vendor, hooks: { ...r.hooks, cpuid: abiCpuid([], vendor) } });
          const w = g.wrappers[0]!;
          const args = w.params.map((p) => (p.name === 'out' ? BUF : 3n));
          expect(sv.call(w.symbol, args).clobbered).toEqual([]);
          expect(sv.call(w.symbol, args).exit.kind).toBe('Hlt');
          expect(r.seen.map((s) => s.insn)).toEqual([native(vendor), native(vendor)]);
          expect(sv.vm.patches).toEqual([]);
          expect(g.image.patchSites).toEqual([]);
        });
      }
    }
  }
});

describe('hcpage: calls go through the page the hypervisor writes on the MSR write', () => {
  interface Case { abi: AbiDefinition; layers: CpuidLayer[]; msrs: number[]; page: (v: Vendor) => Uint8Array }
  const cases: Case[] = [
    // Xen: leaf base+2 EBX = MSR base (xen/arch-x86/cpuid.h); the page has one 32-byte slot per hypercall.
    { abi: xenAbi, layers: [{ abi: xenAbi, base: 0x40000000, extra: { 2: { eax: 1, ebx: XEN_MSR_BASE } } }], msrs: [XEN_MSR_BASE], page: (v) => xenHypercallPage(native(v)) },
    // Hyper-V: GUEST_OS_ID first, then HYPERCALL = GPA | enable.
    { abi: hypervAbi, layers: [{ abi: hypervAbi, base: 0x40000000 }], msrs: [HV_X64_MSR.GUEST_OS_ID, HV_X64_MSR.HYPERCALL], page: (v) => hypervHypercallPage(native(v)) },
    // pvio: leaf base+2 EAX = MSR index (spec §7).
    { abi: pvioAbi, layers: [{ abi: pvioAbi, base: 0x40000100, extra: { 2: { eax: PVIO_MSR_HCPAGE_DEFAULT } } }], msrs: [PVIO_MSR_HCPAGE_DEFAULT], page: (v) => pvioHypercallPage(native(v)) },
  ];
  for (const bits of BITS) {
    for (const vendor of ['amd', 'intel'] as const) {
      for (const c of cases) {
        it(`${c.abi.name} ${bits}-bit on ${vendor}`, () => {
          const g = generateStubs({ abi: c.abi, strategy: 'hcpage', bits, origin: IMAGE });
          const r = recorder();
          const writes: [number, bigint][] = [];
          let sv: StubVm | undefined;
          const hooks: HypervisorHooks = {
            ...r.hooks,
            cpuid: abiCpuid(c.layers, vendor),
            wrmsr(_v, index, value) {
              writes.push([index, value]);
              if (index === c.msrs[c.msrs.length - 1]) sv!.vm.memory.writeBytes(value & ~0xfffn, c.page(vendor));
              return 'ok';
            },
          };
          sv = new StubVm(g, { vendor, hooks });
          const base = sv.call(`pvkit_${c.abi.name}_detect`, [BUF]);
          expect(Number(base.ret & 0xffffffffn)).toBe(c.layers[0]!.base);
          const osid = 0x8100_0000_0006_0c00n;
          const s = sv.call(`pvkit_${c.abi.name}_hcpage_setup`, [base.ret & 0xffffffffn, PAGE, PAGE, osid]);
          expect(s.clobbered).toEqual([]);
          expect(writes.map(([i]) => i)).toEqual(c.msrs);
          if (c.abi.name === 'hyperv') expect(writes).toEqual([[HV_X64_MSR.GUEST_OS_ID, osid], [HV_X64_MSR.HYPERCALL, PAGE | 1n]]);
          else expect(writes[0]![1]).toBe(c.abi.name === 'xen' ? PAGE : PAGE | 1n);
          const w = g.wrappers[0]!;
          const args = w.params.map((p) => (p.name === 'out' ? BUF : 5n));
          const call = sv.call(w.symbol, args);
          expect(call.exit.kind).toBe('Hlt');
          expect(call.clobbered).toEqual([]);
          expect(r.seen.length).toBe(1);
          expect(r.seen[0]!.insn).toBe(native(vendor));
          // The trap ran inside the page, at its VMCALL (Xen: slot nr*32 after `mov eax, nr`; others: offset 0).
          const slot = c.abi.name === 'xen' ? BigInt(w.hc.nr) * 32n + 5n : 0n;
          expect(r.seen[0]!.rip).toBe(PAGE + slot);
          if (c.abi.name === 'xen') expect(Number(r.seen[0]!.rax & 0xffffffffn)).toBe(w.hc.nr);
          expect(sv.vm.patches).toEqual([]);
        });
      }
    }
  }
});
