// Seeded PRNG (sfc32, Chris Doty-Humphrey's "Small Fast Counting" generator): reproducible case batches from a seed.

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;

  constructor(readonly seed: number) {
    this.a = 0x9e3779b9 ^ seed;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162 ^ Math.imul(seed, 0x85ebca6b);
    for (let i = 0; i < 16; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 0x1_0000_0000) * n);
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('pick from an empty list');
    return xs[this.int(xs.length)]!;
  }

  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  /** Random `bits`-wide value, biased towards edge cases (0, 1, all ones, sign boundaries, small numbers). */
  value(bits: number): bigint {
    const mask = (1n << BigInt(bits)) - 1n;
    const full = (BigInt(this.u32()) << 32n | BigInt(this.u32())) & mask;
    const sign = 1n << BigInt(bits - 1);
    switch (this.int(10)) {
      case 0: return this.pick([0n, 1n, mask, sign, sign - 1n, sign + 1n, mask - 1n]);
      case 1: return BigInt(this.int(130));
      case 2: return (mask - BigInt(this.int(130))) & mask;
      case 3: return (sign + BigInt(this.int(5)) - 2n) & mask;
      default: return full;
    }
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
}
