// Shared plumbing for the demo: a machine with personalities and generated stub images loaded side by side.
import { generateStubs, symbolAddress, toBinary, type Generated } from '@pvkit/guest-sdk';
import type { AbiDefinition } from '@pvkit/shared-abi';
import type { Vendor } from '@pvkit/host';
import { buildMachine, type AbiRequest, type Machine } from '../run/machine.js';
import { callFunction, wideParams, type CallResult } from '../run/call.js';

/** Scratch buffer for out-structures, below the images. */
export const SCRATCH = 0x8_0000n + 0x1000n;

export interface Stage {
  readonly m: Machine;
  readonly images: Map<string, Generated>;
  call(abi: string, sym: string, args?: readonly bigint[]): CallResult;
  addr(abi: string, sym: string): bigint;
}

/** Each ABI's stubs at its own 64 KiB slot from 0x100000; personalities placed as `pvkit run` places them. */
export function stage(opts: {
  abis: readonly AbiRequest[];
  stubs: readonly { abi: AbiDefinition; strategy: 'host-patch' | 'guest-patch' | 'hcpage' | 'dispatch' }[];
  vendor: Vendor;
  bits: 64 | 32;
  trace?: boolean;
}): Stage {
  const images = new Map<string, Generated>();
  const segments = opts.stubs.map((s, i) => {
    const g = generateStubs({ abi: s.abi, strategy: s.strategy, bits: opts.bits, origin: 0x100000n + BigInt(i) * 0x10000n });
    images.set(s.abi.name, g);
    return { gpa: g.image.origin, bytes: toBinary(g.image), zero: 0 };
  });
  const m = buildMachine({ format: 'flat', bits: opts.bits, entry: 0x100000n, segments }, {
    abis: opts.abis, vendor: opts.vendor, bits: opts.bits, memMiB: 4, trace: opts.trace ?? false,
  });
  const get = (abi: string) => {
    const g = images.get(abi);
    if (!g) throw new Error(`demo: no stubs generated for ${abi}`);
    return g;
  };
  return {
    m,
    images,
    addr: (abi, sym) => symbolAddress(get(abi).image, sym),
    call(abi, sym, args = []) {
      const g = get(abi);
      const proto = g.signatures[sym];
      if (!proto) throw new Error(`demo: ${abi} has no function ${sym}`);
      const r = callFunction(m.vm, symbolAddress(g.image, sym), args, { wide: wideParams(proto) });
      if (r.exit.kind !== 'Hlt') throw new Error(`demo: ${sym} ended with ${r.exit.kind}`);
      if (r.clobbered.length) throw new Error(`demo: ${sym} broke the C ABI: ${r.clobbered.join(', ')}`);
      return r;
    },
  };
}

export const hex = (v: bigint | number, w = 0): string => '0x' + v.toString(16).padStart(w, '0');

/** Column-aligned text table. */
export function columns(head: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => '  ' + r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd();
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)];
}
