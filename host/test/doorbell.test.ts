import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbiError } from '@pvkit/shared-abi';
import {
  DoorbellSet,
  type DoorbellSignal,
  type DoorbellSpec,
} from '../src/bus/doorbell.js';
import * as K from '../src/bus/ioeventfd.js';

const hasGcc = spawnSync('gcc', ['--version']).status === 0;
if (!hasGcc) console.warn('doorbell.test: gcc not found; skipping the check of constants against linux/kvm.h');

/** Compile a C program against the system headers and return what it prints. */
function runC(src: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'pvkit-ioeventfd-'));
  writeFileSync(join(dir, 't.c'), src);
  execFileSync('gcc', ['-o', join(dir, 't'), join(dir, 't.c')]);
  return execFileSync(join(dir, 't'), { encoding: 'utf8' });
}

describe('KVM_IOEVENTFD data against linux/kvm.h (gcc)', () => {
  it.skipIf(!hasGcc)('flag bits, mask, caps, errno values and struct layout match the system headers', () => {
    const out = runC(`
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <errno.h>
#include <linux/kvm.h>
int main(void) {
  printf("%d %d %d %d %d %d\\n", KVM_IOEVENTFD_FLAG_DATAMATCH, KVM_IOEVENTFD_FLAG_PIO, KVM_IOEVENTFD_FLAG_DEASSIGN,
         KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY, kvm_ioeventfd_flag_nr_fast_mmio, KVM_IOEVENTFD_VALID_FLAG_MASK);
  printf("%d %d %d %d %d %d\\n", KVM_CAP_IOEVENTFD, KVM_CAP_IOEVENTFD_NO_LENGTH, KVM_CAP_IOEVENTFD_ANY_LENGTH,
         ENOENT, EEXIST, EINVAL);
  printf("%zu %zu %zu %zu %zu %zu\\n", sizeof(struct kvm_ioeventfd), offsetof(struct kvm_ioeventfd, datamatch),
         offsetof(struct kvm_ioeventfd, addr), offsetof(struct kvm_ioeventfd, len), offsetof(struct kvm_ioeventfd, fd),
         offsetof(struct kvm_ioeventfd, flags));
  struct kvm_ioeventfd a; memset(&a, 0, sizeof a);
  a.datamatch = 0x1122334455667788ULL; a.addr = 0xfffffffffee00000ULL; a.len = 4; a.fd = -3;
  a.flags = KVM_IOEVENTFD_FLAG_DATAMATCH | KVM_IOEVENTFD_FLAG_PIO;
  for (size_t i = 0; i < sizeof a; i++) printf("%02x", ((unsigned char *)&a)[i]);
  printf("\\n");
  return 0;
}`);
    const [flags, caps, layout, bytes] = out.trim().split('\n');
    expect(flags!.split(' ').map(Number)).toEqual([
      K.KVM_IOEVENTFD_FLAG_DATAMATCH,
      K.KVM_IOEVENTFD_FLAG_PIO,
      K.KVM_IOEVENTFD_FLAG_DEASSIGN,
      K.KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY,
      K.KVM_IOEVENTFD_FLAG_NR_FAST_MMIO,
      K.KVM_IOEVENTFD_VALID_FLAG_MASK,
    ]);
    expect(caps!.split(' ').map(Number)).toEqual([
      K.KVM_CAP_IOEVENTFD,
      K.KVM_CAP_IOEVENTFD_NO_LENGTH,
      K.KVM_CAP_IOEVENTFD_ANY_LENGTH,
      K.LINUX_ENOENT,
      K.LINUX_EEXIST,
      K.LINUX_EINVAL,
    ]);
    expect(layout!.split(' ').map(Number)).toEqual([K.KVM_IOEVENTFD_STRUCT_SIZE, 0, 8, 16, 20, 24]);
    const raw: K.KvmIoeventfd = {
      datamatch: 0x1122334455667788n,
      addr: 0xfffffffffee00000n,
      len: 4,
      fd: -3,
      flags: K.KVM_IOEVENTFD_FLAG_DATAMATCH | K.KVM_IOEVENTFD_FLAG_PIO,
    };
    expect(Buffer.from(K.encodeKvmIoeventfd(raw)).toString('hex')).toBe(bytes);
    expect(K.decodeKvmIoeventfd(Buffer.from(bytes!, 'hex'))).toEqual(raw);
  });

  it('rejects struct values a C struct could not hold, with located problems', () => {
    const bad = { datamatch: -1n, addr: 1n << 64n, len: 1.5, fd: 0, flags: 2 ** 32 } as K.KvmIoeventfd;
    try {
      K.checkKvmIoeventfd(bad);
      throw new Error('expected AbiError');
    } catch (e) {
      expect(e).toBeInstanceOf(AbiError);
      expect((e as AbiError).problems.map((p) => p.path)).toEqual([
        'kvm_ioeventfd.datamatch',
        'kvm_ioeventfd.addr',
        'kvm_ioeventfd.len',
        'kvm_ioeventfd.flags',
      ]);
    }
  });
});

const raw = (r: Partial<K.KvmIoeventfd>): K.KvmIoeventfd => ({ datamatch: 0n, addr: 0x1000n, len: 4, fd: 0, flags: 0, ...r });

describe('kvm_assign_ioeventfd validation (virt/kvm/eventfd.c)', () => {
  const cases: [string, K.KvmIoeventfd, number][] = [
    ['len 3', raw({ len: 3 }), -K.LINUX_EINVAL],
    ['len 16', raw({ len: 16 }), -K.LINUX_EINVAL],
    ['len 5', raw({ len: 5 }), -K.LINUX_EINVAL],
    ['addr + len wraps', raw({ addr: (1n << 64n) - 4n, len: 4 }), -K.LINUX_EINVAL],
    ['addr + len wraps by one', raw({ addr: (1n << 64n) - 1n, len: 1 }), -K.LINUX_EINVAL],
    ['addr at the top with len 0 does not wrap', raw({ addr: (1n << 64n) - 1n, len: 0 }), 0],
    ['addr + len reaching 2^64 - 1 is fine', raw({ addr: (1n << 64n) - 9n, len: 8 }), 0],
    ['unknown flag bit 5', raw({ flags: 1 << 5 }), -K.LINUX_EINVAL],
    ['unknown flag bit 31', raw({ flags: 0x80000000 }), -K.LINUX_EINVAL],
    ['fast_mmio enum bit 4 is inside the valid mask', raw({ flags: 1 << K.KVM_IOEVENTFD_FLAG_NR_FAST_MMIO }), 0],
    ['len 0 with DATAMATCH', raw({ len: 0, flags: K.KVM_IOEVENTFD_FLAG_DATAMATCH }), -K.LINUX_EINVAL],
    ['len 0 with DATAMATCH on PIO', raw({ len: 0, flags: K.KVM_IOEVENTFD_FLAG_DATAMATCH | K.KVM_IOEVENTFD_FLAG_PIO }), -K.LINUX_EINVAL],
    ['len checked before overflow', raw({ len: 3, addr: (1n << 64n) - 1n }), -K.LINUX_EINVAL],
  ];
  for (const [name, args, errno] of cases) {
    it(`${name} -> ${errno}`, () => {
      const r = new DoorbellSet().ioctl(args);
      expect(r.errno).toBe(errno);
      if (!r.ok) expect(r.reason.length).toBeGreaterThan(0);
    });
  }

  it('gives a readable reason', () => {
    const r = new DoorbellSet().assign({ space: 'mmio', addr: 0xfe000000n, len: 0, datamatch: 1n });
    expect(r).toMatchObject({ errno: -22, code: 'EINVAL' });
    expect('reason' in r ? r.reason : '').toBe('mmio 0xfe000000: len 0 (any length) cannot be combined with DATAMATCH');
  });
});

describe('ioeventfd_check_collision -> -EEXIST', () => {
  const A = 0x5000n;
  // [existing, new, collides?]
  const rows: [string, Omit<DoorbellSpec, 'space' | 'addr'>, Omit<DoorbellSpec, 'space' | 'addr'>, boolean][] = [
    ['same len, both wildcard', { len: 4 }, { len: 4 }, true],
    ['same len, existing wildcard, new datamatch', { len: 4 }, { len: 4, datamatch: 1n }, true],
    ['same len, existing datamatch, new wildcard', { len: 4, datamatch: 1n }, { len: 4 }, true],
    ['same len, same datamatch', { len: 2, datamatch: 7n }, { len: 2, datamatch: 7n }, true],
    ['same len, different datamatch', { len: 2, datamatch: 7n }, { len: 2, datamatch: 8n }, false],
    ['different len, both wildcard', { len: 2 }, { len: 4 }, false],
    ['different len, same datamatch', { len: 1, datamatch: 3n }, { len: 8, datamatch: 3n }, false],
    ['existing len 0 vs any', { len: 0 }, { len: 4, datamatch: 1n }, true],
    ['new len 0 vs existing sized', { len: 1, datamatch: 1n }, { len: 0 }, true],
    ['both len 0', { len: 0 }, { len: 0 }, true],
    ['different fd does not matter', { len: 4, fd: 1 }, { len: 4, fd: 2 }, true],
  ];
  for (const [name, a, b, collides] of rows) {
    it(`${name}: ${collides ? 'EEXIST' : 'ok'}`, () => {
      for (const space of ['pio', 'mmio'] as const) {
        const set = new DoorbellSet();
        expect(set.assign({ space, addr: A, ...a }).errno).toBe(0);
        const r = set.assign({ space, addr: A, ...b });
        expect(r.errno).toBe(collides ? -K.LINUX_EEXIST : 0);
        if (collides) expect('reason' in r && r.reason.includes('collides with existing')).toBe(true);
        expect(set.size).toBe(collides ? 1 : 2);
      }
    });
  }
  it('different address or different bus never collides', () => {
    const set = new DoorbellSet();
    expect(set.assign({ space: 'mmio', addr: A, len: 0 }).errno).toBe(0);
    expect(set.assign({ space: 'mmio', addr: A + 1n, len: 0 }).errno).toBe(0);
    expect(set.assign({ space: 'pio', addr: A, len: 0 }).errno).toBe(0);
    expect(set.ioctl(raw({ addr: A, len: 0, flags: K.KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY })).errno).toBe(0);
  });
});

describe('kvm_deassign_ioeventfd_idx -> exact match or -ENOENT', () => {
  const base: DoorbellSpec = { space: 'mmio', addr: 0x6000n, len: 4, datamatch: 9n, fd: 5 };
  const misses: [string, DoorbellSpec][] = [
    ['nothing registered there', { ...base, addr: 0x6004n }],
    ['other bus', { ...base, space: 'pio' }],
    ['other fd', { ...base, fd: 6 }],
    ['other len', { ...base, len: 8 }],
    ['wildcard vs datamatch', { space: 'mmio', addr: 0x6000n, len: 4, fd: 5 }],
    ['other datamatch', { ...base, datamatch: 10n }],
  ];
  for (const [name, spec] of misses) {
    it(`${name} -> -ENOENT`, () => {
      const set = new DoorbellSet();
      expect(set.assign(base).errno).toBe(0);
      expect(set.deassign(spec)).toMatchObject({ errno: -K.LINUX_ENOENT, code: 'ENOENT' });
      expect(set.size).toBe(1);
    });
  }
  it('exact match removes, a second deassign is -ENOENT; deassign skips assign validation', () => {
    const set = new DoorbellSet();
    expect(set.assign(base).errno).toBe(0);
    expect(set.deassign(base).errno).toBe(0);
    expect(set.size).toBe(0);
    expect(set.deassign(base).errno).toBe(-K.LINUX_ENOENT);
    // kvm_deassign_ioeventfd never validates len or flags: bad values just find nothing.
    expect(set.ioctl(raw({ len: 3, flags: K.KVM_IOEVENTFD_FLAG_DEASSIGN | (1 << 7) })).errno).toBe(-K.LINUX_ENOENT);
  });
  it('deassigning a len-0 MMIO doorbell also removes it from the fast list', () => {
    const set = new DoorbellSet();
    const spec: DoorbellSpec = { space: 'mmio', addr: 0x7000n, len: 0 };
    expect(set.assign(spec).errno).toBe(0);
    expect(set.hasFastMmio(0x7000n)).toBe(true);
    expect(set.deassign(spec).errno).toBe(0);
    expect(set.hasFastMmio(0x7000n)).toBe(false);
    expect(set.fastMmioWrite(0x7000n)).toBe(false);
  });
});

describe('ioeventfd_in_range matching', () => {
  it('len-0: any size and value at the exact address; never a neighbour', () => {
    const seen: DoorbellSignal[] = [];
    const set = new DoorbellSet();
    set.assign({ space: 'mmio', addr: 0x8000n, len: 0, onSignal: (s) => seen.push(s) });
    for (const size of [1, 2, 4, 8]) expect(set.write('mmio', 0x8000n, size, 0xdeadn)).toBeDefined();
    expect(set.write('mmio', 0x8001n, 1, 0n)).toBeUndefined();
    expect(set.write('mmio', 0x7fffn, 2, 0n)).toBeUndefined(); // covers 0x8000 but starts elsewhere
    expect(seen.map((s) => [s.path, s.size, s.value])).toEqual([
      ['mmio-full', 1, 0xadn],
      ['mmio-full', 2, 0xdeadn],
      ['mmio-full', 4, 0xdeadn],
      ['mmio-full', 8, 0xdeadn],
    ]);
  });
  it('sized wildcard: only that size', () => {
    const set = new DoorbellSet();
    const db = set.assign({ space: 'pio', addr: 0xc050, len: 2 });
    expect(set.write('pio', 0xc050n, 1, 0n)).toBeUndefined();
    expect(set.write('pio', 0xc050n, 4, 0n)).toBeUndefined();
    expect(set.write('pio', 0xc050n, 2, 0x1234n)).toBe(db.ok ? db.doorbell : undefined);
    expect(set.write('mmio', 0xc050n, 2, 0n)).toBeUndefined(); // other bus
  });
  it('datamatch compares the zero-extended written value with the full u64', () => {
    const set = new DoorbellSet();
    set.assign({ space: 'mmio', addr: 0x9000n, len: 4, datamatch: 0xcafef00dn });
    set.assign({ space: 'mmio', addr: 0x9000n, len: 4, datamatch: 1n });
    set.assign({ space: 'pio', addr: 0x10, len: 1, datamatch: 0x1ffn }); // wider than 1 byte: can never match
    expect(set.write('mmio', 0x9000n, 4, 0xcafef00dn)?.datamatch).toBe(0xcafef00dn);
    expect(set.write('mmio', 0x9000n, 4, 1n)?.datamatch).toBe(1n);
    expect(set.write('mmio', 0x9000n, 4, 2n)).toBeUndefined();
    expect(set.write('pio', 0x10n, 1, 0x1ffn)).toBeUndefined();
    expect(set.write('pio', 0x10n, 1, 0xffn)).toBeUndefined();
    const counts = set.list().map((d) => d.signals);
    expect(counts).toEqual([1, 1, 0]);
  });
  it('8-byte datamatch with the top bit set (bigint, no truncation)', () => {
    const set = new DoorbellSet();
    set.assign({ space: 'mmio', addr: 0xa000n, len: 8, datamatch: 0x8000000000000001n });
    expect(set.write('mmio', 0xa000n, 8, 0x8000000000000001n)).toBeDefined();
    expect(set.write('mmio', 0xa000n, 8, 1n)).toBeUndefined();
  });
  it('the fast list holds only len-0 MMIO doorbells and signals without size or data', () => {
    const seen: DoorbellSignal[] = [];
    const set = new DoorbellSet();
    set.assign({ space: 'mmio', addr: 0xb000n, len: 0, onSignal: (s) => seen.push(s) });
    set.assign({ space: 'mmio', addr: 0xb008n, len: 4 });
    set.assign({ space: 'pio', addr: 0xb010n, len: 0 });
    expect(set.fastMmioWrite(0xb000n)).toBe(true);
    expect(set.fastMmioWrite(0xb008n)).toBe(false);
    expect(set.fastMmioWrite(0xb010n)).toBe(false);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ path: 'mmio-fast', addr: 0xb000n, size: 0, value: undefined });
    const db = set.list()[0]!;
    expect([db.signals, db.fastSignals, db.fullSignals]).toEqual([1, 1, 0]);
  });
  it('a CCW-notify doorbell (s390 bus) is accepted but never hit by x86 writes', () => {
    const set = new DoorbellSet();
    expect(set.ioctl(raw({ addr: 0xc000n, len: 0, flags: K.KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY })).errno).toBe(0);
    expect(set.write('mmio', 0xc000n, 4, 0n)).toBeUndefined();
    expect(set.fastMmioWrite(0xc000n)).toBe(false);
  });
});

describe('doorbell snapshot state', () => {
  it('round-trips through JSON with counters, re-attaching callbacks, and keeps the fast list', () => {
    const set = new DoorbellSet();
    set.assign({ space: 'mmio', addr: 0xfe003000n, len: 0 });
    set.assign({ space: 'pio', addr: 0xc010, len: 2, datamatch: 0xffffn, fd: 3 });
    set.ioctl(raw({ addr: 0x40n, len: 8, flags: K.KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY }));
    set.fastMmioWrite(0xfe003000n);
    set.write('pio', 0xc010n, 2, 0xffffn);
    const json = JSON.parse(JSON.stringify(set.saveState()));
    expect(json[1]).toEqual({ space: 'pio', addr: '0xc010', len: 2, datamatch: '0xffff', fd: 3, signals: 1, fastSignals: 0, fullSignals: 0, pioSignals: 1 });
    const seen: string[] = [];
    const back = new DoorbellSet();
    back.assign({ space: 'mmio', addr: 0x1n, len: 1 }); // replaced by loadState
    back.loadState(json, (d) => (s) => seen.push(`${d.space}:${s.path}`));
    expect(back.saveState()).toEqual(json);
    expect(back.fastMmioWrite(0xfe003000n)).toBe(true);
    expect(back.write('mmio', 0x1n, 1, 0n)).toBeUndefined();
    expect(seen).toEqual(['mmio:mmio-fast']);
    expect(back.list()[0]!.fastSignals).toBe(2);
  });
  it('refuses a state KVM would refuse, naming the entry', () => {
    const st = { space: 'mmio', addr: '0x10', len: 0, datamatch: '0x1', fd: 0, signals: 0, fastSignals: 0, fullSignals: 0, pioSignals: 0 } as const;
    expect(() => new DoorbellSet().loadState([st])).toThrow('doorbell state [0]: mmio 0x10: len 0 (any length) cannot be combined with DATAMATCH (EINVAL)');
  });
});
