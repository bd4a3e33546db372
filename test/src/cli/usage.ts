/** Misuse of the command line (unknown flag, missing argument): printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Minimal flag parser: `--name value`, `--flag`, positionals. Unknown flags are a UsageError. */
export function parseFlags(
  argv: string[],
  spec: Record<string, 'string' | 'boolean'>,
): { flags: Record<string, string | boolean>; positionals: string[] } {
  const flags: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-') || a === '-') {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const key = a.replace(/^--?/, '').slice(0, eq > 0 ? eq - (a.startsWith('--') ? 2 : 1) : undefined);
    const kind = spec[key];
    if (!kind) throw new UsageError(`unknown option '${a}' (options: ${Object.keys(spec).map((k) => '--' + k).join(', ') || 'none'})`);
    if (kind === 'boolean') {
      flags[key] = true;
      continue;
    }
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`option '--${key}' needs a value`);
    flags[key] = value;
  }
  return { flags, positionals };
}
