import {
  assert,
  assertEquals,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import { attach, codecs, create, DeadlockError } from "@x/flashmap";
import { snapshot } from "./utils.ts";

Deno.test("WriteGuard.insert() returns the previous value or undefined", () => {
  const [write, read] = create();
  {
    using guard = write.guard();
    assertStrictEquals(guard.insert("foo", "bar"), undefined);
    assertStrictEquals(guard.insert("foo", "baz"), "bar");
    assertStrictEquals(guard.insert("fizz", "buzz"), undefined);
    assertEquals(guard.size, 2);
  }
  assertEquals(read.get("foo"), "baz");
  assertEquals(read.get("fizz"), "buzz");
  {
    using guard = write.guard();
    assertStrictEquals(guard.insert("foo", "qux"), "baz");
  }
  assertEquals(read.get("foo"), "qux");
});

Deno.test("WriteGuard.remove() returns the removed value or undefined", () => {
  const [write, read] = create();
  {
    using guard = write.guard();
    guard.insert("a", "1");
    guard.insert("b", "2");
  }
  {
    using guard = write.guard();
    assertStrictEquals(guard.remove("a"), "1");
    assertStrictEquals(guard.remove("a"), undefined);
    assertStrictEquals(guard.remove("never"), undefined);
    assertEquals(guard.size, 1);
  }
  using view = read.guard();
  assertEquals(snapshot(view), new Map([["b", "2"]]));
});

Deno.test("WriteGuard.replace() applies only to an existing key and returns the previous value", () => {
  const [write, read] = create({ value: codecs.number });
  let calls = 0;
  {
    using guard = write.guard();
    assertStrictEquals(
      guard.replace("n", (old) => (calls++, old + 1)),
      undefined,
    );
    assertEquals(calls, 0);
    assert(!guard.has("n"));
    guard.insert("n", 1);
    assertStrictEquals(guard.replace("n", (old) => (calls++, old + 1)), 1);
    assertStrictEquals(guard.replace("n", (old) => (calls++, old * 10)), 2);
    assertEquals(calls, 2);
  }
  assertEquals(read.get("n"), 20);
});

Deno.test("ReadGuard iteration over an empty map yields nothing", () => {
  const [write, read] = create();
  using view = read.guard();
  assertEquals(view.size, 0);
  assertEquals([...view], []);
  assertEquals([...view.keys()], []);
  assertEquals([...view.values()], []);
  assertEquals([...view.entries()], []);
  using guard = write.guard();
  assertEquals([...guard], []);
});

Deno.test("WriteHandle publishes rounds of inserts and removals in both directions", () => {
  const [write, read] = create({ key: codecs.int32, value: codecs.int32 });
  const n = 300;
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < n; i++) {
      {
        using guard = write.guard();
        guard.insert(i, i + round);
      }
      if (i % 50 === 0) {
        using view = read.guard();
        assertEquals(view.size, i + 1);
      }
    }
    {
      using view = read.guard();
      assertEquals(view.size, n);
      for (let i = 0; i < n; i++) assertEquals(view.get(i), i + round);
    }
    const forwards = round % 2 === 0;
    for (let step = 0; step < n; step++) {
      const key = forwards ? step : n - 1 - step;
      {
        using guard = write.guard();
        assertEquals(guard.remove(key), key + round);
      }
      using view = read.guard();
      assertEquals(view.size, n - step - 1);
      assert(!view.has(key));
      const survivor = forwards ? n - 1 : 0;
      if (step < n - 1) assertEquals(view.get(survivor), survivor + round);
    }
    using view = read.guard();
    assertEquals([...view.keys()], []);
  }
});

Deno.test("WriteGuard applies several operations in one guard and publishes them together", () => {
  const [write, read] = create();
  const before = read.guard();
  {
    using guard = write.guard();
    guard.insert("a", "1");
    guard.insert("b", "2");
    guard.insert("c", "3");
    guard.remove("b");
    guard.insert("d", "4");
    assertEquals(read.get("a"), undefined);
    assertEquals(
      snapshot(guard),
      new Map([["a", "1"], ["c", "3"], ["d", "4"]]),
    );
  }
  assertEquals(before.size, 0);
  before.release();
  using view = read.guard();
  assertEquals(snapshot(view), new Map([["a", "1"], ["c", "3"], ["d", "4"]]));
});

Deno.test("WriteGuard replays a complex log whose net effect readers see on both copies", () => {
  const [write, read] = create();
  {
    using guard = write.guard();
    guard.insert("x", "1");
    guard.insert("y", "1");
  }
  {
    using guard = write.guard();
    guard.insert("x", "2"); // overwrite
    guard.replace("x", (old) => old + "+"); // replace
    guard.remove("y"); // remove
    guard.insert("y", "again"); // re-insert
    guard.insert("z", "new");
    guard.remove("z");
    guard.insert("z", "back");
  }
  const expected = new Map([["x", "2+"], ["y", "again"], ["z", "back"]]);
  {
    using view = read.guard();
    assertEquals(snapshot(view), expected);
  }
  // Two more publishes, so that readers see the replayed copy too.
  for (let i = 0; i < 2; i++) {
    {
      using guard = write.guard();
      assertEquals(snapshot(guard), expected);
      guard.insert("w", String(i));
    }
    expected.set("w", String(i));
    using view = read.guard();
    assertEquals(snapshot(view), expected);
  }
});

Deno.test("ReadGuard held across a publish keeps its snapshot", () => {
  const [write, read] = create();
  {
    using guard = write.guard();
    guard.insert("baz", "qux");
    guard.insert("foo", "bar");
  }
  const view = read.guard();
  {
    using guard = write.guard();
    guard.replace("baz", (old) => old + "!");
    guard.remove("foo");
  }
  assertEquals(view.get("baz"), "qux");
  assertEquals(view.get("foo"), "bar");
  assertEquals(view.size, 2);
  view.release();
  using fresh = read.guard();
  assertEquals(fresh.get("baz"), "qux!");
  assertEquals(fresh.size, 1);
});

Deno.test("WriteGuard without changes publishes nothing and needs no wait", () => {
  // Two copies: a new version would make the next guard wait for the view.
  const [write, read] = create({ maxCopies: 2 });
  {
    using guard = write.guard();
    guard.insert("a", "1");
  }
  const view = read.guard();
  write.guard().publish(); // no change: no new version
  write.guard().publish(); // so nothing to wait for
  assertEquals(write.stats().version, 1);
  assertEquals(write.stats().pinned, []);
  assertEquals(view.get("a"), "1");
  view.release();
});

Deno.test("WriteHandle.guardAsync() waits for this thread's read guard without blocking", async () => {
  // Two copies: the writer must get back the copy the read guard holds.
  const [write, read] = create({ maxCopies: 2 });
  {
    using guard = write.guard();
    guard.insert("a", "1");
  }
  const view = read.guard();
  {
    using guard = write.guard();
    guard.insert("a", "2");
  }
  setTimeout(() => view.release(), 20);
  using guard = await write.guardAsync();
  assert(view.released);
  assertEquals(guard.get("a"), "2");
});

Deno.test("WriteHandle.synchronize() and synchronizeAsync() replay the log", async () => {
  const [write, read] = create();
  for (let i = 0; i < 3; i++) {
    {
      using guard = write.guard();
      guard.insert(`k${i}`, `v${i}`);
    }
    if (i % 2 === 0) write.synchronize();
    else await write.synchronizeAsync();
    using view = read.guard();
    assertEquals(view.size, i + 1);
  }
});

Deno.test("ReadHandle keeps reading after the write handle is closed", () => {
  const [write, read] = create();
  {
    using guard = write.guard();
    guard.insert("k", "v");
  }
  write.close();
  write.close();
  assert(write.closed);
  assertEquals(read.get("k"), "v");
  using clone = read.clone();
  using view = clone.guard();
  assertEquals(snapshot(view), new Map([["k", "v"]]));
});

Deno.test("WriteGuard survives growth from a tiny capacity through many publishes", () => {
  const [write, read] = create({
    capacity: 1,
    key: codecs.string,
    value: codecs.string,
  });
  const model = new Map<string, string>();
  for (let batch = 0; batch < 40; batch++) {
    {
      using guard = write.guard();
      for (let i = 0; i < 100; i++) {
        const key = `key-${(batch * 37 + i * 11) % 2500}`;
        if ((batch + i) % 3 === 0) {
          guard.remove(key);
          model.delete(key);
        } else {
          guard.insert(key, `${batch}:${i}`.repeat(1 + (i % 5)));
          model.set(key, `${batch}:${i}`.repeat(1 + (i % 5)));
        }
      }
    }
    using view = read.guard();
    assertEquals(view.size, model.size);
    if (batch % 8 === 0) {
      assertEquals(snapshot(view), new Map([...model].sort()));
    }
  }
});

Deno.test("WriteHandle.guard() throws DeadlockError for a guard of a handle attached in its own thread", () => {
  // Two copies: the writer must wait for the guard on the retired copy.
  const [write, read] = create({ maxCopies: 2 });
  {
    using guard = write.guard();
    guard.insert("a", "1");
  }
  // A cloned token carries a new buffer object for the same memory.
  using attached = attach(structuredClone(read.share()));
  const view = attached.guard();
  {
    using guard = write.guard();
    guard.insert("a", "2");
  }
  assertThrows(() => write.guard(), DeadlockError);
  assertThrows(() => write.synchronize(), DeadlockError);
  assertEquals(view.get("a"), "1");
  view.release();
  using guard = write.guard();
  assertEquals(guard.get("a"), "2");
});

Deno.test("attach() in the writer's thread after growth still counts as this thread's reader", () => {
  // Two copies: the writer must wait for the guard on the retired copy.
  const [write, read] = create({ capacity: 1, maxCopies: 2 });
  {
    using guard = write.guard();
    for (let i = 0; i < 1000; i++) guard.insert(`k${i}`, "v");
  }
  {
    using guard = write.guard();
    for (let i = 1000; i < 3000; i++) guard.insert(`k${i}`, "v");
  }
  using attached = attach(structuredClone(read.share()));
  const view = attached.guard();
  {
    using guard = write.guard();
    guard.insert("x", "y");
  }
  assertThrows(() => write.guard(), DeadlockError);
  view.release();
  write.guard().publish();
});

Deno.test("WriteGuard keeps word-sized values in table slots right through overwrites, replaces, removals and growth", () => {
  const [write, read] = create({
    key: codecs.int32,
    value: codecs.number,
    capacity: 1,
  });
  const model = new Map<number, number>();
  for (let round = 0; round < 30; round++) {
    {
      using guard = write.guard();
      for (let i = 0; i < 50; i++) {
        const key = (round * 17 + i * 13) % 97;
        switch ((round + i) % 4) {
          case 0:
            guard.insert(key, round + i / 100);
            model.set(key, round + i / 100);
            break;
          case 1:
            guard.replace(key, (old) => old * -1);
            if (model.has(key)) model.set(key, model.get(key)! * -1);
            break;
          case 2:
            guard.remove(key);
            model.delete(key);
            break;
          default:
            guard.insert(key, -0.5);
            model.set(key, -0.5);
        }
      }
    }
    // Every other round reads the copy that replayed the last round's log.
    using view = read.guard();
    assertEquals(
      new Map([...view].sort(([a], [b]) => a - b)),
      new Map([...model].sort(([a], [b]) => a - b)),
    );
    for (let key = 0; key < 97; key++) {
      assertEquals(read.get(key), model.get(key));
    }
  }
});
