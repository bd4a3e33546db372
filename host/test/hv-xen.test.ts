// Xen HVM personality against ABI-FACTS §3, guest code run in the emulator on both vendors.
import { describe, expect, it } from 'vitest';
import { XenPersonality } from '../src/hypervisor/xen.js';
import { VENDORS, guest, hasNasm, native, reg, runTo } from './hv-util.js';

if (!hasNasm) console.warn('nasm missing: Xen personality guest tests skipped');

// xen_cpuid_base() = hypervisor_cpuid_base("XenVMMXenVMM", 2) (ABI-FACTS §2): EDI = base, R9 = leaf base+2 EBX.
const SCAN = `
  mov esi, 0x40000000
scan:
  mov eax, esi
  xor ecx, ecx
  cpuid
  cmp ebx, 0x566e6558
  jne next
  cmp ecx, 0x65584d4d
  jne next
  cmp edx, 0x4d4d566e
  jne next
  sub eax, esi
  cmp eax, 2
  jb next
  mov edi, esi
  lea eax, [esi + 2]
  cpuid
  mov r9d, ebx
  hlt
next:
  add esi, 0x100
  cmp esi, 0x40010000
  jb scan
  xor edi, edi
  hlt`;

const PAGE = 0x20000;
const ENOSYS64 = BigInt.asUintN(64, -38n);

describe.skipIf(!hasNasm)('Xen personality', () => {
  for (const vendor of VENDORS) {
    describe(vendor, () => {
      it('detection: base 0x40000000 / MSR 0x40000000; Viridian layout: base 0x40000100 / MSR 0x40000200', () => {
        for (const [viridian, base, msr] of [[false, 0x40000000, 0x40000000], [true, 0x40000100, 0x40000200]] as const) {
          const vm = guest(SCAN, vendor);
          new XenPersonality({ viridian }).attach(vm);
          runTo(vm);
          expect(reg(vm, 'rdi')).toBe(BigInt(base));
          expect(reg(vm, 'r9')).toBe(BigInt(msr));
        }
        const vm = guest('mov eax, 0x40000000\ncpuid\nmov r8, rax\nmov eax, 0x40000001\ncpuid\nmov r9, rax\nmov eax, 0x40000002\ncpuid\nhlt', vendor);
        new XenPersonality({ version: { major: 4, minor: 17 } }).attach(vm);
        runTo(vm);
        expect(reg(vm, 'r8')).toBe(0x40000005n); // base + 5
        expect(reg(vm, 'r9')).toBe(0x00040011n);
        expect(reg(vm, 'rax')).toBe(1n); // one hypercall page
      });

      it('hypercall MSR fills the page (0xCC fill, 32-byte slots, ud2 at slot 23), reads as 0, and a call through it works', () => {
        const src = `
          mov ecx, 0x40000000
          mov eax, ${PAGE}
          xor edx, edx
          wrmsr
          rdmsr
          mov r12, rax
          mov r13, rdx
          mov edi, 0          ; XENVER_version
          xor esi, esi
          call ${PAGE + 17 * 32}
          hlt`;
        const vm = guest(src, vendor);
        new XenPersonality({ version: { major: 4, minor: 17 } }).attach(vm);
        runTo(vm);
        expect(reg(vm, 'r12')).toBe(0n);
        expect(reg(vm, 'r13')).toBe(0n);
        expect(reg(vm, 'rax')).toBe(0x40011n);
        const page = vm.memory.readBytes(PAGE, 4096);
        const insn = vendor === 'intel' ? [0x0f, 0x01, 0xc1] : [0x0f, 0x01, 0xd9];
        for (const i of [0, 1, 17, 24, 127]) {
          const o = i * 32;
          expect([...page.subarray(o, o + 32)]).toEqual([0xb8, i, 0, 0, 0, ...insn, 0xc3, ...new Array(23).fill(0xcc)]);
        }
        expect([...page.subarray(23 * 32, 24 * 32)]).toEqual([0x0f, 0x0b, ...new Array(30).fill(0xcc)]);
      });

      it('the same page works from 32-bit code', () => {
        const vm = guest(`mov ecx, 0x40000000\nmov eax, ${PAGE}\nxor edx, edx\nwrmsr\nxor ebx, ebx\ncall ${PAGE + 17 * 32}\nhlt`, vendor, 32);
        new XenPersonality().attach(vm);
        runTo(vm);
        expect(reg(vm, 'rax')).toBe(0x40011n);
      });

      it('page index > 0 -> #GP; a GPA that is not RAM -> #GP', () => {
        for (const lo of [PAGE + 1, 0xfff000]) {
          const vm = guest(`mov ecx, 0x40000000\nmov eax, ${lo}\nxor edx, edx\nwrmsr\nhlt`, vendor);
          new XenPersonality().attach(vm);
          expect(runTo(vm, 'Exception')).toMatchObject({ vector: 13 });
        }
      });

      it('onVendorChange rewrites recorded pages for the other vendor', () => {
        const vm = guest(`mov ecx, 0x40000000\nmov eax, ${PAGE}\nxor edx, edx\nwrmsr\nhlt`, vendor);
        const xen = new XenPersonality();
        xen.attach(vm);
        runTo(vm);
        const other = vendor === 'intel' ? 'amd' : 'intel';
        expect(xen.onVendorChange(other)).toBe(1);
        expect([...vm.memory.readBytes(PAGE + 5, 3)]).toEqual(other === 'intel' ? [0x0f, 0x01, 0xc1] : [0x0f, 0x01, 0xd9]);
      });

      it('unknown call -> -ENOSYS (-38), 64- and 32-bit; CPL 3 -> -EPERM', () => {
        const vm = guest('mov eax, 99\nHC\nhlt', vendor);
        new XenPersonality().attach(vm);
        runTo(vm);
        expect(reg(vm, 'rax')).toBe(ENOSYS64);
        const vm32 = guest('mov eax, 1\nHC\nhlt', vendor, 32); // mmu_update: PV only
        new XenPersonality().attach(vm32);
        runTo(vm32);
        expect(reg(vm32, 'rax')).toBe(0xffffffdan);
        const vm3 = guest('mov eax, 17\nxor edi, edi\nHC\njmp $', vendor, 64, { vcpus: [{ cpl: 3 }] });
        new XenPersonality().attach(vm3);
        vm3.run({ budget: 20 });
        expect(reg(vm3, 'rax')).toBe(0xffffffffffffffffn);
      });

      it('console_io write/read, hvm_op set/get param, sched_op yield; debug clobber of used argument registers', () => {
        const src = `
          mov rsi, 0x30000
          mov dword [rsi], 'hi X'
          mov eax, 18
          mov edi, 0        ; CONSOLEIO_write
          mov esi, 4
          mov edx, 0x30000
          HC
          mov r12, rax
          mov eax, 18
          mov edi, 1        ; CONSOLEIO_read
          mov esi, 8
          mov edx, 0x30100
          HC
          mov r13, rax
          mov rbx, 0x30200
          mov word [rbx], 0x7ff0
          mov dword [rbx+4], 5
          mov qword [rbx+8], 0x1234
          mov eax, 34
          mov edi, 0        ; HVMOP_set_param
          mov rsi, rbx
          HC
          mov qword [rbx+8], 0
          mov eax, 34
          mov edi, 1        ; HVMOP_get_param
          mov rsi, rbx
          HC
          mov r14, [rbx+8]
          mov eax, 29
          mov edi, 0        ; SCHEDOP_yield
          HC
          mov r15, rax
          hlt`;
        const vm = guest(src, vendor);
        const xen = new XenPersonality();
        xen.pushConsoleInput([0x41, 0x42]);
        xen.attach(vm);
        runTo(vm);
        expect(xen.consoleText()).toBe('hi X');
        expect(reg(vm, 'r12')).toBe(0n);
        expect(reg(vm, 'r13')).toBe(2n);
        expect([...vm.memory.readBytes(0x30100, 2)]).toEqual([0x41, 0x42]);
        expect(reg(vm, 'r14')).toBe(0x1234n);
        expect(reg(vm, 'r15')).toBe(0n);
        expect(xen.params.get(5)).toBe(0x1234n);

        const vm2 = guest('mov eax, 17\nxor edi, edi\nmov esi, 0\nmov r10, 5\nHC\nhlt', vendor);
        new XenPersonality({ debugClobber: true }).attach(vm2);
        runTo(vm2);
        expect(reg(vm2, 'rdi')).toBe(0xdeadbeefdeadf00dn);
        expect(reg(vm2, 'rsi')).toBe(0xdeadbeefdeadf00dn);
        expect(reg(vm2, 'r10')).toBe(5n); // xen_version takes two arguments
        const vm3 = guest('mov eax, 99\nmov edi, 7\nHC\nhlt', vendor);
        new XenPersonality({ debugClobber: true }).attach(vm3);
        runTo(vm3);
        expect(reg(vm3, 'rdi')).toBe(7n); // -ENOSYS: nothing clobbered
      });

      it('sched_op block halts the vCPU (an Hlt exit at the call)', () => {
        const vm = guest('mov eax, 29\nmov edi, 1\nHC\nmov r15, 1\nhlt', vendor);
        new XenPersonality().attach(vm);
        const e = runTo(vm);
        expect(e.rip).toBe(0x1000n + 10n);
        expect(vm.vcpus[0]!.halted).toBe(true);
        expect(reg(vm, 'r15')).toBe(0n);
        expect(native(vendor)).toMatch(/call$/);
      });
    });
  }
});
