// Locates and loads the Debian system headers the KVM and Xen data are checked against.
import { existsSync } from 'node:fs';
import { HeaderSet } from './cheader.js';

/** Fails with the Debian package to install when a header is missing (CI installs both packages). */
export function requireHeader(rel: string, pkg: string, roots: readonly string[] = ['/usr/include']): string {
  for (const r of roots) {
    const p = `${r}/${rel}`;
    if (existsSync(p)) return p;
  }
  throw new Error(`${rel} not found under ${roots.join(' or ')}: install the Debian package ${pkg} (apt-get install ${pkg}; .ci/run does this)`);
}

/** The uapi <asm/...> directory: multiarch on Debian, plain asm elsewhere. */
const ASM_ROOTS = ['/usr/include/x86_64-linux-gnu', '/usr/include'];

// GENMASK comes from linux/bits.h, which uapi headers use without shipping; same bits as the kernel macro.
const PREDEFINED = { __x86_64__: '1', 'GENMASK(h, l)': '(((1 << ((h) - (l) + 1)) - 1) << (l))' };

export function loadLinuxKvmHeaders(): { hs: HeaderSet; files: string[] } {
  const files = [
    requireHeader('asm-generic/errno-base.h', 'linux-libc-dev'),
    requireHeader('linux/kvm_para.h', 'linux-libc-dev'),
    requireHeader('asm/kvm_para.h', 'linux-libc-dev', ASM_ROOTS),
    requireHeader('asm/kvm.h', 'linux-libc-dev', ASM_ROOTS),
    requireHeader('linux/kvm.h', 'linux-libc-dev'),
  ];
  const hs = new HeaderSet(PREDEFINED);
  for (const f of files) hs.load(f);
  return { hs, files };
}

export function loadXenHeaders(): { hs: HeaderSet; files: string[] } {
  // __XEN_TOOLS__ selects __XEN_LATEST_INTERFACE_VERSION__ in xen-compat.h (as libxen users get), so the
  // pre-0x00030202 compat aliases (__HYPERVISOR_sched_op = sched_op_compat ...) are not taken.
  const files = [
    'xen/xen-compat.h', 'xen/xen.h', 'xen/errno.h', 'xen/arch-x86/cpuid.h', 'xen/arch-x86/xen.h', 'xen/arch-x86/xen-mca.h',
    'xen/sched.h', 'xen/version.h', 'xen/hvm/hvm_op.h',
  ].map((f) => requireHeader(f, 'libxen-dev'));
  const hs = new HeaderSet({ ...PREDEFINED, __XEN_TOOLS__: '1' });
  for (const f of files) hs.load(f);
  return { hs, files };
}
