// Demo step: lazy patching. A KVM stub built with VMCALL (host-patch strategy) runs on an AMD vCPU: the first call
// #UDs, the host rewrites the 3 bytes to VMMCALL and re-executes; the second call goes straight through.
import { kvmAbi } from '@pvkit/shared-abi';
import { hex, stage } from './stage.js';

export function patchingDemo(): string[] {
  const s = stage({ abis: [{ name: 'kvm' }], stubs: [{ abi: kvmAbi, strategy: 'host-patch' }], vendor: 'amd', bits: 64 });
  const sym = 'pvkit_kvm_hc_vapic_poll_irq';
  const g = s.images.get('kvm')!;
  const site = g.image.patchSites.find((p) => p.symbol === sym)!;
  const gpa = g.image.origin + BigInt(site.offset);
  const bytes = () => [...s.m.vm.memory.readBytes(gpa, 3)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  const hcalls = () => s.m.counters.get('hypercall');
  const lines = ['Lazy #UD patching (KVM_X86_QUIRK_FIX_HYPERCALL_INSN) of a VMCALL site on an AMD vCPU'];
  lines.push(`  site ${hex(gpa)} in ${sym}: ${bytes()} (vmcall)`);
  for (const n of [1, 2]) {
    const before = { p: s.m.vm.patches.length, h: hcalls(), ud: s.m.counters.get('udPatch') };
    const r = s.call('kvm', sym);
    const ud = s.m.counters.get('udPatch') - before.ud, h = hcalls() - before.h;
    lines.push(`  call ${n}: returned ${r.ret}, ${s.m.vm.patches.length - before.p} patch(es), ${ud + h} exit(s) (${ud} #UD, ${h} hypercall); site now ${bytes()}`);
  }
  lines.push(`  patch counter for the site: ${s.m.vm.patchCounts.get(gpa)} (each site is patched once)`);
  return lines;
}
