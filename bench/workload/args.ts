/**
 * Command-line options of the workload harness.
 *
 * @module
 */

import type { BackendName } from "./backends/types.ts";
import type { Distribution } from "./data.ts";

/** The three parts of a run. */
export type Mode = "single" | "baselines" | "bustle";

/** The bustle workloads. */
export type WorkloadName = "ReadHeavy" | "AlmostReadOnly" | "Exchange";

/** Parsed options. */
export interface Options {
  modes: Mode[];
  readers: number[];
  dists: Distribution[];
  ks: number[];
  /** Writes per second; 0 for no writer, Infinity for unthrottled. */
  rates: number[];
  publishEvery: number[];
  /** The cross product of the lists instead of one-at-a-time sweeps. */
  grid: boolean;
  baselines: BackendName[];
  workloads: WorkloadName[];
  prefill: number;
  capacity: number;
  /** Bustle operations per run, as a multiple of the capacity. */
  opsPerCapacity: number;
  ms: number;
  /** Per-run count bound for readers (guards) and the writer (writes). */
  maxOps: number;
  /** Where to write JSON: a path, "-" for stdout, or undefined for none. */
  json: string | undefined;
  charts: boolean;
  seed: number;
  quick: boolean;
}

export const USAGE = `Usage: deno task bench:workload [options]
  --mode single,baselines,bustle   parts to run (default: all three)
  --readers 1,2,4,8                reader workers per run
  --dist uniform,zipf              key distributions (Zipf s=1.03)
  --k 1,16,256                     lookups per guard
  --rate 0,100,10000,max           writer ops per second (max: unthrottled)
  --publish-every 1,64,1024        writes per publish
  --grid                           every combination (default: sweep one list at a time)
  --baselines map,replica,rpc,locktable,sharedmap,lmdb
  --workloads ReadHeavy,AlmostReadOnly,Exchange
  --prefill 1048576                keys in the single-writer map
  --capacity 1048576               bustle capacity (prefill 75%)
  --ops-per-capacity 16            bustle operations per run / capacity
  --ms 2000                        time bound per run
  --max-ops N                      count bound per run (default 1e9)
  --quick                          ms=300, prefill and capacity 2^18
  --json [path|-]                  machine-readable results (default bench/results/workload-<time>.json)
  --no-charts                      do not write SVG charts
  --seed 1                         data seed`;

function list(value: string): string[] {
  return value.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

function numbers(flag: string, value: string): number[] {
  return list(value).map((s) => {
    const n = s === "max" || s === "inf" ? Infinity : Number(s);
    if (Number.isNaN(n) || n < 0) {
      throw new RangeError(`${flag}: not a non-negative number: "${s}"`);
    }
    return n;
  });
}

function positiveIntegers(flag: string, value: string): number[] {
  const out = numbers(flag, value);
  for (const n of out) {
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(`${flag}: expected positive integers, got ${n}`);
    }
  }
  return out;
}

function oneOf<T extends string>(flag: string, value: string, allowed: T[]) {
  return list(value).map((s) => {
    if (!allowed.includes(s as T)) {
      throw new RangeError(
        `${flag}: "${s}" is not one of ${allowed.join(", ")}`,
      );
    }
    return s as T;
  });
}

/** Parses `args`; throws a RangeError with the reason on bad input. */
export function parseOptions(args: string[]): Options {
  const options: Options = {
    modes: ["single", "baselines", "bustle"],
    readers: [1, 2, 4, 8],
    dists: ["uniform", "zipf"],
    ks: [1, 16, 256],
    rates: [0, 100, 10_000, Infinity],
    publishEvery: [1, 64, 1024],
    grid: false,
    baselines: ["map", "replica", "rpc", "locktable", "sharedmap", "lmdb"],
    workloads: ["ReadHeavy", "AlmostReadOnly", "Exchange"],
    prefill: 1 << 20,
    capacity: 1 << 20,
    opsPerCapacity: 16,
    ms: 2000,
    maxOps: 1e9,
    json: undefined,
    charts: true,
    seed: 1,
    quick: false,
  };
  const explicit = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const [flag, inline] = arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = args[++i];
      if (next === undefined) throw new RangeError(`${flag} needs a value`);
      return next;
    };
    explicit.add(flag);
    switch (flag) {
      case "--mode":
        options.modes = oneOf(flag, value(), ["single", "baselines", "bustle"]);
        break;
      case "--readers":
        options.readers = positiveIntegers(flag, value());
        break;
      case "--dist":
        options.dists = oneOf(flag, value(), ["uniform", "zipf"]);
        break;
      case "--k":
        options.ks = positiveIntegers(flag, value());
        break;
      case "--rate":
        options.rates = numbers(flag, value());
        break;
      case "--publish-every":
        options.publishEvery = positiveIntegers(flag, value());
        break;
      case "--grid":
        options.grid = true;
        break;
      case "--baselines":
        options.baselines = oneOf(flag, value(), [
          "map",
          "replica",
          "rpc",
          "locktable",
          "sharedmap",
          "lmdb",
        ]);
        break;
      case "--workloads":
        options.workloads = oneOf(flag, value(), [
          "ReadHeavy",
          "AlmostReadOnly",
          "Exchange",
        ]);
        break;
      case "--prefill":
        options.prefill = positiveIntegers(flag, value())[0];
        break;
      case "--capacity":
        options.capacity = positiveIntegers(flag, value())[0];
        break;
      case "--ops-per-capacity":
        options.opsPerCapacity = numbers(flag, value())[0];
        break;
      case "--ms":
        options.ms = numbers(flag, value())[0];
        break;
      case "--max-ops":
        options.maxOps = positiveIntegers(flag, value())[0];
        break;
      case "--quick":
        options.quick = true;
        break;
      case "--json": {
        const next = inline ?? args[i + 1];
        if (next !== undefined && !next.startsWith("--")) {
          options.json = next;
          if (inline === undefined) i++;
        } else {
          options.json = "";
        }
        break;
      }
      case "--no-charts":
        options.charts = false;
        break;
      case "--seed":
        options.seed = numbers(flag, value())[0];
        break;
      case "--help":
      case "-h":
        throw new RangeError(USAGE);
      default:
        throw new RangeError(`Unknown option ${arg}\n${USAGE}`);
    }
  }
  if (options.quick) {
    if (!explicit.has("--ms")) options.ms = 300;
    if (!explicit.has("--prefill")) options.prefill = 1 << 18;
    if (!explicit.has("--capacity")) options.capacity = 1 << 18;
  }
  if (Math.max(...options.readers) > 60) {
    throw new RangeError("--readers: at most 60 readers");
  }
  return options;
}
