/**
 * Line charts as standalone SVG, written by hand (no chart library): a
 * logarithmic y axis (backends differ by orders of magnitude), reader counts
 * on x, the oversubscribed counts shaded, and the machine in the caption.
 *
 * @module
 */

/** One line of a chart. */
export interface Series {
  name: string;
  points: { x: number; y: number }[];
  dashed?: boolean;
  /** Series with the same group share a colour. */
  group?: string;
}

/** What a chart shows. */
export interface ChartSpec {
  title: string;
  /** Lines under the chart: the workload, then the machine. */
  caption: string[];
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** x values above this are shaded as oversubscribed. */
  cores?: number;
  /** Formats a y tick. */
  format: (y: number) => string;
}

const COLOURS = [
  "#d62728",
  "#1f77b4",
  "#2ca02c",
  "#ff7f0e",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#17becf",
];
const W = 820;
const H = 460;
const LEFT = 80;
const RIGHT = 250;
const TOP = 50;
const BOTTOM = 90;

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(
    />/g,
    "&gt;",
  );
}

/** Renders the chart; series without finite positive points are left out. */
export function lineChart(spec: ChartSpec): string {
  const series = spec.series
    .map((s) => ({
      ...s,
      points: s.points.filter((p) => Number.isFinite(p.y) && p.y > 0),
    }))
    .filter((s) => s.points.length > 0);
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p.x)))]
    .sort((a, b) => a - b);
  const ys = series.flatMap((s) => s.points.map((p) => p.y));
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${
      W / 2
    }" y="24" text-anchor="middle" font-size="16" font-weight="bold">${
      escape(spec.title)
    }</text>`,
  ];
  const plotW = W - LEFT - RIGHT;
  const plotH = H - TOP - BOTTOM;
  if (xs.length === 0) {
    out.push(
      `<text x="${W / 2}" y="${
        H / 2
      }" text-anchor="middle">no data</text></svg>`,
    );
    return out.join("\n");
  }
  // x: categorical reader counts, evenly spaced (1, 2, 4, 8 read best that way).
  const xAt = (x: number) =>
    LEFT +
    (xs.length === 1 ? plotW / 2 : xs.indexOf(x) * plotW / (xs.length - 1));
  const lo = Math.floor(Math.log10(Math.min(...ys)));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...ys))));
  const yAt = (y: number) =>
    TOP + plotH - (Math.log10(y) - lo) / (hi - lo) * plotH;
  if (spec.cores !== undefined) {
    const over = xs.filter((x) => x > spec.cores!);
    if (over.length > 0) {
      const from =
        (xAt(over[0]) + xAt(xs[xs.indexOf(over[0]) - 1] ?? over[0])) / 2;
      out.push(
        `<rect x="${from}" y="${TOP}" width="${
          LEFT + plotW - from
        }" height="${plotH}" fill="#eee"/>`,
        `<text x="${LEFT + plotW}" y="${
          TOP + 14
        }" text-anchor="end" fill="#777">oversubscribed (${spec.cores} cores)</text>`,
      );
    }
  }
  for (let e = lo; e <= hi; e++) {
    for (const m of [1, 2, 5]) {
      const y = m * 10 ** e;
      if (Math.log10(y) > hi) continue;
      const py = yAt(y);
      out.push(
        `<line x1="${LEFT}" x2="${
          LEFT + plotW
        }" y1="${py}" y2="${py}" stroke="${m === 1 ? "#ccc" : "#eee"}"/>`,
        `<text x="${LEFT - 6}" y="${py + 4}" text-anchor="end">${
          escape(spec.format(y))
        }</text>`,
      );
    }
  }
  for (const x of xs) {
    out.push(
      `<line x1="${xAt(x)}" x2="${xAt(x)}" y1="${TOP}" y2="${
        TOP + plotH
      }" stroke="#eee"/>`,
      `<text x="${xAt(x)}" y="${
        TOP + plotH + 18
      }" text-anchor="middle">${x}</text>`,
    );
  }
  out.push(
    `<rect x="${LEFT}" y="${TOP}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`,
    `<text x="${LEFT + plotW / 2}" y="${
      TOP + plotH + 40
    }" text-anchor="middle">${escape(spec.xLabel)}</text>`,
    `<text transform="translate(18 ${
      TOP + plotH / 2
    }) rotate(-90)" text-anchor="middle">${escape(spec.yLabel)}</text>`,
    ...spec.caption.map((line, i) =>
      `<text x="${W / 2}" y="${
        H - 30 + 16 * i
      }" text-anchor="middle" fill="#555" font-size="11">${escape(line)}</text>`
    ),
  );
  const groups = [...new Set(series.map((s) => s.group ?? s.name))];
  series.forEach((s, i) => {
    const colour = COLOURS[groups.indexOf(s.group ?? s.name) % COLOURS.length];
    const points = s.points.slice().sort((a, b) => a.x - b.x);
    const path = points.map((p) =>
      `${xAt(p.x).toFixed(1)},${yAt(p.y).toFixed(1)}`
    )
      .join(" ");
    out.push(
      `<polyline points="${path}" fill="none" stroke="${colour}" stroke-width="2"${
        s.dashed ? ' stroke-dasharray="6 4"' : ""
      }/>`,
      ...points.map((p) =>
        `<circle cx="${xAt(p.x).toFixed(1)}" cy="${
          yAt(p.y).toFixed(1)
        }" r="3" fill="${colour}"/>`
      ),
    );
    const ly = TOP + 10 + i * 18;
    const lx = LEFT + plotW + 14;
    out.push(
      `<line x1="${lx}" x2="${
        lx + 22
      }" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="2"${
        s.dashed ? ' stroke-dasharray="6 4"' : ""
      }/>`,
      `<text x="${lx + 28}" y="${ly + 4}">${escape(s.name)}</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n");
}
