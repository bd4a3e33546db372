// `pvkit abi list|show|validate|diff|header`: the ABI catalogue and user-defined ABI files from the shell.
// Exit codes: 0 success, 1 invalid ABI file or breaking diff, 2 misuse (unknown subcommand or flag, missing file).
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import {
  AbiError, BUILTIN_ABIS, abiToJson, cHeader, checkSpaceCollisions, diff, findAbi, formatProblem, parseAbiJson,
} from '@pvkit/shared-abi';
import type { AbiDefinition, Problem, Slot } from '@pvkit/shared-abi';
import { UsageError, parseFlags } from './usage.js';

const USAGE = `usage: pvkit abi <subcommand>

  list                        the built-in ABIs
  show NAME|FILE [--json]     one ABI: signature, CPUID base, conventions, hypercalls, features, MSRs
  validate FILE               check a user-defined ABI file (JSON); every problem with its JSON path
  diff OLD NEW                changes between two ABIs (names or files), each compatible or breaking
  header NAME|FILE [-o OUT]   C header (#defines) for an ABI

exit status: 0 ok, 1 invalid ABI or breaking diff, 2 misuse`;

/** Thrown when an ABI file exists but is not valid: reported with every problem, exit 1. */
class InvalidAbi extends Error {
  constructor(readonly file: string, readonly problems: readonly Problem[]) {
    super(`${file} is not a valid ABI definition (${problems.length} problem${problems.length === 1 ? '' : 's'})`);
  }
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    console.log(USAGE);
    return 0;
  }
  try {
    switch (sub) {
      case 'list': return list(rest);
      case 'show': return show(rest);
      case 'validate': return validateCmd(rest);
      case 'diff': return diffCmd(rest);
      case 'header': return header(rest);
      case undefined: throw new UsageError(`missing subcommand\n${USAGE}`);
      default: throw new UsageError(`unknown subcommand '${sub}'\n${USAGE}`);
    }
  } catch (e) {
    if (e instanceof InvalidAbi) {
      console.error(`pvkit abi: ${e.message}:`);
      for (const p of e.problems) console.error(`  ${formatProblem(p)}`);
      return 1;
    }
    throw e;
  }
}

function positionals(argv: string[], spec: Record<string, 'string' | 'boolean'>, names: string[]) {
  const r = parseFlags(argv, spec);
  if (r.positionals.length !== names.length) {
    throw new UsageError(`expected ${names.length ? names.join(' ') : 'no arguments'}, got ${r.positionals.length ? r.positionals.map((p) => `'${p}'`).join(' ') : 'nothing'}`);
  }
  return r;
}

/** A built-in name or a JSON file. Missing files are misuse; invalid files are InvalidAbi. */
export function resolveAbi(arg: string): AbiDefinition {
  return resolve(arg).def;
}

function resolve(arg: string): { def: AbiDefinition; base?: AbiDefinition } {
  const builtin = findAbi(arg);
  if (builtin && !existsSync(arg)) return { def: builtin };
  if (!existsSync(arg)) {
    throw new UsageError(`'${arg}' is neither a built-in ABI (${BUILTIN_ABIS.map((a) => a.name).join(', ')}) nor an existing file`);
  }
  if (statSync(arg).isDirectory()) throw new UsageError(`'${arg}' is a directory, not an ABI file`);
  // Collisions are errors against the borrowed base ABI; `validate` shows the others as notes.
  const r = parseAbiJson(readFileSync(arg, 'utf8'), { file: arg });
  if (r.problems.length > 0 || !r.def) throw new InvalidAbi(arg, r.problems);
  return { def: r.def, ...(r.base ? { base: r.base } : {}) };
}

const hex = (n: number | bigint): string => (n < 0 ? `-0x${(-n).toString(16)}` : `0x${n.toString(16)}`);
const slot = (s: Slot): string => (typeof s === 'string' ? s : `${s.hi}:${s.lo}`);

/** The signature with NULs and other unprintables escaped, in quotes. */
export function signatureText(sig: string): string {
  return `"${[...sig].map((c) => (c === '\0' ? '\\0' : c.charCodeAt(0) < 0x20 || c.charCodeAt(0) > 0x7e ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}` : c)).join('')}"`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

function list(argv: string[]): number {
  positionals(argv, {}, []);
  const rows = [['NAME', 'SIGNATURE', 'BASE', 'HYPERCALLS', 'FEATURES', 'MSRS', 'TITLE']];
  for (const a of BUILTIN_ABIS) {
    rows.push([a.name, signatureText(a.cpuid.signature), hex(a.cpuid.defaultBase), String(a.hypercalls.length), String(a.features.length), String(a.msrs.length), a.title]);
  }
  console.log(table(rows).join('\n'));
  return 0;
}

function show(argv: string[]): number {
  const { flags, positionals: [name] } = positionals(argv, { json: 'boolean' }, ['NAME|FILE']);
  const d = resolveAbi(name!);
  if (flags.json) {
    process.stdout.write(abiToJson(d));
    return 0;
  }
  console.log(showText(d));
  return 0;
}

/** The readable summary `pvkit abi show` prints. */
export function showText(d: AbiDefinition): string {
  const c = d.cpuid;
  const sig = Buffer.from(c.signature, 'latin1');
  const out: string[] = [];
  out.push(`${d.name}: ${d.title} (version ${d.version})`, `source: ${d.source}`, '');
  out.push(`signature   ${signatureText(c.signature)}${sig.length === 12 ? `  (ebx ${hex(sig.readUInt32LE(0))}, ecx ${hex(sig.readUInt32LE(4))}, edx ${hex(sig.readUInt32LE(8))})` : ''}`);
  out.push(`cpuid base  ${hex(c.defaultBase)} (${c.detection === 'scan' ? 'found by scanning 0x40000000..0x4000ff00' : 'fixed'}), max leaf ${hex(c.defaultBase + c.maxLeafOffset)}, min leaves ${c.minLeaves}`);
  out.push(`hypercalls  ${d.space.trap}, number in ${d.space.selector} & ${hex(d.space.mask)}, space ${hex(d.space.lo)}..${hex(d.space.hi)}`);
  out.push(`errors      ${d.errors.encoding}; unknown hypercall -> ${d.errors.unknownHypercall}; CPL > 0 -> ${d.errors.cplNonZero}`, '');
  out.push(`calling conventions (${d.conventions.length}):`);
  out.push(...table([['ID', 'BITS', 'TRAP', 'NUMBER', 'ARGS', 'RESULTS', 'CLOBBERS'],
    ...d.conventions.map((v) => [v.id, String(v.bits), v.trap, slot(v.number), v.args.map(slot).join(',') || '-', v.results.map(slot).join(',') || '-', v.clobbers.join(',') || '-'])]).map((l) => `  ${l}`));
  out.push('', `hypercalls (${d.hypercalls.length}):`);
  if (d.hypercalls.length) {
    out.push(...table([['NR', 'NAME', 'ARGS', 'NOTES'], ...d.hypercalls.map((h) => [
      hex(h.nr), h.name, h.args.map((a) => `${a.name}:${a.type}`).join(', ') || '-',
      [h.bits ? `${h.bits.join('/')}-bit` : '', h.conventions ? h.conventions.join(',') : '', h.rep ? 'rep' : '', h.fast ? 'fast' : ''].filter(Boolean).join(' '),
    ])]).map((l) => `  ${l}`));
  }
  out.push('', `features (${d.features.length}):`);
  if (d.features.length) out.push(...table([['LEAF', 'REG', 'BIT', 'NAME'], ...d.features.map((f) => [hex(c.defaultBase + f.leaf), f.reg, String(f.bit), f.name])]).map((l) => `  ${l}`));
  out.push('', `MSRs (${d.msrs.length}):`);
  if (d.msrs.length) {
    out.push(...table([['INDEX', 'NAME', 'ACCESS', 'LAYOUT'], ...d.msrs.map((m) => [
      hex(m.index), m.name, m.access, m.layout.map((f) => `${f.name}[${f.width === 1 ? f.lsb : `${f.lsb + f.width - 1}:${f.lsb}`}]`).join(' ') || '-',
    ])]).map((l) => `  ${l}`));
  }
  out.push('', `error codes (${d.errors.codes.length}):`);
  if (d.errors.codes.length) out.push(...table([['VALUE', 'NAME'], ...d.errors.codes.map((e) => [d.errors.encoding === 'neg-errno' ? `-${e.value}` : hex(e.value), e.name])]).map((l) => `  ${l}`));
  if (d.constants.length) {
    out.push('', `constants (${d.constants.length}):`);
    out.push(...table(d.constants.map((k) => [k.name, hex(k.value)])).map((l) => `  ${l}`));
  }
  return out.join('\n');
}

function validateCmd(argv: string[]): number {
  const { positionals: [file] } = positionals(argv, {}, ['FILE']);
  if (!existsSync(file!)) throw new UsageError(`no such file '${file}'`);
  const { def: d, base } = resolve(file!);
  console.log(`${file}: ok: ${d.name} ${d.version}, signature ${signatureText(d.cpuid.signature)} at ${hex(d.cpuid.defaultBase)}, ${d.hypercalls.length} hypercalls, ${d.features.length} features, ${d.msrs.length} MSRs${base ? `; conventions from ${base.name}, no hypercall number in its space` : ''}`);
  // Other built-ins whose registers could not tell their calls apart from this ABI's (space.ts): worth knowing
  // before offering both on one vCPU, but not an error in the file.
  const others = BUILTIN_ABIS.filter((a) => a.name !== d.name && a.name !== base?.name);
  for (const p of checkSpaceCollisions([d, ...others]).filter((q) => q.path.includes(`${d.name}/`) || q.path.includes(`/${d.name}:`))) {
    console.log(`note: ${p.path}: ${p.message.split('. Discriminators')[0]}`);
  }
  return 0;
}

function diffCmd(argv: string[]): number {
  const { positionals: [a, b] } = positionals(argv, {}, ['OLD', 'NEW']);
  const d = diff(resolveAbi(a!), resolveAbi(b!));
  if (d.changes.length === 0) {
    console.log(`${a} -> ${b}: no changes`);
    return 0;
  }
  console.log(table(d.changes.map((c) => [c.breaking ? 'BREAKING' : 'compatible', c.kind, c.path, c.detail])).join('\n'));
  const n = d.changes.filter((c) => c.breaking).length;
  console.log(`\n${a} -> ${b}: ${d.changes.length} change${d.changes.length === 1 ? '' : 's'}, ${n} breaking`);
  return d.breaking ? 1 : 0;
}

function header(argv: string[]): number {
  const { flags, positionals: [name] } = positionals(argv, { o: 'string', out: 'string' }, ['NAME|FILE']);
  const d = resolveAbi(name!);
  let text: string;
  try {
    text = cHeader(d);
  } catch (e) {
    if (e instanceof AbiError) throw new InvalidAbi(name!, e.problems);
    throw e;
  }
  const out = (flags.o ?? flags.out) as string | undefined;
  if (out === undefined) process.stdout.write(text);
  else {
    writeFileSync(out, text);
    console.error(`wrote ${out} (${text.split('\n').filter((l) => l.startsWith('#define')).length} #defines)`);
  }
  return 0;
}
