// Every number and offset the KVM backend uses, checked against the system headers with gcc (no /dev/kvm needed).
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  KVM_CAP, KVM_CPUID2_HEADER, KVM_CPUID_ENTRY2_SIZE, KVM_ENABLE_CAP_SIZE, KVM_EXIT, KVM_EXIT_IO_IN, KVM_EXIT_IO_OUT,
  KVM_IOCTL, KVM_IOEVENTFD_SIZE, KVM_MSR_EXIT_REASON_FILTER, KVM_MSR_EXIT_REASON_INVAL, KVM_MSR_EXIT_REASON_UNKNOWN,
  KVM_MSR_FILTER_DEFAULT_ALLOW, KVM_MSR_FILTER_MAX_RANGES, KVM_MSR_FILTER_RANGES_OFF, KVM_MSR_FILTER_RANGE_SIZE,
  KVM_MSR_FILTER_READ, KVM_MSR_FILTER_SIZE, KVM_MSR_FILTER_WRITE, KVM_REGS_ORDER, KVM_REGS_SIZE, KVM_SYNC_X86_REGS, KVM_SREGS_SIZE, KVM_USERSPACE_MEMORY_REGION_SIZE, RUN_OFF, SEG_OFF, SREGS_OFF,
} from '../src/backends/kvm/abi.js';
import { hasGcc } from './cpu-util.js';

const hasKvmHeader = (() => {
  try {
    execFileSync('test', ['-f', '/usr/include/linux/kvm.h']);
    return true;
  } catch {
    return false;
  }
})();
if (!hasKvmHeader) console.warn('kvm-backend-abi.test: /usr/include/linux/kvm.h missing (linux-libc-dev): skipped');

const RUN_FIELDS: Record<keyof typeof RUN_OFF, string> = {
  immediateExit: 'immediate_exit', exitReason: 'exit_reason', ioDirection: 'io.direction', ioSize: 'io.size',
  ioPort: 'io.port', ioCount: 'io.count', ioDataOffset: 'io.data_offset', mmioPhysAddr: 'mmio.phys_addr',
  mmioData: 'mmio.data', mmioLen: 'mmio.len', mmioIsWrite: 'mmio.is_write', msrError: 'msr.error',
  msrReason: 'msr.reason', msrIndex: 'msr.index', msrData: 'msr.data', hypercallNr: 'hypercall.nr',
  hypercallArgs: 'hypercall.args', hypercallRet: 'hypercall.ret', hypercallLongmode: 'hypercall.longmode',
  internalSuberror: 'internal.suberror', internalNdata: 'internal.ndata', internalData: 'internal.data',
  failEntryReason: 'fail_entry.hardware_entry_failure_reason', validRegs: 'kvm_valid_regs', dirtyRegs: 'kvm_dirty_regs',
  syncRegs: 's.regs.regs',
};
const SREGS_FIELDS: Record<keyof typeof SREGS_OFF, string> = {
  cs: 'cs', ds: 'ds', es: 'es', fs: 'fs', gs: 'gs', ss: 'ss', tr: 'tr', ldt: 'ldt', gdt: 'gdt', idt: 'idt', cr0: 'cr0',
  cr2: 'cr2', cr3: 'cr3', cr4: 'cr4', cr8: 'cr8', efer: 'efer', apicBase: 'apic_base',
};
const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** name -> [our value, C expression]. */
function expectations(): [string, number, string][] {
  const out: [string, number, string][] = [];
  for (const [k, v] of Object.entries(KVM_IOCTL)) out.push([`KVM_${k}`, v, `KVM_${k}`]);
  for (const [k, v] of Object.entries(KVM_CAP)) out.push([`KVM_CAP_${k}`, v, `KVM_CAP_${k}`]);
  for (const [k, v] of Object.entries(KVM_EXIT)) out.push([`KVM_EXIT_${k}`, v, `KVM_EXIT_${k}`]);
  out.push(['KVM_EXIT_IO_IN', KVM_EXIT_IO_IN, 'KVM_EXIT_IO_IN'], ['KVM_EXIT_IO_OUT', KVM_EXIT_IO_OUT, 'KVM_EXIT_IO_OUT']);
  out.push(['KVM_MSR_EXIT_REASON_INVAL', KVM_MSR_EXIT_REASON_INVAL, 'KVM_MSR_EXIT_REASON_INVAL']);
  out.push(['KVM_MSR_EXIT_REASON_UNKNOWN', KVM_MSR_EXIT_REASON_UNKNOWN, 'KVM_MSR_EXIT_REASON_UNKNOWN']);
  out.push(['KVM_MSR_EXIT_REASON_FILTER', KVM_MSR_EXIT_REASON_FILTER, 'KVM_MSR_EXIT_REASON_FILTER']);
  for (const [k, f] of Object.entries(RUN_FIELDS)) out.push([`kvm_run.${f}`, RUN_OFF[k as keyof typeof RUN_OFF], `offsetof(struct kvm_run, ${f})`]);
  for (const [k, f] of Object.entries(SREGS_FIELDS)) out.push([`kvm_sregs.${f}`, SREGS_OFF[k as keyof typeof SREGS_OFF], `offsetof(struct kvm_sregs, ${f})`]);
  for (const [k, v] of Object.entries(SEG_OFF)) out.push([`kvm_segment.${snake(k)}`, v, `offsetof(struct kvm_segment, ${snake(k)})`]);
  KVM_REGS_ORDER.forEach((r, i) => out.push([`kvm_regs.${r}`, i * 8, `offsetof(struct kvm_regs, ${r})`]));
  out.push(['sizeof kvm_regs', KVM_REGS_SIZE, 'sizeof(struct kvm_regs)'], ['sizeof kvm_sregs', KVM_SREGS_SIZE, 'sizeof(struct kvm_sregs)']);
  out.push(['sizeof kvm_userspace_memory_region', KVM_USERSPACE_MEMORY_REGION_SIZE, 'sizeof(struct kvm_userspace_memory_region)']);
  out.push(['sizeof kvm_ioeventfd', KVM_IOEVENTFD_SIZE, 'sizeof(struct kvm_ioeventfd)']);
  out.push(['kvm_cpuid2.entries', KVM_CPUID2_HEADER, 'offsetof(struct kvm_cpuid2, entries)']);
  out.push(['sizeof kvm_cpuid_entry2', KVM_CPUID_ENTRY2_SIZE, 'sizeof(struct kvm_cpuid_entry2)']);
  out.push(['sizeof kvm_enable_cap', KVM_ENABLE_CAP_SIZE, 'sizeof(struct kvm_enable_cap)']);
  // struct layouts written by hand in vm.ts / ioeventfd.ts / timer.ts
  for (const f of ['slot', 'flags', 'guest_phys_addr', 'memory_size', 'userspace_addr']) out.push([`kvm_userspace_memory_region.${f}`, -1, `offsetof(struct kvm_userspace_memory_region, ${f})`]);
  for (const f of ['datamatch', 'addr', 'len', 'fd', 'flags']) out.push([`kvm_ioeventfd.${f}`, -1, `offsetof(struct kvm_ioeventfd, ${f})`]);
  for (const f of ['function', 'index', 'flags', 'eax', 'ebx', 'ecx', 'edx']) out.push([`kvm_cpuid_entry2.${f}`, -1, `offsetof(struct kvm_cpuid_entry2, ${f})`]);
  for (const f of ['cap', 'flags', 'args']) out.push([`kvm_enable_cap.${f}`, -1, `offsetof(struct kvm_enable_cap, ${f})`]);
  out.push(['sizeof sigevent', 64, 'sizeof(struct sigevent)'], ['sigevent.sigev_signo', 8, 'offsetof(struct sigevent, sigev_signo)']);
  out.push(['sigevent.sigev_notify', 12, 'offsetof(struct sigevent, sigev_notify)'], ['sigevent._tid', 16, 'offsetof(struct sigevent, _sigev_un._tid)']);
  out.push(['SIGEV_THREAD_ID', 4, 'SIGEV_THREAD_ID'], ['SIGALRM', 14, 'SIGALRM'], ['CLOCK_MONOTONIC', 1, 'CLOCK_MONOTONIC']);
  out.push(['EFD_NONBLOCK', 0o4000, 'EFD_NONBLOCK'], ['EFD_CLOEXEC', 0o2000000, 'EFD_CLOEXEC'], ['MAP_NORESERVE', 0x4000, 'MAP_NORESERVE']);
  out.push(['sizeof kvm_msr_filter', KVM_MSR_FILTER_SIZE, 'sizeof(struct kvm_msr_filter)'],
    ['kvm_msr_filter.ranges', KVM_MSR_FILTER_RANGES_OFF, 'offsetof(struct kvm_msr_filter, ranges)'],
    ['sizeof kvm_msr_filter_range', KVM_MSR_FILTER_RANGE_SIZE, 'sizeof(struct kvm_msr_filter_range)'],
    ['kvm_msr_filter_range.nmsrs', 4, 'offsetof(struct kvm_msr_filter_range, nmsrs)'],
    ['kvm_msr_filter_range.base', 8, 'offsetof(struct kvm_msr_filter_range, base)'],
    ['kvm_msr_filter_range.bitmap', 16, 'offsetof(struct kvm_msr_filter_range, bitmap)'],
    ['KVM_MSR_FILTER_MAX_RANGES', KVM_MSR_FILTER_MAX_RANGES, 'KVM_MSR_FILTER_MAX_RANGES'],
    ['KVM_MSR_FILTER_READ', KVM_MSR_FILTER_READ, 'KVM_MSR_FILTER_READ'], ['KVM_MSR_FILTER_WRITE', KVM_MSR_FILTER_WRITE, 'KVM_MSR_FILTER_WRITE'],
    ['KVM_MSR_FILTER_DEFAULT_ALLOW', KVM_MSR_FILTER_DEFAULT_ALLOW, 'KVM_MSR_FILTER_DEFAULT_ALLOW']);
  out.push(['KVM_API_VERSION', 12, 'KVM_API_VERSION'], ['KVM_SYNC_X86_REGS', KVM_SYNC_X86_REGS, 'KVM_SYNC_X86_REGS']);
  return out;
}

// Offsets the hand-written layouts assume (vm.ts, ioeventfd.ts, the cpuid table).
const HAND: Record<string, number> = {
  'kvm_userspace_memory_region.slot': 0, 'kvm_userspace_memory_region.flags': 4,
  'kvm_userspace_memory_region.guest_phys_addr': 8, 'kvm_userspace_memory_region.memory_size': 16,
  'kvm_userspace_memory_region.userspace_addr': 24,
  'kvm_ioeventfd.datamatch': 0, 'kvm_ioeventfd.addr': 8, 'kvm_ioeventfd.len': 16, 'kvm_ioeventfd.fd': 20, 'kvm_ioeventfd.flags': 24,
  'kvm_cpuid_entry2.function': 0, 'kvm_cpuid_entry2.index': 4, 'kvm_cpuid_entry2.flags': 8, 'kvm_cpuid_entry2.eax': 12,
  'kvm_cpuid_entry2.ebx': 16, 'kvm_cpuid_entry2.ecx': 20, 'kvm_cpuid_entry2.edx': 24,
  'kvm_enable_cap.cap': 0, 'kvm_enable_cap.flags': 4, 'kvm_enable_cap.args': 8,
};

describe.skipIf(!hasGcc || !hasKvmHeader)('KVM backend ABI numbers vs linux/kvm.h (gcc)', () => {
  it('every ioctl number, exit reason, capability, struct size and field offset matches the headers', () => {
    const rows = expectations();
    const c = [
      '#define _GNU_SOURCE', '#include <stdio.h>', '#include <stddef.h>', '#include <signal.h>', '#include <time.h>',
      '#include <sys/mman.h>', '#include <sys/eventfd.h>', '#include <linux/kvm.h>', 'int main(void) {',
      ...rows.map(([n, , expr]) => `  printf("%s %lld\\n", "${n}", (long long)(${expr}));`), '  return 0;', '}',
    ].join('\n');
    const dir = mkdtempSync(join(tmpdir(), 'pvkit-kvm-abi-'));
    try {
      writeFileSync(join(dir, 'abi.c'), c);
      execFileSync('gcc', ['-o', join(dir, 'abi'), join(dir, 'abi.c')], { stdio: 'pipe' });
      const got = new Map(execFileSync(join(dir, 'abi'), { encoding: 'utf8' }).trim().split('\n').map((l) => {
        const i = l.lastIndexOf(' ');
        return [l.slice(0, i), Number(l.slice(i + 1))] as const;
      }));
      for (const [n, v] of rows) expect({ n, v: v === -1 ? HAND[n] : v }).toEqual({ n, v: got.get(n) });
      expect(rows.length).toBeGreaterThan(100);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
