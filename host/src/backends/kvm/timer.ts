// Bounds a blocking KVM_RUN: a POSIX timer whose signal is directed at the calling thread (SIGEV_THREAD_ID), so
// the ioctl returns -EINTR with exit_reason KVM_EXIT_INTR (virt/kvm: signal_pending() -> -EINTR, never
// restarted, whatever SA_RESTART says). The signal needs a handler that is not SIG_DFL/SIG_IGN: Node's
// process.on('SIGALRM') installs libuv's, which is harmless here.
import type { Libc } from './native.js';

const SIGALRM = 14; // asm-generic/signal.h
const CLOCK_MONOTONIC = 1; // linux/time.h
const SIGEV_THREAD_ID = 4; // asm-generic/siginfo.h
const SIGEVENT_SIZE = 64; // sizeof(struct sigevent) on x86-64: value@0, signo@8, notify@12, _tid@16
const ITIMERSPEC_SIZE = 32; // it_interval {sec, nsec}, it_value {sec, nsec}

let handlerInstalled = false;
const noop = (): void => {};

function installHandler(): void {
  if (handlerInstalled) return;
  // Kept for the life of the process: removing the last listener restores SIG_DFL, which would kill the
  // process if a timer fired just after a run returned.
  process.on('SIGALRM', noop);
  handlerInstalled = true;
}

export class RunTimer {
  private readonly its = new Uint8Array(ITIMERSPEC_SIZE);
  private readonly view = new DataView(this.its.buffer);
  private readonly id: bigint;
  private deleted = false;

  constructor(private readonly libc: Libc) {
    installHandler();
    const sev = new Uint8Array(SIGEVENT_SIZE);
    const sv = new DataView(sev.buffer);
    sv.setInt32(8, SIGALRM, true);
    sv.setInt32(12, SIGEV_THREAD_ID, true);
    sv.setInt32(16, libc.gettid(), true);
    const out = new Uint8Array(8);
    if (libc.timerCreate(CLOCK_MONOTONIC, sev, out) !== 0) throw new Error(`timer_create failed: errno ${libc.errno()}`);
    this.id = new DataView(out.buffer).getBigUint64(0, true);
  }

  /**
   * First expiry `ms` from now, then every `repeatMs` (0 disarms). Repeating closes the race where the signal
   * lands after the deadline check but before KVM_RUN is entered: the next tick interrupts the run.
   */
  arm(ms: number, repeatMs = 5): void {
    const ns = BigInt(Math.max(0, Math.round(ms * 1e6)));
    const rep = ms > 0 ? BigInt(Math.round(repeatMs * 1e6)) : 0n;
    const v = this.view;
    v.setBigInt64(0, rep / 1_000_000_000n, true);
    v.setBigInt64(8, rep % 1_000_000_000n, true);
    v.setBigInt64(16, ns / 1_000_000_000n, true);
    v.setBigInt64(24, ms > 0 && ns === 0n ? 1n : ns % 1_000_000_000n, true);
    if (this.libc.timerSettime(this.id, 0, this.its) !== 0) throw new Error(`timer_settime failed: errno ${this.libc.errno()}`);
  }

  disarm(): void {
    this.arm(0);
  }

  delete(): void {
    if (this.deleted) return;
    this.deleted = true;
    this.libc.timerDelete(this.id);
  }
}
