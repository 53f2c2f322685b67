/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * The request-handling worker of `counters.ts`. For each `run` message it
 * simulates that many requests, each for a random path with a random
 * latency, and counts it in the shared map: `add` on the route's cells, in
 * place, with no message to the main thread. A path that has no route in
 * the map is a 404, counted here only. It replies with its own tally per
 * path, which the main thread checks the shared counters against.
 *
 * Run through `counters.ts`, not on its own.
 *
 * @module
 */

import {
  type Atomic,
  attach,
  type ReadHandle,
  type ReadToken,
} from "@x/flashmap";

/** The two cells of a route: requests, and their total latency. */
const COUNT = 0;
const LATENCY_MS = 1;

/** What the main thread asks: handle `requests` simulated requests. */
export interface RunRequest {
  kind: "run";
  /** The map, on the first request only. */
  token?: ReadToken<string, Atomic<Int32Array>>;
  /** The paths clients ask for, some of which may have no route. */
  paths: string[];
  requests: number;
}

/** What this worker counted, per path, in one run. */
export interface Tally {
  kind: "tally";
  /** Requests per path that found a route, and their latency in ms. */
  routed: Record<string, { count: number; latencyMs: number }>;
  /** Requests for a path with no route (yet). */
  notFound: number;
}

let routes: ReadHandle<string, Atomic<Int32Array>> | undefined;

/** Counts one request; `false` if its path has no route. */
function record(path: string, latencyMs: number): boolean {
  // One guard for both cells: both adds find the same entry.
  using view = routes!.guard();
  if (view.add(path, 1, COUNT) === undefined) return false;
  view.add(path, latencyMs, LATENCY_MS);
  return true;
}

async function run(paths: string[], requests: number): Promise<Tally> {
  const tally: Tally = { kind: "tally", routed: {}, notFound: 0 };
  for (let i = 0; i < requests; i++) {
    const path = paths[Math.floor(Math.random() * paths.length)];
    const latencyMs = 1 + Math.floor(Math.random() * 50);
    if (record(path, latencyMs)) {
      const mine = tally.routed[path] ??= { count: 0, latencyMs: 0 };
      mine.count++;
      mine.latencyMs += latencyMs;
    } else {
      tally.notFound++;
    }
    // Requests arrive over time, not all at once: the run spans long
    // enough for the main thread to watch the counters move.
    if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return tally;
}

self.onmessage = async (event: MessageEvent<RunRequest | "close">) => {
  if (event.data === "close") {
    routes?.close();
    self.postMessage("closed");
    return;
  }
  routes ??= attach(event.data.token!);
  self.postMessage(await run(event.data.paths, event.data.requests));
};
