// BigInt views of operands for the less frequent operations (multiply, divide, rotates, bit scans).
import type { Vcpu } from './vcpu.js';
import type { Opr } from './operands.js';
export function readBig(c: Vcpu, o: Opr, size: number): bigint {
  const lo = o.rd(c);
  return size === 8 ? (BigInt(c.vh) << 32n) | BigInt(lo) : BigInt(lo);
}

export function writeBig(c: Vcpu, o: Opr, size: number, v: bigint): void {
  const m = BigInt.asUintN(size * 8, v);
  o.wr(c, Number(m & 0xffffffffn), Number(m >> 32n));
}

export function regBig(c: Vcpu, n: number, size: number): bigint {
  const lo = c.getR(n, size);
  return size === 8 ? (BigInt(c.vh) << 32n) | BigInt(lo) : BigInt(lo);
}

export function setRegBig(c: Vcpu, n: number, size: number, v: bigint): void {
  const m = BigInt.asUintN(size * 8, v);
  c.setR(n, size, Number(m & 0xffffffffn), Number(m >> 32n));
}

