// Symbol names of one generated image (all prefixed by the ABI, so images of two ABIs link together).

import type { AbiDefinition } from '@pvkit/shared-abi';
import type { Asm } from '../x86/asm.js';
import { mem, type Mem } from '../x86/operands.js';

/** Names every symbol of one generated image uses, so two ABIs' images can be linked together. */
export interface Names {
  readonly prefix: string;
  readonly vendor: string;
  readonly detect: string;
  readonly hcpageVar: string;
  readonly hcpageSetup: string;
  readonly vendorFlag: string;
  readonly dispatchInit: string;
  readonly patchTable: string;
  readonly patchAll: string;
}

export function names(abi: AbiDefinition): Names {
  const p = `pvkit_${cident(abi.name)}`;
  return {
    prefix: p, vendor: `${p}_cpu_vendor`, detect: `${p}_detect`, hcpageVar: `${p}_hcpage`, hcpageSetup: `${p}_hcpage_setup`,
    vendorFlag: `${p}_vendor_flag`, dispatchInit: `${p}_dispatch_init`, patchTable: `${p}_patch_table`,
    patchAll: 'pvkit_patch_hypercalls', // name fixed by the SDK's API
  };
}

export function cident(s: string): string {
  const t = s.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '');
  return /^[0-9]/.test(t) ? `_${t}` : t || '_';
}

/** Absolute or RIP-relative reference to a data label. */
export function dataRef(a: Asm, label: string): Mem {
  return a.bits === 64 ? mem.rip(label) : mem(label);
}

