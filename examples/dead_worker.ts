/**
 * A worker that dies inside a read guard costs memory until it is
 * reclaimed, never the writer's time.
 *
 * Run it with `deno run --allow-read=. examples/dead_worker.ts`.
 *
 * A worker ([`dead_worker_reader.ts`](./dead_worker_reader.ts)) attaches to
 * the map, opens a read guard, sends its handle's id, and is terminated
 * with the guard still open: it will never leave it. The writer goes on
 * publishing, rewriting every entry each time, and never waits; the dead
 * guard pins its version (one copy of the index and the entries only that
 * version still reaches), which `write.stats()` shows. After
 * `write.reclaim(id)` and one more write, the pinned copy is freed: nothing
 * is pinned, two copies are left, and the buffer's bytes in use are back
 * where they were.
 *
 * @module
 */

import { codecs, create, type WriteHandle } from "@x/flashmap";

const ITEMS = 1000;
const PUBLISHES = 20;
const ANSWER_TIMEOUT_MS = 10_000;

/** Sets every item, and "version", to `version`. */
function rewrite(write: WriteHandle<string, number>, version: number): void {
  write.update((guard) => {
    for (let i = 0; i < ITEMS; i++) guard.set(`item:${i}`, version);
    guard.set("version", version);
  });
}

/** The worker's first message, after sending it `message`. */
function ask<T>(worker: Worker, message: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error("Cannot run the example: the worker did not answer"));
    }, ANSWER_TIMEOUT_MS);
    worker.onmessage = (event) => {
      clearTimeout(timer);
      resolve(event.data);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      clearTimeout(timer);
      reject(new Error(`The worker failed: ${event.message}`));
    };
    worker.postMessage(message);
  });
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(0)} KiB`;
}

const [write, read] = create({ key: codecs.string, value: codecs.number });
rewrite(write, 1);
rewrite(write, 2);
const before = write.stats();
console.log(
  `writer    v${before.version}: ${before.copies} copies, ${
    kib(before.bytesInUse)
  } in use`,
);

const worker = new Worker(
  new URL("./dead_worker_reader.ts", import.meta.url),
  { type: "module" },
);
let id: number;
try {
  const answer = await ask<{ id: number; version: number }>(
    worker,
    read.share(),
  );
  id = answer.id;
  console.log(
    `worker    read handle ${id} holds a guard on v${answer.version}`,
  );
} finally {
  worker.terminate(); // inside its guard: it never leaves it
}
console.log("worker    terminated with its guard open");

for (let v = before.version + 1; v <= before.version + PUBLISHES; v++) {
  rewrite(write, v); // never waits for the dead guard
}
const pinned = write.stats();
console.log(
  `writer    v${pinned.version}: ${pinned.copies} copies, ${
    kib(pinned.bytesInUse)
  } in use, waits: ${pinned.waits}`,
);
console.log(
  "          stats().pinned:",
  pinned.pinned.map((p) => ({ ...p, heldMs: Math.round(p.heldMs) })),
);

write.reclaim(id); // the handle is inert from here on
rewrite(write, pinned.version + 1); // this write lets the pinned copy go
const after = write.stats();
console.log(
  `writer    reclaimed handle ${id}; v${after.version}: ${after.copies} copies, ${
    kib(after.bytesInUse)
  } in use, pinned: ${JSON.stringify(after.pinned)}, waits: ${after.waits}`,
);

read.close();
write.close();
