/* Freestanding C compiled by gcc -O2 -mgeneral-regs-only (64- and 32-bit) and run both on the CPU (harness.c)
 * and in the emulator: whatever instruction mix gcc chooses is checked end to end.
 * Entry (entry64.S / entry32.S): run(which, a, b, buf) with buf = the scratch buffer. */
typedef unsigned long long u64;
typedef long long i64;
typedef unsigned int u32;
typedef int i32;
typedef unsigned short u16;
typedef unsigned char u8;

static u32 crc32(const u8 *p, u32 n) {
  u32 c = 0xffffffffu;
  for (u32 i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & -(c & 1));
  }
  return ~c;
}

static u64 mix64(u64 x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

static u64 divmod(u64 a, u64 b) {
  i64 x = (i64)a, y = (i64)(b | 1);
  u32 a32 = (u32)a, b32 = (u32)b | 1;
  i32 x32 = (i32)a, y32 = (i32)(b32 | 2);
  return (u64)(x / y) ^ (u64)(x % y) ^ (a / (b | 1)) ^ (a % (b | 1)) ^ (a32 / b32) ^ ((u64)(x32 % y32) << 7) ^ (u64)(i64)(x32 / y32);
}

static u64 isqrt(u64 x) {
  u64 r = 0, bit = 1ull << 62;
  while (bit > x) bit >>= 2;
  while (bit) {
    if (x >= r + bit) {
      x -= r + bit;
      r = (r >> 1) + bit;
    } else {
      r >>= 1;
    }
    bit >>= 2;
  }
  return r;
}

static u64 sort_sum(u32 *a, int n) {
  for (int i = 1; i < n; i++) {
    u32 v = a[i];
    int j = i - 1;
    while (j >= 0 && a[j] > v) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = v;
  }
  u64 s = 0;
  for (int i = 0; i < n; i++) s = s * 31 + a[i];
  return s;
}

static u64 bit_tricks(u64 x, u64 y) {
  u64 nz = x | 1;
  u64 r = (u64)__builtin_ctzll(nz) | ((u64)__builtin_clzll(nz) << 8) | ((u64)__builtin_popcountll(x) << 16);
  r ^= (x << (y & 63)) | (x >> (-y & 63)); /* rotate */
  r ^= (u64)((i64)x >> (y & 63));
  r ^= __builtin_bswap64(y) ^ __builtin_bswap32((u32)x);
  r += (x > y) + ((i64)x < (i64)y) * 2 + (x == y) * 4;
  return r;
}

static int i8sign(u8 v) {
  return (signed char)v < 0 ? -1 : 1;
}

static u64 bytes(u8 *buf, u64 a) {
  u32 n = 64 + (u32)(a & 63);
  u64 h = 0;
  for (u32 i = 0; i < n / 2; i++) {
    u8 t = buf[i];
    buf[i] = buf[n - 1 - i];
    buf[n - 1 - i] = t;
  }
  for (u32 i = 0; i < n; i++) h += (buf[i] == (u8)a) + (u16)(buf[i] * 7) + (i8sign(buf[i]));
  return h;
}

static u64 fib(u32 n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static u64 dispatch(u64 op, u64 a) {
  switch (op & 7) { /* dense: a jump table in .rodata */
    case 0: return a + 1;
    case 1: return a * 3;
    case 2: return a ^ 0x5555;
    case 3: return a >> 3;
    case 4: return ~a;
    case 5: return a - 7;
    case 6: return a << 5;
    default: return a | 0x80;
  }
}

#if defined(__x86_64__)
static u64 wide(u64 a, u64 b) {
  unsigned __int128 p = (unsigned __int128)a * b;
  __int128 q = (__int128)(i64)a * (i64)b;
  return (u64)p ^ (u64)(p >> 64) ^ (u64)(q >> 64);
}
#else
static u64 wide(u64 a, u64 b) {
  return a * b + (a >> 17) * (b << 3);
}
#endif

u64 run(u64 which, u64 a, u64 b, u8 *buf) {
  switch (which % 10) {
    case 0: return crc32(buf, 32 + (u32)(a & 31));
    case 1: return mix64(a) ^ mix64(b);
    case 2: return divmod(a, b);
    case 3: return isqrt(a) + isqrt(b >> 7);
    case 4: return sort_sum((u32 *)buf, 8 + (int)(a % 24));
    case 5: return bit_tricks(a, b);
    case 6: return bytes(buf, a);
    case 7: return fib((u32)(a % 16));
    case 8: return dispatch(a, b) + dispatch(b, a);
    default: return wide(a, b);
  }
}
