/**
 * Misuse: every wrong call throws a clear error, and leaves the map exactly
 * as it was. After each error the tests read the whole map back through a
 * fresh read guard (and, where a write guard is involved, through the
 * guard itself), then go on using the map.
 *
 * @module
 */

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
  BufferFullError,
  type Codec,
  codecs,
  create,
  DeadlockError,
  ReaderLimitError,
  type ReadHandle,
  type ReadToken,
  type WriteGuard,
  type WriteHandle,
} from "@x/flashmap";
import { pinnedReaders } from "./utils.ts";

// ---------------------------------------------------------------- helpers

/** Passes a value of the wrong type past the type checker. */
function wrong<T>(value: unknown): T {
  return value as T;
}

type ErrorClass = new (message: string) => Error;

/** Asserts the published contents of the map, through a fresh read guard. */
function assertPublished<K, V>(
  read: ReadHandle<K, V>,
  expected: ReadonlyMap<K, V>,
): void {
  using view = read.guard();
  assertEquals(view.size, expected.size, "published size");
  assertEquals(new Map(view.entries()), expected, "published entries");
  for (const [key, value] of expected) assertEquals(read.get(key), value);
}

/** Asserts what a live write guard sees. */
function assertGuardView<K, V>(
  guard: WriteGuard<K, V>,
  expected: ReadonlyMap<K, V>,
): void {
  assertEquals(guard.size, expected.size, "write guard size");
  assertEquals(new Map(guard.entries()), expected, "write guard entries");
  for (const [key, value] of expected) assertEquals(guard.get(key), value);
}

/** A string map with three published entries, and their model. */
function seeded(options: { maxCopies?: number } = {}): [
  WriteHandle<string, string>,
  ReadHandle<string, string>,
  Map<string, string>,
] {
  const [write, read] = create({ capacity: 4, ...options });
  const model = new Map([["a", "1"], ["b", "2"], ["c", "3"]]);
  {
    using guard = write.guard();
    for (const [key, value] of model) guard.insert(key, value);
  }
  assertPublished(read, model);
  return [write, read, model];
}

/**
 * Opens a write guard, makes one unpublished change (`pending`), runs the
 * misuse, and checks that it threw `errorClass` and changed nothing: the
 * guard still sees the published entries plus `pending`, readers still see
 * only the published ones. Then publishes the guard and checks that readers
 * see `pending` too; `published` is updated to match.
 */
function assertMisuseInGuard<K, V>(
  write: WriteHandle<K, V>,
  read: ReadHandle<K, V>,
  published: Map<K, V>,
  pending: [K, V],
  misuse: (guard: WriteGuard<K, V>) => unknown,
  errorClass: ErrorClass,
  msgIncludes?: string,
): Error {
  const guard = write.guard();
  guard.insert(...pending);
  const expected = new Map(published).set(...pending);
  const error = assertThrows(() => misuse(guard), errorClass, msgIncludes);
  assertGuardView(guard, expected);
  assertPublished(read, published);
  // The guard goes on working.
  assert(guard.has(pending[0]));
  guard.publish();
  published.set(...pending);
  assertPublished(read, published);
  return error;
}

// ---------------------------------------------------------------- keys and values the codec cannot take

Deno.test("WriteGuard.insert() throws a TypeError for a number key in a string map", () => {
  const [write, read, model] = seeded();
  assertMisuseInGuard(
    write,
    read,
    model,
    ["d", "4"],
    (guard) => guard.insert(wrong(1), "x"),
    TypeError,
    "string",
  );
  for (const key of [null, undefined, {}, ["a"], Symbol("a"), 1n, true]) {
    assertMisuseInGuard(
      write,
      read,
      model,
      [`after ${String(key)}`, "ok"],
      (guard) => guard.insert(wrong(key), "x"),
      TypeError,
      "string",
    );
  }
});

Deno.test("WriteGuard.insert() throws a TypeError for a value of the wrong type", () => {
  const [write, read, model] = seeded();
  for (const value of [1, null, undefined, {}, new Uint8Array(1), false, 2n]) {
    assertMisuseInGuard(
      write,
      read,
      model,
      [`after ${typeof value}`, "ok"],
      (guard) => guard.insert("a", wrong(value)),
      TypeError,
      "string",
    );
  }
  const [numberWrite, numberRead] = create({ value: codecs.number });
  const numbers = new Map<string, number>();
  assertMisuseInGuard(
    numberWrite,
    numberRead,
    numbers,
    ["x", 1],
    (guard) => guard.insert("y", wrong("1")),
    TypeError,
    "number",
  );
  const [bytesWrite, bytesRead] = create({ value: codecs.bytes });
  assertMisuseInGuard(
    bytesWrite,
    bytesRead,
    new Map(),
    ["x", Uint8Array.of(1)],
    (guard) => guard.insert("y", wrong([1, 2])),
    TypeError,
    "Uint8Array",
  );
});

Deno.test("WriteGuard.insert() throws a RangeError for an int32 key or value out of range", () => {
  const [write, read] = create({ key: codecs.int32, value: codecs.int32 });
  const model = new Map<number, number>();
  let next = 0;
  for (
    const bad of [2 ** 31, -(2 ** 31) - 1, 1.5, -0.5, NaN, Infinity, 2 ** 32]
  ) {
    assertMisuseInGuard(
      write,
      read,
      model,
      [next, next++],
      (guard) => guard.insert(bad, 0),
      RangeError,
      "int32",
    );
    assertMisuseInGuard(
      write,
      read,
      model,
      [next, next++],
      (guard) => guard.insert(0, bad),
      RangeError,
      "int32",
    );
  }
  assertMisuseInGuard(
    write,
    read,
    model,
    [next, next++],
    (guard) => guard.insert(wrong("1"), 0),
    TypeError,
    "int32",
  );
});

Deno.test("WriteGuard.insert() throws a RangeError for a bigint key or value out of 64-bit range", () => {
  const [write, read] = create({ key: codecs.bigint, value: codecs.bigint });
  const model = new Map<bigint, bigint>();
  let next = 0n;
  for (const bad of [2n ** 63n, -(2n ** 63n) - 1n, 2n ** 64n, -(2n ** 100n)]) {
    assertMisuseInGuard(
      write,
      read,
      model,
      [next, next++],
      (guard) => guard.insert(bad, 0n),
      RangeError,
      "64-bit",
    );
    assertMisuseInGuard(
      write,
      read,
      model,
      [next, next++],
      (guard) => guard.insert(0n, bad),
      RangeError,
      "64-bit",
    );
  }
  assertMisuseInGuard(
    write,
    read,
    model,
    [next, next++],
    (guard) => guard.insert(wrong(1), 0n),
    TypeError,
  );
});

class Point {
  constructor(readonly x: number) {}
}

Deno.test("WriteGuard.insert() throws a TypeError for a value that is not JSON data", () => {
  const [write, read] = create({ value: codecs.json<unknown>() });
  const model = new Map<string, unknown>([["kept", { a: [1, null] }]]);
  {
    using guard = write.guard();
    guard.insert("kept", { a: [1, null] });
  }
  const cycle: Record<string, unknown> = { name: "cycle" };
  cycle.self = cycle;
  const deepCycle: unknown[] = [1, { list: [] as unknown[] }];
  (deepCycle[1] as { list: unknown[] }).list.push(deepCycle);
  const notJson: [string, unknown][] = [
    ["undefined", undefined],
    ["a function", () => 1],
    ["a cycle", cycle],
    ["a deep cycle", deepCycle],
    ["NaN", NaN],
    ["Infinity", Infinity],
    ["a Date", new Date(0)],
    ["a class instance", new Point(1)],
    ["a Map", new Map()],
    ["a Uint8Array", new Uint8Array(1)],
    ["a Symbol", Symbol("s")],
    ["a BigInt", 1n],
    ["undefined inside an object", { a: 1, b: undefined }],
    ["a function inside an array", [1, () => 2]],
    ["a BigInt deep inside", { a: [{ b: [10n] }] }],
    ["a Date inside", { when: new Date(0) }],
  ];
  let i = 0;
  for (const [what, value] of notJson) {
    const error = assertMisuseInGuard(
      write,
      read,
      model,
      [`after ${what}`, i++],
      (guard) => guard.insert("kept", value),
      TypeError,
      "JSON",
    );
    assert(error.message.length < 500, `a short message for ${what}`);
  }
  // The same values are refused by replace() too, and the entry is kept.
  assertMisuseInGuard(
    write,
    read,
    model,
    ["after replace", i++],
    (guard) => guard.replace("kept", () => cycle),
    TypeError,
    "cycle",
  );
  // A shared (acyclic) object is fine.
  const shared = { n: 1 };
  {
    using guard = write.guard();
    guard.insert("shared", [shared, shared]);
  }
  assertEquals(read.get("shared"), [{ n: 1 }, { n: 1 }]);
});

Deno.test("ReadHandle.get() and has() throw a TypeError for a key of the wrong type", () => {
  const [write, read, model] = seeded();
  for (const key of [1, null, undefined, {}, 1n]) {
    assertThrows(() => read.get(wrong(key)), TypeError, "string");
    assertThrows(() => read.has(wrong(key)), TypeError, "string");
    assertPublished(read, model);
  }
  const [intWrite, intRead] = create({ key: codecs.int32 });
  {
    using guard = intWrite.guard();
    guard.insert(1, "one");
  }
  assertThrows(() => intRead.get(1.5), RangeError, "int32");
  assertThrows(() => intRead.has(2 ** 31), RangeError, "int32");
  assertThrows(() => intRead.get(wrong("1")), TypeError, "int32");
  assertPublished(intRead, new Map([[1, "one"]]));
  // Nothing was left entered: once a publish retires the version the reads
  // used, no guard pins it, and the writer has nothing to wait for.
  write.update((guard) => guard.set("a", model.get("a")!));
  intWrite.update((guard) => guard.set(1, "one"));
  assertEquals(pinnedReaders(write), []);
  assertEquals(pinnedReaders(intWrite), []);
  write.guard().publish();
  intWrite.guard().publish();
});

Deno.test("ReadGuard.get() and has() throw a TypeError for a key of the wrong type", () => {
  const [write, read, model] = seeded();
  {
    using view = read.guard();
    assertThrows(() => view.get(wrong(1)), TypeError, "string");
    assertThrows(() => view.has(wrong(null)), TypeError, "string");
    // The guard still reads.
    assertEquals(view.get("a"), "1");
    assertEquals(view.size, model.size);
  }
  assertPublished(read, model);
  write.guard().publish();
});

Deno.test("WriteGuard.get(), has(), remove() and replace() throw a TypeError for a key of the wrong type", () => {
  const [write, read, model] = seeded();
  const misuses: ((guard: WriteGuard<string, string>) => unknown)[] = [
    (guard) => guard.get(wrong(1)),
    (guard) => guard.has(wrong(1)),
    (guard) => guard.remove(wrong(1)),
    (guard) => guard.replace(wrong(1), (v) => v),
  ];
  misuses.forEach((misuse, i) => {
    assertMisuseInGuard(
      write,
      read,
      model,
      [`k${i}`, `v${i}`],
      misuse,
      TypeError,
      "string",
    );
  });
});

// ---------------------------------------------------------------- replace()

Deno.test("WriteGuard.replace() passes on the update's error and leaves the map unchanged", () => {
  const [write, read, model] = seeded();
  const thrown = new SyntaxError("update failed");
  let calls = 0;
  const error = assertMisuseInGuard(
    write,
    read,
    model,
    ["d", "4"],
    (guard) =>
      guard.replace("a", (previous) => {
        calls++;
        assertEquals(previous, "1");
        throw thrown;
      }),
    SyntaxError,
  );
  assertStrictEquals(error, thrown);
  assertEquals(calls, 1);
  // Replacing an unpublished entry: the update's error leaves it too.
  {
    using guard = write.guard();
    guard.insert("e", "5");
    assertThrows(
      () =>
        guard.replace("e", () => {
          throw new Error("no");
        }),
      Error,
      "no",
    );
    assertEquals(guard.get("e"), "5");
    assertEquals(guard.replace("e", (v) => v + "!"), "5");
  }
  model.set("e", "5!");
  assertPublished(read, model);
});

Deno.test("WriteGuard.replace() throws a TypeError when the update returns the wrong type", () => {
  const [write, read, model] = seeded();
  assertMisuseInGuard(
    write,
    read,
    model,
    ["d", "4"],
    (guard) => guard.replace("a", () => wrong(42)),
    TypeError,
    "string",
  );
  assertMisuseInGuard(
    write,
    read,
    model,
    ["e", "5"],
    (guard) => guard.replace("b", wrong("not a function")),
    TypeError,
    "function",
  );
  const [intWrite, intRead] = create({
    key: codecs.int32,
    value: codecs.int32,
  });
  const ints = new Map([[1, 1]]);
  {
    using guard = intWrite.guard();
    guard.insert(1, 1);
  }
  assertMisuseInGuard(
    intWrite,
    intRead,
    ints,
    [2, 2],
    (guard) => guard.replace(1, () => 2 ** 31),
    RangeError,
    "int32",
  );
});

Deno.test("WriteGuard.replace() of a missing key does not call the update", () => {
  const [write, read, model] = seeded();
  {
    using guard = write.guard();
    let calls = 0;
    assertStrictEquals(
      guard.replace("missing", () => {
        calls++;
        return "x";
      }),
      undefined,
    );
    assertEquals(calls, 0);
    assertEquals(guard.has("missing"), false);
    assertGuardView(guard, model);
  }
  assertPublished(read, model);
});

Deno.test("WriteGuard.insert() throws a TypeError when called from inside a replace() update", () => {
  const [write, read, model] = seeded();
  // Left uncaught, the error ends the replace: nothing changes.
  assertMisuseInGuard(
    write,
    read,
    model,
    ["d", "4"],
    (guard) =>
      guard.replace("a", () => {
        guard.insert("sneaky", "x");
        return "never";
      }),
    TypeError,
    "replace",
  );
  // Caught inside the update, the replace goes on; the nested calls did not.
  {
    using guard = write.guard();
    const errors: unknown[] = [];
    const previous = guard.replace("a", (old) => {
      for (
        const nested of [
          () => guard.insert("sneaky", "x"),
          () => guard.remove("b"),
          () => guard.replace("c", () => "y"),
        ]
      ) {
        try {
          nested();
        } catch (error) {
          errors.push(error);
        }
      }
      return old + "!";
    });
    assertEquals(previous, "1");
    assertEquals(errors.length, 3);
    for (const error of errors) assertInstanceOf(error, TypeError);
    model.set("a", "1!");
    assertGuardView(guard, model);
  }
  assertPublished(read, model);
});

Deno.test({
  name:
    "WriteGuard.publish() from inside a replace() update throws a TypeError and changes nothing",
  fn() {
    const [write, read, model] = seeded();
    const snapshot = read.guard();
    const guard = write.guard();
    guard.insert("d", "4");
    const expected = new Map(model).set("d", "4");
    assertThrows(
      () =>
        guard.replace("a", (previous) => {
          guard.publish();
          return previous + "!";
        }),
      TypeError,
    );
    // Either the nested publish was refused, or it happened without the
    // replace; never does the replace reach a copy readers can see.
    assertEquals(new Map(snapshot), model, "a live snapshot changed");
    if (guard.published) {
      assertPublished(read, expected);
    } else {
      assertGuardView(guard, expected);
      assertPublished(read, model);
      guard.publish();
    }
    snapshot.release();
    assertPublished(read, expected);
    using next = write.guard();
    assertGuardView(next, expected);
  },
});

Deno.test({
  name:
    "WriteGuard.replace() keeps the map consistent when the value codec writes to the guard",
  fn() {
    let sneak: (() => void) | undefined;
    const sneaky: Codec<string> = {
      name: "test.sneaky",
      canonical: false,
      encode(text) {
        const run = sneak;
        sneak = undefined;
        run?.();
        return new TextEncoder().encode(text);
      },
      decode: (bytes) => new TextDecoder().decode(bytes),
    };
    const [write, read] = create({ value: sneaky });
    const guard = write.guard();
    guard.insert("a", "1");
    const expected = new Map([["a", "1"]]);
    sneak = () => {
      for (let i = 0; i < 20; i++) {
        guard.insert(`k${i}`, "v");
        expected.set(`k${i}`, "v");
      }
    };
    try {
      guard.replace("a", () => "2");
      expected.set("a", "2");
    } catch (error) {
      // Refusing the nested writes would be fine too.
      assertInstanceOf(error, TypeError);
    }
    assertGuardView(guard, expected);
    assertEquals([...guard.keys()].filter((key) => key === "a").length, 1);
    guard.publish();
    assertPublished(read, expected);
  },
});

// ---------------------------------------------------------------- released read guards

Deno.test("ReadGuard methods throw a TypeError once the guard is released", () => {
  const [write, read, model] = seeded();
  const view = read.guard();
  view.release();
  assert(view.released);
  assertThrows(() => view.get("a"), TypeError, "released");
  assertThrows(() => view.has("a"), TypeError, "released");
  assertThrows(() => view.size, TypeError, "released");
  assertThrows(() => view.keys(), TypeError, "released");
  assertThrows(() => view.values(), TypeError, "released");
  assertThrows(() => view.entries(), TypeError, "released");
  assertThrows(() => [...view], TypeError, "released");
  assertThrows(() => {
    for (const _ of view) break;
  }, TypeError);
  // Releasing again, or disposing, is fine.
  view.release();
  view[Symbol.dispose]();
  assert(view.released);
  assertPublished(read, model);
  // The released guard holds nothing: the writer neither waits nor deadlocks.
  {
    using guard = write.guard();
    guard.insert("d", "4");
  }
  {
    using guard = write.guard();
    guard.insert("e", "5");
  }
  model.set("d", "4").set("e", "5");
  assertEquals(pinnedReaders(write), []);
  assertPublished(read, model);
  read.close();
});

Deno.test("ReadGuard[Symbol.dispose]() may be called more than once", () => {
  const [write, read, model] = seeded();
  {
    using view = read.guard();
    view[Symbol.dispose]();
    view[Symbol.dispose]();
    assertThrows(() => view.get("a"), TypeError);
  } // disposed a third time here
  assertPublished(read, model);
  {
    using guard = write.guard();
    guard.insert("d", "4");
  }
  write.synchronize();
  read.close();
});

Deno.test("ReadGuard iterators throw a TypeError when used after the guard was released", () => {
  const [write, read, model] = seeded();
  const view = read.guard();
  const keys = view.keys();
  const values = view.values();
  const entries = view.entries();
  const iterator = view[Symbol.iterator]();
  const first = iterator.next();
  assertEquals(first.done, false);
  view.release();
  assertThrows(() => keys.next(), TypeError, "released");
  assertThrows(() => values.next(), TypeError, "released");
  assertThrows(() => entries.next(), TypeError, "released");
  assertThrows(() => iterator.next(), TypeError, "released");
  assertPublished(read, model);
  {
    using guard = write.guard();
    guard.insert("d", "4");
  }
  write.synchronize();
});

// ---------------------------------------------------------------- closed read handles

Deno.test("ReadHandle methods throw a TypeError once the handle is closed", () => {
  const [write, read, model] = seeded();
  const other = read.clone();
  other.close();
  assert(other.closed);
  assertThrows(() => other.guard(), TypeError, "closed");
  assertThrows(() => other.get("a"), TypeError, "closed");
  assertThrows(() => other.has("a"), TypeError, "closed");
  assertThrows(() => other.clone(), TypeError, "closed");
  assertThrows(() => other.share(), TypeError, "closed");
  // Closing again, or disposing, is fine.
  other.close();
  other[Symbol.dispose]();
  assert(other.closed);
  // The map and its other handle are untouched.
  assertPublished(read, model);
  {
    using guard = write.guard();
    guard.insert("d", "4");
  }
  model.set("d", "4");
  assertPublished(read, model);
});

Deno.test("ReadHandle.close() throws a TypeError while its guards are live, and changes nothing", () => {
  const [write, read, model] = seeded();
  const first = read.guard();
  const second = read.guard();
  assertThrows(() => read.close(), TypeError, "2 of its guards");
  assertEquals(read.closed, false);
  // The handle and both guards still work.
  assertEquals(first.get("a"), "1");
  assertEquals(new Map(second), model);
  assertPublished(read, model);
  first.release();
  assertThrows(() => read.close(), TypeError, "1 of its guards");
  assertEquals(second.get("b"), "2");
  second.release();
  // Nothing was left half-closed: the writer goes on, then close works.
  {
    using guard = write.guard();
    guard.insert("d", "4");
  }
  model.set("d", "4");
  assertPublished(read, model);
  read.close();
  assert(read.closed);
});

Deno.test("ReadHandle.close() of one handle leaves guards of another handle alone", () => {
  const [, read, model] = seeded();
  const other = read.clone();
  using view = other.guard();
  read.close();
  assertEquals(new Map(view), model);
  assertThrows(() => other.close(), TypeError);
});

// ---------------------------------------------------------------- published write guards

Deno.test("WriteGuard methods throw a TypeError once the guard is published", () => {
  const [write, read, model] = seeded();
  const guard = write.guard();
  guard.insert("d", "4");
  guard.publish();
  model.set("d", "4");
  assert(guard.published);
  const misuses: [string, () => unknown][] = [
    ["insert", () => guard.insert("x", "x")],
    ["remove", () => guard.remove("a")],
    ["replace", () => guard.replace("a", () => "x")],
    ["get", () => guard.get("a")],
    ["has", () => guard.has("a")],
    ["size", () => guard.size],
    ["keys", () => guard.keys()],
    ["values", () => guard.values()],
    ["entries", () => guard.entries()],
    ["iterate", () => [...guard]],
  ];
  for (const [what, misuse] of misuses) {
    assertThrows(misuse, TypeError, "published", what);
    assertPublished(read, model);
  }
  // Publishing or disposing again does nothing.
  guard.publish();
  guard[Symbol.dispose]();
  assertPublished(read, model);
  // A stale guard cannot touch the next one's map.
  const next = write.guard();
  for (const [what, misuse] of misuses) {
    assertThrows(misuse, TypeError, "published", what);
  }
  assertGuardView(next, model);
  guard.publish();
  assertEquals(next.published, false);
  next.insert("e", "5");
  assertPublished(read, model);
  next.publish();
  model.set("e", "5");
  assertPublished(read, model);
});

Deno.test("WriteGuard iterators throw a TypeError when used after the guard was published", () => {
  const [write, read, model] = seeded();
  const guard = write.guard();
  const keys = guard.keys();
  const entries = guard[Symbol.iterator]();
  assertEquals(entries.next().done, false);
  guard.publish();
  assertThrows(() => keys.next(), TypeError, "published");
  assertThrows(() => entries.next(), TypeError, "published");
  assertPublished(read, model);
});

// ---------------------------------------------------------------- write handle misuse

Deno.test("WriteHandle.guard() throws a TypeError while another write guard is live", () => {
  const [write, read, model] = seeded();
  assertMisuseInGuard(
    write,
    read,
    model,
    ["d", "4"],
    () => write.guard(),
    TypeError,
    "already live",
  );
  assertMisuseInGuard(
    write,
    read,
    model,
    ["e", "5"],
    () => write.synchronize(),
    TypeError,
    "already live",
  );
});

Deno.test("WriteHandle.guardAsync() rejects with a TypeError while another write guard is live", async () => {
  const [write, read, model] = seeded();
  const guard = write.guard();
  guard.insert("d", "4");
  await assertRejects(() => write.guardAsync(), TypeError, "already live");
  await assertRejects(
    () => write.synchronizeAsync(),
    TypeError,
    "already live",
  );
  const expected = new Map(model).set("d", "4");
  assertGuardView(guard, expected);
  assertPublished(read, model);
  guard.publish();
  assertPublished(read, expected);
  // Now guardAsync works.
  const next = await write.guardAsync();
  assertGuardView(next, expected);
  next.publish();
});

Deno.test("WriteHandle.close() throws a TypeError while a write guard is live", () => {
  const [write, read, model] = seeded();
  assertMisuseInGuard(
    write,
    read,
    model,
    ["d", "4"],
    () => write.close(),
    TypeError,
    "still live",
  );
  assertEquals(write.closed, false);
  write.close();
  assert(write.closed);
  assertPublished(read, model);
});

Deno.test("WriteHandle.guard() and synchronize() throw a TypeError once the handle is closed", async () => {
  const [write, read, model] = seeded();
  write.close();
  assertThrows(() => write.guard(), TypeError, "closed");
  assertThrows(() => write.synchronize(), TypeError, "closed");
  await assertRejects(() => write.guardAsync(), TypeError, "closed");
  await assertRejects(() => write.synchronizeAsync(), TypeError, "closed");
  // Closing again, or disposing, is fine; readers keep reading.
  write.close();
  write[Symbol.dispose]();
  assertPublished(read, model);
  using other = read.clone();
  assertEquals(other.get("a"), "1");
});

// ---------------------------------------------------------------- deadlock
//
// With `maxCopies: 2` the writer has no spare copy: after a publish it must
// get the retired copy back, so it waits for the guards on it.

Deno.test("WriteHandle.guard() throws a DeadlockError instead of waiting for this thread's read guards", () => {
  const [write, read, model] = seeded({ maxCopies: 2 });
  const view = read.guard();
  {
    using guard = write.guard();
    guard.insert("d", "4");
  } // published: view is now on the copy the writer must get back
  const published = new Map(model).set("d", "4");
  const error = assertThrows(() => write.guard(), DeadlockError, "release");
  assert(!(error instanceof TypeError));
  assertThrows(() => write.synchronize(), DeadlockError);
  // Nothing changed: the old snapshot, the new version, and the writer.
  assertEquals(new Map(view), model);
  assertPublished(read, published);
  assertEquals(write.closed, false);
  view.release();
  {
    using guard = write.guard();
    assertGuardView(guard, published);
    guard.insert("e", "5");
  }
  published.set("e", "5");
  assertPublished(read, published);
  write.synchronize();
});

Deno.test("WriteHandle.synchronize() throws a DeadlockError for read guards of another handle of this thread", () => {
  const [write, read, model] = seeded({ maxCopies: 2 });
  using attached = attach(read.share());
  const cloned = read.clone();
  const views = [attached.guard(), cloned.guard()];
  {
    using guard = write.guard();
    guard.remove("a");
  }
  model.delete("a");
  assertThrows(() => write.synchronize(), DeadlockError);
  views[0].release();
  assertThrows(() => write.guard(), DeadlockError);
  assertThrows(() => cloned.close(), TypeError);
  views[1].release();
  write.synchronize();
  cloned.close();
  {
    using guard = write.guard();
    assertGuardView(guard, model);
  }
  assertPublished(read, model);
});

Deno.test("WriteHandle.guardAsync() waits for this thread's read guards instead of throwing", async () => {
  const [write, read, model] = seeded({ maxCopies: 2 });
  const view = read.guard();
  {
    using guard = write.guard();
    guard.insert("d", "4");
  }
  model.set("d", "4");
  let releasedFirst = false;
  setTimeout(() => {
    releasedFirst = true;
    view.release();
  }, 0);
  const pending = write.guardAsync();
  // While it waits, no other guard may open, and the handle may not close.
  assertThrows(() => write.guard(), TypeError, "being opened");
  assertThrows(() => write.close(), TypeError);
  const guard = await pending;
  assert(releasedFirst, "the guard opened only after the read guard left");
  assert(view.released);
  assertGuardView(guard, model);
  guard.insert("e", "5");
  guard.publish();
  model.set("e", "5");
  assertPublished(read, model);
});

Deno.test("WriteHandle.synchronizeAsync() waits for this thread's read guards instead of throwing", async () => {
  const [write, read, model] = seeded({ maxCopies: 2 });
  const view = read.guard();
  {
    using guard = write.guard();
    guard.insert("d", "4");
  }
  let releasedFirst = false;
  setTimeout(() => {
    releasedFirst = true;
    view.release();
  }, 0);
  await write.synchronizeAsync();
  assert(releasedFirst);
  model.set("d", "4");
  using guard = write.guard();
  assertGuardView(guard, model);
});

// ---------------------------------------------------------------- reader limit

Deno.test("ReadHandle.clone() throws a ReaderLimitError past maxReaders, and close() frees a slot", () => {
  const [write, read] = create({ maxReaders: 3 });
  {
    using guard = write.guard();
    guard.insert("a", "1");
  }
  const model = new Map([["a", "1"]]);
  const second = read.clone();
  const third = attach(read.share());
  const error = assertThrows(() => read.clone(), ReaderLimitError, "3");
  assertInstanceOf(error, RangeError);
  assertThrows(() => attach(read.share()), ReaderLimitError);
  assertThrows(() => second.clone(), ReaderLimitError);
  // The handles that exist are unaffected.
  for (const handle of [read, second, third]) assertPublished(handle, model);
  second.close();
  const again = third.clone();
  assertPublished(again, model);
  assertThrows(() => attach(third.share()), ReaderLimitError);
  again.close();
  third.close();
  using fromToken = attach(structuredClone(read.share()));
  assertPublished(fromToken, model);
  {
    using guard = write.guard();
    guard.insert("b", "2");
  }
  model.set("b", "2");
  assertPublished(fromToken, model);
  assertPublished(read, model);
});

// ---------------------------------------------------------------- attach()

Deno.test("attach() throws a TypeError for anything that is not a token", () => {
  const [write, read, model] = seeded();
  const token = read.share();
  const notTokens: [string, unknown][] = [
    ["null", null],
    ["undefined", undefined],
    ["a number", 42],
    ["a string", "@x/flashmap:read"],
    ["an empty object", {}],
    ["a token of another layout version", {
      ...token,
      layout: token.layout + 1,
    }],
    ["a token without a layout", { ...token, layout: undefined }],
    ["a token with a plain ArrayBuffer", {
      ...token,
      buffer: new ArrayBuffer(4096),
    }],
    ["a token with a non-growable SharedArrayBuffer", {
      ...token,
      buffer: new SharedArrayBuffer(4096),
    }],
    ["a token whose buffer holds no map", {
      ...token,
      buffer: new SharedArrayBuffer(64 * 1024, { maxByteLength: 1 << 20 }),
    }],
    ["a token without codec names", {
      ...token,
      key: undefined,
      value: undefined,
    }],
    ["a token of an unknown codec", { ...token, key: "test.unknown" }],
    ["a token of another kind", { ...token, kind: "@x/other:read" }],
  ];
  for (const [what, candidate] of notTokens) {
    assertThrows(
      () => attach(candidate as ReadToken<string, string>),
      TypeError,
      "attach",
      what,
    );
  }
  // No slot was taken, and the map is as it was.
  assertPublished(read, model);
  using attached = attach(token);
  assertPublished(attached, model);
  {
    using guard = write.guard();
    guard.insert("d", "4");
  }
  model.set("d", "4");
  assertPublished(attached, model);
});

Deno.test({
  name:
    "attach() throws a TypeError for a token whose buffer is too small to hold a map",
  fn() {
    const [, read] = create();
    for (const bytes of [0, 8, 28]) {
      assertThrows(
        () =>
          attach({
            ...read.share(),
            buffer: new SharedArrayBuffer(bytes, { maxByteLength: 1024 }),
          }),
        TypeError,
        "attach",
      );
    }
  },
});

// ---------------------------------------------------------------- full buffer

Deno.test("WriteGuard.insert() throws a BufferFullError at maxBytes and keeps every entry", () => {
  const [write, read] = create({
    value: codecs.string,
    maxBytes: 256 * 1024,
  });
  const big = (i: number) => String.fromCharCode(65 + i % 26).repeat(2000);
  const model = new Map<string, string>();
  const guard = write.guard();
  let caught: unknown;
  for (let i = 0; i < 1000; i++) {
    try {
      guard.insert(`key ${i}`, big(i));
    } catch (error) {
      caught = error;
      break;
    }
    model.set(`key ${i}`, big(i));
  }
  assertInstanceOf(caught, BufferFullError);
  assertInstanceOf(caught, RangeError);
  assert(caught.message.includes("maxBytes"), caught.message);
  assert(model.size > 10, `only ${model.size} inserts fit`);
  // The failed insert changed nothing, and the guard still works.
  assertGuardView(guard, model);
  assertEquals(guard.has(`key ${model.size}`), false);
  assertThrows(
    () => guard.insert("one more", big(0)),
    BufferFullError,
  );
  assertGuardView(guard, model);
  // Overwriting needs a new entry too: refused the same way, old value kept.
  const first = [...model.keys()][0];
  assertThrows(() => guard.insert(first, big(1)), BufferFullError);
  let updates = 0;
  assertThrows(
    () => guard.replace(first, (old) => (updates++, old + "!")),
    BufferFullError,
  );
  assertEquals(updates, 1);
  assertGuardView(guard, model);
  assertPublished(read, new Map());
  const removed = [...model.keys()].slice(0, 5);
  for (const key of removed) {
    assertEquals(guard.remove(key), model.get(key));
    model.delete(key);
  }
  assertGuardView(guard, model);
  guard.publish();
  assertPublished(read, model);
  // The next guard replays the removals onto the other copy, freeing their
  // memory: inserts of the same size fit again.
  {
    using next = write.guard();
    assertGuardView(next, model);
    for (let i = 0; i < removed.length; i++) {
      next.insert(`again ${i}`, big(i));
      model.set(`again ${i}`, big(i));
    }
    assertGuardView(next, model);
    assertThrows(() => {
      for (let i = 0; i < 1000; i++) next.insert(`more ${i}`, big(i));
    }, BufferFullError);
    // The entries that fit before the error are there; drop them again.
    for (let i = 0; i < 1000 && next.has(`more ${i}`); i++) {
      model.set(`more ${i}`, big(i));
    }
    assertGuardView(next, model);
  }
  assertPublished(read, model);
  {
    using next = write.guard();
    assertGuardView(next, model);
  }
});

Deno.test("WriteGuard.insert() throws a BufferFullError when the table cannot grow, and keeps every entry", () => {
  const [write, read] = create({
    key: codecs.int32,
    value: codecs.int32,
    maxReaders: 1,
    maxBytes: 64 * 1024,
  });
  const model = new Map<number, number>();
  let caught: unknown;
  {
    using guard = write.guard();
    for (let i = 0; i < 100_000; i++) {
      try {
        guard.insert(i, ~i);
      } catch (error) {
        caught = error;
        break;
      }
      model.set(i, ~i);
    }
    assertInstanceOf(caught, BufferFullError);
    assertGuardView(guard, model);
    assertEquals(guard.has(model.size), false);
  }
  assertPublished(read, model);
  {
    using guard = write.guard();
    assertGuardView(guard, model);
    guard.remove(0);
    model.delete(0);
  }
  assertPublished(read, model);
});

// ---------------------------------------------------------------- create() options

Deno.test("create() throws a RangeError or TypeError for bad options", () => {
  const cases: [string, unknown, ErrorClass, string][] = [
    ["capacity -1", { capacity: -1 }, RangeError, "capacity"],
    ["capacity 1.5", { capacity: 1.5 }, RangeError, "capacity"],
    ["capacity NaN", { capacity: NaN }, RangeError, "capacity"],
    ["capacity Infinity", { capacity: Infinity }, RangeError, "capacity"],
    ['capacity "x"', { capacity: "x" }, TypeError, "capacity"],
    ["capacity 10n", { capacity: 10n }, TypeError, "capacity"],
    ["maxReaders 0", { maxReaders: 0 }, RangeError, "maxReaders"],
    ["maxReaders -1", { maxReaders: -1 }, RangeError, "maxReaders"],
    ["maxReaders 2.5", { maxReaders: 2.5 }, RangeError, "maxReaders"],
    ['maxReaders "2"', { maxReaders: "2" }, TypeError, "maxReaders"],
    ["maxBytes 1024", { maxBytes: 1024 }, RangeError, "maxBytes"],
    ["maxBytes 0", { maxBytes: 0 }, RangeError, "maxBytes"],
    ["maxBytes -1", { maxBytes: -1 }, RangeError, "maxBytes"],
    ["maxBytes 9 GiB", { maxBytes: 9 * 1024 ** 3 }, RangeError, "maxBytes"],
    [
      "maxBytes below what capacity needs",
      { maxBytes: 64 * 1024, capacity: 100_000 },
      RangeError,
      "maxBytes",
    ],
    ['maxBytes "big"', { maxBytes: "big" }, TypeError, "maxBytes"],
    ["seed 2 ** 31", { seed: 2 ** 31 }, RangeError, "seed"],
    ["seed -(2 ** 31) - 1", { seed: -(2 ** 31) - 1 }, RangeError, "seed"],
    ["seed 0.5", { seed: 0.5 }, RangeError, "seed"],
    ['seed "1"', { seed: "1" }, TypeError, "seed"],
    ["options null", null, TypeError, "options"],
    ["options 5", 5, TypeError, "options"],
  ];
  for (const [what, options, errorClass, msgIncludes] of cases) {
    assertThrows(
      () => create(options as Parameters<typeof create>[0]),
      errorClass,
      msgIncludes,
      what,
    );
  }
  // The limits themselves are accepted.
  const [write, read] = create({
    seed: -(2 ** 31),
    maxReaders: 1,
    capacity: 0,
  });
  create({ seed: 2 ** 31 - 1 });
  {
    using guard = write.guard();
    guard.insert("ok", "yes");
  }
  assertEquals(read.get("ok"), "yes");
});

// ---------------------------------------------------------------- iteration while writing

Deno.test("WriteGuard iteration throws a TypeError when the guard changes the map meanwhile", () => {
  const [write, read, model] = seeded();
  const guard = write.guard();
  const expected = new Map(model);
  let n = 0;
  const changes: [string, () => void][] = [
    ["insert", () => {
      guard.insert(`new ${n}`, "n");
      expected.set(`new ${n}`, "n");
    }],
    ["overwrite", () => {
      guard.insert("a", `a ${n}`);
      expected.set("a", `a ${n}`);
    }],
    ["remove", () => {
      const victim = [...expected.keys()].find((k) => k.startsWith("new "))!;
      assertEquals(guard.remove(victim), "n");
      expected.delete(victim);
    }],
    ["replace", () => {
      guard.replace("b", () => `b ${n}`);
      expected.set("b", `b ${n}`);
    }],
  ];
  const iterators = [
    () => guard.keys(),
    () => guard.values(),
    () => guard.entries(),
    () => guard[Symbol.iterator](),
  ];
  for (const [what, change] of changes) {
    for (const iterate of iterators) {
      n++;
      const iterator = iterate();
      assertEquals(iterator.next().done, false);
      change();
      assertThrows(() => iterator.next(), TypeError, "changed the map", what);
      assertGuardView(guard, expected);
    }
  }
  // Removing a missing key changes nothing, so iteration goes on.
  const iterator = guard.keys();
  iterator.next();
  assertEquals(guard.remove("missing"), undefined);
  assertEquals(iterator.next().done, false);
  // A for-of loop that inserts is stopped the same way, after one insert.
  assertThrows(
    () => {
      let i = 0;
      for (const [key] of guard) {
        guard.insert(`${key} copy`, "x");
        if (++i > 100) break;
      }
    },
    TypeError,
    "changed the map",
  );
  const copies = [...guard.keys()].filter((key) => key.endsWith(" copy"));
  assertEquals(copies.length, 1);
  assert(expected.has(copies[0].slice(0, -" copy".length)));
  expected.set(copies[0], "x");
  // The changes themselves happened, and the guard goes on.
  assertGuardView(guard, expected);
  assertPublished(read, model);
  assertEquals([...guard.values()].length, expected.size);
  guard.publish();
  assertPublished(read, expected);
});

Deno.test("WriteGuard.insert() refuses an entry of 2 GiB or more with a RangeError", () => {
  const [write, read] = create({ value: codecs.bytes });
  {
    using guard = write.guard();
    guard.insert("small", new Uint8Array([1]));
    assertThrows(
      () => guard.insert("big", new Uint8Array(2 ** 31)),
      RangeError,
      "bytes",
    );
    assertEquals(guard.size, 1);
  }
  assertEquals(read.get("small"), new Uint8Array([1]));
});

/** A text codec whose decode first runs `hook.during`, if set. */
function hookedText(name: string) {
  const hook: { during?: () => void } = {};
  const codec: Codec<string> = {
    name,
    canonical: true,
    encode: (value) => new TextEncoder().encode(value),
    decode: (bytes) => {
      hook.during?.();
      return new TextDecoder().decode(bytes);
    },
  };
  return { codec, hook };
}

Deno.test("WriteGuard refuses changes from inside a user codec's decode, leaving the map unchanged", () => {
  const { codec, hook } = hookedText("test.reentrant");
  const [write, read] = create({ value: codec });
  {
    using guard = write.guard();
    for (let i = 0; i < 5; i++) guard.insert(`k${i}`, `v${i}`);
  }
  const guard = write.guard();
  hook.during = () => guard.remove("k4");
  assertThrows(() => guard.insert("k0", "new"), TypeError, "busy");
  assertThrows(
    () => guard.replace("k1", (old) => old + "!"),
    TypeError,
    "busy",
  );
  assertThrows(() => guard.remove("k2"), TypeError, "busy");
  hook.during = undefined;
  assertEquals(guard.size, 5);
  assertEquals(guard.get("k0"), "v0");
  guard.publish();
  write.synchronize();
  using view = read.guard();
  assertEquals(view.size, 5);
});

Deno.test("ReadHandle.get() runs a user codec's decode after leaving its guard", () => {
  const { codec, hook } = hookedText("test.decode-hook");
  const [write, read] = create({ value: codec });
  {
    using guard = write.guard();
    guard.insert("a", "1");
  }
  hook.during = () => {
    hook.during = undefined; // the insert below decodes the previous value too
    {
      using guard = write.guard();
      guard.insert("a", "2");
    }
    // No guard of this thread is live: no guard pins the old version, and
    // the writer waits for nobody.
    assertEquals(pinnedReaders(write), []);
    write.guard({ timeoutMs: 1000 }).publish();
  };
  assertEquals(read.get("a"), "1");
  assertEquals(read.get("a"), "2");
  hook.during = () => read.close();
  assertEquals(read.get("a"), "2"); // the handle closed after its read
  assert(read.closed);
  assertThrows(() => read.get("a"), TypeError, "closed");
});

Deno.test("create() accepts a maxBytes of exactly 8 GiB", () => {
  const [, read] = create({ maxBytes: 8 * 1024 ** 3 });
  assertEquals(read.share().buffer.maxByteLength, 8 * 1024 ** 3 - 8);
});
