// KVM personality against ABI-FACTS §1 and §2, with guest code run in the emulator on both vendors.
import { describe, expect, it } from 'vitest';
import { PVCLOCK_VCPU_TIME_INFO, pvclockNs } from '@pvkit/shared-abi';
import { CostCounters } from '../src/cost/counters.js';
import { KvmPersonality } from '../src/hypervisor/kvm.js';
import { kvmTimeScale } from '../src/hypervisor/kvm-clock.js';
import { VENDORS, guest, hasNasm, reg, runTo } from './hv-util.js';

if (!hasNasm) console.warn('nasm missing: KVM personality guest tests skipped');

// hypervisor_cpuid_base(KVM_SIGNATURE, 0) as Linux does it (ABI-FACTS §2); EDI = base found (0 = none),
// EBP = CPUID.1:ECX.
const SCAN = `
  mov eax, 1
  cpuid
  mov ebp, ecx
  mov esi, 0x40000000
scan:
  mov eax, esi
  xor ecx, ecx
  cpuid
  cmp ebx, 0x4b4d564b
  jne next
  cmp ecx, 0x564b4d56
  jne next
  cmp edx, 0x4d
  jne next
  mov edi, esi
  hlt
next:
  add esi, 0x100
  cmp esi, 0x40010000
  jb scan
  xor edi, edi
  hlt`;

const HC_SEQ = (nr: number | string, extra = '') => `mov rax, ${nr}\n${extra}\nHC\nhlt`;

describe.skipIf(!hasNasm)('KVM personality', () => {
  for (const vendor of VENDORS) {
    describe(vendor, () => {
      it('detection scan finds KVM at the configured base; CPUID.1:ECX[31] set; max leaf = base+1', () => {
        for (const base of [0x40000000, 0x40000100, 0x40001000]) {
          const vm = guest(SCAN, vendor);
          new KvmPersonality({ base }).attach(vm);
          runTo(vm);
          expect(reg(vm, 'rdi')).toBe(BigInt(base));
          expect((reg(vm, 'rbp') >> 31n) & 1n).toBe(1n);
          const vm2 = guest(`mov eax, ${base}\ncpuid\nhlt`, vendor);
          new KvmPersonality({ base }).attach(vm2);
          runTo(vm2);
          expect(reg(vm2, 'rax')).toBe(BigInt(base + 1));
        }
      });

      it('feature leaf: default modern set, configurable like a CPU template', () => {
        const vm = guest('mov eax, 0x40000001\ncpuid\nhlt', vendor);
        new KvmPersonality().attach(vm);
        runTo(vm);
        const eax = Number(reg(vm, 'rax'));
        // bits per ABI-FACTS §1.4: CLOCKSOURCE2 3, PV_UNHALT 7, PV_SEND_IPI 11, STABLE 24; MMU_OP 2 never.
        for (const b of [0, 3, 7, 11, 13, 24]) expect((eax >>> b) & 1).toBe(1);
        expect((eax >>> 2) & 1).toBe(0);
        expect(reg(vm, 'rbx')).toBe(0n);
        const vm2 = guest('mov eax, 0x40000001\ncpuid\nhlt', vendor);
        new KvmPersonality({ features: ['CLOCKSOURCE2', 'PV_SEND_IPI'], realtimeHint: true }).attach(vm2);
        runTo(vm2);
        expect(reg(vm2, 'rax')).toBe(BigInt((1 << 3) | (1 << 11)));
        expect(reg(vm2, 'rdx')).toBe(1n);
      });

      it('unknown hypercall: -KVM_ENOSYS = 0xFFFFFFFFFFFFFC18 (64-bit), 0xFFFFFC18 (32-bit); RIP past the 3 bytes', () => {
        const vm = guest('mov eax, 0x3ff\nHC\nhlt', vendor);
        new KvmPersonality().attach(vm);
        const e = runTo(vm);
        expect(reg(vm, 'rax')).toBe(0xfffffffffffffc18n);
        expect(e.rip).toBe(0x1000n + 5n + 3n); // HLT after mov eax, imm32 (5 bytes) + the 3-byte hypercall
        const vm32 = guest('mov eax, 0x3ff\nHC\nhlt', vendor, 32);
        new KvmPersonality().attach(vm32);
        runTo(vm32);
        expect(reg(vm32, 'rax')).toBe(0xfffffc18n);
      });

      it('64-bit caller: all of RAX is the number (1 + 2^32 is unknown); 32-bit caller: masked', () => {
        const vm = guest('mov rax, 0x100000001\nHC\nhlt', vendor);
        new KvmPersonality().attach(vm);
        runTo(vm);
        expect(reg(vm, 'rax')).toBe(0xfffffffffffffc18n);
        const vm32 = guest('mov eax, 1\nHC\nhlt', vendor, 32);
        new KvmPersonality().attach(vm32);
        runTo(vm32);
        expect(reg(vm32, 'rax')).toBe(0n); // VAPIC_POLL_IRQ
      });

      it('CPL 3: -KVM_EPERM for any number; RIP advances', () => {
        for (const nr of [1, 0x3ff]) {
          const vm = guest(`mov rax, ${nr}\nHC\nmov rbx, 7\njmp $`, vendor, 64, { vcpus: [{ cpl: 3 }] });
          new KvmPersonality().attach(vm);
          vm.run({ budget: 50 });
          expect(reg(vm, 'rax')).toBe(0xffffffffffffffffn);
          expect(reg(vm, 'rbx')).toBe(7n);
        }
        const vm32 = guest('mov eax, 1\nHC\njmp $', vendor, 32, { vcpus: [{ cpl: 3 }] });
        new KvmPersonality().attach(vm32);
        vm32.run({ budget: 50 });
        expect(reg(vm32, 'rax')).toBe(0xffffffffn);
      });

      it('KICK_CPU wakes a halted vCPU (a1 = APIC ID) and returns 0', () => {
        // vCPU 1 halts at once; vCPU 0 spins a little, then kicks APIC ID 1, then halts.
        const src = `
          test rsp, 0x1000     ; vCPU 1 has RSP = STACK_TOP - 0x1000
          jnz kicker
          hlt
          mov r15, 0x51
          hlt
        kicker:
          mov ecx, 100
        spin: loop spin
          mov rax, 5
          xor ebx, ebx
          mov rcx, 1
          HC
          mov r14, rax
          hlt`;
        const vm = guest(src, vendor, 64, { vcpus: 2, quantum: 10 });
        vm.vcpus[0]!.setReg('rsp', 0x7f000n);
        vm.vcpus[1]!.setReg('rsp', 0x7e000n);
        const kvm = new KvmPersonality();
        kvm.attach(vm);
        runTo(vm); // a vCPU halts: keep going until both are halted
        for (let i = 0; i < 5 && !(vm.vcpus[0]!.halted && vm.vcpus[1]!.halted && reg(vm, 'r15', 1) === 0x51n); i++) vm.run({ budget: 10000 });
        expect(reg(vm, 'r14', 0)).toBe(0n);
        expect(reg(vm, 'r15', 1)).toBe(0x51n);
        expect(kvm.events).toContainEqual({ call: 'KICK_CPU', vcpu: 0, args: [0n, 1n], targets: [1] });
      });

      it('SEND_IPI returns #CPUs delivered: 64 destinations per register in 64-bit mode, 32 in 32-bit mode', () => {
        // 4 vCPUs: APIC IDs 0..3. min = 1: low bit 0 -> ID 1, bit 2 -> ID 3, bit 5 -> ID 6 (absent).
        const vm = guest('mov rax, 10\nmov rbx, 0b100101\nxor ecx, ecx\nmov rdx, 1\nmov rsi, 0xfd\nHC\nhlt', vendor, 64, { vcpus: 4 });
        new KvmPersonality().attach(vm);
        runTo(vm);
        expect(reg(vm, 'rax')).toBe(2n);
        // high bitmap bit 0 = APIC ID min + 64 in 64-bit mode: no such vCPU.
        const vm2 = guest('mov rax, 10\nxor ebx, ebx\nmov rcx, 1\nxor edx, edx\nmov rsi, 0xfd\nHC\nhlt', vendor, 64, { vcpus: 4 });
        new KvmPersonality().attach(vm2);
        runTo(vm2);
        expect(reg(vm2, 'rax')).toBe(0n);
        // 32-bit: high bitmap bit 0 = APIC ID min + 32 -> with min = -29 (mod 2^32)... use min 0: ID 32 absent;
        // low bit 3 -> ID 3 present.
        const vm3 = guest('mov eax, 10\nmov ebx, 8\nmov ecx, 1\nxor edx, edx\nmov esi, 0xfd\nHC\nhlt', vendor, 32, { vcpus: 4 });
        new KvmPersonality().attach(vm3);
        runTo(vm3);
        expect(reg(vm3, 'rax')).toBe(1n);
      });

      it('SCHED_YIELD and VAPIC_POLL_IRQ return 0; MMU_OP is -KVM_ENOSYS', () => {
        for (const [nr, want] of [[11, 0n], [1, 0n], [2, 0xfffffffffffffc18n]] as const) {
          const vm = guest(HC_SEQ(nr, 'xor ebx, ebx'), vendor);
          new KvmPersonality().attach(vm);
          runTo(vm);
          expect(reg(vm, 'rax')).toBe(want);
        }
      });

      it('enforcePvFeatureCpuid: KICK_CPU / SEND_IPI with their bit clear -> -KVM_ENOSYS; MSR of a clear feature -> #GP', () => {
        const opts = { enforcePvFeatureCpuid: true, features: ['CLOCKSOURCE2'] as const };
        for (const nr of [5, 10, 11]) {
          const vm = guest(HC_SEQ(nr, 'xor ebx, ebx\nxor ecx, ecx'), vendor);
          new KvmPersonality({ ...opts, features: [...opts.features] }).attach(vm);
          runTo(vm);
          expect(reg(vm, 'rax')).toBe(0xfffffffffffffc18n);
        }
        const vm = guest('mov ecx, 0x4b564d03\nmov eax, 0x2001\nxor edx, edx\nwrmsr\nhlt', vendor);
        new KvmPersonality({ ...opts, features: [...opts.features] }).attach(vm);
        expect(runTo(vm, 'Exception')).toMatchObject({ vector: 13 });
      });

      it('MAP_GPA_RANGE: -KVM_ENOSYS unless the exit is enabled; then attrs/alignment checked (-KVM_EINVAL = -22)', () => {
        const call = (attrs: string, gpa = '0x200000') => `mov rax, 12\nmov rbx, ${gpa}\nmov rcx, 4\nmov rdx, ${attrs}\nHC\nhlt`;
        const vm0 = guest(call('0'), vendor);
        new KvmPersonality().attach(vm0);
        runTo(vm0);
        expect(reg(vm0, 'rax')).toBe(0xfffffffffffffc18n);
        for (const [attrs, gpa, want] of [['0x10', '0x200000', 0n], ['0x20', '0x200000', -22n], ['3', '0x200000', -22n], ['0', '0x200800', -22n]] as const) {
          const vm = guest(call(attrs, gpa), vendor);
          const kvm = new KvmPersonality({ exitOnMapGpaRange: true });
          kvm.attach(vm);
          runTo(vm);
          expect(reg(vm, 'rax')).toBe(BigInt.asUintN(64, want));
        }
      });

      it('CLOCK_PAIRING writes kvm_clock_pairing consistent with the pvclock and RDTSC; 32-bit caller -KVM_ENOSYS', () => {
        const src = 'rdtsc\nshl rdx, 32\nor rax, rdx\nmov r12, rax\nmov rax, 9\nmov rbx, 0x20000\nxor ecx, ecx\nHC\nhlt';
        const vm = guest(src, vendor);
        const boot = 1_600_000_000_123_456_789n;
        const kvm = new KvmPersonality({ tscHz: 2_500_000_000n, bootWallNs: boot });
        kvm.attach(vm);
        runTo(vm);
        expect(reg(vm, 'rax')).toBe(0n);
        const b = vm.memory.readBytes(0x20000, 64);
        const dv = new DataView(b.buffer);
        const sec = dv.getBigInt64(0, true), nsec = dv.getBigInt64(8, true), tsc = dv.getBigUint64(16, true);
        expect(tsc).toBeGreaterThanOrEqual(reg(vm, 'r12'));
        expect(nsec).toBeLessThan(1_000_000_000n);
        const { shift, mul } = kvmTimeScale(1_000_000_000n, 2_500_000_000n);
        expect(sec * 1_000_000_000n + nsec - boot).toBe(pvclockNs({ tscTimestamp: 0n, systemTime: 0n, tscToSystemMul: mul, tscShift: shift }, tsc));
        expect(dv.getUint32(24, true)).toBe(0); // flags
        // bad clock type -> -KVM_EOPNOTSUPP (95)
        const vm2 = guest('mov rax, 9\nmov rbx, 0x20000\nmov ecx, 1\nHC\nhlt', vendor);
        new KvmPersonality().attach(vm2);
        runTo(vm2);
        expect(reg(vm2, 'rax')).toBe(BigInt.asUintN(64, -95n));
        const vm32 = guest('mov eax, 9\nmov ebx, 0x20000\nxor ecx, ecx\nHC\nhlt', vendor, 32);
        new KvmPersonality().attach(vm32);
        runTo(vm32);
        expect(reg(vm32, 'rax')).toBe(0xfffffc18n);
      });

      it('MSR_KVM_SYSTEM_TIME_NEW writes pvclock_vcpu_time_info; WALL_CLOCK_NEW writes pvclock_wall_clock', () => {
        const src = `
          mov ecx, 0x4b564d01
          mov eax, 0x30001
          xor edx, edx
          wrmsr
          mov ecx, 0x4b564d00
          mov eax, 0x30100
          wrmsr
          rdtsc
          mov ecx, 0x4b564d01
          rdmsr
          hlt`;
        const vm = guest(src, vendor);
        const kvm = new KvmPersonality({ tscHz: 3_000_000_000n, bootWallNs: 1_234_567_890_987_654_321n });
        kvm.attach(vm);
        runTo(vm);
        expect(reg(vm, 'rax')).toBe(0x30001n);
        const t = new DataView(vm.memory.readBytes(0x30000, PVCLOCK_VCPU_TIME_INFO.size).buffer);
        const version = t.getUint32(0, true);
        expect(version % 2).toBe(0);
        expect(version).toBeGreaterThan(0);
        const info = {
          tscTimestamp: t.getBigUint64(8, true), systemTime: t.getBigUint64(16, true),
          tscToSystemMul: t.getUint32(24, true), tscShift: t.getInt8(28),
        };
        expect(t.getUint8(29) & 1).toBe(1); // PVCLOCK_TSC_STABLE_BIT with CLOCKSOURCE_STABLE_BIT
        // Consistency: the clock read at tsc_timestamp is system_time; one second of TSC is one second (+-1 ns).
        expect(pvclockNs(info, info.tscTimestamp)).toBe(info.systemTime);
        const oneSec = pvclockNs(info, info.tscTimestamp + 3_000_000_000n) - info.systemTime;
        expect(oneSec >= 999_999_999n && oneSec <= 1_000_000_001n).toBe(true);
        const w = new DataView(vm.memory.readBytes(0x30100, 12).buffer);
        expect(w.getUint32(0, true) % 2).toBe(0);
        expect(w.getUint32(4, true)).toBe(1_234_567_890);
        expect(w.getUint32(8, true)).toBe(987_654_321);
      });

      it('reserved MSR bits: #GP where KVM refuses them (STEAL_TIME 0x3e, POLL_CONTROL 63:1); POLL_CONTROL reads 1', () => {
        for (const [msr, lo] of [[0x4b564d03, 0x20003], [0x4b564d05, 2], [0x4b564d06, 0x100], [0x4b564d02, 0x10]] as const) {
          const vm = guest(`mov ecx, ${msr}\nmov eax, ${lo}\nxor edx, edx\nwrmsr\nhlt`, vendor);
          new KvmPersonality().attach(vm);
          expect(runTo(vm, 'Exception')).toMatchObject({ vector: 13, rip: 0x1000n + 12n });
        }
        const vm = guest('mov ecx, 0x4b564d05\nrdmsr\nmov ecx, 0x4b564d03\nmov eax, 0x20001\nxor edx, edx\nwrmsr\nrdmsr\nhlt', vendor);
        new KvmPersonality().attach(vm);
        runTo(vm);
        expect(reg(vm, 'rax')).toBe(0x20001n);
        const vm2 = guest('mov ecx, 0x4b564d05\nrdmsr\nhlt', vendor);
        new KvmPersonality().attach(vm2);
        runTo(vm2);
        expect(reg(vm2, 'rax')).toBe(1n);
      });

      it('unknown MSR -> #GP; architectural MSRs still answered by the CPU; exits counted', () => {
        const counters = new CostCounters();
        const vm = guest('mov ecx, 0xc0000080\nrdmsr\nmov r8, rax\nxor eax, eax\ncpuid\nmov rax, 1\nHC\nmov ecx, 0x4b564dff\nrdmsr\nhlt', vendor);
        new KvmPersonality().attach(vm, { counters });
        expect(runTo(vm, 'Exception')).toMatchObject({ vector: 13 });
        expect(reg(vm, 'r8')).toBe(0x500n); // EFER.LME|LMA
        expect(counters.get('cpuid')).toBe(1);
        expect(counters.get('hypercall')).toBe(1);
        expect(counters.get('msr')).toBe(1);
      });
    });
  }
});
