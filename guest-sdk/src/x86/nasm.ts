// NASM printer: source that `nasm -f bin` turns into the same bytes, branch widths and padding included.

import type { SectionName } from '../image.js';
import type { Bits } from './encode.js';
import { type Item, dataText, nopRun, nopText } from './items.js';
import { SECTION_ORDER } from './layout.js';
import { hex, nasmName, showLabel } from './operands.js';

export interface NasmInput {
  readonly bits: Bits;
  readonly origin: bigint;
  readonly items: ReadonlyMap<SectionName, readonly Item[]>;
  readonly aligns: ReadonlyMap<SectionName, number>;
  readonly externs: ReadonlySet<string>;
  readonly globals: readonly string[];
}

function itemLines(it: Item, bits: Bits): string[] {
  switch (it.k) {
    case 'label':
      return [`${nasmName(it.name)}:`];
    case 'code':
      return [`    ${it.enc.text}`];
    case 'branch': {
      const mn = it.mn === 'jcc' ? `j${it.cc!.name}` : it.mn;
      const width = it.mn === 'call' ? '' : it.near ? 'near ' : 'short ';
      return [`    ${mn} ${width}${showLabel(it.target)}`];
    }
    case 'data':
      return [`    ${dataText(it)}`];
    case 'align':
      if (it.pad === 0) return [];
      return it.nops ? nopRun(it.pad).map((n) => `    ${nopText(n, bits)}`) : [`    times ${it.pad} db 0`];
  }
}

export function printNasm(p: NasmInput): string {
  const out = [`bits ${p.bits}`];
  // -f bin rejects extern/global; list them as comments so the source still documents the interface.
  if (p.externs.size) out.push(`; extern ${[...p.externs].join(', ')}`);
  if (p.globals.length) out.push(`; global ${p.globals.join(', ')}`);
  out.push(`org ${hex(p.origin)}`);
  let prev: SectionName | undefined;
  for (const name of SECTION_ORDER) {
    const list = p.items.get(name)!;
    if (!list.length) continue;
    out.push('', `section ${name} progbits align=${p.aligns.get(name)}${prev ? ` follows=${prev}` : ''}`);
    for (const it of list) out.push(...itemLines(it, p.bits));
    prev = name;
  }
  return out.join('\n') + '\n';
}
