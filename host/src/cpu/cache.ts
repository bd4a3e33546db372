// Decode cache shared by all vCPUs of a VM, keyed by guest-physical address and code size, with a per-page
// index so a write to a code page drops exactly that page's entries (for every vCPU at once).
import type { Decoded } from './decode.js';
import { PAGE_SIZE, type GuestMemory } from '../memory/memory.js';
import type { Vcpu } from './vcpu.js';

export type Exec = (c: Vcpu) => void;

export interface CachedInsn {
  readonly exec: Exec;
  readonly len: number;
  readonly d: Decoded;
  /** Set when the entry is dropped: successor links to it must not be followed. */
  dead?: boolean;
  /** Cached fall-through successor and last branch target (run-loop shortcuts past the map). */
  next?: CachedInsn | undefined;
  target?: CachedInsn | undefined;
  targetIp?: number;
}

export class DecodeCache {
  private readonly map = new Map<number, CachedInsn>();
  private readonly pages = new Map<number, number[]>();
  /** Entries dropped because their page was written (for tests and stats). */
  invalidations = 0;

  constructor(private readonly mem: GuestMemory) {
    mem.onCodeWrite = (page) => this.dropPage(page);
  }

  static key(addr: number, mode64: boolean): number {
    return addr * 2 + (mode64 ? 1 : 0);
  }

  get(key: number): CachedInsn | undefined {
    return this.map.get(key);
  }

  put(addr: number, mode64: boolean, insn: CachedInsn): void {
    const key = DecodeCache.key(addr, mode64);
    this.map.set(key, insn);
    const p0 = Math.floor(addr / PAGE_SIZE);
    const p1 = Math.floor((addr + insn.len - 1) / PAGE_SIZE);
    for (let p = p0; p <= p1; p++) {
      let list = this.pages.get(p);
      if (list === undefined) this.pages.set(p, (list = []));
      list.push(key);
      this.mem.markCode(p * PAGE_SIZE);
    }
  }

  dropPage(page: number): void {
    const list = this.pages.get(page);
    if (list === undefined) return;
    for (const k of list) {
      const e = this.map.get(k);
      if (e === undefined) continue;
      e.dead = true;
      this.map.delete(k);
      this.invalidations++;
    }
    this.pages.delete(page);
  }

  clear(): void {
    this.map.clear();
    for (const p of [...this.pages.keys()]) this.dropPage(p);
  }

  get size(): number {
    return this.map.size;
  }
}
