/**
 * The workload harness: flashmap with one writer and many reader workers,
 * side by side with what a JS developer would use instead, plus the
 * bustle-style mixed workloads. Prints tables, writes SVG charts to
 * bench/results/, and with `--json` machine-readable results.
 *
 * Run with `deno task bench:workload` (`--help` lists the options; `--quick`
 * for a short run). Permissions: read `.` (worker modules), write
 * bench/results (charts, JSON, lmdb's temporary environment), and ffi, env
 * and sys for the lmdb baseline's native addon.
 *
 * The npm baselines (`lmdb`, `sharedmap`) are pinned in bench/deno.json and
 * locked in bench/deno.lock, not in the library's deno.json: the task runs
 * with `--config bench/deno.json`, so only this harness downloads them.
 *
 * @module
 */

import { cpus } from "node:os";
import { type Options, parseOptions } from "./workload/args.ts";
import { type BustleRow, runBustle } from "./workload/bustle.ts";
import { charts } from "./workload/charts.ts";
import { singleDataset } from "./workload/data.ts";
import type { Histogram } from "./workload/hist.ts";
import { attachTable, bustleTable, singleTable } from "./workload/report.ts";
import type { AttachRow } from "./workload/runs.ts";
import {
  type BackendError,
  planSingle,
  runSingle,
  type SingleRow,
} from "./workload/single.ts";
import { targetLines, targets } from "./workload/targets.ts";

const RESULTS = "bench/results";

function machine(): string {
  let cpu = "unknown CPU";
  try {
    cpu = cpus()[0]?.model.trim() ?? cpu;
  } catch {
    // Without --allow-sys the model stays unknown; the rest still runs.
  }
  return `${cpu}, ${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno} (V8 ${Deno.version.v8}), ${Deno.build.os}`;
}

/** Histograms become their quantiles (ns) in JSON. */
function quantiles(h: Histogram) {
  return {
    samples: h.total,
    p50: h.quantile(0.5),
    p90: h.quantile(0.9),
    p99: h.quantile(0.99),
    p999: h.quantile(0.999),
  };
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Object && "counts" in value && "quantile" in value) {
    return quantiles(value as Histogram);
  }
  if (value === Infinity) return "max";
  if (typeof value === "number" && !Number.isFinite(value)) return null;
  return value;
}

async function run(options: Options, print: (text: string) => void) {
  // Progress goes to stderr with the elapsed time, so that a slow phase shows.
  const started = performance.now();
  const log = (line: string) =>
    console.error(
      `[${((performance.now() - started) / 1000).toFixed(1)}s] ${line}`,
    );
  const info = machine();
  print(`flashmap workload harness: ${info}`);
  print(
    `${options.ms} ms per run, prefill ${options.prefill}, bustle capacity ${options.capacity}; * = more reader workers than cores`,
  );
  let single: SingleRow[] = [];
  let attach: AttachRow[] = [];
  let bustle: BustleRow[] = [];
  const errors: BackendError[] = [];
  const plan = planSingle(options);
  if (plan.length > 0) {
    log(`single-writer and baselines: ${plan.length} runs`);
    const data = singleDataset(options.prefill, options.seed);
    const result = await runSingle(plan, options, data, log);
    single = result.rows;
    attach = result.attach;
    errors.push(...result.errors);
  }
  if (options.modes.includes("bustle")) {
    log("bustle workloads");
    const result = await runBustle(options, log);
    bustle = result.rows;
    errors.push(...result.errors);
  }
  const sections: [string, SingleRow[]][] = [
    [
      "Single writer (flashmap)",
      single.filter((r) => r.config.sweeps.some((s) => !isBaseline(s))),
    ],
    [
      "Baselines (same workload; map = one Map in one worker, no writer)",
      single.filter((r) => r.config.sweeps.some(isBaseline)),
    ],
  ];
  for (const [title, rows] of sections) {
    if (rows.length === 0) continue;
    print(`\n## ${title}\n`);
    print(singleTable(rows));
  }
  if (attach.length > 0) {
    print("\n## Attach and memory (per worker, at pool start)\n");
    print(attachTable(attach));
  }
  if (bustle.length > 0) {
    print(
      "\n## bustle-style workloads (inline = the whole mix on one thread)\n",
    );
    print(bustleTable(bustle));
  }
  const reached = targets(single, attach, bustle, options);
  if (reached.length > 0) {
    print("\n## Numbers to reach (ratios from this run)\n");
    for (const line of targetLines(reached)) print(line);
  }
  if (errors.length > 0) {
    print("\n## Backends that did not run\n");
    for (const e of errors) print(`${e.backend}: ${e.error}`);
  }
  if (options.charts) {
    await Deno.mkdir(RESULTS, { recursive: true });
    for (const [name, svg] of charts(single, bustle, options, info)) {
      await Deno.writeTextFile(`${RESULTS}/${name}`, svg);
      log(`wrote ${RESULTS}/${name}`);
    }
  }
  return { machine: info, single, attach, bustle, targets: reached, errors };
}

function isBaseline(sweep: string): boolean {
  return sweep.startsWith("baselines") || sweep === "unthrottled" ||
    sweep === "ceiling";
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(Deno.args);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    return 2;
  }
  // With `--json -` stdout carries the JSON alone.
  const print = options.json === "-"
    ? (text: string) => console.error(text)
    : (text: string) => console.log(text);
  const results = await run(options, print);
  if (options.json !== undefined) {
    const text = JSON.stringify(
      { date: new Date().toISOString(), options, ...results },
      jsonReplacer,
      2,
    );
    if (options.json === "-") {
      console.log(text);
    } else {
      const path = options.json === ""
        ? `${RESULTS}/workload-${
          new Date().toISOString().replace(/[:.]/g, "-")
        }.json`
        : options.json;
      await Deno.mkdir(RESULTS, { recursive: true });
      await Deno.writeTextFile(path, text + "\n");
      console.error(`wrote ${path}`);
    }
  }
  // A baseline that cannot run here is reported, not fatal; flashmap failing is.
  return results.errors.some((e) => e.backend === "flashmap") ? 1 : 0;
}

Deno.exitCode = await main();
