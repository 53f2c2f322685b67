/**
 * The map at work: the main thread writes a table of feature flags, two
 * reader workers read it straight from shared memory.
 *
 * Run it with `deno task demo` (`deno run --allow-read=. examples/demo.ts`).
 * It shows that
 *
 * - a worker attaches to the map from a token (no copy of the data);
 * - a read guard held across a publish keeps its snapshot, while a fresh
 *   guard sees the new version;
 * - the writer never waits for that old guard: it pins its version's
 *   memory (shown by `write.stats()`), not the writer;
 * - readers never see a torn snapshot nor go back in versions, while the
 *   writer keeps publishing.
 *
 * It is a demo, not a benchmark, and says so after its read rates. A reader
 * here manages about a million lookups a second on a 2-core machine, where
 * the README's Benchmarks section shows 12.8 M reads/s for one reader worker.
 * Each lookup here decodes a JSON object (`codecs.json`: a UTF-8 decode, a
 * `JSON.parse` and a new object per `get`) and hashes a string key; every
 * guard is a `using` block that checks all 16 flags; and the run lasts 300 ms
 * from a cold start, on whatever cores the writer and the other reader leave.
 * The README's figures are int32 keys and values, measured by
 * `deno task bench:workload`.
 *
 * @module
 */

import { codecs, create, type ReadHandle, type WriteHandle } from "@x/flashmap";

/** One feature flag; every flag of a version carries that version. */
interface Flag {
  enabled: boolean;
  rollout: number;
  version: number;
}

const NAMES = [
  "dark-mode",
  "new-checkout",
  "beta-search",
  "fast-path",
  "gift-cards",
  "live-chat",
  "price-alerts",
  "quick-reorder",
  "saved-carts",
  "smart-sort",
  "one-click",
  "voice-search",
  "wish-list",
  "order-tracking",
  "store-pickup",
  "promo-banner",
];
const RUN_MS = 300;
const PUBLISH_EVERY_MS = 40;
const ANSWER_TIMEOUT_MS = 15_000;

/** Writes version `version` of every flag and publishes it. */
function publishVersion(write: WriteHandle<string, Flag>, version: number) {
  const start = performance.now();
  using guard = write.guard(); // waits only when every copy is pinned
  const waitedMs = performance.now() - start;
  NAMES.forEach((name, i) => {
    guard.insert(name, {
      enabled: (i + version) % 3 !== 0,
      rollout: (version * 10 + i) % 101,
      version,
    });
  });
  return waitedMs; // leaving the function disposes the guard: it publishes
}

/** Sends a request to a reader worker and waits for its answer. */
function ask<T>(worker: Worker, request: unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      done();
      reject(new Error("Cannot run the demo: a reader worker did not answer"));
    }, ANSWER_TIMEOUT_MS);
    const onMessage = (
      event: MessageEvent<{ ok: boolean; value: T; error: string }>,
    ) => {
      done();
      if (event.data.ok) resolve(event.data.value);
      else reject(new Error(`A reader worker failed: ${event.data.error}`));
    };
    const onError = (event: ErrorEvent) => {
      event.preventDefault();
      done();
      reject(new Error(`A reader worker failed: ${event.message}`));
    };
    function done() {
      clearTimeout(timer);
      worker.removeEventListener("message", onMessage);
      worker.removeEventListener("error", onError);
    }
    worker.addEventListener("message", onMessage);
    worker.addEventListener("error", onError);
    worker.postMessage(request);
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const format = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });

interface Report {
  guards: number;
  perSecond: number;
  versions: number[];
  torn: number;
  backwards: number;
}

/** The demo proper, with the map and the started workers. */
async function show(
  write: WriteHandle<string, Flag>,
  read: ReadHandle<string, Flag>,
  workers: Worker[],
) {
  console.log(
    `flashmap demo: 1 writer (main thread), 2 reader workers, ${NAMES.length} feature flags`,
  );
  publishVersion(write, 1);
  console.log(`writer    published v1`);

  const url = new URL("./demo_reader.ts", import.meta.url);
  for (let i = 0; i < 2; i++) {
    workers.push(new Worker(url, { type: "module" }));
  }
  const [a, b] = workers;
  for (const [name, worker] of [["A", a], ["B", b]] as const) {
    const { attachMs, version } = await ask<
      { attachMs: number; version: number }
    >(worker, { kind: "attach", token: read.share() });
    console.log(
      `reader ${name}  attached in ${
        format.format(attachMs)
      } ms, sees v${version}`,
    );
  }

  const holding = await ask<{ version: number }>(a, { kind: "hold" });
  console.log(`reader A  opened a guard and holds it: v${holding.version}`);
  publishVersion(write, 2);
  console.log(`writer    published v2 while A holds its guard (never waits)`);

  // A still holds its guard: the next write guard does not wait for it,
  // it writes another copy of the index while A's version stays pinned.
  const start = performance.now();
  {
    using guard = write.guard();
    for (const name of NAMES) {
      guard.replace(name, (flag) => ({ ...flag, version: 3 }));
    }
  } // published here
  const stats = write.stats();
  console.log(
    `writer    published v3 in ${
      format.format(performance.now() - start)
    } ms; copies: ${stats.copies}, pinned: ${
      stats.pinned.map((p) => `v${p.version} by handle ${p.readers.join(",")}`)
        .join("; ")
    }`,
  );
  const checked = await ask<{ held: number; fresh: number }>(a, {
    kind: "check",
  });
  console.log(
    `reader A  held guard still sees v${checked.held}, a fresh guard sees v${checked.fresh}; released`,
  );
  write.synchronize(); // frees the copy A's guard pinned
  console.log(
    `writer    after synchronize(): copies ${write.stats().copies}, pinned versions ${write.stats().pinned.length}`,
  );

  console.log(
    `running   both readers for ${RUN_MS} ms, writer publishes every ${PUBLISH_EVERY_MS} ms`,
  );
  const run = { kind: "run", ms: RUN_MS, maxGuards: 5_000_000, names: NAMES };
  const reports = Promise.all([a, b].map((worker) => ask<Report>(worker, run)));
  let version = 3;
  let waitedMs = 0;
  const runEnd = performance.now() + RUN_MS - PUBLISH_EVERY_MS;
  while (performance.now() < runEnd && version < 100) {
    await delay(PUBLISH_EVERY_MS);
    waitedMs += publishVersion(write, ++version);
  }
  console.log(
    `writer    published v4..v${version}, ${
      format.format(waitedMs)
    } ms in all in guard() (replays and copies); waited for readers: ${write.stats().waits} times`,
  );
  const [reportA, reportB] = await reports;
  for (const [name, report] of [["A", reportA], ["B", reportB]] as const) {
    console.log(
      `reader ${name}  ${format.format(report.guards)} guards, ${
        format.format(report.perSecond / 1e6)
      } M lookups/s, saw v${report.versions.join(",v")}`,
    );
    console.log(
      `          torn snapshots: ${report.torn}, versions going back: ${report.backwards}`,
    );
  }
  console.log(
    `note      a demo, not a benchmark: each lookup above decodes a JSON object and hashes
          a string key, in a ${RUN_MS} ms run from a cold start. The README's figures
          (12.8 M reads/s for one reader worker) are int32 keys and values, measured
          by \`deno task bench:workload\`.`,
  );
  for (const worker of workers) await ask(worker, { kind: "close" });
}

async function main() {
  const [write, read] = create({
    key: codecs.string,
    value: codecs.json<Flag>(),
    maxReaders: 8,
  });
  const workers: Worker[] = [];
  try {
    await show(write, read, workers);
  } finally {
    for (const worker of workers) worker.terminate();
    read.close();
  }
  write.close();
  console.log("done      workers terminated, handles closed");
}

try {
  await main();
} catch (error) {
  console.error(error);
  // A worker that failed may have left workers running: exit rather than
  // wait for them.
  Deno.exit(1);
}
