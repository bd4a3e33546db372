// Hyper-V hypercall input value ("control word") and result value codecs, bit-exact to the TLFS
// "Hypercall Inputs" / "Hypercall Result Value" tables and Linux include/hyperv/hvgdk_mini.h HV_HYPERCALL_*.
import { AbiError, type Problem } from './errors.js';

const mask = (width: number): bigint => (1n << BigInt(width)) - 1n;
const U64 = mask(64);

// TLFS "Hypercall Inputs"; hvgdk_mini.h
export const HV_HYPERCALL_CODE_MASK = 0xffffn; // 15:0 call code
export const HV_HYPERCALL_FAST_BIT = 1n << 16n; // HV_HYPERCALL_FAST_BIT BIT(16)
export const HV_HYPERCALL_VARHEAD_OFFSET = 17n; // HV_HYPERCALL_VARHEAD_OFFSET
export const HV_HYPERCALL_VARHEAD_MASK = mask(10) << 17n; // GENMASK_ULL(26, 17)
export const HV_HYPERCALL_RSVD0_MASK = mask(5) << 27n; // GENMASK_ULL(31, 27)
export const HV_HYPERCALL_NESTED = 1n << 31n; // HV_HYPERCALL_NESTED BIT_ULL(31) (inside RSVD0 for the TLFS)
export const HV_HYPERCALL_REP_COMP_OFFSET = 32n; // HV_HYPERCALL_REP_COMP_OFFSET
export const HV_HYPERCALL_REP_COMP_MASK = mask(12) << 32n; // GENMASK_ULL(43, 32)
export const HV_HYPERCALL_RSVD1_MASK = mask(4) << 44n; // GENMASK_ULL(47, 44)
export const HV_HYPERCALL_REP_START_OFFSET = 48n; // HV_HYPERCALL_REP_START_OFFSET
export const HV_HYPERCALL_REP_START_MASK = mask(12) << 48n; // GENMASK_ULL(59, 48)
export const HV_HYPERCALL_RSVD2_MASK = mask(4) << 60n; // GENMASK_ULL(63, 60)
export const HV_HYPERCALL_RSVD_MASK = HV_HYPERCALL_RSVD0_MASK | HV_HYPERCALL_RSVD1_MASK | HV_HYPERCALL_RSVD2_MASK;
// TLFS "Hypercall Result Value": 15:0 status, 43:32 reps completed, the rest ignored (RsvdZ on return)
export const HV_HYPERCALL_RESULT_MASK = 0xffffn; // HV_HYPERCALL_RESULT_MASK GENMASK_ULL(15, 0)
export const HV_HYPERCALL_REPS_COMPLETED_OFFSET = 32n;
export const HV_HYPERCALL_REPS_COMPLETED_MASK = mask(12) << 32n;

/** Hypercall status codes (result bits 15:0). */
export const HV_STATUS = {
  SUCCESS: 0x0, INVALID_HYPERCALL_CODE: 0x2, INVALID_HYPERCALL_INPUT: 0x3, INVALID_ALIGNMENT: 0x4, INVALID_PARAMETER: 0x5,
  ACCESS_DENIED: 0x6, INVALID_PARTITION_STATE: 0x7, OPERATION_DENIED: 0x8, UNKNOWN_PROPERTY: 0x9, PROPERTY_VALUE_OUT_OF_RANGE: 0xa,
  INSUFFICIENT_MEMORY: 0xb, INVALID_PARTITION_ID: 0xd, INVALID_VP_INDEX: 0xe, NOT_FOUND: 0x10, INVALID_PORT_ID: 0x11,
  INVALID_CONNECTION_ID: 0x12, INSUFFICIENT_BUFFERS: 0x13, NOT_ACKNOWLEDGED: 0x14, INVALID_VP_STATE: 0x15, NO_RESOURCES: 0x1d,
  PROCESSOR_FEATURE_NOT_SUPPORTED: 0x20, INVALID_LP_INDEX: 0x41, INVALID_REGISTER_VALUE: 0x50, OPERATION_FAILED: 0x71,
  TIME_OUT: 0x78, CALL_PENDING: 0x79, VTL_ALREADY_ENABLED: 0x86,
} as const; // HV_STATUS_<key>, include/hyperv/hvgdk_mini.h
export type HvStatusName = keyof typeof HV_STATUS;

export interface HvControl {
  /** Call code, bits 15:0. */
  readonly code: number;
  /** Bit 16: register-based ("fast") call. */
  readonly fast: boolean;
  /** Bits 26:17: variable header size in 8-byte units. */
  readonly varHeaderQwords: number;
  /** Bits 43:32: rep count (0 for a simple call). */
  readonly repCount: number;
  /** Bits 59:48: rep start index. */
  readonly repStart: number;
  /** Bit 31 (Linux HV_HYPERCALL_NESTED: an L1 asking L0 directly); RsvdZ in the TLFS. */
  readonly nested?: boolean;
}

export interface DecodedHvControl extends Required<HvControl> {
  /** Bits set in RsvdZ fields 30:27, 47:44, 63:60 (bit 31 is reported as `nested`). */
  readonly reservedBits: bigint;
}

function field(problems: Problem[], name: string, v: number, width: number): bigint {
  if (!Number.isInteger(v) || v < 0 || v > Number(mask(width))) {
    problems.push({ path: `control.${name}`, value: v, message: `must be an integer 0..${Number(mask(width))} (${width} bits)` });
    return 0n;
  }
  return BigInt(v);
}

/** Builds the 64-bit hypercall input value (TLFS "Hypercall Inputs"). */
export function encodeHvControl(c: HvControl): bigint {
  const problems: Problem[] = [];
  const code = field(problems, 'code', c.code, 16);
  const varHead = field(problems, 'varHeaderQwords', c.varHeaderQwords, 10);
  const repCount = field(problems, 'repCount', c.repCount, 12);
  const repStart = field(problems, 'repStart', c.repStart, 12);
  if (problems.length) throw new AbiError(problems);
  return (
    code |
    (c.fast ? HV_HYPERCALL_FAST_BIT : 0n) |
    (varHead << HV_HYPERCALL_VARHEAD_OFFSET) |
    (c.nested ? HV_HYPERCALL_NESTED : 0n) |
    (repCount << HV_HYPERCALL_REP_COMP_OFFSET) |
    (repStart << HV_HYPERCALL_REP_START_OFFSET)
  );
}

function checkU64(v: bigint, path: string): void {
  if (typeof v !== 'bigint' || v < 0n || v > U64) {
    throw new AbiError([{ path, value: v, message: 'must be an unsigned 64-bit bigint' }]);
  }
}

/** Splits a 64-bit input value into its fields; reserved bits are reported, never dropped silently. */
export function decodeHvControl(value: bigint): DecodedHvControl {
  checkU64(value, 'control');
  return {
    code: Number(value & HV_HYPERCALL_CODE_MASK),
    fast: (value & HV_HYPERCALL_FAST_BIT) !== 0n,
    varHeaderQwords: Number((value & HV_HYPERCALL_VARHEAD_MASK) >> HV_HYPERCALL_VARHEAD_OFFSET),
    nested: (value & HV_HYPERCALL_NESTED) !== 0n,
    repCount: Number((value & HV_HYPERCALL_REP_COMP_MASK) >> HV_HYPERCALL_REP_COMP_OFFSET),
    repStart: Number((value & HV_HYPERCALL_REP_START_MASK) >> HV_HYPERCALL_REP_START_OFFSET),
    reservedBits: value & HV_HYPERCALL_RSVD_MASK & ~HV_HYPERCALL_NESTED,
  };
}

export interface HvResult {
  /** HV_STATUS_* code, bits 15:0. */
  readonly status: number;
  /** Bits 43:32: reps completed in total (not relative to the start index). */
  readonly repsCompleted: number;
}

/** Builds the 64-bit result value the hypervisor leaves in RAX (x64) / EDX:EAX (x86). */
export function encodeHvResult(r: HvResult): bigint {
  const problems: Problem[] = [];
  if (!Number.isInteger(r.status) || r.status < 0 || r.status > 0xffff) {
    problems.push({ path: 'result.status', value: r.status, message: 'HV_STATUS is 16 bits (0..0xffff)' });
  }
  if (!Number.isInteger(r.repsCompleted) || r.repsCompleted < 0 || r.repsCompleted > 0xfff) {
    problems.push({ path: 'result.repsCompleted', value: r.repsCompleted, message: 'reps completed is 12 bits (0..0xfff)' });
  }
  if (problems.length) throw new AbiError(problems);
  return BigInt(r.status) | (BigInt(r.repsCompleted) << HV_HYPERCALL_REPS_COMPLETED_OFFSET);
}

export interface DecodedHvResult extends HvResult {
  /** Bits outside 15:0 and 43:32 (TLFS: ignore; a conforming hypervisor leaves them zero). */
  readonly otherBits: bigint;
}

export function decodeHvResult(value: bigint): DecodedHvResult {
  checkU64(value, 'result');
  return {
    status: Number(value & HV_HYPERCALL_RESULT_MASK),
    repsCompleted: Number((value & HV_HYPERCALL_REPS_COMPLETED_MASK) >> HV_HYPERCALL_REPS_COMPLETED_OFFSET),
    otherBits: value & ~(HV_HYPERCALL_RESULT_MASK | HV_HYPERCALL_REPS_COMPLETED_MASK),
  };
}

/** What validation needs to know about a call (HvHypercallDef in hyperv.ts satisfies it). */
export interface HvCallShape {
  readonly nr: number;
  readonly rep?: boolean;
  readonly fast?: boolean;
  /** The call takes a variable-size header (the _EX calls with an hv_vpset). */
  readonly varHeader?: boolean;
}

export interface HvControlVerdict {
  /** HV_STATUS the hypervisor must return (0 = go ahead). */
  readonly status: number;
  readonly reason: string;
}

/**
 * Checks an input value against the call it names, the way the hypervisor must before doing anything
 * (TLFS "Hypercall Inputs"; KVM arch/x86/kvm/hyperv.c kvm_hv_hypercall):
 * unknown code -> INVALID_HYPERCALL_CODE; reserved bits (bit 31 too, unless `allowNested`), rep count
 * non-zero on a simple call / zero on a rep call, start index >= rep count, a variable header on a call
 * without one, or the fast bit on a call that has no fast form -> INVALID_HYPERCALL_INPUT.
 */
export function validateHvControl(control: bigint, call: HvCallShape | undefined, opts: { allowNested?: boolean } = {}): HvControlVerdict {
  const c = decodeHvControl(control);
  const hex = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;
  if (!call) return { status: HV_STATUS.INVALID_HYPERCALL_CODE, reason: `call code ${hex(c.code)} is not implemented` };
  if (call.nr !== c.code) throw new AbiError([{ path: 'call.nr', value: call.nr, message: `definition is for ${hex(call.nr)}, control word names ${hex(c.code)}` }]);
  const bad = (reason: string): HvControlVerdict => ({ status: HV_STATUS.INVALID_HYPERCALL_INPUT, reason });
  if (c.reservedBits !== 0n) return bad(`reserved bits set: 0x${c.reservedBits.toString(16)}`);
  if (c.nested && !opts.allowNested) return bad('bit 31 (nested) set: RsvdZ for this hypervisor');
  if (call.rep) {
    if (c.repCount === 0) return bad('rep hypercall with rep count 0');
    if (c.repStart >= c.repCount) return bad(`rep start index ${c.repStart} >= rep count ${c.repCount}`);
  } else if (c.repCount !== 0 || c.repStart !== 0) {
    return bad(`simple hypercall with rep count ${c.repCount} / start ${c.repStart}`);
  }
  if (c.varHeaderQwords !== 0 && !call.varHeader) return bad(`variable header of ${c.varHeaderQwords} qword(s) on a call without one`);
  if (c.fast && !call.fast) return bad('fast bit set on a call with no register-based form');
  return { status: HV_STATUS.SUCCESS, reason: 'ok' };
}
