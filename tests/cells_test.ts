/**
 * Atomic cells (`src/cells.ts`, `src/cells_api.ts`): the codecs, every
 * operation through read guards, read handles and write guards, what a
 * bad operand or a map without cells gets, and how cells follow entries
 * across publishes, replacements and removals.
 */
import {
  assert,
  assertEquals,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import {
  type Atomic,
  attach,
  type Codec,
  codecs,
  create,
  type ReadGuard,
  type ReadHandle,
  type WriteGuard,
} from "@x/flashmap";
import { MAX_CELLS } from "../src/codecs.ts";

function counters(keys: string[], initial = 0) {
  const [write, read] = create({
    key: codecs.string,
    value: codecs.atomicInt32,
  });
  write.update((guard) => {
    for (const key of keys) guard.insert(key, initial);
  });
  return { write, read };
}

Deno.test("cells: each operation returns what Atomics returns, on every kind of access", () => {
  const { write, read } = counters(["a"], 12);
  const plain = new Int32Array(new SharedArrayBuffer(4));
  plain[0] = 12;
  using view = read.guard();
  const steps: [string, (n: number) => unknown, (n: number) => unknown][] = [
    ["add", () => view.add("a", 5), () => Atomics.add(plain, 0, 5)],
    ["sub", () => read.sub("a", 3), () => Atomics.sub(plain, 0, 3)],
    ["and", () => view.and("a", 0b1110), () => Atomics.and(plain, 0, 0b1110)],
    ["or", () => read.or("a", 0x100), () => Atomics.or(plain, 0, 0x100)],
    ["xor", () => view.xor("a", 0xff), () => Atomics.xor(plain, 0, 0xff)],
    [
      "exchange",
      () => read.exchange("a", -7),
      () => Atomics.exchange(plain, 0, -7),
    ],
    [
      "compareExchange (no match)",
      () => view.compareExchange("a", 1, 2),
      () => Atomics.compareExchange(plain, 0, 1, 2),
    ],
    [
      "compareExchange (match)",
      () => read.compareExchange("a", -7, 40),
      () => Atomics.compareExchange(plain, 0, -7, 40),
    ],
    ["load", () => view.load("a"), () => Atomics.load(plain, 0)],
    [
      "store (unsigned form)",
      () => read.store("a", 0xffffffff),
      () => Atomics.store(plain, 0, 0xffffffff),
    ],
    [
      "add (wraps)",
      () => view.add("a", 2 ** 31),
      () => Atomics.add(plain, 0, 2 ** 31),
    ],
  ];
  for (const [name, ours, theirs] of steps) {
    assertEquals(ours(0), theirs(0), name);
    assertEquals(view.get("a"), plain[0], `${name}: the cell after`);
  }
  write.update((guard) => {
    assertEquals(guard.add("a", 1), plain[0]);
    assertEquals(guard.load("a"), (plain[0] + 1) | 0);
  });
  assertEquals(read.get("a"), (plain[0] + 1) | 0);
});

Deno.test("cells: an update is seen at once by every guard of every version, without a publish", () => {
  const { write, read } = counters(["hits"]);
  const other = read.clone();
  const old = read.guard(); // version 1
  write.update((guard) => guard.insert("unrelated", 0));
  const newer = other.guard(); // version 2, another copy
  assert(old.version < newer.version);
  old.add("hits", 5);
  assertEquals(newer.get("hits"), 5);
  newer.add("hits", 1);
  assertEquals(old.get("hits"), 6);
  write.update((guard) => {
    guard.add("hits", 10);
    assertEquals(old.get("hits"), 16); // before this guard publishes
  });
  assertEquals(read.get("hits"), 16);
  old.release();
  newer.release();
  other.close();
});

Deno.test("cells: an absent key changes nothing and returns undefined", () => {
  const { write, read } = counters(["a"], 1);
  using view = read.guard();
  for (
    const result of [
      view.add("b", 1),
      view.sub("b", 1),
      view.and("b", 1),
      view.or("b", 1),
      view.xor("b", 1),
      view.exchange("b", 1),
      view.compareExchange("b", 0, 1),
      view.load("b"),
      view.store("b", 1),
      read.add("b", 1),
      read.store("b", 1),
    ]
  ) assertStrictEquals(result, undefined);
  write.update((guard) => {
    assertStrictEquals(guard.add("b", 1), undefined);
    guard.insert("b", 0);
    assertEquals(guard.add("b", 1), 0); // the write copy has it already
  });
  assertStrictEquals(view.add("b", 1), undefined); // not in this snapshot
  assertEquals(read.get("b"), 1);
  assertEquals(read.get("a"), 1);
});

Deno.test("cells: bad operands and indexes throw before anything changes", () => {
  const [write, read] = create({
    key: codecs.int32,
    value: codecs.atomicInt32Array(2),
  });
  write.update((guard) => guard.insert(1, [10, 20]));
  using view = read.guard();
  const cases: [() => unknown, ErrorConstructor | RangeErrorConstructor][] = [
    [() => view.add(1, 1.5), RangeError],
    [() => view.add(1, 2 ** 32), RangeError],
    [() => view.add(1, -(2 ** 31) - 1), RangeError],
    [() => view.add(1, NaN), RangeError],
    [() => view.add(1, "1" as unknown as number), TypeError],
    [() => view.add(1, 1n as unknown as number), TypeError],
    [() => view.add(1, 1, 2), RangeError],
    [() => view.add(1, 1, -1), RangeError],
    [() => view.add(1, 1, 0.5), RangeError],
    [() => view.add(1, 1, "0" as unknown as number), TypeError],
    [() => view.compareExchange(1, 10, 1.5), RangeError],
    [() => view.compareExchange(1, "10" as unknown as number, 1), TypeError],
    [() => view.load(1, 2), RangeError],
    [() => view.store(1, undefined as unknown as number), TypeError],
    [() => view.add(1.5, 1), RangeError], // a bad key
    [() => read.add(1, 1.5), RangeError],
    [() => read.load(1, 7), RangeError],
  ];
  for (const [operation, kind] of cases) assertThrows(operation, kind);
  // A bad operand is refused even for an absent key.
  assertThrows(() => view.add(99, 1.5), RangeError);
  assertEquals([...read.get(1)!], [10, 20]);
  write.update((guard) => {
    assertThrows(() => guard.add(1, 1, 2), RangeError);
    assertThrows(() => guard.xor(1, {} as unknown as number), TypeError);
  });
  assertEquals([...read.get(1)!], [10, 20]);
});

Deno.test("cells: a map whose values are not cells refuses every operation with a TypeError", () => {
  const [write, read] = create({ key: codecs.string, value: codecs.int32 });
  write.update((guard) => guard.insert("a", 1));
  // Casts: these calls do not type-check (see the compile-time test below).
  const view = read.guard() as unknown as ReadGuard<string, Atomic<number>>;
  const handle = read as unknown as ReadHandle<string, Atomic<number>>;
  const attempts: ((
    target: {
      add(k: string, v: number): unknown;
      compareExchange(k: string, e: number, r: number): unknown;
      load(k: string): unknown;
      store(k: string, v: number): unknown;
    },
  ) => unknown)[] = [
    (target) => target.add("a", 1),
    (target) => target.compareExchange("a", 1, 2),
    (target) => target.load("a"),
    (target) => target.store("a", 5),
  ];
  for (const attempt of attempts) {
    assertThrows(() => attempt(view), TypeError, "not atomic cells");
    assertThrows(() => attempt(handle), TypeError, "not atomic cells");
    write.update((guard) => {
      const cells = guard as unknown as WriteGuard<string, Atomic<number>>;
      assertThrows(() => attempt(cells), TypeError, "not atomic cells");
    });
  }
  view.release();
  assertEquals(read.get("a"), 1);
});

Deno.test("cells: the operations do not type-check on maps without cells", () => {
  const [write, read] = create({ key: codecs.string, value: codecs.number });
  const [cellWrite, cellRead] = create({
    key: codecs.string,
    value: codecs.atomicBigInt64,
  });
  // Only compiled: the calls would throw.
  const neverCalled = () => {
    // @ts-expect-error: the values are not cells
    read.add("a", 1);
    // @ts-expect-error: the values are not cells
    write.update((guard) => guard.store("a", 1));
    // @ts-expect-error: 64-bit cells take bigints
    cellRead.add("a", 1);
    const total: bigint | undefined = cellRead.add("a", 1n);
    cellWrite.update((guard) => guard.insert("a", 5n));
    const plain: bigint = cellRead.get("a")! + 1n;
    return [total, plain];
  };
  assert(typeof neverCalled === "function");
});

Deno.test("cells: 64-bit cells take and return bigints, with Atomics' wrapping", () => {
  const [write, read] = create({
    key: codecs.bigint,
    value: codecs.atomicBigInt64,
  });
  write.update((guard) => guard.insert(1n, 2n ** 63n - 1n));
  assertEquals(read.add(1n, 1n), 2n ** 63n - 1n);
  assertEquals(read.get(1n), -(2n ** 63n));
  assertEquals(read.store(1n, 2n ** 64n - 1n), 2n ** 64n - 1n);
  assertEquals(read.load(1n), -1n);
  assertThrows(() => read.add(1n, 2n ** 64n), RangeError);
  assertThrows(() => read.add(1n, -(2n ** 63n) - 1n), RangeError);
  assertThrows(() => read.add(1n, 1 as unknown as bigint), TypeError);
  assertEquals(read.get(1n), -1n);
});

Deno.test("cells: arrays of cells read as fresh copies, and are written from typed arrays or arrays", () => {
  const [write, read] = create({
    key: codecs.string,
    value: codecs.atomicBigInt64Array(3),
  });
  write.update((guard) => {
    guard.insert("typed", new BigInt64Array([1n, 2n, 3n]));
    guard.insert("plain", [4n, 5n, 6n]);
    assertThrows(() => guard.insert("short", [1n, 2n]), RangeError);
    assertThrows(
      () => guard.insert("wrong", new Int32Array(3) as never),
      TypeError,
    );
    assertThrows(() => guard.insert("mixed", [1n, 2, 3n] as never), TypeError);
    assertThrows(() => guard.insert("number", 5n as never), TypeError);
  });
  const first = read.get("typed")!;
  const second = read.get("typed")!;
  assert(first instanceof BigInt64Array);
  assert(first !== second);
  first[0] = 100n; // a copy: the cell does not change
  assertEquals([...read.get("typed")!], [1n, 2n, 3n]);
  assertEquals(read.add("plain", 10n, 2), 6n);
  assertEquals([...read.get("plain")!], [4n, 5n, 16n]);
  using view = read.guard();
  assertEquals(view.size, 2);
  assertEquals(
    [...view].map(([key, cells]) => [key, [...cells]]).sort(),
    [["plain", [4n, 5n, 16n]], ["typed", [1n, 2n, 3n]]],
  );
});

Deno.test("cells: insert and replace make new cells; updates through older snapshots go to the old ones", () => {
  const { write, read } = counters(["k"]);
  const old = read.guard();
  old.add("k", 3);
  write.update((guard) => {
    // replace() gets the current value of the old cell.
    assertEquals(guard.replace("k", (current) => current * 10), 3);
  });
  assertEquals(read.get("k"), 30);
  old.add("k", 1); // lands in the old cell, which the new version no longer holds
  assertEquals(old.get("k"), 4);
  assertEquals(read.get("k"), 30);
  write.update((guard) => guard.insert("k", 0));
  assertEquals(read.get("k"), 0);
  // The pattern that keeps every update: keep the key, reset with store.
  using view = read.guard();
  view.add("k", 2);
  assertEquals(read.store("k", 0), 0);
  assertEquals(view.get("k"), 0);
  old.release();
});

Deno.test("cells: a removed key's cell is still updated through the snapshots that hold it", () => {
  const { write, read } = counters(["gone", "kept"]);
  const old = read.guard();
  write.update((guard) => guard.remove("gone"));
  assertEquals(old.add("gone", 1), 0);
  assertEquals(old.get("gone"), 1);
  assertStrictEquals(read.add("gone", 1), undefined);
  old.release();
  // Once no guard can reach the old entry its memory is reused: new
  // entries keep exactly what was written into them.
  write.update((guard) => {
    for (let i = 0; i < 100; i++) guard.insert(`new ${i}`, i);
  });
  using view = read.guard();
  for (let i = 0; i < 100; i++) assertEquals(view.get(`new ${i}`), i);
});

Deno.test("cells: a released guard refuses updates", () => {
  const { read } = counters(["a"]);
  const view = read.guard();
  view.release();
  assertThrows(() => view.add("a", 1), TypeError, "released");
  assertEquals(read.get("a"), 0);
});

Deno.test("cells: a user key codec that releases the guard stops the update", () => {
  let release: (() => void) | undefined;
  const key: Codec<string> & { canonical: true } = {
    name: "test.releasing",
    canonical: true,
    encode: (value) => {
      release?.();
      return new TextEncoder().encode(value);
    },
    decode: (bytes) => new TextDecoder().decode(bytes),
  };
  const [write, read] = create({ key, value: codecs.atomicInt32 });
  write.update((guard) => guard.insert("a", 0));
  const view = read.guard();
  assertEquals(view.add("a", 1), 0);
  release = () => view.release();
  assertThrows(() => view.add("a", 1), TypeError, "released");
  release = undefined;
  assertEquals(read.add("a", 1), 1); // a one-shot encodes before its guard
  assertEquals(read.get("a"), 2);
});

Deno.test("cells: write guards update cells inside their own callbacks, and after the guard ends refuse", () => {
  const { write, read } = counters(["a", "b"]);
  let kept: WriteGuard<string, Atomic<number>> | undefined;
  write.update((guard) => {
    kept = guard;
    guard.replace("a", (previous) => {
      // A cell update changes no table: allowed while the callback runs.
      guard.add("b", 7);
      return previous + 1;
    });
  });
  assertEquals(read.get("a"), 1);
  assertEquals(read.get("b"), 7);
  assertThrows(() => kept!.add("b", 1), TypeError);
  assertEquals(read.get("b"), 7);
});

Deno.test("cells: codecs by name, in tokens, and their checks", () => {
  assertEquals(codecs.atomicInt32.name, "atomicInt32");
  assertEquals(codecs.atomicBigInt64.name, "atomicBigInt64");
  assertStrictEquals(codecs.atomicInt32Array(4), codecs.atomicInt32Array(4));
  assertEquals(codecs.atomicInt32Array(4).name, "atomicInt32Array(4)");
  assertEquals(
    codecs.atomicBigInt64Array(2).name,
    "atomicBigInt64Array(2)",
  );
  assertThrows(() => codecs.atomicInt32Array(0), RangeError);
  assertThrows(() => codecs.atomicInt32Array(MAX_CELLS + 1), RangeError);
  assertThrows(() => codecs.atomicInt32Array(1.5), RangeError);
  assertThrows(
    () => codecs.atomicInt32Array("4" as unknown as number),
    TypeError,
  );
  assertThrows(
    () => create({ key: codecs.atomicInt32 as never, value: codecs.string }),
    TypeError,
  );
  // encode and decode round-trip, as a user of the codec would call them.
  const pair = codecs.atomicInt32Array(2);
  assertEquals(
    [...pair.decode(pair.encode([1, -1] as unknown as Atomic<Int32Array>))],
    [1, -1],
  );
  assertEquals(
    codecs.atomicBigInt64.decode(
      codecs.atomicBigInt64.encode(-5n as Atomic<bigint>),
    ),
    -5n,
  );
  assertThrows(() => pair.decode(new Uint8Array(3)), TypeError);
  // A token of an array-of-cells map attaches by the codec's name alone.
  const [write, read] = create({
    key: codecs.int32,
    value: codecs.atomicInt32Array(3),
  });
  write.update((guard) => guard.insert(1, [1, 2, 3]));
  const other = attach(structuredClone(read.share()));
  assertEquals(other.add(1, 1, 2), 3);
  assertEquals([...read.get(1)!], [1, 2, 4]);
  other.close();
  // ...and refuses codecs of another length or kind.
  assertThrows(
    () => attach(read.share(), { value: codecs.atomicInt32Array(2) as never }),
    TypeError,
  );
});

Deno.test("cells: the names of cell codecs are reserved, even those not made yet", () => {
  const squatter = (name: string): Codec<Uint8Array> => ({
    name,
    canonical: false,
    encode: (value) => value,
    decode: (bytes) => bytes,
  });
  for (
    const name of [
      "atomicInt32",
      "atomicInt32Array(64)",
      "atomicBigInt64Array(777)",
    ]
  ) {
    assertThrows(
      () => create({ key: codecs.string, value: squatter(name) }),
      TypeError,
      "belongs to a built-in codec",
    );
  }
  // A reader cannot read a map of cells with a codec of its own either.
  const [write, read] = create({
    key: codecs.string,
    value: codecs.atomicInt32Array(5),
  });
  assertThrows(
    () =>
      attach(read.share(), {
        value: squatter("atomicInt32Array(5)") as never,
      }),
    TypeError,
  );
  write.close();
  read.close();
});

Deno.test("cells: only real typed arrays of the cells' kind pass as one (no faked prototype, Proxy or tag)", () => {
  const [write, read] = create({
    key: codecs.string,
    value: codecs.atomicInt32Array(2),
  });
  const fake = Object.create(Int32Array.prototype, {
    length: { value: 2 },
    [Symbol.iterator]: {
      value: function* () {
        yield "12";
        yield { valueOf: () => 2 ** 40 };
      },
    },
  });
  const tagged = { [Symbol.toStringTag]: "Int32Array", length: 2 };
  class Counted extends Int32Array {}
  write.update((guard) => {
    assertThrows(() => guard.insert("fake", fake), TypeError);
    assertThrows(() => guard.insert("tagged", tagged as never), TypeError);
    assertThrows(
      () => guard.insert("proxy", new Proxy(new Int32Array(2), {}) as never),
      TypeError,
    );
    guard.insert("subclass", new Counted([1, 2]));
  });
  assertEquals([...read.get("subclass")!], [1, 2]);
  assertEquals(read.stats().size, 1);
});

Deno.test("cells: load does not type-check on maps without cells either", () => {
  const [write, read] = create({ key: codecs.string, value: codecs.number });
  const neverCalled = () => {
    // @ts-expect-error: the values are not cells
    read.load("a");
    // @ts-expect-error: the values are not cells
    write.update((guard) => guard.load("a", 0));
  };
  assert(typeof neverCalled === "function");
  write.close();
  read.close();
});

Deno.test("cells: an aborted write guard does not take back its cell updates", () => {
  const { write, read } = counters(["a"]);
  const guard = write.guard();
  guard.add("a", 5);
  guard.insert("b", 1);
  guard.abort();
  assertEquals(read.get("a"), 5);
  assertStrictEquals(read.get("b"), undefined);
});
