/**
 * Micro benchmarks that depend on no key type: a read guard alone, and
 * giving a worker a 1M-entry map (attaching a reader against cloning a
 * `Map` into it). Lookups, writes and iteration are in
 * `map_int32_bench.ts` and `map_string_bench.ts` (see `map_suite.ts`).
 *
 * Run with `deno task bench` (`deno bench --allow-read=. bench/`).
 *
 * @module
 */

import { codecs, create } from "@x/flashmap";
import type { AttachRequest } from "./attach_worker.ts";
import { fill, keep, range, SIZES } from "./map_suite.ts";

/** The 1M-entry size of the other files: the map attached to and cloned. */
const size = SIZES[SIZES.length - 1];
const ENTRIES = size.entries;
const { map, read } = fill(
  size,
  range(0, ENTRIES),
  create({ key: codecs.int32, value: codecs.number, capacity: ENTRIES }),
);

// ------------------------------------------------------------ guards

/** The floor of a guard: the same two atomics on a word of shared memory. */
const words = new Int32Array(new SharedArrayBuffer(128));
const GUARD = "read guard enter + release";

Deno.bench({
  name: "Atomics.add + Atomics.sub",
  group: GUARD,
  baseline: true,
  fn() {
    Atomics.add(words, 0, 1);
    keep(Atomics.sub(words, 0, 1));
  },
});

Deno.bench({
  name: "read.guard().release()",
  group: GUARD,
  fn() {
    read.guard().release();
  },
});

Deno.bench({
  name: "{ using guard = read.guard(); }",
  group: GUARD,
  fn() {
    using _guard = read.guard();
  },
});

// ------------------------------------------------------------ workers
//
// Measured in the main thread, from posting to the worker's reply: the
// worker is already running and its code warm, as in a pool.

const worker = new Worker(new URL("./attach_worker.ts", import.meta.url), {
  type: "module",
});
let pending: { resolve(value: number): void; reject(error: unknown): void };
worker.onmessage = (event: MessageEvent<number>) => pending.resolve(event.data);
worker.onerror = (event) => {
  event.preventDefault();
  pending.reject(event.error ?? new Error(event.message));
};

/** Posts a request and resolves with the worker's reply, checked. */
function ask(request: AttachRequest, expected: number): Promise<void> {
  return new Promise((resolve, reject) => {
    pending = {
      resolve(value) {
        if (value === expected) resolve();
        else reject(new Error(`the worker replied ${value}, not ${expected}`));
      },
      reject,
    };
    worker.postMessage(request);
  });
}

const WORKER = "1M-entry map into a running worker (round trip)";
const KEY = 123_456;

Deno.bench({
  name: "postMessage(read.share()) + attach(), get, close in the worker",
  group: WORKER,
  async fn() {
    await ask({ kind: "attach", token: read.share(), key: KEY }, KEY);
  },
});

Deno.bench({
  name: "postMessage(0) alone (the messages' own cost)",
  group: WORKER,
  async fn() {
    await ask({ kind: "ping" }, 0);
  },
});

Deno.bench({
  name: "postMessage(Map) (structured clone)",
  group: WORKER,
  baseline: true,
  // Hundreds of milliseconds each: a few iterations only.
  warmup: 1,
  n: 3,
  async fn() {
    await ask({ kind: "map", map }, ENTRIES);
  },
});
