// Hyper-V personality against ABI-FACTS §4 (TLFS), guest code run in the emulator on both vendors.
import { describe, expect, it } from 'vitest';
import { HypervPersonality } from '../src/hypervisor/hyperv.js';
import { IoBusRouter } from '../src/bus/router.js';
import type { MmioDevice } from '../src/bus/types.js';
import { VENDORS, guest, hasNasm, reg, runTo } from './hv-util.js';

if (!hasNasm) console.warn('nasm missing: Hyper-V personality guest tests skipped');

const PAGE = 0x20000;
const GUEST_ID = 0x8100_0000_0006_0000n; // Linux open-source id (TLFS encoding, ABI-FACTS §4.2)
// TLFS setup (ABI-FACTS §4.2): GUEST_OS_ID, then HYPERCALL = GPA | enable.
const ENABLE = `
  mov ecx, 0x40000000
  mov eax, 0x00060000
  mov edx, 0x81000000
  wrmsr
  mov ecx, 0x40000001
  mov eax, ${PAGE + 1}
  xor edx, edx
  wrmsr`;
/** control word: code | fast<<16 | repCount<<32 | repStart<<48 (TLFS §4.3 table). */
const ctl = (code: number, o: { fast?: boolean; reps?: number; start?: number; rsvd?: bigint } = {}): bigint =>
  BigInt(code) | (o.fast ? 1n << 16n : 0n) | (BigInt(o.reps ?? 0) << 32n) | (BigInt(o.start ?? 0) << 48n) | (o.rsvd ?? 0n);
const hx = (v: bigint): string => `0x${v.toString(16)}`;

describe.skipIf(!hasNasm)('Hyper-V personality', () => {
  for (const vendor of VENDORS) {
    describe(vendor, () => {
      const insn = vendor === 'intel' ? [0x0f, 0x01, 0xc1] : [0x0f, 0x01, 0xd9];

      it('ms_hyperv_platform detection: 0x40000000 EAX in [0x40000005, 0x4000ffff], "Microsoft Hv", "Hv#1"; privileges', () => {
        const vm = guest('mov eax, 0x40000000\ncpuid\nmov r8, rax\nmov r9, rbx\nmov r10, rcx\nmov r11, rdx\nmov eax, 0x40000001\ncpuid\nmov r12, rax\nmov eax, 0x40000003\ncpuid\nhlt', vendor);
        new HypervPersonality().attach(vm);
        runTo(vm);
        const eax = reg(vm, 'r8');
        expect(eax >= 0x40000005n && eax <= 0x4000ffffn).toBe(true);
        expect([reg(vm, 'r9'), reg(vm, 'r10'), reg(vm, 'r11')]).toEqual([0x7263694dn, 0x666f736fn, 0x76482074n]);
        expect(reg(vm, 'r12')).toBe(0x31237648n);
        expect((reg(vm, 'rax') >> 5n) & 1n).toBe(1n); // HV_MSR_HYPERCALL_AVAILABLE
      });

      it('HYPERCALL enable is ignored while GUEST_OS_ID is 0; enabling writes the stub overlay; zero guest id disables', () => {
        const vm = guest(`mov ecx, 0x40000001\nmov eax, ${PAGE + 1}\nxor edx, edx\nwrmsr\nrdmsr\nmov r8, rax\n${ENABLE}\nrdmsr\nmov r9, rax\nhlt`, vendor);
        vm.memory.writeBytes(PAGE, [1, 2, 3, 4, 5]);
        const hv = new HypervPersonality();
        hv.attach(vm);
        runTo(vm);
        expect(reg(vm, 'r8')).toBe(0n);
        expect(reg(vm, 'r9')).toBe(BigInt(PAGE + 1));
        expect(hv.guestOsId).toBe(GUEST_ID);
        expect([...vm.memory.readBytes(PAGE, 8)]).toEqual([...insn, 0xc3, 0xcc, 0xcc, 0xcc, 0xcc]);
        // zero the guest id: the enable bit clears and the RAM under the overlay comes back
        const vm2 = guest(`${ENABLE}\nmov ecx, 0x40000000\nxor eax, eax\nxor edx, edx\nwrmsr\nmov ecx, 0x40000001\nrdmsr\nhlt`, vendor);
        vm2.memory.writeBytes(PAGE, [1, 2, 3, 4, 5]);
        new HypervPersonality().attach(vm2);
        runTo(vm2);
        expect(reg(vm2, 'rax') & 1n).toBe(0n);
        expect([...vm2.memory.readBytes(PAGE, 5)]).toEqual([1, 2, 3, 4, 5]);
      });

      it('locked HYPERCALL MSR ignores later writes; VP_INDEX = vCPU index, read-only', () => {
        const vm = guest(`${ENABLE}\nmov eax, ${PAGE + 3}\nwrmsr\nmov eax, ${PAGE + 0x1000 + 1}\nwrmsr\nrdmsr\nmov r8, rax\nmov ecx, 0x40000002\nrdmsr\nmov r9, rax\nwrmsr\nhlt`, vendor, 64, { vcpus: 1 });
        new HypervPersonality().attach(vm);
        expect(runTo(vm, 'Exception')).toMatchObject({ vector: 13 }); // the VP_INDEX write
        expect(reg(vm, 'r8')).toBe(BigInt(PAGE + 3));
        expect(reg(vm, 'r9')).toBe(0n);
      });

      it('call through the page: unknown code -> INVALID_HYPERCALL_CODE (2), reserved bit -> INVALID_HYPERCALL_INPUT (3)', () => {
        for (const [c, want] of [[ctl(0x7777), 2n], [ctl(0x0008, { fast: true, rsvd: 1n << 28n }), 3n], [ctl(0x0008, { fast: true }), 0n], [ctl(0x0003), 3n]] as const) {
          const vm = guest(`${ENABLE}\nmov rcx, ${hx(c)}\nxor edx, edx\nxor r8, r8\ncall ${PAGE}\nhlt`, vendor);
          new HypervPersonality().attach(vm);
          runTo(vm);
          expect(reg(vm, 'rax')).toBe(want);
        }
      });

      it('memory-based GET_PARTITION_ID; alignment, page-straddle and overlap -> INVALID_ALIGNMENT (4)', () => {
        const vm = guest(`mov rcx, ${hx(ctl(0x46))}\nxor edx, edx\nmov r8, 0x30008\nHC\nhlt`, vendor);
        new HypervPersonality({ partitionId: 0x1234n }).attach(vm);
        runTo(vm);
        expect(reg(vm, 'rax')).toBe(0n);
        expect(vm.memory.readU64(0x30008)).toBe(0x1234n);
        const cases: [number, string, string][] = [
          [0x46, '0', '0x30004'], // output not 8-byte aligned
          [0x106, '0x30000', '0x30fc8'], // 64-byte MMIO read output crosses into the next page
          [0x106, '0x30000', '0x30008'], // input [0x30000,+16) overlaps output
          [0x106, '0x30ff8', '0x31000'], // 16-byte input crosses a page
        ];
        for (const [code, inGpa, outGpa] of cases) {
          const vm2 = guest(`mov rcx, ${code}\nmov rdx, ${inGpa}\nmov r8, ${outGpa}\nHC\nhlt`, vendor);
          new HypervPersonality().attach(vm2);
          runTo(vm2);
          expect(reg(vm2, 'rax')).toBe(4n);
        }
      });

      it('rep call continues in chunks: RIP stays, RCX gets the new start index, the last exit reports all reps', () => {
        const c = ctl(0x0003, { reps: 10 });
        const vm = guest(`mov rcx, ${hx(c)}\nmov rdx, 0x30000\nxor r8, r8\nHC\nhlt`, vendor, 64, { trace: true });
        const hv = new HypervPersonality({ repChunk: 4 });
        hv.attach(vm);
        const hcAt = 0x1000n + 10n + 5n + 3n; // mov rcx, imm64; mov edx, imm32; xor r8, r8
        vm.run({ budget: 3 });
        const seen: [bigint, bigint][] = [];
        for (let i = 0; i < 3; i++) {
          vm.run({ budget: 1 });
          seen.push([vm.vcpus[0]!.rip, reg(vm, 'rcx') >> 48n]);
        }
        expect(seen).toEqual([[hcAt, 4n], [hcAt, 8n], [hcAt + 3n, 8n]]);
        expect(reg(vm, 'rax')).toBe(10n << 32n); // SUCCESS, 10 reps completed in total
        expect(vm.trace.filter((t) => t.kind === 'Hypercall').length).toBe(3);
        expect(hv.calls.map((x) => x.continued)).toEqual([true, true, false]);
      });

      it('32-bit caller: control in EDX:EAX, rep start updated in EDX:EAX, result in EDX:EAX', () => {
        const c = ctl(0x0003, { reps: 5 });
        const vm = guest(`mov eax, ${hx(c & 0xffffffffn)}\nmov edx, ${hx(c >> 32n)}\nxor ebx, ebx\nmov ecx, 0x30000\nxor edi, edi\nxor esi, esi\nHC\nhlt`, vendor, 32);
        new HypervPersonality({ repChunk: 2 }).attach(vm);
        vm.run({ budget: 7 });
        expect(reg(vm, 'rdx') >> 16n).toBe(2n); // start index bits 59:48 = EDX bits 27:16
        runTo(vm);
        expect([reg(vm, 'rdx'), reg(vm, 'rax')]).toEqual([5n, 0n]);
      });

      it('enforceCpuid: GUEST_OS_ID without HV_MSR_HYPERCALL_AVAILABLE -> #GP; with it, accepted', () => {
        const src = 'mov ecx, 0x40000000\nmov eax, 1\nxor edx, edx\nwrmsr\nhlt';
        const vm = guest(src, vendor);
        new HypervPersonality({ enforceCpuid: true, features: ['HV_MSR_VP_INDEX_AVAILABLE'] }).attach(vm);
        expect(runTo(vm, 'Exception')).toMatchObject({ vector: 13 });
        const vm2 = guest(src, vendor);
        new HypervPersonality({ enforceCpuid: true }).attach(vm2);
        runTo(vm2);
      });

      it('CPL 3 -> #UD at the hypercall instruction', () => {
        const vm = guest(`mov rcx, 8\nHC\nhlt`, vendor, 64, { vcpus: [{ cpl: 3 }] });
        new HypervPersonality().attach(vm);
        expect(runTo(vm, 'Exception')).toMatchObject({ vector: 6, rip: 0x1000n + 5n });
      });

      it('HvCallMemoryMappedIoRead/Write reach the MMIO bus device like plain accesses', () => {
        const log: string[] = [];
        let reg32 = 0n;
        const dev: MmioDevice = {
          name: 'dev',
          read: (off, size) => { log.push(`r${off}/${size}`); return reg32; },
          write: (off, size, v) => { log.push(`w${off}/${size}=${v}`); reg32 = v; },
        };
        const router = new IoBusRouter();
        router.mmio.register(0xfe000000n, 0x1000n, dev);
        const src = `
          mov rbx, 0x30000
          mov eax, 0xfe000010
          mov [rbx], rax
          mov dword [rbx+8], 4
          mov dword [rbx+12], 0
          mov eax, 0xabcd1234
          mov [rbx+16], rax
          mov rcx, 0x107
          mov rdx, rbx
          xor r8, r8
          HC
          mov r12, rax
          mov rcx, 0x106
          mov rdx, rbx
          mov r8, 0x30100
          HC
          mov r15, rax
          mov r13, [0x30100]
          mov eax, 0xfe000010
          mov r14d, [rax]
          hlt`;
        const vm = guest(src, vendor, 64, { router });
        vm.memory.addMmio(0xfe000000, 0x1000);
        new HypervPersonality().attach(vm);
        runTo(vm);
        expect([reg(vm, 'r12'), reg(vm, 'r15')]).toEqual([0n, 0n]);
        expect(reg(vm, 'r13')).toBe(0xabcd1234n);
        expect(reg(vm, 'r14')).toBe(0xabcd1234n);
        expect(log).toEqual(['w16/4=2882343476', 'r16/4', 'r16/4']);
      });
    });
  }
});
