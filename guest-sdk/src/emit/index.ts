// Emitters: every one is a pure function of an Image (see ../image.ts).
export { toBinary, symbolAddress } from './binary.js';
export { toHex } from './hex.js';
export { toManifest, type ManifestOptions } from './manifest.js';
export { toCHeader, type CHeaderOptions } from './cheader.js';
export { toElf, PATCH_SECTION, type ElfOptions, type FieldUse } from './elf/object.js';
export { toNasm, toGas, asmSource, fallbackCounts, type AsmSource, type Fallback, type Syntax } from './asm/index.js';
export { validateImage, layout, SECTION_ORDER, type Layout, type PlacedSection } from './layout.js';
