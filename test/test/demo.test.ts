// The `npm start` demo: each section runs and states what it shows (these are the facts a newcomer reads).
import { describe, expect, it } from 'vitest';
import { detectionDemo } from '../src/demo/detection.js';
import { patchingDemo } from '../src/demo/patching.js';
import { questionsDemo } from '../src/demo/questions.js';
import { kvmDemo } from '../src/demo/kvm.js';
import { transportsDemo } from '../src/demo/transports.js';

describe('demo', () => {
  it('detection: KVM found at 0x40000100 behind Hyper-V, pvio at 0x40000200, no Xen, on both vendors and modes', () => {
    const rows = detectionDemo().filter((l) => /^\s+(intel|amd)\s/.test(l));
    expect(rows).toHaveLength(4);
    for (const r of rows) expect(r).toMatch(/0x40000100 f=0x[0-9a-f]+\s+0x40000000 f=0x[0-9a-f]+\s+0x40000200 f=0x[0-9a-f]+\s+not found$/);
  });
  it('patching: the first call patches vmcall to vmmcall, the second does not', () => {
    const text = patchingDemo().join('\n');
    expect(text).toMatch(/: 0f 01 c1 \(vmcall\)/);
    expect(text).toMatch(/call 1: returned 0, 1 patch\(es\), 2 exit\(s\) \(1 #UD, 1 hypercall\); site now 0f 01 d9/);
    expect(text).toMatch(/call 2: returned 0, 0 patch\(es\), 1 exit\(s\) \(0 #UD, 1 hypercall\)/);
  });
  it('transports: every transport gives the device the same trace and output', () => {
    const lines = transportsDemo();
    expect(lines.join('\n')).toContain('identical across all transports: yes');
    const rows = lines.filter((l) => /"hi"/.test(l));
    expect(rows).toHaveLength(6);
    for (const r of rows) expect(r).toMatch(/"hi"\s+same/);
  });
  it('questions: 0.4 µs x 10 000/s is 0.4 % of a CPU; the EPT fast path saves doorbellFull - doorbellFast cycles', () => {
    const text = questionsDemo().join('\n');
    expect(text).toContain('costs 12 M cycles/s = 0.40 % of a CPU');
    expect(text).toMatch(/EPT fast-path doorbell saves 2786 cycles per notification/);
  });
  it('kvm: with /dev/kvm, the runnable cases are compared with no differences; without it, a reason', async () => {
    const text = (await kvmDemo()).join('\n');
    if (/skipped: /.test(text)) console.warn(`demo kvm section skipped here: ${text}`);
    else expect(text).toMatch(/[1-9]\d* case instances ran on the emulator and on KVM and were compared: no differences/);
  });
});
