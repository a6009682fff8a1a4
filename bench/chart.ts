// A dependency-free SVG of throughput and p99 latency over time, per load mode,
// with restarts marked: what a restart does to traffic, at a glance.
export interface ChartSeries {
  title: string;
  bucketMs: number;
  /** Per bucket: requests completed, p99 latency (ms), failures. */
  buckets: Array<{ t: number; requests: number; p99: number; failures: number }>;
  restarts: number[]; // ms on the same axis
  phaseBoundary: number; // ms where restarts begin
}

const W = 960;
const PANEL = 140;
const GAP = 34;
const LEFT = 64;
const RIGHT = 16;

export function renderChart(series: ChartSeries[]): string {
  const height = series.length * (2 * PANEL + 3 * GAP) + 10;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  series.forEach((s, i) => {
    const top = 10 + i * (2 * PANEL + 3 * GAP);
    const endT = Math.max(1, ...s.buckets.map((b) => b.t + s.bucketMs));
    const x = (t: number) => LEFT + (t / endT) * (W - LEFT - RIGHT);
    const perSecond = s.buckets.map((b) => (b.requests * 1000) / s.bucketMs);
    parts.push(`<text x="${LEFT}" y="${top + 12}" font-size="13" font-weight="bold">${escape(s.title)}</text>`);
    panel(parts, top + GAP - 10, 'throughput (req/s)', perSecond, s, x, '#1f77b4');
    panel(parts, top + GAP + PANEL + GAP - 10, 'p99 latency (ms)', s.buckets.map((b) => b.p99), s, x, '#ff7f0e');
    const failed = s.buckets.filter((b) => b.failures > 0);
    for (const b of failed) {
      parts.push(`<circle cx="${x(b.t + s.bucketMs / 2)}" cy="${top + GAP - 4}" r="3" fill="red"><title>${b.failures} failed</title></circle>`);
    }
    parts.push(
      `<text x="${W - RIGHT}" y="${top + 12}" text-anchor="end" fill="#555">grey lines: USR2 sent; shaded: no restarts; red dots: failed requests (${failed.reduce((n, b) => n + b.failures, 0)})</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function panel(parts: string[], top: number, label: string, values: number[], s: ChartSeries, x: (t: number) => number, color: string) {
  const max = niceMax(Math.max(1, ...values.filter(Number.isFinite)));
  const y = (v: number) => top + PANEL - (Math.min(v, max) / max) * PANEL;
  parts.push(`<rect x="${LEFT}" y="${top}" width="${x(s.phaseBoundary) - LEFT}" height="${PANEL}" fill="#f2f2f2"/>`);
  parts.push(`<rect x="${LEFT}" y="${top}" width="${W - LEFT - RIGHT}" height="${PANEL}" fill="none" stroke="#999"/>`);
  for (const t of s.restarts) parts.push(`<line x1="${x(t)}" x2="${x(t)}" y1="${top}" y2="${top + PANEL}" stroke="#bbb"/>`);
  const points = s.buckets.map((b, i) => `${x(b.t + s.bucketMs / 2).toFixed(1)},${y(Number.isFinite(values[i]!) ? values[i]! : 0).toFixed(1)}`);
  parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.3" points="${points.join(' ')}"/>`);
  parts.push(`<text x="${LEFT - 4}" y="${top + 4}" text-anchor="end">${format(max)}</text>`);
  parts.push(`<text x="${LEFT - 4}" y="${top + PANEL}" text-anchor="end">0</text>`);
  parts.push(`<text x="${LEFT + 4}" y="${top - 3}" fill="${color}">${label}</text>`);
  const endT = s.buckets.length ? s.buckets.at(-1)!.t + s.bucketMs : 0;
  parts.push(`<text x="${W - RIGHT}" y="${top + PANEL + 12}" text-anchor="end">${(endT / 1000).toFixed(0)} s</text>`);
}

function niceMax(v: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(v));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= v) return step * magnitude;
  return 10 * magnitude;
}

function format(v: number): string {
  return v >= 1000 ? `${(v / 1000).toFixed(v >= 10_000 ? 0 : 1)}k` : String(v);
}

function escape(text: string): string {
  return text.replace(/[<&>]/g, (c) => ({ '<': '&lt;', '&': '&amp;', '>': '&gt;' })[c]!);
}
