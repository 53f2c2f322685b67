/**
 * What users reach for next: `ReadHandle.size`, `ReadHandle.stats()`,
 * `WriteGuard.clear()` (with replay, abort and reclamation), and `attach()`
 * typing the handle from its token.
 */
import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertThrows,
} from "@std/assert";
import { assertType, type IsExact } from "@std/testing/types";
import fc from "fast-check";
import {
  attach,
  type Codec,
  codecs,
  create,
  type KeyCodec,
  type ReadGuard,
  type ReadHandle,
  type ReadStats,
  type ReadToken,
  type WriteGuard,
  type WriteHandle,
} from "@x/flashmap";
import { snapshot, sorted, TestWorker } from "./utils.ts";

const WORKER = new URL("./workers/version_worker.ts", import.meta.url);

/** Asserts `actual > than`. */
function assertBigger(actual: number, than: number): void {
  assert(actual > than, `expected ${actual} > ${than}`);
}

/** The entries of the latest version, through a guard released at once. */
function latest<K, V>(read: ReadHandle<K, V>): Map<K, V> {
  using guard = read.guard();
  return snapshot(guard);
}

/** What a getter threw (a `TypeError` is expected of closed handles). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

/**
 * `Deno.test` with the op and resource sanitizers on: Deno 2.9 runs tests
 * without them unless asked, and they catch a wait that leaks its timer.
 */
function test(name: string, fn: () => void | Promise<void>): void {
  Deno.test({ name, fn, sanitizeOps: true, sanitizeResources: true });
}

// ------------------------------------------------------------ size

test("ReadHandle.size is the size of the latest version, one-shot", () => {
  const [write, read] = create({ key: codecs.int32, value: codecs.string });
  const other = read.clone();
  const attached = attach(read.share());
  const sizes = () => [read.size, other.size, attached.size];
  assertEquals(sizes(), [0, 0, 0]);
  write.update((guard) => {
    for (let i = 0; i < 100; i++) guard.set(i, `v${i}`);
    // Not published yet.
    assertEquals(read.size, 0);
  });
  assertEquals(sizes(), [100, 100, 100]);
  // A held guard keeps its size; size follows the newest version.
  const view = read.guard();
  write.update((guard) => {
    for (let i = 0; i < 30; i++) guard.delete(i);
  });
  assertEquals(sizes(), [70, 70, 70]);
  assertEquals(view.size, 100);
  // Growth: the table and the buffer grow under the readers.
  write.update((guard) => {
    for (let i = 1000; i < 6000; i++) guard.set(i, "x".repeat(i % 17));
  });
  assertEquals(sizes(), [5070, 5070, 5070]);
  {
    using latest = read.guard();
    assertEquals(read.size, latest.size);
  }
  view.release();
  write.update((guard) => guard.clear());
  assertEquals(sizes(), [0, 0, 0]);
  attached.close();
  other.close();
});

test("ReadHandle.size leaves no guard behind: the writer reuses copies as before", () => {
  const [write, read] = create({ maxCopies: 2 });
  for (let i = 0; i < 20; i++) {
    write.update((guard) => guard.set(`k${i}`, "v"));
    assertEquals(read.size, i + 1);
  }
  // With two copies, a guard left entered would make the writer wait.
  assertEquals(write.stats().waits, 0);
  assertEquals(write.stats().pinned, []);
  read.close(); // throws if a guard were still counted
});

test("ReadHandle.size throws a TypeError on a closed handle", () => {
  const [, read] = create();
  const other = read.clone();
  other.close();
  assertInstanceOf(thrown(() => other.size), TypeError);
  assertEquals(read.size, 0);
});

// ------------------------------------------------------------ stats

test("ReadHandle.stats(): version, size, bytes, handles, maxReaders, writerClosed", () => {
  const [write, read] = create({ maxReaders: 5, key: codecs.int32 });
  const initial: ReadStats = read.stats();
  assertEquals(initial, {
    version: 0,
    size: 0,
    bytes: read.share().buffer.byteLength,
    openHandles: 1,
    maxReaders: 5,
    writerClosed: false,
  });
  assertBigger(initial.bytes, 0);
  assertEquals(initial.bytes, write.stats().bytesReserved);
  write.update((guard) => {
    for (let i = 0; i < 3; i++) guard.set(i, `${i}`);
  });
  const after = read.stats();
  assertEquals([after.version, after.size], [1, 3]);
  assertEquals(after.version, read.version);
  assertEquals(after.size, read.size);
  // Growth shows in bytes, as this thread sees the buffer now.
  write.update((guard) => {
    for (let i = 0; i < 20_000; i++) guard.set(i, "y".repeat(i % 50));
  });
  const grown = read.stats();
  assertBigger(grown.bytes, initial.bytes);
  assertEquals(grown.bytes, read.share().buffer.byteLength);
  assertEquals(grown.bytes, write.stats().bytesReserved);
  assertEquals([grown.version, grown.size], [2, 20_000]);
  // The figures are a snapshot, not live.
  assertEquals(after.version, 1);
  write.close();
  assertEquals(read.stats().writerClosed, true);
  assertEquals(read.stats().version, 2);
});

test("ReadHandle.stats().openHandles counts clones and attached handles, and drops on close", () => {
  const [, read] = create({ maxReaders: 4 });
  const open = () => read.stats().openHandles;
  assertEquals(open(), 1);
  const clone = read.clone();
  assertEquals(open(), 2);
  const attached = attach(read.share());
  assertEquals(open(), 3);
  const fourth = attached.clone();
  assertEquals(open(), 4);
  assertEquals(fourth.stats().openHandles, 4);
  assertEquals(read.stats().maxReaders, 4);
  clone.close();
  assertEquals(open(), 3);
  clone.close(); // twice: nothing more
  assertEquals(open(), 3);
  attached.close();
  fourth.close();
  assertEquals(open(), 1);
  // A freed slot is counted again when reused.
  const again = read.clone();
  assertEquals(open(), 2);
  again.close();
  assertEquals(open(), 1);
});

test("ReadHandle.stats() throws a TypeError on a closed handle", () => {
  const [, read] = create();
  const other = read.clone();
  other.close();
  assertInstanceOf(thrown(() => other.stats()), TypeError);
});

test("ReadHandle.stats().openHandles counts a worker's handle", async () => {
  const [write, read] = create({ key: codecs.string, value: codecs.number });
  write.update((guard) => guard.set("version", 1));
  await using worker = new TestWorker(WORKER);
  await worker.next("ready");
  const attached = await worker.request({
    type: "attach",
    token: read.share(),
  } as { type: string });
  assertEquals(attached.error, undefined);
  assertEquals(attached.version, 1);
  assertEquals(read.stats().openHandles, 2);
  assertEquals((await worker.request({ type: "close" })).error, undefined);
  assertEquals(read.stats().openHandles, 1);
});

// ------------------------------------------------------------ clear()

/** A map of one slot layout, with its keys and values by number. */
interface Layout {
  name: string;
  make(): [WriteHandle<unknown, unknown>, ReadHandle<unknown, unknown>];
  key(i: number): unknown;
  value(i: number): unknown;
}

/** Each slot layout: values kept in entries only, and in slots too. */
const layouts: Layout[] = [
  {
    name: "int32 keys, string values",
    make: () =>
      create({ key: codecs.int32, value: codecs.string, capacity: 1 }) as [
        WriteHandle<unknown, unknown>,
        ReadHandle<unknown, unknown>,
      ],
    key: (i) => i,
    value: (i) => `value ${i} `.repeat(1 + (i % 4)),
  },
  {
    name: "string keys, int32 values",
    make: () =>
      create({ key: codecs.string, value: codecs.int32, capacity: 1 }) as [
        WriteHandle<unknown, unknown>,
        ReadHandle<unknown, unknown>,
      ],
    key: (i) => `key ${i}`,
    value: (i) => i * 7,
  },
];

/** The entries `[key(i), value(i)]` for `i` in `from..to-1`, sorted. */
function expected<K, V>(
  layout: { key: (i: number) => K; value: (i: number) => V },
  from: number,
  to: number,
): Map<K, V> {
  const map = new Map<K, V>();
  for (let i = from; i < to; i++) map.set(layout.key(i), layout.value(i));
  return sorted(map);
}

for (const layout of layouts) {
  test(`WriteGuard.clear() removes every entry, in each copy (${layout.name})`, () => {
    const [write, read] = layout.make();
    const { key, value } = layout;
    // Rounds: each clears what the last put in, so every copy of the index
    // (the retired ones, when the next guard replays onto them) sees clears.
    for (let round = 0; round < 6; round++) {
      const from = round * 100;
      write.update((guard) => {
        for (let i = from; i < from + 80; i++) guard.set(key(i), value(i));
      });
      assertEquals(read.size, 80);
      {
        using guard = write.guard();
        assertEquals(snapshot(guard), expected(layout, from, from + 80));
        guard.clear();
        assertEquals(guard.size, 0);
        assertEquals([...guard], []);
        for (let i = from; i < from + 80; i += 7) {
          assertEquals(guard.has(key(i)), false);
          assertEquals(guard.get(key(i)), undefined);
        }
        assertEquals(read.size, 80); // not published yet
      }
      assertEquals(read.size, 0);
      assertEquals(read.get(key(from)), undefined);
      using view = read.guard();
      assertEquals([...view], []);
      assertEquals([...view.keys()], []);
      // The next guard opens on a retired copy, replayed: it is empty too.
      using guard = write.guard();
      assertEquals(guard.size, 0);
      assertEquals(snapshot(guard), new Map());
      guard.set(key(-1), value(1));
      guard.delete(key(-1));
    }
    // The map works on: entries come back after clears.
    write.update((guard) => {
      for (let i = 0; i < 50; i++) guard.set(key(i), value(i));
    });
    using view = read.guard();
    assertEquals(snapshot(view), expected(layout, 0, 50));
    for (let i = 0; i < 60; i++) {
      assertEquals(view.get(key(i)), i < 50 ? value(i) : undefined);
    }
  });
}

test("WriteGuard.clear(): readers' older guards keep their entries", () => {
  const [write, read] = create({ key: codecs.int32, value: codecs.string });
  write.update((guard) => {
    for (let i = 0; i < 100; i++) guard.set(i, `old ${i}`);
  });
  const before = read.guard();
  const beforeEntries = snapshot(before);
  const other = read.clone();
  write.update((guard) => {
    guard.clear();
    guard.set(1, "new 1");
  });
  const between = other.guard();
  write.update((guard) => guard.clear());
  // Nothing a held guard reads changes, whatever is published after it.
  for (let round = 0; round < 5; round++) {
    write.update((guard) => {
      if (round % 2 === 0) guard.clear();
      for (let i = 0; i < 40 - round; i++) guard.set(i, `round ${round}`);
    });
    assertEquals(snapshot(before), beforeEntries);
    assertEquals(before.size, 100);
    assertEquals(before.get(50), "old 50");
    assertEquals(snapshot(between), new Map([[1, "new 1"]]));
  }
  assertEquals(
    write.stats().pinned.map((pinned) => pinned.version),
    [before.version, between.version],
  );
  before.release();
  between.release();
  write.synchronize();
  assertEquals(write.stats().pinned, []);
  assertEquals(
    latest(read),
    expected({ key: (i) => i, value: () => "round 4" }, 0, 36),
  );
  other.close();
});

test("WriteGuard.clear() then abort() puts every entry back", () => {
  for (const layout of layouts) {
    const [write, read] = layout.make();
    const { key, value } = layout;
    write.update((guard) => {
      for (let i = 0; i < 60; i++) guard.set(key(i), value(i));
    });
    const published = expected(layout, 0, 60);
    // Changes before and after the clear, all taken back.
    {
      using guard = write.guard();
      guard.set(key(0), value(1000));
      guard.set(key(500), value(500));
      guard.delete(key(1));
      guard.clear();
      guard.set(key(2), value(2000));
      guard.set(key(600), value(600));
      guard.clear();
      guard.set(key(3), value(3000));
      guard.abort();
      assertEquals(guard.aborted, true);
    }
    assertEquals(read.version, 1);
    assertEquals(latest(read), published);
    // The writer's copy is the published version again, and stays so.
    {
      using guard = write.guard();
      assertEquals(snapshot(guard), published);
      guard.set(key(700), value(700));
    }
    published.set(key(700), value(700));
    assertEquals(latest(read), sorted(published));
    // update() aborts a throwing batch that cleared.
    assertThrows(() =>
      write.update((guard) => {
        guard.clear();
        throw new Error("half way");
      })
    );
    assertEquals(latest(read), sorted(published));
    using guard = write.guard();
    assertEquals(snapshot(guard), sorted(published));
  }
});

test("WriteGuard.clear() then insert in the same guard", () => {
  const [write, read] = create({ key: codecs.string, value: codecs.number });
  write.update((guard) => guard.set("a", 1).set("b", 2).set("c", 3));
  {
    using guard = write.guard();
    guard.clear();
    // Keys that were there before the clear are new again.
    assertEquals(guard.insert("a", 10), undefined);
    assertEquals(guard.insert("d", 4), undefined);
    assertEquals(guard.insert("a", 11), 10);
    assertEquals(guard.has("b"), false);
    assertEquals(guard.size, 2);
    guard.clear();
    guard.clear(); // twice
    assertEquals(guard.size, 0);
    guard.set("e", 5).set("a", 12);
  }
  assertEquals(latest(read), new Map([["a", 12], ["e", 5]]));
  // Replayed onto the other copy: the next guard agrees.
  {
    using guard = write.guard();
    assertEquals(snapshot(guard), new Map([["a", 12], ["e", 5]]));
  }
  assertEquals(read.version, 2);
});

test("WriteGuard.clear() on an empty map changes nothing and publishes nothing", () => {
  const [write, read] = create();
  write.update((guard) => guard.clear());
  {
    using guard = write.guard();
    guard.clear();
    guard.clear();
    assertEquals(guard.size, 0);
  }
  assertEquals([write.version, read.version, read.size], [0, 0, 0]);
  // A map emptied by removals is empty too.
  write.update((guard) => guard.set("a", "1"));
  write.update((guard) => guard.delete("a"));
  write.update((guard) => guard.clear());
  assertEquals([write.version, read.size], [2, 0]);
  write.update((guard) => guard.set("b", "2"));
  assertEquals(read.get("b"), "2");
});

test("WriteGuard.clear() and replace()", () => {
  const [write, read] = create({ key: codecs.string, value: codecs.number });
  write.update((guard) => guard.set("hits", 1).set("other", 5));
  {
    using guard = write.guard();
    assertEquals(guard.replace("hits", (n) => n + 1), 1);
    guard.clear();
    // An absent key: update is not called.
    let called = false;
    assertEquals(
      guard.replace("hits", (n) => {
        called = true;
        return n;
      }),
      undefined,
    );
    assertEquals(called, false);
    guard.set("hits", 100);
    assertEquals(guard.replace("hits", (n) => n + 1), 100);
  }
  assertEquals(latest(read), new Map([["hits", 101]]));
  // replace, clear, abort: the value before the guard comes back.
  {
    using guard = write.guard();
    guard.replace("hits", (n) => n * 2);
    guard.clear();
    guard.abort();
  }
  assertEquals(read.get("hits"), 101);
  // clear() from inside an update is refused and changes nothing.
  {
    using guard = write.guard();
    assertThrows(
      () =>
        guard.replace("hits", (n) => {
          guard.clear();
          return n + 1;
        }),
      TypeError,
    );
    assertEquals(guard.get("hits"), 101);
    assertEquals(guard.size, 1);
  }
  assertEquals(read.get("hits"), 101);
});

test("WriteGuard.clear() after publish() or abort() throws a TypeError", () => {
  const [write, read] = create();
  write.update((guard) => guard.set("a", "1"));
  const published = write.guard();
  published.set("b", "2");
  published.publish();
  assertThrows(() => published.clear(), TypeError);
  const aborted = write.guard();
  aborted.abort();
  assertThrows(() => aborted.clear(), TypeError);
  assertEquals(read.size, 2);
});

/** Entries held by the map, with their memory freed only when unreachable. */
function fill(
  guard: WriteGuard<number, string>,
  from: number,
  to: number,
  tag: string,
) {
  for (let i = from; i < to; i++) guard.set(i, `${tag}:${i}:`.repeat(4));
}

test("WriteGuard.clear() frees what removing each entry frees, once readers leave", () => {
  // Two maps go through the same versions; one empties itself by clear(),
  // the other by deleting each key. Tables do not shrink on removal, so the
  // comparison is with the map that removed its entries one by one.
  const maps = [create({ key: codecs.int32 }), create({ key: codecs.int32 })];
  const bytes: number[][] = [[], []];
  maps.forEach(([write, read], which) => {
    for (let round = 0; round < 5; round++) {
      write.update((guard) => fill(guard, 0, 400, `r${round}`));
      const view = read.guard(); // pins the full version across the clear
      write.update((guard) => {
        if (which === 0) guard.clear();
        else for (let i = 0; i < 400; i++) guard.delete(i);
      });
      write.update((guard) => fill(guard, 0, 10, `after${round}`));
      assertEquals(view.size, 400);
      view.release();
      write.synchronize();
      assertEquals(write.stats().pinned, []);
      bytes[which].push(write.stats().bytesInUse);
    }
    assertEquals(read.size, 10);
  });
  assertEquals(bytes[0], bytes[1]);
  // No drift over the rounds.
  assertEquals(new Set(bytes[0]).size, 1, `bytes in use: ${bytes[0]}`);
});

test("WriteGuard.clear(): memory does not drift over rounds of fill, clear and pinned guards", () => {
  const [write, read] = create({ key: codecs.int32 });
  const other = read.clone();
  const rounds: number[] = [];
  for (let round = 0; round < 8; round++) {
    const held: ReadGuard<number, string>[] = [];
    write.update((guard) => fill(guard, 0, 300, `a${round}`));
    held.push(read.guard());
    write.update((guard) => {
      guard.clear();
      fill(guard, 100, 200, `b${round}`);
    });
    held.push(other.guard());
    write.update((guard) => fill(guard, 150, 250, `c${round}`));
    write.update((guard) => guard.clear());
    write.update((guard) => fill(guard, 0, 20, `d${round}`));
    for (const guard of held) guard.release();
    write.synchronize();
    assertEquals(write.stats().pinned, []);
    rounds.push(write.stats().bytesInUse);
    assertEquals(latest(read).size, 20);
  }
  assertEquals(new Set(rounds).size, 1, `bytes in use: ${rounds}`);
  other.close();
});

// A model test: random batches of sets, deletes, clears and replaces, each
// published or aborted, against a `Map`, with read guards held across
// publishes (checked never to change) and synchronizes.

type Op =
  | { op: "set"; key: number; size: number }
  | { op: "delete"; key: number }
  | { op: "replace"; key: number }
  | { op: "clear" }
  | { op: "publish" }
  | { op: "abort" }
  | { op: "open" }
  | { op: "release"; which: number }
  | { op: "synchronize" };

const KEYS = 40;

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      op: fc.constant("set" as const),
      key: fc.nat(KEYS),
      size: fc.nat(30),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("delete" as const),
      key: fc.nat(KEYS),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("replace" as const),
      key: fc.nat(KEYS),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: "clear" as const }) },
  { weight: 3, arbitrary: fc.constant({ op: "publish" as const }) },
  { weight: 1, arbitrary: fc.constant({ op: "abort" as const }) },
  { weight: 2, arbitrary: fc.constant({ op: "open" as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("release" as const),
      which: fc.nat(7),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: "synchronize" as const }) },
);

function runModel<K, V>(
  ops: Op[],
  keyCodec: KeyCodec<K>,
  valueCodec: Codec<V>,
  toKey: (n: number) => K,
  toValue: (n: number, size: number) => V,
  bump: (value: V) => V,
  maxCopies: number,
): void {
  const [write, read] = create({
    key: keyCodec,
    value: valueCodec,
    capacity: 1,
    maxCopies,
  });
  let published = new Map<K, V>();
  let model = new Map<K, V>();
  let version = 0;
  let dirty = false;
  let counter = 0;
  const open: { guard: ReadGuard<K, V>; expected: Map<K, V> }[] = [];
  let guard = null as WriteGuard<K, V> | null;
  /**
   * The writer's next copy must fit in `maxCopies` with the current one and
   * the pinned ones: release the oldest guards first (they are this
   * thread's, so the writer could not wait for them).
   */
  const makeRoom = () => {
    for (;;) {
      const pinned = new Set(
        open.map((held) => held.guard.version).filter((v) => v < version),
      );
      if (2 + pinned.size <= maxCopies) return;
      const oldest = Math.min(...pinned);
      for (let i = open.length - 1; i >= 0; i--) {
        if (open[i].guard.version === oldest) {
          open[i].guard.release();
          open.splice(i, 1);
        }
      }
    }
  };
  const writer = () => {
    if (guard === null) {
      makeRoom();
      guard = write.guard();
      assertEquals(snapshot(guard), sorted(published));
    }
    return guard;
  };
  for (const step of ops) {
    switch (step.op) {
      case "set": {
        const key = toKey(step.key);
        const value = toValue(counter++, step.size);
        writer().set(key, value);
        model.set(key, value);
        dirty = true;
        break;
      }
      case "delete": {
        const key = toKey(step.key);
        const g = writer();
        const had = model.delete(key);
        assertEquals(g.delete(key), had);
        if (had) dirty = true;
        break;
      }
      case "replace": {
        const key = toKey(step.key);
        const before = model.get(key);
        assertEquals(writer().replace(key, bump), before);
        if (before !== undefined) {
          model.set(key, bump(before));
          dirty = true;
        }
        break;
      }
      case "clear": {
        const g = writer();
        if (model.size > 0) dirty = true;
        g.clear();
        model.clear();
        assertEquals(g.size, 0);
        break;
      }
      case "publish": {
        if (guard === null) break;
        assertEquals(snapshot(guard), sorted(model));
        const before = write.version;
        guard.publish();
        guard = null;
        // A guard that changed anything makes a version; others none.
        assertEquals(write.version, dirty ? before + 1 : before);
        version = write.version;
        published = new Map(model);
        dirty = false;
        break;
      }
      case "abort": {
        if (guard === null) break;
        guard.abort();
        guard = null;
        model = new Map(published);
        dirty = false;
        break;
      }
      case "open": {
        const view = read.guard();
        assertEquals(view.version, version);
        assertEquals(snapshot(view), sorted(published));
        open.push({ guard: view, expected: sorted(published) });
        break;
      }
      case "release": {
        if (open.length === 0) break;
        const [held] = open.splice(step.which % open.length, 1);
        // A held guard never changes, whatever was cleared since.
        assertEquals(snapshot(held.guard), held.expected);
        held.guard.release();
        break;
      }
      case "synchronize": {
        if (guard !== null) break;
        makeRoom();
        write.synchronize();
        break;
      }
    }
  }
  if (guard !== null) guard.publish();
  for (const held of open) {
    assertEquals(snapshot(held.guard), held.expected);
    held.guard.release();
  }
  write.synchronize();
  assertEquals(write.stats().pinned, []);
  assertEquals(write.stats().waits, 0);
  assertEquals(latest(read), sorted(model));
  assertEquals(read.size, model.size);
  for (let n = 0; n <= KEYS; n++) {
    assertEquals(read.get(toKey(n)), model.get(toKey(n)));
  }
  // No entry leaked: filled with every key then cleared, the map uses
  // what a fresh map filled and cleared alike uses (tables of the same size).
  const emptied = (handle: WriteHandle<K, V>) => {
    handle.update((g) => {
      for (let n = 0; n <= KEYS; n++) g.set(toKey(n), toValue(n, 5));
    });
    handle.update((g) => g.clear());
    handle.synchronize();
    return handle.stats().bytesInUse;
  };
  const [fresh] = create({
    key: keyCodec,
    value: valueCodec,
    capacity: 1,
    maxCopies,
  });
  assertEquals(emptied(write), emptied(fresh));
  fresh.close();
  read.close();
  write.close();
}

const runs = { numRuns: 200, endOnFailure: true };
const maxCopiesArbitrary = fc.constantFrom(2, 3, 8);
const opsArbitrary = fc.array(opArbitrary, { maxLength: 200, size: "max" });

test("clear() in a Map model: int32 keys, string values", () => {
  fc.assert(
    fc.property(opsArbitrary, maxCopiesArbitrary, (ops, maxCopies) =>
      runModel(
        ops,
        codecs.int32,
        codecs.string,
        (n) => n,
        (n, size) => `${n}:`.padEnd(size + 2, "v"),
        (value) => value + "+",
        maxCopies,
      )),
    runs,
  );
});

test("clear() in a Map model: string keys, int32 values (values in slots)", () => {
  fc.assert(
    fc.property(opsArbitrary, maxCopiesArbitrary, (ops, maxCopies) =>
      runModel(
        ops,
        codecs.string,
        codecs.int32,
        (n) => `k${n}`,
        (n) => n,
        (value) => value + 1,
        maxCopies,
      )),
    runs,
  );
});

// ------------------------------------------------------------ attach typing

test("attach() types the handle from its token", () => {
  const [, read] = create({ key: codecs.int32, value: codecs.number });
  const fromShare = attach(read.share());
  assertType<IsExact<typeof fromShare, ReadHandle<number, number>>>(true);

  // What a worker receives is untyped: the token names the types.
  // deno-lint-ignore no-explicit-any
  const received: any = structuredClone(read.share());
  const named = attach(received as ReadToken<number, number>);
  assertType<IsExact<typeof named, ReadHandle<number, number>>>(true);
  const typedOther = attach(
    structuredClone(read.share()) as unknown as ReadToken<number, string>,
  );
  assertType<IsExact<typeof typedOther, ReadHandle<number, string>>>(true);

  // Untyped: unknown keys and values, never a silent <string, string>.
  const untyped = attach(received);
  assertType<IsExact<typeof untyped, ReadHandle<unknown, unknown>>>(true);
  assertType<IsExact<typeof untyped, ReadHandle<string, string>>>(false);
  // deno-lint-ignore no-explicit-any
  const event = new MessageEvent<any>("message", { data: read.share() });
  const fromEvent = attach(event.data);
  assertType<IsExact<typeof fromEvent, ReadHandle<unknown, unknown>>>(true);
  const guard = fromEvent.guard();
  assertType<IsExact<ReturnType<typeof guard.get>, unknown>>(true);
  guard.release();

  // Explicit type arguments still work.
  const explicit = attach<number, number>(received);
  assertType<IsExact<typeof explicit, ReadHandle<number, number>>>(true);

  // At run time all of them read the same map.
  for (const handle of [fromShare, named, untyped, fromEvent, explicit]) {
    assertEquals(handle.get(1 as never), undefined);
    handle.close();
  }
  typedOther.close();
});
