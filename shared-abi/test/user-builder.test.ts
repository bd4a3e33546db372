import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AbiError, abiToJson, defineAbi, findAbi, loadAbiJson } from '../src/index.js';

const mydevPath = join(import.meta.dirname, '..', 'examples', 'mydev.json');

describe('defineAbi builder', () => {
  it('builds the same definition as the example JSON file', () => {
    const fromJson = loadAbiJson(readFileSync(mydevPath, 'utf8'), mydevPath);
    const built = defineAbi('mydev')
      .title('MyDev paravirtual device interface').version('1.0')
      .source('pvkit example user ABI (shared-abi/examples/mydev.json)')
      .signature('MyDevHvMyDev').base(0x40000200).maxLeaf(1).convention('kvm')
      .feature('FAST_PING', { leaf: 1, reg: 'eax', bit: 0, doc: 'PING answers without leaving the kernel' })
      .feature('QUEUE', { bit: 1, doc: 'QUEUE_NOTIFY is available' })
      .feature('STABLE_CLOCK', { reg: 'edx', bit: 0, doc: 'hint: the device clock never jumps' })
      .hypercall('PING', 0x1000, [{ name: 'cookie', type: 'u64' }], { doc: 'returns cookie + 1' })
      .hypercall('QUEUE_NOTIFY', 0x1001, [{ name: 'queue', type: 'u32' }, { name: 'index', type: 'u32' }], { doc: 'a queue has new buffers' })
      .hypercall('SET_RING', 0x1002, [{ name: 'queue', type: 'u32' }, { name: 'ring', type: 'gpa' }, { name: 'size', type: 'u32' }], { doc: "places a queue's ring in guest memory" })
      .errors({ encoding: 'neg-errno', unknownHypercall: 'MYDEV_ENOSYS', cplNonZero: 'MYDEV_EPERM' })
      .error('MYDEV_EPERM', 1, 'called from CPL > 0').error('MYDEV_EINVAL', 22, 'bad queue or ring').error('MYDEV_ENOSYS', 38, 'unknown hypercall')
      .msr('MSR_MYDEV_RING_BASE', 0x4d594400, [
        { name: 'enable', lsb: 0, width: 1, kind: 'flag', doc: 'status page enabled' },
        { name: 'rsvd', lsb: 1, width: 11, kind: 'reserved', doc: '' },
        { name: 'gpa', lsb: 12, width: 52, kind: 'gpa', doc: '4 KiB aligned page' },
      ], { doc: 'where the status page lives' })
      .constant('MAX_QUEUES', 16, 'queues per device')
      .constant('DOORBELL_BASE', 0xfed00000, 'MMIO doorbell page (plain MMIO fallback)')
      .constant('RING_MAGIC', 0x4d59444556524e47n, 'first quadword of every ring (> 2^53, a bigint)')
      .build();
    expect(built).toEqual(fromJson);
  });

  it('borrows conventions and error model from the base, and takes explicit conventions too', () => {
    const kvm = findAbi('kvm')!;
    const d = defineAbi('tiny').signature('TinyTinyTiny').base(0x40000300).convention('kvm').hypercall('HELLO', 0x2000).build();
    expect(d.conventions).toEqual(kvm.conventions);
    expect(d.errors).toEqual(kvm.errors);
    expect(d.space).toMatchObject({ selector: 'rax', lo: 0x2000, hi: 0x2000 });
    const own = defineAbi('own').signature('OwnOwnOwnOwn').convention(...kvm.conventions)
      .errors({ encoding: 'neg-errno', unknownHypercall: 'ENOSYS', cplNonZero: 'EPERM' }).error('ENOSYS', 38).error('EPERM', 1)
      .hypercall('X', 0x4000, [{ name: 'a', type: 'u32' }]).build();
    expect(own.conventions).toEqual(kvm.conventions);
    expect(loadAbiJson(abiToJson(own))).toEqual(own);
  });

  it('validates on build and throws every problem at once', () => {
    let err: unknown;
    try {
      defineAbi('bad').signature('short').convention('kvm').feature('A', { bit: 40 }).hypercall('A', 5).hypercall('A', 0x2000).build();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AbiError);
    expect((err as AbiError).problems.map((p) => p.path)).toEqual([
      // in the order of the JSON form: signature, features, hypercalls by index
      '$.signature', '$.features[0].bit', '$.hypercalls[0].nr', '$.hypercalls[1].name',
    ]);
    expect((err as AbiError).message).toMatch(/collides with kvm's hypercall space .*KVM_HC_KICK_CPU/);
  });
});
