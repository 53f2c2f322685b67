/**
 * Tests of taking a write back (`WriteGuard.abort()`, `WriteHandle.update()`
 * and `updateAsync()`) and of the writes that do not decode the old value
 * (`WriteGuard.set()` and `WriteGuard.delete()`), with a property test of
 * random batches that publish, abort or throw against a `Map` model.
 */
import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import fc from "fast-check";
import {
  type Codec,
  codecs,
  create,
  DeadlockError,
  type ReadHandle,
  type WriteGuard,
} from "@x/flashmap";
import { snapshot, sorted } from "./utils.ts";

/** The entries a read guard of `read` sees, sorted. */
function published<K, V>(read: ReadHandle<K, V>): Map<K, V> {
  using view = read.guard();
  assertEquals(view.size, [...view].length);
  return snapshot(view);
}

/** A map whose published version is `a → 1, b → 2, c → 3`. */
function abc(options: { maxCopies?: number } = {}) {
  const [write, read] = create({
    value: codecs.number,
    capacity: 1,
    ...options,
  });
  write.update((guard) => guard.set("a", 1).set("b", 2).set("c", 3));
  const expected = sorted(new Map([["a", 1], ["b", 2], ["c", 3]]));
  return { write, read, expected };
}

// ------------------------------------------------------------ abort()

Deno.test("WriteGuard.abort() restores the last published version", () => {
  const { write, read, expected } = abc();
  {
    using view = read.guard(); // opened before the aborted guard
    {
      using guard = write.guard();
      guard.insert("d", 4); // insert
      guard.insert("a", 10); // overwrite
      guard.remove("b"); // remove
      guard.replace("c", (n) => n * 100); // replace
      guard.set("e", 5).set("a", 11); // set, new and existing
      assert(guard.delete("d")); // delete of an entry of this guard
      guard.insert("b", 20); // re-insert of a removed key
      assertEquals(
        snapshot(guard),
        sorted(new Map([["a", 11], ["b", 20], ["c", 300], ["e", 5]])),
      );
      assertEquals(published(read), expected); // nothing published yet
      guard.abort();
      assert(guard.aborted);
      assert(!guard.published);
    } // disposing an aborted guard publishes nothing
    assertEquals(snapshot(view), expected);
  }
  assertEquals(published(read), expected);
  {
    using guard = write.guard();
    assertEquals(snapshot(guard), expected);
    assertEquals(guard.size, 3);
    assertEquals(guard.get("b"), 2);
    assert(!guard.has("d"));
    assert(!guard.has("e"));
  }
  assertEquals(published(read), expected);
  write.close();
  read.close();
});

Deno.test("WriteGuard.abort() takes back a removal and a re-insert of the same key", () => {
  const { write, read, expected } = abc();
  {
    using guard = write.guard();
    assertEquals(guard.remove("a"), 1);
    assert(!guard.has("a"));
    assertEquals(guard.insert("a", 100), undefined);
    assertEquals(guard.remove("a"), 100);
    assert(guard.delete("b"));
    guard.set("b", 200);
    guard.set("b", 201);
    assert(guard.delete("b"));
    assertEquals(guard.size, 1);
    guard.abort();
  }
  {
    using guard = write.guard();
    assertEquals(snapshot(guard), expected);
  }
  assertEquals(published(read), expected);
  write.close();
  read.close();
});

Deno.test("WriteGuard.abort() takes back many inserts that grew the table", () => {
  const { write, read, expected } = abc();
  {
    using guard = write.guard();
    for (let i = 0; i < 500; i++) guard.insert(`grown ${i}`, i);
    for (let i = 0; i < 500; i += 3) guard.remove(`grown ${i}`);
    guard.set("a", -1);
    assert(guard.delete("c"));
    assertEquals(guard.size, 2 + 500 - 167);
    guard.abort();
  }
  assertEquals(published(read), expected);
  {
    using guard = write.guard();
    assertEquals(snapshot(guard), expected);
    for (let i = 0; i < 500; i++) assert(!guard.has(`grown ${i}`));
    // The grown table still takes writes, which publish normally.
    for (let i = 0; i < 100; i++) guard.set(`after ${i}`, i);
  }
  {
    using view = read.guard();
    assertEquals(view.size, 103);
    assertEquals(view.get("after 99"), 99);
    assertEquals(view.get("a"), 1);
    assertEquals(view.has("grown 1"), false);
  }
  write.close();
  read.close();
});

Deno.test("WriteGuard.abort() on a new map leaves it empty", () => {
  const [write, read] = create();
  {
    using guard = write.guard();
    guard.insert("x", "1");
    guard.abort();
  }
  assertEquals(published(read), new Map());
  assertEquals(read.get("x"), undefined);
  {
    using guard = write.guard();
    assertEquals(guard.size, 0);
  }
  write.close();
  read.close();
});

Deno.test("WriteGuard.abort() after several publishes restores only the last one", () => {
  const [write, read] = create({ value: codecs.number, capacity: 1 });
  const model = new Map<string, number>();
  for (let round = 0; round < 6; round++) {
    {
      using guard = write.guard();
      guard.set(`r${round}`, round);
      if (round > 0) guard.delete(`r${round - 1}`);
    }
    model.set(`r${round}`, round);
    model.delete(`r${round - 1}`);
    {
      using guard = write.guard();
      guard.set(`r${round}`, 1000);
      guard.set("junk", 1);
      guard.abort();
    }
    assertEquals(published(read), sorted(model));
    using guard = write.guard();
    assertEquals(snapshot(guard), sorted(model));
  }
  write.close();
  read.close();
});

Deno.test("WriteGuard.publish() after abort() does nothing", () => {
  const { write, read, expected } = abc();
  const guard = write.guard();
  guard.set("a", 99);
  guard.abort();
  guard.publish();
  assert(!guard.published);
  assert(guard.aborted);
  assertEquals(published(read), expected);
  // The writer is free again: a new guard opens and publishes.
  write.update((g) => g.set("z", 26));
  assertEquals(read.get("z"), 26);
  assertEquals(read.get("a"), 1);
  write.close();
  read.close();
});

Deno.test("WriteGuard.abort() twice does nothing the second time", () => {
  const { write, read, expected } = abc();
  const guard = write.guard();
  guard.set("a", 99);
  guard.abort();
  guard.abort();
  assert(guard.aborted);
  // A second abort must not take anything back from a later guard.
  const next = write.guard();
  next.set("b", 22);
  guard.abort();
  next.publish();
  assertEquals(read.get("b"), 22);
  assertEquals(read.get("a"), 1);
  expected.set("b", 22);
  assertEquals(published(read), expected);
  write.close();
  read.close();
});

Deno.test("WriteGuard.abort() after publish() throws a TypeError", () => {
  const { write, read } = abc();
  const guard = write.guard();
  guard.set("a", 99);
  guard.publish();
  assertThrows(() => guard.abort(), TypeError, "published");
  assert(guard.published);
  assert(!guard.aborted);
  assertEquals(read.get("a"), 99);
  // An empty guard, published without a new version, refuses it too.
  const empty = write.guard();
  empty.publish();
  assertThrows(() => empty.abort(), TypeError);
  assertEquals(read.get("a"), 99);
  write.close();
  read.close();
});

Deno.test("WriteGuard refuses every use after abort() with a TypeError naming it", () => {
  const { write, read } = abc();
  const guard = write.guard();
  guard.set("a", 5);
  guard.abort();
  const uses: [string, () => unknown][] = [
    ["insert", () => guard.insert("a", 1)],
    ["set", () => guard.set("a", 1)],
    ["replace", () => guard.replace("a", (n) => n + 1)],
    ["remove", () => guard.remove("a")],
    ["delete", () => guard.delete("a")],
    ["get", () => guard.get("a")],
    ["has", () => guard.has("a")],
    ["size", () => guard.size],
    ["keys", () => [...guard.keys()]],
    ["values", () => [...guard.values()]],
    ["entries", () => [...guard.entries()]],
    ["iterator", () => [...guard]],
  ];
  for (const [name, use] of uses) {
    assertThrows(use, TypeError, "aborted", name);
  }
  write.close();
  read.close();
});

Deno.test("WriteGuard.abort() ends an iteration that was under way", () => {
  const { write, read } = abc();
  const guard = write.guard();
  guard.set("d", 4);
  const iterator = guard.keys();
  iterator.next();
  guard.abort();
  assertThrows(() => iterator.next(), TypeError);
  write.close();
  read.close();
});

Deno.test("WriteGuard.abort() frees the entries the guard created", () => {
  const [write, read] = create({
    capacity: 16,
    maxBytes: 2 * 1024 * 1024,
  });
  write.update((guard) => {
    for (let i = 0; i < 16; i++) guard.set(`kept ${i}`, `value ${i}`);
  });
  const buffer = read.share().buffer;
  const big = "x".repeat(2000);
  let sizeAfterWarmUp = 0;
  // 300 rounds of 64 entries of about 4 KB: 75 MB without reuse, far past
  // maxBytes, so a leak fails with a RangeError as well as by growth.
  for (let round = 0; round < 300; round++) {
    {
      using guard = write.guard();
      for (let i = 0; i < 64; i++) guard.insert(`new ${round} ${i}`, big);
      for (let i = 0; i < 16; i += 2) guard.set(`kept ${i}`, big);
      for (let i = 1; i < 16; i += 4) guard.remove(`kept ${i}`);
      guard.abort();
    }
    if (round === 5) sizeAfterWarmUp = buffer.byteLength;
    if (round > 5) assertEquals(buffer.byteLength, sizeAfterWarmUp);
  }
  {
    using view = read.guard();
    assertEquals(view.size, 16);
    assertEquals(view.get("kept 0"), "value 0");
  }
  write.close();
  read.close();
});

// ------------------------------------------------------------ update()

Deno.test("WriteHandle.update() publishes when fn returns and returns its result", () => {
  const [write, read] = create({ value: codecs.number });
  let seen: WriteGuard<string, number> | undefined;
  const result = write.update((guard) => {
    seen = guard;
    guard.set("a", 1);
    assertEquals(read.get("a"), undefined); // not yet published
    return "done";
  });
  assertStrictEquals(result, "done");
  assert(seen !== undefined && seen.published);
  assertEquals(read.get("a"), 1);
  // The guard is finished: a new one can be opened.
  write.update(() => undefined);
  write.update((guard) => guard.set("b", 2), { timeoutMs: 1000 });
  assertEquals(read.get("b"), 2);
  write.close();
  read.close();
});

Deno.test("WriteHandle.update() aborts when fn throws and rethrows the same error", () => {
  const { write, read, expected } = abc();
  const error = new RangeError("half way");
  let seen: WriteGuard<string, number> | undefined;
  const thrown = assertThrows(() =>
    write.update((guard) => {
      seen = guard;
      guard.set("a", 10).set("new", 1);
      guard.remove("b");
      throw error;
    })
  );
  assertStrictEquals(thrown, error);
  assert(seen !== undefined && seen.aborted && !seen.published);
  assertEquals(published(read), expected);
  {
    using guard = write.guard();
    assertEquals(snapshot(guard), expected);
  }
  // A thrown non-Error value is rethrown as it is.
  const token = { reason: "not an Error" };
  try {
    write.update((guard) => {
      guard.set("a", 10);
      throw token;
    });
    assert(false, "update() did not throw");
  } catch (caught) {
    assertStrictEquals(caught, token);
  }
  assertEquals(published(read), expected);
  write.close();
  read.close();
});

Deno.test("WriteHandle.update() refuses an async fn with a TypeError and leaves the map unchanged", async () => {
  const { write, read, expected } = abc();
  let late: unknown = null;
  assertThrows(
    () =>
      write.update(async (guard) => {
        guard.set("a", 10);
        await Promise.resolve();
        try {
          guard.set("b", 20); // after the batch was aborted
        } catch (error) {
          late = error;
        }
      }),
    TypeError,
    "updateAsync",
  );
  // A promise-like value is refused the same way.
  assertThrows(
    () =>
      write.update((guard) => {
        guard.set("c", 30);
        return { then: () => {} };
      }),
    TypeError,
  );
  // An async fn that rejects does not leave an unhandled rejection.
  assertThrows(
    () =>
      write.update(async (guard) => {
        guard.set("c", 30);
        await Promise.resolve();
        throw new Error("rejected");
      }),
    TypeError,
  );
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert(late instanceof TypeError, "the late write was not refused");
  assertEquals(published(read), expected);
  {
    using guard = write.guard();
    assertEquals(snapshot(guard), expected);
  }
  write.close();
  read.close();
});

Deno.test("WriteHandle.update() refuses a non-function and a live guard", () => {
  const { write, read, expected } = abc();
  assertThrows(
    // @ts-expect-error: not a function
    () => write.update("not a function"),
    TypeError,
  );
  {
    using guard = write.guard();
    guard.set("a", 7);
    assertThrows(() => write.update((g) => g.set("a", 8)), TypeError);
    assertEquals(guard.get("a"), 7);
  }
  expected.set("a", 7);
  // A nested update throws inside fn, so the outer batch is aborted.
  assertThrows(
    () =>
      write.update((guard) => {
        guard.set("a", 1000);
        write.update((inner) => inner.set("b", 1000));
      }),
    TypeError,
  );
  assertEquals(published(read), expected);
  write.close();
  read.close();
});

Deno.test("WriteHandle.update() does not call fn when it cannot open the guard", () => {
  // Two copies: the writer must wait for the view, which this thread holds.
  const { write, read, expected } = abc({ maxCopies: 2 });
  write.update((guard) => guard.set("a", 2)); // readers now on the new copy
  expected.set("a", 2);
  const view = read.guard();
  write.update((guard) => guard.set("b", 3)); // the view reads the old copy now
  expected.set("b", 3);
  let called = false;
  assertThrows(
    () => write.update(() => called = true),
    DeadlockError,
  );
  assert(!called);
  view.release();
  assertEquals(published(read), expected);
  write.update((guard) => guard.set("c", 4));
  assertEquals(read.get("c"), 4);
  write.close();
  read.close();
});

Deno.test("WriteHandle.update() keeps what fn published or aborted itself", () => {
  const { write, read, expected } = abc();
  // fn aborts, then returns: nothing is published, the result comes back.
  assertEquals(
    write.update((guard) => {
      guard.set("a", 10);
      guard.abort();
      return 1;
    }),
    1,
  );
  assertEquals(published(read), expected);
  // fn publishes, then returns: published once.
  assertEquals(
    write.update((guard) => {
      guard.set("a", 11);
      guard.publish();
      return 2;
    }),
    2,
  );
  expected.set("a", 11);
  assertEquals(published(read), expected);
  write.close();
  read.close();
});

// ------------------------------------------------------------ updateAsync()

Deno.test("WriteHandle.updateAsync() publishes what an async fn did and returns its result", async () => {
  const [write, read] = create({ value: codecs.number });
  const result = await write.updateAsync(async (guard) => {
    guard.set("a", 1);
    await Promise.resolve();
    assertEquals(read.get("a"), undefined);
    guard.set("b", await Promise.resolve(2));
    return "async done";
  });
  assertStrictEquals(result, "async done");
  assertEquals(read.get("a"), 1);
  assertEquals(read.get("b"), 2);
  // A plain function is accepted too.
  assertEquals(await write.updateAsync((guard) => guard.delete("a")), true);
  assertEquals(read.get("a"), undefined);
  write.close();
  read.close();
});

Deno.test("WriteHandle.updateAsync() aborts when fn rejects and rethrows the same error", async () => {
  const { write, read, expected } = abc();
  const error = new Error("async half way");
  let seen: WriteGuard<string, number> | undefined;
  const thrown = await assertRejects(() =>
    write.updateAsync(async (guard) => {
      seen = guard;
      guard.set("a", 10).set("new", 1);
      await Promise.resolve();
      guard.remove("b");
      throw error;
    })
  );
  assertStrictEquals(thrown, error);
  assert(seen !== undefined && seen.aborted);
  assertEquals(published(read), expected);
  // A synchronous throw from fn is treated the same.
  const sync = new Error("sync");
  assertStrictEquals(
    await assertRejects(() =>
      write.updateAsync((guard) => {
        guard.set("a", 12);
        throw sync;
      })
    ),
    sync,
  );
  assertEquals(published(read), expected);
  {
    using guard = write.guard();
    assertEquals(snapshot(guard), expected);
  }
  write.close();
  read.close();
});

Deno.test("WriteHandle.updateAsync() keeps the writer busy until fn settles", async () => {
  const { write, read } = abc();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const pending = write.updateAsync(async (guard) => {
    guard.set("a", 100);
    await gate;
    guard.set("b", 200);
  });
  await Promise.resolve();
  await Promise.resolve();
  assertThrows(() => write.guard(), TypeError);
  assertThrows(() => write.update(() => {}), TypeError);
  assertThrows(() => write.close(), TypeError);
  release();
  await pending;
  assertEquals(read.get("a"), 100);
  assertEquals(read.get("b"), 200);
  await assertRejects(
    // @ts-expect-error: not a function
    () => write.updateAsync(42),
    TypeError,
  );
  write.close();
  read.close();
});

// ------------------------------------------------------------ set() / delete()

Deno.test("WriteGuard.set() returns the guard and writes like insert()", () => {
  const [write, read] = create({ value: codecs.number });
  {
    using guard = write.guard();
    assertStrictEquals(guard.set("a", 1), guard);
    assertStrictEquals(guard.set("a", 2).set("b", 3), guard);
    assertEquals(guard.get("a"), 2);
    assertEquals(guard.size, 2);
    // A value the codec refuses changes nothing.
    // @ts-expect-error: not a number
    assertThrows(() => guard.set("a", "nope"), TypeError);
    assertEquals(guard.get("a"), 2);
    assertEquals(guard.size, 2);
  }
  assertEquals(published(read), sorted(new Map([["a", 2], ["b", 3]])));
  write.close();
  read.close();
});

Deno.test("WriteGuard.delete() returns whether the key was present", () => {
  const { write, read } = abc();
  {
    using guard = write.guard();
    assertStrictEquals(guard.delete("a"), true);
    assertStrictEquals(guard.delete("a"), false);
    assertStrictEquals(guard.delete("never"), false);
    assertEquals(guard.size, 2);
  }
  assertEquals(published(read), sorted(new Map([["b", 2], ["c", 3]])));
  write.close();
  read.close();
});

/** Values are one byte; the byte 255 cannot be decoded. */
const fragile: Codec<number> = {
  name: "test.fragile",
  canonical: false,
  encode: (value) => Uint8Array.of(value),
  decode: (bytes) => {
    if (bytes[0] === 255) throw new Error("bad");
    return bytes[0];
  },
};

Deno.test("WriteGuard.set() and delete() work on a value that cannot be decoded", () => {
  const [write, read] = create({ key: codecs.string, value: fragile });
  write.update((guard) => {
    guard.set("broken", 255).set("gone", 255).set("fine", 1);
  });
  {
    using guard = write.guard();
    // insert, remove and replace read the old value, so they fail...
    assertThrows(() => guard.insert("broken", 2), Error, "bad");
    assertThrows(() => guard.remove("gone"), Error, "bad");
    assertThrows(() => guard.replace("broken", () => 3), Error, "bad");
    assertThrows(() => guard.get("broken"), Error, "bad");
    // ...and leave the map unchanged.
    assertEquals(guard.size, 3);
    assert(guard.has("broken"));
    assert(guard.has("gone"));
    // set and delete do not.
    assertStrictEquals(guard.set("broken", 2), guard);
    assertStrictEquals(guard.delete("gone"), true);
    assertEquals(guard.get("broken"), 2);
    assert(!guard.has("gone"));
    assertEquals(guard.size, 2);
  }
  assertEquals(read.get("broken"), 2);
  assertEquals(read.has("gone"), false);
  assertEquals(published(read), new Map([["broken", 2], ["fine", 1]]));
  write.close();
  read.close();
});

Deno.test("WriteGuard.abort() takes back set() and delete() of undecodable values", () => {
  const [write, read] = create({ key: codecs.string, value: fragile });
  write.update((guard) => guard.set("broken", 255).set("fine", 1));
  {
    using guard = write.guard();
    guard.set("broken", 2);
    guard.delete("fine");
    guard.set("new", 255);
    guard.abort();
  }
  {
    using view = read.guard();
    assertEquals(view.size, 2);
    assertEquals(view.get("fine"), 1);
    assertThrows(() => view.get("broken"), Error, "bad");
    assert(!view.has("new"));
  }
  {
    using guard = write.guard();
    assertEquals(guard.size, 2);
    assert(guard.delete("broken"));
  }
  assertEquals(published(read), new Map([["fine", 1]]));
  write.close();
  read.close();
});

// ------------------------------------------------------------ model

type Step =
  | { op: "set"; key: number; size: number }
  | { op: "insert"; key: number; size: number }
  | { op: "remove"; key: number }
  | { op: "delete"; key: number }
  | { op: "replace"; key: number; size: number };

type Ending =
  | "publish" // the guard is published
  | "abort" // abort() on the guard
  | "return" // update(fn) returns
  | "throw" // update(fn) throws before step `at`
  | "asyncReturn" // updateAsync(fn) resolves
  | "asyncThrow"; // updateAsync(fn) rejects before step `at`

interface Batch {
  steps: Step[];
  ending: Ending;
  /** Where a throwing batch throws. */
  at: number;
  /** After how many steps a reader looks in, during the batch. */
  peek: number;
}

const KEYS = 24;

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    op: fc.constant("set" as const),
    key: fc.nat(KEYS),
    size: fc.nat(30),
  }),
  fc.record({
    op: fc.constant("insert" as const),
    key: fc.nat(KEYS),
    size: fc.nat(30),
  }),
  fc.record({ op: fc.constant("remove" as const), key: fc.nat(KEYS) }),
  fc.record({ op: fc.constant("delete" as const), key: fc.nat(KEYS) }),
  fc.record({
    op: fc.constant("replace" as const),
    key: fc.nat(KEYS),
    size: fc.nat(30),
  }),
);

const batchArbitrary: fc.Arbitrary<Batch> = fc.record({
  steps: fc.array(stepArbitrary, { maxLength: 40, size: "medium" }),
  ending: fc.constantFrom<Ending>(
    "publish",
    "abort",
    "return",
    "throw",
    "asyncReturn",
    "asyncThrow",
  ),
  at: fc.nat(40),
  peek: fc.nat(40),
});

class Planned extends Error {}

/** Applies one step to the guard and to the working model, checking results. */
function apply(
  guard: WriteGuard<string, string>,
  model: Map<string, string>,
  step: Step,
  value: (size: number) => string,
): void {
  const key = `key ${step.key}`;
  switch (step.op) {
    case "set": {
      const v = value(step.size);
      assertStrictEquals(guard.set(key, v), guard);
      model.set(key, v);
      break;
    }
    case "insert": {
      const v = value(step.size);
      assertEquals(guard.insert(key, v), model.get(key));
      model.set(key, v);
      break;
    }
    case "remove":
      assertEquals(guard.remove(key), model.get(key));
      model.delete(key);
      break;
    case "delete":
      assertEquals(guard.delete(key), model.delete(key));
      break;
    case "replace": {
      const v = value(step.size);
      const before = model.get(key);
      assertEquals(guard.replace(key, (old) => old + v), before);
      if (before !== undefined) model.set(key, before + v);
      break;
    }
  }
}

async function runBatches(batches: Batch[]): Promise<void> {
  const [write, read] = create({ capacity: 1, maxBytes: 8 * 1024 * 1024 });
  const other = read.clone();
  let model = new Map<string, string>(); // the last published version
  let counter = 0;
  const value = (size: number) => `${counter++}:`.padEnd(size + 2, "v");

  for (const batch of batches) {
    const previous = model;
    // A reader opened before the batch sees the last published version and
    // keeps seeing it, whatever the batch does.
    const before = other.guard();
    assertEquals(snapshot(before), sorted(previous));
    const working = new Map(model);
    const throwing = batch.ending === "throw" ||
      batch.ending === "asyncThrow";
    const stopAt = throwing ? batch.at % (batch.steps.length + 1) : -1;

    /** The batch's steps, as `fn` of update() runs them. */
    const run = (guard: WriteGuard<string, string>) => {
      assertEquals(snapshot(guard), sorted(previous));
      for (let i = 0; i < batch.steps.length; i++) {
        if (i === stopAt) throw new Planned();
        if (i === batch.peek % (batch.steps.length + 1)) {
          // A reader that looks in during the batch sees none of it.
          using during = read.guard();
          assertEquals(snapshot(during), sorted(previous));
        }
        apply(guard, working, batch.steps[i], value);
      }
      assertEquals(snapshot(guard), sorted(working));
      assertEquals(guard.size, working.size);
      assertEquals(guard.size, [...guard].length);
      assertEquals(snapshot(before), sorted(previous));
      if (stopAt === batch.steps.length) throw new Planned();
      return working.size;
    };

    switch (batch.ending) {
      case "publish":
      case "abort": {
        const guard = write.guard();
        run(guard);
        if (batch.ending === "publish") {
          guard.publish();
          model = working;
        } else {
          guard.abort();
        }
        break;
      }
      case "return":
      case "throw":
        try {
          assertEquals(write.update(run), working.size);
          assertEquals(batch.ending, "return");
          model = working;
        } catch (error) {
          if (!(error instanceof Planned)) throw error;
          assertEquals(batch.ending, "throw");
        }
        break;
      case "asyncReturn":
      case "asyncThrow":
        try {
          const size = await write.updateAsync(async (guard) => {
            await Promise.resolve();
            return run(guard);
          });
          assertEquals(size, working.size);
          assertEquals(batch.ending, "asyncReturn");
          model = working;
        } catch (error) {
          if (!(error instanceof Planned)) throw error;
          assertEquals(batch.ending, "asyncThrow");
        }
        break;
    }

    // The old reader still sees what it saw; it is released before the
    // writer would have to wait for it.
    assertEquals(snapshot(before), sorted(previous));
    before.release();
    // A reader opened after the batch sees exactly the published model.
    {
      using after = read.guard();
      assertEquals(snapshot(after), sorted(model));
      assertEquals(after.size, model.size);
      for (let n = 0; n <= KEYS; n++) {
        assertEquals(after.get(`key ${n}`), model.get(`key ${n}`));
      }
    }
  }
  {
    using guard = write.guard();
    assertEquals(snapshot(guard), sorted(model));
  }
  {
    using view = other.guard();
    assertEquals(snapshot(view), sorted(model));
  }
  other.close();
  read.close();
  write.close();
}

Deno.test("WriteHandle.update() and WriteGuard.abort() match a Map model of published versions", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(batchArbitrary, { maxLength: 12, size: "medium" }),
      (batches) => runBatches(batches),
    ),
    { numRuns: 100, endOnFailure: true },
  );
});

Deno.test("WriteGuard.abort() between publishes keeps memory bounded", () => {
  const [write, read] = create({ capacity: 4, maxBytes: 4 * 1024 * 1024 });
  const buffer = read.share().buffer;
  const big = "y".repeat(500);
  const model = new Map<string, string>();
  let sizeAfterWarmUp = 0;
  for (let round = 0; round < 300; round++) {
    const keys = Array.from({ length: 40 }, (_, i) => `t${round % 7} ${i}`);
    {
      using guard = write.guard();
      for (const key of keys) guard.set(key, big);
      if (round % 2 === 1) guard.abort();
      else for (const key of keys) model.set(key, big);
    }
    {
      using guard = write.guard();
      for (const key of keys) guard.delete(key);
      if (round % 3 === 0) guard.abort();
      else for (const key of keys) model.delete(key);
    }
    if (round === 20) sizeAfterWarmUp = buffer.byteLength;
    if (round > 20) assertEquals(buffer.byteLength, sizeAfterWarmUp);
  }
  assertEquals(published(read), sorted(model));
  write.close();
  read.close();
});

Deno.test("WriteHandle.updateAsync() keeps the thread's other writes out until its guard exists, so no batch is lost", async () => {
  const [write, read] = create();
  write.update((guard) => guard.set("a", "1"));
  write.update((guard) => guard.set("x", "0")); // a publish to replay
  const refused: unknown[] = [];
  await Promise.all([
    write.updateAsync((guard) => guard.set("c", "3")),
    (async () => {
      // Runs while updateAsync waits between its checks and its guard.
      await null;
      try {
        write.update((guard) => guard.set("b", "2"));
      } catch (error) {
        refused.push(error);
      }
    })(),
  ]);
  // The other write either came first, was refused, or came after: never
  // half of each copy.
  if (refused.length === 0) {
    assertEquals(
      published(read),
      new Map([["a", "1"], ["b", "2"], ["c", "3"], ["x", "0"]]),
    );
  } else {
    assertInstanceOf(refused[0], TypeError);
    assertEquals(
      published(read),
      new Map([["a", "1"], ["c", "3"], ["x", "0"]]),
    );
  }
  // Both copies agree: the next batches see the same map from either copy.
  for (let i = 0; i < 3; i++) {
    write.update((guard) => guard.set(`n${i}`, String(i)));
    using view = read.guard();
    assertEquals(view.size, [...view].length);
  }
  write.update((guard) => {
    assertEquals(guard.size, [...guard].length);
  });
});
