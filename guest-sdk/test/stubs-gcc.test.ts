// The generated ELF objects and C headers with their real consumer: gcc links a freestanding C driver
// (-nostdlib -static, 64-bit and -m32) that references every wrapper through the header's prototypes, then
// runs the parts that are safe on the real CPU of this machine: the CPU-vendor helper and detection
// (checked against an independent C scan written with gcc's <cpuid.h>) and, for guest-patch, the patcher
// itself (text linked writable with -N): every site must then hold the byte for this CPU's vendor.
import { describe, expect, it } from 'vitest';
import { BUILTIN_ABIS, HYPERVISOR_CPUID_SCAN, signatureToRegs } from '@pvkit/shared-abi';
import { toCHeader, toElf } from '../src/emit/index.js';
import { STRATEGIES, checkCombination, generateStubs } from '../src/stubs/index.js';
import { hasGcc, hasGcc32, runStatus, scratch, warnMissing, writeFileSync, run } from './support/tools.js';

const combos = BUILTIN_ABIS.flatMap((abi) => STRATEGIES.flatMap((strategy) => ([64, 32] as const).map((bits) => ({ abi, strategy, bits }))))
  .filter((c) => checkCombination(c.abi, c.strategy, c.bits) === undefined);

function driver(c: (typeof combos)[number], header: string, decls: string, protos: Record<string, string>, sites: number[]): string {
  const { abi, bits } = c;
  const p = `pvkit_${abi.name}`;
  const sig = signatureToRegs(abi.cpuid.signature);
  const m = abi.cpuid;
  const exit = bits === 64
    ? 'static void sys_exit(int c) { __asm__ volatile("syscall" :: "a"(60), "D"(c)); for (;;) {} }'
    : 'static void sys_exit(int c) { __asm__ volatile("int $0x80" :: "a"(1), "b"(c)); for (;;) {} }';
  const refs = Object.keys(protos).map((s) => `  (volatile void *)&${s},`).join('\n');
  return `#include <stdint.h>
#include <cpuid.h>
${decls}
${header}
${exit}
static volatile void *const every_function[] = {
${refs}
};
/* Linux hypervisor_cpuid_base() (scan) or ms_hyperv_platform()/vmware_platform() (fixed), written in C. */
static uint32_t ref_base(uint32_t *maxl) {
  uint32_t a, b, c, d;
  __cpuid(1, a, b, c, d);
  if (!(c & (1u << 31))) return 0;
  ${m.detection === 'scan'
    ? `for (uint32_t base = ${HYPERVISOR_CPUID_SCAN.first}u; base <= ${HYPERVISOR_CPUID_SCAN.last}u; base += ${HYPERVISOR_CPUID_SCAN.step}u) {
    __cpuid_count(base, 0, a, b, c, d);
    if (b == ${sig.ebx}u && c == ${sig.ecx}u && d == ${sig.edx}u ${m.minLeaves ? ` && a - base >= ${m.minLeaves}u` : ''}) { *maxl = a; return base; }
  }
  return 0;`
    : `__cpuid_count(${m.defaultBase}u, 0, a, b, c, d);
  if (b == ${sig.ebx}u && c == ${sig.ecx}u && d == ${sig.edx}u && a >= ${m.defaultBase + m.minLeaves}u && a <= 0x4000ffffu) { *maxl = a; return ${m.defaultBase}u; }
  return 0;`}
}
static uint32_t ref_vendor(void) {
  uint32_t a, b, c, d;
  __cpuid(0, a, b, c, d);
  if ((b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u) || (b == 0x6f677948u && d == 0x6e65476eu && c == 0x656e6975u)) return PVKIT_VENDOR_VMMCALL;
  return PVKIT_VENDOR_VMCALL;
}
void _start(void) {
  struct pvkit_detect det;
  uint32_t maxl = 0;
  if (!every_function[0]) sys_exit(9);
  if (${p}_cpu_vendor() != ref_vendor()) sys_exit(10);
  uint32_t want = ref_base(&maxl);
  uint32_t got = ${p}_detect(&det);
  if (got != want || det.base != want) sys_exit(11);
  if (det.vendor != ref_vendor()) sys_exit(12);
  if (want && det.max_leaf != maxl) sys_exit(13);
  if (!want && (det.nleaves != 0 || det.max_leaf != 0)) sys_exit(14);
  for (uint32_t k = 0; k < det.nleaves; k++) {
    uint32_t a, b, c, d;
    if (det.leaves[k].leaf == 0) continue;
    __cpuid_count(det.leaves[k].leaf, 0, a, b, c, d);
    if (det.leaves[k].eax != a || det.leaves[k].ebx != b || det.leaves[k].ecx != c || det.leaves[k].edx != d) sys_exit(15);
  }
${c.strategy === 'guest-patch' ? `  {
    static const uint32_t sites[] = { ${sites.join(', ') || '0'} };
    const volatile uint8_t *text = (const volatile uint8_t *)&${p}_cpu_vendor; /* first function: .text offset 0 */
    if (pvkit_patch_hypercalls() != ${sites.length}u) sys_exit(16);
    for (unsigned i = 0; i < ${sites.length}u; i++)
      if (text[sites[i]] != 0x0f || text[sites[i] + 1] != 0x01 || text[sites[i] + 2] != (ref_vendor() == PVKIT_VENDOR_VMMCALL ? 0xd9 : 0xc1)) sys_exit(17);
  }` : ''}
  sys_exit(0);
}
`;
}

const noGcc = warnMissing('gcc', hasGcc);
const noGcc32 = warnMissing('gcc -m32 (gcc-multilib)', hasGcc32);

describe('generated objects linked by gcc into a freestanding driver', () => {
  it.skipIf(noGcc).each(combos.map((c) => [`${c.abi.name}/${c.strategy}/${c.bits}`, c] as const))('%s: header compiles with -Wall -Werror, links, vendor + detection agree with <cpuid.h> on this CPU', (_n, c) => {
    if (c.bits === 32 && noGcc32) return;
    const g = generateStubs(c);
    expect(g.image.symbols.find((s) => s.name === `pvkit_${c.abi.name}_cpu_vendor`)?.offset).toBe(0);
    const header = toCHeader(g.image, { prefix: `stubs_${c.abi.name}`, signatures: g.signatures, image: false });
    const s = scratch();
    try {
      writeFileSync(s.path('stubs.o'), toElf(g.image));
      writeFileSync(s.path('drv.c'), driver(c, header, g.cDecls, g.signatures, g.image.patchSites.map((p) => p.offset)));
      const m = c.bits === 64 ? '-m64' : '-m32';
      run('gcc', [m, '-std=c11', '-Wall', '-Wextra', '-Werror', '-O1', '-ffreestanding', '-fno-stack-protector', '-fno-pie', '-no-pie', '-nostdlib', '-static', '-Wl,-N', '-o', s.path('drv'), s.path('drv.c'), s.path('stubs.o')]);
      const r = runStatus(s.path('drv'), []);
      expect(r.status, `driver exit code (see sys_exit numbers in the driver)\n${r.stderr}`).toBe(0);
    } finally {
      s.done();
    }
  });
});
