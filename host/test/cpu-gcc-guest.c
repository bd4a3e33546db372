typedef unsigned long long u64; typedef long long i64; typedef unsigned int u32; typedef int i32;
typedef unsigned short u16; typedef unsigned char u8; typedef signed char i8; typedef short i16;
typedef __SIZE_TYPE__ size_t;

void *memset(void *d, int c, size_t n) { void *r = d; __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory"); return r; }
void *memcpy(void *d, const void *s, size_t n) { void *r = d; __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory"); return r; }
int memcmp(const void *a, const void *b, size_t n) { const u8 *x = a, *y = b; for (size_t i = 0; i < n; i++) if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1; return 0; }

static u64 fib(u32 n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
static u32 crc32(const u8 *p, u32 n) { u32 c = 0xffffffffu; for (u32 i = 0; i < n; i++) { c ^= p[i]; for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & -(c & 1)); } return ~c; }
static u64 fnv(const u8 *p, u32 n) { u64 h = 0xcbf29ce484222325ull; for (u32 i = 0; i < n; i++) { h ^= p[i]; h *= 0x100000001b3ull; } return h; }
static void sort(i32 *a, int n) { for (int i = 1; i < n; i++) { i32 v = a[i]; int j = i - 1; while (j >= 0 && a[j] > v) { a[j + 1] = a[j]; j--; } a[j + 1] = v; } }
static int classify(int x) { switch (x & 15) { case 0: return 11; case 1: return 23; case 2: return 35; case 3: return 47; case 4: return 59; case 5: return 61; case 6: return 73; case 7: return 89; case 9: return 97; default: return -x; } }
static u64 rotl(u64 x, int r) { return (x << r) | (x >> ((64 - r) & 63)); }
static u32 pop(u64 x) { u32 n = 0; while (x) { x &= x - 1; n++; } return n; }

static u8 buf[300];
static volatile i32 arr[16] = { 5, -3, 99, 0, 42, -100, 7, 7, 1 << 30, -(1 << 30), 13, 2, 8, -1, 64, 3 };

void run(u64 *out) {
  u32 k = 1;
  for (int i = 0; i < 300; i++) buf[i] = (u8)(i * 7 + 3);
  out[k++] = fib(20);
  out[k++] = crc32(buf, 300);
  out[k++] = fnv(buf, 300);
  i32 a[16]; for (int i = 0; i < 16; i++) a[i] = arr[i];
  sort(a, 16);
  for (int i = 0; i < 16; i++) out[k++] = (u64)(i64)a[i];
  u64 acc = 0;
  for (int i = -20; i < 20; i++) acc = acc * 31 + (u64)(i64)classify(i);
  out[k++] = acc;
  volatile u64 x = 0x123456789abcdef1ull, y = 0x0fedcba987ull;
  volatile i64 sx = -0x123456789abcdll, sy = 977;
  out[k++] = x / y; out[k++] = x % y; out[k++] = (u64)(sx / sy); out[k++] = (u64)(sx % sy);
  out[k++] = x * y; out[k++] = x / 10; out[k++] = (u64)(sx / 7);
  volatile u32 x32 = 0xdeadbeef, y32 = 12345; volatile i32 s32 = -987654;
  out[k++] = x32 / y32; out[k++] = x32 % y32; out[k++] = (u64)(i64)(s32 / 77); out[k++] = (u64)(i64)(s32 % 77);
  for (int r = 0; r < 64; r += 7) out[k++] = rotl(x, r);
  out[k++] = pop(x); out[k++] = (u64)__builtin_ctzll(y); out[k++] = (u64)__builtin_clzll(y); out[k++] = (u64)__builtin_ctz(x32);
  volatile i8 c8 = -5; volatile u16 w16 = 0xfff0; volatile i16 s16 = -300;
  out[k++] = (u64)(i64)c8 + w16 + (u64)(i64)s16;
  out[k++] = (u64)((i64)sx >> 13); out[k++] = x >> 13; out[k++] = x << 13;
  u64 m = 0; for (int i = 0; i < 40; i++) m += (arr[i & 15] > 5) ? (u64)i : (u64)(3 * i);
  out[k++] = m;
#ifdef __SIZEOF_INT128__
  unsigned __int128 p = (unsigned __int128)x * y; out[k++] = (u64)(p >> 64); out[k++] = (u64)p;
#endif
  u8 tmp[64]; memcpy(tmp, buf + 5, 64); memset(tmp + 10, 0xab, 20); out[k++] = fnv(tmp, 64);
  out[k++] = (u64)memcmp(tmp, buf + 5, 64);
  out[0] = k - 1;
}

#ifdef NATIVE
#include <stdio.h>
int main(void) { static u64 out[256]; run(out); for (u32 i = 0; i <= out[0]; i++) printf("%016llx\n", out[i]); return 0; }
#else
#ifdef __x86_64__
__asm__(".globl _start\n_start:\n mov $0x20000, %edi\n call run\n hlt\n");
#else
__asm__(".globl _start\n_start:\n push $0x20000\n call run\n hlt\n");
#endif
#endif
