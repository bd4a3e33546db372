// Register map and ring layout of the pvkit test device (a pvkit-defined device; this file IS its specification).
// Little-endian, 0x40 bytes of registers, the same offsets through port I/O and MMIO.

/** Size of the register window (ports or bytes of MMIO). */
export const PVTEST_WINDOW = 0x40;

/** 'PVKT' read as a little-endian u32: bytes 50 56 4B 54. */
export const PVTEST_ID_VALUE = 0x544b5650;
export const PVTEST_VERSION_VALUE = 1;

export const PvtestReg = {
  /** R: PVTEST_ID_VALUE. */
  ID: 0x00,
  /** R: PVTEST_VERSION_VALUE. */
  VERSION: 0x04,
  /** R: PvtestStatus bits; W: write-1-to-clear ERROR and DONE. */
  STATUS: 0x08,
  /** RW: PvtestControl bits (RESET reads back 0). */
  CONTROL: 0x0c,
  /** W (1/2/4 bytes): append the written bytes, little-endian, to the output buffer. Reads 0. */
  DATA_OUT: 0x10,
  /** R (1/2/4 bytes): pop that many bytes from the input FIFO (missing bytes read 0). */
  DATA_IN: 0x14,
  /** R: bytes waiting in the input FIFO. */
  IN_COUNT: 0x18,
  /** W (any value, 1/2/4 bytes): process the ring. The usual target of a KVM-style doorbell. Reads 0. */
  DOORBELL: 0x1c,
  /** RW: ring base GPA bits 31:0 (an 8-byte MMIO access here reads/writes the whole 64-bit GPA). */
  RING_BASE_LO: 0x20,
  /** RW: ring base GPA bits 63:32. */
  RING_BASE_HI: 0x24,
  /** RW: number of descriptors, a power of two in 1..PVTEST_MAX_RING. */
  RING_SIZE: 0x28,
  /** R: device consumer index (free-running u32). */
  RING_HEAD: 0x2c,
  /** R: total bytes appended to the output buffer (u32, wraps). */
  OUT_COUNT: 0x30,
  /** R: descriptors consumed (u32, wraps). */
  PROCESSED: 0x34,
  /** R: last PvtestError code (cleared by STATUS.ERROR W1C or RESET). */
  ERROR: 0x38,
  /** R: number of doorbell notifications received (u32, wraps). */
  NOTIFIES: 0x3c,
} as const;

export const PvtestStatus = {
  /** Input FIFO not empty. */
  IN_AVAIL: 1 << 0,
  /** CONTROL.ENABLE set and RING_SIZE valid. */
  RING_READY: 1 << 1,
  /** An error stopped ring processing (W1C). */
  ERROR: 1 << 2,
  /** A notification consumed at least one descriptor (W1C). */
  DONE: 1 << 3,
} as const;

export const PvtestControl = {
  /** Ring processing enabled. */
  ENABLE: 1 << 0,
  /** Write 1: reset every guest-visible register and the input FIFO (self-clearing). */
  RESET: 1 << 1,
} as const;

export const PvtestError = {
  NONE: 0,
  /** Doorbell while CONTROL.ENABLE is clear. */
  NOT_ENABLED: 1,
  /** RING_SIZE not a power of two in 1..PVTEST_MAX_RING. */
  BAD_RING_SIZE: 2,
  /** The ring header or a descriptor could not be read/written in guest memory. */
  RING_DMA: 3,
  /** producer - head > RING_SIZE. */
  PRODUCER_AHEAD: 4,
  /** Descriptor flags not zero (reserved, must be zero). */
  BAD_FLAGS: 5,
  /** Descriptor length above PVTEST_MAX_DESC_LEN. */
  DESC_TOO_LONG: 6,
  /** The buffer a descriptor points to could not be read. */
  BUFFER_DMA: 7,
  /** Access of a size/alignment the register does not support. */
  BAD_ACCESS: 8,
} as const;

export const PVTEST_MAX_RING = 256;
export const PVTEST_MAX_DESC_LEN = 0x10000;

/**
 * Ring in guest memory at RING_BASE (8-byte aligned recommended, not required):
 *   +0  u32 producer index   (guest writes; free-running)
 *   +4  u32 consumer index   (device writes after each notification; equals RING_HEAD)
 *   +8  descriptor[RING_SIZE], 16 bytes each: { u64 addr; u32 len; u32 flags (MBZ) }
 * Descriptor i lives at slot (i mod RING_SIZE).
 */
export const PvtestRing = {
  PRODUCER: 0,
  CONSUMER: 4,
  DESCS: 8,
  DESC_SIZE: 16,
  DESC_ADDR: 0,
  DESC_LEN: 8,
  DESC_FLAGS: 12,
} as const;
