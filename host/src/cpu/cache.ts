// Decode cache shared by all vCPUs of a VM, keyed by guest-physical address and code size, with a per-page
// index so a write to a code page drops exactly that page's entries (for every vCPU at once): decoded
// instructions and the compiled blocks built from them.
import type { Decoded } from './decode.js';
import { PAGE_SIZE, type GuestMemory } from '../memory/memory.js';
import type { Vcpu } from './vcpu.js';
import type { Block } from './jit/block.js';

export type Exec = (c: Vcpu) => void;

export interface CachedInsn {
  readonly exec: Exec;
  readonly len: number;
  readonly d: Decoded;
  /** Ends a block (control transfer, HLT, #UD): the interpreter stops there to look for a compiled block. */
  readonly term: boolean;
  /** Entries into a block starting here (counted until it is hot enough to compile; -1 = never compile). */
  hits: number;
  /** Set when the entry is dropped: successor links to it must not be followed. */
  dead?: boolean;
  /** Cached fall-through successor and last branch target (run-loop shortcuts past the map). */
  next?: CachedInsn | undefined;
  target?: CachedInsn | undefined;
  targetIp?: number;
}

const DEFAULT_HOT = 8;

function hotFromEnv(): number {
  const raw = typeof process === 'undefined' ? undefined : process.env.PVKIT_JIT_HOT;
  if (raw === undefined || raw === '') return DEFAULT_HOT;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`PVKIT_JIT_HOT: expected a whole number >= 0 (0 = interpreter only), got '${raw}'`);
  return n;
}

export class DecodeCache {
  /**
   * Block entries after which a block is compiled (0 = never: interpret only; 1 = at the first entry). The
   * environment variable PVKIT_JIT_HOT overrides the default (run a whole test suite on either engine).
   */
  static defaultHot = hotFromEnv();
  hot = DecodeCache.defaultHot;
  private readonly map = new Map<number, CachedInsn>();
  private readonly pages = new Map<number, number[]>();
  private readonly blocks = new Map<number, Block>();
  private readonly blockPages = new Map<number, Block[]>();
  /** Entries dropped because their page was written (for tests and stats). */
  invalidations = 0;
  /** Blocks compiled and blocks dropped (stats). */
  blocksBuilt = 0;
  blocksDropped = 0;

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
    for (const p of DecodeCache.pagesOf(addr, insn.len)) {
      let list = this.pages.get(p);
      if (list === undefined) this.pages.set(p, (list = []));
      list.push(key);
      this.mem.markCode(p * PAGE_SIZE);
    }
  }

  /** Page numbers [addr, addr+len) touches. */
  static pagesOf(addr: number, len: number): number[] {
    const p0 = Math.floor(addr / PAGE_SIZE);
    const p1 = Math.floor((addr + len - 1) / PAGE_SIZE);
    const out: number[] = [];
    for (let p = p0; p <= p1; p++) out.push(p);
    return out;
  }

  getBlock(key: number): Block | undefined {
    return this.blocks.get(key);
  }

  /** Register a compiled block (its pages were marked as code when its instructions were decoded). */
  putBlock(blk: Block): void {
    this.blocks.set(DecodeCache.key(blk.ip, blk.mode64), blk);
    for (const p of blk.pages) {
      let list = this.blockPages.get(p);
      if (list === undefined) this.blockPages.set(p, (list = []));
      list.push(blk);
    }
    this.blocksBuilt++;
  }

  dropPage(page: number): void {
    const list = this.pages.get(page);
    if (list !== undefined) {
      for (const k of list) {
        const e = this.map.get(k);
        if (e === undefined) continue;
        e.dead = true;
        this.map.delete(k);
        this.invalidations++;
      }
      this.pages.delete(page);
    }
    const blks = this.blockPages.get(page);
    if (blks !== undefined) {
      for (const b of blks) {
        if (b.dead) continue;
        b.dead = true;
        const key = DecodeCache.key(b.ip, b.mode64);
        if (this.blocks.get(key) === b) this.blocks.delete(key);
        this.blocksDropped++;
      }
      this.blockPages.delete(page);
    }
  }

  clear(): void {
    for (const p of [...this.pages.keys()]) this.dropPage(p);
    for (const p of [...this.blockPages.keys()]) this.dropPage(p);
    this.map.clear();
  }

  get size(): number {
    return this.map.size;
  }

  /** Live compiled blocks. */
  get blockCount(): number {
    return this.blocks.size;
  }
}
