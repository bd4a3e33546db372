// A recording IoRouter for tests: port reads return a sequence, MMIO is a byte array at a base address.
import type { IoRouter, IoSize, MmioSize } from '../src/bus/types.js';

export interface IoEvent {
  readonly op: 'pioRead' | 'pioWrite' | 'mmioRead' | 'mmioWrite';
  readonly addr: number | bigint;
  readonly size: number;
  readonly value: number | bigint;
}

export class FakeRouter implements IoRouter {
  readonly events: IoEvent[] = [];
  private seq = 0;
  /** Device memory for MMIO at [mmioBase, mmioBase + mmio.length). */
  readonly mmio: Uint8Array;
  constructor(readonly mmioBase = 0xfee00000n, mmioSize = 0x1000, readonly claimPorts = true) {
    this.mmio = new Uint8Array(mmioSize);
  }
  /** Value the n-th port read returns (before masking to the access size). */
  static portValue(n: number): number {
    return (0xa1b2c3d4 + n * 0x01010101) >>> 0;
  }
  pioRead(port: number, size: IoSize): number | undefined {
    if (!this.claimPorts) return undefined;
    const v = FakeRouter.portValue(this.seq++) & (size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff);
    this.events.push({ op: 'pioRead', addr: port, size, value: v >>> 0 });
    return v >>> 0;
  }
  pioWrite(port: number, size: IoSize, value: number): boolean {
    if (!this.claimPorts) return false;
    this.events.push({ op: 'pioWrite', addr: port, size, value });
    return true;
  }
  private inRange(gpa: bigint, size: number): boolean {
    return gpa >= this.mmioBase && gpa + BigInt(size) <= this.mmioBase + BigInt(this.mmio.length);
  }
  mmioRead(gpa: bigint, size: MmioSize): bigint | undefined {
    if (!this.inRange(gpa, size)) return undefined;
    let v = 0n;
    const off = Number(gpa - this.mmioBase);
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.mmio[off + i]!);
    this.events.push({ op: 'mmioRead', addr: gpa, size, value: v });
    return v;
  }
  mmioWrite(gpa: bigint, size: MmioSize, value: bigint): boolean {
    if (!this.inRange(gpa, size)) return false;
    const off = Number(gpa - this.mmioBase);
    for (let i = 0; i < size; i++) this.mmio[off + i] = Number((value >> BigInt(8 * i)) & 0xffn);
    this.events.push({ op: 'mmioWrite', addr: gpa, size, value });
    return true;
  }
}
