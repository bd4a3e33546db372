// KVM_IOEVENTFD as data: the flag word, struct kvm_ioeventfd fields, the errno values the ioctl returns.
// Sources: deb:linux-libc-dev linux/kvm.h (flags, struct, caps), asm-generic/errno-base.h (errno values),
// repo:torvalds/linux virt/kvm/eventfd.c (validation order and semantics, see doorbell.ts).
import { AbiError, type Problem } from '@pvkit/shared-abi';

// linux/kvm.h enum { kvm_ioeventfd_flag_nr_datamatch, _pio, _deassign, _virtio_ccw_notify, _fast_mmio, _max }
export const KVM_IOEVENTFD_FLAG_NR_DATAMATCH = 0;
export const KVM_IOEVENTFD_FLAG_NR_PIO = 1;
export const KVM_IOEVENTFD_FLAG_NR_DEASSIGN = 2;
export const KVM_IOEVENTFD_FLAG_NR_VIRTIO_CCW_NOTIFY = 3;
/** Only an enum slot: no FLAG_FAST_MMIO macro exists, but the bit is inside the valid mask (accepted, ignored). */
export const KVM_IOEVENTFD_FLAG_NR_FAST_MMIO = 4;
export const KVM_IOEVENTFD_FLAG_NR_MAX = 5;

// linux/kvm.h KVM_IOEVENTFD_FLAG_* = 1 << kvm_ioeventfd_flag_nr_*
export const KVM_IOEVENTFD_FLAG_DATAMATCH = 1 << KVM_IOEVENTFD_FLAG_NR_DATAMATCH;
export const KVM_IOEVENTFD_FLAG_PIO = 1 << KVM_IOEVENTFD_FLAG_NR_PIO;
export const KVM_IOEVENTFD_FLAG_DEASSIGN = 1 << KVM_IOEVENTFD_FLAG_NR_DEASSIGN;
export const KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY = 1 << KVM_IOEVENTFD_FLAG_NR_VIRTIO_CCW_NOTIFY;
// linux/kvm.h KVM_IOEVENTFD_VALID_FLAG_MASK ((1 << kvm_ioeventfd_flag_nr_max) - 1) = 0x1f
export const KVM_IOEVENTFD_VALID_FLAG_MASK = (1 << KVM_IOEVENTFD_FLAG_NR_MAX) - 1;

// linux/kvm.h capabilities
export const KVM_CAP_IOEVENTFD = 36;
export const KVM_CAP_IOEVENTFD_NO_LENGTH = 100;
export const KVM_CAP_IOEVENTFD_ANY_LENGTH = 122;

// asm-generic/errno-base.h ENOENT/EEXIST/EINVAL; the ioctl returns them negated.
export const LINUX_ENOENT = 2;
export const LINUX_EEXIST = 17;
export const LINUX_EINVAL = 22;

/** struct kvm_ioeventfd { __u64 datamatch; __u64 addr; __u32 len; __s32 fd; __u32 flags; __u8 pad[36]; } (64 bytes). */
export interface KvmIoeventfd {
  readonly datamatch: bigint;
  readonly addr: bigint;
  readonly len: number;
  /** An opaque eventfd identity: deassign must name the same fd (eventfd.c compares p->eventfd). */
  readonly fd: number;
  readonly flags: number;
}

export const KVM_IOEVENTFD_STRUCT_SIZE = 64; // 8 + 8 + 4 + 4 + 4 + 36

const U64_MAX = (1n << 64n) - 1n;

/** Reject values the C struct could not hold (a JS-side type error, not a kernel errno). */
export function checkKvmIoeventfd(a: KvmIoeventfd): void {
  const problems: Problem[] = [];
  const u64 = (path: string, v: unknown): void => {
    if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) {
      problems.push({ path, value: v, message: 'must be a bigint in [0, 2^64) (__u64)' });
    }
  };
  const int = (path: string, v: unknown, lo: number, hi: number, type: string): void => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
      problems.push({ path, value: v, message: `must be an integer in [${lo}, ${hi}] (${type})` });
    }
  };
  u64('kvm_ioeventfd.datamatch', a.datamatch);
  u64('kvm_ioeventfd.addr', a.addr);
  int('kvm_ioeventfd.len', a.len, 0, 0xffffffff, '__u32');
  int('kvm_ioeventfd.fd', a.fd, -0x80000000, 0x7fffffff, '__s32');
  int('kvm_ioeventfd.flags', a.flags, 0, 0xffffffff, '__u32');
  if (problems.length > 0) throw new AbiError(problems);
}

/** Encode to the 64-byte little-endian struct (e.g. for a real KVM backend's ioctl). */
export function encodeKvmIoeventfd(a: KvmIoeventfd): Uint8Array {
  checkKvmIoeventfd(a);
  const out = new Uint8Array(KVM_IOEVENTFD_STRUCT_SIZE);
  const v = new DataView(out.buffer);
  v.setBigUint64(0, a.datamatch, true);
  v.setBigUint64(8, a.addr, true);
  v.setUint32(16, a.len, true);
  v.setInt32(20, a.fd, true);
  v.setUint32(24, a.flags, true);
  return out;
}

export function decodeKvmIoeventfd(bytes: Uint8Array): KvmIoeventfd {
  if (bytes.length < KVM_IOEVENTFD_STRUCT_SIZE) {
    throw new AbiError([
      { path: 'kvm_ioeventfd', value: bytes.length, message: `needs ${KVM_IOEVENTFD_STRUCT_SIZE} bytes` },
    ]);
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    datamatch: v.getBigUint64(0, true),
    addr: v.getBigUint64(8, true),
    len: v.getUint32(16, true),
    fd: v.getInt32(20, true),
    flags: v.getUint32(24, true),
  };
}
