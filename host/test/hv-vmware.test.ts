// VMware backdoor personality against ABI-FACTS §5 (QEMU vmport.c, kvm-unit-tests vmware_backdoors.c).
import { describe, expect, it } from 'vitest';
import { VmwarePersonality } from '../src/hypervisor/vmware.js';
import { IoBusRouter } from '../src/bus/router.js';
import { VENDORS, guest, hasNasm, reg, runTo } from './hv-util.js';

if (!hasNasm) console.warn('nasm missing: VMware personality guest tests skipped');

const MAGIC = 0x564d5868n;
// LB port call (ABI-FACTS §5): mov eax, magic; mov ecx, cmd; mov dx, 0x5658; in eax, dx
const port = (cmd: string, magic = '0x564D5868') => `mov eax, ${magic}\nmov ebx, 0x11111111\nmov ecx, ${cmd}\nmov dx, 0x5658\nin eax, dx\nhlt`;

describe.skipIf(!hasNasm)('VMware personality', () => {
  for (const vendor of VENDORS) {
    describe(vendor, () => {
      const make = (src: string, bits: 64 | 32 = 64) => {
        const router = new IoBusRouter();
        const vm = guest(src, vendor, bits, { router });
        const vmw = new VmwarePersonality();
        vmw.attach(vm);
        return { vm, vmw, router };
      };

      it('GETVERSION via in eax,dx: EAX = version 6, EBX = magic, ECX = vmx type 2 (64- and 32-bit code)', () => {
        for (const bits of [64, 32] as const) {
          const { vm, router } = make(port('10'), bits);
          runTo(vm);
          expect([reg(vm, 'rax'), reg(vm, 'rbx'), reg(vm, 'rcx')]).toEqual([6n, MAGIC, 2n]);
          expect(router.stats.pioRead).toBe(1);
        }
      });

      it('bad magic / unknown command: EAX = 0xFFFFFFFF, other registers untouched; command = low 8 bits of ECX', () => {
        for (const src of [port('10', '0x12345678'), port('0xfff'), port('0x3f')]) {
          const { vm } = make(src);
          runTo(vm);
          expect(reg(vm, 'rax')).toBe(0xffffffffn);
          expect(reg(vm, 'rbx')).toBe(0x11111111n);
        }
        const { vm } = make(port('0x1000a')); // low 8 bits = 10
        runTo(vm);
        expect(reg(vm, 'rbx')).toBe(MAGIC);
      });

      it('GETRAMSIZE: EAX = RAM bytes, EBX = 0x1177; GETHZ: TSC Hz in EBX:EAX', () => {
        const { vm } = make(port('0x14'));
        runTo(vm);
        expect([reg(vm, 'rax'), reg(vm, 'rbx')]).toEqual([0x100000n, 0x1177n]);
        const r2 = make(port('45'));
        runTo(r2.vm);
        expect((reg(r2.vm, 'rbx') << 32n) | reg(r2.vm, 'rax')).toBe(1_000_000_000n);
      });

      it('CPUID: "VMwareVMware" at 0x40000000 with EAX >= 0x40000010; 0x40000010 ECX advertises the native instruction', () => {
        const { vm } = make('mov eax, 0x40000000\ncpuid\nmov r8, rax\nmov r9, rbx\nmov r10, rcx\nmov r11, rdx\nmov eax, 0x40000010\ncpuid\nhlt');
        runTo(vm);
        expect(reg(vm, 'r8') >= 0x40000010n).toBe(true);
        const sig = Buffer.alloc(12);
        sig.writeUInt32LE(Number(reg(vm, 'r9')), 0);
        sig.writeUInt32LE(Number(reg(vm, 'r10')), 4);
        sig.writeUInt32LE(Number(reg(vm, 'r11')), 8);
        expect(sig.toString('latin1')).toBe('VMwareVMware');
        expect(reg(vm, 'rcx')).toBe(vendor === 'intel' ? 2n : 1n); // bit 1 VMCALL, bit 0 VMMCALL
      });

      it('the VMCALL/VMMCALL form answers the same GETVERSION', () => {
        const { vm, vmw } = make('mov eax, 0x564D5868\nmov ebx, 0\nmov ecx, 10\nxor edx, edx\nHC\nhlt');
        runTo(vm);
        expect([reg(vm, 'rax'), reg(vm, 'rbx'), reg(vm, 'rcx')]).toEqual([6n, MAGIC, 2n]);
        expect(vmw.commands).toEqual([{ vcpu: 0, via: 'hypercall', command: 10, ok: true }]);
      });
    });
  }
});
