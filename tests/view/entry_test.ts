import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  E_HASH,
  E_KEY,
  E_VALUE_LENGTH,
  ENTRY_HEADER_WORDS,
  MapViews,
} from "../../src/layout.ts";
import {
  BigIntKeys,
  BooleanValues,
  ByteKeys,
  ByteValues,
  Int32Keys,
  Int32Values,
  JsonValues,
  type KeyStorage,
  NumberKeys,
  NumberValues,
  StringKeys,
  StringValues,
  typeError,
  type ValueStorage,
} from "../../src/storage.ts";
import {
  placeSlot,
  SlotFormat,
  slotHolding,
  writeTable,
} from "../../src/table.ts";
import { EntryView } from "../../src/view/entry.ts";
import { VIEW_ENTRY } from "../../src/view/view.ts";

const TABLE = 1024;
const SEED = 0x51ed;
const ACTION = "get from the map";

/**
 * An entry-slot table of copy 0 (`slots` slots at TABLE) holding
 * `entries`, written as the writer writes them (entries from word 4096),
 * and the view over it.
 */
function entryTable<K, V>(
  keys: KeyStorage<K>,
  values: ValueStorage<V>,
  entries: [unknown, unknown][],
  slots = 16,
) {
  const views = new MapViews(new SharedArrayBuffer(4 * 16_384));
  const i32 = views.i32;
  const format = new SlotFormat(0, 0, SEED);
  writeTable(i32, 0, { offset: TABLE, mask: slots - 1, size: 0 });
  const at: number[] = [];
  let entry = 4096;
  for (const [key, value] of entries) {
    const k = keys.prepare(key, "insert");
    const v = values.prepare(value, "insert");
    const hash = keys.hash(k, SEED);
    i32[entry + E_HASH] = hash;
    i32[entry + E_KEY] = keys.keyField(k);
    i32[entry + E_VALUE_LENGTH] = values.length(v);
    keys.write(views, entry, k);
    values.write(views, entry + ENTRY_HEADER_WORDS + keys.dataWords(k), v);
    const image = [hash, entry];
    placeSlot(i32, format, 0, image, 0);
    at.push(slotHolding(i32, format, 0, image, 0));
    entry += ENTRY_HEADER_WORDS + keys.dataWords(k) + values.dataWords(v);
  }
  return {
    views,
    mask: slots - 1,
    at,
    view: new EntryView(SEED, keys, values),
  };
}

const bytes = (...list: number[]) => Uint8Array.from(list);

function byteKeys(): ByteKeys<Uint8Array> {
  return new ByteKeys(
    (key, action) => {
      if (!(key instanceof Uint8Array)) {
        throw typeError(action, "key", "a Uint8Array", key);
      }
      return key;
    },
    (b) => b,
    false,
  );
}

interface Case {
  name: string;
  keys: KeyStorage<unknown>;
  values: ValueStorage<unknown>;
  entries: [unknown, unknown][];
  absent: unknown[];
}

const cases: Case[] = [
  {
    name: "string keys, string values",
    keys: new StringKeys(),
    values: new StringValues(),
    entries: [["", "empty"], ["a", "one"], ["abc", ""], ["\ud800", "lone"], [
      "long key ".repeat(30),
      "long value ".repeat(30),
    ]],
    absent: ["b", "ab", "abcd", "long key "],
  },
  {
    name: "string keys, int32 values",
    keys: new StringKeys(),
    values: new Int32Values(),
    entries: [["x", -1], ["y", 2 ** 31 - 1]],
    absent: ["z"],
  },
  {
    name: "int32 keys, json values",
    keys: new Int32Keys(),
    values: new JsonValues(),
    entries: [[0, { a: [1, 2] }], [-1, null], [2 ** 31 - 1, "s"]],
    absent: [1, -(2 ** 31)],
  },
  {
    name: "number keys, string values",
    keys: new NumberKeys(),
    values: new StringValues(),
    entries: [[0, "zero"], [NaN, "nan"], [-2.5, "neg"]],
    absent: [2.5, Infinity],
  },
  {
    name: "bigint keys, bytes values",
    keys: new BigIntKeys(),
    values: new ByteValues((v) => v as Uint8Array, (b) => b),
    entries: [[-(2n ** 63n), bytes(1)], [0n, bytes()], [7n, bytes(1, 2, 3)]],
    absent: [8n, 2n ** 63n - 1n],
  },
  {
    name: "bytes keys, boolean values",
    keys: byteKeys(),
    values: new BooleanValues(),
    entries: [[bytes(), true], [bytes(1, 2, 3, 4, 5), false]],
    absent: [bytes(1, 2, 3, 4), bytes(0)],
  },
];

for (const { name, keys, values, entries, absent } of cases) {
  Deno.test(`EntryView.get() finds every key and misses absent ones (${name})`, () => {
    const { views, mask, at, view } = entryTable(keys, values, entries);
    assertEquals(view.kind, VIEW_ENTRY);
    entries.forEach(([key, value], i) => {
      const slot = view.locate(views, 0, TABLE, mask, key, ACTION);
      assertEquals(slot, at[i]);
      assertEquals(view.value(views, slot), value);
      assertEquals(view.get(views, 0, TABLE, mask, key, ACTION), value);
    });
    for (const key of absent) {
      assertEquals(view.locate(views, 0, TABLE, mask, key, ACTION), -1);
      assertEquals(view.get(views, 0, TABLE, mask, key, ACTION), undefined);
    }
  });
}

Deno.test("EntryView.locate() returns -1 for a missing key of a full table", () => {
  const keys = ["a", "b", "c", "d", "e", "f", "g", "h"];
  const { views, view } = entryTable(
    new StringKeys(),
    new StringValues(),
    keys.map((key) => [key, key.toUpperCase()]),
    8,
  );
  for (let slot = 0; slot < 8; slot++) {
    assert(views.i32[TABLE + 2 * slot + 1] !== 0);
  }
  assertEquals(view.locate(views, 0, TABLE, 7, "i", ACTION), -1);
  assertEquals(view.get(views, 0, TABLE, 7, "h", ACTION), "H");
});

Deno.test("EntryView.get() finds -0 as 0 and any NaN as NaN with number keys", () => {
  const { views, mask, view } = entryTable(
    new NumberKeys(),
    new NumberValues(),
    [[0, 1.5], [NaN, 2.5]],
  );
  assertEquals(view.get(views, 0, TABLE, mask, -0, ACTION), 1.5);
  const otherNaN = new Float64Array(new Int32Array([3, 0x7ff80000]).buffer)[0];
  assertEquals(view.get(views, 0, TABLE, mask, otherNaN, ACTION), 2.5);
});

Deno.test("EntryView.get() and locate() refuse bad keys as the key kind does", () => {
  const refusals: [
    KeyStorage<unknown>,
    unknown,
    typeof TypeError | typeof RangeError,
    string,
  ][] = [
    [
      new StringKeys(),
      1,
      TypeError,
      "Cannot get from the map: key must be a string, got number 1",
    ],
    [new Int32Keys(), "1", TypeError, 'got string "1"'],
    [
      new Int32Keys(),
      0.5,
      RangeError,
      "Cannot get from the map: key must be an int32 (an integer from -2147483648 to 2147483647), got number 0.5",
    ],
    [
      new BigIntKeys(),
      2n ** 63n,
      RangeError,
      "got bigint 9223372036854775808n",
    ],
    [
      byteKeys(),
      "ab",
      TypeError,
      'Cannot get from the map: key must be a Uint8Array, got string "ab"',
    ],
  ];
  for (const [keys, key, error, message] of refusals) {
    const { views, mask, view } = entryTable(keys, new StringValues(), []);
    assertThrows(
      () => view.get(views, 0, TABLE, mask, key, ACTION),
      error,
      message,
    );
    assertThrows(
      () => view.locate(views, 0, TABLE, mask, key, ACTION),
      error,
      message,
    );
  }
});
