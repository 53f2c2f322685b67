/**
 * A stress run with real workers: one writer (this thread) keeps a cross-key
 * invariant in every version it publishes, and reader workers check it in
 * every guard. Used by the short test in CI and by `deno task soak`.
 *
 * @module
 */

import { codecs, create, type WriteStats } from "@x/flashmap";
import {
  CONTROL_STOP,
  CONTROL_TOKENS,
  CONTROL_VERSION,
  CONTROL_WORDS,
  expectedValue,
  type StressConfig,
  type StressReport,
} from "./stress_config.ts";

/** What a run found. */
export interface StressResult {
  publishes: number;
  guards: number;
  held: number;
  churned: number;
  minVersionsSeen: number;
  writerWaitedMs: number;
  /** Guards held for long spans of publishes (`config.longHolds`). */
  longHeld: number;
  /** The most publishes one guard held for long was held across. */
  longestSpan: number;
  /** The most versions pinned at once, as `write.stats()` saw after a publish. */
  maxPinned: number;
  /** The most copies of the index at once, as `write.stats()` saw after a publish. */
  maxCopies: number;
  /** `write.stats()` after the readers closed and `synchronize()`. */
  stats: WriteStats;
  problems: string[];
}

/** Runs one stress test; every worker is terminated before it returns. */
export async function runStress(config: StressConfig): Promise<StressResult> {
  const [write, read] = create({
    key: codecs.string,
    value: codecs.number,
    capacity: 4,
    maxReaders: config.readers * 2 + 4,
    seed: config.seed,
    ...(config.maxCopies === undefined ? {} : { maxCopies: config.maxCopies }),
  });
  let state = config.seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  const extra: string[] = [];
  let serial = 0;
  const publish = (version: number) => {
    using guard = write.guard({ timeoutMs: 30_000 });
    let sum = 0;
    for (let g = 0; g < config.groups; g++) {
      for (let k = 0; k < config.groupSize; k++) {
        guard.insert(`g${g}:${k}`, expectedValue(version, g));
        sum += expectedValue(version, g);
      }
    }
    guard.insert("checksum", sum);
    guard.insert("version", version);
    for (let i = 0; i < config.churnKeys; i++) {
      if (extra.length > 0 && next() < 0.5) {
        guard.remove(extra.splice(Math.floor(next() * extra.length), 1)[0]);
      } else {
        const key = `extra:${serial++}`;
        extra.push(key);
        guard.insert(key, serial);
      }
    }
  };
  publish(0);

  const control = new SharedArrayBuffer(CONTROL_WORDS * 4);
  const controlWords = new Int32Array(control);
  Atomics.store(controlWords, CONTROL_TOKENS, config.longHolds?.tokens ?? 0);
  const url = new URL("./stress_worker.ts", import.meta.url);
  const workers = Array.from(
    { length: config.readers },
    () => new Worker(url, { type: "module" }),
  );
  const problems: string[] = [];
  let publishes = 1;
  let writerWaitedMs = 0;
  let maxPinned = 0;
  let maxCopies = 0;
  try {
    // Start every reader before the writer begins, so they all overlap it.
    const replies: Promise<StressReport>[] = [];
    const started = workers.map((worker, index) =>
      new Promise<void>((resolveStarted, reject) => {
        replies.push(
          new Promise<StressReport>((resolve, rejectReply) => {
            worker.onerror = (event) => {
              event.preventDefault();
              const error = new Error(`reader ${index}: ${event.message}`);
              reject(error);
              rejectReply(error);
            };
            worker.onmessage = (event) => {
              if (event.data === "ready") {
                worker.postMessage({
                  token: read.share(),
                  control,
                  config,
                  index,
                });
              } else if (event.data === "started") resolveStarted();
              else resolve(event.data);
            };
          }),
        );
      })
    );
    await Promise.all(started);
    let finished = false;
    Promise.allSettled(replies).then(() => (finished = true));
    const deadline = performance.now() + config.seconds * 1000;
    while (
      !finished && publishes < config.maxPublishes &&
      performance.now() < deadline
    ) {
      const before = performance.now();
      publish(publishes++);
      writerWaitedMs += performance.now() - before;
      Atomics.store(controlWords, CONTROL_VERSION, publishes - 1);
      const stats = write.stats();
      maxPinned = Math.max(maxPinned, stats.pinned.length);
      maxCopies = Math.max(maxCopies, stats.copies);
      // Let the replies in now and then; the loop is bounded by count and time.
      if (publishes % 16 === 0) {
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    }
    Atomics.store(controlWords, CONTROL_STOP, 1);
    const reports = await Promise.all(replies);
    for (const report of reports) problems.push(...report.problems);
    // Every reader closed its handle: nothing is pinned any more.
    write.synchronize({ timeoutMs: 30_000 });
    return {
      publishes,
      guards: reports.reduce((sum, report) => sum + report.guards, 0),
      held: reports.reduce((sum, report) => sum + report.held, 0),
      churned: reports.reduce((sum, report) => sum + report.churned, 0),
      minVersionsSeen: Math.min(...reports.map((report) => report.versions)),
      writerWaitedMs,
      longHeld: reports.reduce((sum, report) => sum + report.longHeld, 0),
      longestSpan: Math.max(...reports.map((report) => report.longestSpan)),
      maxPinned,
      maxCopies,
      stats: write.stats(),
      problems,
    };
  } finally {
    for (const worker of workers) worker.terminate();
    write.close();
    read.close();
  }
}
