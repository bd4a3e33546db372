// pvio personality against the spec in shared-abi/README.md (§1-§7), guest code in the emulator on both vendors.
import { describe, expect, it } from 'vitest';
import { PvioPersonality } from '../src/hypervisor/pvio.js';
import { IoBusRouter } from '../src/bus/router.js';
import { PvTestDevice } from '../src/devices/pvtest.js';
import { VENDORS, guest, hasNasm, reg, runTo } from './hv-util.js';
import type { Vm } from '../src/vm.js';
import type { Vendor } from '../src/cpu/types.js';

if (!hasNasm) console.warn('nasm missing: pvio personality guest tests skipped');

const MMIO = 0xfe000000;
const PORT = 0x600;
const neg = (n: number, bits: 64 | 32 = 64) => BigInt.asUintN(bits, BigInt(-n));
// descriptor (spec §4.0): address | sizeLog2 << 52 | write << 54 | pio << 55
const desc = (addr: number, size: number, write: boolean, pio = false): string =>
  `0x${(BigInt(addr) | (BigInt(Math.log2(size)) << 52n) | (write ? 1n << 54n : 0n) | (pio ? 1n << 55n : 0n)).toString(16)}`;

function setup(src: string, vendor: Vendor, bits: 64 | 32 = 64, opts: ConstructorParameters<typeof PvioPersonality>[0] = {}, cpl: 0 | 3 = 0) {
  const router = new IoBusRouter();
  const vm: Vm = guest(src, vendor, bits, { router, vcpus: [{ cpl }] });
  vm.memory.addMmio(MMIO, 0x1000);
  const dev = new PvTestDevice('pvtest', { readBytes: (g, n) => vm.memory.readBytes(g, n), writeBytes: (g, d) => vm.memory.writeBytes(g, d) });
  router.mmio.register(BigInt(MMIO), 0x40n, dev.mmio);
  router.pio.register(PORT, 0x40, dev.pio);
  const pvio = new PvioPersonality(opts);
  pvio.attach(vm);
  return { vm, dev, pvio, router };
}

describe.skipIf(!hasNasm)('pvio personality', () => {
  for (const vendor of VENDORS) {
    describe(vendor, () => {
      it('discovery: hypervisor_cpuid_base("PvkitPvioABI", 2) finds the base; version 1.0; features maskable', () => {
        const src = `
          mov esi, 0x40000000
        scan:
          mov eax, esi
          cpuid
          cmp ebx, 0x696b7650
          jne next
          cmp ecx, 0x69765074
          jne next
          cmp edx, 0x4942416f
          jne next
          sub eax, esi
          cmp eax, 2
          jb next
          mov edi, esi
          lea eax, [esi+1]
          cpuid
          hlt
        next:
          add esi, 0x100
          cmp esi, 0x40010000
          jb scan
          hlt`;
        const { vm } = setup(src, vendor, 64, { base: 0x40000200, features: ['MMIO_HCALL', 'DOORBELL'] });
        runTo(vm);
        expect(reg(vm, 'rdi')).toBe(0x40000200n);
        expect(reg(vm, 'rax')).toBe(0b101n);
        expect(reg(vm, 'rbx')).toBe(0x10000n);
      });

      it('MMIO hypercall reaches the device with the same trace as the plain access; read data zero-extended in RCX', () => {
        const plain = `mov rbx, ${MMIO}\nmov byte [rbx+0x10], 0x41\nmov eax, [rbx]\nmov r12, rax\nhlt`;
        const viaPvio = `
          mov eax, 0x50560001
          mov rbx, ${desc(MMIO + 0x10, 1, true)}
          mov ecx, 0x41
          HC
          mov r13, rax
          mov eax, 0x50560001
          mov rbx, ${desc(MMIO, 4, false)}
          xor ecx, ecx
          HC
          mov r12, rcx
          hlt`;
        const a = setup(plain, vendor);
        runTo(a.vm);
        const b = setup(viaPvio, vendor);
        runTo(b.vm);
        expect(b.dev.trace).toEqual(a.dev.trace);
        expect(b.dev.outputText()).toBe('A');
        expect(reg(b.vm, 'r13')).toBe(0n);
        expect(reg(b.vm, 'r12')).toBe(reg(a.vm, 'r12'));
        expect(reg(b.vm, 'r12')).toBe(0x544b5650n);
      });

      it('32-bit worked example: port write 0x41 to the device via PVIO_HC_PIO with ECX:EBX / ESI:EDX', () => {
        const { vm, dev } = setup(`mov eax, 0x50560002\nmov ebx, ${PORT + 0x10}\nmov ecx, 0x00c00000\nmov edx, 0x41\nxor esi, esi\nHC\nhlt`, vendor, 32);
        runTo(vm);
        expect(reg(vm, 'rax')).toBe(0n);
        expect(dev.outputText()).toBe('A');
        expect(dev.trace).toEqual([{ op: 'write', offset: 0x10, size: 1, value: 0x41n }]);
        expect([reg(vm, 'rdx'), reg(vm, 'rsi')]).toEqual([0x41n, 0n]); // unchanged after a write
      });

      it('status codes: EINVAL (misaligned, data too wide), EFAULT (RAM), ENOSYS (reserved nr, feature clear), EPERM (CPL 3)', () => {
        const call = (nr: string, a0: string, a1 = '0') => `mov eax, ${nr}\nmov rbx, ${a0}\nmov rcx, ${a1}\nHC\njmp $`;
        const cases: [string, number, ConstructorParameters<typeof PvioPersonality>[0], 0 | 3][] = [
          [call('0x50560001', desc(MMIO + 2, 4, false)), 22, {}, 0],
          [call('0x50560001', desc(MMIO, 1, true), '0x100'), 22, {}, 0],
          [call('0x50560001', desc(0x2000, 4, false)), 14, {}, 0],
          [call('0x50560000', '0'), 38, {}, 0],
          [call('0x50560006', '0'), 38, {}, 0],
          [call('0x50560001', desc(MMIO, 4, false)), 38, { features: ['PIO_HCALL'] }, 0],
          [call('0x50560001', desc(MMIO, 4, false)), 1, {}, 3],
        ];
        for (const [src, code, opts, cpl] of cases) {
          const { vm, dev } = setup(src, vendor, 64, opts, cpl);
          vm.run({ budget: 20 });
          expect(reg(vm, 'rax')).toBe(neg(code));
          expect(dev.trace).toEqual([]); // on any error no device was touched
        }
      });

      it('unclaimed MMIO read: the same MmioRead exit as a plain load; the answer lands in RCX', () => {
        const { vm } = setup(`mov eax, 0x50560001\nmov rbx, ${desc(0xfe100000, 8, false)}\nxor ecx, ecx\nHC\nhlt`, vendor);
        const e = vm.run();
        expect(e).toMatchObject({ kind: 'MmioRead', gpa: 0xfe100000n, size: 8 });
        vm.vcpus[0]!.completeMmioRead(0x1122334455667788n);
        runTo(vm);
        expect([reg(vm, 'rax'), reg(vm, 'rcx')]).toEqual([0n, 0x1122334455667788n]);
      });

      it('doorbells: register returns an id (same descriptor, same id), ring performs the write, unregister -> ENOENT; table full -> ENOSPC', () => {
        const src = `
          mov eax, 0x50560003
          mov rbx, ${desc(MMIO + 0x1c, 4, true)}
          xor ecx, ecx
          HC
          mov r12, rcx
          mov eax, 0x50560003
          mov rbx, ${desc(MMIO + 0x1c, 4, true)}
          xor ecx, ecx
          HC
          mov r13, rcx
          mov eax, 0x50560004
          mov rbx, r12
          mov ecx, 7
          HC
          mov r14, rax
          mov eax, 0x50560005
          mov rbx, r12
          xor ecx, ecx
          HC
          mov eax, 0x50560004
          mov rbx, r12
          mov ecx, 7
          HC
          mov r15, rax
          mov eax, 0x50560003
          mov rbx, ${desc(PORT + 0x1c, 4, true, true)}
          xor ecx, ecx
          HC
          mov eax, 0x50560003
          mov rbx, ${desc(PORT + 0x10, 1, true, true)}
          xor ecx, ecx
          HC
          hlt`;
        const { vm, dev } = setup(src, vendor, 64, { maxDoorbells: 1 });
        runTo(vm);
        expect([reg(vm, 'r12'), reg(vm, 'r13'), reg(vm, 'r14'), reg(vm, 'r15')]).toEqual([1n, 1n, 0n, neg(2)]);
        expect(reg(vm, 'rax')).toBe(neg(28));
        expect(dev.trace).toEqual([{ op: 'notify' }]);
      });

      it('hypercall page MSR: page bytes, a call through it, reserved bits -> #GP', () => {
        const { vm } = setup(`mov ecx, 0x50564900\nmov eax, 0x20001\nxor edx, edx\nwrmsr\nrdmsr\nmov r12, rax\nmov eax, 0x50560000\ncall 0x20000\nhlt`, vendor);
        runTo(vm);
        expect(reg(vm, 'r12')).toBe(0x20001n);
        expect(reg(vm, 'rax')).toBe(neg(38));
        const ins = vendor === 'intel' ? [0x0f, 0x01, 0xc1] : [0x0f, 0x01, 0xd9];
        expect([...vm.memory.readBytes(0x20000, 6)]).toEqual([...ins, 0xc3, 0xcc, 0xcc]);
        const r2 = setup('mov ecx, 0x50564900\nmov eax, 0x20003\nxor edx, edx\nwrmsr\nhlt', vendor);
        expect(runTo(r2.vm, 'Exception')).toMatchObject({ vector: 13 });
      });
    });
  }
});
