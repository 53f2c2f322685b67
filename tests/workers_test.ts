/**
 * Real workers reading a map through tokens: they see what is published,
 * keep their snapshots while a guard lives, and keep reading after the
 * writer is gone.
 */
import {
  assert,
  assertEquals,
  assertNotEquals,
  assertThrows,
} from "@std/assert";
import {
  codecs,
  create,
  ReaderLimitError,
  WaitTimeoutError,
  type WriteHandle,
} from "@x/flashmap";
import { TestWorker } from "./utils.ts";

const READER = new URL("./workers/reader_worker.ts", import.meta.url);

/** The read-handle id each reader worker reported when it attached. */
const readerIds = new WeakMap<TestWorker, number>();

async function startReaders(
  count: number,
  token: unknown,
): Promise<TestWorker[]> {
  const workers = Array.from({ length: count }, () => new TestWorker(READER));
  for (const worker of workers) {
    await worker.next("ready");
    const reply = await worker.request(
      { type: "attach", token } as { type: string },
    );
    assertEquals(reply.error, undefined);
    readerIds.set(worker, reply.id as number);
  }
  return workers;
}

async function stopAll(workers: TestWorker[]): Promise<void> {
  for (const worker of workers) await worker[Symbol.asyncDispose]();
}

function publish(
  write: WriteHandle<string, number>,
  entries: Record<string, number>,
) {
  using guard = write.guard();
  for (const [key, value] of Object.entries(entries)) guard.insert(key, value);
}

Deno.test("attach() in workers: readers see each published version", async () => {
  const [write, read] = create({ key: codecs.string, value: codecs.number });
  publish(write, { a: 1, b: 2 });
  const workers = await startReaders(2, read.share());
  try {
    for (const worker of workers) {
      assertEquals((await worker.request({ type: "snapshot" })).entries, [[
        "a",
        1,
      ], ["b", 2]]);
    }
    publish(write, { a: 10, c: 3 });
    for (const worker of workers) {
      assertEquals((await worker.request({ type: "snapshot" })).entries, [
        ["a", 10],
        ["b", 2],
        ["c", 3],
      ]);
      assertEquals(
        (await worker.request({ type: "get", key: "c" } as { type: string }))
          .value,
        3,
      );
    }
  } finally {
    await stopAll(workers);
  }
});

Deno.test("ReadGuard in a worker keeps its snapshot across publishes until released", async () => {
  // Two copies: the writer's next guard must wait for the worker's guard.
  const [write, read] = create({
    key: codecs.string,
    value: codecs.number,
    maxCopies: 2,
  });
  publish(write, { v: 1 });
  const [worker] = await startReaders(1, read.share());
  try {
    assertEquals((await worker.request({ type: "hold" })).entries, [["v", 1]]);
    publish(write, { v: 2 }); // publishing never waits, even with the guard held
    assertEquals((await worker.request({ type: "held" })).entries, [["v", 1]]);
    assertEquals((await worker.request({ type: "snapshot" })).entries, [[
      "v",
      2,
    ]]);
    // The next write guard must wait for the worker's guard: ask for it
    // without blocking, then let the worker release (S4: the wake-up arrives).
    let opened = false;
    const pending = write.guardAsync().then((guard) => (opened = true, guard));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert(
      !opened,
      "the write guard opened while a worker still read the old copy",
    );
    await worker.request({ type: "release" });
    using guard = await pending;
    guard.insert("v", 3);
    guard.publish();
    assertEquals((await worker.request({ type: "snapshot" })).entries, [[
      "v",
      3,
    ]]);
  } finally {
    await stopAll([worker]);
  }
});

Deno.test("ReadGuard in a worker keeps its snapshot while the writer goes on with spare copies", async () => {
  const [write, read] = create({ key: codecs.string, value: codecs.number });
  publish(write, { v: 1 });
  const [worker] = await startReaders(1, read.share());
  const id = readerIds.get(worker)!;
  try {
    assertEquals((await worker.request({ type: "hold" })).entries, [["v", 1]]);
    // The writer opens guards and publishes without waiting for the worker.
    for (let v = 2; v <= 5; v++) {
      publish(write, { v });
      assertEquals((await worker.request({ type: "held" })).entries, [[
        "v",
        1,
      ]]);
      assertEquals((await worker.request({ type: "snapshot" })).entries, [[
        "v",
        v,
      ]]);
    }
    write.synchronize();
    let stats = write.stats();
    assertEquals(stats.waits, 0);
    assertEquals(stats.pinned.map((pinned) => pinned.readers), [[id]]);
    assertEquals(stats.pinned[0].version, 1);
    await worker.request({ type: "release" });
    // Once released, the pinned copy is let go at the writer's next guard.
    write.synchronize();
    stats = write.stats();
    assertEquals(stats.pinned, []);
    assertEquals(stats.copies, 2);
    publish(write, { v: 6 });
    assertEquals((await worker.request({ type: "snapshot" })).entries, [[
      "v",
      6,
    ]]);
  } finally {
    await stopAll([worker]);
  }
});

Deno.test("ReadHandle in a worker keeps reading after the write handle is closed", async () => {
  const [write, read] = create({ key: codecs.string, value: codecs.number });
  publish(write, { last: 42 });
  const [worker] = await startReaders(1, read.share());
  try {
    write.close();
    read.close();
    assertEquals(
      (await worker.request({ type: "get", key: "last" } as { type: string }))
        .value,
      42,
    );
    assertEquals((await worker.request({ type: "snapshot" })).entries, [[
      "last",
      42,
    ]]);
    assertEquals((await worker.request({ type: "close" })).error, undefined);
  } finally {
    await stopAll([worker]);
  }
});

Deno.test("workers see no torn snapshot and no version going back while the writer publishes", async () => {
  const groups = 8;
  const groupSize = 8;
  const [write, read] = create({
    key: codecs.string,
    value: codecs.number,
    capacity: 4,
  });
  const writeVersion = (version: number) => {
    using guard = write.guard();
    for (let g = 0; g < groups; g++) {
      for (let k = 0; k < groupSize; k++) {
        guard.insert(`g${g}:${k}`, version * 1000 + g);
      }
    }
    guard.insert("version", version);
  };
  writeVersion(0);
  const workers = await startReaders(4, read.share());
  try {
    const checks = workers.map((worker) =>
      worker.request(
        {
          type: "check",
          minGuards: 3000,
          maxGuards: 200_000,
          minVersions: 20,
          groups,
          groupSize,
        } as { type: string },
      )
    );
    // Publish while they check; the loop is bounded by count, and each
    // round yields so that the replies can arrive.
    let version = 1;
    let done = false;
    Promise.all(checks).finally(() => (done = true));
    while (!done && version < 2000) {
      writeVersion(version++);
      if (version % 20 === 0) {
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    }
    for (const reply of await Promise.all(checks)) {
      assertEquals(reply.error, undefined);
      assertEquals(reply.violations, 0);
      assertEquals(reply.backwards, 0);
      assert((reply.last as number) < version);
      // Not vacuous: each worker saw the versions change under it.
      assert((reply.versions as number) >= 2, `saw ${reply.versions} versions`);
    }
  } finally {
    await stopAll(workers);
  }
});

Deno.test("WriteHandle.guard({ timeoutMs }) names a terminated worker's handle, and reclaim() ends the wait", async () => {
  // Two copies: the writer must wait for the worker's guard on the old copy.
  const [write, read] = create({
    key: codecs.string,
    value: codecs.number,
    maxCopies: 2,
  });
  publish(write, { v: 1 });
  const [worker] = await startReaders(1, read.share());
  const id = readerIds.get(worker)!;
  try {
    await worker.request({ type: "hold" });
    publish(write, { v: 2 }); // the worker's guard is now on the old copy
  } finally {
    await stopAll([worker]); // terminated inside its guard: it never leaves
  }
  const error = assertThrows(
    () => write.guard({ timeoutMs: 50 }),
    WaitTimeoutError,
  );
  assertEquals(error.readers, [id]);
  assertThrows(() => write.synchronize({ timeoutMs: 0 }), WaitTimeoutError);
  write.reclaim(id);
  {
    using guard = write.guard({ timeoutMs: 50 }); // the wait returns at once
    assertEquals(guard.get("v"), 2);
    guard.insert("v", 3);
  }
  assertEquals(read.get("v"), 3);
  assertThrows(() => write.reclaim(id), RangeError); // already free
  assertThrows(() => write.reclaim(read.id), TypeError); // this thread's: close it
});

Deno.test("WriteHandle.reclaim() frees the slot of a worker terminated without closing its handle", async () => {
  const [write, read] = create({
    key: codecs.string,
    value: codecs.number,
    maxReaders: 2,
  });
  const [worker] = await startReaders(1, read.share());
  const id = readerIds.get(worker)!;
  await stopAll([worker]);
  assertThrows(() => read.clone(), ReaderLimitError);
  write.reclaim(id);
  using clone = read.clone(); // the freed slot, under an id of its own
  assertNotEquals(clone.id, id);
  assertThrows(() => write.reclaim(id), RangeError); // stale: never the clone
});
