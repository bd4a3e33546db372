#!/usr/bin/env node
// The pvkit command. Runs the TypeScript sources directly (tsx, "source" export condition), so it works
// straight after `npm ci` without a build step.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const main = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.ts');
const hasFlag = process.execArgv.some((a) => a.includes('conditions=source'));
if (hasFlag) {
  await import(main);
} else {
  // tsx resolved from here, not from the caller's working directory (pvkit may be run from anywhere)
  const tsx = import.meta.resolve('tsx');
  const r = spawnSync(process.execPath, ['--conditions=source', '--import', tsx, main, ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  process.exit(r.status ?? (r.signal ? 128 : 1));
}
