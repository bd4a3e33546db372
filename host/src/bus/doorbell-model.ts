// The doorbell model shared by DoorbellSet: a doorbell, its KVM_IOEVENTFD spec and state, and the kernel's
// per-write rules (repo:torvalds/linux virt/kvm/eventfd.c ioeventfd_in_range, ioeventfd_bus_from_flags).
import {
  LINUX_EEXIST,
  LINUX_EINVAL,
  LINUX_ENOENT,
  KVM_IOEVENTFD_FLAG_DATAMATCH,
  KVM_IOEVENTFD_FLAG_DEASSIGN,
  KVM_IOEVENTFD_FLAG_PIO,
  KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY,
  type KvmIoeventfd,
} from './ioeventfd.js';

/** kvm_bus chosen by ioeventfd_bus_from_flags(): PIO flag -> PIO bus, else CCW flag -> CCW bus, else MMIO bus. */
export type DoorbellSpace = 'pio' | 'mmio' | 'ccw';

/** How a signal was delivered: a port write, an MMIO write completed without decode, or an emulated MMIO write. */
export type DoorbellPath = 'pio' | 'mmio-fast' | 'mmio-full';

export interface DoorbellSignal {
  readonly doorbell: Doorbell;
  readonly path: DoorbellPath;
  readonly addr: bigint;
  /** Bytes written; 0 on the fast path, where KVM never looks at the access (kvm_io_bus_write(..., 0, NULL)). */
  readonly size: number;
  /** Value written; undefined on the fast path (the data is never read). */
  readonly value: bigint | undefined;
}

export type DoorbellCallback = (signal: DoorbellSignal) => void;

export interface DoorbellSpec {
  readonly space: 'pio' | 'mmio';
  readonly addr: bigint | number;
  /** 1/2/4/8, or 0 = any length (KVM_CAP_IOEVENTFD_ANY_LENGTH). Other values give -EINVAL, as in the kernel. */
  readonly len: number;
  /** Present = KVM_IOEVENTFD_FLAG_DATAMATCH; absent = wildcard. */
  readonly datamatch?: bigint;
  /** Opaque eventfd identity (default 0); deassign must name the same one. */
  readonly fd?: number;
  readonly onSignal?: DoorbellCallback;
}

export class Doorbell {
  signals = 0;
  fastSignals = 0;
  fullSignals = 0;
  pioSignals = 0;
  /** datamatch as u32 halves (0 when wildcard), so number-valued writes compare without a bigint. */
  readonly dmLo: number;
  readonly dmHi: number;
  constructor(
    readonly space: DoorbellSpace,
    readonly addr: bigint,
    readonly len: number,
    /** undefined = wildcard (no DATAMATCH flag). */
    readonly datamatch: bigint | undefined,
    readonly fd: number,
    public onSignal: DoorbellCallback | undefined,
  ) {
    // kvm_ioeventfd.datamatch is a __u64 (checkKvmIoeventfd), so the two halves hold it exactly.
    const dm = datamatch ?? 0n;
    this.dmLo = Number(dm & 0xffffffffn);
    this.dmHi = Number((dm >> 32n) & 0xffffffffn);
  }

  get wildcard(): boolean {
    return this.datamatch === undefined;
  }

  /** True if the doorbell is also on the fast-MMIO list (kvm_assign_ioeventfd: `!args->len && bus_idx == KVM_MMIO_BUS`). */
  get fast(): boolean {
    return this.len === 0 && this.space === 'mmio';
  }

  describe(): string {
    const dm = this.datamatch === undefined ? 'any value' : `value 0x${this.datamatch.toString(16)}`;
    return `${this.space} doorbell at 0x${this.addr.toString(16)} len ${this.len === 0 ? 'any' : this.len}, ${dm}, fd ${this.fd}`;
  }
}

export type IoeventfdErrorCode = 'EINVAL' | 'EEXIST' | 'ENOENT';

export type IoeventfdResult =
  | { readonly ok: true; readonly errno: 0; readonly doorbell: Doorbell }
  | { readonly ok: false; readonly errno: number; readonly code: IoeventfdErrorCode; readonly reason: string };

const ERRNO: Record<IoeventfdErrorCode, number> = { EINVAL: -LINUX_EINVAL, EEXIST: -LINUX_EEXIST, ENOENT: -LINUX_ENOENT };

/** Internal to bus/: a refused ioctl with the kernel errno. */
export function fail(code: IoeventfdErrorCode, reason: string): IoeventfdResult {
  return { ok: false, errno: ERRNO[code], code, reason };
}

export const U64_MOD = 1n << 64n;
export const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

const SIZE_MASK: readonly bigint[] = [0n, 0xffn, 0xffffn, 0xffffffn, 0xffffffffn];

export function sizeMask(size: number): bigint {
  return size <= 4 ? SIZE_MASK[size]! : (1n << BigInt(size * 8)) - 1n;
}

export function specToKvmIoeventfd(spec: DoorbellSpec, deassign = false): KvmIoeventfd {
  let flags = 0;
  if (spec.space === 'pio') flags |= KVM_IOEVENTFD_FLAG_PIO;
  if (spec.datamatch !== undefined) flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
  if (deassign) flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
  return {
    datamatch: spec.datamatch ?? 0n,
    addr: typeof spec.addr === 'bigint' ? spec.addr : BigInt(spec.addr),
    len: spec.len,
    fd: spec.fd ?? 0,
    flags,
  };
}

export interface DoorbellState {
  readonly space: DoorbellSpace;
  /** Hex string, e.g. "0xfe003000". */
  readonly addr: string;
  readonly len: number;
  /** Hex string; absent = wildcard. */
  readonly datamatch?: string;
  readonly fd: number;
  readonly signals: number;
  readonly fastSignals: number;
  readonly fullSignals: number;
  readonly pioSignals: number;
}

export function busFromFlags(flags: number): DoorbellSpace {
  if (flags & KVM_IOEVENTFD_FLAG_PIO) return 'pio';
  if (flags & KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY) return 'ccw';
  return 'mmio';
}

/** ioeventfd_in_range (address already equal): len 0 hits always; else size must equal; then wildcard or data. */
export function inRange(p: Doorbell, size: number, value: bigint): boolean {
  if (p.len === 0) return true;
  if (size !== p.len) return false;
  if (p.datamatch === undefined) return true;
  // The kernel compares the zero-extended written value with the full u64 datamatch: a datamatch wider than
  // `len` bytes can never match.
  return value === p.datamatch;
}

export function count(p: Doorbell, path: DoorbellPath): void {
  p.signals++;
  if (path === 'mmio-fast') p.fastSignals++;
  else if (path === 'mmio-full') p.fullSignals++;
  else p.pioSignals++;
}

export function signal(p: Doorbell, path: DoorbellPath, addr: bigint, size: number, value: bigint | undefined): void {
  count(p, path);
  p.onSignal?.({ doorbell: p, path, addr, size, value });
}
