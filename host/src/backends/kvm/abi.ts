// Numbers and struct layouts of the KVM userspace API (x86-64), from deb:linux-libc-dev /usr/include/linux/kvm.h
// and asm/kvm.h. host/test/kvm-backend-abi.test.ts checks every value here against gcc + the headers.

/** Ioctl request numbers (linux/kvm.h _IO/_IOR/_IOW/_IOWR(KVMIO=0xAE, ...)). */
export const KVM_IOCTL = {
  GET_API_VERSION: 0xae00, // _IO(KVMIO, 0x00)
  CREATE_VM: 0xae01, // _IO(KVMIO, 0x01)
  CHECK_EXTENSION: 0xae03, // _IO(KVMIO, 0x03)
  GET_VCPU_MMAP_SIZE: 0xae04, // _IO(KVMIO, 0x04)
  GET_SUPPORTED_CPUID: 0xc008ae05, // _IOWR(KVMIO, 0x05, struct kvm_cpuid2)
  CREATE_VCPU: 0xae41, // _IO(KVMIO, 0x41)
  SET_USER_MEMORY_REGION: 0x4020ae46, // _IOW(KVMIO, 0x46, struct kvm_userspace_memory_region)
  SET_TSS_ADDR: 0xae47, // _IO(KVMIO, 0x47)
  IOEVENTFD: 0x4040ae79, // _IOW(KVMIO, 0x79, struct kvm_ioeventfd)
  RUN: 0xae80, // _IO(KVMIO, 0x80)
  GET_REGS: 0x8090ae81, // _IOR(KVMIO, 0x81, struct kvm_regs)
  SET_REGS: 0x4090ae82, // _IOW(KVMIO, 0x82, struct kvm_regs)
  GET_SREGS: 0x8138ae83, // _IOR(KVMIO, 0x83, struct kvm_sregs)
  SET_SREGS: 0x4138ae84, // _IOW(KVMIO, 0x84, struct kvm_sregs)
  SET_CPUID2: 0x4008ae90, // _IOW(KVMIO, 0x90, struct kvm_cpuid2)
  ENABLE_CAP: 0x4068aea3, // _IOW(KVMIO, 0xa3, struct kvm_enable_cap)
  X86_SET_MSR_FILTER: 0x4188aec6, // _IOW(KVMIO, 0xc6, struct kvm_msr_filter)
} as const;

/** Capabilities (linux/kvm.h KVM_CAP_*). */
export const KVM_CAP = {
  IMMEDIATE_EXIT: 136, // KVM_CAP_IMMEDIATE_EXIT
  X86_USER_SPACE_MSR: 188, // KVM_CAP_X86_USER_SPACE_MSR
  EXIT_HYPERCALL: 201, // KVM_CAP_EXIT_HYPERCALL
  SYNC_REGS: 74, // KVM_CAP_SYNC_REGS
} as const;

/** kvm_run.exit_reason values (linux/kvm.h KVM_EXIT_*). */
export const KVM_EXIT = {
  UNKNOWN: 0,
  EXCEPTION: 1,
  IO: 2,
  HYPERCALL: 3,
  DEBUG: 4,
  HLT: 5,
  MMIO: 6,
  SHUTDOWN: 8,
  FAIL_ENTRY: 9,
  INTR: 10,
  INTERNAL_ERROR: 17,
  X86_RDMSR: 29,
  X86_WRMSR: 30,
} as const;

/** kvm_run.kvm_valid_regs / kvm_dirty_regs bit for the GPRs (asm/kvm.h KVM_SYNC_X86_REGS). */
export const KVM_SYNC_X86_REGS = 1;

/** kvm_run.io.direction (linux/kvm.h KVM_EXIT_IO_IN / KVM_EXIT_IO_OUT). */
export const KVM_EXIT_IO_IN = 0;
export const KVM_EXIT_IO_OUT = 1;

/** KVM_CAP_X86_USER_SPACE_MSR args[0] bits (linux/kvm.h KVM_MSR_EXIT_REASON_*). */
export const KVM_MSR_EXIT_REASON_INVAL = 1 << 0;
export const KVM_MSR_EXIT_REASON_UNKNOWN = 1 << 1;
export const KVM_MSR_EXIT_REASON_FILTER = 1 << 2;

/** Byte offsets inside struct kvm_run (linux/kvm.h; the exit union starts at 32). */
export const RUN_OFF = {
  immediateExit: 1, // __u8 immediate_exit
  exitReason: 8, // __u32 exit_reason
  ioDirection: 32, // io.direction (u8)
  ioSize: 33, // io.size (u8)
  ioPort: 34, // io.port (u16)
  ioCount: 36, // io.count (u32)
  ioDataOffset: 40, // io.data_offset (u64, relative to kvm_run)
  mmioPhysAddr: 32, // mmio.phys_addr (u64)
  mmioData: 40, // mmio.data[8]
  mmioLen: 48, // mmio.len (u32)
  mmioIsWrite: 52, // mmio.is_write (u8)
  msrError: 32, // msr.error (u8): set 1 to inject #GP
  msrReason: 40, // msr.reason (u32)
  msrIndex: 44, // msr.index (u32)
  msrData: 48, // msr.data (u64)
  hypercallNr: 32, // hypercall.nr (u64)
  hypercallArgs: 40, // hypercall.args[6] (u64)
  hypercallRet: 88, // hypercall.ret (u64)
  hypercallLongmode: 96, // hypercall.longmode (u32)
  internalSuberror: 32, // internal.suberror (u32)
  internalNdata: 36, // internal.ndata (u32)
  internalData: 40, // internal.data[16] (u64)
  failEntryReason: 32, // fail_entry.hardware_entry_failure_reason (u64)
  validRegs: 288, // kvm_valid_regs (u64): what KVM copies out into s after each run (KVM_CAP_SYNC_REGS)
  dirtyRegs: 296, // kvm_dirty_regs (u64): what KVM loads from s before the next run
  syncRegs: 304, // s.regs: struct kvm_sync_regs, whose first member is struct kvm_regs
} as const;

/** struct kvm_regs: 18 u64 in this order (asm/kvm.h). */
export const KVM_REGS_SIZE = 144;
export const KVM_REGS_ORDER = [
  'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'rflags',
] as const;

/** struct kvm_sregs (asm/kvm.h): 8 kvm_segment of 24 bytes, 2 kvm_dtable of 16, control registers. */
export const KVM_SREGS_SIZE = 312;
export const SREGS_OFF = {
  cs: 0, ds: 24, es: 48, fs: 72, gs: 96, ss: 120, tr: 144, ldt: 168,
  gdt: 192, idt: 208, cr0: 224, cr2: 232, cr3: 240, cr4: 248, cr8: 256, efer: 264, apicBase: 272,
} as const;
/** struct kvm_segment field offsets (asm/kvm.h). */
export const SEG_OFF = {
  base: 0, limit: 8, selector: 12, type: 14, present: 15, dpl: 16, db: 17, s: 18, l: 19, g: 20, avl: 21, unusable: 22,
} as const;

export const KVM_USERSPACE_MEMORY_REGION_SIZE = 32; // slot u32, flags u32, guest_phys_addr, memory_size, userspace_addr
export const KVM_IOEVENTFD_SIZE = 64; // datamatch u64, addr u64, len u32, fd s32, flags u32, pad[36]
export const KVM_CPUID2_HEADER = 8; // nent u32, padding u32
export const KVM_CPUID_ENTRY2_SIZE = 40; // function, index, flags, eax, ebx, ecx, edx, padding[3]
export const KVM_ENABLE_CAP_SIZE = 104;
/** struct kvm_msr_filter (asm/kvm.h): flags u32, then 16 ranges of { flags u32, nmsrs u32, base u32, bitmap ptr @16 }. */
export const KVM_MSR_FILTER_SIZE = 392;
export const KVM_MSR_FILTER_RANGES_OFF = 8;
export const KVM_MSR_FILTER_RANGE_SIZE = 24;
export const KVM_MSR_FILTER_MAX_RANGES = 16; // asm/kvm.h
export const KVM_MSR_FILTER_READ = 1 << 0; // asm/kvm.h
export const KVM_MSR_FILTER_WRITE = 1 << 1;
export const KVM_MSR_FILTER_DEFAULT_ALLOW = 0; // cap u32, flags u32, args[4] u64, pad[64]

/** Architectural bits used to put a vCPU in long / protected mode (SDM Vol. 3A 2.5, 2.2.1). */
export const CR0_PE = 1n << 0n;
export const CR0_MP = 1n << 1n;
export const CR0_ET = 1n << 4n;
export const CR0_NE = 1n << 5n;
export const CR0_WP = 1n << 16n;
export const CR0_PG = 1n << 31n;
export const CR4_PAE = 1n << 5n;
export const CR4_OSFXSR = 1n << 9n;
export const CR4_OSXMMEXCPT = 1n << 10n;
export const EFER_LME = 1n << 8n; // SDM Vol. 3A 2.2.1 IA32_EFER.LME
export const EFER_LMA = 1n << 10n; // IA32_EFER.LMA
