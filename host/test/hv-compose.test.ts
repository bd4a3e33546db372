// Several personalities on one VM (ABI-FACTS §1.2 routing, §2 detection), guest code on both vendors.
import { describe, expect, it } from 'vitest';
import { AbiError } from '@pvkit/shared-abi';
import { Hypervisor } from '../src/hypervisor/compose.js';
import { HypervPersonality } from '../src/hypervisor/hyperv.js';
import { KvmPersonality } from '../src/hypervisor/kvm.js';
import { PvioPersonality } from '../src/hypervisor/pvio.js';
import { VmwarePersonality } from '../src/hypervisor/vmware.js';
import { XenPersonality } from '../src/hypervisor/xen.js';
import { IoBusRouter } from '../src/bus/router.js';
import { CostCounters } from '../src/cost/counters.js';
import { ENABLE_HV, VENDORS, guest, hasNasm, reg, runTo } from './hv-util.js';

if (!hasNasm) console.warn('nasm missing: composition guest tests skipped');

/** Linux hypervisor_cpuid_base(sig, leaves) for a signature given as three dwords; result in EDI (ABI-FACTS §2). */
const scan = (ebx: number, ecx: number, edx: number, leaves: number, tag: string) => `
  mov esi, 0x40000000
s_${tag}:
  mov eax, esi
  xor ecx, ecx
  cpuid
  cmp ebx, ${ebx}
  jne n_${tag}
  cmp ecx, ${ecx}
  jne n_${tag}
  cmp edx, ${edx}
  jne n_${tag}
  sub eax, esi
  cmp eax, ${leaves}
  jb n_${tag}
  mov edi, esi
  jmp d_${tag}
n_${tag}:
  add esi, 0x100
  cmp esi, 0x40010000
  jb s_${tag}
  xor edi, edi
d_${tag}:`;
const KVM_SCAN = scan(0x4b4d564b, 0x564b4d56, 0x4d, 0, 'kvm');
const XEN_SCAN = scan(0x566e6558, 0x65584d4d, 0x4d4d566e, 2, 'xen');

describe.skipIf(!hasNasm)('composition', () => {
  for (const vendor of VENDORS) {
    describe(vendor, () => {
      it('Hyper-V at 0x40000000 + KVM at 0x40000100: Linux finds KVM behind Hyper-V, Windows finds Hyper-V; CPUID.1:ECX[31]', () => {
        const src = `mov eax, 1\ncpuid\nmov r15, rcx\nmov eax, 0x40000000\ncpuid\nmov r14, rbx\n${KVM_SCAN}\nhlt`;
        const vm = guest(src, vendor);
        new Hypervisor([new HypervPersonality(), new KvmPersonality({ base: 0x40000100 })]).attach(vm);
        runTo(vm);
        expect(reg(vm, 'rdi')).toBe(0x40000100n);
        expect(reg(vm, 'r14')).toBe(0x7263694dn); // "Micr"
        expect((reg(vm, 'r15') >> 31n) & 1n).toBe(1n);
      });

      it('VMCALL goes to KVM until the Hyper-V hypercall MSR is enabled, then to Hyper-V (KVM rule)', () => {
        const src = `
          mov eax, 1            ; KVM_HC_VAPIC_POLL_IRQ
          mov ecx, 0x7777       ; as a Hyper-V control word: unknown call code
          HC
          mov r12, rax
          ${ENABLE_HV}
          mov eax, 1
          mov ecx, 0x7777
          xor edx, edx
          xor r8, r8
          HC
          mov r13, rax
          hlt`;
        const vm = guest(src, vendor);
        const hvsr = new Hypervisor([new HypervPersonality(), new KvmPersonality({ base: 0x40000100 })]);
        hvsr.attach(vm);
        runTo(vm);
        expect(reg(vm, 'r12')).toBe(0n); // KVM: VAPIC_POLL_IRQ -> 0
        expect(reg(vm, 'r13')).toBe(2n); // Hyper-V: HV_STATUS_INVALID_HYPERCALL_CODE
        expect(Object.fromEntries(hvsr.routed)).toEqual({ kvm: 1, hyperv: 1 });
      });

      it('pvio is checked first, even with Hyper-V enabled; VMware magic reaches VMware beside KVM', () => {
        const router = new IoBusRouter();
        const src = `
          ${ENABLE_HV}
          mov eax, 0x50560000
          HC
          mov r12, rax
          hlt`;
        const vm = guest(src, vendor, 64, { router });
        new Hypervisor([new HypervPersonality(), new KvmPersonality({ base: 0x40000100 }), new PvioPersonality({ base: 0x40000200 })]).attach(vm);
        runTo(vm);
        expect(reg(vm, 'r12')).toBe(BigInt.asUintN(64, -38n)); // -PVIO_ENOSYS from pvio, not a Hyper-V status
        const vm2 = guest('mov eax, 0x564D5868\nmov ecx, 10\nxor edx, edx\nHC\nmov r12, rax\nmov eax, 0x3ff\nHC\nhlt', vendor, 64, { router: new IoBusRouter() });
        new Hypervisor([new VmwarePersonality(), new KvmPersonality({ base: 0x40000100 })]).attach(vm2);
        runTo(vm2);
        expect(reg(vm2, 'r12')).toBe(6n);
        expect(reg(vm2, 'rax')).toBe(0xfffffffffffffc18n);
      });

      it('Xen with Viridian: Xen found at 0x40000100 (MSR 0x40000200); interception sends VMCALLs to Xen, EAX bit 31 to Hyper-V', () => {
        const src = `
          ${XEN_SCAN}
          mov r12, rdi
          lea eax, [edi + 2]
          cpuid
          mov r13, rbx
          ${ENABLE_HV}
          mov eax, 17           ; xen_version
          xor edi, edi
          HC
          mov r14, rax
          mov eax, 0x80000000
          mov ecx, 0x7777
          xor edx, edx
          xor r8, r8
          HC
          hlt`;
        const vm = guest(src, vendor);
        new Hypervisor([new HypervPersonality({ xenViridianPrefix: true }), new XenPersonality({ viridian: true, version: { major: 4, minor: 17 } })], { xenIntercept: true }).attach(vm);
        runTo(vm);
        expect(reg(vm, 'r12')).toBe(0x40000100n);
        expect(reg(vm, 'r13')).toBe(0x40000200n);
        expect(reg(vm, 'r14')).toBe(0x40011n);
        expect(reg(vm, 'rax')).toBe(2n);
        expect([...vm.memory.readBytes(0x20000, 5)]).toEqual([0x0d, 0x00, 0x00, 0x00, 0x80]); // viridian page prefix
      });

      it('unknown MSR -> #GP; every handled exit counted (shared counters with the router)', () => {
        const counters = new CostCounters();
        const router = new IoBusRouter({ counters });
        const vm = guest('mov eax, 0x40000100\ncpuid\nmov eax, 1\nHC\nmov ecx, 0x40000020\nrdmsr\nmov ecx, 0x4b564dff\nrdmsr\nhlt', vendor, 64, { router });
        new Hypervisor([new HypervPersonality(), new KvmPersonality({ base: 0x40000100 })], { counters }).attach(vm);
        expect(runTo(vm, 'Exception')).toMatchObject({ vector: 13 });
        expect([counters.get('cpuid'), counters.get('hypercall'), counters.get('msr')]).toEqual([1, 1, 2]);
      });
    });
  }

  it('overlapping CPUID placements are refused with the ABIs named', () => {
    expect(() => new Hypervisor([new HypervPersonality(), new KvmPersonality()])).toThrow(AbiError);
    expect(() => new Hypervisor([new KvmPersonality({ base: 0x40000100 }), new XenPersonality({ viridian: true })])).toThrow(/kvm and xen/);
  });
});
