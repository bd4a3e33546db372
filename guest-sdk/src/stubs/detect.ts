// Detection: CPUID.1:ECX[31], then Linux's hypervisor_cpuid_base() scan (or the one fixed base Hyper-V and
// VMware use), then the ABI's feature leaves, into a C struct the caller passes. Also the CPU-vendor helper
// the cross-vendor strategies share.

import { AbiError, type AbiDefinition, CPUID_1_ECX_HYPERVISOR_BIT, HYPERVISOR_CPUID_SCAN, signatureToRegs } from '@pvkit/shared-abi';
import type { Asm } from '../x86/asm.js';
import { dword, mem } from '../x86/operands.js';
import { CFunc, reg } from './cabi.js';

/**
 * struct pvkit_detect, identical for every ABI (offsets in bytes):
 *   0 uint32_t base      signature leaf found, 0 = none
 *   4 uint32_t max_leaf  EAX of that leaf
 *   8 uint32_t vendor    PVKIT_VENDOR_VMCALL (1) or PVKIT_VENDOR_VMMCALL (2), from CPUID leaf 0
 *  12 uint32_t nleaves   feature leaves described below (0 when not found)
 *  16 struct { uint32_t leaf, eax, ebx, ecx, edx; } leaves[4]   leaf 0 = above max_leaf, not read
 */
export const DETECT_MAX_LEAVES = 4;
export const DETECT_LEAF_SIZE = 20;
export const DETECT_OFFSETS = { base: 0, maxLeaf: 4, vendor: 8, nleaves: 12, leaves: 16 } as const;
export const DETECT_SIZE = DETECT_OFFSETS.leaves + DETECT_MAX_LEAVES * DETECT_LEAF_SIZE;
export const VENDOR = { VMCALL: 1, VMMCALL: 2 } as const;

export const DETECT_STRUCT_C = [
  '#ifndef PVKIT_DETECT_DEFINED /* shared by every ABI\'s header */',
  '#define PVKIT_DETECT_DEFINED',
  '#define PVKIT_DETECT_MAX_LEAVES 4',
  '#define PVKIT_VENDOR_VMCALL 1  /* Intel and others: VMCALL (SDM Vol. 3C 26.1) */',
  '#define PVKIT_VENDOR_VMMCALL 2 /* AMD, Hygon: VMMCALL (APM Vol. 3) */',
  'struct pvkit_detect {',
  '  uint32_t base;     /* signature leaf found, 0 = none */',
  '  uint32_t max_leaf; /* EAX of the signature leaf */',
  '  uint32_t vendor;   /* PVKIT_VENDOR_* from CPUID leaf 0 */',
  '  uint32_t nleaves;  /* feature leaves below (0 when not found) */',
  '  struct { uint32_t leaf, eax, ebx, ecx, edx; } leaves[PVKIT_DETECT_MAX_LEAVES]; /* leaf 0 = above max_leaf */',
  '};',
  '#endif',
].join('\n');

/** Feature-leaf offsets (from the base) the detection reads: the distinct leaves of abi.features, ascending. */
export function featureLeaves(abi: AbiDefinition): number[] {
  const leaves = [...new Set(abi.features.map((f) => f.leaf))].sort((x, y) => x - y);
  if (leaves.length > DETECT_MAX_LEAVES) {
    throw new AbiError([{ path: `${abi.name}.features`, value: leaves, message: `feature bits live in ${leaves.length} leaves; struct pvkit_detect holds ${DETECT_MAX_LEAVES}` }]);
  }
  return leaves;
}

/**
 * A local alias of a global function, for calls inside the image: GNU as leaves a relocation on a call to a
 * global (preemptible) symbol, a local label it resolves itself, so every consumer gets the same bytes.
 */
export function local(sym: string): string {
  return `${sym}_l`;
}

function vendorWord(s: string, i: number): number {
  return Buffer.from(s, 'latin1').readUInt32LE(4 * i);
}
// CPUID leaf 0 vendor string is EBX, EDX, ECX (SDM Vol. 2A CPUID leaf 0); AMD and Hygon use VMMCALL.
const VMMCALL_VENDORS = ['AuthenticAMD', 'HygonGenuine'];

/** `uint32_t <sym>(void)`: PVKIT_VENDOR_VMMCALL on AuthenticAMD/HygonGenuine, else PVKIT_VENDOR_VMCALL. Keeps every register but eax/ecx/edx. */
export function emitVendor(a: Asm, sym: string): void {
  const bx = reg(a.bits === 64 ? 'rbx' : 'ebx');
  const eax = reg('eax'), ebx = reg('ebx'), ecx = reg('ecx'), edx = reg('edx');
  const amd = a.newLabel('vmm'), other = a.newLabel('vmc'), out = a.newLabel('vout');
  a.label(local(sym)).global(sym).label(sym); // alias first: emitters name call targets by the first label
  a.push(bx);
  a.xor(eax, eax).xor(ecx, ecx).cpuid();
  VMMCALL_VENDORS.forEach((v, k) => {
    const next = k + 1 < VMMCALL_VENDORS.length ? a.newLabel('vnext') : other;
    a.cmp(ebx, vendorWord(v, 0)).jcc('ne', next);
    a.cmp(edx, vendorWord(v, 1)).jcc('ne', next);
    a.cmp(ecx, vendorWord(v, 2)).jcc('e', amd);
    if (next !== other) a.label(next);
  });
  a.jmp(other);
  a.label(amd).mov(eax, VENDOR.VMMCALL).jmp(out);
  a.label(other).mov(eax, VENDOR.VMCALL);
  a.label(out).pop(bx).ret();
  a.endSymbol(sym);
}

/** `uint32_t <sym>(struct pvkit_detect *out)`: returns the base found, or 0. */
export function emitDetect(a: Asm, abi: AbiDefinition, sym: string, vendorSym: string): void {
  const m = abi.cpuid;
  const sig = signatureToRegs(m.signature, `${abi.name}.cpuid.signature`);
  const leaves = featureLeaves(abi);
  const f = new CFunc(a, [{ name: 'out', ctype: 'ptr' }]);
  const eax = reg('eax'), ebx = reg('ebx'), ecx = reg('ecx'), edx = reg('edx'), esi = reg('esi');
  const out = reg(a.bits === 64 ? 'rdi' : 'edi');
  const none = a.newLabel('none'), found = a.newLabel('found');
  const at = (off: number) => dword(mem(out, { disp: off }));
  a.global(sym).label(sym);
  f.save([reg('ebx').num, reg('esi').num, reg('edi').num]);
  const p0 = f.loc(0);
  if ('mem' in p0) a.mov(out, p0.mem);
  // Zero the struct (psABI: DF is clear on entry), keeping the pointer.
  f.push(out);
  a.xor(eax, eax).mov(ecx, DETECT_SIZE / 4).rep.stosd();
  f.pop(out);
  a.call(local(vendorSym)).mov(at(DETECT_OFFSETS.vendor), eax);
  // CPUID.1:ECX[31] (cpufeatures.h X86_FEATURE_HYPERVISOR): no hypervisor, nothing to scan.
  a.mov(eax, 1).xor(ecx, ecx).cpuid().bt(ecx, CPUID_1_ECX_HYPERVISOR_BIT).jcc('nc', none);
  const { first, last, step } = HYPERVISOR_CPUID_SCAN;
  const matchSig = (miss: string) => {
    a.mov(eax, esi).xor(ecx, ecx).cpuid();
    a.cmp(ebx, sig.ebx).jcc('ne', miss).cmp(ecx, sig.ecx).jcc('ne', miss).cmp(edx, sig.edx).jcc('ne', miss);
    a.mov(at(DETECT_OFFSETS.maxLeaf), eax);
  };
  if (m.detection === 'scan') {
    // asm/cpuid/api.h hypervisor_cpuid_base(): first base whose signature matches and EAX - base >= leaves.
    const loop = a.newLabel('scan'), next = a.newLabel('next');
    a.mov(esi, first);
    a.label(loop);
    matchSig(next);
    if (m.minLeaves === 0) a.jmp(found); // Linux: `leaves == 0 ||` accepts any EAX
    else a.sub(eax, esi).cmp(eax, m.minLeaves).jcc('ae', found);
    a.label(next).add(esi, step).cmp(esi, last).jcc('be', loop).jmp(none);
  } else {
    // ms_hyperv_platform()/vmware_platform(): the default base only, EAX in [base + minLeaves, 0x4000FFFF].
    a.mov(esi, m.defaultBase);
    matchSig(none);
    a.cmp(eax, m.defaultBase + m.minLeaves).jcc('b', none).cmp(eax, last + step - 1).jcc('a', none); // HYPERV_CPUID_MAX 0x4000ffff
  }
  a.label(found);
  a.mov(at(DETECT_OFFSETS.base), esi);
  a.mov(at(DETECT_OFFSETS.nleaves), leaves.length);
  leaves.forEach((off, k) => {
    const base = DETECT_OFFSETS.leaves + k * DETECT_LEAF_SIZE;
    const skip = a.newLabel('skip');
    a.lea(eax, mem(a.bits === 64 ? reg('rsi') : esi, { disp: off }));
    a.cmp(eax, at(DETECT_OFFSETS.maxLeaf)).jcc('a', skip);
    a.mov(at(base), eax).xor(ecx, ecx).cpuid();
    a.mov(at(base + 4), eax).mov(at(base + 8), ebx).mov(at(base + 12), ecx).mov(at(base + 16), edx);
    a.label(skip);
  });
  a.mov(eax, esi);
  f.ret();
  a.label(none).xor(eax, eax);
  f.ret();
  a.endSymbol(sym);
}
