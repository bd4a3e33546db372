// `pvkit gen`: guest stubs for an ABI (built-in name or JSON file), a cross-vendor strategy and a mode, in
// any emitter format. `pvkit gen --list`: which ABI x strategy x mode combinations work, and why not.
// Exit codes: 0 written, 1 invalid ABI file, 2 misuse (flags, unknown ABI, a combination that cannot work).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { AbiError, BUILTIN_ABIS, findAbi, formatProblem, parseAbiJson, type AbiDefinition } from '@pvkit/shared-abi';
import {
  STRATEGIES, checkCombination, generateStubs, isStrategy, toBinary, toCHeader, toElf, toGas, toHex, toManifest, toNasm,
  type Generated,
} from '@pvkit/guest-sdk';
import { UsageError, parseFlags } from './usage.js';

const FORMATS = ['bin', 'hex', 'nasm', 'gas', 'c', 'elf', 'json'] as const;
type Format = (typeof FORMATS)[number];
const BINARY: readonly Format[] = ['bin', 'elf'];

const USAGE = `usage: pvkit gen --abi NAME|FILE.json [--strategy S] [--bits 64|32] [--format F] [-o OUT]
       pvkit gen --list

  --abi         ${BUILTIN_ABIS.map((a) => a.name).join('|')} or a user ABI JSON file
  --strategy    ${STRATEGIES.join('|')} (default host-patch)
  --bits        64 or 32 (default 64)
  --format      ${FORMATS.join('|')} (default bin; bin and elf need -o)
  --hypercalls  comma-separated hypercall names (default: all)
  --origin      load address of the flat image (default 0)
  -o, --out     output file (text formats go to stdout without it)
  --list        the combinations that work, and why the others do not

exit status: 0 ok, 1 invalid ABI file, 2 misuse or a combination that cannot work`;

class InvalidAbi extends Error {}

function loadAbi(arg: string): AbiDefinition {
  const builtin = findAbi(arg);
  if (builtin && !existsSync(arg)) return builtin;
  if (!existsSync(arg)) throw new UsageError(`unknown ABI '${arg}': not a built-in (${BUILTIN_ABIS.map((a) => a.name).join(', ')}) and no such file`);
  const r = parseAbiJson(readFileSync(arg, 'utf8'), { file: arg });
  if (r.problems.length > 0 || !r.def) throw new InvalidAbi(`${arg} is not a valid ABI definition:\n${r.problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`);
  return r.def;
}

function list(): number {
  const rows: string[] = [];
  for (const abi of BUILTIN_ABIS) {
    for (const s of STRATEGIES) {
      for (const bits of [64, 32] as const) {
        const why = checkCombination(abi, s, bits);
        rows.push(`${abi.name.padEnd(8)} ${s.padEnd(12)} ${String(bits).padEnd(3)} ${why ? `no: ${why}` : 'yes'}`);
      }
    }
  }
  console.log(['abi      strategy     bits works', ...rows].join('\n'));
  return 0;
}

/** C header with struct pvkit_detect declared before the prototypes that use it. */
function cHeader(g: Generated, prefix: string): string {
  const h = toCHeader(g.image, { prefix, signatures: g.signatures });
  return h.replace('#include <stdint.h>\n', `#include <stdint.h>\n\n${g.cDecls}\n`);
}

function render(g: Generated, format: Format, abi: AbiDefinition): string | Uint8Array {
  switch (format) {
    case 'bin': return toBinary(g.image);
    case 'hex': return toHex(g.image);
    case 'nasm': return toNasm(g.image);
    case 'gas': return toGas(g.image);
    case 'c': return cHeader(g, `pvkit_${abi.name.toLowerCase().replace(/[^a-z0-9_]/g, '_')}_stubs`);
    case 'elf': return toElf(g.image);
    case 'json': return toManifest(g.image);
  }
}

function parseOrigin(s: string): bigint {
  if (!/^(0x[0-9a-f]+|[0-9]+)$/i.test(s)) throw new UsageError(`--origin '${s}' is not a number (decimal or 0x hex)`);
  return BigInt(s);
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  const { flags, positionals } = parseFlags(argv, {
    abi: 'string', strategy: 'string', bits: 'string', format: 'string', o: 'string', out: 'string', list: 'boolean', hypercalls: 'string', origin: 'string',
  });
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}' (see pvkit gen --help)`);
  if (flags.list) return list();
  if (typeof flags.abi !== 'string') throw new UsageError('--abi is required (see pvkit gen --help)');
  const strategy = (flags.strategy as string | undefined) ?? 'host-patch';
  if (!isStrategy(strategy)) throw new UsageError(`--strategy '${strategy}' is not one of ${STRATEGIES.join(', ')}`);
  const bitsText = (flags.bits as string | undefined) ?? '64';
  if (bitsText !== '64' && bitsText !== '32') throw new UsageError(`--bits '${bitsText}' must be 64 or 32`);
  const bits = Number(bitsText) as 64 | 32;
  const format = ((flags.format as string | undefined) ?? 'bin') as Format;
  if (!FORMATS.includes(format)) throw new UsageError(`--format '${format}' is not one of ${FORMATS.join(', ')}`);
  const out = (flags.o ?? flags.out) as string | undefined;
  let abi: AbiDefinition;
  try {
    abi = loadAbi(flags.abi);
  } catch (e) {
    if (e instanceof InvalidAbi) {
      console.error(`pvkit gen: ${e.message}`);
      return 1;
    }
    throw e;
  }
  const why = checkCombination(abi, strategy, bits);
  if (why) throw new UsageError(`abi ${abi.name} with strategy ${strategy} (${bits}-bit) cannot work: ${why}`);
  if (BINARY.includes(format) && !out) throw new UsageError(`--format ${format} is binary: give -o FILE`);
  let g: Generated;
  try {
    g = generateStubs({
      abi, strategy, bits,
      hypercalls: typeof flags.hypercalls === 'string' ? flags.hypercalls.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
      origin: typeof flags.origin === 'string' ? parseOrigin(flags.origin) : undefined,
    });
  } catch (e) {
    if (e instanceof AbiError) throw new UsageError(e.problems.map(formatProblem).join('; '));
    throw e;
  }
  const data = render(g, format, abi);
  if (out) {
    writeFileSync(out, data);
    console.error(`pvkit gen: wrote ${out} (${abi.name} ${strategy} ${bits}-bit ${format}, ${g.wrappers.length} wrappers, ${g.image.patchSites.length} patch sites)`);
  } else process.stdout.write(data as string);
  return 0;
}
