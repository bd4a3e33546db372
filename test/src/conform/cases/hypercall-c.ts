// kvm-unit-tests x86/hypercall.c, ported: VMCALL and VMMCALL with RAX = -1 on both vendors (the foreign one
// patched to the native bytes, or #UD with KVM_X86_QUIRK_FIX_HYPERCALL_INSN off), and the hypercall in the
// last 3 bytes below the non-canonical boundary 1 << 47 (test_edge): the call completes, then the fetch at
// 0x800000000000 faults with #GP (the exception-table entry at that RIP), or #UD at 0x7ffffffffffd.
import { KVM_ERRNO } from '@pvkit/shared-abi';
import { eax, ecx, mem, rax, rcx } from '@pvkit/guest-sdk';
import type { Vendor } from '@pvkit/host';
import { LAYOUT, asmProgram } from '../guest.js';
import type { Bits, ConformCase, Expect } from '../types.js';
import { BITS, VENDORS, nativeInsn, u32le, u64le } from './helpers.js';

const VMCALL = [0x0f, 0x01, 0xc1]; // ABI-FACTS §1.2 (Intel)
const VMMCALL = [0x0f, 0x01, 0xd9]; // ABI-FACTS §1.2 (AMD)
const SITE = { vmcall: 0x2000n, vmmcall: 0x2010n } as const;
const NON_CANON_START = 1n << 47n; // hypercall.c NON_CANON_START
const EDGE = NON_CANON_START - 3n;
const TOPMOST = NON_CANON_START - 0x1000n;
/** -KVM_ENOSYS as the caller sees it (ABI-FACTS §1.2 step 6: 32-bit callers get (u32)ret). */
const enosys = (bits: Bits) => (bits === 64 ? u64le(-BigInt(KVM_ERRNO.ENOSYS)) : u32le(-KVM_ERRNO.ENOSYS));
const foreign = (v: Vendor) => (v === 'intel' ? 'vmmcall' : 'vmcall');

/** Driver: for each site, EAX = -1, call it, store RAX/EAX at results + 8*i; then hlt. Sites are `insn; ret`. */
function sitesProgram(bits: Bits, order: readonly ('vmcall' | 'vmmcall')[]) {
  return asmProgram(bits, (a) => {
    order.forEach((s, i) => {
      if (bits === 64) a.mov(eax, -1).mov(rcx, SITE[s]).call(rcx).mov(rcx, LAYOUT.results + BigInt(8 * i)).mov(mem(rcx), rax);
      else a.mov(eax, -1).mov(ecx, Number(SITE[s])).call(ecx).mov(ecx, Number(LAYOUT.results) + 8 * i).mov(mem(ecx), eax);
    });
    a.hlt();
  }, [{ gpa: SITE.vmcall, bytes: Uint8Array.from([...VMCALL, 0xc3]) }, { gpa: SITE.vmmcall, bytes: Uint8Array.from([...VMMCALL, 0xc3]) }]);
}

const base = { abis: ['kvm'] as const, vendors: VENDORS, bits: BITS };

const patched: ConformCase = {
  ...base, name: 'hypercall.c: VMCALL and VMMCALL with RAX=-1, the foreign one patched', groups: ['hypercall', 'patching'], strategy: 'host-patch',
  source: 'kvm-unit-tests x86/hypercall.c test_hypercall; ABI-FACTS §1.1, §1.3 (patch 3 bytes at RIP, re-execute)',
  machine: () => ({ abis: [{ name: 'kvm' }] }),
  program: (e) => sitesProgram(e.bits, ['vmcall', 'vmmcall']),
  expect: (e): Expect => ({
    memory: [
      { gpa: LAYOUT.results, bytes: enosys(e.bits), what: 'RAX after VMCALL' },
      { gpa: LAYOUT.results + 8n, bytes: enosys(e.bits), what: 'RAX after VMMCALL' },
      { gpa: SITE[foreign(e.vendor)], bytes: nativeInsn(e.vendor), what: `${foreign(e.vendor)} site (patched)` },
      { gpa: SITE[e.vendor === 'intel' ? 'vmcall' : 'vmmcall'], bytes: nativeInsn(e.vendor), what: 'native site (untouched)' },
    ],
    patches: 1,
    // Two completed hypercalls, and the one #UD patch priced as such (ABI-FACTS §1.3: first call = 2 exits).
    counters: { hypercall: 2, udPatch: 1 },
  }),
};

const unpatched: ConformCase = {
  ...base, name: 'hypercall.c: the foreign instruction raises #UD with fixHypercallInsn off', groups: ['hypercall', 'patching', 'faults'],
  strategy: 'host-patch', source: 'kvm-unit-tests x86/hypercall.c (may_fail: #UD); ABI-FACTS §1.3 step 4 (quirk disabled -> #UD)',
  machine: () => ({ abis: [{ name: 'kvm' }], fixHypercallInsn: false }),
  program: (e) => sitesProgram(e.bits, e.vendor === 'intel' ? ['vmcall', 'vmmcall'] : ['vmmcall', 'vmcall']),
  expect: (e): Expect => ({
    final: { kind: 'Exception', vector: 6, rip: SITE[foreign(e.vendor)] },
    memory: [
      { gpa: LAYOUT.results, bytes: enosys(e.bits), what: 'RAX after the native hypercall' },
      { gpa: SITE[foreign(e.vendor)], bytes: e.vendor === 'intel' ? VMMCALL : VMCALL, what: 'foreign site (not patched)' },
    ],
    patches: 0,
  }),
};

function edgeCase(insn: 'vmcall' | 'vmmcall', fix: boolean): ConformCase {
  const bytes = insn === 'vmcall' ? VMCALL : VMMCALL;
  return {
    ...base, bits: [64], strategy: 'host-patch',
    name: `hypercall.c test_edge: ${insn.toUpperCase()} in the last 3 bytes below 1<<47${fix ? '' : ', fixHypercallInsn off'}`,
    groups: ['hypercall', 'patching', 'faults'],
    source: 'kvm-unit-tests x86/hypercall.c test_edge (ex-table entries at 0x7ffffffffffd and 0x800000000000); SDM Vol. 3A 6.15 #GP non-canonical RIP',
    machine: () => ({ abis: [{ name: 'kvm' }], fixHypercallInsn: fix, extraRam: [{ gpa: TOPMOST, size: 0x1000 }] }),
    program: () => asmProgram(64, (a) => a.mov(eax, -1).mov(rcx, EDGE).jmp(rcx), [{ gpa: TOPMOST, bytes: Uint8Array.from([...new Array(0x1000 - 3).fill(0xcc), ...bytes]) }]),
    expect: (e): Expect => {
      const isNative = (insn === 'vmcall') === (e.vendor === 'intel');
      if (!isNative && !fix) return { final: { kind: 'Exception', vector: 6, rip: EDGE }, memory: [{ gpa: EDGE, bytes, what: 'edge site (not patched)' }], patches: 0 };
      return {
        final: { kind: 'Exception', vector: 13, rip: NON_CANON_START },
        registers: { rax: BigInt.asUintN(64, -BigInt(KVM_ERRNO.ENOSYS)) },
        memory: [{ gpa: EDGE, bytes: nativeInsn(e.vendor), what: isNative ? 'edge site' : 'edge site (patched)' }],
        patches: isNative ? 0 : 1,
      };
    },
  };
}

export const HYPERCALL_C: ConformCase[] = [patched, unpatched, edgeCase('vmcall', true), edgeCase('vmmcall', true), edgeCase('vmcall', false), edgeCase('vmmcall', false)];
