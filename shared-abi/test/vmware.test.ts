import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  VMWARE_CMD, VMWARE_CMD_MASK, VMWARE_HYPERVISOR_MAGIC, VMWARE_HYPERVISOR_PORT, VMWARE_HYPERVISOR_PORT_HB, checkFeatureDefs,
  decodeFeatures, decodeVmwareCommand, encodeFeatures, kvmAbi, signatureToRegs, vmwareAbi,
} from '../src/index.js';

const has = (tool: string, arg = '--version'): boolean => { try { execFileSync(tool, [arg], { stdio: 'ignore' }); return true; } catch { return false; } };
const hasGcc = has('gcc');
const hasNasm = has('nasm', '-v');
const hasObjdump = has('objdump');
if (!hasGcc) console.warn('vmware.test: gcc missing, signature byte-order check skipped');
if (!hasNasm || !hasObjdump) console.warn('vmware.test: nasm or objdump missing, port-instruction check skipped');

describe('VMware backdoor constants (asm/vmware.h, QEMU vmport.c)', () => {
  it('ports, magic, flags and command mask', () => {
    expect(VMWARE_HYPERVISOR_PORT).toBe(0x5658);
    expect(VMWARE_HYPERVISOR_PORT_HB).toBe(0x5659);
    expect(Buffer.from([0x56, 0x58]).toString('latin1')).toBe('VX');
    expect(Buffer.from('VMXh', 'latin1').readUInt32BE(0)).toBe(VMWARE_HYPERVISOR_MAGIC); // "VMXh" read as a number
    expect(VMWARE_CMD_MASK).toBe(0xf007f);
    expect(VMWARE_CMD).toEqual({ GETVERSION: 10, GETRAMSIZE: 0x14, GETHZ: 45, GETVCPU_INFO: 68, STEALCLOCK: 91 });
  });
  it('command decoding by VMWARE_CMD_MASK', () => {
    expect(decodeVmwareCommand(10)).toEqual({ command: 10, subcommand: 0, otherBits: 0 });
    expect(decodeVmwareCommand(0x0003_005b)).toEqual({ command: 91, subcommand: 3, otherBits: 0 });
    expect(decodeVmwareCommand(0xffff_ffff)).toEqual({ command: 0x7f, subcommand: 0xf, otherBits: 0xfff0ff80 });
    expect(() => decodeVmwareCommand(-1)).toThrow(/unsigned 32-bit/);
  });
});

describe('vmwareAbi consistency', () => {
  it('unique command names and numbers, all within the 7-bit command field', () => {
    const nrs = vmwareAbi.hypercalls.map((h) => h.nr);
    expect(new Set(nrs).size).toBe(nrs.length);
    expect(new Set(vmwareAbi.hypercalls.map((h) => h.name)).size).toBe(nrs.length);
    for (const n of nrs) expect(n & ~0x7f).toBe(0);
    const ids = vmwareAbi.conventions.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const h of vmwareAbi.hypercalls) for (const c of h.conventions ?? []) expect(ids).toContain(c);
  });
  it('CPUID: "VMwareVMware" at 0x40000000, VMMCALL bit 0 / VMCALL bit 1 of leaf 0x40000010 ECX', () => {
    expect(vmwareAbi.cpuid.defaultBase + vmwareAbi.cpuid.maxLeafOffset).toBe(0x40000010);
    expect(checkFeatureDefs(vmwareAbi.features, vmwareAbi.cpuid.maxLeafOffset)).toEqual([]);
    expect(encodeFeatures(vmwareAbi.features, ['CPUID_VMWARE_FEATURES_ECX_VMCALL'], 0x10, 'ecx')).toBe(2);
    expect(decodeFeatures(vmwareAbi.features, 3, 0x10, 'ecx')).toEqual(['CPUID_VMWARE_FEATURES_ECX_VMMCALL', 'CPUID_VMWARE_FEATURES_ECX_VMCALL']);
  });
  it('conventions: LB port = EAX magic, ECX command, DX 0x5658; vmcall form DX flags 0; HB port DX 0x5659', () => {
    const lb = vmwareAbi.conventions.find((c) => c.id === 'port-lb')!;
    expect(lb.number).toBe('ecx');
    expect(lb.fixed).toEqual([expect.objectContaining({ reg: 'eax', value: 0x564d5868 }), expect.objectContaining({ reg: 'dx', value: 0x5658 })]);
    expect(vmwareAbi.conventions.find((c) => c.id === 'hypercall-lb-64')!.fixed![1]!.value).toBe(0);
    const hb = vmwareAbi.conventions.find((c) => c.id === 'port-hb')!;
    expect([hb.number, hb.fixed![1]!.value]).toEqual(['ebx', 0x5659]);
    expect(vmwareAbi.conventions.filter((c) => c.trap === 'hypercall').every((c) => c.id.startsWith('hypercall-lb'))).toBe(true);
  });
  it('errors: unknown command or bad magic -> EAX all ones (QEMU x-signal-unsupported-cmd)', () => {
    expect(vmwareAbi.errors.encoding).toBe('all-ones');
    const unk = vmwareAbi.errors.codes.find((c) => c.name === vmwareAbi.errors.unknownHypercall)!;
    expect(unk.value).toBe(0xffffffff);
    // the backdoor answers at any CPL (emulate.c emulator_io_port_access_allowed)
    expect(vmwareAbi.errors.cplNonZero).toBe('allowed');
  });
  it('space: RAX = magic, disjoint from the KVM numbers on the same selector', () => {
    expect([vmwareAbi.space.selector, vmwareAbi.space.lo, vmwareAbi.space.hi]).toEqual(['rax', 0x564d5868, 0x564d5868]);
    expect(kvmAbi.space.selector).toBe('rax');
    expect(vmwareAbi.space.lo > kvmAbi.space.hi || vmwareAbi.space.hi < kvmAbi.space.lo).toBe(true);
  });
  it.skipIf(!hasGcc)('signature words: what a C program reads from "VMwareVMware" as three little-endian u32', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvkit-vmw-'));
    writeFileSync(join(dir, 's.c'), '#include <stdio.h>\n#include <string.h>\n#include <stdint.h>\nint main(void){uint32_t r[3];memcpy(r,"VMwareVMware",12);printf("%u %u %u\\n",r[0],r[1],r[2]);return 0;}\n');
    execFileSync('gcc', ['-std=c11', '-Wall', '-Werror', '-o', join(dir, 's'), join(dir, 's.c')]);
    const [ebx, ecx, edx] = execFileSync(join(dir, 's'), { encoding: 'utf8' }).trim().split(' ').map(Number);
    expect(signatureToRegs(vmwareAbi.cpuid.signature)).toEqual({ ebx, ecx, edx });
  });
  it.skipIf(!hasNasm || !hasObjdump)('the LB port access is one 4-byte IN from DX (ED), as QEMU requires', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvkit-vmw-'));
    writeFileSync(join(dir, 'a.asm'), `bits 64\nmov eax, ${VMWARE_HYPERVISOR_MAGIC}\nmov ecx, ${VMWARE_CMD.GETVERSION}\nmov dx, ${VMWARE_HYPERVISOR_PORT}\nin eax, dx\n`);
    execFileSync('nasm', ['-f', 'bin', '-o', join(dir, 'a.bin'), join(dir, 'a.asm')]);
    const out = execFileSync('objdump', ['-D', '-b', 'binary', '-m', 'i386:x86-64', '-M', 'intel', join(dir, 'a.bin')], { encoding: 'utf8' });
    expect(out).toMatch(/b8 68 58 4d 56\s+mov\s+eax,0x564d5868/);
    expect(out).toMatch(/66 ba 58 56\s+mov\s+dx,0x5658/);
    expect(out).toMatch(/\sed\s+in\s+eax,dx/);
  });
});
