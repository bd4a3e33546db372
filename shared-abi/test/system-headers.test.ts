// Every KVM and Xen constant pvkit defines must equal the value in the headers Debian ships (linux-libc-dev,
// libxen-dev). A missing header fails (with the package to install), never skips: CI installs both.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import {
  KVM_CAP, KVM_CLOCK_PAIRING_WALLCLOCK, KVM_CPUID_FEATURES, KVM_CPUID_SIGNATURE, KVM_ERRNO, KVM_FEATURE, KVM_GUEST_STRUCTS,
  KVM_HC, KVM_HINTS, KVM_IOEVENTFD_FLAG, KVM_IOEVENTFD_VALID_FLAG_MASK, KVM_MAP_GPA_RANGE, KVM_MIGRATION_READY,
  KVM_MSR_ENABLED, KVM_MSR_LAYOUTS, KVM_PV_EOI_BIT, KVM_PV_REASON_PAGE_NOT_PRESENT, KVM_PV_REASON_PAGE_READY,
  KVM_SIGNATURE, KVM_VCPU_FLUSH_TLB, PVCLOCK_FLAGS, PVCLOCK_VCPU_TIME_INFO, KVM_VCPU_PREEMPTED, KVM_X86_QUIRK, MSR_KVM, kvmAbi,
  CONSOLEIO, HVMOP, SCHEDOP, XENVER, XEN_CPUID_FEAT1_MMU_PT_UPDATE_PRESERVE_AD, XEN_CPUID_FIRST_LEAF,
  XEN_CPUID_MACHINE_ADDRESS_WIDTH_MASK, XEN_CPUID_MAX_NUM_LEAVES, XEN_CPUID_SIGNATURE_EBX, XEN_CPUID_SIGNATURE_ECX,
  XEN_CPUID_SIGNATURE_EDX, XEN_ERRNO, XEN_HC, XEN_HVM_CPUID, XEN_HVM_DEBUGCONS_IOPORT, XEN_SIGNATURE, xenAbi,
  signatureToRegs,
} from '../src/index.js';
import type { BitFieldDef } from '../src/index.js';
import { HeaderSet } from './support/cheader.js';
import { loadLinuxKvmHeaders, loadXenHeaders, requireHeader } from './support/headers.js';
import { hasTool, run, withTmp } from './support/tools.js';

const hasGcc = hasTool('gcc');
if (!hasGcc) console.warn('gcc not found: skipping the struct layout checks against asm/kvm_para.h and xen/xen.h (install gcc)');

type Table = Readonly<Record<string, number | bigint | string>>;

/** Compares pvkit's table against header macros named prefix+key; returns mismatches as readable strings. */
function mismatches(hs: HeaderSet, prefix: string, table: Table, map: (v: number | bigint | string) => bigint | string = id): string[] {
  const bad: string[] = [];
  for (const [k, v] of Object.entries(table)) {
    const name = `${prefix}${k}`;
    const want = map(v);
    if (!hs.has(name)) {
      bad.push(`${name}: not in the headers (pvkit has ${show(want)})`);
      continue;
    }
    const got = hs.value(name);
    if (got !== want) bad.push(`${name}: header ${show(got)} != pvkit ${show(want)}`);
  }
  return bad;
}
function id(v: number | bigint | string): bigint | string {
  return typeof v === 'string' ? v : BigInt(v);
}
const bit = (v: number | bigint | string): bigint => 1n << BigInt(v);
function show(v: unknown): string {
  return typeof v === 'bigint' ? `0x${v.toString(16)}` : JSON.stringify(v);
}

/** Logs header constants of a family that pvkit does not define (information, not failure). */
function listLacking(hs: HeaderSet, prefix: string, known: Iterable<string>): string[] {
  const have = new Set(known);
  const lacking = hs.family(prefix).filter((n) => !have.has(n));
  console.log(`header ${prefix}* constants pvkit lacks (${lacking.length}): ${lacking.join(', ') || 'none'}`);
  return lacking;
}
const prefixed = (prefix: string, t: Table): string[] => Object.keys(t).map((k) => `${prefix}${k}`);

const fieldMask = (layout: readonly BitFieldDef[], pred: (f: BitFieldDef) => boolean): bigint =>
  layout.filter(pred).reduce((m, f) => m | (((1n << BigInt(f.width)) - 1n) << BigInt(f.lsb)), 0n);
const flagBit = (layout: readonly BitFieldDef[], name: string): bigint => {
  const f = layout.find((x) => x.name === name);
  if (!f) throw new Error(`no field ${name}`);
  return 1n << BigInt(f.lsb);
};

describe('the #define evaluator', () => {
  it('evaluates expressions, conditionals, function-like macros, enums and strings like cpp', () => {
    const hs = new HeaderSet({ __x86_64__: '1' }).loadText([
      '#define A 0x10u /* comment */',
      '#define B (A << 2) | 1',
      '#define NEG (-1ULL << 6)',
      '#define F(x, y) ((x) * (y) + A)',
      '#define S "ab\\0c"',
      '#if defined(__x86_64__) && A > 4',
      '#define C 1',
      '#elif 1',
      '#define C 2',
      '#else',
      '#define C 3',
      '#endif',
      '#ifdef NOT_DEFINED',
      '#define D 1',
      '#endif',
      '#define L \\',
      '  (7 % 4)',
      'enum { e0, e1, e5 = 5, e6 };',
      '#define G 010',
      '#define U 5',
      '#undef U',
    ].join('\n'), 'inline.h');
    expect(hs.value('B')).toBe(0x41n);
    expect(hs.value('NEG')).toBe(0xffffffffffffffc0n);
    expect(hs.evaluate('F(2, 3)')).toBe(22n);
    expect(hs.has('U')).toBe(false);
    expect(hs.value('S')).toBe('ab\0c');
    expect(hs.value('C')).toBe(1n);
    expect(hs.has('D')).toBe(false);
    expect(hs.value('L')).toBe(3n);
    expect([hs.value('e0'), hs.value('e1'), hs.value('e5'), hs.value('e6')]).toEqual([0n, 1n, 5n, 6n]);
    expect(hs.value('G')).toBe(8n);
    expect(hs.value('NOPE')).toBeUndefined();
  });
  it('a missing header fails with the Debian package to install (never a skip)', () => {
    expect(() => requireHeader('xen/no-such.h', 'libxen-dev')).toThrow(/xen\/no-such\.h not found under \/usr\/include: install the Debian package libxen-dev/);
  });
});

describe('KVM constants equal linux-libc-dev headers', () => {
  const { hs, files } = loadLinuxKvmHeaders();

  it('loads the headers', () => {
    console.log(`parsed: ${files.join(', ')}`);
    expect(hs.family('KVM_HC_').length).toBeGreaterThan(0);
  });

  it('hypercall numbers, return codes, feature bits, hints, MSR indices, quirks, caps, ioeventfd flags', () => {
    const bad = [
      ...mismatches(hs, 'KVM_HC_', KVM_HC),
      ...mismatches(hs, 'KVM_', KVM_ERRNO),
      ...mismatches(hs, 'KVM_FEATURE_', KVM_FEATURE),
      ...mismatches(hs, 'KVM_HINTS_', KVM_HINTS),
      ...mismatches(hs, 'MSR_KVM_', MSR_KVM),
      ...mismatches(hs, 'KVM_X86_QUIRK_', KVM_X86_QUIRK),
      ...mismatches(hs, 'KVM_CAP_', KVM_CAP),
      ...mismatches(hs, 'KVM_IOEVENTFD_FLAG_', KVM_IOEVENTFD_FLAG),
      ...mismatches(hs, 'KVM_MAP_GPA_RANGE_', KVM_MAP_GPA_RANGE),
      ...mismatches(hs, '', {
        KVM_CPUID_SIGNATURE, KVM_CPUID_FEATURES, KVM_SIGNATURE, KVM_MSR_ENABLED, KVM_CLOCK_PAIRING_WALLCLOCK,
        KVM_VCPU_PREEMPTED, KVM_VCPU_FLUSH_TLB, KVM_PV_EOI_BIT, KVM_PV_REASON_PAGE_NOT_PRESENT,
        KVM_PV_REASON_PAGE_READY, KVM_MIGRATION_READY, KVM_IOEVENTFD_VALID_FLAG_MASK,
      }),
    ];
    expect(bad).toEqual([]);
  });

  it('kvmAbi hypercalls, features, error codes and constants use header names and values', () => {
    const bad: string[] = [];
    const check = (name: string, v: number | bigint) => {
      if (!hs.has(name)) bad.push(`${name}: not in the headers`);
      else if (hs.value(name) !== BigInt(v)) bad.push(`${name}: header ${show(hs.value(name))} != pvkit ${v}`);
    };
    for (const h of kvmAbi.hypercalls) check(h.name, h.nr);
    for (const f of kvmAbi.features) check(f.name, f.bit);
    for (const e of kvmAbi.errors.codes) check(e.name, e.value);
    for (const m of kvmAbi.msrs) check(m.name, m.index);
    const notInUapi: string[] = [];
    for (const c of kvmAbi.constants) {
      if (hs.has(c.name)) check(c.name, c.value);
      else notInUapi.push(c.name);
    }
    console.log(`kvmAbi constants not in the Linux uapi headers (checked against Xen's XEN_PVCLOCK_* below): ${notInUapi.join(', ')}`);
    expect(notInUapi.every((n) => n.startsWith('PVCLOCK_'))).toBe(true);
    expect(hs.value('KVM_SIGNATURE')).toBe(kvmAbi.cpuid.signature);
    expect(bad).toEqual([]);
  });

  it('MSR value layouts match the header masks and flags', () => {
    const L = KVM_MSR_LAYOUTS;
    const h = (n: string) => hs.value(n);
    // KVM_STEAL_VALID_BITS = -1ULL << 6: the GPA field; KVM_STEAL_RESERVED_MASK 0x3e: the reserved field.
    expect(fieldMask(L.STEAL_TIME, (f) => f.kind === 'gpa')).toBe(h('KVM_STEAL_VALID_BITS'));
    expect(fieldMask(L.STEAL_TIME, (f) => f.kind === 'reserved')).toBe(h('KVM_STEAL_RESERVED_MASK'));
    expect(flagBit(L.STEAL_TIME, 'enable')).toBe(h('KVM_MSR_ENABLED'));
    expect(flagBit(L.ASYNC_PF_EN, 'enabled')).toBe(h('KVM_ASYNC_PF_ENABLED'));
    expect(flagBit(L.ASYNC_PF_EN, 'send_always')).toBe(h('KVM_ASYNC_PF_SEND_ALWAYS'));
    expect(flagBit(L.ASYNC_PF_EN, 'delivery_as_pf_vmexit')).toBe(h('KVM_ASYNC_PF_DELIVERY_AS_PF_VMEXIT'));
    expect(flagBit(L.ASYNC_PF_EN, 'delivery_as_int')).toBe(h('KVM_ASYNC_PF_DELIVERY_AS_INT'));
    expect(fieldMask(L.ASYNC_PF_INT, (f) => f.name === 'vector')).toBe(h('KVM_ASYNC_PF_VEC_MASK'));
    expect(flagBit(L.MIGRATION_CONTROL, 'ready')).toBe(h('KVM_MIGRATION_READY'));
    expect(flagBit(L.PV_EOI_EN, 'enable')).toBe(h('KVM_PV_EOI_ENABLED'));
    expect(BigInt(KVM_MAP_GPA_RANGE.ENCRYPTED)).toBe(hs.evaluate('KVM_MAP_GPA_RANGE_ENC_STAT(1)'));
  });

  it('lists header constants pvkit lacks', () => {
    const lackHc = listLacking(hs, 'KVM_HC_', prefixed('KVM_HC_', KVM_HC));
    listLacking(hs, 'KVM_FEATURE_', prefixed('KVM_FEATURE_', KVM_FEATURE));
    listLacking(hs, 'MSR_KVM_', prefixed('MSR_KVM_', MSR_KVM));
    listLacking(hs, 'KVM_X86_QUIRK_', prefixed('KVM_X86_QUIRK_', KVM_X86_QUIRK));
    // KVM_E* also matches unrelated KVM_EXIT_* etc.; the return codes are the ones without a further '_'.
    const lack = hs.family('KVM_E').filter((n) => /^KVM_E[A-Z0-9]+$/.test(n) && !(n.slice(4) in KVM_ERRNO));
    console.log(`header KVM_E* return codes pvkit lacks: ${lack.join(', ') || 'none'}`);
    expect(lackHc).toEqual([]);
  });

  // offsetof/sizeof from gcc for the structures that the uapi headers declare.
  it.skipIf(!hasGcc)('guest-memory struct layouts equal gcc offsetof/sizeof', () => {
    const inUapi = KVM_GUEST_STRUCTS.filter((s) => s.name.startsWith('kvm_'));
    const lines = inUapi.flatMap((s) => [
      `printf("${s.name} %zu\\n", sizeof(struct ${s.name}));`,
      ...s.fields.map((f) => `printf("${s.name}.${f.name} %zu %zu\\n", offsetof(struct ${s.name}, ${f.name}), sizeof(((struct ${s.name} *)0)->${f.name}));`),
    ]);
    const src = `#include <stdio.h>\n#include <stddef.h>\n#include <asm/kvm_para.h>\nint main(void) {\n${lines.join('\n')}\nreturn 0;\n}\n`;
    const out = withTmp((dir) => {
      writeFileSync(join(dir, 's.c'), src);
      run('gcc', ['-std=c11', '-Wall', '-o', join(dir, 's'), join(dir, 's.c')]);
      return run(join(dir, 's'), []);
    });
    const want = inUapi.flatMap((s) => [`${s.name} ${s.size}`, ...s.fields.map((f) => `${s.name}.${f.name} ${f.offset} ${f.size}`)]);
    expect(out.trim().split('\n')).toEqual(want);
  });
});

describe('Xen constants equal libxen-dev headers', () => {
  const { hs, files } = loadXenHeaders();

  it('loads the headers at the latest interface version', () => {
    console.log(`parsed: ${files.join(', ')}`);
    expect(hs.value('__XEN_INTERFACE_VERSION__')).toBe(hs.value('__XEN_LATEST_INTERFACE_VERSION__'));
  });

  it('hypercall numbers, errno values, sub-ops, CPUID and port constants', () => {
    const bad = [
      ...mismatches(hs, '__HYPERVISOR_', XEN_HC),
      ...mismatches(hs, 'XEN_', XEN_ERRNO),
      ...mismatches(hs, 'XEN_HVM_CPUID_', XEN_HVM_CPUID, bit),
      ...mismatches(hs, 'CONSOLEIO_', CONSOLEIO),
      ...mismatches(hs, 'XENVER_', XENVER),
      ...mismatches(hs, 'HVMOP_', HVMOP),
      ...mismatches(hs, 'SCHEDOP_', SCHEDOP),
      ...mismatches(hs, '', {
        XEN_CPUID_FIRST_LEAF, XEN_CPUID_SIGNATURE_EBX, XEN_CPUID_SIGNATURE_ECX, XEN_CPUID_SIGNATURE_EDX,
        XEN_CPUID_MAX_NUM_LEAVES, XEN_CPUID_FEAT1_MMU_PT_UPDATE_PRESERVE_AD, XEN_CPUID_MACHINE_ADDRESS_WIDTH_MASK,
        XEN_HVM_DEBUGCONS_IOPORT,
      }),
    ];
    expect(bad).toEqual([]);
    expect(hs.value('__HYPERVISOR_mca')).toBe(BigInt(XEN_HC.arch_0));
    expect(hs.value('__HYPERVISOR_dom0_op')).toBeUndefined(); // only defined for interface versions < 0x00030204
    expect(hs.evaluate(`XEN_CPUID_LEAF(${XEN_CPUID_MAX_NUM_LEAVES})`)).toBe(BigInt(XEN_CPUID_FIRST_LEAF + XEN_CPUID_MAX_NUM_LEAVES));
  });

  it('signature, feature bits and xenAbi names agree with the headers', () => {
    const r = signatureToRegs(XEN_SIGNATURE);
    expect([r.ebx, r.ecx, r.edx].map(BigInt)).toEqual(['EBX', 'ECX', 'EDX'].map((x) => hs.value(`XEN_CPUID_SIGNATURE_${x}`)));
    const bad: string[] = [];
    for (const f of xenAbi.features) {
      if (hs.value(f.name) !== 1n << BigInt(f.bit)) bad.push(`${f.name}: header ${show(hs.value(f.name))}, pvkit bit ${f.bit}`);
    }
    for (const h of xenAbi.hypercalls) {
      const n = `__${h.name}`;
      if (hs.value(n) !== BigInt(h.nr)) bad.push(`${n}: header ${show(hs.value(n))}, pvkit ${h.nr}`);
    }
    for (const e of xenAbi.errors.codes) if (hs.value(e.name) !== BigInt(e.value)) bad.push(`${e.name}: header ${show(hs.value(e.name))}, pvkit ${e.value}`);
    const notInHeaders: string[] = [];
    for (const c of xenAbi.constants) {
      if (!hs.has(c.name)) notInHeaders.push(c.name);
      else if (hs.value(c.name) !== BigInt(c.value)) bad.push(`${c.name}: header ${show(hs.value(c.name))}, pvkit ${c.value}`);
    }
    console.log(`xenAbi constants not in the public headers (from Xen sources): ${notInHeaders.join(', ')}`);
    expect(notInHeaders.sort()).toEqual(['XEN_HYPERCALL_SLOT_SIZE', 'XEN_MSR_BASE_VIRIDIAN']);
    expect(bad).toEqual([]);
  });

  it('pvclock flags equal XEN_PVCLOCK_* (pvclock is the Xen vcpu_time_info ABI that KVM reuses)', () => {
    expect(BigInt(PVCLOCK_FLAGS.TSC_STABLE_BIT)).toBe(hs.value('XEN_PVCLOCK_TSC_STABLE_BIT'));
    expect(BigInt(PVCLOCK_FLAGS.GUEST_STOPPED)).toBe(hs.value('XEN_PVCLOCK_GUEST_STOPPED'));
  });

  // Linux asm/pvclock-abi.h: "These structs MUST NOT be changed. They are the ABI between hypervisor and guest OS.
  // Both Xen and KVM are using this." Xen's public struct vcpu_time_info is the one Debian ships.
  it.skipIf(!hasGcc)('pvclock_vcpu_time_info equals gcc offsetof/sizeof of xen/xen.h struct vcpu_time_info', () => {
    const s = PVCLOCK_VCPU_TIME_INFO;
    const cName = (f: string) => (f === 'pad' ? 'pad1' : f); // Xen names the tail padding pad1
    const lines = [
      `printf("size %zu\\n", sizeof(struct vcpu_time_info));`,
      ...s.fields.map((f) => `printf("${f.name} %zu %zu\\n", offsetof(struct vcpu_time_info, ${cName(f.name)}), sizeof(((struct vcpu_time_info *)0)->${cName(f.name)}));`),
    ];
    const src = `#define __XEN_TOOLS__ 1\n#include <stdio.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <xen/xen.h>\nint main(void) {\n${lines.join('\n')}\nreturn 0;\n}\n`;
    const out = withTmp((dir) => {
      writeFileSync(join(dir, 'p.c'), src);
      run('gcc', ['-std=gnu11', '-o', join(dir, 'p'), join(dir, 'p.c')]);
      return run(join(dir, 'p'), []);
    });
    expect(out.trim().split('\n')).toEqual([`size ${s.size}`, ...s.fields.map((f) => `${f.name} ${f.offset} ${f.size}`)]);
  });

  it('guest-visible errno list is complete; internal ones are absent', () => {
    expect(hs.has('XEN_EINTR')).toBe(false); // #ifdef __XEN__ only
    expect(hs.has('XEN_ERESTART')).toBe(false);
    const aliases = ['XEN_EWOULDBLOCK', 'XEN_EDEADLOCK'];
    const lack = listLacking(hs, 'XEN_E', [...prefixed('XEN_', XEN_ERRNO), ...aliases]).filter((n) => /^XEN_E[A-Z0-9]+$/.test(n));
    expect(lack).toEqual([]);
  });

  it('lists header constants pvkit lacks', () => {
    const lackHc = listLacking(hs, '__HYPERVISOR_', [...prefixed('__HYPERVISOR_', XEN_HC), '__HYPERVISOR_mca']);
    listLacking(hs, 'XEN_HVM_CPUID_', prefixed('XEN_HVM_CPUID_', XEN_HVM_CPUID));
    listLacking(hs, 'SCHEDOP_', prefixed('SCHEDOP_', SCHEDOP));
    expect(lackHc).toEqual([]);
  });
});
