/**
 * A request handler that holds a read guard across an `await` costs memory,
 * never the writer's time.
 *
 * Run it with
 * `deno run --allow-read=. --allow-net=127.0.0.1 examples/serve_worker.ts`.
 *
 * A worker ([`serve_worker_handler.ts`](./serve_worker_handler.ts)) serves
 * HTTP with `Deno.serve`. Its `/quote` handler opens a read guard on a price
 * map, reads a price, and awaits a slow upstream call (300 ms) before it
 * answers, the guard open all along. Meanwhile the main thread, which owns
 * the write handle, publishes a new price every 10 ms. With the Rust
 * crate's two copies of the index (`maxCopies: 2`) the writer's next guard
 * would wait, blocking the main thread, until the handler's guard left; here
 * the writer writes another copy instead, and `write.stats()` shows the
 * version the handler pins while the request is in flight. The program
 * stops the server and the worker when the request is answered.
 *
 * @module
 */

import { codecs, create } from "@x/flashmap";

/** The messages the worker sends. */
type Message =
  | { kind: "started"; port: number; readerId: number }
  | { kind: "holding"; version: number }
  | { kind: "stopped" }
  | { kind: "failed"; error: string };

/** What `/quote` answers. */
interface Quote {
  /** The version the handler's guard read. */
  version: number;
  /** The price the guard read before the handler's `await`, and after it. */
  before: number;
  after: number;
  /** The price a fresh read saw after the `await`. */
  latest: number;
}

const PUBLISH_EVERY_MS = 10;
/** The most publishes while the request is in flight (it takes ~300 ms). */
const MAX_PUBLISHES = 200;
const ANSWER_TIMEOUT_MS = 10_000;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The worker's next message of kind `kind`, after sending `command` if
 * given; rejects if the worker fails or stays silent too long.
 */
function next<T extends Message["kind"]>(
  worker: Worker,
  kind: T,
  command?: unknown,
): Promise<Extract<Message, { kind: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      done();
      reject(new Error(`Cannot run the example: no "${kind}" from the worker`));
    }, ANSWER_TIMEOUT_MS);
    const onMessage = (event: MessageEvent<Message>) => {
      if (event.data.kind === kind) {
        done();
        resolve(event.data as Extract<Message, { kind: T }>);
      } else if (event.data.kind === "failed") {
        done();
        reject(new Error(`The worker failed: ${event.data.error}`));
      }
    };
    const onError = (event: ErrorEvent) => {
      event.preventDefault();
      done();
      reject(new Error(`The worker failed: ${event.message}`));
    };
    function done() {
      clearTimeout(timer);
      worker.removeEventListener("message", onMessage);
      worker.removeEventListener("error", onError);
    }
    worker.addEventListener("message", onMessage);
    worker.addEventListener("error", onError);
    if (command !== undefined) worker.postMessage(command);
  });
}

const [write, read] = create({ key: codecs.string, value: codecs.number });
write.update((guard) => guard.set("version", 1).set("price:apple", 100));

const worker = new Worker(
  new URL("./serve_worker_handler.ts", import.meta.url),
  { type: "module" },
);
try {
  const { port, readerId } = await next(worker, "started", {
    kind: "start",
    token: read.share(),
  });
  console.log(
    `worker    serves on 127.0.0.1:${port} (read handle ${readerId})`,
  );

  const holding = next(worker, "holding");
  const answer: Promise<Quote> = fetch(`http://127.0.0.1:${port}/quote`)
    .then((response) => response.json());
  let answered = false;
  answer.then(() => answered = true, () => answered = true);
  const { version } = await holding;
  console.log(`handler   holds a guard on v${version}, awaits the upstream`);

  // The main thread keeps publishing while the guard is open.
  let published = version;
  let longestMs = 0;
  while (!answered && published < version + MAX_PUBLISHES) {
    const start = performance.now();
    published++;
    write.update((guard) => {
      guard.set("version", published);
      guard.replace("price:apple", (price) => price + 1);
    });
    longestMs = Math.max(longestMs, performance.now() - start);
    if (published === version + 5) {
      const { copies, pinned } = write.stats();
      console.log(`writer    published v${published}; ${copies} copies`);
      console.log(
        "          stats().pinned:",
        pinned.map((p) => ({ ...p, heldMs: Math.round(p.heldMs) })),
      );
    }
    await delay(PUBLISH_EVERY_MS);
  }

  const body = await answer;
  console.log(
    `handler   answered: v${body.version}, price ${body.before} before the await, ` +
      `${body.after} after it; a fresh read sees ${body.latest}`,
  );
  const stats = write.stats();
  console.log(
    `writer    published up to v${published} meanwhile; longest write ` +
      `${longestMs.toFixed(2)} ms, stats().waits: ${stats.waits}`,
  );
  await next(worker, "stopped", { kind: "stop" });
} finally {
  worker.terminate();
  read.close();
  write.close();
}
