// The built-in ABIs, in the order `pvkit abi list` shows them.
import type { AbiDefinition } from './types.js';
import { kvmAbi } from './kvm.js';
import { xenAbi } from './xen.js';
import { hypervAbi } from './hyperv.js';
import { vmwareAbi } from './vmware.js';
import { pvioAbi } from './pvio.js';

export const BUILTIN_ABIS: readonly AbiDefinition[] = [kvmAbi, xenAbi, hypervAbi, vmwareAbi, pvioAbi];

/** A built-in ABI by name (case-insensitive), or undefined. */
export function findAbi(name: string): AbiDefinition | undefined {
  const n = name.toLowerCase();
  return BUILTIN_ABIS.find((a) => a.name.toLowerCase() === n);
}
