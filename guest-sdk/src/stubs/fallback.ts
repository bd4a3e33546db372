// Device-register access with the pvio rule (spec §6): when the feature bit from detection is set, one
// PVIO_HC_MMIO / PVIO_HC_PIO hypercall; when it is clear, or the host answers anything but 0 (it may
// withdraw a feature, or say -EFAULT for RAM), the plain MOV / IN / OUT of the same size. Both paths give
// the device the same single access. Addresses are identity-mapped (virtual = guest-physical).
//   uintN_t pvkit_reg_read{8,16,32,64}(uintptr addr)   void pvkit_reg_write{8,16,32,64}(uintptr addr, uintN_t v)
//   uintN_t pvkit_port_read{8,16,32}(uint16_t port)    void pvkit_port_write{8,16,32}(uint16_t port, uintN_t v)
//   void pvkit_pvio_fallback_init(const struct pvkit_detect *d)   copies leaf base+1 EAX (features)
// 32-bit images have no 64-bit register access: a plain 8-byte access needs SSE/MMX there.

import { PVIO_DESC_LAYOUT, PVIO_FEATURE, PVIO_HC, PVIO_LEAF, type AbiDefinition, type CallingConvention } from '@pvkit/shared-abi';
import type { Asm } from '../x86/asm.js';
import { type Mem, byte, dword, mem, qword, word } from '../x86/operands.js';
import type { Reg } from '../x86/registers.js';
import { reg, regOf } from './cabi.js';
import { DETECT_LEAF_SIZE, DETECT_OFFSETS, featureLeaves } from './detect.js';
import { dataRef } from './names.js';
import type { TrapEmitter } from './strategies.js';

const FEATURES_VAR = 'pvkit_pvio_features';
const INIT = 'pvkit_pvio_fallback_init';

export function isPvio(abi: AbiDefinition): boolean {
  return abi.hypercalls.some((h) => h.name === 'PVIO_HC_MMIO' && h.nr === PVIO_HC.MMIO);
}

function lsb(name: string): bigint {
  const f = PVIO_DESC_LAYOUT.find((x) => x.name === name);
  if (!f) throw new Error(`internal: pvio descriptor has no ${name} field`);
  return BigInt(f.lsb);
}

/** Access descriptor without the address (pvio spec §4.0). */
function descBits(size: 1 | 2 | 4 | 8, write: boolean, pio: boolean): bigint {
  const log2 = BigInt(Math.log2(size));
  return (log2 << lsb('sizeLog2')) | (write ? 1n << lsb('write') : 0n) | (pio ? 1n << lsb('pio') : 0n);
}

type Kind = 'reg' | 'port';
const SIZES: Record<Kind, readonly (1 | 2 | 4 | 8)[]> = { reg: [1, 2, 4, 8], port: [1, 2, 4] };

export function fallbackPrototypes(_abi: AbiDefinition, bits: 64 | 32): Record<string, string> {
  const out: Record<string, string> = { [INIT]: `void ${INIT}(const struct pvkit_detect *d)` };
  for (const kind of ['reg', 'port'] as const) {
    for (const size of SIZES[kind]) {
      if (size === 8 && bits === 32) continue;
      const t = `uint${size * 8}_t`;
      const at = kind === 'reg' ? 'uintptr_t addr' : 'uint16_t port';
      out[`pvkit_${kind}_read${size * 8}`] = `${t} pvkit_${kind}_read${size * 8}(${at})`;
      out[`pvkit_${kind}_write${size * 8}`] = `void pvkit_${kind}_write${size * 8}(${at}, ${t} v)`;
    }
  }
  return out;
}

export function emitFallback(a: Asm, abi: AbiDefinition, traps: TrapEmitter, convs: readonly CallingConvention[]): void {
  const conv = convs[0]!;
  const k = featureLeaves(abi).indexOf(PVIO_LEAF.FEATURES);
  if (k < 0) throw new Error('internal: pvio has no feature leaf');
  emitInit(a, k);
  for (const kind of ['reg', 'port'] as const) {
    for (const size of SIZES[kind]) {
      if (size === 8 && a.bits === 32) continue;
      emitAccess(a, kind, size, false, traps, conv);
      emitAccess(a, kind, size, true, traps, conv);
    }
  }
  a.section('.data').align(4).global(FEATURES_VAR, 'object').label(FEATURES_VAR).dd(0).endSymbol(FEATURES_VAR).section('.text');
}

function emitInit(a: Asm, k: number): void {
  const w = a.bits === 64;
  const p = reg(w ? 'rdi' : 'ecx'), eax = reg('eax');
  const none = a.newLabel('nofeat');
  a.global(INIT).label(INIT);
  if (!w) a.mov(p, dword(mem(reg('esp'), { disp: 4 })));
  const at = (off: number) => dword(mem(p, { disp: off }));
  a.xor(eax, eax);
  a.cmp(at(DETECT_OFFSETS.base), 0).jcc('e', none);
  a.cmp(at(DETECT_OFFSETS.leaves + k * DETECT_LEAF_SIZE), 0).jcc('e', none); // leaf above max_leaf: not read
  a.mov(eax, at(DETECT_OFFSETS.leaves + k * DETECT_LEAF_SIZE + 4));
  a.label(none).mov(dword(dataRef(a, FEATURES_VAR)), eax).ret();
  a.endSymbol(INIT);
}

function sized(r: Reg, size: 1 | 2 | 4 | 8): Reg {
  return regOf(r.num, (size * 8) as 8 | 16 | 32 | 64);
}

function emitAccess(a: Asm, kind: Kind, size: 1 | 2 | 4 | 8, write: boolean, traps: TrapEmitter, conv: CallingConvention): void {
  const w = a.bits === 64;
  const sym = `pvkit_${kind}_${write ? 'write' : 'read'}${size * 8}`;
  const pio = kind === 'port';
  const bit = pio ? PVIO_FEATURE.PIO_HCALL : PVIO_FEATURE.MMIO_HCALL;
  const nr = pio ? PVIO_HC.PIO : PVIO_HC.MMIO;
  const desc = descBits(size, write, pio);
  const eax = reg('eax'), ebx = reg('ebx'), ecx = reg('ecx'), edx = reg('edx'), esi = reg('esi');
  const plain = a.newLabel('plain'), fail = a.newLabel('fail');
  const sizeMem = (m: Mem) => (size === 1 ? byte(m) : size === 2 ? word(m) : size === 4 ? dword(m) : qword(m));
  a.global(sym).label(sym);
  a.test(dword(dataRef(a, FEATURES_VAR)), 1 << bit).jcc('z', plain);
  const scratch = traps.needsScratch(conv) ? reg(w ? 'r11' : 'edi') : undefined;
  if (w) {
    // x64: RAX nr, RBX descriptor, RCX data in/out (pvio spec §3).
    a.push(reg('rbx'));
    a.mov(reg('rbx'), desc);
    if (pio) a.movzx(eax, reg('di')).or(reg('rbx'), reg('rax'));
    else a.or(reg('rbx'), reg('rdi'));
    if (!write) a.xor(ecx, ecx);
    else if (size === 8) a.mov(reg('rcx'), reg('rsi'));
    else if (size === 4) a.mov(ecx, esi);
    else a.movzx(ecx, sized(reg('rsi'), size));
    a.mov(eax, nr);
    traps.trap(conv, nr, scratch);
    a.pop(reg('rbx'));
    a.test(eax, eax).jcc('nz', plain);
    if (!write) a.mov(size === 8 ? reg('rax') : eax, size === 8 ? reg('rcx') : ecx);
    a.ret();
    a.label(plain);
    if (pio) {
      a.movzx(edx, reg('di'));
      if (write) a.mov(eax, esi).out(reg('dx'), sized(eax, size));
      else {
        a.in(sized(eax, size), reg('dx'));
        if (size < 4) a.movzx(eax, sized(eax, size));
      }
    } else if (write) a.mov(sizeMem(mem(reg('rdi'))), sized(reg('rsi'), size));
    else if (size === 8) a.mov(reg('rax'), qword(mem(reg('rdi'))));
    else if (size === 4) a.mov(eax, dword(mem(reg('rdi'))));
    else a.movzx(eax, sizeMem(mem(reg('rdi'))));
    a.ret();
  } else {
    // x86: EAX nr, ECX:EBX descriptor, ESI:EDX data (pvio spec §3). Parameters at [esp+4], [esp+8] on entry.
    const esp = reg('esp');
    const saved = [ebx, esi, ...(scratch ? [scratch] : [])];
    for (const r of saved) a.push(r);
    const p = (i: number) => mem(esp, { disp: 4 + 4 * saved.length + 4 * i });
    if (pio) a.movzx(ebx, word(p(0)));
    else a.mov(ebx, dword(p(0)));
    a.mov(ecx, Number(desc >> 32n));
    if (!write) a.xor(edx, edx);
    else if (size === 4) a.mov(edx, dword(p(1)));
    else a.movzx(edx, sizeMem(p(1)));
    a.xor(esi, esi).mov(eax, nr);
    traps.trap(conv, nr, scratch);
    a.test(eax, eax).jcc('nz', fail);
    if (!write) a.mov(eax, edx);
    for (const r of [...saved].reverse()) a.pop(r);
    a.ret();
    a.label(fail);
    for (const r of [...saved].reverse()) a.pop(r);
    a.label(plain);
    const q = (i: number) => mem(esp, { disp: 4 + 4 * i });
    if (pio) {
      a.movzx(edx, word(q(0)));
      if (write) a.mov(eax, dword(q(1))).out(reg('dx'), sized(eax, size));
      else {
        a.in(sized(eax, size), reg('dx'));
        if (size < 4) a.movzx(eax, sized(eax, size));
      }
    } else {
      a.mov(ecx, dword(q(0)));
      if (write) a.mov(eax, dword(q(1))).mov(sizeMem(mem(ecx)), sized(eax, size));
      else if (size === 4) a.mov(eax, dword(mem(ecx)));
      else a.movzx(eax, sizeMem(mem(ecx)));
    }
    a.ret();
  }
  a.endSymbol(sym);
}
