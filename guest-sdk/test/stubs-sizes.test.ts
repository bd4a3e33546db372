// Keeps guest-sdk/SIZES.md true: the table there must be exactly the one computed from the generated KVM
// stubs and the Linux-equivalent sequences assembled with the same Asm, and every extra byte explained.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { kvmSizeMarkdown, kvmSizeTable } from '../src/stubs/index.js';

describe('KVM stub sizes vs Linux inline kvm_hypercallN()', () => {
  it('every extra byte is accounted for (ret, callee-saved push/pop)', () => {
    const rows = kvmSizeTable();
    expect(rows.length).toBe(13); // 7 calls in 64-bit, 6 in 32-bit (CLOCK_PAIRING is 64-bit only)
    for (const r of rows) {
      expect(r.why, r.symbol).not.toMatch(/UNEXPLAINED/);
      expect(r.stub - r.linux, r.symbol).toBeLessThanOrEqual(5);
    }
  });

  it('guest-sdk/SIZES.md carries the computed table', () => {
    const md = readFileSync(new URL('../SIZES.md', import.meta.url), 'utf8');
    const table = md.split('\n').filter((l) => l.startsWith('|')).join('\n');
    expect(table).toBe(kvmSizeMarkdown());
  });
});
