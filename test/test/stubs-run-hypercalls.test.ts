// Generated stubs executed in the host emulator on Intel and AMD vCPUs, 64- and 32-bit:
// detection (incl. KVM at 0x40000100 behind Hyper-V leaves), every wrapper of every built-in ABI putting
// number/arguments/fixed values in exactly the ABI's registers and returning the hook's results, the
// Hyper-V rep loop, and the C ABI (callee-saved registers and the stack pointer kept).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUILTIN_ABIS, type AbiDefinition, type Slot, hypervAbi, kvmAbi, loadAbiJson, pvioAbi, vmwareAbi, xenAbi } from '@pvkit/shared-abi';
import { DETECT_LEAF_SIZE, DETECT_OFFSETS, REGISTERS, STRATEGIES, checkCombination, featureLeaves, generateStubs, type WrapperPlan } from '@pvkit/guest-sdk';
import { GPR_NAMES, type GprName, type HypervisorHooks, type Vendor, type VcpuApi } from '@pvkit/host';
import { IMAGE, StubVm, abiCpuid, type CpuidLayer } from './support/stubs-vm.js';

const BUF = 0x30000n;
/** A user-defined ABI from its JSON file: the generator has no special case for it. */
const MYDEV_FILE = join(import.meta.dirname, '..', '..', 'shared-abi', 'examples', 'mydev.json');
const mydev = loadAbiJson(readFileSync(MYDEV_FILE, 'utf8'), MYDEV_FILE);
const ALL = [...BUILTIN_ABIS, mydev];
const VENDORS: Vendor[] = ['intel', 'amd'];
const BITS = [64, 32] as const;

const gpr = (name: string): GprName => GPR_NAMES[REGISTERS.get(name)!.num]!;
const mask = (bits: number) => (1n << BigInt(bits)) - 1n;

function readSlot(v: VcpuApi, s: Slot | 'dx', bits: 64 | 32): bigint {
  if (s === 'dx') return v.getReg('rdx') & 0xffffn;
  if (typeof s !== 'string') return ((v.getReg(gpr(s.hi)) & mask(32)) << 32n) | (v.getReg(gpr(s.lo)) & mask(32));
  const w = bits === 32 ? 32 : REGISTERS.get(s)!.size;
  return v.getReg(gpr(s)) & mask(w);
}

function writeSlot(v: VcpuApi, s: Slot, val: bigint): void {
  if (typeof s !== 'string') {
    v.setReg(gpr(s.lo), val & mask(32));
    v.setReg(gpr(s.hi), (val >> 32n) & mask(32));
  } else v.setReg(gpr(s), val);
}

const ctBits = (t: string) => (t.includes('8') && !t.includes('64') ? 8 : t.includes('16') ? 16 : t.includes('32') ? 32 : 64);

function detectStruct(sv: StubVm): { base: number; maxLeaf: number; vendor: number; nleaves: number; leaves: number[][] } {
  const b = Buffer.from(sv.readBytes(BUF, DETECT_OFFSETS.leaves + 4 * DETECT_LEAF_SIZE));
  const leaves = [0, 1, 2, 3].map((k) => [0, 4, 8, 12, 16].map((o) => b.readUInt32LE(DETECT_OFFSETS.leaves + k * DETECT_LEAF_SIZE + o)));
  return { base: b.readUInt32LE(0), maxLeaf: b.readUInt32LE(4), vendor: b.readUInt32LE(8), nleaves: b.readUInt32LE(12), leaves };
}

describe('detection in the emulator', () => {
  const cases: { name: string; abi: AbiDefinition; layers: CpuidLayer[]; want: number }[] = [
    ...ALL.map((abi) => ({ name: `${abi.name} alone`, abi, layers: [{ abi, base: abi.cpuid.defaultBase }], want: abi.cpuid.defaultBase })),
    { name: 'kvm behind Hyper-V leaves', abi: kvmAbi, layers: [{ abi: hypervAbi, base: 0x40000000 }, { abi: kvmAbi, base: 0x40000100 }], want: 0x40000100 },
    { name: 'hyperv in front of kvm', abi: hypervAbi, layers: [{ abi: hypervAbi, base: 0x40000000 }, { abi: kvmAbi, base: 0x40000100 }], want: 0x40000000 },
    { name: 'xen at the Viridian slot 0x40000100', abi: xenAbi, layers: [{ abi: hypervAbi, base: 0x40000000 }, { abi: xenAbi, base: 0x40000100 }], want: 0x40000100 },
    { name: 'hyperv only at 0x40000100 (fixed detection looks at 0x40000000 only)', abi: hypervAbi, layers: [{ abi: kvmAbi, base: 0x40000000 }, { abi: hypervAbi, base: 0x40000100 }], want: 0 },
    { name: 'kvm absent', abi: kvmAbi, layers: [{ abi: xenAbi, base: 0x40000000 }], want: 0 },
    { name: 'mydev at 0x40000200 behind Hyper-V and KVM', abi: mydev, layers: [{ abi: hypervAbi, base: 0x40000000 }, { abi: kvmAbi, base: 0x40000100 }, { abi: mydev, base: 0x40000200 }], want: 0x40000200 },
  ];
  for (const bits of BITS) {
    for (const vendor of VENDORS) {
      it.each(cases.map((c) => [c.name, c] as const))(`${bits}-bit ${vendor}: %s`, (_n, c) => {
        const g = generateStubs({ abi: c.abi, strategy: 'host-patch', bits, origin: IMAGE });
        const sv = new StubVm(g, { vendor, hooks: { cpuid: abiCpuid(c.layers, vendor) } });
        const r = sv.call(`pvkit_${c.abi.name}_detect`, [BUF]);
        expect(r.exit.kind).toBe('Hlt');
        expect(r.clobbered).toEqual([]);
        expect(Number(r.ret & 0xffffffffn)).toBe(c.want); // uint32_t: EDX is not part of the result
        const d = detectStruct(sv);
        expect(d.base).toBe(c.want);
        expect(d.vendor).toBe(vendor === 'amd' ? 2 : 1);
        if (c.want === 0) {
          expect(d.nleaves).toBe(0);
          return;
        }
        expect(d.maxLeaf).toBe(c.want + c.abi.cpuid.maxLeafOffset);
        const leaves = featureLeaves(c.abi);
        expect(d.nleaves).toBe(leaves.length);
        const hook = abiCpuid(c.layers, vendor);
        leaves.forEach((off, k) => {
          const want = hook(undefined as never, c.want + off, 0)!;
          expect(d.leaves[k], `leaf +${off}`).toEqual([c.want + off, want.eax, want.ebx, want.ecx, want.edx]);
        });
      });
    }
    it(`${bits}-bit: no hypervisor bit, no scan`, () => {
      const g = generateStubs({ abi: kvmAbi, strategy: 'host-patch', bits, origin: IMAGE });
      let scanned = 0;
      const inner = abiCpuid([{ abi: kvmAbi, base: 0x40000000 }], 'intel', false);
      const sv = new StubVm(g, { vendor: 'intel', hooks: { cpuid: (v, l, s) => (l >= 0x40000000 && scanned++, inner(v, l, s)) } });
      expect(sv.call('pvkit_kvm_detect', [BUF]).ret).toBe(0n);
      expect(scanned).toBe(0);
    });
  }
});

/** Distinct argument values; u32 arguments carry garbage in bits 63:32 that the stub must drop. */
function argValues(p: WrapperPlan, bits: 64 | 32): { pass: bigint[]; want: bigint[] } {
  const pass: bigint[] = [];
  const want: bigint[] = [];
  p.params.forEach((q, i) => {
    const w = q.ctype === 'ptr' ? bits : ctBits(q.ctype);
    const v = (0x8877_6655_4433_2211n + BigInt(i) * 0x0101_0101_0101_0101n) & mask(w);
    pass.push(bits === 64 && w < 64 ? v | (0xdead_beefn << 32n) : v);
    want.push(v);
  });
  return { pass, want };
}

function resultValues(conv: WrapperPlan['conv'], bits: 64 | 32): bigint[] {
  return conv.results.map((s, i) => {
    const w = typeof s !== 'string' ? 64 : bits === 32 ? 32 : REGISTERS.get(s)!.size;
    return (0x0123_4567_89ab_cdefn * BigInt(i + 3)) & mask(w);
  });
}

describe('every wrapper of every built-in ABI (and a user JSON ABI) puts nr and arguments in the ABI registers', () => {
  for (const abi of ALL) {
    for (const bits of BITS) {
      const g = generateStubs({ abi, strategy: 'host-patch', bits, origin: IMAGE });
      const plans = g.wrappers.filter((p) => !p.rep);
      it.each(plans.map((p) => [p.symbol, p] as const))(`${abi.name} ${bits}-bit %s`, (_s, p) => {
        const seen: { insn: string; regs: Map<string, bigint> }[] = [];
        const results = resultValues(p.conv, bits);
        const hooks: HypervisorHooks = {
          hypercall(v, insn) {
            seen.push({ insn, regs: new Map(GPR_NAMES.map((n) => [n, v.getReg(n)])) });
            p.conv.results.forEach((s, i) => writeSlot(v, s, results[i]!));
            return 'handled';
          },
        };
        const sv = new StubVm(g, { vendor: 'intel', hooks });
        const { pass, want } = argValues(p, bits);
        const outAt = p.out ? BUF : undefined;
        if (outAt !== undefined) pass[pass.length - 1] = outAt;
        const snap: Map<string, bigint>[] = [];
        // Capture the registers at the trap for the port form (an IoIn exit) too.
        const r = sv.call(p.symbol, pass);
        const v = sv.vm.vcpus[0]!;
        if (p.conv.trap === 'port') {
          expect(r.exit).toMatchObject({ kind: 'IoIn', port: p.conv.fixed!.find((f) => f.reg === 'dx')!.value, size: 4 });
          snap.push(new Map(GPR_NAMES.map((n) => [n, v.getReg(n)])));
        } else {
          expect(r.exit.kind).toBe('Hlt');
          expect(r.clobbered).toEqual([]);
          expect(seen.length).toBe(1);
          expect(seen[0]!.insn).toBe('vmcall');
          snap.push(seen[0]!.regs);
        }
        const at = { getReg: (n: GprName) => snap[0]!.get(n)! } as VcpuApi;
        const vi = p.roles.indexOf('varhead_qwords');
        const number = vi >= 0 ? p.number | ((want[vi]! & 0x3ffn) << 17n) : p.number; // HV_HYPERCALL_VARHEAD 26:17
        expect(readSlot(at, p.conv.number, bits), 'number').toBe(number & mask(typeof p.conv.number === 'string' && bits === 64 ? REGISTERS.get(p.conv.number)!.size : bits === 32 && typeof p.conv.number === 'string' ? 32 : 64));
        p.roles.forEach((role, i) => {
          if (typeof role === 'string' && (role === 'out' || role === 'rep_count' || role === 'rep_start' || role === 'varhead_qwords')) return;
          // A fixed DX (VMware port / LB flags) overrides bits 15:0 of an EDX argument, as Linux's `movw $port, %dx` does.
          const dx = (p.conv.fixed ?? []).find((f) => f.reg === 'dx');
          const exp = dx && role === 'edx' ? (want[i]! & ~0xffffn) | BigInt(dx.value) : want[i];
          expect(readSlot(at, role, bits), `${p.params[i]!.name} in ${JSON.stringify(role)}`).toBe(exp);
        });
        for (const f of p.conv.fixed ?? []) expect(readSlot(at, f.reg, bits), `fixed ${f.reg}`).toBe(BigInt(f.value));
        if (p.conv.trap === 'port') return;
        const retBits = p.ret.includes('64') ? 64 : 32;
        expect(r.ret & mask(retBits), 'return value').toBe(results[0]! & mask(retBits));
        if (p.out) {
          const b = Buffer.from(sv.readBytes(BUF, 8 * results.length));
          results.forEach((x, i) => expect(b.readBigUInt64LE(8 * i), `out[${i}]`).toBe(x));
        }
      });
    }
  }
});

describe('Hyper-V rep calls loop until every rep is done', () => {
  for (const bits of BITS) {
    it(`${bits}-bit: rep count and start travel in the control word; a partial completion is re-issued from reps completed`, () => {
      const g = generateStubs({ abi: hypervAbi, strategy: 'host-patch', bits, origin: IMAGE, hypercalls: ['HVCALL_GET_VP_REGISTERS'] });
      const p = g.wrappers[0]!;
      const controls: bigint[] = [];
      const hooks: HypervisorHooks = {
        hypercall(v) {
          const c = readSlot(v, p.conv.number, bits);
          controls.push(c);
          const start = (c >> 48n) & 0xfffn;
          const done = start + 2n < 5n ? start + 2n : 5n; // two reps per call, then report reps completed
          writeSlot(v, p.conv.results[0]!, done << 32n);
          return 'handled';
        },
      };
      const sv = new StubVm(g, { vendor: 'intel', hooks });
      const r = sv.call(p.symbol, [0x5000n, 0x6000n, 5n, 0n]);
      expect(r.clobbered).toEqual([]);
      expect(controls.map((c) => [c & 0xffffn, (c >> 32n) & 0xfffn, (c >> 48n) & 0xfffn])).toEqual([
        [BigInt(p.hc.nr), 5n, 0n], [BigInt(p.hc.nr), 5n, 2n], [BigInt(p.hc.nr), 5n, 4n],
      ]);
      expect(r.ret).toBe(5n << 32n);
    });
    it(`${bits}-bit: a rep call with a variable header (FLUSH_VIRTUAL_ADDRESS_LIST_EX) carries both in every re-issue`, () => {
      const g = generateStubs({ abi: hypervAbi, strategy: 'dispatch', bits, origin: IMAGE, hypercalls: ['HVCALL_FLUSH_VIRTUAL_ADDRESS_LIST_EX'] });
      const p = g.wrappers[0]!;
      expect(p.params.map((q) => q.name)).toEqual(['input', 'output', 'varhead_qwords', 'rep_count', 'rep_start']);
      const controls: bigint[] = [];
      const sv = new StubVm(g, { vendor: 'amd', hooks: { hypercall(v) {
        const c = readSlot(v, p.conv.number, bits);
        controls.push(c);
        writeSlot(v, p.conv.results[0]!, (((c >> 48n) & 0xfffn) + 3n) << 32n);
        return 'handled';
      } } });
      const r = sv.call(p.symbol, [0x5000n, 0x6000n, 0x405n, 7n, 1n]); // varhead 0x405 & 0x3ff = 5
      expect(r.clobbered).toEqual([]);
      // Three reps per call from start 1: starts 1 and 4, then reps completed 7 = count ends the loop.
      expect(controls).toEqual([1n, 4n].map((start) => BigInt(p.hc.nr) | (5n << 17n) | (7n << 32n) | (start << 48n)));
      expect(r.ret).toBe(7n << 32n);
    });
        it(`${bits}-bit: a failing status ends the loop at once`, () => {
      const g = generateStubs({ abi: hypervAbi, strategy: 'host-patch', bits, origin: IMAGE, hypercalls: ['HVCALL_GET_VP_REGISTERS'] });
      const p = g.wrappers[0]!;
      let calls = 0;
      const sv = new StubVm(g, { vendor: 'intel', hooks: { hypercall(v) { calls++; writeSlot(v, p.conv.results[0]!, (1n << 32n) | 5n); return 'handled'; } } });
      expect(sv.call(p.symbol, [0n, 0n, 3n, 0n]).ret).toBe((1n << 32n) | 5n);
      expect(calls).toBe(1);
    });
  }
});

it('combinations the generator accepts for the built-in ABIs', () => {
  const ok = BUILTIN_ABIS.flatMap((a) => STRATEGIES.filter((s) => !checkCombination(a, s, 64)).map((s) => `${a.name}:${s}`));
  expect(ok).toContain('pvio:hcpage');
  expect(ok).not.toContain('kvm:hcpage');
  expect([vmwareAbi, pvioAbi].every((a) => a.conventions.length > 0)).toBe(true);
});
