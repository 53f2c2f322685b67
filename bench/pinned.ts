/**
 * The numbers of issue 10 ("the writer never waits for a reader"): what one
 * read guard held for a whole run costs the writer, in time and in memory.
 *
 * Workload: a map of 2^20 int32 keys (`codecs.int32` → `codecs.int32`,
 * key `i` → `i`, filled and synchronized before the clock starts), then
 * {@linkcode DEFAULT_PUBLISHES} publishes of {@linkcode WRITES_PER_PUBLISH}
 * writes each to random keys of the map (overwrites, alternately `set` and
 * `insert`; the keys are drawn before the clock starts). The run is timed
 * from the first `write.guard()` to the last publish.
 *
 * - **unpinned**: no read guard is held.
 * - **pinned**: a second read handle of the same thread holds one guard,
 *   opened before the first publish, for the whole run. The writer cannot
 *   replay onto the copy that guard reads, so it copies the index once and
 *   then alternates between two other copies; the pinned copy keeps every
 *   entry the run overwrites alive.
 *
 * Each run uses a new map. Runs alternate unpinned and pinned (each mode
 * first in turn), after one short warm-up run of each, and the table gives the median of each mode
 * (target: pinned ≤ 1.5 × unpinned) and `write.stats()` after the last run.
 *
 * Memory: after a run, the pinning guard is released, one more write guard
 * (one `set`) is published, and `stats().bytesInUse` is compared with that
 * of the unpinned map after the same write guard (target: within 10%).
 *
 * Run with `deno run --allow-read=. bench/pinned.ts`; arguments
 * `--publishes=N` (default 10000) and `--runs=N` (runs of each mode,
 * default 5) make it shorter or longer.
 *
 * @module
 */

import { codecs, create, type WriteStats } from "@x/flashmap";

/** Keys in the map: `0 … KEYS-1`. */
const KEYS = 1 << 20;
/** Writes in each publish. */
const WRITES_PER_PUBLISH = 64;
/** Publishes in each run, as in the issue. */
const DEFAULT_PUBLISHES = 10_000;
/** Runs of each mode whose median is reported. */
const DEFAULT_RUNS = 5;

/** Reads `--name=N` from the arguments: a positive integer, or the default. */
function argument(name: string, fallback: number): number {
  const prefix = `--${name}=`;
  const given = Deno.args.find((arg) => arg.startsWith(prefix));
  if (given === undefined) return fallback;
  const value = Number(given.slice(prefix.length));
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${prefix}N needs a positive integer, got ${given}`);
  }
  return value;
}

const unknown = Deno.args.filter((arg) =>
  !arg.startsWith("--publishes=") && !arg.startsWith("--runs=")
);
if (unknown.length > 0) {
  throw new TypeError(
    `unknown arguments ${unknown.join(" ")} (use --publishes=N, --runs=N)`,
  );
}
const PUBLISHES = argument("publishes", DEFAULT_PUBLISHES);
const RUNS = argument("runs", DEFAULT_RUNS);

/** The keys of every run's writes: a deterministic xorshift32 draw. */
function drawKeys(count: number, seed = 0x9e3779b9): Int32Array {
  const keys = new Int32Array(count);
  let state = seed | 0;
  for (let i = 0; i < count; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    keys[i] = (state >>> 0) % KEYS;
  }
  return keys;
}

type Mode = "unpinned" | "pinned";

/** What one run measured. */
interface Run {
  readonly ms: number;
  /** `stats()` right after the last publish (the pinning guard still held). */
  readonly stats: WriteStats;
  /** `stats()` after the guard's release and one more write guard. */
  readonly after: WriteStats;
}

/** Fills a new map, then times `publishes` publishes of the workload. */
function run(mode: Mode, keys: Int32Array, publishes: number): Run {
  const [write, read] = create({
    key: codecs.int32,
    value: codecs.int32,
    capacity: KEYS,
  });
  {
    using guard = write.guard();
    for (let key = 0; key < KEYS; key++) guard.set(key, key);
  }
  write.synchronize();

  // A guard on another handle of this thread, held for the whole run.
  const pinner = read.clone();
  const pin = mode === "pinned" ? pinner.guard() : undefined;

  let at = 0;
  const start = performance.now();
  for (let p = 0; p < publishes; p++) {
    const guard = write.guard();
    for (let w = 0; w < WRITES_PER_PUBLISH; w += 2) {
      guard.set(keys[at], at);
      guard.insert(keys[at + 1], at + 1);
      at += 2;
    }
    guard.publish();
  }
  const ms = performance.now() - start;
  const stats = write.stats();

  if (pin !== undefined) {
    // The pinned guard still reads the version it opened on.
    if (pin.get(keys[0]) !== keys[0]) {
      throw new Error("the pinned guard no longer reads its version");
    }
    pin.release();
  }
  {
    using guard = write.guard();
    guard.set(0, 0);
  }
  const after = write.stats();

  pinner.close();
  read.close();
  write.close();
  return { ms, stats, after };
}

function median(values: readonly number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
}

const MIB = 1024 * 1024;
const mib = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;
const pad = (text: string | number, width: number) =>
  String(text).padStart(width);

const keys = drawKeys(PUBLISHES * WRITES_PER_PUBLISH);
const modes: readonly Mode[] = ["unpinned", "pinned"];

console.log(
  `flashmap pinned-guard benchmark: ${KEYS} int32 keys, ${PUBLISHES} publishes × ${WRITES_PER_PUBLISH} writes, ${RUNS} runs of each mode (${navigator.hardwareConcurrency} CPUs, Deno ${Deno.version.deno})`,
);

// Warm-up: the writer's code paths of both modes, compiled before timing.
const warmup = drawKeys(Math.min(PUBLISHES, 500) * WRITES_PER_PUBLISH, 7);
for (const mode of modes) run(mode, warmup, warmup.length / WRITES_PER_PUBLISH);

const runs: Record<Mode, Run[]> = { unpinned: [], pinned: [] };
for (let i = 0; i < RUNS; i++) {
  // Which mode goes first alternates too, so drift favours neither.
  for (const mode of i % 2 === 0 ? modes : modes.toReversed()) {
    const result = run(mode, keys, PUBLISHES);
    runs[mode].push(result);
    console.log(
      `  run ${i + 1} ${mode.padEnd(8)} ${result.ms.toFixed(0).padStart(6)} ms`,
    );
  }
}

const times = {
  unpinned: median(runs.unpinned.map((r) => r.ms)),
  pinned: median(runs.pinned.map((r) => r.ms)),
};
const ratio = times.pinned / times.unpinned;

console.log();
console.log(
  "| mode     | median ms | µs/publish | min ms | max ms | copies | clones | replays | waits | waitMs | logged ops | pinned versions |",
);
console.log(
  "| -------- | --------: | ---------: | -----: | -----: | -----: | -----: | ------: | ----: | -----: | ---------: | --------------- |",
);
for (const mode of modes) {
  const ms = runs[mode].map((r) => r.ms);
  const { stats } = runs[mode][runs[mode].length - 1];
  const pinned = stats.pinned
    .map((p) => `v${p.version} by [${p.readers.join(", ")}]`)
    .join("; ") || "none";
  console.log(
    `| ${mode.padEnd(8)} | ${pad(times[mode].toFixed(0), 9)} | ${
      pad((1000 * times[mode] / PUBLISHES).toFixed(2), 10)
    } | ${pad(Math.min(...ms).toFixed(0), 6)} | ${
      pad(Math.max(...ms).toFixed(0), 6)
    } | ${pad(stats.copies, 6)} | ${pad(stats.clones, 6)} | ${
      pad(stats.replays, 7)
    } | ${pad(stats.waits, 5)} | ${pad(stats.waitMs.toFixed(0), 6)} | ${
      pad(stats.loggedOperations, 10)
    } | ${pinned} |`,
  );
}
console.log();
console.log(
  `time: pinned / unpinned = ${ratio.toFixed(2)} (target ≤ 1.5): ${
    ratio <= 1.5 ? "met" : "NOT met"
  }`,
);

// Memory: the same map after the same steps, with and without the pin.
const memory = {
  unpinned: median(runs.unpinned.map((r) => r.after.bytesInUse)),
  pinned: median(runs.pinned.map((r) => r.after.bytesInUse)),
};
const held = median(runs.pinned.map((r) => r.stats.bytesInUse));
const memoryRatio = memory.pinned / memory.unpinned;
const last = (mode: Mode) => runs[mode][runs[mode].length - 1];
console.log();
console.log(
  "| bytesInUse (median)                         | unpinned   | pinned     |",
);
console.log(
  "| ------------------------------------------- | ---------: | ---------: |",
);
console.log(
  `| after the run, guard still held             | ${
    pad(mib(median(runs.unpinned.map((r) => r.stats.bytesInUse))), 10)
  } | ${pad(mib(held), 10)} |`,
);
console.log(
  `| after release + one more write guard        | ${
    pad(mib(memory.unpinned), 10)
  } | ${pad(mib(memory.pinned), 10)} |`,
);
console.log(
  `| bytesReserved then (last run)               | ${
    pad(mib(last("unpinned").after.bytesReserved), 10)
  } | ${pad(mib(last("pinned").after.bytesReserved), 10)} |`,
);
console.log(
  `| copies then (last run)                      | ${
    pad(last("unpinned").after.copies, 10)
  } | ${pad(last("pinned").after.copies, 10)} |`,
);
console.log();
console.log(
  `memory: pinned / unpinned bytesInUse after release = ${
    memoryRatio.toFixed(3)
  } (target within 10%): ${
    Math.abs(memoryRatio - 1) <= 0.1 ? "met" : "NOT met"
  }`,
);
