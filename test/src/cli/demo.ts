// `pvkit demo` (what `npm start` runs). For now: the ABI catalogue and where the ABIs' hypercall number spaces
// meet. Later issues extend run() into the end-to-end demo; printCatalogue() stays its first part.
import { BUILTIN_ABIS, checkSpaceCollisions } from '@pvkit/shared-abi';
import type { AbiDefinition } from '@pvkit/shared-abi';
import { signatureText } from './abi.js';

const hex = (n: number): string => `0x${n.toString(16)}`;

/** Pairs of ABIs whose calls the registers cannot tell apart (space.ts checkSpaceCollisions), one line each. */
export function spaceReport(abis: readonly AbiDefinition[]): string[] {
  return checkSpaceCollisions(abis).map((p) => `${p.path}: ${p.message.split('. Discriminators')[0]}`);
}

/** The catalogue as lines: one block per built-in ABI, then the hypercall-space report. */
export function catalogueLines(abis: readonly AbiDefinition[] = BUILTIN_ABIS): string[] {
  const out = ['pvkit ABI catalogue', ''];
  for (const a of abis) {
    out.push(`${a.name.padEnd(8)} ${a.title}`);
    out.push(`         signature ${signatureText(a.cpuid.signature)} at CPUID ${hex(a.cpuid.defaultBase)} (max leaf ${hex(a.cpuid.defaultBase + a.cpuid.maxLeafOffset)})`);
    out.push(`         ${a.hypercalls.length} hypercalls (${a.space.trap}, ${a.space.selector} ${hex(a.space.lo)}..${hex(a.space.hi)}), ${a.features.length} feature bits, ${a.msrs.length} MSRs`);
    out.push(`         conventions: ${a.conventions.map((c) => `${c.id} (${c.bits}-bit ${c.trap})`).join(', ')}`);
    out.push('');
  }
  const report = spaceReport(abis);
  out.push(`hypercall number spaces: ${report.length ? `${report.length} overlap${report.length === 1 ? '' : 's'} the registers alone cannot resolve (a host offering both routes by configuration, as KVM does)` : 'no overlaps'}`);
  out.push(...report.map((l) => `  ${l}`));
  return out;
}

/** Prints the catalogue (the first part of the demo). */
export function printCatalogue(write: (s: string) => void = (s) => process.stdout.write(s)): void {
  write(`${catalogueLines().join('\n')}\n`);
}

export async function run(argv: string[]): Promise<number> {
  if (argv.length) {
    const { UsageError } = await import('./usage.js');
    throw new UsageError(`demo takes no arguments (got ${argv.join(' ')})`);
  }
  printCatalogue();
  return 0;
}
