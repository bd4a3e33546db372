// An SVG bar chart of a bench run: one bar per operation, time per operation on a log scale, emulator rows and
// real-KVM rows in two colours, each target as a tick on its bar.
import { formatNs, type BenchResult } from './measure.js';

/** Axis label for 10^p ns: 10 ns, 100 ns, 1 µs ... 1 s, 10 s. */
function axisLabel(p: number): string {
  const units = ['ns', 'µs', 'ms', 's'];
  const u = Math.min(Math.floor(p / 3), units.length - 1);
  return `${10 ** (p - 3 * u)} ${units[u]}`;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function chartSvg(results: readonly BenchResult[], title = 'pvkit bench: time per operation (log scale)'): string {
  const rows = results.filter((r) => !r.skipped && Number.isFinite(r.nsPerOp) && r.nsPerOp > 0);
  const labelW = 380, barW = 520, rowH = 22, top = 50, left = labelW + 10;
  const ns = rows.flatMap((r) => [r.nsPerOp, ...(r.targetNsPerOp ? [r.targetNsPerOp] : [])]);
  const lo = Math.floor(Math.log10(Math.min(...ns, 10)));
  const hi = Math.ceil(Math.log10(Math.max(...ns, 1000)));
  const x = (v: number) => left + ((Math.log10(v) - lo) / (hi - lo)) * barW;
  const h = top + rows.length * rowH + 40;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${left + barW + 150}" height="${h}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="10" y="38" fill="#555">blue: emulator, orange: real KVM (/dev/kvm); black tick: target</text>`,
  ];
  for (let p = lo; p <= hi; p++) {
    const gx = x(10 ** p);
    out.push(`<line x1="${gx}" y1="${top - 5}" x2="${gx}" y2="${h - 30}" stroke="#ddd"/>`);
    out.push(`<text x="${gx}" y="${h - 15}" text-anchor="middle" fill="#555">${esc(axisLabel(p))}</text>`);
  }
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    const kvm = r.id.startsWith('kvm.');
    out.push(`<text x="${labelW}" y="${y + 14}" text-anchor="end">${esc(r.label)}</text>`);
    out.push(`<rect x="${left}" y="${y + 3}" width="${Math.max(1, x(r.nsPerOp) - left).toFixed(1)}" height="${rowH - 8}" fill="${kvm ? '#e8823a' : '#3a7be8'}"/>`);
    out.push(`<text x="${(x(r.nsPerOp) + 4).toFixed(1)}" y="${y + 14}" fill="#333">${esc(formatNs(r.nsPerOp))}</text>`);
    if (r.targetNsPerOp) {
      const tx = x(r.targetNsPerOp).toFixed(1);
      out.push(`<line x1="${tx}" y1="${y + 1}" x2="${tx}" y2="${y + rowH - 3}" stroke="black" stroke-width="2"/>`);
    }
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
