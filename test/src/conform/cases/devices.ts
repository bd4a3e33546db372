// The pvkit test device through each plain transport (port I/O incl. a string OUT, trapped MMIO, a ring
// processed on a doorbell write with DMA from guest memory). Machine: KVM only, so real /dev/kvm runs these
// too and differential mode compares the device-visible trace with the emulator's.
import { Asm, al, ax, dword, dx, eax, ebx, ecx, esi, mem, rbx, rcx, rsi, word, byte } from '@pvkit/guest-sdk';
import { PVTEST_ID_VALUE, PvtestControl, PvtestReg, PvtestRing, type PvtestTraceEntry } from '@pvkit/host';
import { PVTEST_MMIO, PVTEST_PORT } from '../../run/machine.js';
import { LAYOUT, asmProgram } from '../guest.js';
import type { Bits, ConformCase } from '../types.js';
import { BITS, VENDORS, u32le } from './helpers.js';

const MSG = 0x3000n;
const RING = 0x3100n;
const TEXT = 'ring!';
const spec = { abis: [{ name: 'kvm' as const }] };
const base = { abis: ['kvm'] as const, vendors: VENDORS, bits: BITS, machine: () => spec };
const w = (op: 'read' | 'write', reg: number, size: number, value: bigint | number): PvtestTraceEntry => ({ op, offset: reg, size, value: BigInt(value) });
/** Base register for addresses: RBX in 64-bit mode, EBX in 32-bit. */
const breg = (bits: Bits) => (bits === 64 ? rbx : ebx);
const setBase = (a: Asm, bits: Bits, v: bigint) => (bits === 64 ? a.mov(rbx, v) : a.mov(ebx, Number(v)));

const pio: ConformCase = {
  ...base, name: 'pvtest over port I/O: IN, OUT of each width, REP OUTSB', groups: ['pio'],
  source: 'ABI-FACTS §7 (port I/O instruction forms); host devices/pvtest-regs.ts',
  program: (e) => asmProgram(e.bits, (a) => {
    a.mov(dx, PVTEST_PORT + PvtestReg.ID).insn('in', eax, dx).mov(mem(Number(LAYOUT.results)), eax);
    a.mov(dx, PVTEST_PORT + PvtestReg.DATA_OUT).mov(al, 0x50).insn('out', dx, al).mov(ax, 0x4f49).insn('out', dx, ax).mov(eax, 0x21212121).insn('out', dx, eax);
    if (e.bits === 64) a.mov(rsi, MSG).mov(rcx, 3n);
    else a.mov(esi, Number(MSG)).mov(ecx, 3);
    a.cld().rep.outsb();
    a.hlt();
  }, [{ gpa: MSG, bytes: new TextEncoder().encode('abc') }]),
  expect: () => ({
    memory: [{ gpa: LAYOUT.results, bytes: u32le(PVTEST_ID_VALUE), what: 'ID read by IN' }],
    device: {
      output: 'PIO!!!!abc',
      trace: [w('read', PvtestReg.ID, 4, PVTEST_ID_VALUE), w('write', PvtestReg.DATA_OUT, 1, 0x50), w('write', PvtestReg.DATA_OUT, 2, 0x4f49), w('write', PvtestReg.DATA_OUT, 4, 0x21212121),
        ...[0x61, 0x62, 0x63].map((c) => w('write', PvtestReg.DATA_OUT, 1, c))],
    },
    // No exit count: how many exits a REP OUTSB takes is the host's business (one per element on both backends here).
    exitTrace: { of: ['MmioRead', 'MmioWrite'], kinds: [] },
  }),
};

const mmio: ConformCase = {
  ...base, name: 'pvtest over trapped MMIO: loads and stores of 1, 2 and 4 bytes', groups: ['mmio'],
  source: 'host devices/pvtest-regs.ts (same offsets through MMIO); issue 5 "one device, every transport"',
  program: (e) => asmProgram(e.bits, (a) => {
    const b = breg(e.bits);
    setBase(a, e.bits, PVTEST_MMIO);
    a.mov(eax, mem(b, { disp: PvtestReg.ID })).mov(mem(Number(LAYOUT.results)), eax);
    a.mov(byte(mem(b, { disp: PvtestReg.DATA_OUT })), 0x4d).mov(word(mem(b, { disp: PvtestReg.DATA_OUT })), 0x4f49).mov(dword(mem(b, { disp: PvtestReg.DATA_OUT })), 0x3f3f3f3f);
    a.hlt();
  }),
  expect: () => ({
    memory: [{ gpa: LAYOUT.results, bytes: u32le(PVTEST_ID_VALUE), what: 'ID read by MOV' }],
    device: { output: 'MIO????', trace: [w('read', PvtestReg.ID, 4, PVTEST_ID_VALUE), w('write', PvtestReg.DATA_OUT, 1, 0x4d), w('write', PvtestReg.DATA_OUT, 2, 0x4f49), w('write', PvtestReg.DATA_OUT, 4, 0x3f3f3f3f)] },
    exitTrace: { of: ['IoIn', 'IoOut', 'MmioRead', 'MmioWrite'], kinds: ['MmioRead', 'MmioWrite', 'MmioWrite', 'MmioWrite'] },
  }),
};

/** Ring header { producer 1, consumer 0 } and one descriptor { MSG, len } (PvtestRing layout). */
function ringBytes(len: number): Uint8Array {
  const b = new Uint8Array(PvtestRing.DESCS + PvtestRing.DESC_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(PvtestRing.PRODUCER, 1, true);
  v.setBigUint64(PvtestRing.DESCS + PvtestRing.DESC_ADDR, MSG, true);
  v.setUint32(PvtestRing.DESCS + PvtestRing.DESC_LEN, len, true);
  return b;
}

const ring: ConformCase = {
  ...base, name: 'pvtest ring: set up by MMIO, kicked by a DOORBELL port write, buffer read by DMA', groups: ['doorbell', 'mmio', 'pio'],
  source: 'host devices/pvtest-regs.ts (PvtestRing layout, DOORBELL processes the ring)',
  program: (e) => asmProgram(e.bits, (a) => {
    const b = breg(e.bits);
    setBase(a, e.bits, PVTEST_MMIO);
    a.mov(dword(mem(b, { disp: PvtestReg.RING_BASE_LO })), Number(RING)).mov(dword(mem(b, { disp: PvtestReg.RING_SIZE })), 1);
    a.mov(dword(mem(b, { disp: PvtestReg.CONTROL })), PvtestControl.ENABLE);
    a.mov(dx, PVTEST_PORT + PvtestReg.DOORBELL).mov(eax, 1).insn('out', dx, eax);
    a.mov(eax, mem(b, { disp: PvtestReg.PROCESSED })).mov(mem(Number(LAYOUT.results)), eax);
    a.hlt();
  }, [{ gpa: MSG, bytes: new TextEncoder().encode(TEXT) }, { gpa: RING, bytes: ringBytes(TEXT.length) }]),
  expect: () => ({
    memory: [
      { gpa: LAYOUT.results, bytes: u32le(1), what: 'PROCESSED after the doorbell' },
      { gpa: RING + BigInt(PvtestRing.CONSUMER), bytes: u32le(1), what: 'ring consumer index written by the device' },
    ],
    device: { output: TEXT },
  }),
  // The device writes the consumer index into the ring segment: the same on both backends, so nothing to ignore.
};

export const DEVICE_CASES: ConformCase[] = [pio, mmio, ring];
