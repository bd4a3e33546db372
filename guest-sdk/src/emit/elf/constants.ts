// ELF numbers used by the relocatable-object writer. Sources: System V gABI (ELF spec, "ELF Header",
// "Sections", "Symbol Table", "Relocation"), /usr/include/elf.h, and the psABIs for x86-64 and i386.

export const ELFMAG = [0x7f, 0x45, 0x4c, 0x46]; // gABI e_ident[EI_MAG0..3] "\x7fELF"
export const ELFCLASS32 = 1; // gABI EI_CLASS
export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1; // gABI EI_DATA little-endian
export const EV_CURRENT = 1; // gABI EI_VERSION / e_version
export const ELFOSABI_SYSV = 0; // gABI EI_OSABI
export const ET_REL = 1; // gABI e_type relocatable
export const EM_386 = 3; // elf.h EM_386
export const EM_X86_64 = 62; // elf.h EM_X86_64

export const SHT_NULL = 0; // gABI sh_type
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_REL = 9;

export const SHF_WRITE = 0x1; // gABI sh_flags
export const SHF_ALLOC = 0x2;
export const SHF_EXECINSTR = 0x4;
export const SHF_INFO_LINK = 0x40; // sh_info holds a section index (set by GNU as on .rela.*)

export const SHN_UNDEF = 0; // gABI special section index
export const SHN_ABS = 0xfff1;

export const STB_LOCAL = 0; // gABI ELF32_ST_BIND
export const STB_GLOBAL = 1;
export const STT_NOTYPE = 0; // gABI ELF32_ST_TYPE
export const STT_OBJECT = 1;
export const STT_FUNC = 2;
export const STT_SECTION = 3;
export const STT_FILE = 4;
export const STV_DEFAULT = 0; // gABI st_other visibility

export const R_X86_64_64 = 1; // x86-64 psABI table "Relocation Types": S + A, word64
export const R_X86_64_PC32 = 2; // S + A - P, word32
export const R_X86_64_PLT32 = 4; // L + A - P, word32 (calls to symbols that may live elsewhere)
export const R_X86_64_32 = 10; // S + A, word32 zero-extended
export const R_X86_64_32S = 11; // S + A, word32 sign-extended
export const R_386_32 = 1; // i386 psABI: S + A
export const R_386_PC32 = 2; // S + A - P

/** Sizes per class (gABI: Elf64_Ehdr 64, Elf64_Shdr 64, Elf64_Sym 24, Elf64_Rela 24; Elf32 52, 40, 16, Rel 8). */
export const SIZES = {
  64: { ehdr: 64, shdr: 64, sym: 24, rel: 24, word: 8 },
  32: { ehdr: 52, shdr: 40, sym: 16, rel: 8, word: 4 },
} as const;
