// Demo step: one device, every transport. The same four register accesses to the pvkit test device (write 'h',
// write 'i' to DATA_OUT, read ID, ring the DOORBELL) go through port I/O, trapped MMIO, an ioeventfd-style
// doorbell, the pvio MMIO and PIO hypercalls and the Hyper-V MMIO hypercall. The device sees the same trace;
// what differs is the exits, which the cost model prices with published cycle counts.
import { COST_KINDS, CostModel, PvtestReg, type CounterSnapshot } from '@pvkit/host';
import { hypervAbi, pvioAbi } from '@pvkit/shared-abi';
import { PVTEST_MMIO, PVTEST_PORT, type AbiRequest } from '../run/machine.js';
import { columns, SCRATCH, stage, type Stage } from './stage.js';

type Access = { reg: number; size: 1 | 4; write?: number };
const SEQUENCE: Access[] = [
  { reg: PvtestReg.DATA_OUT, size: 1, write: 0x68 },
  { reg: PvtestReg.DATA_OUT, size: 1, write: 0x69 },
  { reg: PvtestReg.ID, size: 4 },
  { reg: PvtestReg.DOORBELL, size: 4, write: 1 },
];

interface Transport {
  readonly name: string;
  readonly abis: readonly AbiRequest[];
  /** Issue one access from the guest (through generated stubs). */
  access(s: Stage, a: Access): void;
  setup?(s: Stage): void;
}

const HV_IN = 0x9_0000n; // Hyper-V parameter pages (8-byte aligned, no page straddle: TLFS alignment rules)
const HV_OUT = 0x9_1000n;
const HV_PAGE = 0x9_2000n;

/** pvio fallback stubs, told by the detection result whether the pvio hypercalls are there. */
function pvioSetup(s: Stage): void {
  s.call('pvio', 'pvkit_pvio_detect', [SCRATCH]);
  s.call('pvio', 'pvkit_pvio_fallback_init', [SCRATCH]);
}
const viaPort = (s: Stage, a: Access) =>
  a.write === undefined ? s.call('pvio', `pvkit_port_read${a.size * 8}`, [BigInt(PVTEST_PORT + a.reg)])
    : s.call('pvio', `pvkit_port_write${a.size * 8}`, [BigInt(PVTEST_PORT + a.reg), BigInt(a.write)]);
const viaMmio = (s: Stage, a: Access) =>
  a.write === undefined ? s.call('pvio', `pvkit_reg_read${a.size * 8}`, [PVTEST_MMIO + BigInt(a.reg)])
    : s.call('pvio', `pvkit_reg_write${a.size * 8}`, [PVTEST_MMIO + BigInt(a.reg), BigInt(a.write)]);

const TRANSPORTS: Transport[] = [
  { name: 'port I/O (in/out)', abis: [], setup: pvioSetup, access: viaPort },
  { name: 'MMIO (mov, decoded + emulated)', abis: [], setup: pvioSetup, access: viaMmio },
  {
    name: 'MMIO + doorbell (ioeventfd, EPT)', abis: [], access: viaMmio,
    setup(s) {
      pvioSetup(s);
      const r = s.m.router.doorbells.assign({ space: 'mmio', addr: PVTEST_MMIO + BigInt(PvtestReg.DOORBELL), len: 0, onSignal: () => s.m.pvtest.notify() });
      if (!r.ok) throw new Error(`doorbell: ${r.reason}`);
    },
  },
  { name: 'pvio MMIO hypercall', abis: [{ name: 'pvio' }], setup: pvioSetup, access: viaMmio },
  { name: 'pvio PIO hypercall', abis: [{ name: 'pvio' }], setup: pvioSetup, access: viaPort },
  {
    name: 'Hyper-V MMIO hypercall (0x0106/7)', abis: [{ name: 'hyperv' }],
    setup(s) {
      s.call('hyperv', 'pvkit_hyperv_detect', [SCRATCH]);
      // Guest OS ID: open source (bit 63), Linux (OS type 1 << 56); then the hypercall page (TLFS setup sequence).
      s.call('hyperv', 'pvkit_hyperv_hcpage_setup', [0x40000000n, HV_PAGE, HV_PAGE, (1n << 63n) | (1n << 56n)]);
    },
    access(s, a) {
      // HV_INPUT_MEMORY_MAPPED_IO_{READ,WRITE}: u64 gpa; u32 size; u32 reserved; (write) u8 data[64]
      const block = new Uint8Array(a.write === undefined ? 16 : 80);
      const dv = new DataView(block.buffer);
      dv.setBigUint64(0, PVTEST_MMIO + BigInt(a.reg), true);
      dv.setUint32(8, a.size, true);
      if (a.write !== undefined) dv.setUint32(16, a.write, true);
      s.m.vm.memory.writeBytes(HV_IN, block);
      const r = s.call('hyperv', a.write === undefined ? 'pvkit_hyperv_hvcall_mmio_read' : 'pvkit_hyperv_hvcall_mmio_write', [HV_IN, HV_OUT]);
      if ((r.ret & 0xffffn) !== 0n) throw new Error(`Hyper-V MMIO hypercall status 0x${(r.ret & 0xffffn).toString(16)}`);
    },
  },
];

const cyclesOf = (model: CostModel, d: Partial<Record<string, number>>) =>
  COST_KINDS.reduce((sum, k) => sum + (d[k] ?? 0) * model.cycles(k), 0);

export function transportsDemo(): string[] {
  const model = new CostModel();
  const rows: string[][] = [];
  let reference: string | undefined;
  let allSame = true;
  for (const t of TRANSPORTS) {
    const s = stage({
      abis: t.abis,
      stubs: [{ abi: pvioAbi, strategy: 'dispatch' }, { abi: hypervAbi, strategy: 'hcpage' }],
      vendor: 'intel', bits: 64,
    });
    t.setup?.(s);
    s.m.pvtest.trace.length = 0;
    const before: CounterSnapshot = s.m.counters.snapshot();
    for (const a of SEQUENCE) t.access(s, a);
    const after = s.m.counters.snapshot();
    const delta: Record<string, number> = {};
    for (const k of COST_KINDS) if (after[k] - before[k]) delta[k] = after[k] - before[k];
    const trace = s.m.pvtest.trace.map((e) => (e.op === 'notify' ? 'notify' : `${e.op}@${e.offset.toString(16)}=${e.value.toString(16)}`)).join(' ');
    reference ??= trace;
    const same = trace === reference;
    allSame &&= same;
    const cyc = cyclesOf(model, delta) / SEQUENCE.length;
    rows.push([
      t.name,
      JSON.stringify(s.m.pvtest.outputText()),
      same ? 'same' : 'DIFFERENT',
      Object.entries(delta).map(([k, n]) => `${k}:${n}`).join(' '),
      String(Math.round(cyc)),
      `${((cyc * 10_000) / 3e9 * 100).toFixed(2)} %`,
    ]);
  }
  return [
    'One device, every transport (pvkit test device: write "h", "i" to DATA_OUT, read ID, ring DOORBELL)',
    ...columns(['transport', 'output', 'device trace', 'exits (4 accesses)', 'cycles/access', 'CPU at 10k/s, 3 GHz'], rows),
    `  device-visible trace identical across all transports: ${allSame ? 'yes' : 'NO'}`,
    `  trace: ${reference}`,
    '  cycles: default cost table from published exit costs (kvm-unit-tests vmexit.c and list posts; see host/src/cost)',
  ];
}
