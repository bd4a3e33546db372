// kvmclock arithmetic: the TSC -> nanoseconds scale as KVM computes it, and the pvclock structures it writes.
// Sources: arch/x86/kvm/x86.c kvm_get_time_scale, kvm_setup_guest_pvclock; Documentation/virt/kvm/x86/msr.rst.
import { PVCLOCK_VCPU_TIME_INFO, PVCLOCK_WALL_CLOCK, KVM_CLOCK_PAIRING_STRUCT, PVCLOCK_FLAGS, pvclockNs } from '@pvkit/shared-abi';
import { packStruct } from './common.js';

const NSEC_PER_SEC = 1_000_000_000n;
const HI32 = 0xffffffff00000000n;

/** x86.c kvm_get_time_scale(scaled_hz, base_hz): shift and 32.32 multiplier with ns = ((tsc << shift) * mul) >> 32. */
export function kvmTimeScale(scaledHz: bigint, baseHz: bigint): { shift: number; mul: number } {
  let tps64 = baseHz;
  let scaled64 = scaledHz;
  let shift = 0;
  while (tps64 > scaled64 * 2n || (tps64 & HI32) !== 0n) {
    tps64 >>= 1n;
    shift--;
  }
  let tps32 = tps64 & 0xffffffffn;
  while (tps32 <= scaled64 || (scaled64 & HI32) !== 0n) {
    if ((scaled64 & HI32) !== 0n || (tps32 & 0x80000000n) !== 0n) scaled64 >>= 1n;
    else tps32 <<= 1n;
    shift++;
  }
  // div_frac(scaled64, tps32) = (scaled64 << 32) / tps32
  return { shift, mul: Number((scaled64 << 32n) / tps32) };
}

export interface KvmClockConfig {
  /** Guest TSC frequency in Hz (the TSC is the count of retired instructions). Default 1 GHz. */
  tscHz: bigint;
  /** Wall-clock time at TSC 0, in ns since the epoch. */
  bootWallNs: bigint;
  /** PVCLOCK_TSC_STABLE_BIT in flags (KVM sets it with a stable master clock). */
  stable: boolean;
}

export class KvmClock {
  readonly scale: { shift: number; mul: number };
  constructor(readonly cfg: KvmClockConfig) {
    if (cfg.tscHz <= 0n) throw new RangeError(`kvm clock: tscHz must be positive (got ${cfg.tscHz})`);
    this.scale = kvmTimeScale(NSEC_PER_SEC, cfg.tscHz);
  }

  /** ns since boot at a TSC value, by the same formula the guest uses (so guest and host agree exactly). */
  ns(tsc: bigint): bigint {
    return pvclockNs({ tscTimestamp: 0n, systemTime: 0n, tscToSystemMul: this.scale.mul, tscShift: this.scale.shift }, tsc);
  }

  /** struct pvclock_vcpu_time_info for an update at `tsc` with an even `version`. */
  timeInfo(tsc: bigint, version: number): Uint8Array {
    return packStruct(PVCLOCK_VCPU_TIME_INFO, {
      version, tsc_timestamp: tsc, system_time: this.ns(tsc), tsc_to_system_mul: this.scale.mul,
      tsc_shift: this.scale.shift, flags: this.cfg.stable ? PVCLOCK_FLAGS.TSC_STABLE_BIT : 0,
    });
  }

  /** struct pvclock_wall_clock: the wall time at system_time 0 (x86.c kvm_write_wall_clock). */
  wallClock(version: number): Uint8Array {
    return packStruct(PVCLOCK_WALL_CLOCK, {
      version, sec: this.cfg.bootWallNs / NSEC_PER_SEC, nsec: this.cfg.bootWallNs % NSEC_PER_SEC,
    });
  }

  /** struct kvm_clock_pairing at `tsc` (x86.c kvm_pv_clock_pairing: flags 0). */
  pairing(tsc: bigint): Uint8Array {
    const wall = this.cfg.bootWallNs + this.ns(tsc);
    return packStruct(KVM_CLOCK_PAIRING_STRUCT, { sec: wall / NSEC_PER_SEC, nsec: wall % NSEC_PER_SEC, tsc, flags: 0 });
  }
}
