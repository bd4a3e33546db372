// validate(): every problem of an AbiDefinition (built-in or user-defined), each located by a JSON path into
// the AbiDefinition shape ($.cpuid.signature, $.hypercalls[3].nr, ...). loadAbiJson() maps these paths back
// onto the JSON file's own field names.
import type { AbiDefinition, CallingConvention, Gpr64, HypercallSpace, Slot } from '../types.js';
import { GPR32, GPR64 } from '../types.js';
import type { Problem } from '../errors.js';
import { checkLayout } from '../bitfield.js';
import { HYPERVISOR_CPUID_SCAN } from '../cpuid.js';
import { cIdentifierProblem } from './names.js';
import { checkSpaceCollisions } from '../space.js';

export interface ValidateOptions {
  /** Other ABIs whose hypercall spaces this one must not collide with (the base ABI, the built-ins). */
  readonly against?: readonly AbiDefinition[];
  /** Source file, copied into every problem. */
  readonly file?: string;
}

export const ARG_TYPES = ['u8', 'u16', 'u32', 'u64', 'i32', 'i64', 'gpa', 'gva', 'flags'] as const;
export const TRAPS = ['hypercall', 'hcpage', 'port'] as const;
export const CPUID_REGS = ['eax', 'ebx', 'ecx', 'edx'] as const;
export const ERROR_ENCODINGS = ['neg-errno', 'hv-status', 'all-ones'] as const;
export const MSR_ACCESS = ['rw', 'ro', 'wo'] as const;
export const FIELD_KINDS = ['flag', 'uint', 'gpa', 'reserved'] as const;

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const inRange = (v: unknown, lo: number, hi: number): v is number => isInt(v) && v >= lo && v <= hi;
const hex = (n: number | bigint): string => `0x${n.toString(16)}`;

/** Collects problems under one file. */
class Sink {
  readonly problems: Problem[] = [];
  constructor(private readonly file?: string) {}
  add(path: string, value: unknown, message: string): void {
    this.problems.push(this.file === undefined ? { path, value, message } : { path, value, message, file: this.file });
  }
  name(path: string, value: unknown): void {
    const why = cIdentifierProblem(value);
    if (why) this.add(path, value, why);
  }
  /** Reports every repeat of a key, naming the first holder. */
  unique<T>(items: readonly T[], key: (t: T) => unknown, path: (i: number) => string, what: string): void {
    const first = new Map<unknown, number>();
    items.forEach((t, i) => {
      const k = key(t);
      if (k === undefined) return;
      const prev = first.get(k);
      if (prev === undefined) first.set(k, i);
      else this.add(path(i), k, `duplicate ${what} (also at ${path(prev)})`);
    });
  }
}

export function validate(def: AbiDefinition, opts: ValidateOptions = {}): Problem[] {
  const s = new Sink(opts.file);
  s.name('$.name', def.name);
  checkCpuid(def, s);
  checkFeatures(def, s);
  def.conventions.forEach((c, i) => checkConvention(c, `$.conventions[${i}]`, s));
  s.unique(def.conventions, (c) => c.id, (i) => `$.conventions[${i}].id`, 'convention id');
  checkSpace(def.space, s);
  checkHypercalls(def, s);
  checkErrors(def, s);
  checkMsrs(def, s);
  def.constants.forEach((c, i) => {
    s.name(`$.constants[${i}].name`, c.name);
    const v = c.value;
    const ok = typeof v === 'bigint' ? v >= -(1n << 63n) && v < 1n << 64n : isInt(v);
    if (!ok) s.add(`$.constants[${i}].value`, v, 'must be an integer that fits 64 bits (bigint past 2^53)');
  });
  s.unique(def.constants, (c) => c.name, (i) => `$.constants[${i}].name`, 'constant name');
  for (const other of opts.against ?? []) if (other.name !== def.name) checkCollisions(def, other, s);
  return s.problems;
}

function checkCpuid(def: AbiDefinition, s: Sink): void {
  const c = def.cpuid;
  const bytes = typeof c.signature === 'string' ? Buffer.from(c.signature, 'latin1').length : -1;
  if (typeof c.signature !== 'string' || bytes !== 12 || [...c.signature].some((ch) => ch.charCodeAt(0) > 0xff)) {
    // asm/cpuid/api.h hypervisor_cpuid_base() compares 12 bytes from EBX, ECX, EDX
    s.add('$.cpuid.signature', c.signature, `a CPUID signature is exactly 12 one-byte characters (EBX, ECX, EDX), got ${bytes < 0 ? typeof c.signature : `${bytes} bytes`}`);
  }
  if (c.detection !== 'scan' && c.detection !== 'fixed') s.add('$.cpuid.detection', c.detection, "must be 'scan' or 'fixed'");
  const { first, last, step } = HYPERVISOR_CPUID_SCAN;
  if (!inRange(c.defaultBase, first, last) || (c.defaultBase - first) % step !== 0) {
    s.add('$.cpuid.defaultBase', c.defaultBase, `a hypervisor CPUID base is one of ${hex(first)}..${hex(last)} in steps of ${hex(step)} (Linux hypervisor_cpuid_base())`);
  }
  if (!inRange(c.maxLeafOffset, 0, step - 1)) s.add('$.cpuid.maxLeafOffset', c.maxLeafOffset, `max leaf must stay inside the base's block: offset 0..${step - 1}`);
  if (!inRange(c.minLeaves, 0, step - 1)) s.add('$.cpuid.minLeaves', c.minLeaves, `must be 0..${step - 1}`);
  else if (isInt(c.maxLeafOffset) && c.minLeaves > c.maxLeafOffset) {
    s.add('$.cpuid.minLeaves', c.minLeaves, `detection requires more leaves than the ABI advertises (max leaf offset ${c.maxLeafOffset})`);
  }
  c.leaves.forEach((l, i) => {
    // Leaf names are descriptive ("hypercall page"); the header generator turns them into macro words.
    if (typeof l.name !== 'string' || !/[A-Za-z0-9]/.test(l.name)) s.add(`$.cpuid.leaves[${i}].name`, l.name, 'a leaf needs a name with letters or digits');
    if (!inRange(l.offset, 0, c.maxLeafOffset)) s.add(`$.cpuid.leaves[${i}].offset`, l.offset, `leaf offset beyond the max leaf offset ${c.maxLeafOffset}`);
    for (const r of Object.keys(l.regs)) if (!(CPUID_REGS as readonly string[]).includes(r)) s.add(`$.cpuid.leaves[${i}].regs.${r}`, r, 'not a CPUID output register (eax, ebx, ecx, edx)');
  });
  s.unique(c.leaves, (l) => l.offset, (i) => `$.cpuid.leaves[${i}].offset`, 'leaf offset');
  s.unique(c.leaves, (l) => l.name, (i) => `$.cpuid.leaves[${i}].name`, 'leaf name');
}

function checkFeatures(def: AbiDefinition, s: Sink): void {
  const max = def.cpuid.maxLeafOffset;
  def.features.forEach((f, i) => {
    const p = `$.features[${i}]`;
    s.name(`${p}.name`, f.name);
    // Leaf 0 holds the max leaf and the signature, so features start at offset 1.
    if (!inRange(f.leaf, 1, 0xff)) s.add(`${p}.leaf`, f.leaf, 'feature leaf offset must be 1..255 (offset 0 is the signature leaf)');
    else if (isInt(max) && f.leaf > max) s.add(`${p}.leaf`, f.leaf, `leaf ${hex(def.cpuid.defaultBase + f.leaf)} is beyond the max leaf ${hex(def.cpuid.defaultBase + max)}: guests never read it`);
    if (!(CPUID_REGS as readonly string[]).includes(f.reg)) s.add(`${p}.reg`, f.reg, 'must be eax, ebx, ecx or edx');
    if (!inRange(f.bit, 0, 31)) s.add(`${p}.bit`, f.bit, 'a CPUID register has bits 0..31');
  });
  s.unique(def.features, (f) => f.name, (i) => `$.features[${i}].name`, 'feature name');
  s.unique(def.features, (f) => `leaf ${f.leaf} ${f.reg} bit ${f.bit}`, (i) => `$.features[${i}].bit`, 'feature bit (same leaf, register and bit)');
}

function slotProblem(slot: Slot, bits: number): string | undefined {
  if (typeof slot === 'string') {
    // A 64-bit convention may name a 32-bit register when only the low half counts (VMware: "x86_64 uses only
    // lower 32 bits"); a 32-bit convention has no 64-bit registers.
    const ok = (GPR32 as readonly string[]).includes(slot) || (bits === 64 && (GPR64 as readonly string[]).includes(slot));
    return ok ? undefined : bits === 64 ? 'not a general-purpose register' : 'not a 32-bit general-purpose register';
  }
  if (slot && typeof slot === 'object' && (GPR32 as readonly string[]).includes(slot.hi) && (GPR32 as readonly string[]).includes(slot.lo) && slot.hi !== slot.lo) return undefined;
  return 'a register pair is {hi, lo} of two different 32-bit registers';
}

function checkConvention(c: CallingConvention, p: string, s: Sink): void {
  if (typeof c.id !== 'string' || !/^[A-Za-z0-9_-]+$/.test(c.id)) s.add(`${p}.id`, c.id, 'convention id is letters, digits, - and _');
  if (c.bits !== 64 && c.bits !== 32) s.add(`${p}.bits`, c.bits, 'must be 64 or 32');
  if (!(TRAPS as readonly string[]).includes(c.trap)) s.add(`${p}.trap`, c.trap, `must be one of ${TRAPS.join(', ')}`);
  const bits = c.bits === 32 ? 32 : 64;
  const slot = (at: string, v: Slot): void => {
    const why = slotProblem(v, bits);
    if (why) s.add(at, v, why);
  };
  slot(`${p}.number`, c.number);
  c.args.forEach((a, i) => slot(`${p}.args[${i}]`, a));
  c.results.forEach((a, i) => slot(`${p}.results[${i}]`, a));
  if (c.results.length === 0) s.add(`${p}.results`, c.results, 'needs at least one result register (the status)');
  c.clobbers.forEach((r, i) => slot(`${p}.clobbers[${i}]`, r));
  s.unique(c.args.map(slotKey), (k) => k, (i) => `${p}.args[${i}]`, 'argument register');
}

const slotKey = (s: Slot): string => (typeof s === 'string' ? s : `${s.hi}:${s.lo}`);

function checkSpace(sp: HypercallSpace, s: Sink): void {
  if (!(TRAPS as readonly string[]).includes(sp.trap)) s.add('$.space.trap', sp.trap, `must be one of ${TRAPS.join(', ')}`);
  if (!(GPR64 as readonly string[]).includes(sp.selector)) s.add('$.space.selector', sp.selector, 'the selector is named by its 64-bit register');
  // Contiguous low bits (2^k - 1): the number is the low k bits of the selector (space.ts relies on this too).
  if (!inRange(sp.mask, 1, 0xffffffff) || (BigInt(sp.mask) & (BigInt(sp.mask) + 1n)) !== 0n) s.add('$.space.mask', sp.mask, 'selector mask must be contiguous low bits 2^k - 1, at most 0xffffffff');
  if (!isInt(sp.lo) || !isInt(sp.hi) || sp.lo < 0 || sp.lo > sp.hi) s.add('$.space.lo', { lo: sp.lo, hi: sp.hi }, 'needs integers with 0 <= lo <= hi');
  else if (isInt(sp.mask) && (BigInt(sp.hi) & ~BigInt(sp.mask)) !== 0n) s.add('$.space.hi', sp.hi, `does not fit the selector mask ${hex(sp.mask)}`);
}

/** Conventions a hypercall may use in a given mode. */
function conventionsFor(def: AbiDefinition, names: readonly string[] | undefined, bits: number): CallingConvention[] {
  return def.conventions.filter((c) => c.bits === bits && (!names || names.includes(c.id)));
}

/** The 64-bit register a slot lives in (eax -> rax; a pair by its low half). */
export function widenSlot(s: Slot): Gpr64 {
  const reg = typeof s === 'string' ? s : s.lo;
  return (reg.startsWith('e') ? `r${reg.slice(1)}` : reg) as Gpr64;
}

/**
 * True when the space's selector is the register that carries hypercall numbers, so numbers can be checked
 * against the space. VMware's space selects by EAX = magic while its command numbers travel in ECX.
 */
export function numbersInSelector(def: AbiDefinition): boolean {
  return def.conventions.length > 0 && def.conventions.every((c) => widenSlot(c.number) === def.space.selector);
}

function checkHypercalls(def: AbiDefinition, s: Sink): void {
  const sp = def.space;
  const inSpace = numbersInSelector(def);
  const ids = new Set(def.conventions.map((c) => c.id));
  def.hypercalls.forEach((h, i) => {
    const p = `$.hypercalls[${i}]`;
    s.name(`${p}.name`, h.name);
    if (!isInt(h.nr) || h.nr < 0) s.add(`${p}.nr`, h.nr, 'hypercall number must be a non-negative integer');
    else if (isInt(sp.mask) && (BigInt(h.nr) & ~BigInt(sp.mask)) !== 0n) s.add(`${p}.nr`, h.nr, `does not fit the selector ${sp.selector} mask ${hex(sp.mask)}`);
    else if (inSpace && isInt(sp.lo) && isInt(sp.hi) && (h.nr < sp.lo || h.nr > sp.hi)) s.add(`${p}.nr`, h.nr, `outside this ABI's hypercall space ${hex(sp.lo)}..${hex(sp.hi)}`);
    h.args.forEach((a, j) => {
      s.name(`${p}.args[${j}].name`, a.name);
      if (!(ARG_TYPES as readonly string[]).includes(a.type)) s.add(`${p}.args[${j}].type`, a.type, `argument type must be one of ${ARG_TYPES.join(', ')}`);
    });
    s.unique(h.args, (a) => a.name, (j) => `${p}.args[${j}].name`, 'argument name');
    (h.conventions ?? []).forEach((id, j) => {
      if (!ids.has(id)) s.add(`${p}.conventions[${j}]`, id, `no such calling convention (have: ${[...ids].join(', ') || 'none'})`);
    });
    const modes = h.bits ?? [64, 32];
    modes.forEach((b, j) => {
      if (b !== 64 && b !== 32) s.add(`${p}.bits[${j}]`, b, 'must be 64 or 32');
    });
    let usable = 0;
    for (const b of modes) {
      for (const c of conventionsFor(def, h.conventions, b)) {
        usable++;
        if (h.args.length > c.args.length) {
          s.add(`${p}.args`, h.args.length, `${h.args.length} arguments but convention '${c.id}' passes only ${c.args.length} in registers (${c.args.map(slotKey).join(', ')})`);
        }
      }
    }
    if (usable === 0 && def.conventions.length > 0) {
      s.add(p, { bits: h.bits, conventions: h.conventions }, 'no calling convention of this ABI can carry this hypercall');
    }
  });
  if (def.hypercalls.length > 0 && def.conventions.length === 0) s.add('$.conventions', [], 'hypercalls need at least one calling convention');
  s.unique(def.hypercalls, (h) => h.name, (i) => `$.hypercalls[${i}].name`, 'hypercall name');
  s.unique(def.hypercalls, (h) => h.nr, (i) => `$.hypercalls[${i}].nr`, 'hypercall number');
}

function checkErrors(def: AbiDefinition, s: Sink): void {
  const e = def.errors;
  if (!(ERROR_ENCODINGS as readonly string[]).includes(e.encoding)) s.add('$.errors.encoding', e.encoding, `must be one of ${ERROR_ENCODINGS.join(', ')}`);
  e.codes.forEach((c, i) => {
    s.name(`$.errors.codes[${i}].name`, c.name);
    const p = `$.errors.codes[${i}].value`;
    // neg-errno: Linux IS_ERR_VALUE range 1..4095 (MAX_ERRNO); hv-status: 16-bit HV_STATUS (TLFS 4.3 result value)
    if (e.encoding === 'neg-errno' && !inRange(c.value, 0, 4095)) s.add(p, c.value, 'a -errno code is 0..4095 (returned negated)');
    else if (e.encoding === 'hv-status' && !inRange(c.value, 0, 0xffff)) s.add(p, c.value, 'an HV_STATUS is 16 bits');
    else if (!inRange(c.value, 0, 0xffffffff)) s.add(p, c.value, 'must be a 32-bit unsigned integer');
  });
  s.unique(e.codes, (c) => c.name, (i) => `$.errors.codes[${i}].name`, 'error code name');
  s.unique(e.codes, (c) => c.value, (i) => `$.errors.codes[${i}].value`, 'error code value');
  const names = new Set(e.codes.map((c) => c.name));
  if (!names.has(e.unknownHypercall)) s.add('$.errors.unknownHypercall', e.unknownHypercall, 'must name one of the error codes');
  if (e.cplNonZero !== '#UD' && e.cplNonZero !== 'allowed' && !names.has(e.cplNonZero)) s.add('$.errors.cplNonZero', e.cplNonZero, "must name one of the error codes, '#UD' or 'allowed'");
}

function checkMsrs(def: AbiDefinition, s: Sink): void {
  def.msrs.forEach((m, i) => {
    const p = `$.msrs[${i}]`;
    s.name(`${p}.name`, m.name);
    if (!inRange(m.index, 0, 0xffffffff)) s.add(`${p}.index`, m.index, 'an MSR index is 32 bits (ECX)');
    if (!(MSR_ACCESS as readonly string[]).includes(m.access)) s.add(`${p}.access`, m.access, `must be one of ${MSR_ACCESS.join(', ')}`);
    m.layout.forEach((f, j) => {
      s.name(`${p}.layout[${j}].name`, f.name);
      if (!(FIELD_KINDS as readonly string[]).includes(f.kind)) s.add(`${p}.layout[${j}].kind`, f.kind, `must be one of ${FIELD_KINDS.join(', ')}`);
    });
    for (const q of checkLayout(m.layout, 64, `${p}.layout`)) s.add(q.path, q.value, q.message);
  });
  s.unique(def.msrs, (m) => m.name, (i) => `$.msrs[${i}].name`, 'MSR name');
  s.unique(def.msrs, (m) => m.index, (i) => `$.msrs[${i}].index`, 'MSR index');
}

/** Same trap class (a hypercall page executes VMCALL itself) and the same selector register. */
function sameSelector(a: HypercallSpace, b: HypercallSpace): boolean {
  const cls = (t: string): string => (t === 'port' ? 'port' : 'hypercall');
  return cls(a.trap) === cls(b.trap) && a.selector === b.selector;
}

/**
 * Registers decide, not the prose discriminators: each hypercall number inside the other ABI's space is
 * reported at the number; otherwise space.ts checkSpaceCollisions() (selector ranges and fixed registers per
 * mode) reports overlapping spaces at $.space.
 */
function checkCollisions(def: AbiDefinition, other: AbiDefinition, s: Sink): void {
  const a = def.space;
  const b = other.space;
  let hits = 0;
  if (sameSelector(a, b) && numbersInSelector(def) && numbersInSelector(other) && isInt(b.lo) && isInt(b.hi) && isInt(b.mask)) {
    const mask = BigInt(b.mask);
    def.hypercalls.forEach((h, i) => {
      if (!isInt(h.nr)) return;
      const n = BigInt(h.nr) & mask;
      if (n < BigInt(b.lo) || n > BigInt(b.hi)) return;
      hits++;
      const same = other.hypercalls.find((o) => BigInt(o.nr) === n);
      s.add(`$.hypercalls[${i}].nr`, h.nr, `collides with ${other.name}'s hypercall space ${hex(b.lo)}..${hex(b.hi)} (${a.trap}, selector ${a.selector})${same ? `: ${other.name} ${same.name} has this number` : ''}`);
    });
  }
  // An ABI without hypercalls claims no numbers, whatever its (defaulted) range says.
  if (hits > 0 || def.hypercalls.length === 0) return;
  for (const p of checkSpaceCollisions([def, other])) {
    // Malformed spaces are already reported by checkSpace().
    if (!p.path.startsWith('abis[')) s.add('$.space', p.value, `${p.path}: ${p.message}`);
  }
}
