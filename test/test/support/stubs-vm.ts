// Runs generated stubs in the host emulator: the flat image at IMAGE, a small caller (assembled with the
// guest-sdk Asm) that loads C arguments per the C ABI, sets sentinels in every callee-saved register,
// calls the stub and halts. Plus small, data-driven test hooks that answer CPUID from shared-abi data.
// (These hooks are test scaffolding, not the hypervisor personalities.)
import type { AbiDefinition } from '@pvkit/shared-abi';
import { signatureToRegs } from '@pvkit/shared-abi';
import { Asm, type Generated, REGISTERS, symbolAddress, toBinary } from '@pvkit/guest-sdk';
import { type CpuidResult, type Exit, type HypervisorHooks, type IoRouter, type Vendor, Vm } from '@pvkit/host';

export const IMAGE = 0x10000n;
const DRIVER = 0x2000;
const STACK = 0x80000n;

const SENTINELS: Record<64 | 32, [string, bigint][]> = {
  64: [['rbx', 0x1111_2222_3333_4444n], ['rbp', 0x5555_6666_7777_8888n], ['r12', 0x1212_1212_1212_1212n], ['r13', 0x1313n], ['r14', 0x1414_0000_0000n], ['r15', 0xf15f_15f1_5f15_f15fn]],
  32: [['rbx', 0xb0b0_b0b0n], ['rsi', 0x5151_5151n], ['rdi', 0xd1d1_d1d1n], ['rbp', 0xbebe_beben]],
};

export interface CallResult {
  readonly exit: Exit;
  /** RAX (64-bit) or EDX:EAX (32-bit), at the halt after the call. */
  readonly ret: bigint;
  /** Callee-saved registers or the stack pointer the stub failed to restore (empty = C ABI kept). */
  readonly clobbered: string[];
}

export class StubVm {
  readonly vm: Vm;
  readonly bits: 64 | 32;

  constructor(readonly g: Generated, opts: { vendor: Vendor; hooks?: HypervisorHooks; router?: IoRouter; mmio?: { gpa: bigint; size: number }[] }) {
    this.bits = g.image.bits;
    if (g.image.origin !== IMAGE) throw new Error(`generate the image with origin 0x${IMAGE.toString(16)}`);
    this.vm = new Vm({ mode: this.bits === 64 ? 'long64' : 'prot32', vendor: opts.vendor, hooks: opts.hooks, router: opts.router });
    this.vm.memory.addRam(0, 0x100000, 'ram');
    for (const m of opts.mmio ?? []) this.vm.memory.addMmio(m.gpa, m.size, 'dev');
    this.vm.memory.writeBytes(IMAGE, toBinary(g.image));
  }

  addr(sym: string): bigint {
    return symbolAddress(this.g.image, sym);
  }

  /** C parameter widths of a symbol from its prototype (a 64-bit type takes two i386 stack slots). */
  private wide(sym: string): boolean[] {
    const proto = this.g.signatures[sym];
    if (!proto) throw new Error(`no prototype for ${sym}`);
    const inner = proto.slice(proto.indexOf('(') + 1, proto.lastIndexOf(')')).trim();
    if (inner === 'void') return [];
    return inner.split(',').map((p) => /int64_t/.test(p) && !/\*/.test(p));
  }

  call(sym: string, args: readonly bigint[] = []): CallResult {
    const wide = this.wide(sym);
    if (wide.length !== args.length) throw new Error(`${sym} takes ${wide.length} arguments, got ${args.length}`);
    const a = new Asm({ bits: this.bits, origin: DRIVER });
    const r = (n: string) => REGISTERS.get(n)!;
    const sentinels = SENTINELS[this.bits];
    for (const [n, v] of sentinels) a.mov(r(this.bits === 64 ? n : n.replace(/^r/, 'e')), this.bits === 64 ? v : Number(v));
    if (this.bits === 64) {
      if (args.length > 6) throw new Error('at most 6 arguments');
      args.forEach((v, i) => a.mov(r(['rdi', 'rsi', 'rdx', 'rcx', 'r8', 'r9'][i]!), v));
      a.mov(r('rax'), this.addr(sym)).call(r('rax')).hlt();
    } else {
      let slots = 0;
      for (let i = args.length - 1; i >= 0; i--) {
        const v = BigInt.asUintN(64, args[i]!);
        if (wide[i]) {
          a.push(Number(v >> 32n) | 0);
          slots++;
        }
        a.push(Number(v & 0xffffffffn) | 0);
        slots++;
      }
      a.mov(r('eax'), Number(this.addr(sym))).call(r('eax'));
      if (slots) a.add(r('esp'), 4 * slots);
      a.hlt();
    }
    this.vm.memory.writeBytes(DRIVER, toBinary(a.finish()));
    const v = this.vm.vcpus[0]!;
    v.halted = false;
    v.rip = BigInt(DRIVER);
    v.setReg('rsp', STACK);
    const exit = this.vm.run({ budget: 1_000_000 });
    const clobbered: string[] = [];
    if (exit.kind === 'Hlt') {
      for (const [n, want] of sentinels) if (v.getReg(n as never) !== want) clobbered.push(`${n}=0x${v.getReg(n as never).toString(16)}`);
      if (v.getReg('rsp') !== STACK) clobbered.push(`rsp=0x${v.getReg('rsp').toString(16)}`);
    }
    const ret = this.bits === 64 ? v.getReg('rax') : ((v.getReg('rdx') & 0xffffffffn) << 32n) | (v.getReg('rax') & 0xffffffffn);
    return { exit, ret, clobbered };
  }

  readBytes(gpa: bigint, n: number): Uint8Array {
    return this.vm.memory.readBytes(gpa, n);
  }
}

/** CPUID leaf 0 vendor strings (EBX, EDX, ECX; SDM Vol. 2A CPUID leaf 0). */
const VENDOR_STRING: Record<Vendor, string> = { intel: 'GenuineIntel', amd: 'AuthenticAMD' };

export interface CpuidLayer {
  readonly abi: AbiDefinition;
  readonly base: number;
  /** Registers to OR into a leaf (offset from base), e.g. Xen's MSR base in leaf 2 EBX. */
  readonly extra?: Readonly<Record<number, Partial<CpuidResult>>>;
  /** Feature bits by name to advertise; default every bit the ABI defines. */
  readonly features?: readonly string[];
}

/**
 * A cpuid hook from ABI data: leaf 0 vendor, leaf 1 ECX[31], each layer's signature leaf (EAX = base +
 * maxLeafOffset) and feature leaves (the ABI's feature bits), zeros elsewhere in 0x40000000..0x4000FFFF.
 */
export function abiCpuid(layers: readonly CpuidLayer[], vendor: Vendor, hypervisorBit = true): NonNullable<HypervisorHooks['cpuid']> {
  return (_v, leaf) => {
    if (leaf === 0) {
      const b = Buffer.from(VENDOR_STRING[vendor], 'latin1');
      return { eax: 0xd, ebx: b.readUInt32LE(0), edx: b.readUInt32LE(4), ecx: b.readUInt32LE(8) };
    }
    if (leaf === 1) return { eax: 0, ebx: 0, ecx: hypervisorBit ? 0x8000_0000 : 0, edx: 0 };
    if (leaf < 0x40000000 || leaf > 0x4000ffff) return undefined;
    const z = { eax: 0, ebx: 0, ecx: 0, edx: 0 };
    if (!hypervisorBit) return z;
    for (const l of layers) {
      const off = leaf - l.base;
      if (off < 0 || off > l.abi.cpuid.maxLeafOffset) continue;
      const r = { ...z };
      if (off === 0) {
        const s = signatureToRegs(l.abi.cpuid.signature);
        Object.assign(r, { eax: l.base + l.abi.cpuid.maxLeafOffset, ebx: s.ebx, ecx: s.ecx, edx: s.edx });
      }
      for (const f of l.abi.features) if (f.leaf === off && (!l.features || l.features.includes(f.name))) r[f.reg] = (r[f.reg] | (1 << f.bit)) >>> 0;
      for (const [k, v] of Object.entries(l.extra?.[off] ?? {})) r[k as keyof CpuidResult] = (r[k as keyof CpuidResult] | v) >>> 0;
      return r;
    }
    return z;
  };
}
