// Doorbells as real ioeventfds: eventfd(2) + KVM_IOEVENTFD; the kernel consumes matching guest writes without
// an exit and bumps the eventfd counter, which we read back (and which reading resets, eventfd(2)).
import { specToKvmIoeventfd, type DoorbellSet, type DoorbellSpec } from '../../bus/doorbell.js';
import { encodeKvmIoeventfd } from '../../bus/ioeventfd.js';
import { KVM_IOCTL } from './abi.js';
import { EAGAIN, EFD_CLOEXEC, EFD_NONBLOCK, type Libc } from './native.js';

export interface KvmEventfdHandle {
  readonly spec: DoorbellSpec;
  /** The eventfd (host file descriptor). */
  readonly efd: number;
  /** Signals counted so far (sum of every counter read). */
  total: bigint;
}

export class KvmIoeventfdError extends Error {
  constructor(readonly errno: number, spec: DoorbellSpec, op: string) {
    super(`KVM_IOEVENTFD ${op} ${spec.space} addr 0x${BigInt(spec.addr).toString(16)} len ${spec.len}: errno ${errno}`);
    this.name = 'KvmIoeventfdError';
  }
}

export class KvmIoeventfds {
  readonly list: KvmEventfdHandle[] = [];
  private readonly buf8 = new Uint8Array(8);

  constructor(private readonly libc: Libc, private readonly vmFd: number) {}

  /** The same struct the emulator's DoorbellSet models (specToKvmIoeventfd), with the real eventfd. */
  private args(spec: DoorbellSpec, efd: number, deassign: boolean): Uint8Array {
    return encodeKvmIoeventfd({ ...specToKvmIoeventfd(spec, deassign), fd: efd });
  }

  /** Create an eventfd and register it; throws KvmIoeventfdError with the kernel's errno on refusal. */
  assign(spec: DoorbellSpec): KvmEventfdHandle {
    const l = this.libc;
    const efd = l.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0) throw new Error(`eventfd failed: errno ${l.errno()}`);
    if (l.ioctlPtr(this.vmFd, KVM_IOCTL.IOEVENTFD, this.args(spec, efd, false)) < 0) {
      const e = l.errno();
      l.close(efd);
      throw new KvmIoeventfdError(e, spec, 'assign');
    }
    const h: KvmEventfdHandle = { spec, efd, total: 0n };
    this.list.push(h);
    return h;
  }

  /** Register every doorbell of a DoorbellSet (the same specs the emulator's router consumes). */
  mirror(set: DoorbellSet): KvmEventfdHandle[] {
    return set.list().filter((d) => d.space !== 'ccw').map((d) => this.assign({
      space: d.space as 'pio' | 'mmio', addr: d.addr, len: d.len, ...(d.datamatch !== undefined ? { datamatch: d.datamatch } : {}), fd: d.fd,
    }));
  }

  /** Read (and reset) the eventfd counter: signals since the last read. Adds to `total`. */
  read(h: KvmEventfdHandle): bigint {
    const n = this.libc.read(h.efd, this.buf8, 8);
    if (n !== 8) {
      const e = this.libc.errno();
      if (e === EAGAIN) return 0n; // counter is zero (EFD_NONBLOCK)
      throw new Error(`read(eventfd ${h.efd}) failed: errno ${e}`);
    }
    const c = new DataView(this.buf8.buffer).getBigUint64(0, true);
    h.total += c;
    return c;
  }

  deassign(h: KvmEventfdHandle): void {
    const i = this.list.indexOf(h);
    if (i < 0) throw new Error('KvmIoeventfds.deassign: not registered here');
    if (this.libc.ioctlPtr(this.vmFd, KVM_IOCTL.IOEVENTFD, this.args(h.spec, h.efd, true)) < 0) {
      throw new KvmIoeventfdError(this.libc.errno(), h.spec, 'deassign');
    }
    this.libc.close(h.efd);
    this.list.splice(i, 1);
  }

  closeAll(): void {
    for (const h of this.list) this.libc.close(h.efd);
    this.list.length = 0;
  }
}
