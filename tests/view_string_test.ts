/**
 * The read path of string-keyed maps (`src/view/string.ts`) and its
 * per-thread cache: every answer checked against a `Map` model of the
 * snapshot each guard holds, across publishes, copy reuse, growth,
 * removal and re-insertion, clear(), and keys looked up often enough to
 * be cached; and the cache's bound.
 */
import { assert, assertEquals, assertThrows } from "@std/assert";
import fc from "fast-check";
import {
  type Codec,
  codecs,
  create,
  type ReadGuard,
  type ReadHandle,
} from "@x/flashmap";
import { DEFAULT_MAX_COPIES } from "../src/create.ts";
import {
  H_CURRENT_COPY,
  H_SEED,
  MapViews,
  T_MASK,
  T_OFFSET,
  T_VERSION,
} from "../src/layout.ts";
import { Int32Values, StringValues } from "../src/storage.ts";
import { descriptor } from "../src/table.ts";
import {
  CACHE_KEY_LENGTH,
  DEFAULT_CACHE_BYTES,
  StringView,
} from "../src/view/string.ts";

/** The version `copy` holds, as a guard on it reads it when it enters. */
function versionOf(views: MapViews, copy: number): number {
  return views.i32[descriptor(copy, T_VERSION)];
}

/** A new string object with the same code units (flat, not hashed yet). */
function fresh(key: string): string {
  return JSON.parse(JSON.stringify(key));
}

/** The same code units as a rope (a cons string) where the key is long enough. */
function rope(key: string): string {
  const half = key.length >> 1;
  return key.slice(0, half) + key.slice(half);
}

/** Keys that stress the path: empty, lone surrogates, length boundaries. */
const SPECIAL_KEYS = [
  "",
  "\uD800",
  "a\uDC00b\uD83D",
  "x".repeat(12), // the longest key that is never a slice or rope
  "y".repeat(13),
  "z".repeat(CACHE_KEY_LENGTH), // the longest key the cache takes
  "w".repeat(CACHE_KEY_LENGTH + 1),
  "l".repeat(20_000), // beyond the kept scratch space
];

const KEY_SPACE = 28;

/** Key number `n` of the model: special keys, then plain and two-byte ones. */
function keyOf(n: number): string {
  if (n < SPECIAL_KEYS.length) return SPECIAL_KEYS[n];
  return n % 3 === 0 ? `ключ-${n}` : `session:key-${n}`;
}

const KEYS = Array.from({ length: KEY_SPACE + 1 }, (_, n) => keyOf(n));

interface ValueKind<V> {
  name: string;
  codec: Codec<V>;
  make(counter: number, size: number): V;
}

const VALUE_KINDS: ValueKind<unknown>[] = [
  { name: "int32", codec: codecs.int32, make: (c) => c * 7 - 1000 },
  { name: "boolean", codec: codecs.boolean, make: (c) => c % 2 === 0 },
  { name: "number", codec: codecs.number, make: (c) => c / 3 },
  {
    name: "bigint",
    codec: codecs.bigint as Codec<unknown>,
    make: (c) => BigInt(c) * -(2n ** 40n),
  },
  {
    // Some longer than the cache keeps whole.
    name: "string",
    codec: codecs.string,
    make: (c, size) => `${c}:`.padEnd(size * 2 + 2, "v"),
  },
  { name: "json", codec: codecs.json(), make: (c, size) => ({ c, size }) },
  {
    name: "bytes",
    codec: codecs.bytes as Codec<unknown>,
    make: (c, size) => new Uint8Array(size % 5).fill(c & 255),
  },
];

type Op =
  | { op: "insert"; key: number; size: number }
  | { op: "remove"; key: number }
  | { op: "publish" }
  | { op: "clear" }
  | { op: "open"; handle: number }
  | { op: "check"; which: number; times: number }
  | { op: "release"; which: number }
  | { op: "synchronize" };

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      op: fc.constant("insert" as const),
      key: fc.nat(KEY_SPACE),
      size: fc.nat(40),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("remove" as const),
      key: fc.nat(KEY_SPACE),
    }),
  },
  { weight: 4, arbitrary: fc.constant({ op: "publish" as const }) },
  { weight: 1, arbitrary: fc.constant({ op: "clear" as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("open" as const),
      handle: fc.nat(2),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("check" as const),
      which: fc.nat(7),
      times: fc.integer({ min: 1, max: 6 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("release" as const),
      which: fc.nat(7),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: "synchronize" as const }) },
);

/**
 * Every lookup of `key` through `guard`, as the same string object, a
 * fresh copy and a rope, `times` rounds over (so that keys are cached, then
 * answered from the cache), against the snapshot `expected`.
 */
function checkKey<V>(
  guard: ReadGuard<string, V>,
  expected: Map<string, V>,
  key: string,
  times: number,
): void {
  const want = expected.get(key);
  for (let round = 0; round < times; round++) {
    for (const form of [key, fresh(key), rope(key)]) {
      // Either may come first to a version: both must check it.
      if (round % 2 === 0) {
        assertEquals(guard.has(form), want !== undefined);
        assertEquals(guard.get(form), want);
      } else {
        assertEquals(guard.get(form), want);
        assertEquals(guard.has(form), want !== undefined);
      }
    }
  }
}

/**
 * One model run: a writer, three read handles (two in one clone family),
 * guards held across publishes, each checked against the snapshot it took.
 * Guards of the oldest versions are released when the writer would need
 * more copies than `maxCopies` (it cannot wait for this thread's guards).
 */
function runModel(ops: Op[], kind: ValueKind<unknown>, maxCopies: number) {
  const [write, read] = create<string, unknown>({
    key: codecs.string,
    value: kind.codec,
    capacity: 1,
    maxCopies,
  });
  const handles: ReadHandle<string, unknown>[] = [
    read,
    read.clone(),
    read.clone(),
  ];
  const model = new Map<string, unknown>();
  let published = new Map<string, unknown>();
  let version = 0;
  let dirty = false;
  let counter = 0;
  const open: {
    guard: ReadGuard<string, unknown>;
    expected: Map<string, unknown>;
    version: number;
  }[] = [];
  let guard = write.guard();
  const makeRoom = () => {
    const pins = [...new Set(open.map((held) => held.version))]
      .filter((v) => v < version)
      .sort((a, b) => a - b);
    while (pins.length + 2 > maxCopies) {
      const oldest = pins.shift();
      for (let i = open.length - 1; i >= 0; i--) {
        if (open[i].version === oldest) {
          open[i].guard.release();
          open.splice(i, 1);
        }
      }
    }
  };
  const ensureGuard = () => {
    if (!guard.published) return;
    makeRoom();
    guard = write.guard();
  };
  try {
    for (const step of ops) {
      switch (step.op) {
        case "insert": {
          ensureGuard();
          const key = keyOf(step.key);
          const value = kind.make(counter++, step.size);
          guard.insert(key, value);
          model.set(key, value);
          dirty = true;
          break;
        }
        case "remove": {
          ensureGuard();
          if (guard.delete(keyOf(step.key))) dirty = true;
          model.delete(keyOf(step.key));
          break;
        }
        case "clear": {
          if (model.size === 0) break;
          ensureGuard();
          dirty = true;
          guard.clear();
          model.clear();
          break;
        }
        case "publish": {
          if (guard.published) break;
          guard.publish();
          published = new Map(model);
          if (dirty) version++;
          dirty = false;
          break;
        }
        case "open": {
          const view = handles[step.handle].guard();
          assertEquals(view.version, version);
          open.push({ guard: view, expected: new Map(published), version });
          break;
        }
        case "check": {
          if (open.length === 0) break;
          const held = open[step.which % open.length];
          for (const key of KEYS) {
            checkKey(held.guard, held.expected, key, step.times);
          }
          // Keys the writer's guard holds now, read one-shot from the
          // current version, which may be newer than the held guard's.
          for (const key of KEYS) {
            assertEquals(read.get(fresh(key)), published.get(key));
            assertEquals(read.has(key), published.has(key));
          }
          break;
        }
        case "release": {
          if (open.length === 0) break;
          const [held] = open.splice(step.which % open.length, 1);
          held.guard.release();
          break;
        }
        case "synchronize": {
          if (!guard.published) break;
          makeRoom();
          write.synchronize();
          ensureGuard();
          break;
        }
      }
    }
    if (!guard.published) {
      guard.publish();
      published = new Map(model);
    }
    for (const held of open) {
      for (const key of KEYS) checkKey(held.guard, held.expected, key, 2);
      held.guard.release();
    }
    const last = read.guard();
    for (const key of KEYS) checkKey(last, published, key, 3);
    last.release();
  } finally {
    for (const held of open) held.guard.release();
    for (const handle of handles) handle.close();
    if (!guard.published) guard.abort();
    write.close();
  }
}

Deno.test("StringView matches a Map model per held snapshot, for every value kind", () => {
  fc.assert(
    fc.property(
      fc.array(opArbitrary, { maxLength: 120, size: "max" }),
      fc.constantFrom(...VALUE_KINDS),
      fc.constantFrom(2, 3, DEFAULT_MAX_COPIES),
      (ops, kind, maxCopies) => runModel(ops, kind, maxCopies),
    ),
    { numRuns: 70, endOnFailure: true },
  );
});

Deno.test("ReadGuard.get() never answers from the cache of another version", () => {
  const [write, read] = create({
    key: codecs.string,
    value: codecs.int32,
    maxCopies: 2,
  });
  const other = read.clone();
  const key = "session:the-key-of-this-test";
  const set = (value: number | undefined) => {
    const guard = write.guard();
    if (value === undefined) guard.delete(key);
    else guard.insert(key, value);
    guard.publish();
  };
  /**
   * Looks `key` up often enough to be cached, in every form; `get()` or
   * `has()` first, so that each is the first to see a new version.
   */
  const expect = (
    guard: ReadGuard<string, number>,
    want: number | undefined,
    getFirst = true,
  ) => {
    if (getFirst) assertEquals(guard.get(key), want);
    else assertEquals(guard.has(key), want !== undefined);
    checkKey(guard, new Map(want === undefined ? [] : [[key, want]]), key, 8);
  };

  // The cache takes version 0's copy; two publishes later that copy holds
  // version 2, with its table where it was, and no lookup in between.
  for (const getFirst of [true, false]) {
    const zero = read.guard();
    const before = zero.get(key);
    expect(zero, before, getFirst);
    zero.release();
    set(getFirst ? 10 : 30);
    set(getFirst ? 20 : 40);
    const reused = read.guard();
    expect(reused, getFirst ? 20 : 40, getFirst);
    reused.release();
  }

  set(1);
  const one = read.guard();
  expect(one, 1);
  set(2);
  const two = other.guard();
  // Alternating between a cached older version and a newer one.
  for (let i = 0; i < 4; i++) {
    expect(two, 2);
    expect(one, 1);
  }
  one.release();
  // With two copies, the copy that held version 1 comes back as version 3.
  set(3);
  const three = read.guard();
  assertEquals(three.version, 7);
  expect(three, 3, false);
  expect(two, 2);
  two.release();
  set(undefined);
  const gone = other.guard();
  expect(gone, undefined, false);
  expect(three, 3);
  three.release();
  gone.release();
  set(4); // the same key again, another value
  const again = read.guard();
  expect(again, 4);
  again.release();
  // clear(), then the key once more.
  const clearing = write.guard();
  clearing.clear();
  clearing.publish();
  const cleared = other.guard();
  expect(cleared, undefined);
  cleared.release();
  set(5);
  const last = other.guard();
  expect(last, 5);
  last.release();
  other.close();
  read.close();
  write.close();
});

Deno.test("ReadGuard.get() is right across growth, with keys cached before it", () => {
  const [write, read] = create({
    key: codecs.string,
    value: codecs.int32,
    capacity: 1,
  });
  const model = new Map<string, number>();
  let next = 0;
  for (let round = 0; round < 12; round++) {
    const guard = write.guard();
    // Doubling batches: the table and the buffer both grow several times.
    for (let i = 0; i < 2 ** round; i++, next++) {
      const key = `grown-${next}`;
      guard.insert(key, next);
      model.set(key, next);
    }
    // Some keys change value in every round.
    for (let i = 0; i < Math.min(8, next); i++) {
      guard.insert(`grown-${i}`, -1 - round);
      model.set(`grown-${i}`, -1 - round);
    }
    guard.publish();
    const view = read.guard();
    for (let pass = 0; pass < 5; pass++) {
      for (let i = 0; i < Math.min(next, 64); i++) {
        const key = `grown-${i}`;
        assertEquals(view.get(key), model.get(key));
      }
      assertEquals(view.get(`grown-${next}`), undefined);
    }
    view.release();
  }
  read.close();
  write.close();
});

Deno.test("ReadGuard.get() and has() refuse keys that are not strings", () => {
  const [write, read] = create({ key: codecs.string, value: codecs.int32 });
  const guard = read.guard();
  for (const bad of [1, null, undefined, {}, 1n, Symbol("s")]) {
    assertThrows(
      () => guard.get(bad as unknown as string),
      TypeError,
      "Cannot read the guard: key must be a string",
    );
    assertThrows(
      () => guard.has(bad as unknown as string),
      TypeError,
      "Cannot read the guard: key must be a string",
    );
  }
  guard.release();
  read.close();
  write.close();
});

Deno.test("ReadGuard.get() returns a new object from a json map each time, cached or not", () => {
  const [write, read] = create({
    key: codecs.string,
    value: codecs.json<{ n: number }>(),
  });
  const guard = write.guard();
  guard.insert("session:json-key", { n: 1 });
  guard.publish();
  const view = read.guard();
  for (let i = 0; i < 64; i++) {
    const value = view.get("session:json-key")!;
    assertEquals(value, { n: 1 });
    value.n = 99; // never seen by the next get
  }
  view.release();
  read.close();
  write.close();
});

// ------------------------------------------------------------ the view itself

/** A map of `count` string keys (`key i` → i), and a view's arguments on it. */
function fixture(count: number) {
  // A fixed seed: which keys the view samples while its cache is off
  // (those whose hash is 0 modulo 256) depends on it, and the tests of the
  // sampling need a few of the hot keys among them.
  const [write, read] = create({
    key: codecs.string,
    value: codecs.int32,
    seed: 20261202,
  });
  const keys = Array.from({ length: count }, (_, i) => `session:view-${i}`);
  const guard = write.guard();
  keys.forEach((key, i) => guard.insert(key, i));
  guard.publish();
  const views = new MapViews(read.share().buffer as SharedArrayBuffer);
  // In this thread, a guard opened after the publish reads the current copy.
  const held = read.guard();
  const i32 = views.i32;
  const copy = i32[H_CURRENT_COPY];
  assertEquals(i32[descriptor(copy, T_VERSION)], held.version);
  return {
    write,
    read,
    keys,
    views,
    held,
    seed: i32[H_SEED],
    copy,
    table: i32[descriptor(copy, T_OFFSET)],
    mask: i32[descriptor(copy, T_MASK)],
    close() {
      held.release();
      read.close();
      write.close();
    },
  };
}

Deno.test("StringView's cache never counts more bytes than its bound, each key at least 40 bytes and 2 a unit", () => {
  const map = fixture(3000);
  const { views, copy, table, mask, keys } = map;
  const small = new StringView(map.seed, new Int32Values(), 1024);
  const large = new StringView(map.seed, new Int32Values());
  let most = 0;
  for (let pass = 0; pass < 8; pass++) {
    for (let i = 0; i < keys.length; i++) {
      // A hot key between any two others, so that the cache pays.
      for (const key of [keys[i], keys[i % 7]]) {
        assertEquals(
          small.get(views, copy, versionOf(views, copy), table, mask, key, "x"),
          +key.slice(13),
        );
        assertEquals(
          large.get(views, copy, versionOf(views, copy), table, mask, key, "x"),
          +key.slice(13),
        );
        assert(small.cache.bytes <= 1024);
        assert(small.cache.size * (40 + 2 * 14) <= small.cache.bytes);
        assert(large.cache.bytes <= DEFAULT_CACHE_BYTES);
        most = Math.max(most, small.cache.size);
      }
    }
  }
  assert(most > 0, "the small cache was used");
  assert(large.cache.size > 0, "the large cache was used");
  map.close();
});

Deno.test("StringView with no room for a cache (stringCacheBytes 0) answers from the table and caches nothing", () => {
  const map = fixture(64);
  const { views, copy, table, mask, keys } = map;
  const view = new StringView(map.seed, new Int32Values(), 0);
  for (let pass = 0; pass < 20; pass++) {
    for (const [i, key] of keys.entries()) {
      const version = versionOf(views, copy);
      assertEquals(view.get(views, copy, version, table, mask, key, "x"), i);
      assert(view.has(views, copy, version, table, mask, key, "x"));
    }
  }
  assertEquals([view.cache.size, view.cache.bytes], [0, 0]);
  map.close();
});

Deno.test("StringView's cache answers only lookups of the copy it holds answers of, even one that claims the same version", () => {
  const map = fixture(8);
  const { write, read, views, copy, table, mask, keys } = map;
  const view = new StringView(map.seed, new Int32Values());
  const version = versionOf(views, copy);
  for (let pass = 0; pass < 8; pass++) {
    assertEquals(view.get(views, copy, version, table, mask, keys[3], "x"), 3);
  }
  assertEquals(view.cache.size, 1);
  map.held.release();
  write.update((guard) => guard.insert(keys[3], 33));
  const other = views.i32[H_CURRENT_COPY];
  assert(other !== copy);
  const otherTable = views.i32[descriptor(other, T_OFFSET)];
  const otherMask = views.i32[descriptor(other, T_MASK)];
  // The stamp's version with another copy: the cache must not answer.
  for (const lookup of ["get", "has"] as const) {
    const answer = view[lookup](
      views,
      other,
      version,
      otherTable,
      otherMask,
      keys[3],
      "x",
    );
    assertEquals(answer, lookup === "get" ? 33 : true);
  }
  read.close();
  write.close();
});

Deno.test("StringView's cache takes no key longer than its limit", () => {
  const map = fixture(4);
  const { views, copy, table, mask } = map;
  const view = new StringView(map.seed, new Int32Values());
  for (const key of ["w".repeat(CACHE_KEY_LENGTH + 1), "l".repeat(20_000)]) {
    for (let i = 0; i < 50; i++) {
      assertEquals(
        view.get(views, copy, versionOf(views, copy), table, mask, key, "x"),
        undefined,
      );
      assertEquals(
        view.has(views, copy, versionOf(views, copy), table, mask, key, "x"),
        false,
      );
    }
  }
  assertEquals(view.cache.size, 0);
  map.close();
});

Deno.test("StringView's cache is neither read nor filled for a table that is not its copy's", () => {
  const map = fixture(64);
  const { views, copy, table, mask, keys } = map;
  const view = new StringView(map.seed, new Int32Values());
  // A reclaimed handle's guard may hold a table the writer has let go of:
  // here, a mask that disagrees with the descriptor's, and then a table
  // offset that does (an empty table of its own, all free slots). What it
  // reads is undefined; it must write nothing that others would read.
  const stale = new MapViews(new SharedArrayBuffer(views.buffer.byteLength));
  stale.i32.set(views.i32.subarray(0, 1024));
  const staleLookups = () => {
    for (let pass = 0; pass < 8; pass++) {
      for (const key of ["session:view-1", "session:other"]) {
        view.get(
          views,
          copy,
          versionOf(views, copy),
          table,
          mask >> 1,
          key,
          "x",
        );
        view.has(
          views,
          copy,
          versionOf(views, copy),
          table,
          mask >> 1,
          key,
          "x",
        );
        view.get(
          stale,
          copy,
          versionOf(stale, copy),
          table + 2,
          mask,
          key,
          "x",
        );
      }
    }
  };
  staleLookups();
  assertEquals(view.cache.size, 0);
  // They took no hold of the cache: this copy's guards fill and use it.
  for (let pass = 0; pass < 8; pass++) {
    for (const [i, key] of keys.entries()) {
      assertEquals(
        view.get(views, copy, versionOf(views, copy), table, mask, key, "x"),
        i,
      );
    }
  }
  const cached = view.cache.size;
  assert(cached > 0);
  staleLookups();
  assertEquals(view.cache.size, cached);
  for (const [i, key] of keys.entries()) {
    assertEquals(
      view.get(views, copy, versionOf(views, copy), table, mask, key, "x"),
      i,
    );
    assertEquals(
      view.has(views, copy, versionOf(views, copy), table, mask, key, "x"),
      true,
    );
  }
  map.close();
});

Deno.test("StringView keeps short string values whole, and reads long ones", () => {
  const [write, read] = create({ key: codecs.string, value: codecs.string });
  const values = ["", "short", "v".repeat(CACHE_KEY_LENGTH + 7)];
  const guard = write.guard();
  values.forEach((value, i) => guard.insert(`session:value-${i}`, value));
  guard.publish();
  const views = new MapViews(read.share().buffer as SharedArrayBuffer);
  const held = read.guard();
  const i32 = views.i32;
  const copy = i32[H_CURRENT_COPY];
  const table = i32[descriptor(copy, T_OFFSET)];
  const mask = i32[descriptor(copy, T_MASK)];
  const view = new StringView(i32[H_SEED], new StringValues());
  for (let pass = 0; pass < 12; pass++) {
    values.forEach((value, i) => {
      const key = `session:value-${i}`;
      assertEquals(
        view.get(views, copy, versionOf(views, copy), table, mask, key, "x"),
        value,
      );
      assertEquals(held.get(key), value);
    });
  }
  assertEquals(view.cache.size, values.length);
  held.release();
  read.close();
  write.close();
});

Deno.test("StringView answers rightly while it keeps only a miniature of its cache, and once it takes the whole again", () => {
  const map = fixture(20_000);
  const { write, read, views, keys } = map;
  // Room for about 1024 of these keys (14 to 18 units: 68 to 76 bytes).
  const room = 1024;
  const capacity = room * 76;
  const view = new StringView(map.seed, new Int32Values(), capacity);
  const model = new Map(keys.map((key, i) => [key, i]));
  let where = { copy: map.copy, table: map.table, mask: map.mask };
  let held = map.held;
  const lookup = (key: string) => {
    const { copy, table, mask } = where;
    assertEquals(
      view.get(views, copy, versionOf(views, copy), table, mask, key, "x"),
      model.get(key),
    );
    assertEquals(
      view.has(views, copy, versionOf(views, copy), table, mask, key, "x"),
      model.has(key),
    );
  };
  /** Publishes new values for some keys and moves to the new version. */
  const publish = (step: number) => {
    held.release();
    const guard = write.guard();
    for (let i = step % 7; i < keys.length; i += 7) {
      guard.insert(keys[i], i * 3 + step);
      model.set(keys[i], i * 3 + step);
    }
    guard.remove(keys[step]);
    model.delete(keys[step]);
    guard.publish();
    held = read.guard();
    views.remap(); // as a guard does when the writer grew the buffer
    const copy = views.i32[H_CURRENT_COPY];
    assertEquals(views.i32[descriptor(copy, T_VERSION)], held.version);
    where = {
      copy,
      table: views.i32[descriptor(copy, T_OFFSET)],
      mask: views.i32[descriptor(copy, T_MASK)],
    };
  };
  // Every key in turn, far more keys than the cache holds: it cannot pay,
  // and after its first windows the view keeps only the miniature.
  for (let pass = 0; pass < 8; pass++) {
    for (const key of keys) lookup(key);
    if (pass === 3) publish(1);
  }
  assert(view.cache.bytes <= capacity / 256, `${view.cache.bytes} bytes`);
  publish(2);
  // A working set the cache can hold: the miniature says so, and the view
  // takes the whole cache again.
  const hot = keys.slice(0, room / 2);
  let most = 0;
  for (let pass = 0; pass < 400; pass++) {
    for (const key of hot) lookup(key);
    most = Math.max(most, view.cache.size);
    if (pass % 100 === 99) publish(3 + pass);
  }
  assert(most > room / 256, `${most} keys at most`);
  assert(view.cache.bytes <= capacity);
  held.release();
  read.close();
  write.close();
});

Deno.test("ReadGuard.get() of string keys runs no code that replaced performance.now after the library loaded (the cache's clock), so nothing can re-enter a lookup", () => {
  const [write, read] = create({ key: codecs.string, value: codecs.int32 });
  const keys = Array.from({ length: 300 }, (_, i) => `session:clock-${i}`);
  write.update((guard) => keys.forEach((key, i) => guard.insert(key, i)));
  const original = performance.now;
  let calls = 0;
  performance.now = () => {
    calls++;
    throw new Error("a replaced clock ran inside a lookup");
  };
  try {
    for (let pass = 0; pass < 40; pass++) {
      const guard = read.guard();
      keys.forEach((key, i) => {
        assertEquals(guard.get(key), i);
        assert(guard.has(key));
      });
      assert(!guard.has("session:absent"));
      guard.release();
    }
  } finally {
    performance.now = original;
  }
  assertEquals(calls, 0);
  read.close();
  write.close();
});
