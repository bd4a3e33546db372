// Boot state for a vCPU without firmware: GDT, TSS and identity page tables in a small "system area" of guest
// memory, and the kvm_sregs that put the vCPU straight into 64-bit long mode or 32-bit flat protected mode.
import {
  CR0_ET, CR0_MP, CR0_NE, CR0_PE, CR0_PG, CR0_WP, CR4_OSFXSR, CR4_OSXMMEXCPT, CR4_PAE, EFER_LMA, EFER_LME,
  SEG_OFF, SREGS_OFF,
} from './abi.js';

export type KvmCpuMode = 'long64' | 'prot32';

/** Layout of the system area (each piece one 4 KiB page). */
export const SYS_GDT = 0x0000;
export const SYS_TSS = 0x1000;
export const SYS_PML4 = 0x2000;
export const SYS_PDPT = 0x3000;
export const SYS_PD = 0x4000; // 4 page directories follow, one per GiB
/** Bytes the system area needs: GDT, TSS, PML4, PDPT and 4 PDs (identity map of the low 4 GiB, 2 MiB pages). */
export const SYSTEM_AREA_SIZE = 0x8000;
export const IDENTITY_GIB = 4;

/** GDT selectors (index << 3, TI=0, RPL=0). */
export const SEL_CODE64 = 0x08;
export const SEL_DATA = 0x10;
export const SEL_CODE32 = 0x18;
export const SEL_TSS = 0x20;

// Descriptors (SDM Vol. 3A 3.4.5): limit 0xfffff, G=1; access 0x9b code (P, S, exec/read, accessed), 0x93 data.
const GDT_CODE64 = 0x00af9b000000ffffn; // L=1, D=0
const GDT_DATA = 0x00cf93000000ffffn; // D/B=1
const GDT_CODE32 = 0x00cf9b000000ffffn; // D=1

// Page-table entry bits (SDM Vol. 3A 4.5, Table 4-15..4-19).
const PTE_P = 1n;
const PTE_RW = 2n;
const PTE_PS = 0x80n;

/** Write the GDT, TSS and page tables into `area` (the bytes of the system area, guest-physical base `gpa`). */
export function buildSystemArea(area: Uint8Array, gpa: bigint): void {
  if (area.length < SYSTEM_AREA_SIZE) throw new RangeError(`system area: ${SYSTEM_AREA_SIZE} bytes needed, got ${area.length}`);
  area.fill(0, 0, SYSTEM_AREA_SIZE);
  const v = new DataView(area.buffer, area.byteOffset, SYSTEM_AREA_SIZE);
  v.setBigUint64(SYS_GDT + 8, GDT_CODE64, true);
  v.setBigUint64(SYS_GDT + 16, GDT_DATA, true);
  v.setBigUint64(SYS_GDT + 24, GDT_CODE32, true);
  // 64-bit TSS descriptor (SDM Vol. 3A 7.2.3): type 0xb busy, limit 0x67, 16 bytes.
  const tss = gpa + BigInt(SYS_TSS);
  const lo = 0x67n | ((tss & 0xffffffn) << 16n) | (0x8bn << 40n) | (((tss >> 24n) & 0xffn) << 56n);
  v.setBigUint64(SYS_GDT + 32, lo, true);
  v.setBigUint64(SYS_GDT + 40, tss >> 32n, true);
  v.setBigUint64(SYS_PML4, (gpa + BigInt(SYS_PDPT)) | PTE_P | PTE_RW, true);
  for (let g = 0; g < IDENTITY_GIB; g++) {
    const pd = SYS_PD + g * 0x1000;
    v.setBigUint64(SYS_PDPT + g * 8, (gpa + BigInt(pd)) | PTE_P | PTE_RW, true);
    for (let i = 0; i < 512; i++) {
      const phys = (BigInt(g) << 30n) | (BigInt(i) << 21n);
      v.setBigUint64(pd + i * 8, phys | PTE_P | PTE_RW | PTE_PS, true);
    }
  }
}

interface Seg {
  base: bigint;
  limit: number;
  selector: number;
  type: number;
  s: number;
  l: number;
  db: number;
  g: number;
}

function putSeg(v: DataView, at: number, s: Seg): void {
  v.setBigUint64(at + SEG_OFF.base, s.base, true);
  v.setUint32(at + SEG_OFF.limit, s.limit, true);
  v.setUint16(at + SEG_OFF.selector, s.selector, true);
  v.setUint8(at + SEG_OFF.type, s.type);
  v.setUint8(at + SEG_OFF.present, 1);
  v.setUint8(at + SEG_OFF.dpl, 0);
  v.setUint8(at + SEG_OFF.db, s.db);
  v.setUint8(at + SEG_OFF.s, s.s);
  v.setUint8(at + SEG_OFF.l, s.l);
  v.setUint8(at + SEG_OFF.g, s.g);
  v.setUint8(at + SEG_OFF.avl, 0);
  v.setUint8(at + SEG_OFF.unusable, 0);
}

/**
 * Edit a kvm_sregs buffer (as read by KVM_GET_SREGS, so apic_base and the rest keep KVM's values) for `mode`,
 * with the system area at `gpa`.
 */
export function applyModeSregs(sregs: Uint8Array, mode: KvmCpuMode, gpa: bigint): void {
  const v = new DataView(sregs.buffer, sregs.byteOffset, sregs.byteLength);
  const long = mode === 'long64';
  const flat = { base: 0n, limit: 0xffffffff, g: 1, s: 1 };
  putSeg(v, SREGS_OFF.cs, { ...flat, selector: long ? SEL_CODE64 : SEL_CODE32, type: 11, l: long ? 1 : 0, db: long ? 0 : 1 });
  for (const r of ['ds', 'es', 'fs', 'gs', 'ss'] as const) {
    putSeg(v, SREGS_OFF[r], { ...flat, selector: SEL_DATA, type: 3, l: 0, db: 1 });
  }
  putSeg(v, SREGS_OFF.tr, { base: gpa + BigInt(SYS_TSS), limit: 0x67, selector: SEL_TSS, type: 11, s: 0, l: 0, db: 0, g: 0 });
  v.setBigUint64(SREGS_OFF.gdt, gpa + BigInt(SYS_GDT), true);
  v.setUint16(SREGS_OFF.gdt + 8, 0x2f, true); // 6 descriptors (the TSS takes two) - 1
  v.setBigUint64(SREGS_OFF.idt, 0n, true);
  v.setUint16(SREGS_OFF.idt + 8, 0, true);
  const cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | (long ? CR0_PG | CR0_WP : 0n);
  v.setBigUint64(SREGS_OFF.cr0, cr0, true);
  v.setBigUint64(SREGS_OFF.cr3, long ? gpa + BigInt(SYS_PML4) : 0n, true);
  v.setBigUint64(SREGS_OFF.cr4, (long ? CR4_PAE : 0n) | CR4_OSFXSR | CR4_OSXMMEXCPT, true);
  v.setBigUint64(SREGS_OFF.efer, long ? EFER_LME | EFER_LMA : 0n, true);
}
