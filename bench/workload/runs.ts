/**
 * Steps shared by the single-writer and bustle modes: opening a backend's
 * readers in the pool (timing the attach and the heap it costs), starting a
 * run behind the barrier, and folding the readers' reports together.
 *
 * @module
 */

import type { BackendName, Session } from "./backends/types.ts";
import {
  GO,
  PUBLISHED,
  releaseWhenArrived,
  resetControl,
  STOP,
} from "./control.ts";
import type { Dataset } from "./data.ts";
import { Histogram } from "./hist.ts";
import type { Pool } from "./pool.ts";
import type { Pace, ReaderResult } from "./reader_loop.ts";
import type { InitReply } from "./reader_worker.ts";

/** How one backend's readers attached. */
export interface AttachRow {
  backend: BackendName;
  entries: number;
  workers: number;
  /** `attach()` / open / nothing, timed inside the worker (ms, mean). */
  attachMs: number;
  /** A second attach in the same worker (warm code), when the backend has one (ms, mean). */
  reattachMs: number | undefined;
  /** From posting the init message to its answer: includes cloning what the message carries (ms, mean). */
  roundTripMs: number;
  /** Heap the worker's isolate grew by (bytes, mean; no GC in between, so approximate). */
  heapDelta: number;
  /** Bytes of shared memory or file, once for all workers. */
  sharedBytes: number | undefined;
  note?: string;
}

/** Opens a reader of `session` in each worker of the pool, one at a time. */
export async function initReaders(
  pool: Pool,
  session: Session,
  backend: BackendName,
  data: Dataset,
  ctl: Int32Array,
): Promise<AttachRow> {
  let attachMs = 0;
  let roundTripMs = 0;
  let heapDelta = 0;
  let reattachMs: number | undefined;
  const n = pool.workers.length;
  for (let i = 0; i < n; i++) {
    await pool.request(i, { type: "load", backend });
    const heapBefore = await pool.request<number>(i, { type: "mem" });
    const init = await session.readerInit(i);
    const start = performance.now();
    const reply = await pool.request<InitReply>(i, {
      type: "init",
      backend,
      keys: data.keys,
      streams: data.streams,
      ctl,
      payload: init.payload,
    }, init.transfer);
    roundTripMs += performance.now() - start;
    attachMs += reply.attachMs;
    if (reply.reattachMs !== undefined) {
      reattachMs = (reattachMs ?? 0) + reply.reattachMs / n;
    }
    heapDelta += reply.heapUsed - heapBefore;
  }
  return {
    backend,
    entries: data.live,
    workers: n,
    attachMs: attachMs / n,
    reattachMs,
    roundTripMs: roundTripMs / n,
    heapDelta: heapDelta / n,
    sharedBytes: session.sharedBytes(),
    note: session.note,
  };
}

/** Closes the readers (flashmap frees its reader slots) before the pool terminates. */
export async function closeReaders(pool: Pool): Promise<void> {
  for (let i = 0; i < pool.workers.length; i++) {
    await pool.request(i, { type: "close" });
  }
}

/** What one run asks of its readers. */
export interface ReaderPlan {
  readers: number;
  dist: "uniform" | "zipf";
  k: number;
  maxGuards: number;
  ms: number;
  pace?: Pace;
}

/**
 * Starts the readers, releases them together, runs `main` (the writer) on
 * this thread, and returns the writer's result with the readers' reports.
 * If anything fails, the readers are stopped and waited for first.
 */
export async function runWithReaders<T>(
  pool: Pool,
  ctl: Int32Array,
  version: number,
  plan: ReaderPlan,
  main: () => T,
): Promise<[T, ReaderResult[]]> {
  resetControl(ctl);
  Atomics.store(ctl, PUBLISHED, version);
  const runs: Promise<ReaderResult>[] = [];
  for (let slot = 0; slot < plan.readers; slot++) {
    runs.push(pool.request<ReaderResult>(
      slot,
      {
        type: "run",
        slot,
        dist: plan.dist,
        k: plan.k,
        maxGuards: plan.maxGuards,
        pace: plan.pace,
      },
      [],
      plan.ms + 120_000,
    ));
  }
  let result: T;
  try {
    releaseWhenArrived(ctl, plan.readers, 60_000);
    result = main();
  } catch (error) {
    Atomics.store(ctl, STOP, 1);
    Atomics.store(ctl, GO, 1);
    Atomics.notify(ctl, GO);
    await Promise.allSettled(runs);
    throw error;
  }
  return [result, await Promise.all(runs)];
}

/** The readers' reports folded together. */
export interface ReadSummary {
  reads: number;
  /** All reads over the longest reader's time. */
  readsPerSec: number;
  perReader: number[];
  hitRate: number;
  bad: number;
  latency: Histogram;
  staleMean: number;
  staleMax: number;
  wallMs: number;
  pacedMs: number;
}

/** Folds the readers' reports. */
export function summarizeReads(results: ReaderResult[]): ReadSummary {
  const latency = new Histogram();
  let reads = 0;
  let hits = 0;
  let bad = 0;
  let wallMs = 0;
  let staleSum = 0;
  let staleSamples = 0;
  let staleMax = 0;
  let pacedMs = 0;
  for (const r of results) {
    latency.merge(new Histogram(r.latency));
    reads += r.reads;
    hits += r.hits;
    bad += r.bad;
    wallMs = Math.max(wallMs, r.elapsedMs);
    staleSum += r.staleSum;
    staleSamples += r.staleSamples;
    staleMax = Math.max(staleMax, r.staleMax);
    pacedMs += r.pacedMs;
  }
  return {
    reads,
    readsPerSec: reads / (wallMs / 1000),
    perReader: results.map((r) => r.reads / (r.elapsedMs / 1000)),
    hitRate: reads === 0 ? NaN : hits / reads,
    bad,
    latency,
    staleMean: staleSamples === 0 ? NaN : staleSum / staleSamples,
    staleMax,
    wallMs,
    pacedMs,
  };
}
