// VMware backdoor ("hypercall") interface as data: ports, magic, commands, DX flags, CPUID leaves
// 0x40000000/0x40000010, the I/O-port and VMCALL/VMMCALL conventions. ABI-FACTS §5.
// Sources: torvalds/linux arch/x86/include/asm/vmware.h (6.12+), arch/x86/kernel/cpu/vmware.c;
// qemu/qemu hw/i386/vmport.c; kvm-unit-tests x86/vmware_backdoors.c.
import type { AbiDefinition, CallingConvention, CpuidModel, ErrorCodeDef, FeatureBitDef, Gpr, HypercallDef } from './types.js';
import { AbiError } from './errors.js';

const HDR = 'arch/x86/include/asm/vmware.h';
const DRV = 'arch/x86/kernel/cpu/vmware.c';

export const VMWARE_HYPERVISOR_PORT = 0x5658; // vmware.h ("VX"), low-bandwidth port
export const VMWARE_HYPERVISOR_HB = 0x1; // vmware.h BIT(0): high bandwidth (DX flag / port | HB)
export const VMWARE_HYPERVISOR_OUT = 0x2; // vmware.h BIT(1): guest->host direction (DX flag, vmcall form)
export const VMWARE_HYPERVISOR_PORT_HB = VMWARE_HYPERVISOR_PORT | VMWARE_HYPERVISOR_HB; // vmware.h = 0x5659
export const VMWARE_HYPERVISOR_MAGIC = 0x564d5868; // vmware.h ("VMXh")
export const VMWARE_CMD_MASK = 0xf007f; // vmware.h 6.12+: bits 6:0 command, 19:16 sub-command
/** What the backdoor leaves in EAX for a bad magic or an unknown command (QEMU vmport.c, x-signal-unsupported-cmd). */
export const VMWARE_UNSUPPORTED_EAX = 0xffffffff;

/** Command numbers in ECX (LB) / EBX (HB). */
export const VMWARE_CMD = {
  GETVERSION: 10, // vmware.h VMWARE_CMD_GETVERSION
  GETRAMSIZE: 0x14, // qemu hw/i386/vmport.c VMPORT_CMD_GETRAMSIZE
  GETHZ: 45, // vmware.h VMWARE_CMD_GETHZ
  GETVCPU_INFO: 68, // vmware.h VMWARE_CMD_GETVCPU_INFO
  STEALCLOCK: 91, // vmware.h VMWARE_CMD_STEALCLOCK
} as const;
export type VmwareCmdName = keyof typeof VMWARE_CMD;

/**
 * Bits of the GETVCPU_INFO result (EAX). Older vmware.c spelled them VMWARE_CMD_LEGACY_X2APIC 3 and
 * VMWARE_CMD_VCPU_RESERVED 31, but they are bit numbers, not commands (newer vmware.c: VCPU_LEGACY_X2APIC,
 * VCPU_RESERVED; vmware_legacy_x2apic_available() tests !(eax & BIT(31)) && (eax & BIT(3))).
 */
export const VMWARE_VCPU_INFO_BIT = { LEGACY_X2APIC: 3, RESERVED: 31 } as const; // vmware.c VCPU_LEGACY_X2APIC / VCPU_RESERVED

/** STEALCLOCK results in EAX (vmware.c STEALCLOCK_NOT_AVAILABLE -1, _DISABLED 0, _ENABLED 1). */
export const VMWARE_STEALCLOCK = { NOT_AVAILABLE: -1, DISABLED: 0, ENABLED: 1 } as const;
/** GETVERSION answers (QEMU vmport.c): EAX version (default vmx-version 6), EBX magic, ECX vmx-type. */
export const VMWARE_GETVERSION_DEFAULT_VERSION = 6; // qemu vmport.c "vmx-version" default
export const VMWARE_VMX_TYPE_SCALABLE_SERVER = 2; // open-vm-tools vm_vmx_type.h, QEMU vmport.c default "vmx-type"
/** GETRAMSIZE leaves this in EBX (QEMU vmport.c vmport_cmd_ram_size). */
export const VMWARE_GETRAMSIZE_EBX = 0x1177;
export const VMWARE_TDX_VENDOR_LEAF = 0x1af7e4909n; // vmware.h 6.12+ (R10 for TDG.VP.VMCALL)
export const VMWARE_TDX_HCALL_FUNC = 1; // vmware.h 6.12+ (R11)

/** Splits ECX into command and sub-command by VMWARE_CMD_MASK (QEMU looks at the low 8 bits only). */
export function decodeVmwareCommand(ecx: number): { command: number; subcommand: number; otherBits: number } {
  if (!Number.isInteger(ecx) || ecx < 0 || ecx > 0xffffffff) {
    throw new AbiError([{ path: 'ecx', value: ecx, message: 'must be an unsigned 32-bit integer' }]);
  }
  return { command: ecx & 0x7f, subcommand: (ecx >>> 16) & 0xf, otherBits: (ecx & ~VMWARE_CMD_MASK) >>> 0 };
}

// ---- CPUID ---------------------------------------------------------------------------------------------
export const CPUID_VMWARE_INFO_LEAF = 0x40000000; // vmware.c
export const CPUID_VMWARE_FEATURES_LEAF = 0x40000010; // vmware.c
export const VMWARE_SIGNATURE = 'VMwareVMware'; // vmware.c vmware_platform()

export const VMWARE_FEATURES: readonly FeatureBitDef[] = [
  { name: 'CPUID_VMWARE_FEATURES_ECX_VMMCALL', leaf: 0x10, reg: 'ecx', bit: 0, doc: 'backdoor via VMMCALL (Linux sets X86_FEATURE_VMW_VMMCALL)', source: `${HDR} BIT(0)` },
  { name: 'CPUID_VMWARE_FEATURES_ECX_VMCALL', leaf: 0x10, reg: 'ecx', bit: 1, doc: 'backdoor via VMCALL (Linux sets X86_FEATURE_VMCALL)', source: `${HDR} BIT(1)` },
];

export const VMWARE_CPUID: CpuidModel = {
  detection: 'fixed', // vmware_platform() checks 0x40000000 only
  defaultBase: CPUID_VMWARE_INFO_LEAF,
  signature: VMWARE_SIGNATURE,
  minLeaves: 0,
  maxLeafOffset: 0x10,
  leaves: [
    { offset: 0, name: 'CPUID_VMWARE_INFO_LEAF', regs: { eax: 'max leaf (>= 0x40000010 to expose the features leaf)', ebx: '"VMwa"', ecx: '"reVM"', edx: '"ware"' }, source: DRV },
    { offset: 0x10, name: 'CPUID_VMWARE_FEATURES_LEAF', regs: { eax: 'TSC frequency in kHz (UNVERIFIED here: QEMU vmware-cpuid-freq)', ebx: 'LAPIC bus frequency in kHz (UNVERIFIED here)', ecx: 'bit 0 VMMCALL, bit 1 VMCALL' }, source: `${DRV} vmware_platform(): read only if leaf 0x40000000 EAX >= 0x40000010` },
  ],
  source: `${DRV} vmware_platform()`,
};

// ---- conventions ---------------------------------------------------------------------------------------
const LB_ARGS: Gpr[] = ['ebx', 'edx', 'esi', 'edi']; // arg1, arg3, arg4, arg5 (arg0 = magic, arg2 = command)
const LB_RESULTS: Gpr[] = ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi']; // out0..out5
const magic = { reg: 'eax' as const, value: VMWARE_HYPERVISOR_MAGIC, why: 'arg0 must be VMWARE_HYPERVISOR_MAGIC' };

function conventions(bits: 32 | 64): CallingConvention[] {
  const sfx = bits === 64 ? '-64' : '';
  const why64 = bits === 64 ? '; x86_64 uses only the low 32 bits of each register' : '';
  return [
    {
      id: `port-lb${sfx}`, bits, trap: 'port', number: 'ecx', args: LB_ARGS, results: LB_RESULTS, clobbers: [],
      fixed: [magic, { reg: 'dx', value: VMWARE_HYPERVISOR_PORT, why: 'DX = port 0x5658; the access is `in eax, dx` (ED)' }],
      source: `${HDR} LB hypercall ABI comment; qemu hw/i386/vmport.c (4-byte IN only)${why64}`,
    },
    {
      id: `hypercall-lb${sfx}`, bits, trap: 'hypercall', number: 'ecx', args: LB_ARGS, results: LB_RESULTS, clobbers: [],
      fixed: [magic, { reg: 'dx', value: 0, why: 'DX low word holds flags instead of the port: 0 = LB, host->guest (Linux vmware_hypercallN passes EDX = 0)' }],
      source: `${HDR} VMWARE_HYPERCALL ALTERNATIVE_2(vmcall X86_FEATURE_VMCALL, vmmcall X86_FEATURE_VMW_VMMCALL)${why64}`,
    },
    {
      id: `port-hb${sfx}`, bits, trap: 'port', number: 'ebx', args: ['ecx', 'edx', 'esi', 'edi', 'ebp'], results: ['eax', 'ebx'], clobbers: ['ecx', 'esi', 'edi'],
      fixed: [magic, { reg: 'dx', value: VMWARE_HYPERVISOR_PORT_HB, why: 'DX = 0x5659; `rep outsb` (guest->host, ECX bytes from ESI) or `rep insb` (to EDI)' }],
      source: `${HDR} vmware_hypercall_hb_out/_in (I/O port only, no vmcall form)${why64}`,
    },
  ];
}
export const VMWARE_CONVENTIONS: readonly CallingConvention[] = [...conventions(32), ...conventions(64)];

// ---- commands as hypercalls ----------------------------------------------------------------------------
const LB_ONLY = ['port-lb', 'hypercall-lb', 'port-lb-64', 'hypercall-lb-64'];
const cmd = (name: VmwareCmdName, doc: string, args: HypercallDef['args'], source: string): HypercallDef =>
  ({ name: `VMWARE_CMD_${name}`, nr: VMWARE_CMD[name], args, doc, source, conventions: LB_ONLY });
const ebxNotMagic = { name: 'ebx', type: 'u32' as const, doc: 'anything but the magic (Linux passes 0xFFFFFFFF); a host that answers overwrites it' };

export const VMWARE_HYPERCALLS: readonly HypercallDef[] = [
  cmd('GETVERSION', 'EAX = version, EBX = magic (the presence test: kvm-unit-tests requires EBX == magic), ECX = vmx type', [ebxNotMagic], `${HDR}; qemu vmport.c vmport_cmd_get_version`),
  cmd('GETRAMSIZE', 'EAX = RAM size, EBX = 0x1177', [], 'qemu hw/i386/vmport.c vmport_cmd_ram_size'),
  cmd('GETHZ', 'TSC Hz in EBX:EAX (EBX 0xFFFFFFFF = unavailable), LAPIC bus Hz in ECX', [ebxNotMagic], `${DRV} vmware_get_tsc_khz (register meaning not in ABI-FACTS: UNVERIFIED here)`),
  cmd('GETVCPU_INFO', 'EAX bit 3 legacy x2APIC, bit 31 reserved (result invalid when set)', [], `${DRV} vmware_legacy_x2apic_available`),
  cmd('STEALCLOCK', 'register the steal-clock area: ESI = GPA high, EDI = GPA low; EAX -1 n/a, 0 disabled, 1 enabled', [
    { name: 'ebx', type: 'u32', doc: '0' }, { name: 'edx', type: 'u32', doc: '0' },
    { name: 'addr_hi', type: 'u32', doc: 'GPA bits 63:32' }, { name: 'addr_lo', type: 'u32', doc: 'GPA bits 31:0 (disable: hi 0, lo 1)' },
  ], `${DRV} vmware_cmd_stealclock (UNVERIFIED here: register order from vmware_hypercall5)`),
];

const ERRORS: readonly ErrorCodeDef[] = [
  { name: 'VMWARE_UNSUPPORTED', value: VMWARE_UNSUPPORTED_EAX, doc: 'bad magic or unknown command: EAX = 0xFFFFFFFF, every other register untouched', source: 'qemu hw/i386/vmport.c (x-signal-unsupported-cmd, default on); kvm-unit-tests x86/vmware_backdoors.c' },
];

export const vmwareAbi: AbiDefinition = {
  name: 'vmware',
  title: 'VMware backdoor (I/O port 0x5658/0x5659, VMCALL/VMMCALL)',
  version: 'linux 6.12 asm/vmware.h',
  cpuid: VMWARE_CPUID,
  features: VMWARE_FEATURES,
  conventions: VMWARE_CONVENTIONS,
  hypercalls: VMWARE_HYPERCALLS,
  errors: { encoding: 'all-ones', codes: ERRORS, unknownHypercall: 'VMWARE_UNSUPPORTED', cplNonZero: 'allowed' }, // emulate.c emulator_io_port_access_allowed: 0x5658/0x5659 bypass the TSS I/O bitmap
  msrs: [],
  space: {
    trap: 'hypercall', selector: 'rax', mask: 0xffffffff, lo: VMWARE_HYPERVISOR_MAGIC, hi: VMWARE_HYPERVISOR_MAGIC,
    discriminator: 'RAX/EAX = 0x564D5868 (magic) selects the backdoor; the command is in ECX (VMWARE_CMD_MASK 0xf007f). The port form traps IN/OUT on DX 0x5658/0x5659 instead of VMCALL',
    source: `${HDR} LB/HB ABI comment; KVM x86.c kvm.enable_vmware_backdoor (#GP intercept for the port form)`,
  },
  constants: [
    { name: 'VMWARE_HYPERVISOR_PORT', value: VMWARE_HYPERVISOR_PORT, doc: 'LB port', source: HDR },
    { name: 'VMWARE_HYPERVISOR_PORT_HB', value: VMWARE_HYPERVISOR_PORT_HB, doc: 'HB port', source: HDR },
    { name: 'VMWARE_HYPERVISOR_MAGIC', value: VMWARE_HYPERVISOR_MAGIC, doc: 'EAX on entry', source: HDR },
    { name: 'VMWARE_HYPERVISOR_HB', value: VMWARE_HYPERVISOR_HB, doc: 'DX flag: high bandwidth', source: HDR },
    { name: 'VMWARE_HYPERVISOR_OUT', value: VMWARE_HYPERVISOR_OUT, doc: 'DX flag: guest to host', source: HDR },
    { name: 'VMWARE_CMD_MASK', value: VMWARE_CMD_MASK, doc: 'command 6:0, sub-command 19:16', source: HDR },
    { name: 'VMWARE_VCPU_INFO_LEGACY_X2APIC_BIT', value: VMWARE_VCPU_INFO_BIT.LEGACY_X2APIC, doc: 'GETVCPU_INFO EAX bit', source: DRV },
    { name: 'VMWARE_VCPU_INFO_RESERVED_BIT', value: VMWARE_VCPU_INFO_BIT.RESERVED, doc: 'GETVCPU_INFO EAX bit', source: DRV },
    { name: 'VMWARE_GETRAMSIZE_EBX', value: VMWARE_GETRAMSIZE_EBX, doc: 'GETRAMSIZE marker in EBX', source: 'qemu vmport.c' },
    { name: 'VMWARE_TDX_VENDOR_LEAF', value: VMWARE_TDX_VENDOR_LEAF, doc: 'R10 for the TDX form', source: HDR },
    { name: 'CPUID_VMWARE_FEATURES_LEAF', value: CPUID_VMWARE_FEATURES_LEAF, doc: 'features leaf', source: DRV },
  ],
  source: `torvalds/linux ${HDR}, ${DRV}; qemu/qemu hw/i386/vmport.c; ABI-FACTS §5`,
};
