// Demo step: the generated detection routine finds each ABI, on both vendors and both modes, with Hyper-V's
// leaves at 0x40000000 pushing KVM to 0x40000100 (as KVM does for Windows guests) and pvio at 0x40000200.
import { DETECT_OFFSETS } from '@pvkit/guest-sdk';
import { hypervAbi, kvmAbi, pvioAbi, xenAbi } from '@pvkit/shared-abi';
import { columns, hex, SCRATCH, stage } from './stage.js';

export function detectionDemo(): string[] {
  const rows: string[][] = [];
  for (const vendor of ['intel', 'amd'] as const) {
    for (const bits of [64, 32] as const) {
      const s = stage({
        abis: [{ name: 'hyperv' }, { name: 'kvm' }, { name: 'pvio', base: 0x40000200 }],
        stubs: [kvmAbi, hypervAbi, pvioAbi, xenAbi].map((abi) => ({ abi, strategy: 'dispatch' as const })),
        vendor, bits,
      });
      const found = [kvmAbi, hypervAbi, pvioAbi, xenAbi].map((abi) => {
        const r = s.call(abi.name, `pvkit_${abi.name}_detect`, [SCRATCH]);
        const mem = s.m.vm.memory.readBytes(SCRATCH, 16 + 20);
        const dv = new DataView(mem.buffer, mem.byteOffset, mem.byteLength);
        const base = Number(r.ret & 0xffffffffn);
        const feat = dv.getUint32(DETECT_OFFSETS.nleaves, true) > 0 ? dv.getUint32(DETECT_OFFSETS.leaves + 4, true) : 0;
        return base ? `${hex(base)} f=${hex(feat)}` : 'not found';
      });
      rows.push([vendor, String(bits), ...found]);
    }
  }
  return [
    'Detection (guest-sdk pvkit_<abi>_detect: CPUID.1:ECX[31], then the Linux 0x40000000..0x4000FF00 scan)',
    '  host: Hyper-V leaves at 0x40000000, KVM at 0x40000100, pvio at 0x40000200; no Xen',
    ...columns(['vendor', 'bits', 'kvm', 'hyperv', 'pvio', 'xen'], rows),
    '  f = EAX of the first feature leaf the routine read (KVM features, Hyper-V privileges, pvio features)',
  ];
}
