/**
 * The single-writer mode's writer, on the main thread: writes at a set rate
 * (or unthrottled), publishing every N writes, until the time or count bound.
 * Its writes keep the key set stable, so that readers keep hitting: a cycle
 * of an update (same value), a removal, and the re-insertion of that key.
 *
 * @module
 */

import type { WriterBackend } from "./backends/types.ts";
import { PUBLISHED, sleep, STOP } from "./control.ts";
import { type Rng, valueOf } from "./data.ts";
import { Histogram } from "./hist.ts";

/** The writer's part of a run. */
export interface WriterPlan {
  /** Writes per second: 0 for none, Infinity for unthrottled. */
  rate: number;
  publishEvery: number;
  ms: number;
  maxWrites: number;
}

/** What the writer measured. */
export interface WriterResult {
  writes: number;
  publishes: number;
  elapsedMs: number;
  /** Time spent waiting for readers (flashmap: opening guards; locks: acquiring). */
  waitMs: number;
  publishLatency: Histogram;
}

/** The writer's persistent state across the runs of one session. */
export interface WriterState {
  version: number;
  rng: Rng;
}

/**
 * Runs the writer until the bound, then sets STOP (readers stop together)
 * and publishes any partial batch.
 */
export function runWriter(
  writer: WriterBackend,
  ctl: Int32Array,
  plan: WriterPlan,
  keys: Int32Array,
  live: number,
  state: WriterState,
): WriterResult {
  const { rate, publishEvery, maxWrites } = plan;
  const publishLatency = new Histogram();
  const waitBefore = writer.waitMs;
  const unthrottled = rate === Infinity;
  const start = performance.now();
  const end = start + plan.ms;
  let writes = 0;
  let publishes = 0;
  let open = false;
  let pending = 0; // the key removed by the last write, re-inserted next
  const publish = () => {
    const t0 = performance.now();
    writer.publish(++state.version);
    publishLatency.recordMs(performance.now() - t0);
    Atomics.store(ctl, PUBLISHED, state.version);
    publishes++;
    open = false;
  };
  for (;;) {
    if (writes >= maxWrites) break;
    if (unthrottled) {
      if ((writes & 63) === 0 && performance.now() >= end) break;
    } else {
      const now = performance.now();
      if (now >= end) break;
      if (rate === 0) {
        sleep(ctl, end - now);
        continue;
      }
      const due = (now - start) * rate / 1000;
      if (writes >= due) {
        sleep(ctl, Math.min((writes + 1 - due) * 1000 / rate, end - now));
        continue;
      }
    }
    if (!open) {
      writer.begin();
      open = true;
    }
    switch (writes % 3) {
      case 0: {
        const key = keys[state.rng.below(live)];
        writer.insert(key, valueOf(key));
        break;
      }
      case 1:
        pending = keys[state.rng.below(live)];
        writer.remove(pending);
        break;
      default:
        writer.insert(pending, valueOf(pending));
    }
    writes++;
    if (writes % publishEvery === 0) publish();
  }
  const elapsedMs = performance.now() - start;
  Atomics.store(ctl, STOP, 1);
  if (writes % 3 === 2) {
    // Leaves every key present for the next run.
    if (!open) writer.begin();
    open = true;
    writer.insert(pending, valueOf(pending));
  }
  if (open) publish();
  return {
    writes,
    publishes,
    elapsedMs,
    waitMs: writer.waitMs - waitBefore,
    publishLatency,
  };
}
