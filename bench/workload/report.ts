/**
 * Plain-text tables of the results, for stdout.
 *
 * @module
 */

import type { BustleRow } from "./bustle.ts";
import type { AttachRow } from "./runs.ts";
import type { SingleRow } from "./single.ts";

/** `12.3M`, `456k`: throughputs. */
export function si(n: number): string {
  if (!Number.isFinite(n)) return "-";
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(n < 10 ? 2 : 0);
}

/** A duration given in ns, in a readable unit. */
export function duration(ns: number): string {
  if (!Number.isFinite(ns)) return "-";
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(1)}ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)}us`;
  return `${ns.toFixed(0)}ns`;
}

function fixed(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "-";
}

/** Aligns columns; text left, everything else right. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => r[i].length))
  );
  const line = (cells: string[]) =>
    cells.map((c, i) => i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))
      .join("  ");
  return [
    line(headers),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...rows.map(line),
  ].join("\n");
}

/** The rate of a configuration, as given on the command line. */
export function rateText(rate: number): string {
  return rate === Infinity ? "max" : rate === 0 ? "0" : si(rate);
}

/** The single-writer rows. */
export function singleTable(rows: SingleRow[]): string {
  return table(
    [
      "backend",
      "R",
      "dist",
      "k",
      "w/s set",
      "N",
      "reads/s",
      "per reader",
      "ns/read",
      "guard p50",
      "p99",
      "p99.9",
      "hit%",
      "bad",
      "writes/s",
      "pub/s",
      "pub p50",
      "pub p99",
      "w wait",
      "stale avg",
      "max",
    ],
    rows.map((row) => {
      const c = row.config;
      const r = row.read;
      const w = row.writer;
      const mean = r.perReader.reduce((a, b) => a + b, 0) / r.perReader.length;
      return [
        c.backend,
        `${c.readers}${row.oversubscribed ? "*" : ""}`,
        c.dist,
        String(c.k),
        rateText(c.rate),
        String(c.publishEvery),
        si(r.readsPerSec),
        si(mean),
        fixed(1e9 / mean, 1),
        duration(r.latency.quantile(0.5)),
        duration(r.latency.quantile(0.99)),
        duration(r.latency.quantile(0.999)),
        fixed(100 * r.hitRate, 2),
        String(r.bad),
        si(w.writes / (w.elapsedMs / 1000)),
        si(w.publishes / (w.elapsedMs / 1000)),
        duration(w.publishLatency.quantile(0.5)),
        duration(w.publishLatency.quantile(0.99)),
        `${fixed(w.waitMs, 1)}ms`,
        fixed(r.staleMean, 3),
        String(r.staleMax),
      ];
    }),
  );
}

/** The attach and memory rows. */
export function attachTable(rows: AttachRow[]): string {
  return table(
    [
      "backend",
      "entries",
      "workers",
      "attach (in worker)",
      "again",
      "round trip",
      "heap/worker",
      "heap B/entry",
      "shared",
      "shared B/entry",
      "note",
    ],
    rows.map((a) => [
      a.backend,
      String(a.entries),
      String(a.workers),
      `${fixed(a.attachMs, 3)}ms`,
      a.reattachMs === undefined ? "-" : `${fixed(a.reattachMs, 3)}ms`,
      `${fixed(a.roundTripMs, 3)}ms`,
      `${fixed(a.heapDelta / 2 ** 20, 1)}MiB`,
      fixed(a.heapDelta / a.entries, 1),
      a.sharedBytes === undefined
        ? "-"
        : `${fixed(a.sharedBytes / 2 ** 20, 1)}MiB`,
      a.sharedBytes === undefined ? "-" : fixed(a.sharedBytes / a.entries, 1),
      a.note ?? "",
    ]),
  );
}

/** The bustle rows. */
export function bustleTable(rows: BustleRow[]): string {
  return table(
    [
      "workload",
      "backend",
      "threads",
      "ops/s",
      "reads/s",
      "read%",
      "hit%",
      "bad",
      "ops",
      "wall",
      "read p50",
      "read p99",
      "paced",
    ],
    rows.map((b) => [
      b.workload,
      b.backend,
      b.threads === 0 ? "inline" : `${b.threads}${b.oversubscribed ? "*" : ""}`,
      si(b.opsPerSec),
      si(b.readsPerSec),
      fixed(100 * b.readShare, 2),
      fixed(100 * b.hitRate, 1),
      String(b.bad),
      si(b.ops),
      `${fixed(b.wallMs, 0)}ms`,
      b.read ? duration(b.read.latency.quantile(0.5)) : "-",
      b.read ? duration(b.read.latency.quantile(0.99)) : "-",
      // Share of the readers' time spent waiting for the writer to keep the mix.
      b.read
        ? `${fixed(100 * b.read.pacedMs / (b.threads * b.wallMs), 0)}%`
        : "-",
    ]),
  );
}
