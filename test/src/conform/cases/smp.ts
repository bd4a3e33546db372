// Two vCPUs: KVM_HC_KICK_CPU wakes a vCPU halted in HLT (ABI-FACTS §1.1: "a1 = APIC ID to wake from HLT;
// returns 0"). vCPU 1 halts at once; vCPU 0 spins, kicks APIC id 1, and waits for vCPU 1's marker.
import { KVM_HC } from '@pvkit/shared-abi';
import { Asm, eax, ebx, ecx, mem, dword, toBinary } from '@pvkit/guest-sdk';
import { LAYOUT, asmProgram } from '../guest.js';
import type { ConformCase } from '../types.js';
import { BITS, VENDORS, u32le } from './helpers.js';

const AP = 0x2800n;
const MARK = LAYOUT.results + 0x100n;

export const SMP_CASES: ConformCase[] = [{
  name: 'smp: KICK_CPU wakes the halted vCPU with that APIC id', groups: ['smp', 'hypercall'], abis: ['kvm'], vendors: VENDORS, bits: BITS,
  source: 'ABI-FACTS §1.1 (KVM_HC_KICK_CPU: a0 flags, a1 APIC ID to wake from HLT; returns 0)',
  machine: () => ({ abis: [{ name: 'kvm' }], secondary: [{ entry: AP }] }),
  program: (e) => {
    const ap = new Asm({ bits: e.bits, origin: AP });
    ap.hlt().mov(dword(mem(Number(MARK))), 0x55).hlt();
    return asmProgram(e.bits, (a) => {
      a.mov(ecx, 20000).label('spin').pause().dec(ecx).jcc('nz', 'spin'); // vCPU 1 reaches its HLT meanwhile
      a.mov(eax, KVM_HC.KICK_CPU).mov(ebx, 0).mov(ecx, 1);
      if (e.vendor === 'intel') a.vmcall();
      else a.vmmcall();
      a.mov(mem(Number(LAYOUT.results)), eax);
      a.label('wait').cmp(dword(mem(Number(MARK))), 0x55).jcc('ne', 'wait');
      a.hlt();
    }, [{ gpa: AP, bytes: toBinary(ap.finish()) }]);
  },
  expect: () => ({ memory: [{ gpa: LAYOUT.results, bytes: u32le(0), what: 'KICK_CPU return value' }, { gpa: MARK, bytes: u32le(0x55), what: 'marker written by vCPU 1 after the wake' }] }),
}];
