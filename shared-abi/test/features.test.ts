import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AbiError, checkFeatureDefs, decodeFeatures, encodeFeatures, kvmAbi, unknownFeatureBits } from '../src/index.js';
import type { FeatureBitDef } from '../src/index.js';

const hasGcc = (() => { try { execFileSync('gcc', ['--version'], { stdio: 'ignore' }); return true; } catch { return false; } })();
const kvmHeader = ['/usr/include/x86_64-linux-gnu/asm/kvm_para.h', '/usr/include/asm/kvm_para.h'].find((p) => existsSync(p));
if (!hasGcc) console.warn('features.test: gcc missing, the check against asm/kvm_para.h is skipped');
if (!kvmHeader) console.warn('features.test: asm/kvm_para.h missing (Debian linux-libc-dev), the header check is skipped');

// A user-defined table (the codec must not care whose ABI it is).
const user: FeatureBitDef[] = [
  { name: 'FAST_PATH', leaf: 1, reg: 'eax', bit: 0, doc: '', source: 'test' },
  { name: 'TOP_BIT', leaf: 1, reg: 'eax', bit: 31, doc: '', source: 'test' },
  { name: 'HINT', leaf: 1, reg: 'edx', bit: 3, doc: '', source: 'test' },
  { name: 'OTHER_LEAF', leaf: 2, reg: 'eax', bit: 0, doc: '', source: 'test' },
];

describe('feature-set codec', () => {
  it('encodes and decodes a user-defined table, bit 31 included, unsigned', () => {
    expect(encodeFeatures(user, ['FAST_PATH', 'TOP_BIT'], 1, 'eax')).toBe(0x80000001);
    expect(encodeFeatures(user, [], 1, 'eax')).toBe(0);
    expect(decodeFeatures(user, 0x80000001, 1, 'eax')).toEqual(['FAST_PATH', 'TOP_BIT']);
    expect(decodeFeatures(user, 0xffffffff, 1, 'edx')).toEqual(['HINT']);
    expect(unknownFeatureBits(user, 0x80000003, 1, 'eax')).toBe(2);
  });
  it('rejects unknown names and names from another leaf or register, every one located', () => {
    try {
      encodeFeatures(user, ['FAST_PATH', 'NOPE', 'HINT', 'OTHER_LEAF'], 1, 'eax');
      expect.unreachable();
    } catch (e) {
      const p = (e as AbiError).problems;
      expect(p.map((x) => x.path)).toEqual(['features[1]', 'features[2]', 'features[3]']);
      expect(p[0]!.message).toMatch(/unknown feature name \(leaf \+0x1 eax defines: FAST_PATH, TOP_BIT\)/);
      expect(p[1]!.message).toBe('feature lives in leaf +0x1 edx, not leaf +0x1 eax');
      expect(p[2]!.message).toBe('feature lives in leaf +0x2 eax, not leaf +0x1 eax');
    }
    expect(() => decodeFeatures(user, 2 ** 32, 1, 'eax')).toThrow(/unsigned 32-bit/);
    expect(() => encodeFeatures(user, [], 1, 'rax' as 'eax')).toThrow(/register must be one of/);
  });
  it('property: decode(encode(names)) returns the names in bit order', () => {
    fc.assert(fc.property(fc.subarray(kvmAbi.features.filter((f) => f.reg === 'eax').map((f) => f.name)), (names) => {
      const v = encodeFeatures(kvmAbi.features, names, 1, 'eax');
      const bit = (n: string): number => kvmAbi.features.find((f) => f.name === n)!.bit;
      expect(decodeFeatures(kvmAbi.features, v, 1, 'eax')).toEqual([...names].sort((a, b) => bit(a) - bit(b)));
    }));
  });
  it('checkFeatureDefs finds duplicates, overlaps, bad bits and leaves past the max leaf', () => {
    expect(checkFeatureDefs(user, 2)).toEqual([]);
    const bad: FeatureBitDef[] = [...user, { ...user[0]!, name: 'FAST_PATH' }, { ...user[1]!, name: 'SAME_BIT' }, { ...user[2]!, name: 'B', bit: 32 }];
    const msgs = checkFeatureDefs(bad, 1).map((p) => `${p.path}: ${p.message}`);
    expect(msgs).toContain('features[3].leaf: leaf offset beyond the advertised max leaf offset 0x1');
    expect(msgs).toContain('features[4].name: duplicate feature name (also features[0])');
    expect(msgs).toContain('features[5].bit: bit already used by features[1] in leaf +0x1 eax');
    expect(msgs).toContain('features[6].bit: bit must be 0..31');
  });
  it.skipIf(!hasGcc || !kvmHeader)('KVM feature words equal what gcc computes from asm/kvm_para.h', () => {
    const eax = kvmAbi.features.filter((f) => f.leaf === 1 && f.reg === 'eax');
    const dir = mkdtempSync(join(tmpdir(), 'pvkit-feat-'));
    const src = join(dir, 'f.c');
    writeFileSync(src, `#include <stdio.h>\n#include <asm/kvm_para.h>\nint main(void){unsigned v=0;\n${eax.map((f) => `v|=1u<<${f.name};`).join('\n')}\nprintf("%u\\n",v);return 0;}\n`);
    execFileSync('gcc', ['-std=c11', '-Wall', '-Werror', '-o', join(dir, 'f'), src]);
    const fromHeader = Number(execFileSync(join(dir, 'f'), { encoding: 'utf8' }).trim());
    expect(encodeFeatures(kvmAbi.features, eax.map((f) => f.name), 1, 'eax')).toBe(fromHeader);
    expect(decodeFeatures(kvmAbi.features, fromHeader, 1, 'eax')).toEqual([...eax].sort((a, b) => a.bit - b.bit).map((f) => f.name));
  });
});
