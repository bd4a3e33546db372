// Every ABI x strategy x mode the generator accepts: iced-x86 decodes each function cleanly, patch sites
// are VMCALLs on instruction boundaries, nasm and GNU as reassemble the emitted source to the same bytes,
// and refused combinations name the ABI and the strategy.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { AbiError, BUILTIN_ABIS, kvmAbi, vmwareAbi } from '@pvkit/shared-abi';
import { STRATEGIES, checkCombination, generate, generateStubs } from '../src/stubs/index.js';
import type { Image } from '../src/image.js';
import { checkRoundTrip } from './support/roundtrip.js';
import { hasAs, hasLd, hasNasm, warnMissing } from './support/tools.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
let iced: any;
try {
  iced = createRequire(import.meta.url)('iced-x86');
} catch (e) {
  console.warn(`stubs-image: iced-x86 is not installed (${(e as Error).message.split('\n')[0]}); decode checks skipped`);
}

const combos = BUILTIN_ABIS.flatMap((abi) => STRATEGIES.flatMap((strategy) => ([64, 32] as const).map((bits) => ({ abi, strategy, bits }))));
const working = combos.filter((c) => checkCombination(c.abi, c.strategy, c.bits) === undefined);

/** Decode each function with iced-x86: [offset, length, mnemonic] per instruction; invalid bytes are reported. */
function decodeFunctions(img: Image): { problems: string[]; insns: Map<number, string> } {
  const text = img.sections.find((s) => s.name === '.text')!.bytes;
  const problems: string[] = [];
  const insns = new Map<number, string>();
  for (const f of img.symbols.filter((s) => s.kind === 'func' && s.section === '.text')) {
    const bytes = text.subarray(f.offset, f.offset + f.size);
    const dec = new iced.Decoder(img.bits, bytes, iced.DecoderOptions.None);
    let at = 0;
    try {
      while (dec.canDecode) {
        const ins = dec.decode();
        try {
          if (ins.code === iced.Code.INVALID) problems.push(`${f.name}+${at}: invalid instruction`);
          insns.set(f.offset + at, String(iced.Mnemonic[ins.mnemonic]).toLowerCase());
          at += ins.length;
        } finally {
          ins.free();
        }
      }
    } finally {
      dec.free();
    }
    if (at !== f.size) problems.push(`${f.name}: decoded ${at} of ${f.size} bytes`);
  }
  return { problems, insns };
}

describe('generate(): images', () => {
  it('accepts 34 of the 40 built-in combinations and refuses hcpage for the ABIs without a page', () => {
    const refused = combos.filter((c) => !working.includes(c)).map((c) => `${c.abi.name}/${c.strategy}/${c.bits}`);
    expect(refused).toEqual(['kvm/hcpage/64', 'kvm/hcpage/32', 'vmware/hcpage/64', 'vmware/hcpage/32']);
  });

  it('a refused combination is an AbiError naming the ABI and the strategy', () => {
    for (const abi of [kvmAbi, vmwareAbi]) {
      let err: unknown;
      try {
        generate({ abi, strategy: 'hcpage', bits: 64 });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AbiError);
      expect(String((err as Error).message)).toMatch(new RegExp(`ABI ${abi.name} has no hypercall page.*strategy hcpage cannot work`));
    }
    expect(() => generate({ abi: kvmAbi, strategy: 'bogus' as never, bits: 64 })).toThrow(/strategy.*one of host-patch, guest-patch, hcpage, dispatch/);
    expect(() => generate({ abi: kvmAbi, strategy: 'host-patch', bits: 16 as never })).toThrow(/bits: must be 64 or 32/);
    expect(() => generate({ abi: kvmAbi, strategy: 'host-patch', bits: 64, hypercalls: ['KVM_HC_NOPE'] })).toThrow(/hypercalls: ABI kvm has no hypercall of that name/);
  });

  it('user ABIs: hcpage needs an MSR with a gpa field; two calls with one C name are refused, located', () => {
    const paged = { ...kvmAbi, name: 'mine', conventions: kvmAbi.conventions.map((c) => ({ ...c, id: `${c.id}-page`, trap: 'hcpage' as const })), msrs: [] };
    expect(checkCombination(paged, 'hcpage', 64)).toMatch(/ABI mine has no MSR with a 'gpa' field to place a hypercall page, so strategy hcpage cannot work/);
    const withMsr = { ...paged, msrs: kvmAbi.msrs.filter((m) => m.layout.some((f) => f.kind === 'gpa')).slice(0, 1) };
    expect(checkCombination(withMsr, 'hcpage', 64)).toBeUndefined();
    expect(generate({ abi: withMsr, strategy: 'hcpage', bits: 64 }).patchSites).toEqual([]);
    const twice = { ...kvmAbi, hypercalls: [kvmAbi.hypercalls[0]!, { ...kvmAbi.hypercalls[1]!, name: 'KVM_hc.vapic-poll-irq' }] };
    expect(() => generate({ abi: twice, strategy: 'host-patch', bits: 64 })).toThrow(/kvm\.hypercalls\[KVM_hc\.vapic-poll-irq\]: its C symbol name is already taken.*pvkit_kvm_hc_vapic_poll_irq/);
  });

  it('meta, symbols and prototypes: one wrapper per hypercall and convention, C prototypes for every global function', () => {
    const g = generateStubs({ abi: kvmAbi, strategy: 'host-patch', bits: 64 });
    expect(g.image.meta).toMatchObject({ abi: 'kvm', abiVersion: kvmAbi.version, strategy: 'host-patch' });
    expect(g.signatures.pvkit_kvm_hc_kick_cpu).toBe('int64_t pvkit_kvm_hc_kick_cpu(uint32_t flags, uint32_t apicid)');
    const funcs = g.image.symbols.filter((s) => s.kind === 'func' && s.global).map((s) => s.name).sort();
    expect(Object.keys(g.signatures).sort()).toEqual(funcs);
    // KVM_HC_CLOCK_PAIRING is 64-bit only (kvm.ts `bits`), so the 32-bit image has one wrapper fewer.
    expect(generateStubs({ abi: kvmAbi, strategy: 'host-patch', bits: 32 }).wrappers.map((w) => w.symbol)).not.toContain('pvkit_kvm_hc_clock_pairing');
    const hv = generateStubs({ abi: BUILTIN_ABIS.find((a) => a.name === 'hyperv')!, strategy: 'hcpage', bits: 64 });
    expect(hv.signatures.pvkit_hyperv_hvcall_send_ipi_fast).toBe('uint64_t pvkit_hyperv_hvcall_send_ipi_fast(uint64_t input, uint64_t output)');
    expect(hv.signatures.pvkit_hyperv_hvcall_get_vp_registers).toBe('uint64_t pvkit_hyperv_hvcall_get_vp_registers(uint64_t input, uint64_t output, uint32_t rep_count, uint32_t rep_start)');
    expect(hv.signatures.pvkit_hyperv_hvcall_send_ipi_ex).toBe('uint64_t pvkit_hyperv_hvcall_send_ipi_ex(uint64_t input, uint64_t output, uint32_t varhead_qwords)');
    const vm = generateStubs({ abi: vmwareAbi, strategy: 'host-patch', bits: 32 });
    expect(vm.signatures.pvkit_vmware_cmd_getversion).toBe('uint32_t pvkit_vmware_cmd_getversion(uint32_t ebx, uint64_t *out)');
    expect(vm.signatures.pvkit_vmware_cmd_getversion_hypercall_lb).toBe('uint32_t pvkit_vmware_cmd_getversion_hypercall_lb(uint32_t ebx, uint64_t *out)');
  });

  it('patch sites: host-patch and guest-patch record every VMCALL; hcpage and dispatch have none', () => {
    for (const c of working) {
      const img = generate(c);
      const n = img.patchSites.length;
      if (c.strategy === 'hcpage' || c.strategy === 'dispatch') expect(n, `${c.abi.name}/${c.strategy}/${c.bits}`).toBe(0);
      else if (c.abi.name !== 'vmware') expect(n, `${c.abi.name}/${c.strategy}/${c.bits}`).toBeGreaterThan(0);
    }
  });

  it.skipIf(!iced).each(working.map((c) => [`${c.abi.name}/${c.strategy}/${c.bits}`, c] as const))('%s decodes cleanly with iced-x86', (_n, c) => {
    const img = generate(c);
    const { problems, insns } = decodeFunctions(img);
    expect(problems).toEqual([]);
    for (const p of img.patchSites) expect(insns.get(p.offset), `site ${p.symbol}+${p.offset}`).toBe('vmcall');
  });

  const noTools = warnMissing('nasm/as/ld', hasNasm && hasAs && hasLd);
  it.skipIf(noTools).each(working.map((c) => [`${c.abi.name}/${c.strategy}/${c.bits}`, c] as const))('%s: nasm and GNU as reassemble the emitted source to the same bytes', (_n, c) => {
    checkRoundTrip(generate({ ...c, origin: 0x100000n }));
  });
});
