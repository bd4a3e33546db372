// Every workspace package builds with rollup to an ESM bundle plus one .d.ts, and the bundle loads and
// exports its main API (the published form, not the TypeScript sources the other tests use).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const PACKAGES: [dir: string, exportName: string][] = [
  ['shared-abi', 'kvmAbi'],
  ['guest-sdk', 'Asm'],
  ['host', 'Vm'],
  ['test', 'buildMachine'],
];

describe('rollup build', () => {
  for (const [dir, name] of PACKAGES) {
    it(`${dir}: dist/index.js + dist/index.d.ts, exporting ${name}`, async () => {
      const cwd = join(ROOT, dir);
      const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'rollup', 'dist', 'bin', 'rollup'), '-c', '../rollup.shared.mjs'], { cwd, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(existsSync(join(cwd, 'dist', 'index.js'))).toBe(true);
      const dts = readFileSync(join(cwd, 'dist', 'index.d.ts'), 'utf8');
      expect(dts).toMatch(new RegExp(`\\b${name}\\b`));
      if (dir === 'shared-abi') {
        // shared-abi has no dependencies: its bundle must load under plain Node with no source condition.
        const mod = await import(pathToFileURL(join(cwd, 'dist', 'index.js')).href);
        expect(mod[name]).toBeDefined();
        expect(mod.kvmAbi.cpuid.signature).toBe('KVMKVMKVM\0\0\0');
      } else {
        // Dependencies stay external imports of the @pvkit packages.
        expect(readFileSync(join(cwd, 'dist', 'index.js'), 'utf8')).toMatch(/from '@pvkit\/shared-abi'/);
      }
    }, 180_000);
  }
});

describe('types', () => {
  it('the whole repository type-checks under strict TypeScript (sources and tests)', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.json'), '--noEmit'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 300_000);
});
