// One case per rule of /work/shared/ABI-FACTS.md that a guest can observe, written with the guest-sdk
// assembler against the real personalities. Each case names its section; expected values come from the
// document (via the shared-abi constants that cite it), not from the personalities.
import {
  CPUID_VMWARE_FEATURES_LEAF, HV_STATUS, HV_X64_MSR, HVCALL, KVM_ERRNO, KVM_HC, VMWARE_CMD, VMWARE_GETRAMSIZE_EBX, VMWARE_HYPERVISOR_MAGIC,
  VMWARE_HYPERVISOR_PORT, VMWARE_UNSUPPORTED_EAX, XEN_ERRNO, XEN_HC, XEN_MSR_BASE,
} from '@pvkit/shared-abi';
import { Asm, dx, eax, ebx, ecx, edi, edx, esi, mem, r8, r9, r10, rax, rbx, rcx, rdi, rdx, rsi } from '@pvkit/guest-sdk';
import type { Vendor } from '@pvkit/host';
import { LAYOUT, asmProgram } from '../guest.js';
import type { Bits, CaseEnv, ConformCase, Expect, MachineSpec } from '../types.js';
import { BITS, VENDORS, nativeInsn, u32le, u64le } from './helpers.js';

const M32 = 0xffffffffn;
const r32 = (v: number | bigint) => ({ value: BigInt.asUintN(32, BigInt(v)), mask: M32 });
const hc = (a: Asm, v: Vendor) => (v === 'intel' ? a.vmcall() : a.vmmcall());
/** Store EAX (and EDX for a 64-bit value in 32-bit mode) / RAX into results slot i. */
function store(a: Asm, bits: Bits, i: number, wide = false): void {
  const at = Number(LAYOUT.results) + 8 * i;
  if (bits === 64) a.mov(mem(at), rax);
  else {
    a.mov(mem(at), eax);
    if (wide) a.mov(mem(at + 4), edx);
  }
}
const slot = (i: number, bytes: number[], what: string) => ({ gpa: LAYOUT.results + BigInt(8 * i), bytes, what });
const word = (bits: Bits, v: bigint) => (bits === 64 ? u64le(BigInt.asUintN(64, v)) : u32le(v));

interface AsmCaseSpec {
  readonly name: string;
  readonly source: string;
  readonly groups: ConformCase['groups'];
  readonly abis: ConformCase['abis'];
  readonly machine: MachineSpec | ((e: CaseEnv) => MachineSpec);
  readonly build: (a: Asm, e: CaseEnv) => void;
  readonly expect: (e: CaseEnv) => Expect;
  readonly bits?: readonly Bits[];
  readonly extra?: (e: CaseEnv) => { gpa: bigint; bytes: Uint8Array }[];
  readonly diffIgnore?: ConformCase['diffIgnore'];
}
const asmCase = (s: AsmCaseSpec): ConformCase => ({
  name: s.name, groups: s.groups, abis: s.abis, vendors: VENDORS, bits: s.bits ?? BITS, source: s.source,
  machine: typeof s.machine === 'function' ? s.machine : () => s.machine as MachineSpec,
  program: (e) => asmProgram(e.bits, (a) => s.build(a, e), s.extra?.(e) ?? []),
  expect: s.expect,
  diffIgnore: s.diffIgnore,
});

// ---- KVM -------------------------------------------------------------------------------------------------
const kvm: ConformCase[] = [
  asmCase({
    name: 'ABI-FACTS 1.2: KVM clobbers only RAX (args RBX, RCX, RDX, RSI and the rest kept)', source: 'ABI-FACTS §1.2 (hypercalls.rst "No other registers will be clobbered")',
    groups: ['hypercall'], abis: ['kvm'], machine: { abis: [{ name: 'kvm' }] },
    build: (a, e) => {
      if (e.bits === 64) a.mov(rbx, 0x1111n).mov(rcx, 0x2222n).mov(rdx, 0x3333n).mov(rsi, 0x4444n).mov(rdi, 0x5555n).mov(r8, 0x6666n).mov(r9, 0x7777n).mov(r10, 0x8888n);
      else a.mov(ebx, 0x1111).mov(ecx, 0x2222).mov(edx, 0x3333).mov(esi, 0x4444).mov(edi, 0x5555);
      a.mov(eax, KVM_HC.VAPIC_POLL_IRQ);
      hc(a, e.vendor);
      a.hlt();
    },
    expect: (e) => ({
      registers: e.bits === 64
        ? { rax: 0n, rbx: 0x1111n, rcx: 0x2222n, rdx: 0x3333n, rsi: 0x4444n, rdi: 0x5555n, r8: 0x6666n, r9: 0x7777n, r10: 0x8888n }
        : { rax: r32(0), rbx: r32(0x1111), rcx: r32(0x2222), rdx: r32(0x3333), rsi: r32(0x4444), rdi: r32(0x5555) },
    }),
  }),
  asmCase({
    name: 'ABI-FACTS 1.2: a 64-bit caller passes the full RAX; nr 2^32+1 is unknown (-KVM_ENOSYS)', source: 'ABI-FACTS §1.2 step 3 (masking only for 32-bit callers), §1.1',
    groups: ['hypercall'], abis: ['kvm'], bits: [64], machine: { abis: [{ name: 'kvm' }] },
    build: (a, e) => {
      a.mov(rax, (1n << 32n) | BigInt(KVM_HC.VAPIC_POLL_IRQ));
      hc(a, e.vendor);
      a.hlt();
    },
    expect: () => ({ registers: { rax: BigInt.asUintN(64, -BigInt(KVM_ERRNO.ENOSYS)) } }),
  }),
  asmCase({
    name: 'ABI-FACTS 1.3: the foreign instruction is patched once; later calls take one exit', source: 'ABI-FACTS §1.3 steps 2-3 (first call = 2 exits, later calls = 1)',
    groups: ['patching'], abis: ['kvm'], machine: { abis: [{ name: 'kvm' }] },
    extra: (e) => [{ gpa: 0x2000n, bytes: Uint8Array.from([0x0f, 0x01, e.vendor === 'intel' ? 0xd9 : 0xc1, 0xc3]) }],
    build: (a, e) => {
      for (let i = 0; i < 3; i++) {
        a.mov(eax, KVM_HC.VAPIC_POLL_IRQ);
        if (e.bits === 64) a.mov(rcx, 0x2000n).call(rcx);
        else a.mov(ecx, 0x2000).call(ecx);
        store(a, e.bits, i);
      }
      a.hlt();
    },
    expect: (e) => ({
      memory: [{ gpa: 0x2000n, bytes: nativeInsn(e.vendor), what: 'patched site' }, ...[0, 1, 2].map((i) => slot(i, word(e.bits, 0n), `RAX of call ${i + 1}`))],
      patches: 1,
      counters: { hypercall: 3 },
    }),
  }),
  ...([[undefined, 0x40000000], ['hyperv', 0x40000100]] as const).map(([front, base]) => asmCase({
    name: `ABI-FACTS 1.4: KVM signature leaf at 0x${base.toString(16)}${front ? ' behind Hyper-V' : ''}`, source: 'ABI-FACTS §1.4 (EAX = base+1, "KVMKVMKVM\\0\\0\\0"), §2',
    groups: ['detection'], abis: front ? ['kvm', 'hyperv'] : ['kvm'], machine: { abis: [...(front ? [{ name: 'hyperv' as const }] : []), { name: 'kvm', base }] },
    build: (a) => a.mov(eax, base).cpuid().hlt(),
    expect: () => ({ registers: { rax: r32(base + 1), rbx: r32(0x4b4d564b), rcx: r32(0x564b4d56), rdx: r32(0x4d) } }),
  })),
  asmCase({
    name: 'ABI-FACTS 2: CPUID.1:ECX[31] (hypervisor present) is set', source: 'ABI-FACTS §2 (Linux checks X86_FEATURE_HYPERVISOR first)',
    groups: ['detection'], abis: ['kvm'], machine: { abis: [{ name: 'kvm' }] },
    build: (a) => a.mov(eax, 1).cpuid().hlt(),
    expect: () => ({ registers: { rcx: { value: 1n << 31n, mask: 1n << 31n } } }),
    diffIgnore: { registers: ['rax', 'rbx', 'rcx', 'rdx'], reason: 'leaf 1 family/model/feature bits are the host CPU\'s on KVM and the emulator\'s CPU model; only ECX[31] is ABI' },
  }),
];

// ---- Xen -------------------------------------------------------------------------------------------------
const XEN_VER = { major: 4, minor: 19 };
const xen: ConformCase[] = [
  asmCase({
    name: 'ABI-FACTS 3.1: Xen leaves base+1 (version) and base+2 (1 page, MSR base 0x40000000)', source: 'ABI-FACTS §3.1',
    groups: ['detection'], abis: ['xen'], machine: { abis: [{ name: 'xen', options: { version: XEN_VER } }] },
    build: (a, e) => {
      a.mov(eax, 0x40000001).cpuid();
      store(a, e.bits, 0);
      a.mov(eax, 0x40000002).cpuid().hlt();
    },
    expect: () => ({
      memory: [slot(0, u32le((XEN_VER.major << 16) | XEN_VER.minor), 'leaf base+1 EAX')],
      registers: { rax: r32(1), rbx: r32(XEN_MSR_BASE) },
    }),
  }),
  asmCase({
    name: 'ABI-FACTS 3.2/3.3: Xen hypercall page: RDMSR reads 0, 0xCC fill, slot 0 stub, slot 23 ud2', source: 'ABI-FACTS §3.2 (read as zero), §3.3',
    groups: ['hcpage'], abis: ['xen'], machine: { abis: [{ name: 'xen' }] },
    build: (a, e) => {
      a.mov(ecx, XEN_MSR_BASE).mov(eax, Number(LAYOUT.page)).mov(edx, 0).wrmsr();
      a.mov(eax, 0x1234).mov(edx, 0x5678).rdmsr();
      store(a, e.bits, 0, true);
      a.hlt();
    },
    expect: (e) => ({
      memory: [
        slot(0, u64le(0n), 'RDMSR EDX:EAX'),
        { gpa: LAYOUT.page, bytes: [0xb8, 0, 0, 0, 0, ...nativeInsn(e.vendor), 0xc3, 0xcc, 0xcc], what: 'slot 0 (set_trap_table) and padding' },
        { gpa: LAYOUT.page + BigInt(32 * XEN_HC.iret), bytes: [0x0f, 0x0b, 0xcc], what: 'slot 23 (iret): ud2' },
        { gpa: LAYOUT.page + 0xfffn, bytes: [0xcc], what: 'last byte of the page' },
      ],
    }),
  }),
  asmCase({
    name: 'ABI-FACTS 3.2: Xen hypercall MSR with page index 1 raises #GP', source: 'ABI-FACTS §3.2 (page_index > 0 -> #GP)',
    groups: ['hcpage', 'faults'], abis: ['xen'], machine: { abis: [{ name: 'xen' }] },
    build: (a) => a.mov(ecx, XEN_MSR_BASE).mov(eax, Number(LAYOUT.page) | 1).mov(edx, 0).wrmsr().hlt(),
    expect: () => ({ final: { kind: 'Exception', vector: 13, rip: LAYOUT.driver + 15n } }),
  }),
  asmCase({
    name: 'ABI-FACTS 3.6: raw VMCALL/VMMCALL with RAX = nr works without the page; unknown nr -ENOSYS', source: 'ABI-FACTS §3.6, §3.4 (args RDI.. / EBX..)',
    groups: ['hypercall'], abis: ['xen'], machine: { abis: [{ name: 'xen', options: { version: XEN_VER } }] },
    build: (a, e) => {
      a.mov(eax, XEN_HC.xen_version);
      if (e.bits === 64) a.mov(rdi, 0n).mov(rsi, 0n);
      else a.mov(ebx, 0).mov(ecx, 0);
      hc(a, e.vendor);
      store(a, e.bits, 0);
      a.mov(eax, 47); // between arch_0..7 (48-55) and hypfs_op (42): unassigned in xen.h
      hc(a, e.vendor);
      store(a, e.bits, 1);
      a.hlt();
    },
    expect: (e) => ({
      memory: [slot(0, word(e.bits, BigInt((XEN_VER.major << 16) | XEN_VER.minor)), 'xen_version'), slot(1, word(e.bits, -BigInt(XEN_ERRNO.ENOSYS)), 'nr 47')],
      patches: 0,
    }),
  }),
];

// ---- Hyper-V -----------------------------------------------------------------------------------------------
const HV_OS_ID = 0x8100_0000_0000_0000n; // ABI-FACTS §4.2: open source, Linux (selftests LINUX_OS_ID)
function wrmsr64(a: Asm, index: number, v: bigint): void {
  a.mov(ecx, index).mov(eax, Number(v & M32) | 0).mov(edx, Number(v >> 32n) | 0).wrmsr();
}
/** A Hyper-V call per §4.4: control, input GPA, output GPA; result stored in slot i. */
function hvCall(a: Asm, e: CaseEnv, control: bigint, input: bigint, output: bigint, i: number): void {
  if (e.bits === 64) a.mov(rcx, control).mov(rdx, input).mov(r8, output);
  else a.mov(edx, Number(control >> 32n) | 0).mov(eax, Number(control & M32) | 0).mov(ebx, Number(input >> 32n) | 0).mov(ecx, Number(input & M32) | 0)
    .mov(edi, Number(output >> 32n) | 0).mov(esi, Number(output & M32) | 0);
  hc(a, e.vendor);
  store(a, e.bits, i, true);
}
const hvEnable = (a: Asm) => {
  wrmsr64(a, HV_X64_MSR.GUEST_OS_ID, HV_OS_ID);
  wrmsr64(a, HV_X64_MSR.HYPERCALL, LAYOUT.page | 1n);
};
const status = (i: number, s: number, what: string) => slot(i, u64le(BigInt(s)), what);
const hyperv: ConformCase[] = [
  asmCase({
    name: 'ABI-FACTS 4.2: HYPERCALL enable is ignored while GUEST_OS_ID is 0; zeroing GUEST_OS_ID disables it', source: 'ABI-FACTS §4.2 (Guest OS ID rule, kvm_hv_set_msr_pw)',
    groups: ['hcpage'], abis: ['hyperv'], machine: { abis: [{ name: 'hyperv' }] },
    build: (a, e) => {
      wrmsr64(a, HV_X64_MSR.HYPERCALL, LAYOUT.page | 1n);
      a.mov(ecx, HV_X64_MSR.HYPERCALL).rdmsr();
      store(a, e.bits, 0, true);
      hvEnable(a);
      a.mov(ecx, HV_X64_MSR.HYPERCALL).rdmsr();
      store(a, e.bits, 1, true);
      wrmsr64(a, HV_X64_MSR.GUEST_OS_ID, 0n);
      a.mov(ecx, HV_X64_MSR.HYPERCALL).rdmsr();
      store(a, e.bits, 2, true);
      a.hlt();
    },
    expect: () => ({
      memory: [
        slot(0, u64le(0n), 'HYPERCALL after enabling with GUEST_OS_ID 0'),
        slot(1, u64le(LAYOUT.page | 1n), 'HYPERCALL after GUEST_OS_ID set'),
        slot(2, u64le(LAYOUT.page), 'HYPERCALL after GUEST_OS_ID cleared (enable bit 0)'),
      ],
      // The page contents after disabling are not checked: the TLFS page is an overlay (§4.2), KVM writes RAM.
    }),
  }),
  asmCase({
    name: 'ABI-FACTS 4.3/4.5/4.6: Hyper-V status codes (unknown code, reserved bits, rep count on a simple call, misaligned GPA)',
    source: 'ABI-FACTS §4.3 (INVALID_HYPERCALL_INPUT cases), §4.5 (8-byte alignment), §4.6, §4.7 (GET_PARTITION_ID 0x46)',
    groups: ['hypercall', 'faults'], abis: ['hyperv'], machine: { abis: [{ name: 'hyperv' }] },
    build: (a, e) => {
      hvEnable(a);
      const id = BigInt(HVCALL.GET_PARTITION_ID);
      hvCall(a, e, id, LAYOUT.hvIn, LAYOUT.hvOut, 0);
      hvCall(a, e, 0x7fffn, LAYOUT.hvIn, LAYOUT.hvOut, 1);
      hvCall(a, e, id | (1n << 27n), LAYOUT.hvIn, LAYOUT.hvOut, 2);
      hvCall(a, e, id | (3n << 32n), LAYOUT.hvIn, LAYOUT.hvOut, 3);
      hvCall(a, e, id, LAYOUT.hvIn, LAYOUT.hvOut + 4n, 4);
      a.hlt();
    },
    expect: () => ({
      memory: [
        status(0, HV_STATUS.SUCCESS, 'GET_PARTITION_ID'),
        status(1, HV_STATUS.INVALID_HYPERCALL_CODE, 'call code 0x7fff'),
        status(2, HV_STATUS.INVALID_HYPERCALL_INPUT, 'reserved bit 27 set'),
        status(3, HV_STATUS.INVALID_HYPERCALL_INPUT, 'rep count 3 on a simple call'),
        status(4, HV_STATUS.INVALID_ALIGNMENT, 'output GPA 4 bytes off'),
      ],
    }),
  }),
];

// ---- VMware ------------------------------------------------------------------------------------------------
function vmwarePort(a: Asm, e: CaseEnv, magic: number, cmd: number, i: number): void {
  a.mov(eax, magic | 0).mov(ebx, 0x5a5a5a5a).mov(ecx, cmd).mov(dx, VMWARE_HYPERVISOR_PORT).insn('in', eax, dx);
  store(a, e.bits, i);
  a.mov(mem(Number(LAYOUT.results) + 8 * i + 4), ebx);
}
const vmware: ConformCase[] = [
  asmCase({
    name: 'ABI-FACTS 5: VMware backdoor port: GETVERSION, GETRAMSIZE, unknown command, bad magic', source: 'ABI-FACTS §5 (QEMU vmport.c; kvm-unit-tests vmware_backdoors.c)',
    groups: ['pio', 'hypercall'], abis: ['vmware'], machine: { abis: [{ name: 'vmware' }] },
    build: (a, e) => {
      vmwarePort(a, e, VMWARE_HYPERVISOR_MAGIC, VMWARE_CMD.GETVERSION, 0);
      vmwarePort(a, e, VMWARE_HYPERVISOR_MAGIC, VMWARE_CMD.GETRAMSIZE, 1);
      vmwarePort(a, e, VMWARE_HYPERVISOR_MAGIC, 0x7f, 2);
      vmwarePort(a, e, 0x12345678, VMWARE_CMD.GETVERSION, 3);
      a.hlt();
    },
    expect: () => ({
      memory: [
        { gpa: LAYOUT.results + 4n, bytes: u32le(VMWARE_HYPERVISOR_MAGIC), what: 'GETVERSION EBX = magic' },
        { gpa: LAYOUT.results + 12n, bytes: u32le(VMWARE_GETRAMSIZE_EBX), what: 'GETRAMSIZE EBX' },
        slot(2, [...u32le(VMWARE_UNSUPPORTED_EAX), ...u32le(0x5a5a5a5a)], 'unknown command: EAX all ones, EBX untouched'),
        slot(3, [...u32le(VMWARE_UNSUPPORTED_EAX), ...u32le(0x5a5a5a5a)], 'bad magic: EAX all ones, EBX untouched'),
      ],
      exitTrace: { of: ['IoIn'], kinds: ['IoIn', 'IoIn', 'IoIn', 'IoIn'] },
    }),
  }),
  asmCase({
    name: 'ABI-FACTS 5: VMware CPUID 0x40000010 ECX advertises the vendor-native hypercall', source: 'ABI-FACTS §5 (ECX bit 0 VMMCALL, bit 1 VMCALL)',
    groups: ['detection'], abis: ['vmware'], machine: { abis: [{ name: 'vmware' }] },
    build: (a) => a.mov(eax, CPUID_VMWARE_FEATURES_LEAF).cpuid().hlt(),
    expect: (e) => ({ registers: { rcx: { value: e.vendor === 'intel' ? 2n : 1n, mask: 3n } } }),
  }),
];

export const ABI_FACTS_CASES: ConformCase[] = [...kvm, ...xen, ...hyperv, ...vmware];
