/**
 * Codecs: every built-in codec carries its edge values through the map (as
 * keys where it may, and as values), on every read path; the codecs' own
 * `encode`/`decode` round-trip; user codecs work for `create` and `attach`;
 * `create` refuses codecs that cannot be keys; and the handle types follow
 * the codecs.
 *
 * @module
 */

import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import { assertType, type IsExact } from "@std/testing/types";
import fc from "fast-check";
import {
  attach,
  Builder,
  type Codec,
  codecs,
  create,
  type KeyCodec,
  type ReadHandle,
  type WriteHandle,
} from "@x/flashmap";

// ---------------------------------------------------------------- helpers

/**
 * A text that tells values apart the way `assertEquals` does (-0 from 0,
 * bytes by content, sets by members), so that lists can be compared as
 * multisets by sorting.
 */
function fingerprint(value: unknown): string {
  return Deno.inspect(value, {
    depth: Infinity,
    iterableLimit: Infinity,
    strAbbreviateSize: Infinity,
    sorted: true,
    compact: true,
    colors: false,
  });
}

/** Asserts that `actual` yields the items of `expected`, in any order. */
function assertSameItems<T>(actual: Iterable<T>, expected: readonly T[]): void {
  const got = [...actual].map(fingerprint).sort();
  const want = expected.map(fingerprint).sort();
  assertEquals(got.length, want.length, "item count");
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) {
      assertEquals(got[i].slice(0, 200), want[i].slice(0, 200), "items differ");
      assertEquals(got[i], want[i], "items differ");
    }
  }
}

/**
 * Inserts `pairs` in one write guard, publishes, and reads every pair back
 * through the write guard, `read.get`/`read.has`, a read guard's `get`/`has`
 * and all four ways of iterating the read guard and the next write guard.
 * `absent` keys must not be found.
 */
function assertRoundTrip<K, V>(
  key: KeyCodec<K>,
  value: Codec<V>,
  pairs: readonly (readonly [K, V])[],
  absent: readonly K[] = [],
): void {
  const [write, read] = create({ key, value });
  const entries = pairs.map(([k, v]) => [k, v] as [K, V]);
  {
    using guard = write.guard();
    for (const [k, v] of pairs) {
      assertStrictEquals(guard.insert(k, v), undefined);
    }
    assertEquals(guard.size, pairs.length);
    for (const [k, v] of pairs) assertEquals(guard.get(k), v);
    assertEquals(read.get(pairs[0][0]), undefined, "published too early");
  }
  for (const [k, v] of pairs) {
    assertEquals(read.get(k), v);
    assert(read.has(k));
  }
  for (const k of absent) {
    assertStrictEquals(read.get(k), undefined);
    assertEquals(read.has(k), false);
  }
  {
    using view = read.guard();
    assertEquals(view.size, pairs.length);
    for (const [k, v] of pairs) {
      assertEquals(view.get(k), v);
      assert(view.has(k));
    }
    for (const k of absent) assertEquals(view.has(k), false);
    assertSameItems(view, entries);
    assertSameItems(view.entries(), entries);
    assertSameItems(view.keys(), entries.map(([k]) => k));
    assertSameItems(view.values(), entries.map(([, v]) => v));
  }
  {
    // The next write guard sees the replayed copy: the same entries.
    using guard = write.guard();
    assertSameItems(guard, entries);
    for (const [k, v] of pairs) assertEquals(guard.get(k), v);
  }
  read.close();
  write.close();
}

/** Pairs every key with the next value, so that both lists meet the map. */
function zipShifted<K, V>(keys: readonly K[], values: readonly V[]): [K, V][] {
  return keys.map((k, i) => [k, values[(i + 1) % values.length]]);
}

function longString(length: number): string {
  let text = "";
  for (let i = 0; i < length; i++) {
    // Every code unit but 0, lone surrogates included.
    text += String.fromCharCode((i * 7919) % 0xffff + 1);
  }
  return text;
}

const LONG = longString(100_000);

const EDGE_STRINGS: readonly string[] = [
  "",
  "\uD800",
  "\uDC00",
  "\uDC00\uD800",
  "😀𝄞",
  "\0",
  "a\0b",
  LONG,
  LONG.slice(0, -1) + "!",
  "key-1",
  "key-2",
  "é",
  "e\u0301",
];

// ---------------------------------------------------------------- string

Deno.test("codecs.string carries edge strings through the map as keys and values", () => {
  assertRoundTrip(
    codecs.string,
    codecs.string,
    zipShifted(EDGE_STRINGS, EDGE_STRINGS),
    ["key-3", "key-", "\uD800\uDC00", "\uD83D", LONG.slice(0, -1), "a"],
  );
});

Deno.test("codecs.string keys that differ only in their last character are different keys", () => {
  const [write, read] = create();
  const base = "x".repeat(1000);
  {
    using guard = write.guard();
    for (let i = 0; i < 20; i++) {
      guard.insert(base + String.fromCharCode(0xd7f0 + i), `${i}`);
    }
  }
  using view = read.guard();
  assertEquals(view.size, 20);
  for (let i = 0; i < 20; i++) {
    assertEquals(view.get(base + String.fromCharCode(0xd7f0 + i)), `${i}`);
  }
  assertEquals(view.get(base), undefined);
  assertEquals(view.get(base + "y"), undefined);
});

Deno.test("codecs.string reads a 100k-character value back whole from every read path", () => {
  const [write, read] = create();
  {
    using guard = write.guard();
    guard.insert(LONG, LONG);
  }
  assertStrictEquals(read.get(LONG), LONG);
  using view = read.guard();
  assertStrictEquals(view.get(LONG), LONG);
  const [[k, v]] = [...view];
  assertStrictEquals(k, LONG);
  assertStrictEquals(v, LONG);
});

// ---------------------------------------------------------------- number

Deno.test("codecs.number keys treat -0 and 0 as one key, as Map does", () => {
  const [write, read] = create({ key: codecs.number, value: codecs.string });
  const model = new Map<number, string>();
  {
    using guard = write.guard();
    assertEquals(guard.insert(-0, "minus zero"), undefined);
    model.set(-0, "minus zero");
    assertEquals(guard.get(0), "minus zero");
    assertEquals(guard.get(-0), "minus zero");
  }
  assertEquals(read.get(0), model.get(0));
  assertEquals(read.get(-0), model.get(-0));
  assert(read.has(0));
  {
    using guard = write.guard();
    assertEquals(guard.insert(0, "zero"), "minus zero");
    model.set(0, "zero");
    assertEquals(guard.size, model.size);
  }
  using view = read.guard();
  assertEquals(view.size, 1);
  assertEquals(view.get(-0), "zero");
  // Map keeps the key as +0; so does the map.
  const [key] = [...view.keys()];
  assert(Object.is(key, 0), "the stored key is +0");
  assert(Object.is([...model.keys()][0], 0));
});

Deno.test("codecs.number keys treat NaN as one key, as Map does", () => {
  const [write, read] = create({ key: codecs.number, value: codecs.string });
  {
    using guard = write.guard();
    guard.insert(NaN, "first");
    assertEquals(guard.insert(NaN, "second"), "first");
    assertEquals(guard.insert(Number.NaN, "third"), "second");
    assertEquals(guard.size, 1);
  }
  assertEquals(read.get(NaN), "third");
  assert(read.has(NaN));
  using view = read.guard();
  assertEquals(view.get(NaN), "third");
  const [[key, value]] = [...view];
  assert(Number.isNaN(key));
  assertEquals(value, "third");
});

Deno.test({
  name: "codecs.number keys treat NaNs of every bit pattern as one key",
  fn() {
    const nan = (low: number, high: number) =>
      new Float64Array(new Uint32Array([low, high]).buffer)[0];
    const signalling = nan(1, 0x7ff00000);
    const negative = nan(0, 0xfff80000);
    const computed = Math.sqrt(-1);
    assert(Number.isNaN(signalling) && Number.isNaN(negative));
    const model = new Map([[NaN, "a"]]);
    assert(model.has(computed) && model.has(signalling));
    const [write, read] = create({ key: codecs.number, value: codecs.string });
    {
      using guard = write.guard();
      guard.insert(NaN, "a");
      assert(guard.has(computed));
      assertEquals(guard.insert(signalling, "b"), "a");
      assertEquals(guard.insert(Infinity - Infinity, "c"), "b");
      assertEquals(guard.size, 1);
    }
    assertEquals(read.get(computed), "c");
    assertEquals(read.get(negative), "c");
    assertEquals(read.get(NaN), "c");
    assertEquals(codecs.number.encode(signalling), codecs.number.encode(NaN));
    assertEquals(codecs.number.encode(negative), codecs.number.encode(NaN));
  },
});

Deno.test("codecs.number carries infinities, extremes and -0 through the map", () => {
  const keys = [
    Infinity,
    -Infinity,
    Number.MIN_VALUE,
    -Number.MIN_VALUE,
    Number.MAX_VALUE,
    -Number.MAX_VALUE,
    Number.MAX_SAFE_INTEGER,
    Number.EPSILON,
    NaN,
    0,
    0.1,
  ];
  const values = [...keys, -0];
  assertRoundTrip(codecs.number, codecs.number, zipShifted(keys, values), [
    1,
    Number.MIN_VALUE * 2,
    Number.MAX_SAFE_INTEGER + 2,
  ]);
});

Deno.test("codecs.number values keep -0 as -0 on every read path", () => {
  const [write, read] = create({ key: codecs.string, value: codecs.number });
  {
    using guard = write.guard();
    guard.insert("minus zero", -0);
    guard.insert("zero", 0);
    assert(Object.is(guard.get("minus zero"), -0));
  }
  assert(Object.is(read.get("minus zero"), -0));
  assert(Object.is(read.get("zero"), 0));
  using view = read.guard();
  assert(Object.is(view.get("minus zero"), -0));
  const fromIteration = new Map(view);
  assert(Object.is(fromIteration.get("minus zero"), -0));
  assert(Object.is(fromIteration.get("zero"), 0));
  assert([...view.values()].some((v) => Object.is(v, -0)));
});

// ---------------------------------------------------------------- int32, bigint, boolean

Deno.test("codecs.int32 carries the int32 extremes through the map", () => {
  const edges = [-2147483648, 2147483647, 0, -1, 1];
  assertRoundTrip(codecs.int32, codecs.int32, zipShifted(edges, edges), [
    2,
    -2,
    1 << 30,
  ]);
});

Deno.test("codecs.bigint carries the 64-bit extremes through the map", () => {
  const edges = [2n ** 63n - 1n, -(2n ** 63n), 0n, -1n, 1n, 2n ** 32n];
  assertRoundTrip(codecs.bigint, codecs.bigint, zipShifted(edges, edges), [
    2n,
    2n ** 62n,
    -(2n ** 63n) + 1n,
  ]);
});

Deno.test("codecs.boolean keeps true and false as two keys and as values", () => {
  const flipped: [boolean, boolean][] = [[true, false], [false, true]];
  assertRoundTrip(codecs.boolean, codecs.boolean, flipped);
  const [write, read] = create({ key: codecs.boolean, value: codecs.string });
  {
    using guard = write.guard();
    guard.insert(true, "yes");
    assertEquals(guard.has(false), false);
    guard.insert(false, "no");
  }
  assertEquals(read.get(true), "yes");
  assertEquals(read.get(false), "no");
});

// ---------------------------------------------------------------- bytes

Deno.test("codecs.bytes carries empty arrays and zero bytes through the map as distinct keys", () => {
  const keys = [
    new Uint8Array(0),
    Uint8Array.of(0),
    Uint8Array.of(0, 0),
    Uint8Array.of(0, 0, 0, 0),
    Uint8Array.of(0, 0, 0, 0, 0),
    Uint8Array.of(1, 0, 0, 0),
    Uint8Array.of(0, 0, 0, 1),
    Uint8Array.of(255, 0, 255),
    new Uint8Array(1000).map((_, i) => i % 7 === 0 ? 0 : i & 0xff),
  ];
  assertRoundTrip(codecs.bytes, codecs.bytes, zipShifted(keys, keys), [
    Uint8Array.of(0, 0, 0),
    Uint8Array.of(1),
  ]);
});

Deno.test("codecs.bytes finds a key given as a view with a byte offset", () => {
  const [write, read] = create({ key: codecs.bytes, value: codecs.string });
  const backing = Uint8Array.of(9, 9, 1, 2, 3, 9);
  {
    using guard = write.guard();
    guard.insert(backing.subarray(2, 5), "123");
  }
  assertEquals(read.get(Uint8Array.of(1, 2, 3)), "123");
  using view = read.guard();
  assertEquals([...view.keys()], [Uint8Array.of(1, 2, 3)]);
});

Deno.test("codecs.bytes returns copies: changing a returned array does not change the map", () => {
  const [write, read] = create({ key: codecs.bytes, value: codecs.bytes });
  const key = Uint8Array.of(1, 2, 3);
  const value = Uint8Array.of(4, 5, 6);
  {
    using guard = write.guard();
    guard.insert(key, value);
    const fromGuard = guard.get(key)!;
    assert(!(fromGuard.buffer instanceof SharedArrayBuffer));
    fromGuard.fill(0);
  }
  // What was passed in was copied too.
  key.fill(7);
  value.fill(7);
  const original = [Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5, 6)] as const;

  const fromRead = read.get(original[0])!;
  assertEquals(fromRead, original[1]);
  assert(!(fromRead.buffer instanceof SharedArrayBuffer));
  fromRead.fill(0);
  {
    using view = read.guard();
    const fromView = view.get(original[0])!;
    assertEquals(fromView, original[1]);
    fromView.fill(0);
    for (const [k, v] of view) {
      assert(!(k.buffer instanceof SharedArrayBuffer));
      assert(!(v.buffer instanceof SharedArrayBuffer));
      k.fill(0);
      v.fill(0);
    }
    for (const k of view.keys()) k.fill(0);
    for (const v of view.values()) v.fill(0);
  }
  using view = read.guard();
  assertEquals([...view], [[...original]]);
  assertEquals(read.get(Uint8Array.of(0, 0, 0)), undefined);
});

// ---------------------------------------------------------------- json

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

Deno.test("codecs.json() carries nested JSON data through the map as values", () => {
  const values: Json[] = [
    null,
    {},
    [],
    true,
    false,
    0,
    -1.5,
    1e300,
    "",
    "😀 \u00e9 日本語 \uD800",
    { a: { b: { c: [1, [2, [3, { d: null }]]] } } },
    [null, {}, [], "x", { "": "" }],
    { "😀": "𝄞", 'key with "quotes"': "\\", "\n": "\t" },
    { nested: [{ deep: [{ deeper: [true, false, null] }] }] },
  ];
  const keys = values.map((_, i) => `k${i}`);
  assertRoundTrip(
    codecs.string,
    codecs.json<Json>(),
    keys.map((k, i) => [k, values[i]] as const),
  );
});

Deno.test("codecs.json() returns fresh objects: changing one does not change the map", () => {
  const [write, read] = create({
    value: codecs.json<{ list: number[] }>(),
  });
  {
    using guard = write.guard();
    guard.insert("a", { list: [1, 2] });
  }
  read.get("a")!.list.push(3);
  assertEquals(read.get("a"), { list: [1, 2] });
});

// ---------------------------------------------------------------- encode / decode

Deno.test("codecs.string decode(encode(s)) returns s, lone surrogates included", () => {
  for (const text of EDGE_STRINGS) {
    assertStrictEquals(codecs.string.decode(codecs.string.encode(text)), text);
  }
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 64 }),
      (units) => {
        const text = String.fromCharCode(...units);
        assertStrictEquals(
          codecs.string.decode(codecs.string.encode(text)),
          text,
        );
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("codecs.number decode(encode(n)) returns n, with -0 encoded as 0", () => {
  for (
    const n of [
      Infinity,
      -Infinity,
      Number.MIN_VALUE,
      Number.MAX_VALUE,
      NaN,
      0,
      1.5,
    ]
  ) {
    assert(Object.is(codecs.number.decode(codecs.number.encode(n)), n));
  }
  // The codec is canonical: -0 and 0 are one key, so they encode alike.
  assertEquals(codecs.number.encode(-0), codecs.number.encode(0));
  fc.assert(
    fc.property(fc.double(), (n) => {
      const back = codecs.number.decode(codecs.number.encode(n));
      assert(Object.is(back, Object.is(n, -0) ? 0 : n));
    }),
    { numRuns: 200 },
  );
});

Deno.test("codecs.int32 decode(encode(n)) returns n", () => {
  for (const n of [-2147483648, 2147483647, 0, -1]) {
    assertStrictEquals(codecs.int32.decode(codecs.int32.encode(n)), n);
  }
  fc.assert(
    fc.property(fc.integer(), (n) => {
      assertStrictEquals(codecs.int32.decode(codecs.int32.encode(n)), n);
    }),
    { numRuns: 200 },
  );
});

Deno.test("codecs.bigint decode(encode(n)) returns n", () => {
  for (const n of [2n ** 63n - 1n, -(2n ** 63n), 0n, -1n]) {
    assertStrictEquals(codecs.bigint.decode(codecs.bigint.encode(n)), n);
  }
  fc.assert(
    fc.property(fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n), (n) => {
      assertStrictEquals(codecs.bigint.decode(codecs.bigint.encode(n)), n);
    }),
    { numRuns: 200 },
  );
});

Deno.test("codecs.boolean decode(encode(b)) returns b", () => {
  assertStrictEquals(codecs.boolean.decode(codecs.boolean.encode(true)), true);
  assertStrictEquals(
    codecs.boolean.decode(codecs.boolean.encode(false)),
    false,
  );
  assertEquals(
    codecs.boolean.encode(true).length,
    codecs.boolean.encode(false).length,
  );
});

Deno.test("codecs.bytes decode(encode(b)) returns equal bytes in fresh arrays", () => {
  for (
    const bytes of [new Uint8Array(0), Uint8Array.of(0, 0), Uint8Array.of(255)]
  ) {
    const encoded = codecs.bytes.encode(bytes);
    assert(encoded !== bytes, "encode copies");
    const decoded = codecs.bytes.decode(encoded);
    assert(decoded !== encoded, "decode copies");
    assertEquals(decoded, bytes);
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      assertEquals(codecs.bytes.decode(codecs.bytes.encode(bytes)), bytes);
    }),
    { numRuns: 200 },
  );
});

Deno.test("codecs.json() decode(encode(v)) returns JSON data unchanged", () => {
  const json = codecs.json<unknown>();
  for (
    const value of [null, {}, [], "😀\uD800", { a: [1, { b: null }] }, 1e-300]
  ) {
    assertEquals(json.decode(json.encode(value)), value);
  }
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      assertEquals(
        json.decode(json.encode(value)),
        JSON.parse(JSON.stringify(value)),
      );
    }),
    { numRuns: 200 },
  );
});

// ---------------------------------------------------------------- user codecs

interface Point {
  x: number;
  y: number;
}

const pointCodec: KeyCodec<Point> = {
  name: "test.point",
  canonical: true,
  encode(point) {
    const out = new Uint8Array(8);
    const view = new DataView(out.buffer);
    view.setInt32(0, point.x, true);
    view.setInt32(4, point.y, true);
    return out;
  },
  decode(bytes) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    return { x: view.getInt32(0, true), y: view.getInt32(4, true) };
  },
};

/** Sets of strings, stored as sorted, NUL-separated text: values only. */
const tagsCodec: Codec<Set<string>> = {
  name: "test.tags",
  canonical: false,
  encode: (tags) => new TextEncoder().encode([...tags].sort().join("\0")),
  decode: (bytes) => {
    const text = new TextDecoder().decode(bytes);
    return new Set(text === "" ? [] : text.split("\0"));
  },
};

Deno.test("create() takes a canonical user codec for keys and a user codec for values", () => {
  const pairs: [Point, Set<string>][] = [
    [{ x: 0, y: 0 }, new Set()],
    [{ x: -1, y: 2 }, new Set(["a", "b"])],
    [{ x: 2, y: -1 }, new Set(["😀"])],
    [{ x: 2 ** 31 - 1, y: -(2 ** 31) }, new Set(["only"])],
  ];
  const absent: Point[] = [{ x: 1, y: 1 }, { x: -2, y: 1 }];
  assertRoundTrip(pointCodec, tagsCodec, pairs, absent);
});

Deno.test("attach() with the map's user codecs reads the map", () => {
  const [write, read] = create({ key: pointCodec, value: tagsCodec });
  {
    using guard = write.guard();
    guard.insert({ x: 1, y: 2 }, new Set(["one", "two"]));
  }
  const token = read.share();
  assertEquals(token.key, "test.point");
  assertEquals(token.value, "test.tags");
  using attached = attach(structuredClone(token), {
    key: pointCodec,
    value: tagsCodec,
  });
  assertEquals(attached.get({ x: 1, y: 2 }), new Set(["one", "two"]));
  using view = attached.guard();
  assertEquals([...view], [[{ x: 1, y: 2 }, new Set(["one", "two"])]]);
});

Deno.test("attach() without the map's user codec throws a TypeError naming the codec", () => {
  const [, read] = create({ key: pointCodec, value: tagsCodec });
  const token = read.share();
  assertThrows(() => attach(token), TypeError, "test.point");
  assertThrows(
    () => attach(token, { key: pointCodec }),
    TypeError,
    "test.tags",
  );
  assertThrows(
    () => attach(token, { value: tagsCodec }),
    TypeError,
    "test.point",
  );
  // A different codec under the wrong name is refused as well.
  assertThrows(
    () => attach(token, { key: pointCodec, value: codecs.string as never }),
    TypeError,
    "test.tags",
  );
  // The failures took no reader slot, and the right codecs still attach.
  using attached = attach(token, { key: pointCodec, value: tagsCodec });
  assertEquals(attached.get({ x: 0, y: 0 }), undefined);
});

Deno.test("attach() finds built-in codecs by name without being given them", () => {
  const [write, read] = create({ key: codecs.bigint, value: codecs.json() });
  {
    using guard = write.guard();
    guard.insert(-(2n ** 63n), { ok: [true] });
  }
  using attached = attach(structuredClone(read.share()));
  assertEquals(attached.get(-(2n ** 63n)), { ok: [true] });
});

// ---------------------------------------------------------------- refused codecs

Deno.test("create() throws a TypeError for codecs.json() as the key codec", () => {
  assertThrows(
    // @ts-expect-error: the JSON codec is not a key codec
    () => create({ key: codecs.json() }),
    TypeError,
    "canonical",
  );
});

Deno.test("create() throws a TypeError for a user key codec that is not canonical", () => {
  assertThrows(
    () => create({ key: tagsCodec as unknown as KeyCodec<Set<string>> }),
    TypeError,
    "test.tags",
  );
  // As a value codec it is fine.
  const [write, read] = create({ value: tagsCodec });
  write.guard().publish();
  assertEquals(read.get("a"), undefined);
});

Deno.test("create() throws a TypeError for a user codec named like a built-in codec", () => {
  const impostor: KeyCodec<string> = {
    name: "string",
    canonical: true,
    encode: (text) => new TextEncoder().encode(text),
    decode: (bytes) => new TextDecoder().decode(bytes),
  };
  assertThrows(() => create({ key: impostor }), TypeError, "built-in");
  assertThrows(() => create({ value: impostor }), TypeError, "built-in");
  assertThrows(
    () => create({ value: { ...codecs.number, name: "json" } }),
    TypeError,
    "built-in",
  );
});

Deno.test("create() throws a TypeError for a key or value codec that is not a codec", () => {
  const notCodecs: unknown[] = [
    {},
    "string",
    42,
    { name: "test.partial", canonical: true },
    { name: "test.nameless", encode: () => new Uint8Array(), decode: () => 0 },
    {
      name: "",
      canonical: true,
      encode: () => new Uint8Array(),
      decode: () => 0,
    },
    () => {},
  ];
  for (const codec of notCodecs) {
    assertThrows(() => create({ key: codec as KeyCodec<string> }), TypeError);
    assertThrows(() => create({ value: codec as Codec<string> }), TypeError);
  }
});

Deno.test("a user codec whose encode does not return a Uint8Array makes insert throw a TypeError", () => {
  const broken: Codec<string> = {
    name: "test.broken",
    canonical: false,
    encode: () => "not bytes" as unknown as Uint8Array,
    decode: () => "",
  };
  const [write, read] = create({ value: broken });
  {
    using guard = write.guard();
    assertThrows(() => guard.insert("a", "x"), TypeError, "test.broken");
    assertEquals(guard.size, 0);
  }
  assertEquals(read.has("a"), false);
});

// ---------------------------------------------------------------- types

Deno.test("create() types its handles from its codecs", () => {
  const [write, read] = create({ key: codecs.int32, value: codecs.string });
  assertType<IsExact<typeof write, WriteHandle<number, string>>>(true);
  assertType<IsExact<typeof read, ReadHandle<number, string>>>(true);

  const [defaultWrite, defaultRead] = create();
  assertType<IsExact<typeof defaultWrite, WriteHandle<string, string>>>(true);
  assertType<IsExact<typeof defaultRead, ReadHandle<string, string>>>(true);

  const [bigWrite] = create({ key: codecs.bigint, value: codecs.bytes });
  assertType<IsExact<typeof bigWrite, WriteHandle<bigint, Uint8Array>>>(true);

  const [userWrite] = create({ key: pointCodec, value: tagsCodec });
  assertType<IsExact<typeof userWrite, WriteHandle<Point, Set<string>>>>(true);

  using guard = write.guard();
  assertType<IsExact<ReturnType<typeof guard.get>, string | undefined>>(true);
  assertType<IsExact<Parameters<typeof guard.insert>, [number, string]>>(true);
  assertInstanceOf(write, Object);
});

Deno.test("Builder.build() types its handles from withKey() and withValue()", () => {
  const [write, read] = new Builder()
    .withKey(codecs.int32)
    .withValue(codecs.json<{ n: number }>())
    .build();
  assertType<IsExact<typeof write, WriteHandle<number, { n: number }>>>(true);
  assertType<IsExact<typeof read, ReadHandle<number, { n: number }>>>(true);
  {
    using guard = write.guard();
    guard.insert(1, { n: 1 });
  }
  const value = read.get(1);
  assertType<IsExact<typeof value, { n: number } | undefined>>(true);
  assertEquals(value, { n: 1 });

  const [plain] = new Builder().build();
  assertType<IsExact<typeof plain, WriteHandle<string, string>>>(true);
});

// ---------------------------------------------------------------- iteration

function assertIterationMatches<K, V>(
  write: WriteHandle<K, V>,
  read: ReadHandle<K, V>,
  model: Map<K, V>,
): void {
  const entries = [...model];
  {
    using view = read.guard();
    assertEquals(view.size, model.size);
    assertEquals(new Set(view.keys()), new Set(model.keys()));
    assertSameItems(view.values(), [...model.values()]);
    assertEquals(new Map(view.entries()), model);
    assertEquals(new Map(view), model);
    assertSameItems(view, entries);
  }
  using guard = write.guard();
  assertEquals(guard.size, model.size);
  assertEquals(new Set(guard.keys()), new Set(model.keys()));
  assertSameItems(guard.values(), [...model.values()]);
  assertEquals(new Map(guard.entries()), model);
  assertEquals(new Map(guard), model);
}

Deno.test("ReadGuard iteration yields the same keys, values and entries as a Map model", () => {
  fc.assert(
    fc.property(
      fc.array(fc.string({ maxLength: 12 }), {
        minLength: 200,
        maxLength: 400,
      }),
      fc.array(fc.nat(), { maxLength: 100 }),
      fc.integer(),
      (keys, removals, seed) => {
        const [write, read] = create({ seed });
        const model = new Map<string, string>();
        {
          using guard = write.guard();
          keys.forEach((key, i) => {
            guard.insert(key, `v${i}`);
            model.set(key, `v${i}`);
          });
          for (const r of removals) {
            const key = keys[r % keys.length];
            assertEquals(guard.remove(key), model.get(key));
            model.delete(key);
          }
        }
        assertIterationMatches(write, read, model);
        read.close();
        write.close();
      },
    ),
    { numRuns: 15 },
  );
});

Deno.test("ReadGuard iteration of int32 keys matches a Map model", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer(), { minLength: 200, maxLength: 400 }),
      fc.integer(),
      (keys, seed) => {
        const [write, read] = create({
          key: codecs.int32,
          value: codecs.int32,
          seed,
        });
        const model = new Map<number, number>();
        {
          using guard = write.guard();
          keys.forEach((key, i) => {
            guard.insert(key, i);
            model.set(key, i);
          });
          for (const key of keys.slice(0, 50)) {
            guard.remove(key);
            model.delete(key);
          }
        }
        assertIterationMatches(write, read, model);
        read.close();
        write.close();
      },
    ),
    { numRuns: 15 },
  );
});
