// Doorbells with KVM ioeventfd semantics, rule for rule from repo:torvalds/linux virt/kvm/eventfd.c:
//   kvm_assign_ioeventfd      - validation order and errors, len-0 MMIO also on KVM_FAST_MMIO_BUS
//   ioeventfd_check_collision - -EEXIST rules
//   kvm_deassign_ioeventfd_idx- exact match (bus, fd, addr, len, wildcard, datamatch) else -ENOENT
//   ioeventfd_in_range        - which write signals
// and repo:torvalds/linux arch/x86/kvm/vmx/vmx.c handle_ept_misconfig for the fast MMIO path.
import {
  KVM_IOEVENTFD_FLAG_DATAMATCH,
  KVM_IOEVENTFD_FLAG_DEASSIGN,
  KVM_IOEVENTFD_FLAG_PIO,
  KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY,
  KVM_IOEVENTFD_VALID_FLAG_MASK,
  checkKvmIoeventfd,
  type KvmIoeventfd,
} from './ioeventfd.js';
import {
  Doorbell, MAX_SAFE, U64_MOD, busFromFlags, count, fail, inRange, signal, sizeMask, specToKvmIoeventfd,
  type DoorbellCallback, type DoorbellSpace, type DoorbellSpec, type DoorbellState, type IoeventfdResult,
} from './doorbell-model.js';

export {
  Doorbell, specToKvmIoeventfd,
  type DoorbellCallback, type DoorbellPath, type DoorbellSignal, type DoorbellSpace, type DoorbellSpec, type DoorbellState,
  type IoeventfdErrorCode, type IoeventfdResult,
} from './doorbell-model.js';

/** The doorbells of one VM on the PIO, MMIO and CCW buses, with the kernel's assign/deassign/write rules. */
export class DoorbellSet {
  /** Registration order, like kvm->ioeventfds. */
  private readonly all: Doorbell[] = [];
  /** Per bus, doorbells keyed by exact address (ioeventfd_in_range requires addr == p->addr). */
  private readonly byAddr: Record<DoorbellSpace, Map<bigint, Doorbell[]>> = {
    pio: new Map(),
    mmio: new Map(),
    ccw: new Map(),
  };
  /** KVM_FAST_MMIO_BUS: len-0 MMIO doorbells; collision rules allow at most one per address. */
  private readonly fastMmio = new Map<bigint, Doorbell>();
  /**
   * Number-keyed copies of the indexes for addresses below 2^53 (every guest-physical address and port), rebuilt
   * on each change, plus a last-hit cache per bus: the hot write paths then need no bigint and no Map lookup.
   */
  private pioN = new Map<number, Doorbell[]>();
  private mmioN = new Map<number, Doorbell[]>();
  private fastN = new Map<number, Doorbell>();
  private pioKey = -1;
  private pioHit: Doorbell[] | undefined;
  private mmioKey = -1;
  private mmioHit: Doorbell[] | undefined;
  private fastKey = -1;
  private fastHit: Doorbell | undefined;
  /** Doorbells on the PIO bus / MMIO bus / fast MMIO list (internal; read-only outside). */
  nPio = 0;
  nMmio = 0;
  nFast = 0;

  get size(): number {
    return this.all.length;
  }

  /** Any doorbell on this bus? (Lets the router skip the lookup entirely.) */
  has(space: DoorbellSpace): boolean {
    return this.byAddr[space].size > 0;
  }

  list(): readonly Doorbell[] {
    return this.all.slice();
  }

  assign(spec: DoorbellSpec): IoeventfdResult {
    return this.ioctl(specToKvmIoeventfd(spec), spec.onSignal);
  }

  deassign(spec: DoorbellSpec): IoeventfdResult {
    return this.ioctl(specToKvmIoeventfd(spec, true));
  }

  /** kvm_ioeventfd(): raw struct fields in, 0 or a negative errno out (plus the doorbell / a reason). */
  ioctl(args: KvmIoeventfd, onSignal?: DoorbellCallback): IoeventfdResult {
    checkKvmIoeventfd(args);
    if (args.flags & KVM_IOEVENTFD_FLAG_DEASSIGN) return this.deassignRaw(args);
    return this.assignRaw(args, onSignal);
  }

  private assignRaw(args: KvmIoeventfd, onSignal: DoorbellCallback | undefined): IoeventfdResult {
    const space = busFromFlags(args.flags);
    const where = `${space} 0x${args.addr.toString(16)}`;
    // kvm_assign_ioeventfd: "must be natural-word sized, or 0 to ignore length"
    if (![0, 1, 2, 4, 8].includes(args.len)) {
      return fail('EINVAL', `${where}: len ${args.len} is not 0, 1, 2, 4 or 8`);
    }
    // "check for range overflow": u64 addr + len wraps
    if ((args.addr + BigInt(args.len)) % U64_MOD < args.addr) {
      return fail('EINVAL', `${where}: addr + len ${args.len} overflows 64 bits`);
    }
    // "check for extra flags that we don't understand"
    const unknown = args.flags & ~KVM_IOEVENTFD_VALID_FLAG_MASK;
    if (unknown !== 0) {
      return fail('EINVAL', `${where}: unknown flags 0x${(unknown >>> 0).toString(16)} (valid mask 0x${KVM_IOEVENTFD_VALID_FLAG_MASK.toString(16)})`);
    }
    // "ioeventfd with no length can't be combined with DATAMATCH"
    if (args.len === 0 && args.flags & KVM_IOEVENTFD_FLAG_DATAMATCH) {
      return fail('EINVAL', `${where}: len 0 (any length) cannot be combined with DATAMATCH`);
    }
    // kvm_assign_ioeventfd_idx: "The datamatch feature is optional, otherwise this is a wildcard"
    const datamatch = args.flags & KVM_IOEVENTFD_FLAG_DATAMATCH ? args.datamatch : undefined;
    const p = new Doorbell(space, args.addr, args.len, datamatch, args.fd, onSignal);
    const clash = this.collision(p);
    if (clash !== undefined) {
      return fail('EEXIST', `${p.describe()} collides with existing ${clash.describe()}`);
    }
    this.all.push(p);
    const at = this.byAddr[space].get(p.addr);
    if (at === undefined) this.byAddr[space].set(p.addr, [p]);
    else at.push(p);
    // "When length is ignored, MMIO is also put on a separate bus, for faster lookups."
    if (p.fast) this.fastMmio.set(p.addr, p);
    this.reindex();
    return { ok: true, errno: 0, doorbell: p };
  }

  /** ioeventfd_check_collision: same bus and addr, and (either any-length, or same len and (either wildcard or same datamatch)). */
  private collision(p: Doorbell): Doorbell | undefined {
    for (const q of this.byAddr[p.space].get(p.addr) ?? []) {
      if (q.len === 0 || p.len === 0) return q;
      if (q.len === p.len && (q.wildcard || p.wildcard || q.datamatch === p.datamatch)) return q;
    }
    return undefined;
  }

  private deassignRaw(args: KvmIoeventfd): IoeventfdResult {
    // kvm_deassign_ioeventfd does no validation: it searches and returns -ENOENT when nothing matches exactly.
    const space = busFromFlags(args.flags);
    const wildcard = !(args.flags & KVM_IOEVENTFD_FLAG_DATAMATCH);
    const i = this.all.findIndex(
      (p) =>
        p.space === space &&
        p.fd === args.fd &&
        p.addr === args.addr &&
        p.len === args.len &&
        p.wildcard === wildcard &&
        (p.wildcard || p.datamatch === args.datamatch),
    );
    const p = i < 0 ? undefined : this.all[i];
    if (p === undefined) {
      const dm = wildcard ? 'wildcard' : `datamatch 0x${args.datamatch.toString(16)}`;
      return fail('ENOENT', `no ${space} doorbell at 0x${args.addr.toString(16)} len ${args.len} ${dm} fd ${args.fd}`);
    }
    this.all.splice(i, 1);
    const at = this.byAddr[space].get(p.addr)!;
    at.splice(at.indexOf(p), 1);
    if (at.length === 0) this.byAddr[space].delete(p.addr);
    if (p.fast) this.fastMmio.delete(p.addr);
    this.reindex();
    return { ok: true, errno: 0, doorbell: p };
  }

  /**
   * A write that went the full path (port I/O, or an MMIO store that was decoded and emulated). Signals and
   * returns the matching doorbell (at most one can match, by the collision rules), else undefined.
   */
  write(space: 'pio' | 'mmio', addr: bigint, size: number, value: bigint): Doorbell | undefined {
    const candidates = this.byAddr[space].get(addr);
    if (candidates === undefined) return undefined;
    const v = value & sizeMask(size);
    for (const p of candidates) {
      if (inRange(p, size, v)) {
        signal(p, space === 'pio' ? 'pio' : 'mmio-full', addr, size, v);
        return p;
      }
    }
    return undefined;
  }

  /** Would a write of `size` at `addr` be consumed by a doorbell? (No signal; for tests and tracing.) */
  peek(space: 'pio' | 'mmio', addr: bigint, size: number, value: bigint): Doorbell | undefined {
    const v = value & sizeMask(size);
    return this.byAddr[space].get(addr)?.find((p) => inRange(p, size, v));
  }

  /**
   * KVM_FAST_MMIO_BUS lookup as in handle_ept_misconfig: only the GPA is known (no decode, no size, no data).
   * True = a len-0 MMIO doorbell at `gpa` was signalled and the store is complete.
   */
  fastMmioWrite(gpa: bigint): boolean {
    const p = this.fastMmio.get(gpa);
    if (p === undefined) return false;
    signal(p, 'mmio-fast', gpa, 0, undefined);
    return true;
  }

  hasFastMmio(gpa: bigint): boolean {
    return this.fastMmio.has(gpa);
  }

  /** JSON-safe state (bigints as hex strings) for VM snapshots; callbacks are not state and are not saved. */
  saveState(): DoorbellState[] {
    return this.all.map((p) => ({
      space: p.space,
      addr: `0x${p.addr.toString(16)}`,
      len: p.len,
      ...(p.datamatch === undefined ? {} : { datamatch: `0x${p.datamatch.toString(16)}` }),
      fd: p.fd,
      signals: p.signals,
      fastSignals: p.fastSignals,
      fullSignals: p.fullSignals,
      pioSignals: p.pioSignals,
    }));
  }

  /**
   * Replace every doorbell with `states`, re-running the kernel's assign checks; `callbackFor` re-attaches
   * callbacks (e.g. to the restored device). Throws with the reason if a state would be refused by KVM.
   */
  loadState(states: readonly DoorbellState[], callbackFor?: (d: Doorbell) => DoorbellCallback | undefined): void {
    const fresh = new DoorbellSet();
    states.forEach((st, i) => {
      const flags =
        (st.space === 'pio' ? KVM_IOEVENTFD_FLAG_PIO : st.space === 'ccw' ? KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY : 0) |
        (st.datamatch === undefined ? 0 : KVM_IOEVENTFD_FLAG_DATAMATCH);
      const r = fresh.ioctl({ addr: BigInt(st.addr), len: st.len, datamatch: BigInt(st.datamatch ?? 0), fd: st.fd, flags });
      if (!r.ok) throw new RangeError(`doorbell state [${i}]: ${r.reason} (${r.code})`);
      const d = r.doorbell;
      d.signals = st.signals;
      d.fastSignals = st.fastSignals;
      d.fullSignals = st.fullSignals;
      d.pioSignals = st.pioSignals;
      d.onSignal = callbackFor?.(d);
    });
    this.all.splice(0, this.all.length, ...fresh.all);
    for (const k of ['pio', 'mmio', 'ccw'] as const) {
      this.byAddr[k].clear();
      for (const [a, l] of fresh.byAddr[k]) this.byAddr[k].set(a, l);
    }
    this.fastMmio.clear();
    for (const [a, d] of fresh.fastMmio) this.fastMmio.set(a, d);
    this.reindex();
  }

  /** Rebuild the number-keyed indexes from the bigint ones (registration is rare, writes are hot). */
  private reindex(): void {
    const num = <T>(m: Map<bigint, T>): Map<number, T> => {
      const out = new Map<number, T>();
      for (const [a, v] of m) if (a <= MAX_SAFE) out.set(Number(a), v);
      return out;
    };
    this.pioN = num(this.byAddr.pio);
    this.mmioN = num(this.byAddr.mmio);
    this.fastN = num(this.fastMmio);
    this.pioKey = this.mmioKey = this.fastKey = -1;
    this.pioHit = this.mmioHit = undefined;
    this.fastHit = undefined;
    this.nPio = this.byAddr.pio.size;
    this.nMmio = this.byAddr.mmio.size;
    this.nFast = this.fastMmio.size;
  }

  /**
   * write() for an address below 2^53 with the value as u32 halves (`hi` ignored below 8 bytes): same match and
   * signal, but no bigint unless a callback receives the signal.
   */
  writeN(space: 'pio' | 'mmio', addr: number, size: number, lo: number, hi: number): Doorbell | undefined {
    let list: Doorbell[] | undefined;
    if (space === 'pio') {
      if (addr !== this.pioKey) {
        this.pioKey = addr;
        this.pioHit = this.pioN.get(addr);
      }
      list = this.pioHit;
    } else {
      if (addr !== this.mmioKey) {
        this.mmioKey = addr;
        this.mmioHit = this.mmioN.get(addr);
      }
      list = this.mmioHit;
    }
    if (list === undefined) return undefined;
    const vlo = size >= 4 ? lo >>> 0 : lo & (size === 1 ? 0xff : 0xffff);
    const vhi = size === 8 ? hi >>> 0 : 0;
    for (let i = 0; i < list.length; i++) {
      const p = list[i]!;
      // ioeventfd_in_range, as inRange() below, on the two halves
      if (p.len === 0 || (size === p.len && (p.datamatch === undefined || (p.dmLo === vlo && p.dmHi === vhi)))) {
        count(p, space === 'pio' ? 'pio' : 'mmio-full');
        if (p.onSignal !== undefined) {
          const v = vhi === 0 ? BigInt(vlo) : (BigInt(vhi) << 32n) | BigInt(vlo);
          p.onSignal({ doorbell: p, path: space === 'pio' ? 'pio' : 'mmio-full', addr: BigInt(addr), size, value: v });
        }
        return p;
      }
    }
    return undefined;
  }

  /** fastMmioWrite() for a gpa below 2^53. */
  fastMmioWriteN(gpa: number): boolean {
    if (gpa !== this.fastKey) {
      this.fastKey = gpa;
      this.fastHit = this.fastN.get(gpa);
    }
    const p = this.fastHit;
    if (p === undefined) return false;
    count(p, 'mmio-fast');
    p.onSignal?.({ doorbell: p, path: 'mmio-fast', addr: BigInt(gpa), size: 0, value: undefined });
    return true;
  }
}
