// pvio codecs (spec §4-§6 in shared-abi/README.md): the 64-bit access descriptor, status <-> register,
// parsing a call the way a host must, and each operation's plain MMIO/port-I/O equivalent.
import { AbiError, type Problem } from './errors.js';
import {
  PVIO_DESC_ADDRESS_BITS, PVIO_HC, PVIO_HC_FEATURE, PVIO_HC_FIRST, PVIO_HC_LAST, PVIO_STATUS,
  type PvioFeatureName, type PvioHcName, type PvioStatusName,
} from './pvio.js';

export type PvioSpace = 'mmio' | 'pio';
export type PvioSize = 1 | 2 | 4 | 8;

/** One device access, as the descriptor describes it. */
export interface PvioAccess {
  readonly space: PvioSpace;
  readonly address: bigint;
  readonly size: PvioSize;
  readonly write: boolean;
}

const U64 = (1n << 64n) - 1n;
const ADDR_MASK = (1n << BigInt(PVIO_DESC_ADDRESS_BITS)) - 1n;
const SIZE_SHIFT = 52n; // spec §4.0 bits 53:52
const WRITE_BIT = 1n << 54n; // spec §4.0 bit 54
const PIO_BIT = 1n << 55n; // spec §4.0 bit 55
const RESERVED_MASK = 0xffn << 56n; // spec §4.0 bits 63:56
const PORT_LIMIT = 0x10000n; // x86 port space 0..0xFFFF (ABI-FACTS §7)

/** A descriptor or data problem, carrying the status the host returns for it. */
export class PvioError extends AbiError {
  readonly status: PvioStatusName;
  constructor(status: PvioStatusName, problems: readonly Problem[]) {
    super(problems);
    this.name = 'PvioError';
    this.status = status;
  }
}

const dataMask = (size: number): bigint => (1n << BigInt(size * 8)) - 1n;

/** Problems with an access; empty when it is one the spec allows. `physBits` = leaf base+2 ECX. */
export function accessProblems(a: PvioAccess, physBits = PVIO_DESC_ADDRESS_BITS): Problem[] {
  const p: Problem[] = [];
  if (a.space !== 'mmio' && a.space !== 'pio') p.push({ path: 'desc.space', value: a.space, message: 'space must be mmio or pio' });
  const sizes = a.space === 'pio' ? [1, 2, 4] : [1, 2, 4, 8];
  if (!sizes.includes(a.size)) p.push({ path: 'desc.size', value: a.size, message: `${a.space} access size must be ${sizes.join(', ')}` });
  if (typeof a.address !== 'bigint' || a.address < 0n) {
    p.push({ path: 'desc.address', value: a.address, message: 'address must be a non-negative bigint' });
    return p;
  }
  if (a.space === 'pio') {
    if (a.address >= PORT_LIMIT) p.push({ path: 'desc.address', value: a.address, message: 'port beyond 0xFFFF' });
    else if (sizes.includes(a.size) && a.address + BigInt(a.size) > PORT_LIMIT) p.push({ path: 'desc.address', value: a.address, message: `port + size runs past 0xFFFF` });
  } else {
    const bits = Math.min(physBits, PVIO_DESC_ADDRESS_BITS);
    if (a.address >= 1n << BigInt(bits)) p.push({ path: 'desc.address', value: a.address, message: `address beyond the ${bits}-bit guest-physical space` });
    else if (sizes.includes(a.size) && a.address % BigInt(a.size) !== 0n) p.push({ path: 'desc.address', value: a.address, message: `misaligned: a ${a.size}-byte MMIO access needs a multiple of ${a.size}` });
  }
  return p;
}

/** Builds the descriptor (spec §4.0); throws PvioError('EINVAL') listing every problem. */
export function encodePvioDesc(a: PvioAccess): bigint {
  const p = accessProblems(a);
  if (p.length) throw new PvioError('EINVAL', p);
  return a.address | (BigInt(Math.log2(a.size)) << SIZE_SHIFT) | (a.write ? WRITE_BIT : 0n) | (a.space === 'pio' ? PIO_BIT : 0n);
}

export interface DecodedPvioDesc extends PvioAccess {
  /** Bits 63:56 (must be zero). */
  readonly reservedBits: bigint;
}

/** Splits a descriptor into its fields without judging it (see checkPvioDesc). */
export function decodePvioDesc(desc: bigint): DecodedPvioDesc {
  if (typeof desc !== 'bigint' || desc < 0n || desc > U64) throw new AbiError([{ path: 'desc', value: desc, message: 'must be an unsigned 64-bit bigint' }]);
  return {
    space: desc & PIO_BIT ? 'pio' : 'mmio',
    address: desc & ADDR_MASK,
    size: (1 << Number((desc >> SIZE_SHIFT) & 3n)) as PvioSize,
    write: (desc & WRITE_BIT) !== 0n,
    reservedBits: desc & RESERVED_MASK,
  };
}

export type PvioVerdict<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly status: PvioStatusName; readonly code: number; readonly problems: readonly Problem[] };

const fail = <T>(status: PvioStatusName, problems: Problem[]): PvioVerdict<T> => ({ ok: false, status, code: PVIO_STATUS[status], problems });

/** Judges a descriptor received in call `space`: EINVAL for reserved bits, space mismatch, size, alignment, range. */
export function checkPvioDesc(desc: bigint, space: PvioSpace, opts: { physBits?: number } = {}): PvioVerdict<PvioAccess> {
  const d = decodePvioDesc(desc);
  const p: Problem[] = [];
  if (d.reservedBits) p.push({ path: 'desc.reserved', value: d.reservedBits, message: 'bits 63:56 must be zero' });
  if (d.space !== space) p.push({ path: 'desc.pio', value: d.space === 'pio', message: `descriptor says ${d.space}, the call is ${space}` });
  p.push(...accessProblems(d, opts.physBits));
  if (p.length) return fail('EINVAL', p);
  return { ok: true, value: { space: d.space, address: d.address, size: d.size, write: d.write } };
}

/** Data must fit the access size; a read's data argument must be 0 (reserved, spec §4.1). */
export function dataProblems(a: PvioAccess, data: bigint): Problem[] {
  if (typeof data !== 'bigint' || data < 0n || data > U64) return [{ path: 'data', value: data, message: 'must be an unsigned 64-bit bigint' }];
  if (!a.write && data !== 0n) return [{ path: 'data', value: data, message: 'must be 0 for a read (reserved)' }];
  if (a.write && data > dataMask(a.size)) return [{ path: 'data', value: data, message: `does not fit a ${a.size}-byte write (no silent truncation)` }];
  return [];
}

// ---- status in the result register (spec §5) ----------------------------------------------------------
/** RAX/EAX value for a status: -code, two's complement at the caller's width (like KVM, ABI-FACTS §1.2). */
export function pvioStatusReg(status: PvioStatusName, bits: 64 | 32): bigint {
  const code = BigInt(PVIO_STATUS[status]);
  return bits === 64 ? (-code) & U64 : (-code) & 0xffffffffn;
}

/** Reads a result register back: the status name, or `undefined` for a value pvio never returns (e.g. KVM's -1000). */
export function pvioRegStatus(reg: bigint, bits: 64 | 32): PvioStatusName | undefined {
  const m = (1n << BigInt(bits)) - 1n;
  if (typeof reg !== 'bigint' || reg < 0n || reg > m) return undefined;
  const code = reg === 0n ? 0n : m + 1n - reg;
  return (Object.keys(PVIO_STATUS) as PvioStatusName[]).find((k) => BigInt(PVIO_STATUS[k]) === code);
}

// ---- parsing a call (what a host does first) ----------------------------------------------------------
export type PvioOp =
  | { readonly kind: 'access'; readonly access: PvioAccess; readonly data: bigint }
  | { readonly kind: 'doorbell-register'; readonly access: PvioAccess }
  | { readonly kind: 'doorbell-ring'; readonly id: number; readonly data: bigint }
  | { readonly kind: 'doorbell-unregister'; readonly id: number };

export interface PvioCallContext {
  /** Caller width: a 32-bit caller's nr is EAX only; a 64-bit caller's RAX 63:32 must be zero. */
  readonly bits: 64 | 32;
  /** Features the host advertised (leaf base+1 EAX); default all. */
  readonly features?: readonly PvioFeatureName[];
  /** Leaf base+2 ECX. */
  readonly physBits?: number;
  readonly cpl?: number;
}

/** PVIO_HC by number (first name of a number wins, as a search in key order would); built once, hot path. */
const HC_NAME_BY_NR: ReadonlyMap<bigint, PvioHcName> = (() => {
  const m = new Map<bigint, PvioHcName>();
  for (const k of Object.keys(PVIO_HC) as PvioHcName[]) if (!m.has(BigInt(PVIO_HC[k]))) m.set(BigInt(PVIO_HC[k]), k);
  return m;
})();

/** Name of a pvio number, or undefined outside the defined calls. */
export function pvioHcName(nr: bigint): PvioHcName | undefined {
  return typeof nr === 'bigint' ? HC_NAME_BY_NR.get(nr) : undefined;
}

/**
 * Turns (nr, arg0, arg1) into an operation or the status to return (spec §4, §5). Order: CPL, number,
 * feature bit, then descriptor/data checks. Device lookup (EFAULT), doorbell ids (ENOENT/ENOSPC) and a
 * ring's data width (dataProblems against the registered access) depend on host state and are left to the host.
 */
export function parsePvioCall(nr: bigint, arg0: bigint, arg1: bigint, ctx: PvioCallContext): PvioVerdict<PvioOp> {
  if ((ctx.cpl ?? 0) !== 0) return fail('EPERM', [{ path: 'cpl', value: ctx.cpl, message: 'pvio calls are CPL 0 only' }]);
  const name = pvioHcName(nr);
  if (!name) {
    const inRange = nr >= BigInt(PVIO_HC_FIRST) && nr <= BigInt(PVIO_HC_LAST);
    return fail('ENOSYS', [{ path: 'nr', value: nr, message: inRange ? 'unassigned number in the pvio range' : 'not a pvio number' }]);
  }
  const feature = PVIO_HC_FEATURE[name];
  if (ctx.features && !ctx.features.includes(feature)) {
    return fail('ENOSYS', [{ path: 'nr', value: nr, message: `PVIO_FEATURE_${feature} is not advertised` }]);
  }
  const id = (): PvioVerdict<number> =>
    arg0 >= 1n && arg0 <= 0xffffffffn ? { ok: true, value: Number(arg0) } : fail('EINVAL', [{ path: 'id', value: arg0, message: 'doorbell id is 1..0xFFFFFFFF' }]);
  const zero = (v: bigint, path: string): Problem[] => (v === 0n ? [] : [{ path, value: v, message: 'must be 0 (reserved)' }]);
  switch (name) {
    case 'MMIO':
    case 'PIO': {
      const d = checkPvioDesc(arg0, name === 'MMIO' ? 'mmio' : 'pio', { physBits: ctx.physBits });
      if (!d.ok) return d;
      const p = dataProblems(d.value, arg1);
      return p.length ? fail('EINVAL', p) : { ok: true, value: { kind: 'access', access: d.value, data: arg1 } };
    }
    case 'DOORBELL_REGISTER': {
      const pio = (arg0 & PIO_BIT) !== 0n;
      const d = checkPvioDesc(arg0, pio ? 'pio' : 'mmio', { physBits: ctx.physBits });
      if (!d.ok) return d;
      const p = [...(d.value.write ? [] : [{ path: 'desc.write', value: false, message: 'a doorbell is a write' }]), ...zero(arg1, 'zero')];
      return p.length ? fail('EINVAL', p) : { ok: true, value: { kind: 'doorbell-register', access: d.value } };
    }
    case 'DOORBELL_RING': {
      const i = id();
      return i.ok ? { ok: true, value: { kind: 'doorbell-ring', id: i.value, data: arg1 } } : i;
    }
    case 'DOORBELL_UNREGISTER': {
      const i = id();
      if (!i.ok) return i;
      const p = zero(arg1, 'zero');
      return p.length ? fail('EINVAL', p) : { ok: true, value: { kind: 'doorbell-unregister', id: i.value } };
    }
  }
}

// ---- THE RULE: plain equivalents (spec §6) -------------------------------------------------------------
/** The plain access with the same device-visible effect, and the one instruction that performs it. */
export interface PvioPlainAccess {
  readonly kind: 'mmio' | 'pio';
  readonly address: bigint;
  readonly size: PvioSize;
  readonly write: boolean;
  /** The value written (writes only). */
  readonly data?: bigint;
  /** NASM syntax; `[addr]` stands for the address (MMIO), DX holds the port (PIO). */
  readonly insn: string;
}
export type PvioPlain = PvioPlainAccess | { readonly kind: 'none'; readonly why: string };

const REG: Record<number, string> = { 1: 'al', 2: 'ax', 4: 'eax', 8: 'rax' };
const PTR: Record<number, string> = { 1: 'byte', 2: 'word', 4: 'dword', 8: 'qword' };

/** The single instruction a guest of width `bits` uses for the plain access (32-bit 8-byte MMIO: SSE2 movq). */
export function plainInstruction(a: PvioAccess, bits: 64 | 32): string {
  if (a.space === 'pio') return a.write ? `out dx, ${REG[a.size]}` : `in ${REG[a.size]}, dx`;
  if (a.size === 8 && bits === 32) return a.write ? 'movq qword [addr], xmm0' : 'movq xmm0, qword [addr]';
  return a.write ? `mov ${PTR[a.size]} [addr], ${REG[a.size]}` : `mov ${REG[a.size]}, ${PTR[a.size]} [addr]`;
}

/**
 * The plain MMIO / port-I/O operation equivalent to `op` (spec §6). Doorbell rings need the host's or
 * guest's table of registered descriptors.
 */
export function pvioPlainEquivalent(op: PvioOp, ctx: { bits?: 64 | 32; doorbells?: ReadonlyMap<number, PvioAccess> } = {}): PvioPlain {
  const bits = ctx.bits ?? 64;
  const plain = (a: PvioAccess, data: bigint): PvioPlainAccess => ({
    kind: a.space, address: a.address, size: a.size, write: a.write, ...(a.write ? { data } : {}), insn: plainInstruction(a, bits),
  });
  switch (op.kind) {
    case 'access':
      return plain(op.access, op.data);
    case 'doorbell-ring': {
      const a = ctx.doorbells?.get(op.id);
      if (!a) return { kind: 'none', why: `doorbell ${op.id} is not registered: the host answers -PVIO_ENOENT and no device is touched` };
      return plain(a, op.data);
    }
    case 'doorbell-register':
      return { kind: 'none', why: 'registration touches no device' };
    case 'doorbell-unregister':
      return { kind: 'none', why: 'unregistration touches no device' };
  }
}
