import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertThrows,
} from "@std/assert";
import { codecs, create, DeadlockError, WaitTimeoutError } from "@x/flashmap";
import type {
  PinnedVersion,
  WaitOptions,
  WriteGuard,
  WriteHandle,
  WriteStats,
} from "../src/write_api.ts";

/** The map's entries as a sorted array, through a fresh read guard. */
function published<K, V>(
  read: { guard(): Iterable<[K, V]> & Disposable },
): [K, V][] {
  using view = read.guard();
  return [...view].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

Deno.test("WriteHandle.guard() publishes what the guard did when its using block ends", () => {
  const [write, read] = create();
  {
    using guard: WriteGuard<string, string> = write.guard();
    guard.insert("colour", "blue");
    assertEquals(read.get("colour"), undefined);
  }
  assertEquals(read.get("colour"), "blue");
  read.close();
  write.close();
});

Deno.test("WriteHandle.guard() refuses with a TypeError while a write guard is live or once closed", () => {
  const [write, read] = create();
  const guard = write.guard();
  assertThrows(() => write.guard(), TypeError);
  guard.publish();
  write.close();
  assertThrows(() => write.guard(), TypeError);
  read.close();
});

Deno.test("WriteHandle.guard() refuses bad wait options", () => {
  const [write, read] = create();
  assertThrows(() => write.guard({ timeoutMs: -1 }), RangeError, "timeoutMs");
  assertThrows(
    () => write.guard({ timeoutMs: "1" } as unknown as WaitOptions),
    TypeError,
    "timeoutMs",
  );
  // Nothing was opened by the refused calls.
  const guard = write.guard({ timeoutMs: 0 });
  guard.set("a", "1");
  guard.publish();
  assertEquals(write.version, 1);
  read.close();
  write.close();
});

Deno.test("WriteHandle.guard() throws a DeadlockError rather than wait for this thread's read guards", () => {
  const [write, read] = create({ maxCopies: 2 });
  const view = read.guard();
  {
    using guard = write.guard();
    guard.insert("a", "1");
  }
  assertThrows(() => write.guard(), DeadlockError);
  view.release();
  write.guard().publish();
  assertEquals(read.get("a"), "1");
  read.close();
  write.close();
});

Deno.test("WriteHandle.guardAsync() rejects with a WaitTimeoutError naming the handles that pin the copies", async () => {
  const [write, read] = create({ maxCopies: 2 });
  const other = read.clone();
  write.update((guard) => guard.insert("a", "1"));
  const view = other.guard();
  write.update((guard) => guard.insert("a", "2"));
  const error = await write.guardAsync({ timeoutMs: 10 }).catch((e) => e);
  assertInstanceOf(error, WaitTimeoutError);
  assertEquals(error.readers, [other.id]);
  view.release();
  // Once the guard is gone the writer goes on.
  const guard = await write.guardAsync({ timeoutMs: 30_000 });
  guard.insert("a", "3");
  guard.publish();
  assertEquals(read.get("a"), "3");
  other.close();
  read.close();
  write.close();
});

Deno.test("WriteHandle.synchronize() frees every retired copy no guard holds", () => {
  const [write, read] = create();
  write.update((guard) => guard.insert("a", "1"));
  const view = read.guard();
  write.update((guard) => guard.insert("a", "2"));
  write.update((guard) => guard.insert("a", "3"));
  const pinned = write.stats().pinned;
  assertEquals(pinned.map((p: PinnedVersion) => [p.version, p.readers]), [[1, [
    read.id,
  ]]]);
  assert(pinned[0].heldMs >= 0);
  write.synchronize();
  // A held guard keeps its copy.
  assertEquals(write.stats().pinned.length, 1);
  assertEquals(view.get("a"), "1");
  view.release();
  write.synchronize();
  assertEquals(write.stats().pinned, []);
  assertEquals(write.stats().loggedOperations, 0);
  assertEquals(read.get("a"), "3");
  read.close();
  write.close();
});

Deno.test("WriteHandle.synchronizeAsync() settles and leaves no replay pending", async () => {
  const [write, read] = create();
  write.update((guard) => guard.insert("k", "v"));
  await write.synchronizeAsync({ timeoutMs: 30_000 });
  assertEquals(write.stats().pinned, []);
  const replays = write.stats().replays;
  // The next guard opens with no replay and no copy.
  const clones = write.stats().clones;
  write.guard().publish();
  assertEquals(write.stats().replays, replays);
  assertEquals(write.stats().clones, clones);
  read.close();
  write.close();
});

Deno.test("WriteHandle.reclaim() refuses a non-number id, an unknown id and this thread's handle", () => {
  const [write, read] = create();
  assertThrows(
    () => write.reclaim("1" as unknown as number),
    TypeError,
  );
  assertThrows(() => write.reclaim(200), RangeError);
  assertThrows(() => write.reclaim(read.id), TypeError);
  // Nothing changed: the handle still reads.
  write.update((guard) => guard.set("a", "1"));
  assertEquals(read.get("a"), "1");
  read.close();
  write.close();
});

Deno.test("WriteHandle.stats() describes the copies, memory and limits", () => {
  const [write, read] = create({ maxCopies: 3, maxBytes: 1 << 22 });
  write.update((guard) => {
    for (let i = 0; i < 100; i++) guard.set(`key ${i}`, `value ${i}`);
  });
  const stats: WriteStats = write.stats();
  assertEquals(stats.version, 1);
  assertEquals(stats.maxCopies, 3);
  assertEquals(stats.maxBytes, 1 << 22);
  // The current copy, and the writer's and retired ones while they are kept.
  assert(stats.copies >= 1 && stats.copies <= stats.maxCopies);
  // A new map starts with the current copy and the writer's.
  const [fresh, freshRead] = create();
  assertEquals(fresh.stats().copies, 2);
  freshRead.close();
  fresh.close();
  assert(stats.bytesInUse > 0);
  assert(stats.bytesInUse <= stats.bytesReserved);
  assert(stats.bytesReserved <= stats.maxBytes);
  assertEquals(stats.waits, 0);
  assertEquals(stats.waitMs, 0);
  assertEquals(stats.pinned, []);
  assert(stats.loggedOperations >= 0);
  read.close();
  write.close();
});

Deno.test("WriteHandle.version counts publishes", () => {
  const [write, read] = create();
  assertEquals(write.version, 0);
  write.update((guard) => guard.set("a", "1"));
  assertEquals(write.version, 1);
  const guard = write.guard();
  guard.set("b", "2");
  guard.publish();
  assertEquals(write.version, 2);
  assertEquals(read.version, write.version);
  read.close();
  write.close();
});

Deno.test("WriteHandle.update() publishes the batch and returns what fn returned", () => {
  const [write, read] = create({ value: codecs.number });
  const result = write.update((guard) => {
    guard.set("a", 1).set("b", 2);
    return "done";
  });
  assertEquals(result, "done");
  assertEquals(published(read), [["a", 1], ["b", 2]]);
  read.close();
  write.close();
});

Deno.test("WriteHandle.update() takes back all of a batch that throws, and rethrows", () => {
  const [write, read] = create({ value: codecs.number });
  write.update((guard) => guard.set("a", 1).set("b", 2));
  const thrown = new Error("half way");
  const error = assertThrows(() =>
    write.update((guard) => {
      guard.set("a", 10);
      guard.delete("b");
      guard.set("c", 3);
      throw thrown;
    })
  );
  assert(error === thrown);
  assertEquals(published(read), [["a", 1], ["b", 2]]);
  assertEquals(write.version, 1);
  // The writer goes on.
  write.update((guard) => guard.set("c", 3));
  assertEquals(published(read), [["a", 1], ["b", 2], ["c", 3]]);
  read.close();
  write.close();
});

Deno.test("WriteHandle.update() refuses an async fn with a TypeError and aborts the batch", () => {
  const [write, read] = create();
  assertThrows(
    () =>
      write.update((guard) => {
        guard.set("a", "1");
        return Promise.resolve();
      }),
    TypeError,
  );
  assertEquals(read.get("a"), undefined);
  assertEquals(write.version, 0);
  read.close();
  write.close();
});

Deno.test("WriteHandle.updateAsync() publishes once fn resolves, and aborts if it rejects", async () => {
  const [write, read] = create();
  const result = await write.updateAsync(async (guard) => {
    guard.set("config", await Promise.resolve("loaded"));
    return 7;
  });
  assertEquals(result, 7);
  assertEquals(read.get("config"), "loaded");
  await assertRejects(
    () =>
      write.updateAsync(async (guard) => {
        guard.set("config", "changed");
        await Promise.resolve();
        throw new Error("failed");
      }),
    Error,
    "failed",
  );
  assertEquals(read.get("config"), "loaded");
  read.close();
  write.close();
});

Deno.test("WriteHandle.close() refuses with a TypeError while a guard is live; readers keep reading", () => {
  const [handle, read] = create();
  const write: WriteHandle<string, string> = handle;
  const guard = write.guard();
  guard.insert("k", "v");
  assertThrows(() => write.close(), TypeError);
  assert(!write.closed);
  guard.publish();
  write.close();
  assert(write.closed);
  write.close(); // twice does nothing
  assertEquals(read.get("k"), "v");
  read.close();
});

Deno.test("WriteGuard.insert() returns the previous value, and set() the guard", () => {
  const [write, read] = create();
  using guard = write.guard();
  assertEquals(guard.insert("a", "1"), undefined);
  assertEquals(guard.insert("a", "2"), "1");
  assertEquals(guard.set("b", "3"), guard);
  assertEquals(guard.get("a"), "2");
  assertEquals(guard.size, 2);
  read.close();
});

Deno.test("WriteGuard.replace() calls update only for a present key, and changes nothing if it throws", () => {
  const [write, read] = create({ value: codecs.number });
  using guard = write.guard();
  let calls = 0;
  assertEquals(guard.replace("missing", (n) => (calls++, n + 1)), undefined);
  assertEquals(calls, 0);
  assert(!guard.has("missing"));
  guard.insert("hits", 1);
  assertEquals(guard.replace("hits", (n) => n + 1), 1);
  assertEquals(guard.get("hits"), 2);
  assertThrows(() =>
    guard.replace("hits", () => {
      throw new Error("no");
    })
  );
  assertEquals(guard.get("hits"), 2);
  read.close();
});

Deno.test("WriteGuard refuses changes from inside a replace() update with a TypeError", () => {
  const [write, read] = create();
  using guard = write.guard();
  guard.insert("a", "1");
  const refused: string[] = [];
  guard.replace("a", (old) => {
    for (
      const [name, change] of [
        ["insert", () => guard.insert("b", "2")],
        ["set", () => guard.set("b", "2")],
        ["remove", () => guard.remove("a")],
        ["delete", () => guard.delete("a")],
        ["clear", () => guard.clear()],
        ["publish", () => guard.publish()],
        ["abort", () => guard.abort()],
      ] as [string, () => unknown][]
    ) {
      try {
        change();
      } catch (error) {
        if (error instanceof TypeError) refused.push(name);
      }
    }
    return old + "!";
  });
  assertEquals(refused, [
    "insert",
    "set",
    "remove",
    "delete",
    "clear",
    "publish",
    "abort",
  ]);
  assertEquals(guard.get("a"), "1!");
  assert(!guard.has("b"));
  read.close();
});

Deno.test("WriteGuard.remove() returns the removed value, and delete() whether there was one", () => {
  const [write, read] = create();
  using guard = write.guard();
  guard.set("a", "1").set("b", "2");
  assertEquals(guard.remove("a"), "1");
  assertEquals(guard.remove("a"), undefined);
  assertEquals(guard.delete("b"), true);
  assertEquals(guard.delete("b"), false);
  assertEquals(guard.size, 0);
  read.close();
});

Deno.test("WriteGuard.clear() empties the map for new readers; older snapshots keep their entries", () => {
  const [write, read] = create();
  write.update((guard) => guard.set("a", "1").set("b", "2"));
  const view = read.guard();
  write.update((guard) => guard.clear());
  assertEquals(read.size, 0);
  assertEquals(view.size, 2);
  assertEquals(view.get("b"), "2");
  view.release();
  read.close();
  write.close();
});

Deno.test("WriteGuard.get(), has(), size and iteration include unpublished changes", () => {
  const [write, read] = create();
  write.update((guard) => guard.set("a", "1").set("b", "2"));
  using guard = write.guard();
  guard.set("c", "3");
  guard.delete("a");
  assert(guard.has("c") && !guard.has("a"));
  assertEquals(guard.get("c"), "3");
  assertEquals(guard.size, 2);
  const entries = [...guard.entries()];
  assertEquals(new Map(entries), new Map([["b", "2"], ["c", "3"]]));
  assertEquals([...guard], entries);
  assertEquals([...guard.keys()], entries.map(([key]) => key));
  assertEquals([...guard.values()], entries.map(([, value]) => value));
  assertEquals(read.size, 2);
  read.close();
});

Deno.test("WriteGuard checks values with the map's codec, changing nothing for a bad one", () => {
  const [write, read] = create({ key: codecs.int32, value: codecs.int32 });
  using guard = write.guard();
  guard.set(1, 1);
  assertThrows(() => guard.insert(2, 1.5), RangeError);
  assertThrows(() => guard.insert(2, "x" as unknown as number), TypeError);
  assertThrows(() => guard.set(2 ** 31, 1), RangeError);
  assertThrows(() => guard.insert("2" as unknown as number, 1), TypeError);
  assertEquals(guard.size, 1);
  assertEquals([...guard], [[1, 1]]);
  read.close();
});

Deno.test("WriteGuard.publish() may be repeated; every other method then throws a TypeError", () => {
  const [write, read] = create();
  const guard = write.guard();
  guard.set("a", "1");
  assert(!guard.published);
  guard.publish();
  assert(guard.published);
  guard.publish();
  guard[Symbol.dispose]();
  assertEquals(write.version, 1);
  for (
    const use of [
      () => guard.insert("b", "2"),
      () => guard.set("b", "2"),
      () => guard.replace("a", (v) => v),
      () => guard.remove("a"),
      () => guard.delete("a"),
      () => guard.clear(),
      () => guard.get("a"),
      () => guard.has("a"),
      () => guard.size,
      () => guard.keys(),
      () => guard.values(),
      () => guard.entries(),
    ]
  ) {
    assertThrows(use, TypeError);
  }
  assertThrows(() => guard.abort(), TypeError);
  assertEquals(read.get("a"), "1");
  read.close();
  write.close();
});

Deno.test("WriteGuard.abort() puts back exactly the last published version", () => {
  const [write, read] = create();
  write.update((guard) => guard.set("a", "kept").set("b", "also"));
  const before = published(read);
  const guard = write.guard();
  guard.set("a", "changed");
  guard.set("c", "new");
  guard.delete("b");
  guard.clear();
  guard.set("d", "after clear");
  assert(!guard.aborted);
  guard.abort();
  assert(guard.aborted);
  guard.abort(); // again does nothing
  assertEquals(published(read), before);
  assertEquals(write.version, 1);
  // The next guard starts from the published version.
  {
    using next = write.guard();
    assertEquals(new Map(next.entries()), new Map(before));
  }
  read.close();
  write.close();
});
