import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import {
  attach,
  codecs,
  create,
  ReaderLimitError,
  WaitTimeoutError,
} from "@x/flashmap";
import { LAYOUT_VERSION } from "../src/layout.ts";
import type {
  ChangedOptions,
  ReadGuard,
  ReadHandle,
  ReadStats,
  ReadToken,
} from "../src/read_api.ts";

/** Rejects after `ms`: a guard against a hang, never a timing assertion. */
function deadline<T>(promise: Promise<T>, ms = 30_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("no answer in time")), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

Deno.test("ReadToken describes the map: its kind, layout, buffer and codec names", () => {
  const [write, read] = create({
    key: codecs.int32,
    value: codecs.json<number[]>(),
  });
  write.update((guard) => guard.set(1, [1, 2]));
  const token: ReadToken<number, number[]> = read.share();
  assertEquals(token.kind, "@x/flashmap:read");
  assertEquals(token.layout, LAYOUT_VERSION);
  assertInstanceOf(token.buffer, SharedArrayBuffer);
  assertEquals(token.key, "int32");
  assertEquals(token.value, "json");
  assert(!("types" in token) || token.types === undefined);
  // Structured-cloneable: a copy attaches to the same memory.
  const other = attach(structuredClone(token));
  try {
    assertEquals(other.get(1), [1, 2]);
    write.update((guard) => guard.set(2, [3]));
    assertEquals(other.get(2), [3]);
  } finally {
    other.close();
    read.close();
    write.close();
  }
});

Deno.test("ReadHandle.get() and has() read the latest published version only", () => {
  const [write, read] = create();
  write.update((guard) => guard.set("a", "1"));
  assertEquals(read.get("a"), "1");
  assert(read.has("a"));
  assertEquals(read.get("b"), undefined);
  assert(!read.has("b"));
  const guard = write.guard();
  guard.set("b", "2");
  assertEquals(read.get("b"), undefined, "unpublished");
  guard.publish();
  assertEquals(read.get("b"), "2");
  read.close();
  write.close();
});

Deno.test("ReadHandle.size and version describe the latest published version", () => {
  const [write, read] = create();
  assertEquals([read.version, read.size], [0, 0]);
  write.update((guard) => guard.set("a", "1").set("b", "2"));
  assertEquals([read.version, read.size], [1, 2]);
  write.update((guard) => guard.delete("a"));
  assertEquals([read.version, read.size], [2, 1]);
  read.close();
  write.close();
});

Deno.test("ReadHandle.version never goes back, and a later guard sees it or newer", () => {
  const [write, read] = create({ value: codecs.int32 });
  let last = read.version;
  for (let i = 0; i < 20; i++) {
    write.update((guard) => guard.set("n", i));
    const version = read.version;
    assert(version >= last);
    using view: ReadGuard<string, number> = read.guard();
    assert(view.version >= version);
    assertEquals(view.get("n"), i);
    last = version;
  }
  assertEquals(last, 20);
  read.close();
  write.close();
});

Deno.test("ReadHandle.clone() opens a handle with its own id, up to maxReaders", () => {
  const [write, read] = create({ maxReaders: 2 });
  const other: ReadHandle<string, string> = read.clone();
  assert(other.id !== read.id);
  write.update((guard) => guard.set("k", "v"));
  assertEquals(other.get("k"), "v");
  assertThrows(() => read.clone(), ReaderLimitError);
  other.close();
  // Its slot is free again.
  const third = read.clone();
  third.close();
  read.close();
  write.close();
});

Deno.test("ReadHandle.id stays unique over the map's life, across reused slots", () => {
  const [write, read] = create({ maxReaders: 2 });
  const ids = new Set([read.id]);
  for (let i = 0; i < 10; i++) {
    const other = read.clone();
    assert(!ids.has(other.id), `id ${other.id} was given twice`);
    ids.add(other.id);
    other.close();
  }
  assertEquals(ids.size, 11);
  read.close();
  write.close();
});

Deno.test("ReadHandle.close() refuses with a TypeError while a guard is live, changing nothing", () => {
  const [write, read] = create();
  write.update((guard) => guard.set("a", "1"));
  const view = read.guard();
  assertThrows(() => read.close(), TypeError);
  assert(!read.closed);
  assertEquals(read.get("a"), "1");
  view.release();
  read.close();
  assert(read.closed);
  read.close(); // twice does nothing
  assert(read.closed);
  write.close();
});

Deno.test("ReadHandle is disposable: leaving a using block closes it", () => {
  const [write, read] = create();
  let kept: ReadHandle<string, string>;
  {
    using other = read.clone();
    kept = other;
    assert(!other.closed);
  }
  assert(kept.closed);
  read.close();
  write.close();
});

Deno.test("ReadHandle.changed() resolves with the newest version after a later publish", async () => {
  const [write, read] = create();
  const seen = read.version;
  const next = read.changed(seen, { timeoutMs: 30_000 });
  write.update((guard) => guard.set("a", "1"));
  assertEquals(await deadline(next), seen + 1);
  // A version already newer than `since` resolves at once.
  write.update((guard) => guard.set("a", "2"));
  write.update((guard) => guard.set("a", "3"));
  assertEquals(await deadline(read.changed(seen)), 3);
  read.close();
  write.close();
});

Deno.test("ReadHandle.changed() rejects with a WaitTimeoutError after timeoutMs", async () => {
  const [write, read] = create();
  const options: ChangedOptions = { timeoutMs: 5 };
  await assertRejects(
    () => deadline(read.changed(read.version, options)),
    WaitTimeoutError,
  );
  read.close();
  write.close();
});

Deno.test("ReadHandle.changed() rejects with the reason of its aborted signal", async () => {
  const [write, read] = create();
  const controller = new AbortController();
  const reason = new Error("stop waiting");
  const waiting = read.changed(read.version, { signal: controller.signal });
  controller.abort(reason);
  const error = await deadline(waiting).catch((e) => e);
  assertStrictEquals(error, reason);
  // An already aborted signal, with the default reason.
  const aborted = await deadline(
    read.changed(read.version, { signal: AbortSignal.abort() }),
  ).catch((e) => e);
  assertInstanceOf(aborted, DOMException);
  assertEquals(aborted.name, "AbortError");
  read.close();
  write.close();
});

Deno.test("ReadHandle.changed() rejects with a TypeError once the writer is closed with no newer version", async () => {
  const [write, read] = create();
  write.update((guard) => guard.set("a", "1"));
  write.close();
  await assertRejects(() => deadline(read.changed(read.version)), TypeError);
  // A version newer than `since` still resolves.
  assertEquals(await deadline(read.changed(0)), 1);
  read.close();
  await assertRejects(() => deadline(read.changed(0)), TypeError);
});

Deno.test("ReadHandle.versions() yields published versions and ends when the writer closes", async () => {
  const [write, read] = create();
  const seen: number[] = [];
  let wake = () => {};
  const first = new Promise<void>((resolve) => wake = resolve);
  const loop = (async () => {
    for await (const version of read.versions()) {
      seen.push(version);
      wake();
    }
  })();
  write.update((guard) => guard.set("a", "1"));
  await deadline(first);
  write.close();
  await deadline(loop);
  assertEquals(seen, [1]);
  read.close();
});

Deno.test("ReadHandle.stats() reports what the handle sees of the map", () => {
  const [write, read] = create({ maxReaders: 5 });
  write.update((guard) => guard.set("a", "1").set("b", "2"));
  const other = read.clone();
  const stats: ReadStats = read.stats();
  assertEquals(stats.version, 1);
  assertEquals(stats.size, 2);
  assertEquals(stats.openHandles, 2);
  assertEquals(stats.maxReaders, 5);
  assertEquals(stats.writerClosed, false);
  assertEquals(stats.bytes, read.share().buffer.byteLength);
  other.close();
  write.close();
  const after = read.stats();
  assertEquals(after.openHandles, 1);
  assertEquals(after.writerClosed, true);
  // A fresh object each time.
  assert(after !== stats);
  assertEquals(stats.openHandles, 2);
  read.close();
});

Deno.test("ReadGuard keeps its snapshot whatever the writer publishes", () => {
  const [write, read] = create();
  write.update((guard) => guard.set("a", "old").set("b", "kept"));
  const view = read.guard();
  write.update((guard) => {
    guard.set("a", "new").set("c", "added");
    guard.delete("b");
  });
  write.update((guard) => guard.clear());
  assertEquals(view.get("a"), "old");
  assertEquals(view.get("b"), "kept");
  assert(!view.has("c"));
  assertEquals(view.size, 2);
  assertEquals(view.version, 1);
  view.release();
  {
    using later = read.guard();
    assertEquals([later.size, later.version], [0, 3]);
  }
  read.close();
  write.close();
});

Deno.test("ReadGuard.keys(), values(), entries() and iteration list the same snapshot", () => {
  const [write, read] = create({ key: codecs.int32, value: codecs.string });
  const expected = new Map<number, string>();
  write.update((guard) => {
    for (let i = -20; i < 20; i++) {
      guard.set(i * 7, `v${i}`);
      expected.set(i * 7, `v${i}`);
    }
  });
  using view = read.guard();
  const entries = [...view.entries()];
  assertEquals(entries.length, expected.size);
  assertEquals(new Map(entries), expected);
  assertEquals([...view], entries);
  assertEquals([...view.keys()], entries.map(([key]) => key));
  assertEquals([...view.values()], entries.map(([, value]) => value));
});

Deno.test("ReadGuard.release() may be repeated, and any other use then throws a TypeError", () => {
  const [write, read] = create();
  write.update((guard) => guard.set("a", "1"));
  const view = read.guard();
  const iterator = view.keys();
  assert(!view.released);
  view.release();
  assert(view.released);
  view.release();
  view[Symbol.dispose]();
  assert(view.released);
  assertThrows(() => view.get("a"), TypeError);
  assertThrows(() => view.has("a"), TypeError);
  assertThrows(() => view.size, TypeError);
  assertThrows(() => view.keys(), TypeError);
  assertThrows(() => view.values(), TypeError);
  assertThrows(() => view.entries(), TypeError);
  assertThrows(() => [...view], TypeError);
  // An iterator that outlives its guard throws instead of reading.
  assertThrows(() => iterator.next(), TypeError);
  read.close();
  write.close();
});

Deno.test("ReadGuard is released by leaving its using block", () => {
  const [write, read] = create();
  let kept: ReadGuard<string, string>;
  {
    using view = read.guard();
    kept = view;
  }
  assert(kept.released);
  read.close(); // no live guard is left
  write.close();
});
