/**
 * The loop every reader worker runs, whatever the backend: wait at the
 * start barrier, then do batches of `k` lookups until the main thread sets
 * STOP or the count bound is reached (both checked every 64 batches). One
 * batch in 64 is timed into the latency histogram; another (untimed) one
 * also reads the version key, to
 * measure how many publishes, completed before the guard opened, the guard
 * did not see (0 for a map that is never stale).
 *
 * @module
 */

import {
  arriveAndWait,
  progressWord,
  PUBLISHED,
  STOP,
  WRITES,
} from "./control.ts";
import type { Distribution } from "./data.ts";
import { Histogram } from "./hist.ts";
import type { ReaderBackend } from "./backends/types.ts";

/** Keeps the bustle mode's read:write mix: readers wait when too far ahead of the writer. */
export interface Pace {
  readsPerWrite: number;
  threads: number;
  /** Writes the readers may run ahead of. */
  leadWrites: number;
}

/** What the main thread asks a reader to do in one run. */
export interface RunRequest {
  slot: number;
  dist: Distribution;
  k: number;
  maxGuards: number;
  pace?: Pace;
}

/** What a reader reports after a run. */
export interface ReaderResult {
  reads: number;
  guards: number;
  hits: number;
  bad: number;
  elapsedMs: number;
  /** Time spent waiting for the writer (bustle pacing only). */
  pacedMs: number;
  latency: Uint32Array;
  staleSum: number;
  staleMax: number;
  staleSamples: number;
}

/** Sampling period, in batches. */
const SAMPLE = 64;

/**
 * Runs one measured run on `reader` (stream already selected). Everything
 * but plain batches happens once per SAMPLE batches, outside the hot loop,
 * and the hot loop of a synchronous backend is a plain function without
 * `await`, so that the harness adds as little as it can to each lookup.
 */
export async function runReader(
  reader: ReaderBackend,
  ctl: Int32Array,
  request: RunRequest,
): Promise<ReaderResult> {
  const { k, maxGuards, pace, slot } = request;
  const mask = reader.stream.length - 1;
  const histogram = new Histogram();
  const progress = progressWord(slot);
  const plain = reader.async === true ? plainBatchesAsync : plainBatches;
  // Readers start at different places in the same stream.
  let pos = Math.imul(slot, 0x9e3779b1) >>> 0 & mask;
  let hits = 0;
  let guards = 0;
  let pacedMs = 0;
  let staleSum = 0;
  let staleMax = 0;
  let staleSamples = 0;
  arriveAndWait(ctl);
  const start = performance.now();
  while (Atomics.load(ctl, STOP) === 0 && guards < maxGuards) {
    const update = reader.poll?.();
    if (update !== undefined) await update;
    if (pace !== undefined) {
      Atomics.store(ctl, progress, guards * k);
      pacedMs += keepPace(ctl, pace, guards * k);
    }
    // One batch timed into the histogram.
    const t0 = performance.now();
    let result = reader.batch(pos, k, false);
    if (typeof result !== "number") result = await result;
    histogram.recordMs(performance.now() - t0);
    hits += result;
    pos = (pos + k) & mask;
    // One batch that also reads the version: publishes completed before
    // the guard opened that it did not see (later ones would count
    // preemption, not staleness).
    const published = Atomics.load(ctl, PUBLISHED);
    result = reader.batch(pos, k, true);
    if (typeof result !== "number") result = await result;
    const behind = Math.max(0, published - reader.version);
    staleSum += behind;
    if (behind > staleMax) staleMax = behind;
    staleSamples++;
    hits += result;
    pos = (pos + k) & mask;
    // The rest, untimed.
    const more = plain(reader, pos, k, SAMPLE - 2);
    hits += typeof more === "number" ? more : await more;
    pos = (pos + k * (SAMPLE - 2)) & mask;
    guards += SAMPLE;
  }
  const elapsedMs = performance.now() - start;
  return {
    reads: guards * k,
    guards,
    hits,
    bad: reader.bad,
    elapsedMs,
    pacedMs,
    latency: histogram.counts,
    staleSum,
    staleMax,
    staleSamples,
  };
}

/** `count` batches of a synchronous backend; returns the hits. */
function plainBatches(
  reader: ReaderBackend,
  pos: number,
  k: number,
  count: number,
): number {
  const mask = reader.stream.length - 1;
  let hits = 0;
  for (let i = 0; i < count; i++) {
    hits += reader.batch(pos, k, false) as number;
    pos = (pos + k) & mask;
  }
  return hits;
}

/** `count` batches of a backend whose batches are promises (RPC). */
async function plainBatchesAsync(
  reader: ReaderBackend,
  pos: number,
  k: number,
  count: number,
): Promise<number> {
  const mask = reader.stream.length - 1;
  let hits = 0;
  for (let i = 0; i < count; i++) {
    hits += await reader.batch(pos, k, false);
    pos = (pos + k) & mask;
  }
  return hits;
}

/** Blocks while this reader is ahead of its share of reads for the writes so far. */
function keepPace(ctl: Int32Array, pace: Pace, reads: number): number {
  let waited = 0;
  for (;;) {
    const writes = Atomics.load(ctl, WRITES);
    const allowed = (writes + pace.leadWrites) * pace.readsPerWrite /
      pace.threads;
    if (reads <= allowed || Atomics.load(ctl, STOP) !== 0) return waited;
    const t0 = performance.now();
    Atomics.wait(ctl, WRITES, writes, 0.05);
    waited += performance.now() - t0;
  }
}
