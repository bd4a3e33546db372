// Device-side interfaces in the manner of rust-vmm vm-device: the device sees offsets inside its own range,
// the bus owns the addresses. The CPU never talks to a device directly; it asks the VM's I/O router.

export type IoSize = 1 | 2 | 4;
export type MmioSize = 1 | 2 | 4 | 8;

export interface PioDevice {
  readonly name: string;
  /** `offset` = port - base of the range the device was registered at. */
  read(offset: number, size: IoSize): number;
  write(offset: number, size: IoSize, value: number): void;
}

export interface MmioDevice {
  readonly name: string;
  /** `offset` = address - base of the range the device was registered at. */
  read(offset: bigint, size: MmioSize): bigint;
  write(offset: bigint, size: MmioSize, value: bigint): void;
}

/**
 * What the CPU calls for port I/O and MMIO. `undefined` / `false` means nobody claims the address: the CPU
 * then stops with an IoIn/IoOut/MmioRead/MmioWrite exit for the run loop (or the user) to complete.
 */
export interface IoRouter {
  pioRead(port: number, size: IoSize): number | undefined;
  pioWrite(port: number, size: IoSize, value: number): boolean;
  mmioRead(gpa: bigint, size: MmioSize): bigint | undefined;
  mmioWrite(gpa: bigint, size: MmioSize, value: bigint): boolean;
  /**
   * Runs `fn` with its accesses accounted as made on behalf of a hypercall (no instruction decode), so the cost
   * model does not charge them as emulated MMIO or trapped port I/O. Optional: routers without cost accounting
   * need not implement it.
   */
  viaHypercall?<T>(fn: () => T): T;
  /** EPT fast MMIO (vmx.c handle_ept_misconfig): asked BEFORE decoding a store to MMIO; true = done, only skip the insn. */ fastMmio?(gpa: bigint): boolean;
  // Optional number-valued variants for the CPU's hot path (same semantics and accounting as the bigint ones;
  // gpa + size <= 2^53). A router offering mmioReadN must offer all of them.
  /** mmioRead: the value's low 32 bits (>= 0) with the high 32 in `readHi`, or -1 when nobody claims it. */
  mmioReadN?(gpa: number, size: MmioSize): number;
  /** High 32 bits of the last mmioReadN value (0 below 8 bytes). */
  readonly readHi?: number;
  /** mmioWrite with the value as u32 halves (`hi` ignored below 8 bytes). */
  mmioWriteN?(gpa: number, size: MmioSize, lo: number, hi: number): boolean;
  fastMmioN?(gpa: number): boolean;
}
