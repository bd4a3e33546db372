// The pvio register-access fallback against the host's pvkit test device: the same sequence of
// pvkit_reg_* / pvkit_port_* calls with the pvio MMIO/PIO features advertised (the hypercall hook routes
// each call to the router's MMIO/PIO bus), with them cleared (plain MOV / IN / OUT), and with them
// advertised but withdrawn by the host (-ENOSYS: the stub falls back) must leave the device with the same
// trace and return the same values.
import { describe, expect, it } from 'vitest';
import { PVIO_HC, PVIO_STATUS, decodePvioDesc, pvioAbi } from '@pvkit/shared-abi';
import { generateStubs } from '@pvkit/guest-sdk';
import { IoBusRouter, PVTEST_ID_VALUE, PVTEST_VERSION_VALUE, PvTestDevice, PvtestReg, type HypervisorHooks, type IoSize, type MmioSize, type Vendor } from '@pvkit/host';
import { IMAGE, StubVm, abiCpuid } from './support/stubs-vm.js';

const MMIO = 0x200000n;
const PORT = 0x3000;
const BUF = 0x30000n;
const PVIO_BASE = 0x40000100;
type Mode = 'hypercall' | 'plain' | 'withdrawn';

function run(bits: 64 | 32, vendor: Vendor, mode: Mode) {
  const g = generateStubs({ abi: pvioAbi, strategy: 'dispatch', bits, origin: IMAGE });
  let sv: StubVm | undefined;
  const dev = new PvTestDevice('pvtest', { readBytes: (a, n) => sv!.vm.memory.readBytes(a, n), writeBytes: (a, d) => sv!.vm.memory.writeBytes(a, d) });
  const router = new IoBusRouter();
  router.mmio.register(MMIO, 0x40n, dev.mmio);
  router.pio.register(PORT, 0x40, dev.pio);
  let hypercalls = 0;
  const hooks: HypervisorHooks = {
    cpuid: abiCpuid([{ abi: pvioAbi, base: PVIO_BASE, features: mode === 'plain' ? [] : ['PVIO_FEATURE_MMIO_HCALL', 'PVIO_FEATURE_PIO_HCALL'] }], vendor),
    hypercall(v) {
      hypercalls++;
      const w = bits === 64;
      const nr = Number(v.getReg('rax') & 0xffffffffn);
      const desc = w ? v.getReg('rbx') : ((v.getReg('rcx') & 0xffffffffn) << 32n) | (v.getReg('rbx') & 0xffffffffn);
      const data = w ? v.getReg('rcx') : ((v.getReg('rsi') & 0xffffffffn) << 32n) | (v.getReg('rdx') & 0xffffffffn);
      const status = (s: number) => v.setReg('rax', BigInt.asUintN(bits, BigInt(-s)));
      if (mode === 'withdrawn') return status(PVIO_STATUS.ENOSYS), 'handled';
      const d = decodePvioDesc(desc);
      expect(nr).toBe(d.space === 'pio' ? PVIO_HC.PIO : PVIO_HC.MMIO);
      let out = 0n;
      if (d.space === 'mmio') {
        if (d.write) router.mmioWrite(d.address, d.size as MmioSize, data);
        else out = router.mmioRead(d.address, d.size as MmioSize)!;
      } else if (d.write) router.pioWrite(Number(d.address), d.size as IoSize, Number(data));
      else out = BigInt(router.pioRead(Number(d.address), d.size as IoSize)!);
      if (w) v.setReg('rcx', out);
      else {
        v.setReg('rdx', out & 0xffffffffn);
        v.setReg('rsi', out >> 32n);
      }
      status(0);
      return 'handled';
    },
  };
  sv = new StubVm(g, { vendor, hooks, router, mmio: [{ gpa: MMIO, size: 0x1000 }] });
  expect(Number(sv.call('pvkit_pvio_detect', [BUF]).ret & 0xffffffffn)).toBe(PVIO_BASE);
  sv.call('pvkit_pvio_fallback_init', [BUF]);
  dev.pushInput([0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f]);
  const results: bigint[] = [];
  const clobbered: string[] = [];
  const c = (sym: string, ...args: bigint[]) => {
    const r = sv!.call(sym, args);
    expect(r.exit.kind, sym).toBe('Hlt');
    clobbered.push(...r.clobbered.map((x) => `${sym}: ${x}`));
    results.push(sym.includes('read') ? r.ret & 0xffffffffn & (sym.endsWith('64') ? (1n << 64n) - 1n : 0xffffffffn) : 0n);
    if (sym.endsWith('64') && sym.includes('read')) results[results.length - 1] = r.ret;
  };
  const m = (off: number) => MMIO + BigInt(off);
  const p = (off: number) => BigInt(PORT + off);
  c('pvkit_reg_read32', m(PvtestReg.ID));
  c('pvkit_reg_read32', m(PvtestReg.VERSION));
  c('pvkit_reg_read16', m(PvtestReg.DATA_IN));
  c('pvkit_reg_write8', m(PvtestReg.DATA_OUT), 0x41n);
  c('pvkit_reg_write16', m(PvtestReg.DATA_OUT), 0x4342n);
  c('pvkit_reg_write32', m(PvtestReg.DATA_OUT), 0x47464544n);
  c('pvkit_reg_read8', m(PvtestReg.IN_COUNT));
  c('pvkit_reg_read8', m(PvtestReg.DATA_IN));
  c('pvkit_port_read32', p(PvtestReg.ID));
  c('pvkit_port_write8', p(PvtestReg.DATA_OUT), 0x48n);
  c('pvkit_port_write16', p(PvtestReg.DATA_OUT), 0x4a49n);
  c('pvkit_port_write32', p(PvtestReg.RING_SIZE), 4n);
  c('pvkit_port_read16', p(PvtestReg.DATA_IN));
  c('pvkit_port_read8', p(PvtestReg.IN_COUNT));
  if (bits === 64) {
    c('pvkit_reg_write64', m(PvtestReg.RING_BASE_LO), 0x1122_3344_5566_7000n);
    c('pvkit_reg_read64', m(PvtestReg.RING_BASE_LO));
  }
  return { results, trace: dev.trace.slice(), output: dev.outputText(), hypercalls, clobbered, calls: results.length };
}

describe('pvio fallback: same device trace with the hypercall, the plain access, and a withdrawn feature', () => {
  for (const bits of [64, 32] as const) {
    for (const vendor of ['intel', 'amd'] as const) {
      it(`${bits}-bit ${vendor}`, () => {
        const hc = run(bits, vendor, 'hypercall');
        const plain = run(bits, vendor, 'plain');
        const gone = run(bits, vendor, 'withdrawn');
        expect(hc.clobbered).toEqual([]);
        expect(plain.clobbered).toEqual([]);
        expect(gone.clobbered).toEqual([]);
        expect(hc.hypercalls).toBe(hc.calls); // one hypercall per access
        expect(plain.hypercalls).toBe(0);
        expect(gone.hypercalls).toBe(gone.calls);
        expect(hc.results[0]).toBe(BigInt(PVTEST_ID_VALUE));
        expect(hc.results[1]).toBe(BigInt(PVTEST_VERSION_VALUE));
        expect(hc.output).toBe('ABCDEFGHIJ');
        if (bits === 64) expect(hc.results[hc.results.length - 1]).toBe(0x1122_3344_5566_7000n);
        expect(plain.results).toEqual(hc.results);
        expect(gone.results).toEqual(hc.results);
        expect(plain.trace).toEqual(hc.trace);
        expect(gone.trace).toEqual(hc.trace);
        expect(hc.trace.length).toBe(hc.calls);
      });
    }
  }
});
