// The assembler's output and every emitter's input: sections of bytes with symbols, relocations and the
// hypercall patch sites. Offsets are section-relative; `origin` is where a flat image is meant to load.

export type SectionName = '.text' | '.rodata' | '.data';

export interface Section {
  readonly name: SectionName;
  readonly bytes: Uint8Array;
  /** Alignment in bytes (power of two). */
  readonly align: number;
}

export interface SymbolDef {
  readonly name: string;
  readonly section: SectionName;
  readonly offset: number;
  /** Size in bytes (0 for labels). */
  readonly size: number;
  readonly kind: 'func' | 'object' | 'notype';
  readonly global: boolean;
}

/**
 * A place whose final value depends on where a section or an external symbol lands.
 * `abs64`/`abs32`: S + A; `pc32`: S + A - P (x86-64 R_X86_64_PC32 / i386 R_386_PC32).
 */
export interface Relocation {
  readonly section: SectionName;
  readonly offset: number;
  readonly kind: 'abs64' | 'abs32' | 'pc32';
  /** A symbol defined in this image, or an external one. */
  readonly symbol: string;
  readonly addend: bigint;
}

/** A 3-byte VMCALL/VMMCALL site that a host (#UD) or the guest-patch routine may rewrite. */
export interface PatchSite {
  readonly section: SectionName;
  readonly offset: number;
  /** Instruction as emitted. */
  readonly insn: 'vmcall' | 'vmmcall';
  /** Symbol containing the site (for manifests and C tables). */
  readonly symbol: string;
}

export interface Image {
  readonly bits: 64 | 32;
  readonly sections: readonly Section[];
  readonly symbols: readonly SymbolDef[];
  readonly relocations: readonly Relocation[];
  readonly patchSites: readonly PatchSite[];
  /** Load address a flat binary assumes (sections laid out in order, each aligned). */
  readonly origin: bigint;
  /** What produced it, for manifests. */
  readonly meta?: { readonly abi?: string; readonly abiVersion?: string; readonly strategy?: string; readonly [k: string]: unknown };
}
