/**
 * The harness's charts: read throughput and read latency against readers
 * (every backend at the center configuration, like flashmap's README
 * charts), and bustle throughput against threads.
 *
 * @module
 */

import type { Options } from "./args.ts";
import type { BustleRow } from "./bustle.ts";
import { rateText } from "./report.ts";
import { center, type SingleRow } from "./single.ts";
import { lineChart, type Series } from "./svg.ts";

/** File name and SVG text of each chart. */
export function charts(
  single: SingleRow[],
  bustle: BustleRow[],
  options: Options,
  machine: string,
): [string, string][] {
  const c = center(options);
  const cores = navigator.hardwareConcurrency;
  const atCenter = single.filter((r) =>
    r.config.dist === c.dist && r.config.k === c.k &&
    r.config.rate === c.rate && r.config.publishEvery === c.publishEvery
  );
  const backends = [...new Set(atCenter.map((r) => r.config.backend))];
  const workload = `${c.dist} gets, ${c.k} per guard, writer ${
    rateText(c.rate)
  } writes/s publishing every ${c.publishEvery}, ${options.prefill} keys`;
  const caption = [workload, machine];
  const out: [string, string][] = [];
  if (atCenter.length > 0) {
    const throughput: Series[] = backends.map((backend) => ({
      name: backend,
      points: atCenter.filter((r) => r.config.backend === backend).map((r) => ({
        x: r.config.readers,
        y: r.read.readsPerSec,
      })),
    }));
    out.push([
      "workload-throughput.svg",
      lineChart({
        title: "Read throughput against reader workers (higher is better)",
        caption,
        xLabel: "reader workers (+1 writer on the main thread)",
        yLabel: "reads per second, all readers",
        series: throughput,
        cores,
        format: tick,
      }),
    ]);
    const latency: Series[] = backends.flatMap((backend) => {
      const rows = atCenter.filter((r) => r.config.backend === backend);
      return [0.5, 0.99].map((q) => ({
        name: `${backend} p${q * 100}`,
        group: backend,
        dashed: q !== 0.5,
        points: rows.map((r) => ({
          x: r.config.readers,
          y: r.read.latency.quantile(q),
        })),
      }));
    });
    out.push([
      "workload-latency.svg",
      lineChart({
        title:
          `Latency of a guard of ${c.k} reads against reader workers (lower is better)`,
        caption,
        xLabel: "reader workers (+1 writer on the main thread)",
        yLabel: "time per guard (sampled 1 in 64)",
        series: latency,
        cores,
        format: tickDuration,
      }),
    ]);
  }
  const paced = bustle.filter((b) => b.threads > 0);
  if (paced.length > 0) {
    const keys = [...new Set(paced.map((b) => `${b.workload}|${b.backend}`))];
    out.push([
      "workload-bustle.svg",
      lineChart({
        title: "bustle-style workloads: operations per second against threads",
        caption: [
          `capacity ${options.capacity}, prefill 75%, one write per publish; dashed: the lock table`,
          machine,
        ],
        xLabel: "reader workers (+1 paced writer on the main thread)",
        yLabel: "operations per second",
        series: keys.map((key) => {
          const [workload, backend] = key.split("|");
          return {
            name: `${backend} ${workload}`,
            group: workload,
            dashed: backend !== "flashmap",
            points: paced.filter((b) =>
              b.workload === workload && b.backend === backend
            ).map((b) => ({ x: b.threads, y: b.opsPerSec })),
          };
        }),
        cores,
        format: tick,
      }),
    ]);
  }
  return out;
}

/** Tick labels: 1, 2 or 5 times a power of ten, without decimals. */
function tick(n: number): string {
  for (const [unit, suffix] of [[1e9, "G"], [1e6, "M"], [1e3, "k"]] as const) {
    if (n >= unit) return `${+(n / unit).toPrecision(3)}${suffix}`;
  }
  return `${+n.toPrecision(3)}`;
}

/** Tick labels of durations given in ns. */
function tickDuration(ns: number): string {
  if (ns >= 1e6) return `${+(ns / 1e6).toPrecision(3)}ms`;
  if (ns >= 1e3) return `${+(ns / 1e3).toPrecision(3)}us`;
  return `${+ns.toPrecision(3)}ns`;
}
