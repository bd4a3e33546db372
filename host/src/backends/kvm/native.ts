// libc bindings through koffi (an optional dependency, loaded lazily): open/ioctl/mmap/eventfd/timers.
// Loading never throws: a missing koffi or libc gives a reason string the caller turns into "unavailable".

/** The subset of koffi's API we use (typed here so the module compiles without koffi's types installed). */
export interface Koffi {
  load(path: string): { func(sig: string): (...args: unknown[]) => unknown };
  view(ptr: unknown, len: number): ArrayBuffer;
  address(ptr: unknown): bigint;
  errno(): number;
}

export interface Libc {
  readonly koffi: Koffi;
  open(path: string, flags: number): number;
  close(fd: number): number;
  /** ioctl with an integer argument. */
  ioctlInt(fd: number, req: number, arg: number): number;
  /** ioctl with a pointer to a buffer the kernel reads and/or writes. */
  ioctlPtr(fd: number, req: number, buf: Uint8Array): number;
  /** ioctl(fd, KVM_RUN, 0). */
  run(fd: number, req: number): number;
  mmap(len: number, prot: number, flags: number, fd: number, off: number): unknown;
  munmap(ptr: unknown, len: number): number;
  eventfd(initval: number, flags: number): number;
  read(fd: number, buf: Uint8Array, len: number): number;
  gettid(): number;
  timerCreate(clock: number, sev: Uint8Array, out: Uint8Array): number;
  timerSettime(timer: bigint, flags: number, its: Uint8Array): number;
  timerDelete(timer: bigint): number;
  errno(): number;
}

// Flag values (asm-generic/fcntl.h, asm-generic/mman-common.h, linux/eventfd.h via sys/eventfd.h).
export const O_RDWR = 2;
export const O_CLOEXEC = 0o2000000;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
export const EFD_NONBLOCK = 0o4000; // sys/eventfd.h EFD_NONBLOCK = O_NONBLOCK
export const EFD_CLOEXEC = 0o2000000;
export const EINTR = 4; // asm-generic/errno-base.h
export const EAGAIN = 11;
export const E2BIG = 7;

let cached: Promise<Libc | string> | undefined;

/** Load koffi and libc once; a string is the reason they are unavailable. */
export function loadLibc(): Promise<Libc | string> {
  cached ??= load();
  return cached;
}

async function load(): Promise<Libc | string> {
  if (process.platform !== 'linux' || process.arch !== 'x64') return `KVM backend needs linux/x64 (this is ${process.platform}/${process.arch})`;
  let koffi: Koffi;
  try {
    const name = 'koffi'; // a variable, so tsc does not require koffi's types
    const mod = (await import(name)) as { default?: Koffi } & Koffi;
    koffi = mod.default ?? mod;
  } catch (e) {
    return `koffi is not installed (optional dependency): ${(e as Error).message}`;
  }
  try {
    const lib = koffi.load('libc.so.6');
    const f = (sig: string) => lib.func(sig) as (...a: unknown[]) => number;
    const open = f('int open(const char *path, int flags)');
    const close = f('int close(int fd)');
    const ioctlInt = f('int ioctl(int fd, unsigned long req, unsigned long arg)');
    const ioctlPtr = f('int ioctl(int fd, unsigned long req, void *arg)');
    const mmap = lib.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t off)');
    const munmap = f('int munmap(void *addr, size_t len)');
    const eventfd = f('int eventfd(unsigned int initval, int flags)');
    const read = f('long read(int fd, void *buf, size_t len)');
    const gettid = f('int gettid()');
    const timerCreate = f('int timer_create(int clock, void *sev, void *out)');
    const timerSettime = f('int timer_settime(uint64_t timer, int flags, void *its, void *old)');
    const timerDelete = f('int timer_delete(uint64_t timer)');
    return {
      koffi,
      open: (p, fl) => open(p, fl),
      close: (fd) => close(fd),
      ioctlInt: (fd, req, arg) => ioctlInt(fd, req, arg),
      ioctlPtr: (fd, req, buf) => ioctlPtr(fd, req, buf),
      run: (fd, req) => ioctlInt(fd, req, 0), // KVM_RUN refuses a non-zero arg with -EINVAL
      mmap: (len, prot, flags, fd, off) => mmap(null, len, prot, flags, fd, off),
      munmap: (p, len) => munmap(p, len),
      eventfd: (v, fl) => eventfd(v, fl),
      read: (fd, buf, len) => read(fd, buf, len),
      gettid: () => gettid(),
      timerCreate: (c, sev, out) => timerCreate(c, sev, out),
      timerSettime: (t, fl, its) => timerSettime(t, fl, its, null),
      timerDelete: (t) => timerDelete(t),
      errno: () => koffi.errno(),
    };
  } catch (e) {
    return `libc bindings through koffi failed: ${(e as Error).message}`;
  }
}
