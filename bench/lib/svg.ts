// Charts for the Markdown report and the README, as hand-written SVG from a ChartSpec
// (bench/lib/part.ts): grouped bars (throughput per scenario) or lines across groups
// (latency percentiles), with axes, value labels on the grid, and a legend. No chart
// library: the output is a small static file that renders on GitHub and in any browser.
import type { ChartSpec } from './part.ts';

const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777', '#4b5563', '#65a30d'];
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif"';

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** A readable number for an axis or a bar: 27,512 / 1.25 / 0.031. */
export function formatValue(v: number): string {
  const a = Math.abs(v);
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  if (a === 0) return '0';
  return v.toPrecision(2);
}

/** "Nice" ticks from 0 (linear) covering max. */
function linearTicks(max: number): number[] {
  if (!(max > 0)) return [0, 1];
  const rough = max / 5;
  const mag = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= rough) ?? 10 * mag;
  const ticks: number[] = [];
  for (let t = 0; t <= max + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  if (ticks[ticks.length - 1]! < max) ticks.push(Number((ticks[ticks.length - 1]! + step).toPrecision(12)));
  return ticks;
}

/** Powers of ten covering [min, max] (log scale). */
function logTicks(min: number, max: number): number[] {
  const lo = Math.floor(Math.log10(min));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(max)));
  const ticks: number[] = [];
  for (let e = lo; e <= hi; e++) ticks.push(10 ** e);
  return ticks;
}

/** The SVG document for one chart. Missing values (null) leave a gap. */
export function renderChart(spec: ChartSpec): string {
  const values = spec.series.flatMap((s) => s.values).filter((v): v is number => v !== null && Number.isFinite(v));
  const log = spec.log === true && values.some((v) => v > 0);
  const positive = values.filter((v) => v > 0);
  const ticks = log ? logTicks(Math.min(...positive), Math.max(...positive)) : linearTicks(Math.max(0, ...values));
  const lo = ticks[0]!;
  const hi = ticks[ticks.length - 1]!;

  const groups = spec.groups.length;
  const legendRows = Math.ceil(spec.series.length / 4);
  const labelChars = Math.max(...spec.groups.map((g) => g.length), 1);
  const rotate = groups > 5 || labelChars * groups * 7 > 640;
  const width = Math.max(640, Math.min(1200, 120 + groups * (spec.kind === 'bar' ? Math.max(48, spec.series.length * 22) : 70)));
  const left = 78;
  const right = 20;
  const top = 44 + legendRows * 18;
  const plotH = 260;
  const bottom = rotate ? Math.min(170, 24 + labelChars * 6) : 44;
  const height = top + plotH + bottom;
  const plotW = width - left - right;
  const y = (v: number): number => {
    const f = log ? (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) : (v - lo) / (hi - lo || 1);
    return top + plotH - f * plotH;
  };
  const groupW = plotW / Math.max(groups, 1);
  const cx = (g: number): number => left + groupW * (g + 0.5);
  const colour = (i: number): string => PALETTE[i % PALETTE.length]!;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(spec.title)}">`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600" ${FONT} fill="#111827">${escapeXml(spec.title)}</text>`);
  // Legend: up to four entries a row.
  spec.series.forEach((s, i) => {
    const lx = left + (i % 4) * ((plotW) / 4);
    const ly = 38 + Math.floor(i / 4) * 18;
    out.push(`<rect x="${lx}" y="${ly - 9}" width="12" height="12" fill="${colour(i)}"/>`);
    out.push(`<text x="${lx + 17}" y="${ly + 1}" font-size="12" ${FONT} fill="#374151">${escapeXml(s.label)}</text>`);
  });
  // Grid and value axis.
  for (const t of ticks) {
    const ty = y(t).toFixed(1);
    out.push(`<line x1="${left}" y1="${ty}" x2="${width - right}" y2="${ty}" stroke="#e5e7eb" stroke-width="1"/>`);
    out.push(`<text x="${left - 6}" y="${ty}" dy="4" text-anchor="end" font-size="11" ${FONT} fill="#4b5563">${escapeXml(formatValue(t))}</text>`);
  }
  out.push(`<text transform="translate(16 ${top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="12" ${FONT} fill="#374151">${escapeXml(spec.unit + (log ? ' (log scale)' : ''))}</text>`);
  out.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#6b7280"/>`);
  out.push(`<line x1="${left}" y1="${top + plotH}" x2="${width - right}" y2="${top + plotH}" stroke="#6b7280"/>`);
  // Category axis.
  spec.groups.forEach((g, i) => {
    const gx = cx(i).toFixed(1);
    const gy = top + plotH + 16;
    out.push(
      rotate
        ? `<text transform="translate(${gx} ${gy}) rotate(-35)" text-anchor="end" font-size="11" ${FONT} fill="#374151">${escapeXml(g)}</text>`
        : `<text x="${gx}" y="${gy}" text-anchor="middle" font-size="11" ${FONT} fill="#374151">${escapeXml(g)}</text>`,
    );
  });
  if (spec.kind === 'bar') {
    const n = Math.max(spec.series.length, 1);
    const barW = Math.min(40, (groupW * 0.8) / n);
    spec.series.forEach((s, si) => {
      out.push(`<g fill="${colour(si)}"><title>${escapeXml(s.label)}</title>`);
      s.values.forEach((v, gi) => {
        if (v === null || !Number.isFinite(v)) return;
        const x = cx(gi) - (barW * n) / 2 + barW * si;
        const yv = y(v);
        out.push(`<rect x="${x.toFixed(1)}" y="${yv.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${Math.max(0, top + plotH - yv).toFixed(1)}"><title>${escapeXml(`${s.label} · ${spec.groups[gi] ?? ''}: ${formatValue(v)} ${spec.unit}`)}</title></rect>`);
        if (n <= 3) out.push(`<text x="${(x + (barW - 2) / 2).toFixed(1)}" y="${(yv - 3).toFixed(1)}" text-anchor="middle" font-size="10" ${FONT} fill="#111827">${escapeXml(formatValue(v))}</text>`);
      });
      out.push('</g>');
    });
  } else {
    spec.series.forEach((s, si) => {
      const pts = s.values.map((v, gi) => (v === null || !Number.isFinite(v) ? undefined : `${cx(gi).toFixed(1)},${y(v).toFixed(1)}`));
      // Break the line at a missing value.
      const runs: string[][] = [[]];
      for (const p of pts) {
        if (p === undefined) runs.push([]);
        else runs[runs.length - 1]!.push(p);
      }
      out.push(`<g stroke="${colour(si)}" fill="${colour(si)}"><title>${escapeXml(s.label)}</title>`);
      for (const run of runs) if (run.length > 1) out.push(`<polyline points="${run.join(' ')}" fill="none" stroke-width="2"/>`);
      s.values.forEach((v, gi) => {
        if (v === null || !Number.isFinite(v)) return;
        out.push(`<circle cx="${cx(gi).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3"><title>${escapeXml(`${s.label} · ${spec.groups[gi] ?? ''}: ${formatValue(v)} ${spec.unit}`)}</title></circle>`);
      });
      out.push('</g>');
    });
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
