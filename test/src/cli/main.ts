// pvkit command dispatcher. Each subcommand lives in its own module and exports `run(argv): Promise<number>`
// returning the exit code: 0 success, 1 a failed check (invalid ABI, breaking diff, failed case), 2 misuse.
import { UsageError } from './usage.js';

type Command = { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> };

const commands: Record<string, Command> = {
  abi: { summary: 'list, show, validate, diff ABIs and generate C headers', load: () => import('./abi.js') },
  bench: { summary: 'benchmarks of the emulator (table + JSON)', load: () => import('./bench.js') },
  demo: { summary: 'the end-to-end demo (what `npm start` runs)', load: () => import('./demo.js') },
  run: { summary: 'run a guest binary or ELF on the emulator with chosen personalities', load: () => import('./run.js') },
  gen: { summary: 'guest stubs for an ABI and strategy as bin, hex, nasm, gas, C header, ELF or JSON', load: () => import('./gen.js') },
  conform: { summary: 'the ABI conformance suite on the emulator and/or KVM (console, TAP, JUnit, JSON)', load: () => import('./conform.js') },
};

function help(): string {
  const rows = Object.entries(commands).map(([n, c]) => `  ${n.padEnd(10)} ${c.summary}`);
  return ['usage: pvkit <command> [options]', '', 'commands:', ...rows, '', 'pvkit <command> --help for details'].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name ? 0 : 2;
  }
  const cmd = commands[name];
  if (!cmd) {
    console.error(`pvkit: unknown command '${name}'\n\n${help()}`);
    return 2;
  }
  try {
    return await (await cmd.load()).run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`pvkit ${name}: ${e.message}`);
      return 2;
    }
    throw e;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(`pvkit: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exitCode = 70;
  },
);
