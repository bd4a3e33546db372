// generate(): one Image holding, for an ABI, a strategy and a mode: CPU-vendor helper, detection, every
// hypercall wrapper, the strategy's routines and data, and (pvio) the register-access fallback.

import { AbiError, type AbiDefinition, type HypercallDef } from '@pvkit/shared-abi';
import type { Image } from '../image.js';
import { Asm } from '../x86/asm.js';
import { DETECT_STRUCT_C, emitDetect, emitVendor } from './detect.js';
import { emitFallback, fallbackPrototypes, isPvio } from './fallback.js';
import { HCPAGE_SETUP_PARAMS, emitHcpageSetup } from './hcpage.js';
import { names } from './names.js';
import { type Strategy, STRATEGIES, TrapEmitter, conventionsFor, isStrategy } from './strategies.js';
import { type WrapperPlan, emitWrapper, planWrappers } from './wrappers.js';

export interface GenerateOptions {
  readonly abi: AbiDefinition;
  readonly strategy: Strategy;
  readonly bits: 64 | 32;
  /** Hypercall names to include (default: every one the mode supports). */
  readonly hypercalls?: readonly string[];
  /** Load address of the flat image (default 0). */
  readonly origin?: bigint;
}

export interface Generated {
  readonly image: Image;
  /** Symbol -> C prototype (toCHeader's `signatures`). */
  readonly signatures: Readonly<Record<string, string>>;
  /** C declarations the prototypes use (struct pvkit_detect). */
  readonly cDecls: string;
  readonly wrappers: readonly WrapperPlan[];
}

function pick(abi: AbiDefinition, want: readonly string[] | undefined): HypercallDef[] {
  if (!want) return [...abi.hypercalls];
  const unknown = want.filter((n) => !abi.hypercalls.some((h) => h.name === n));
  if (unknown.length) {
    throw new AbiError(unknown.map((n) => ({ path: 'hypercalls', value: n, message: `ABI ${abi.name} has no hypercall of that name (have ${abi.hypercalls.map((h) => h.name).join(', ')})` })));
  }
  // The same definition may be listed twice in an ABI; emit each name once.
  return abi.hypercalls.filter((h, i) => want.includes(h.name) && abi.hypercalls.findIndex((x) => x.name === h.name) === i);
}

export function generateStubs(o: GenerateOptions): Generated {
  const { abi, strategy, bits } = o;
  if (!isStrategy(strategy)) throw new AbiError([{ path: 'strategy', value: strategy, message: `one of ${STRATEGIES.join(', ')}` }]);
  if (bits !== 64 && bits !== 32) throw new AbiError([{ path: 'bits', value: bits, message: 'must be 64 or 32' }]);
  const convs = conventionsFor(abi, strategy, bits);
  const a = new Asm({ bits, origin: o.origin ?? 0n });
  const n = names(abi);
  const traps = new TrapEmitter(a, abi, strategy);
  const sig: Record<string, string> = {};
  emitVendor(a, n.vendor);
  sig[n.vendor] = `uint32_t ${n.vendor}(void)`;
  emitDetect(a, abi, n.detect, n.vendor);
  sig[n.detect] = `uint32_t ${n.detect}(struct pvkit_detect *out)`;
  const seen = new Set<string>();
  const plans: WrapperPlan[] = [];
  for (const hc of pick(abi, o.hypercalls)) {
    if (seen.has(hc.name)) continue;
    seen.add(hc.name);
    for (const p of planWrappers(abi, hc, convs)) {
      if (sig[p.symbol] !== undefined) {
        throw new AbiError([{ path: `${abi.name}.hypercalls[${hc.name}]`, value: p.symbol, message: 'its C symbol name is already taken by another hypercall or routine of this ABI' }]);
      }
      emitWrapper(a, p, traps);
      sig[p.symbol] = p.prototype;
      plans.push(p);
    }
  }
  if (strategy === 'hcpage') {
    emitHcpageSetup(a, abi);
    sig[n.hcpageSetup] = `uint32_t ${n.hcpageSetup}(${HCPAGE_SETUP_PARAMS.map((p) => `${p.ctype === 'ptr' ? 'void *' : p.ctype + ' '}${p.name}`).join(', ')})`;
  }
  if (isPvio(abi)) {
    emitFallback(a, abi, traps, convs);
    Object.assign(sig, fallbackPrototypes(abi, bits));
  }
  traps.finish();
  if (strategy === 'guest-patch') sig[n.patchAll] = `uint32_t ${n.patchAll}(void)`;
  if (strategy === 'dispatch') sig[n.dispatchInit] = `void ${n.dispatchInit}(void)`;
  const img = a.finish();
  const image: Image = { ...img, meta: { abi: abi.name, abiVersion: abi.version, strategy, generator: 'pvkit stubs' } };
  return { image, signatures: sig, cDecls: DETECT_STRUCT_C, wrappers: plans };
}

/** The brief's entry point: the Image alone (see generateStubs for the prototypes). */
export function generate(o: GenerateOptions): Image {
  return generateStubs(o).image;
}

/** Whether a combination works, and why not when it does not. */
export function checkCombination(abi: AbiDefinition, strategy: Strategy, bits: 64 | 32): string | undefined {
  try {
    conventionsFor(abi, strategy, bits);
    return undefined;
  } catch (e) {
    return e instanceof AbiError ? e.problems.map((p) => p.message).join('; ') : String(e);
  }
}
