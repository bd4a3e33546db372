// The VMware backdoor personality (ABI-FACTS §5; QEMU hw/i386/vmport.c, Linux asm/vmware.h): the LB port 0x5658
// as a PIO device on the VM's bus, the VMCALL/VMMCALL form, and CPUID 0x40000000 / 0x40000010.
import {
  CPUID_VMWARE_FEATURES_LEAF, VMWARE_CMD, VMWARE_CPUID, VMWARE_FEATURES, VMWARE_GETRAMSIZE_EBX,
  VMWARE_GETVERSION_DEFAULT_VERSION, VMWARE_HYPERVISOR_MAGIC, VMWARE_HYPERVISOR_PORT, VMWARE_UNSUPPORTED_EAX,
  VMWARE_VMX_TYPE_SCALABLE_SERVER, signatureToRegs,
  vmwareAbi,
} from '@pvkit/shared-abi';
import { IoBusRouter } from '../bus/router.js';
import type { IoSize, PioDevice } from '../bus/types.js';
import { Vcpu } from '../cpu/vcpu.js';
import { GPR, type CpuidResult, type VcpuApi } from '../cpu/types.js';
import type { HypercallInsn } from '../exits.js';
import { M32, Personality, type HvVm } from './common.js';

/** VMWARE_CPUID signature "VMwareVMware" (asm/vmware.h), computed once. */
const VMW_SIG = signatureToRegs(VMWARE_CPUID.signature);
/** CPUID 0x40000010 ECX bit of the native hypercall form per vendor (asm/vmware.h CPUID_VMWARE_FEATURES_ECX_VMCALL/VMMCALL). */
const FORM_BIT = {
  intel: 1 << VMWARE_FEATURES.find((f) => f.name === 'CPUID_VMWARE_FEATURES_ECX_VMCALL')!.bit,
  amd: 1 << VMWARE_FEATURES.find((f) => f.name === 'CPUID_VMWARE_FEATURES_ECX_VMMCALL')!.bit,
} as const;

/** Register = x mod 2^32, upper half 0 (vmport.c writes the 32-bit registers; the bigint path was BigInt(x) & M32). */
function setLow32(v: VcpuApi, reg: number, x: number | bigint): void {
  if (typeof x === 'number' && Number.isSafeInteger(x)) v.setRegParts(reg, x >= 0 ? x % 0x100000000 : Number(BigInt(x) & M32), 0);
  else v.setReg(reg, BigInt(x) & M32); // bigints and anything BigInt() refuses, exactly as before
}

/** QEMU vmport.c: only 4-byte accesses reach the handler; the port range covers the 4 bytes of `in eax, dx`. */
const PORT_SPAN = 4;

export interface VmwareOptions {
  version?: number;
  vmxType?: number;
  /** Advertise the VMCALL/VMMCALL form in CPUID 0x40000010 ECX: the vendor's native one (default), or none. */
  hypercallForm?: 'native' | 'none';
  tscHz?: bigint;
  apicBusHz?: number;
  /** Register the port device on the VM's IoBusRouter when attaching (default true). */
  registerPort?: boolean;
}

export class VmwarePersonality extends Personality {
  readonly name = 'vmware';
  readonly abi = vmwareAbi;
  readonly base = VMWARE_CPUID.defaultBase;
  readonly version: number;
  readonly vmxType: number;
  readonly hypercallForm: 'native' | 'none';
  readonly tscHz: bigint;
  readonly apicBusHz: number;
  readonly registerPort: boolean;
  /** Backdoor commands served, in order (both forms). */
  readonly commands: { vcpu: number; via: 'port' | 'hypercall'; command: number; ok: boolean }[] = [];
  /** The LB port as a device (offset 0 = port 0x5658). */
  readonly port: PioDevice;

  constructor(opts: VmwareOptions = {}) {
    super();
    this.version = opts.version ?? VMWARE_GETVERSION_DEFAULT_VERSION;
    this.vmxType = opts.vmxType ?? VMWARE_VMX_TYPE_SCALABLE_SERVER;
    this.hypercallForm = opts.hypercallForm ?? 'native';
    this.tscHz = opts.tscHz ?? 1_000_000_000n;
    this.apicBusHz = opts.apicBusHz ?? 1_000_000_000;
    this.registerPort = opts.registerPort ?? true;
    this.port = {
      name: 'vmware-backdoor',
      read: (offset: number, size: IoSize) => this.portRead(offset, size),
      write: () => {}, // vmport.c has no write handler for the LB port
    };
  }

  override bind(vm: HvVm): void {
    super.bind(vm);
    if (this.registerPort && vm.router instanceof IoBusRouter && vm.router.pio.lookup(VMWARE_HYPERVISOR_PORT)?.device !== this.port) {
      vm.router.pio.register(VMWARE_HYPERVISOR_PORT, PORT_SPAN, this.port);
    }
  }

  cpuidRange(): readonly [number, number] {
    return [this.base, this.base + VMWARE_CPUID.maxLeafOffset];
  }

  cpuidLeaf(v: VcpuApi, leaf: number): CpuidResult {
    if (leaf === this.base) return { eax: CPUID_VMWARE_FEATURES_LEAF, ebx: VMW_SIG.ebx, ecx: VMW_SIG.ecx, edx: VMW_SIG.edx };
    if (leaf !== CPUID_VMWARE_FEATURES_LEAF) return { eax: 0, ebx: 0, ecx: 0, edx: 0 };
    const ecx = this.hypercallForm === 'native' ? (v.vendor === 'intel' ? FORM_BIT.intel : FORM_BIT.amd) : 0;
    return { eax: Number(this.tscHz / 1000n) >>> 0, ebx: Math.floor(this.apicBusHz / 1000) >>> 0, ecx, edx: 0 };
  }

  readMsr(): undefined {
    return undefined;
  }

  writeMsr(): undefined {
    return undefined;
  }

  /** The VMCALL/VMMCALL form: EAX = magic selects it (the router only sends such calls here); EAX gets the result. */
  call(v: VcpuApi, _insn: HypercallInsn): 'handled' {
    setLow32(v, GPR.rax, this.command(v, 'hypercall'));
    return 'handled';
  }

  /**
   * vmport_ioport_read: EAX != magic or an unknown command (low 8 bits of ECX) -> 0xFFFFFFFF and nothing else
   * changes; otherwise the command writes its other registers and returns the EAX value.
   */
  private command(v: VcpuApi, via: 'port' | 'hypercall'): number {
    const eax = v.getReg32(GPR.rax);
    const command = v.getReg32(GPR.rcx) & 0xff;
    let out: number | undefined;
    if (eax === VMWARE_HYPERVISOR_MAGIC) {
      switch (command) {
        case VMWARE_CMD.GETVERSION:
          setLow32(v, GPR.rbx, VMWARE_HYPERVISOR_MAGIC);
          setLow32(v, GPR.rcx, this.vmxType);
          out = this.version;
          break;
        case VMWARE_CMD.GETRAMSIZE:
          setLow32(v, GPR.rbx, VMWARE_GETRAMSIZE_EBX);
          out = Math.min(this.ramBytes(), 0xffffffff);
          break;
        case VMWARE_CMD.GETHZ: // TSC Hz in EBX:EAX, APIC bus Hz in ECX (vmport.c vmport_cmd_get_hz)
          setLow32(v, GPR.rbx, this.tscHz >> 32n);
          setLow32(v, GPR.rcx, this.apicBusHz);
          out = Number(this.tscHz & M32);
          break;
        default:
          out = undefined;
      }
    }
    this.commands.push({ vcpu: v.id, via, command, ok: out !== undefined });
    return out ?? VMWARE_UNSUPPORTED_EAX;
  }

  private ramBytes(): number {
    let n = 0;
    for (const r of this.memory.regions()) if (r.kind === 'ram') n += r.size;
    return n;
  }

  private portRead(offset: number, size: IoSize): number {
    if (offset !== 0 || size !== 4) return size === 4 ? 0xffffffff : (1 << (8 * size)) - 1; // only 4-byte reads at 0x5658
    const v = this.accessingVcpu();
    return v === undefined ? VMWARE_UNSUPPORTED_EAX : this.command(v, 'port');
  }

  /**
   * The vCPU executing the IN. The PioDevice interface does not name it (engine change wanted: pass the vCPU,
   * as kvm_run does); the executing vCPU is the one whose RIP still equals the start of its current instruction
   * and whose DX names the port.
   */
  private accessingVcpu(): VcpuApi | undefined {
    const all = this.vm?.vcpus ?? [];
    if (all.length === 1) return all[0];
    const running = all.filter((v) => v instanceof Vcpu && v.ip === v.curIp && !v.halted && Number(v.getReg('rdx') & 0xffffn) === VMWARE_HYPERVISOR_PORT);
    return running[0];
  }
}
