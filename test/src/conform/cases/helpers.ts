// Small builders shared by the case tables.
import type { AbiDefinition } from '@pvkit/shared-abi';
import { DETECT_OFFSETS, VENDOR, type Strategy } from '@pvkit/guest-sdk';
import type { Vendor } from '@pvkit/host';
import { LAYOUT, stubProgram, type Call } from '../guest.js';
import type { Bits, CaseEnv, ConformCase, Expect, Group, MachineSpec, MemoryExpect, Need } from '../types.js';

export const VENDORS: readonly Vendor[] = ['intel', 'amd'];
export const BITS: readonly Bits[] = [64, 32];

export const u32le = (v: number | bigint): number[] => {
  const x = BigInt.asUintN(32, BigInt(v));
  return [0, 8, 16, 24].map((s) => Number((x >> BigInt(s)) & 0xffn));
};
export const u64le = (v: bigint): number[] => [...u32le(v), ...u32le(BigInt.asUintN(64, v) >> 32n)];

/** The native hypercall instruction of a vendor (ABI-FACTS §1.2: VMCALL 0F 01 C1 Intel, VMMCALL 0F 01 D9 AMD). */
export const nativeInsn = (v: Vendor): number[] => (v === 'intel' ? [0x0f, 0x01, 0xc1] : [0x0f, 0x01, 0xd9]);

/** struct pvkit_detect fields the host decides: base found and the vendor code (guest-sdk detect.ts). */
export function detectMemory(base: number, vendor: Vendor, maxLeaf?: number): MemoryExpect[] {
  const m: MemoryExpect[] = [
    { gpa: LAYOUT.buf + BigInt(DETECT_OFFSETS.base), bytes: u32le(base), what: 'pvkit_detect.base' },
  ];
  if (base !== 0) m.push({ gpa: LAYOUT.buf + BigInt(DETECT_OFFSETS.vendor), bytes: u32le(vendor === 'amd' ? VENDOR.VMMCALL : VENDOR.VMCALL), what: 'pvkit_detect.vendor' });
  if (maxLeaf !== undefined) m.push({ gpa: LAYOUT.buf + BigInt(DETECT_OFFSETS.maxLeaf), bytes: u32le(maxLeaf), what: 'pvkit_detect.max_leaf' });
  return m;
}

export interface StubCaseSpec {
  readonly name: string;
  readonly groups: readonly Group[];
  readonly abi: AbiDefinition;
  readonly strategy: Strategy;
  readonly source: string;
  readonly hypercalls?: readonly string[];
  readonly machine: MachineSpec | ((env: CaseEnv) => MachineSpec);
  readonly calls: (env: CaseEnv) => readonly Call[];
  readonly expect: (env: CaseEnv) => Expect;
  readonly vendors?: readonly Vendor[];
  readonly bits?: readonly Bits[];
  readonly needs?: readonly Need[];
  /** Extra ABIs the case involves (for --abi filtering), besides `abi`. */
  readonly alsoAbis?: ConformCase['abis'];
}

/** A case whose guest is the generated stub image plus a driver calling `calls`. */
export function stubCase(s: StubCaseSpec): ConformCase {
  return {
    name: s.name,
    groups: s.groups,
    abis: [s.abi.name as ConformCase['abis'][number], ...(s.alsoAbis ?? [])],
    strategy: s.strategy,
    vendors: s.vendors ?? VENDORS,
    bits: s.bits ?? BITS,
    source: s.source,
    needs: s.needs,
    machine: typeof s.machine === 'function' ? s.machine : () => s.machine as MachineSpec,
    program: (env) => stubProgram({ abi: s.abi, strategy: s.strategy, bits: env.bits, hypercalls: s.hypercalls }, s.calls(env)),
    expect: s.expect,
  };
}
