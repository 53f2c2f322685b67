/**
 * Request counters per route, kept in atomic cells: four workers handle
 * simulated requests and count each one in the shared map themselves, with
 * `view.add`, while the main thread reads the counters as they move. No
 * message per request, and no lock: each count is an `Atomics.add` on the
 * route's entry in shared memory.
 *
 * Run it with `deno run --allow-read=. examples/counters.ts` (a second or
 * two). It shows
 *
 * - a map of string routes to two 32-bit cells each (requests, total
 *   latency in ms), `codecs.atomicInt32Array(2)`;
 * - workers updating both cells of a route in one guard, and handling a
 *   path with no route (`add` returns `undefined`: a 404);
 * - resetting counters with `store(route, 0)`, keeping the entries;
 * - the writer adding a route while the workers run: their next guards
 *   see it and count it;
 * - the final counters checked against the workers' own tallies: exact, or
 *   the exit code is 1.
 *
 * @module
 */

import { type Atomic, codecs, create, type ReadHandle } from "@x/flashmap";
import type { RunRequest, Tally } from "./counters_worker.ts";

const ROUTES = ["/", "/login", "/api/users", "/api/orders", "/static/app.js"];
/** Asked for from the start, but routed only once the writer adds it. */
const NEW_ROUTE = "/api/search";
const PATHS = [...ROUTES, NEW_ROUTE];
const WORKERS = 4;
const WARMUP_REQUESTS = 500;
const REQUESTS = 10_000;
const PRINT_EVERY_MS = 100;
const ANSWER_TIMEOUT_MS = 15_000;

type Counters = ReadHandle<string, Atomic<Int32Array>>;

/** Posts a message to a worker and waits for its answer. */
function ask<T>(worker: Worker, message: RunRequest | "close"): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      done();
      reject(new Error("Cannot count requests: a worker did not answer"));
    }, ANSWER_TIMEOUT_MS);
    const onMessage = (event: MessageEvent<T>) => {
      done();
      resolve(event.data);
    };
    const onError = (event: ErrorEvent) => {
      event.preventDefault();
      done();
      reject(new Error(`A worker failed: ${event.message}`));
    };
    function done() {
      clearTimeout(timer);
      worker.removeEventListener("message", onMessage);
      worker.removeEventListener("error", onError);
    }
    worker.addEventListener("message", onMessage);
    worker.addEventListener("error", onError);
    worker.postMessage(message);
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One line of request counts, from one snapshot. */
function printCounts(read: Counters, label: string): void {
  using view = read.guard();
  const counts: string[] = [];
  for (const route of PATHS) {
    const cells = view.get(route); // undefined for a route not added yet
    if (cells !== undefined) counts.push(`${route} ${cells[0]}`);
  }
  console.log(`${label.padEnd(10)} ${counts.join("  ")}`);
}

/** Runs the workers; returns whether every counter matched their tallies. */
async function count(workers: Worker[]): Promise<boolean> {
  const [write, read] = create({
    key: codecs.string,
    value: codecs.atomicInt32Array(2),
  });
  write.update((guard) => {
    for (const route of ROUTES) guard.insert(route, [0, 0]);
  });

  const url = new URL("./counters_worker.ts", import.meta.url);
  for (let i = 0; i < WORKERS; i++) {
    workers.push(new Worker(url, { type: "module" }));
  }
  await Promise.all(workers.map((worker) =>
    ask<Tally>(worker, {
      kind: "run",
      token: read.share(),
      paths: ROUTES,
      requests: WARMUP_REQUESTS,
    })
  ));
  printCounts(read, "warm-up");

  // The warm-up is not part of the report: zero the cells in place. A
  // re-insert would give each route new cells, and a worker still adding
  // through an older snapshot would count into the old ones, lost. While
  // workers are adding, `exchange(route, 0)` is the reset that keeps what it
  // takes away.
  for (const route of ROUTES) {
    read.store(route, 0, 0);
    read.store(route, 0, 1);
  }
  printCounts(read, "reset");

  let finished = false;
  const runs = Promise.all(
    workers.map((worker) =>
      ask<Tally>(worker, { kind: "run", paths: PATHS, requests: REQUESTS })
    ),
  );
  runs.then(() => finished = true, () => finished = true);
  const start = performance.now();
  let added = false;
  while (!finished) {
    await Promise.race([runs, delay(PRINT_EVERY_MS)]);
    if (finished) break;
    const ms = Math.round(performance.now() - start);
    printCounts(read, `${ms} ms`);
    if (!added) {
      // Published when the update returns: the workers' next guards route
      // the path they have been answering 404 to.
      write.update((guard) => guard.insert(NEW_ROUTE, [0, 0]));
      added = true;
      console.log(`${"".padEnd(10)} writer added ${NEW_ROUTE}`);
    }
  }
  const tallies = await runs;

  // The workers' tallies, summed per path: what the cells must hold.
  const expected = new Map<string, { count: number; latencyMs: number }>();
  let notFound = 0;
  for (const tally of tallies) {
    notFound += tally.notFound;
    for (const [route, mine] of Object.entries(tally.routed)) {
      const sum = expected.get(route) ?? { count: 0, latencyMs: 0 };
      sum.count += mine.count;
      sum.latencyMs += mine.latencyMs;
      expected.set(route, sum);
    }
  }

  let ok = true;
  let counted = 0;
  console.log("\nroute            requests  avg latency");
  {
    using view = read.guard();
    const rows = [...view.entries()].sort(([a], [b]) => a.localeCompare(b));
    for (const [route, [requests, latencyMs]] of rows) {
      counted += requests;
      const want = expected.get(route) ?? { count: 0, latencyMs: 0 };
      const exact = requests === want.count && latencyMs === want.latencyMs;
      ok &&= exact;
      const average = requests === 0 ? 0 : latencyMs / requests;
      console.log(
        `${route.padEnd(16)} ${String(requests).padStart(8)}  ${
          average.toFixed(1).padStart(8)
        } ms${exact ? "" : `  MISMATCH: workers counted ${want.count}`}`,
      );
    }
  }
  const simulated = WORKERS * REQUESTS;
  ok &&= counted + notFound === simulated;
  console.log(
    `\nsimulated ${simulated} requests: ${counted} counted in the map + ` +
      `${notFound} to ${NEW_ROUTE} before it was added (404) = ` +
      `${counted + notFound}: ${ok ? "exact" : "WRONG"}`,
  );

  for (const worker of workers) await ask(worker, "close");
  read.close();
  write.close();
  return ok;
}

const workers: Worker[] = [];
let ok = false;
try {
  ok = await count(workers);
} catch (error) {
  console.error(error);
} finally {
  // A live worker keeps `deno run` from exiting.
  for (const worker of workers) worker.terminate();
}
if (!ok) Deno.exit(1);
