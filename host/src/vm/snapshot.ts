// Versioned, JSON-serialisable VM snapshots: RAM (non-zero pages only), vCPU state, patch records and an
// opaque `extra` slot for device/doorbell state owned by other layers. Restoring onto the other vendor works
// through the normal path: sites patched for the old vendor #UD on the new one and are patched again.
import type { Exit } from '../exits.js';
import type { Cpl, CpuMode, Vendor } from '../cpu/types.js';

export const SNAPSHOT_VERSION = 1;

export interface RegionSnapshot {
  readonly kind: 'ram' | 'mmio';
  readonly name: string;
  /** Hex guest-physical base. */
  readonly base: string;
  readonly size: number;
  /** RAM only: page offset (hex) -> base64 of the 4 KiB page, for pages that are not all zero. */
  readonly pages?: Record<string, string>;
}

export interface VcpuSnapshot {
  readonly id: number;
  readonly mode: CpuMode;
  readonly vendor: Vendor;
  readonly cpl: Cpl;
  /** Hex strings (64-bit values). */
  readonly rip: string;
  readonly rflags: string;
  readonly gprs: readonly string[];
  readonly fsBase: string;
  readonly gsBase: string;
  readonly kernelGsBase: string;
  readonly tscAux: string;
  readonly icount: number;
  readonly halted: boolean;
  /** The exit waiting for a complete*() answer, in JSON form (bigints as hex strings). */
  readonly awaiting?: Record<string, unknown>;
}

export interface PatchSnapshot {
  readonly gpa: string;
  readonly vcpu: number;
  readonly to: 'vmcall' | 'vmmcall';
  readonly at: number;
}

export interface VmSnapshot {
  readonly version: typeof SNAPSHOT_VERSION;
  readonly physBits: number;
  readonly fixHypercallInsn: boolean;
  readonly quantum: number;
  /** Next vCPU in the round-robin. */
  readonly next: number;
  /** Instructions left in that vCPU's quantum. */
  readonly left: number;
  readonly regions: readonly RegionSnapshot[];
  readonly vcpus: readonly VcpuSnapshot[];
  readonly patches: readonly PatchSnapshot[];
  readonly patchCounts: readonly (readonly [string, number])[];
  /** State of other layers (devices, doorbells, hypervisor personality), stored as given. */
  readonly extra?: unknown;
}

export const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

export function parseHex(where: string, s: unknown): bigint {
  if (typeof s !== 'string' || !/^0x[0-9a-f]+$/i.test(s)) {
    throw new SnapshotError(where, s, 'expected a hex string like "0x1f"');
  }
  return BigInt(s);
}

export class SnapshotError extends Error {
  constructor(where: string, value: unknown, why: string) {
    super(`snapshot ${where}: ${why} (value: ${JSON.stringify(value)?.slice(0, 80)})`);
    this.name = 'SnapshotError';
  }
}

/** Exit -> JSON-safe object (bigints as hex strings, tagged). */
export function exitToJson(e: Exit): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) o[k] = typeof v === 'bigint' ? { big: hex(v) } : v;
  return o;
}

export function exitFromJson(o: Record<string, unknown>): Exit {
  const e: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    e[k] = v !== null && typeof v === 'object' && 'big' in v ? parseHex(`awaiting.${k}`, (v as { big: unknown }).big) : v;
  }
  return e as unknown as Exit;
}
