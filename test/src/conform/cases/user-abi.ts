// Cases for a user's own ABI (a JSON file loaded with shared-abi's loadAbiJson): the generated detection
// stub finds it at its base, alone and behind Hyper-V + KVM leaves; every direct hypercall wrapper traps with the
// native instruction and returns what the echo host put in the convention's result register (its number).
import type { AbiDefinition } from '@pvkit/shared-abi';
import { generateStubs } from '@pvkit/guest-sdk';
import { LAYOUT } from '../guest.js';
import type { ConformCase } from '../types.js';
import { detectMemory, stubCase } from './helpers.js';

export function userAbiCases(abi: AbiDefinition, file: string): ConformCase[] {
  const base = abi.cpuid.defaultBase;
  const src = `${file} (user ABI ${abi.name}); ABI-FACTS §2 detection`;
  const machine = { abis: [], userAbis: [{ abi, base }] };
  const detect = `pvkit_${abi.name}_detect`;
  const cases: ConformCase[] = [
    stubCase({
      name: `${abi.name} (user ABI) detect at 0x${base.toString(16)}`, groups: ['detection'], abi, strategy: 'dispatch', source: src, needs: ['user-abi'],
      machine, calls: () => [{ sym: detect, args: [LAYOUT.buf] }],
      expect: (e) => ({ results: [BigInt(base)], memory: detectMemory(base, e.vendor, base + abi.cpuid.maxLeafOffset) }),
    }),
  ];
  if (base !== 0x40000000 && base !== 0x40000100) {
    cases.push(stubCase({
      name: `${abi.name} (user ABI) detect behind Hyper-V and KVM leaves`, groups: ['detection'], abi, alsoAbis: ['hyperv', 'kvm'], strategy: 'dispatch',
      source: src, needs: ['user-abi'], machine: { abis: [{ name: 'hyperv' }, { name: 'kvm', base: 0x40000100 }], userAbis: [{ abi, base }] },
      calls: () => [{ sym: detect, args: [LAYOUT.buf] }],
      expect: (e) => ({ results: [BigInt(base)], memory: detectMemory(base, e.vendor) }),
    }));
  }
  cases.push(stubCase({
    name: `${abi.name} (user ABI) wrappers: number in, echo out, by the native instruction`, groups: ['hypercall'], abi, strategy: 'dispatch',
    source: `${file}: hypercall numbers and calling convention`, needs: ['user-abi'], machine,
    calls: (e) => plans(abi, e.bits).map((p) => ({ sym: p.symbol, args: p.params.map((q) => (q.ctype === 'ptr' || q.name === 'out' ? LAYOUT.out : 0n)) })),
    expect: (e) => ({ results: plans(abi, e.bits).map((p) => BigInt(p.hc.nr)), patches: 0, exitTrace: { of: ['IoIn', 'IoOut'], kinds: [] } }),
  }));
  return cases;
}

function plans(abi: AbiDefinition, bits: 64 | 32) {
  return generateStubs({ abi, strategy: 'dispatch', bits, origin: LAYOUT.image }).wrappers.filter((p) => p.conv.trap === 'hypercall' && !p.rep);
}
