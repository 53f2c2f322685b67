import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertNotEquals,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import { type Codec, codecs, keyStorage, valueStorage } from "../src/codecs.ts";
import {
  addLocalReader,
  isLocalReader,
  localGuardsOn,
  type MapContext,
  mapContext,
  type ReaderState,
  removeLocalReader,
  slotFormat,
  TableIterator,
} from "../src/context.ts";
import {
  E_HASH,
  E_KEY,
  E_VALUE_LENGTH,
  ENTRY_HEADER_WORDS,
  H_MAP_ID,
  H_SEED,
  heapStart,
  MapViews,
} from "../src/layout.ts";
import type { KeyStorage, ValueStorage } from "../src/storage.ts";
import { placeSlot, writeTable } from "../src/table.ts";
import { EntryView } from "../src/view/entry.ts";
import { InlineView } from "../src/view/inline.ts";
import { Int32View } from "../src/view/int32.ts";
import { VIEW_ENTRY, VIEW_INLINE, VIEW_INT32 } from "../src/view/view.ts";

const SEED = 4242;
const MAX_READERS = 4;
const TABLE = 1024;

const keyCodecs: [string, Codec<unknown>][] = [
  ["string", codecs.string],
  ["int32", codecs.int32],
  ["boolean", codecs.boolean],
  ["number", codecs.number],
  ["bigint", codecs.bigint],
  ["bytes", codecs.bytes],
];
const valueCodecs: [string, Codec<unknown>][] = [
  ...keyCodecs,
  ["json", codecs.json()],
];
/** Words of each inline kind. */
const INLINE: Record<string, number> = {
  int32: 1,
  boolean: 1,
  number: 2,
  bigint: 2,
};

/** A buffer whose header holds a seed and a map id, as create() writes them. */
function mapBuffer(seed = SEED): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(4 * 8192);
  const i32 = new Int32Array(buffer);
  i32[H_SEED] = seed;
  i32[H_MAP_ID] = 0x1234;
  i32[H_MAP_ID + 1] = -5;
  return buffer;
}

function contextOf<K, V>(
  buffer: SharedArrayBuffer,
  key: Codec<K>,
  value: Codec<V>,
): MapContext<K, V> {
  return mapContext(
    buffer,
    MAX_READERS,
    key,
    value,
    keyStorage(key),
    valueStorage(value),
  );
}

/** A reader's per-thread state with `live` guards on each copy. */
function reader(id: number, live: number[]): ReaderState {
  return {
    id,
    live,
    closed: false,
    reclaimed: false,
    refcount: 0,
    generation: 0,
    seen: 0,
  };
}

// ---------------------------------------------------------- slotFormat

for (const [keyName, key] of keyCodecs) {
  for (const [valueName, value] of valueCodecs) {
    const keyWords = INLINE[keyName] ?? 0;
    const valueWords = INLINE[valueName] ?? 0;
    const inline = keyWords !== 0 && valueWords !== 0;
    const stride = !inline || (keyWords === 1 && valueWords === 1) ? 2 : 4;
    Deno.test(`slotFormat() gives ${keyName} keys and ${valueName} values ${inline ? "inline" : "entry"} slots of stride ${stride}`, () => {
      const format = slotFormat(keyStorage(key), valueStorage(value), SEED);
      assertEquals(format.inline, inline);
      assertEquals(format.stride, stride);
      assertEquals(format.keyWords, inline ? keyWords : 0);
      assertEquals(format.valueWords, inline ? valueWords : 0);
      if (inline) assertEquals(format.valueAt, stride === 2 ? 1 : 2);
    });
  }
}

// ---------------------------------------------------------- mapContext

Deno.test("mapContext() picks Int32View for inline int32 keys", () => {
  for (
    const value of [codecs.int32, codecs.boolean, codecs.number, codecs.bigint]
  ) {
    const context = contextOf(
      mapBuffer(),
      codecs.int32,
      value as Codec<unknown>,
    );
    assertInstanceOf(context.view, Int32View);
    assertEquals(context.viewKind, VIEW_INT32);
    assertEquals(context.view.kind, VIEW_INT32);
  }
});

Deno.test("mapContext() picks InlineView for inline boolean, number and bigint keys", () => {
  for (const key of [codecs.boolean, codecs.number, codecs.bigint]) {
    const context = contextOf(mapBuffer(), key as Codec<unknown>, codecs.int32);
    assertInstanceOf(context.view, InlineView);
    assertEquals(context.viewKind, VIEW_INLINE);
  }
});

Deno.test("mapContext() picks EntryView when the key or the value does not fit a slot", () => {
  // String keys are left out: they get a view of their own (src/view/string.ts).
  const pairs: [Codec<unknown>, Codec<unknown>][] = [
    [codecs.int32, codecs.string],
    [codecs.int32, codecs.json()],
    [codecs.bytes, codecs.bytes],
    [codecs.number, codecs.bytes],
  ];
  for (const [key, value] of pairs) {
    const context = contextOf(mapBuffer(), key, value);
    assertInstanceOf(context.view, EntryView);
    assertEquals(context.viewKind, VIEW_ENTRY);
    assert(!context.format.inline);
  }
});

Deno.test("mapContext() gives string keys entry slots and a view whose kind it records", () => {
  for (const value of [codecs.string, codecs.int32] as Codec<unknown>[]) {
    const context = contextOf(mapBuffer(), codecs.string, value);
    assert(!context.format.inline);
    assertEquals(context.stride, 2);
    assertEquals(context.viewKind, context.view.kind);
    assert(!(context.view instanceof Int32View));
    assert(!(context.view instanceof InlineView));
  }
});

Deno.test("mapContext() reads the seed and map id from the header and keeps what it was given", () => {
  const buffer = mapBuffer(-77);
  const keys = keyStorage(codecs.number);
  const values = valueStorage(codecs.bigint);
  const context = mapContext(
    buffer,
    MAX_READERS,
    codecs.number,
    codecs.bigint,
    keys,
    values,
  );
  assertEquals(context.seed, -77);
  assertEquals(context.mapId, `${0x1234}:-5`);
  assertStrictEquals(context.buffer, buffer);
  assertStrictEquals(context.keys, keys);
  assertStrictEquals(context.values, values);
  assertStrictEquals(context.keyCodec, codecs.number);
  assertStrictEquals(context.valueCodec, codecs.bigint);
  assertEquals(context.maxReaders, MAX_READERS);
  assertEquals(context.stride, 4);
  assertEquals(context.format.stride, 4);
  // The control words cover the header and the registry, not the heap.
  assertEquals(context.control.words.length, heapStart(MAX_READERS));
  assertStrictEquals(context.control.words.buffer, buffer);
});

Deno.test("mapContext() gives each context of a map its own non-zero tag", () => {
  const buffer = mapBuffer();
  const tags = [1, 2, 3, 4].map(() =>
    contextOf(buffer, codecs.string, codecs.string).tag
  );
  assertEquals(new Set(tags).size, 4);
  for (const tag of tags) assertNotEquals(tag, 0);
  // Tags come from the buffer, so another map counts on its own.
  const other = contextOf(mapBuffer(), codecs.string, codecs.string).tag;
  assertEquals(other, tags[0]);
});

// ---------------------------------------------------- local readers

Deno.test("addLocalReader() and removeLocalReader() track this thread's handles per map", () => {
  const map = "context-test:1";
  const other = "context-test:2";
  const a = reader(65_536 + 1, [0, 0]);
  const b = reader(2, [0, 0]);
  assert(!isLocalReader(map, a.id));
  addLocalReader(map, a);
  addLocalReader(map, b);
  assert(isLocalReader(map, a.id));
  assert(isLocalReader(map, 2));
  assert(!isLocalReader(other, a.id));
  assert(!isLocalReader(map, 3));
  removeLocalReader(map, a);
  assert(!isLocalReader(map, a.id));
  assert(isLocalReader(map, 2));
  removeLocalReader(map, b);
  assert(!isLocalReader(map, 2));
  // Removing again, or from a map with none, does nothing.
  removeLocalReader(map, b);
  removeLocalReader(other, a);
});

Deno.test("localGuardsOn() sums the live guards of this thread's handles on one copy", () => {
  const context = contextOf(mapBuffer(), codecs.string, codecs.string);
  const a = reader(11, [1, 0, 2]);
  const b = reader(12, [3, 0, 0]);
  assertEquals(localGuardsOn(context, 0), 0);
  addLocalReader(context.mapId, a);
  addLocalReader(context.mapId, b);
  try {
    assertEquals(localGuardsOn(context, 0), 4);
    assertEquals(localGuardsOn(context, 1), 0);
    assertEquals(localGuardsOn(context, 2), 2);
    b.live[0] = 0;
    assertEquals(localGuardsOn(context, 0), 1);
  } finally {
    removeLocalReader(context.mapId, a);
    removeLocalReader(context.mapId, b);
  }
  assertEquals(localGuardsOn(context, 2), 0);
});

// --------------------------------------------------- TableIterator

/** An inline int32 -> int32 context with copy 0 holding `entries` (the seed itself is the odd key). */
function int32Map(entries: [number, number][]) {
  const buffer = mapBuffer();
  const context = contextOf(buffer, codecs.int32, codecs.int32);
  const views = new MapViews(buffer);
  writeTable(views.i32, 0, { offset: TABLE, mask: 15, size: entries.length });
  for (const [key, value] of entries) {
    const image = new Int32Array(context.stride);
    context.keys.storeKey(key, context.seed, image, 0);
    context.values.storeValue(value, image, context.format.valueAt);
    placeSlot(views.i32, context.format, 0, image, 0);
  }
  return { context, views };
}

/** A string -> string context with entry slots, copy 1 holding `entries`. */
function stringMap(entries: [string, string][]) {
  const buffer = mapBuffer();
  const context = contextOf(buffer, codecs.string, codecs.string);
  const views = new MapViews(buffer);
  const keys = context.keys as KeyStorage<string, string>;
  const values = context.values as ValueStorage<string, string>;
  const i32 = views.i32;
  writeTable(i32, 1, { offset: TABLE, mask: 15, size: entries.length });
  let entry = 2048;
  for (const [key, value] of entries) {
    const hash = keys.hash(key, context.seed);
    i32[entry + E_HASH] = hash;
    i32[entry + E_KEY] = keys.keyField(key);
    i32[entry + E_VALUE_LENGTH] = values.length(value);
    keys.write(views, entry, key);
    values.write(
      views,
      entry + ENTRY_HEADER_WORDS + keys.dataWords(key),
      value,
    );
    placeSlot(i32, context.format, 1, [hash, entry], 0);
    entry += ENTRY_HEADER_WORDS + keys.dataWords(key) + values.dataWords(value);
  }
  return { context, views };
}

Deno.test("TableIterator yields every key of an inline table once, the odd key first", () => {
  const entries: [number, number][] = [[5, 50], [SEED, 1], [-9, 90], [
    2 ** 31 - 1,
    7,
  ], [0, 0]];
  const { context, views } = int32Map(entries);
  let checks = 0;
  const keys = [
    ...new TableIterator<number, number, number>(
      views,
      0,
      context,
      "keys",
      () => {
        checks++;
      },
    ),
  ];
  assertEquals(keys[0], SEED);
  assertEquals(keys.length, entries.length);
  assertEquals(new Set(keys), new Set(entries.map(([key]) => key)));
  assertEquals(checks, entries.length);
});

Deno.test("TableIterator yields the values and the pairs of an inline table", () => {
  const entries: [number, number][] = [[SEED, -1], [1, 10], [2, 20], [3, 30]];
  const { context, views } = int32Map(entries);
  const values = [
    ...new TableIterator<number, number, number>(
      views,
      0,
      context,
      "values",
      () => {},
    ),
  ];
  assertEquals(values.sort((a, b) => a - b), [-1, 10, 20, 30]);
  let checks = 0;
  const pairs = [
    ...new TableIterator<number, number, [number, number]>(
      views,
      0,
      context,
      "entries",
      () => {
        checks++;
      },
    ),
  ];
  assertEquals(pairs[0], [SEED, -1]);
  assertEquals(new Map(pairs), new Map(entries));
  // Pairs check before the key and again before the value.
  assertEquals(checks, 2 * entries.length);
});

Deno.test("TableIterator yields an inline table without the odd key when the copy lacks it", () => {
  const { context, views } = int32Map([[1, 10], [2, 20]]);
  const pairs = [
    ...new TableIterator<number, number, [number, number]>(
      views,
      0,
      context,
      "entries",
      () => {},
    ),
  ];
  assertEquals(new Map(pairs), new Map([[1, 10], [2, 20]]));
});

Deno.test("TableIterator yields every pair of an entry-slot table once", () => {
  const entries: [string, string][] = [["a", "1"], ["", "empty"], [
    "long key ".repeat(9),
    "x",
  ], ["\ud800", "lone"]];
  const { context, views } = stringMap(entries);
  const pairs = [
    ...new TableIterator<string, string, [string, string]>(
      views,
      1,
      context,
      "entries",
      () => {},
    ),
  ];
  assertEquals(pairs.length, entries.length);
  assertEquals(new Map(pairs), new Map(entries));
  const keys = [
    ...new TableIterator<string, string, string>(
      views,
      1,
      context,
      "keys",
      () => {},
    ),
  ];
  assertEquals(keys.sort(), entries.map(([key]) => key).sort());
});

Deno.test("TableIterator is done at once over an empty table, and stays done", () => {
  const { context, views } = int32Map([]);
  let checks = 0;
  const iterator = new TableIterator<number, number, number>(
    views,
    0,
    context,
    "keys",
    () => {
      checks++;
    },
  );
  assertStrictEquals(iterator[Symbol.iterator](), iterator);
  assertEquals(iterator.next(), { done: true, value: undefined });
  assertEquals(iterator.next(), { done: true, value: undefined });
  assertEquals(checks, 0);
});

Deno.test("TableIterator throws what its check throws, before reading the slot", () => {
  const { context, views } = int32Map([[1, 10], [2, 20], [3, 30]]);
  let allowed = 1;
  const iterator = new TableIterator<number, number, number>(
    views,
    0,
    context,
    "keys",
    () => {
      if (allowed-- <= 0) {
        throw new TypeError(
          "Cannot iterate: the guard was released",
        );
      }
    },
  );
  const first = iterator.next();
  assertEquals(first.done, false);
  assertThrows(() => iterator.next(), TypeError, "the guard was released");
});
