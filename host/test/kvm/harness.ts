// Shared setup for the real-KVM tests: probe once whether a KVM VM can be built here (koffi + /dev/kvm), and
// load the same guest bytes into a KvmVm and an emulator Vm with identical RAM and entry state.
import { createKvmVm, detectKvmBackend, type KvmVm, type KvmVmOptions } from '../../src/backends/kvm/index.js';
import { Vm, type VmOptions } from '../../src/vm.js';
import type { IoRouter, IoSize, PioDevice } from '../../src/bus/types.js';

export const RAM = 0x100000;
export const CODE = 0x1000;
export const STACK_TOP = 0x80000;

async function probe(): Promise<string | undefined> {
  const r = await createKvmVm({ memory: [{ gpa: 0n, size: 0x1000 }] });
  if ('unavailable' in r) return r.unavailable;
  r.close();
  return undefined;
}

/** undefined = real KVM usable here; else the reason tests skip. */
export const kvmMissing = await probe();
if (kvmMissing !== undefined) console.warn(`kvm-backend tests: skipping real-KVM cases: ${kvmMissing}`);
export const backend = detectKvmBackend();

/** A KvmVm with RAM [0, RAM), `code` at CODE, RIP = CODE, RSP = STACK_TOP. */
export async function kvmWith(code: Uint8Array, opts: KvmVmOptions = {}): Promise<KvmVm> {
  const r = await createKvmVm({ memory: [{ gpa: 0n, size: RAM }], ...opts });
  if ('unavailable' in r) throw new Error(`KVM unavailable: ${r.unavailable}`);
  r.writeBytes(CODE, code);
  for (const v of r.vcpus) {
    v.rip = BigInt(CODE);
    v.setReg('rsp', BigInt(STACK_TOP - 0x1000 * v.id));
  }
  return r;
}

/** The emulator twin: same RAM size, code, RIP and RSP. */
export function emuWith(code: Uint8Array, opts: VmOptions = {}): Vm {
  const vm = new Vm(opts);
  vm.memory.addRam(0, RAM, 'ram');
  vm.memory.writeBytes(CODE, code);
  for (const v of vm.vcpus) {
    v.rip = BigInt(CODE);
    v.setReg('rsp', BigInt(STACK_TOP - 0x1000 * v.id));
  }
  return vm;
}

/** A port device that records every access and answers reads from a script (then a counter). */
export class RecordingPio implements PioDevice {
  readonly name = 'recording-pio';
  readonly log: string[] = [];
  private n = 0;
  constructor(private readonly answers: number[] = []) {}
  read(offset: number, size: IoSize): number {
    const v = (this.answers[this.n] ?? 0x100 + this.n) & (size === 4 ? 0xffffffff : (1 << (8 * size)) - 1);
    this.n++;
    this.log.push(`in ${offset}/${size} -> 0x${(v >>> 0).toString(16)}`);
    return v >>> 0;
  }
  write(offset: number, size: IoSize, value: number): void {
    this.log.push(`out ${offset}/${size} = 0x${(value >>> 0).toString(16)}`);
  }
}

export type { IoRouter };

/** An MMIO device that records every access and answers reads with a script (then a pattern). */
export class RecordingMmio {
  readonly name = 'recording-mmio';
  readonly log: string[] = [];
  private n = 0;
  constructor(private readonly answers: bigint[] = []) {}
  read(offset: bigint, size: 1 | 2 | 4 | 8): bigint {
    const mask = (1n << BigInt(8 * size)) - 1n;
    const v = (this.answers[this.n] ?? 0x0102030405060708n * BigInt(this.n + 1)) & mask;
    this.n++;
    this.log.push(`read 0x${offset.toString(16)}/${size} -> 0x${v.toString(16)}`);
    return v;
  }
  write(offset: bigint, size: 1 | 2 | 4 | 8, value: bigint): void {
    this.log.push(`write 0x${offset.toString(16)}/${size} = 0x${value.toString(16)}`);
  }
}

export const GPRS64 = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;
