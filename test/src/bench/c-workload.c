/* The bench's gcc-compiled guest workload: integer code as gcc emits it for freestanding -O2
 * -mgeneral-regs-only (loops, a table, shifts, multiplies, a small sort). Returns a checksum in eax/rax. */
typedef unsigned int u32;
typedef unsigned long long u64;

static u32 crc_table[256];

static void crc_init(void) {
  for (u32 i = 0; i < 256; i++) {
    u32 c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
    crc_table[i] = c;
  }
}

static u32 crc32(const unsigned char *p, u32 n) {
  u32 c = 0xffffffffu;
  for (u32 i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

static void sort(u32 *a, int n) {
  for (int i = 1; i < n; i++) {
    u32 v = a[i];
    int j = i - 1;
    while (j >= 0 && a[j] > v) { a[j + 1] = a[j]; j--; }
    a[j + 1] = v;
  }
}

static unsigned char buf[4096];
static u32 arr[256];

u64 workload(u32 rounds) {
  u64 acc = 0;
  crc_init();
  for (u32 r = 0; r < rounds; r++) {
    u64 x = 0x9e3779b97f4a7c15ull * (r + 1);
    for (int i = 0; i < 4096; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; buf[i] = (unsigned char)x; }
    for (int i = 0; i < 256; i++) arr[i] = (u32)(x >> (i & 31)) * 2654435761u;
    sort(arr, 256);
    acc += crc32(buf, sizeof buf) + arr[0] + arr[255];
  }
  return acc;
}

void _start(void) {
  u64 r = workload(4);
  __asm__ volatile("hlt" : : "a"(r));
  for (;;) {}
}
