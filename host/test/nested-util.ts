// Shared setup for the nested tests: the seed scenario of issue 6. L0 has a pvtest device (MMIO at DEV_L0, ports at
// PORT_L0) and KVM + pvio personalities; L1 (PolicyL1) assigns the MMIO window to L2 at DEV_L2 and maps L2 ports
// PORT_L2.. onto PORT_L0..; L2 runs a nasm-assembled detection + fallback program (pvio spec §10 guest algorithm).
import { PVIO_DEFAULT_BASE, PVIO_HC, encodePvioDesc } from '@pvkit/shared-abi';
import { IoBusRouter } from '../src/bus/router.js';
import { PvTestDevice } from '../src/devices/pvtest.js';
import { KvmPersonality } from '../src/hypervisor/kvm.js';
import { PvioPersonality } from '../src/hypervisor/pvio.js';
import { NestedMachine, type L0Options } from '../src/nested/machine.js';
import { PolicyL1, type PolicyL1Options } from '../src/nested/policy.js';
import type { Vendor } from '../src/cpu/types.js';
import type { HypercallInsn } from '../src/exits.js';
import { CODE, hasNasm, nasm } from './cpu-util.js';

export { hasNasm, nasm };
export const DEV_L0 = 0xfe000000n;
export const DEV_L2 = 0xc0000000n;
export const PORT_L0 = 0x600;
export const PORT_L2 = 0x100;
export const DATA = 0x40000;
export const HC_OK = DATA; // hypercall accesses that returned status 0
export const PLAIN = DATA + 8; // plain accesses (feature clear or status != 0)
export const FEAT = DATA + 16; // pvio leaf base+1 EAX as the guest saw it
export const VENDOR = DATA + 24; // CPUID leaf 0 EBX, EDX, ECX
export const RES = DATA + 0x100; // read results, 8 bytes per access

export interface Access {
  readonly space: 'mmio' | 'pio';
  readonly off: number;
  readonly size: 1 | 2 | 4;
  readonly write: boolean;
  readonly value?: number;
}

const R = { 1: 'al', 2: 'ax', 4: 'eax' } as const;

/** One device access with the pvio rule: hypercall when the feature bit is set and it returns 0, else plain. */
function access(i: number, a: Access, insn: HypercallInsn): string {
  const bit = a.space === 'mmio' ? 1 : 2; // PVIO_FEATURE MMIO_HCALL bit 0, PIO_HCALL bit 1 (pvio spec §2)
  const addr = a.space === 'mmio' ? DEV_L2 + BigInt(a.off) : BigInt(PORT_L2 + a.off);
  const desc = encodePvioDesc({ space: a.space, address: addr, size: a.size, write: a.write });
  const nr = a.space === 'mmio' ? PVIO_HC.MMIO : PVIO_HC.PIO;
  const store = `mov [${RES + 8 * i}], rax`;
  const plain = a.space === 'mmio'
    ? (a.write ? `mov rdi, 0x${addr.toString(16)}\nmov eax, ${a.value ?? 0}\nmov [rdi], ${R[a.size]}` : `mov rdi, 0x${addr.toString(16)}\nxor eax, eax\nmov ${R[a.size]}, [rdi]\n${store}`)
    : (a.write ? `mov dx, ${addr}\nmov eax, ${a.value ?? 0}\nout dx, ${R[a.size]}` : `mov dx, ${addr}\nxor eax, eax\nin ${R[a.size]}, dx\n${store}`);
  return [
    `test r15d, ${bit}`, `jz plain${i}`,
    `mov eax, 0x${nr.toString(16)}`, `mov rbx, 0x${desc.toString(16)}`, `mov ecx, ${a.write ? (a.value ?? 0) : 0}`, insn,
    `mov [${RES + 8 * i + 0x800}], rax`, // the status the hypercall returned
    `test rax, rax`, `jnz plain${i}`,
    ...(a.write ? [] : ['mov rax, rcx', store]),
    `inc qword [${HC_OK}]`, `jmp done${i}`,
    `plain${i}:`, plain, `inc qword [${PLAIN}]`,
    `done${i}:`,
  ].join('\n');
}

/** Detection (vendor, pvio signature + features) then the accesses, then HLT. */
export function program(accesses: readonly Access[], insn: HypercallInsn): string {
  return [
    'xor eax, eax', 'cpuid', `mov [${VENDOR}], ebx`, `mov [${VENDOR + 4}], edx`, `mov [${VENDOR + 8}], ecx`,
    'xor r15d, r15d', `mov eax, 0x${PVIO_DEFAULT_BASE.toString(16)}`, 'cpuid', "cmp ebx, 'Pvki'", 'jne nopvio', // pvio spec §1 signature
    `mov eax, 0x${(PVIO_DEFAULT_BASE + 1).toString(16)}`, 'cpuid', 'mov r15d, eax',
    'nopvio:', `mov [${FEAT}], r15d`,
    ...accesses.map((a, i) => access(i, a, insn)),
    'hlt',
  ].join('\n');
}

export interface Stack {
  readonly m: NestedMachine;
  readonly dev: PvTestDevice;
  readonly router: IoBusRouter;
  readonly l1: PolicyL1;
  readonly pvio: PvioPersonality;
}

/** The seed stack with `src` (nasm, 64-bit) loaded at CODE in L2. */
export function stack(src: string, l1: Partial<PolicyL1Options> = {}, l0: Partial<L0Options> & { vendor?: Vendor } = {}): Stack {
  const router = new IoBusRouter();
  const pvio = new PvioPersonality();
  const policy = new PolicyL1({
    presentVendor: l0.vendor ?? 'intel',
    portMap: [{ l2: PORT_L2, l0: PORT_L0, length: 0x40 }],
    assignMmio: [{ l2: DEV_L2, l0: DEV_L0, length: 0x1000n }],
    ...l1,
  });
  const m = new NestedMachine({
    l0: { vendor: 'intel', personalities: [new KvmPersonality(), pvio], router, ...l0 },
    l1: policy,
  });
  const mem = m.vm.memory;
  mem.addRam(0, 0x100000, 'ram');
  mem.addMmio(DEV_L2, 0x1000, 'assigned pvtest window');
  mem.writeBytes(CODE, nasm(src, 64, CODE));
  m.vcpu.rip = BigInt(CODE);
  m.vcpu.setReg('rsp', 0x80000n);
  const dev = new PvTestDevice('pvtest', { readBytes: (g, n) => mem.readBytes(g, n), writeBytes: (g, d) => mem.writeBytes(g, d) });
  router.mmio.register(DEV_L0, 0x40n, dev.mmio);
  router.pio.register(PORT_L0, 0x40, dev.pio);
  return { m, dev, router, l1: policy, pvio };
}

export const u64 = (m: NestedMachine, gpa: number): bigint => m.vm.memory.readU64(gpa);
