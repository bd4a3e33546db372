// Guest images for `pvkit run`: a flat binary at an origin, or an ELF executable (PT_LOAD segments at their
// physical addresses; the emulator maps virtual = physical). Errors name the file, the field and why.

export interface LoadedSegment {
  readonly gpa: bigint;
  readonly bytes: Uint8Array;
  /** Bytes to zero after `bytes` (p_memsz - p_filesz). */
  readonly zero: number;
}

export interface GuestImage {
  readonly format: 'flat' | 'elf';
  readonly bits: 64 | 32;
  readonly entry: bigint;
  readonly segments: readonly LoadedSegment[];
}

export class LoadError extends Error {
  override name = 'LoadError';
}

// ELF constants: System V ABI gABI, "ELF Header" and "Program Header" (e_ident, ET_EXEC, PT_LOAD, EM_*).
const ELFMAG = [0x7f, 0x45, 0x4c, 0x46];
const ELFCLASS32 = 1, ELFCLASS64 = 2, ELFDATA2LSB = 1;
const ET_EXEC = 2;
const EM_386 = 3, EM_X86_64 = 62;
const PT_LOAD = 1;

export function isElf(b: Uint8Array): boolean {
  return b.length >= 4 && ELFMAG.every((m, i) => b[i] === m);
}

export function loadFlat(file: string, bytes: Uint8Array, origin: bigint, bits: 64 | 32): GuestImage {
  if (bytes.length === 0) throw new LoadError(`${file}: empty file`);
  return { format: 'flat', bits, entry: origin, segments: [{ gpa: origin, bytes, zero: 0 }] };
}

export function loadElf(file: string, b: Uint8Array): GuestImage {
  const need = (ok: boolean, field: string, value: unknown, why: string): void => {
    if (!ok) throw new LoadError(`${file}: ELF ${field} = ${typeof value === 'number' || typeof value === 'bigint' ? '0x' + value.toString(16) : String(value)}: ${why}`);
  };
  need(b.length >= 52, 'size', b.length, 'shorter than an ELF header');
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const cls = b[4]!;
  need(cls === ELFCLASS32 || cls === ELFCLASS64, 'e_ident[EI_CLASS]', cls, 'neither ELFCLASS32 nor ELFCLASS64');
  need(b[5] === ELFDATA2LSB, 'e_ident[EI_DATA]', b[5], 'not little-endian');
  const is64 = cls === ELFCLASS64;
  need(!is64 || b.length >= 64, 'size', b.length, 'shorter than an ELF64 header');
  const type = dv.getUint16(16, true);
  need(type === ET_EXEC, 'e_type', type, 'not an executable (ET_EXEC); link with -static and a fixed address (e.g. -Ttext)');
  const machine = dv.getUint16(18, true);
  need(machine === (is64 ? EM_X86_64 : EM_386), 'e_machine', machine, `expected ${is64 ? 'EM_X86_64 (62)' : 'EM_386 (3)'}`);
  const entry = is64 ? dv.getBigUint64(24, true) : BigInt(dv.getUint32(24, true));
  const phoff = is64 ? Number(dv.getBigUint64(32, true)) : dv.getUint32(28, true);
  const phentsize = dv.getUint16(is64 ? 54 : 42, true);
  const phnum = dv.getUint16(is64 ? 56 : 44, true);
  need(phnum > 0, 'e_phnum', phnum, 'no program headers');
  need(phentsize >= (is64 ? 56 : 32), 'e_phentsize', phentsize, 'too small');
  need(phoff + phnum * phentsize <= b.length, 'e_phoff', phoff, 'program headers run past the end of the file');
  const segments: LoadedSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    if (dv.getUint32(o, true) !== PT_LOAD) continue;
    const off = is64 ? Number(dv.getBigUint64(o + 8, true)) : dv.getUint32(o + 4, true);
    const paddr = is64 ? dv.getBigUint64(o + 24, true) : BigInt(dv.getUint32(o + 12, true));
    const filesz = is64 ? Number(dv.getBigUint64(o + 32, true)) : dv.getUint32(o + 16, true);
    const memsz = is64 ? Number(dv.getBigUint64(o + 40, true)) : dv.getUint32(o + 20, true);
    need(off + filesz <= b.length, `phdr[${i}].p_offset+p_filesz`, off + filesz, 'runs past the end of the file');
    need(memsz >= filesz, `phdr[${i}].p_memsz`, memsz, 'smaller than p_filesz');
    segments.push({ gpa: paddr, bytes: b.subarray(off, off + filesz), zero: memsz - filesz });
  }
  need(segments.length > 0, 'program headers', phnum, 'no PT_LOAD segment');
  return { format: 'elf', bits: is64 ? 64 : 32, entry, segments };
}
