import { assert, assertEquals, assertThrows } from "@std/assert";
import { MapViews } from "../../src/layout.ts";
import {
  BigIntKeys,
  BigIntValues,
  BooleanKeys,
  BooleanValues,
  Int32Values,
  type KeyStorage,
  NumberKeys,
  NumberValues,
  type ValueStorage,
} from "../../src/storage.ts";
import {
  oddSlot,
  placeSlot,
  SlotFormat,
  slotHolding,
  writeTable,
} from "../../src/table.ts";
import { InlineView } from "../../src/view/inline.ts";
import { VIEW_INLINE } from "../../src/view/view.ts";

const TABLE = 1024;
const ACTION = "get from the map";
const MIN_INT64 = -(2n ** 63n);

/**
 * An inline table of copy `copy` (`slots` slots at TABLE) holding
 * `entries`, laid out as the writer does, and the view over it.
 */
function inlineTable<K, V>(
  seed: number,
  keys: KeyStorage<K>,
  values: ValueStorage<V>,
  entries: [unknown, unknown][],
  slots = 16,
  copy = 0,
) {
  const views = new MapViews(new SharedArrayBuffer(4 * 4096));
  const format = new SlotFormat(keys.inlineWords, values.inlineWords, seed);
  writeTable(views.i32, copy, { offset: TABLE, mask: slots - 1, size: 0 });
  const at: number[] = [];
  for (const [key, value] of entries) {
    const image = new Int32Array(format.stride);
    keys.storeKey(keys.prepare(key, "insert"), seed, image, 0);
    values.storeValue(values.prepare(value, "insert"), image, format.valueAt);
    placeSlot(views.i32, format, copy, image, 0);
    at.push(slotHolding(views.i32, format, copy, image, 0));
  }
  const view = new InlineView(seed, format, keys, values);
  return { views, format, mask: slots - 1, at, view };
}

interface Case {
  name: string;
  keys: KeyStorage<unknown>;
  values: ValueStorage<unknown>;
  present: unknown[];
  absent: unknown[];
  /** A key stored as all zero words, if the kind has one. */
  odd?: unknown;
}

const SEED = 77;

const cases: Case[] = [
  {
    name: "boolean keys, int32 values",
    keys: new BooleanKeys(),
    values: new Int32Values(),
    present: [true],
    absent: [false],
  },
  {
    name: "boolean keys, number values",
    keys: new BooleanKeys(),
    values: new NumberValues(),
    present: [false, true],
    absent: [],
  },
  {
    name: "number keys, boolean values",
    keys: new NumberKeys(),
    values: new BooleanValues(),
    present: [
      0,
      1.5,
      -1.5,
      NaN,
      Infinity,
      -Infinity,
      Number.MIN_VALUE,
      2 ** 53,
    ],
    absent: [1, -2, Number.MAX_VALUE, 2 ** 53 + 2],
  },
  {
    name: "number keys, bigint values",
    keys: new NumberKeys(),
    values: new BigIntValues(),
    present: [0, 3, 7.25],
    absent: [4, NaN],
  },
  {
    name: "bigint keys, number values",
    keys: new BigIntKeys(),
    values: new NumberValues(),
    present: [MIN_INT64, 0n, -1n, 2n ** 63n - 1n, 12345678901234n],
    absent: [1n, MIN_INT64 + 1n, -(2n ** 40n)],
    odd: MIN_INT64,
  },
  {
    name: "bigint keys, int32 values",
    keys: new BigIntKeys(),
    values: new Int32Values(),
    present: [5n, 6n],
    absent: [MIN_INT64, 7n],
  },
];

/** A value of the case's kind for entry `i`. */
function valueOf(values: ValueStorage<unknown>, i: number): unknown {
  if (values instanceof Int32Values) return i * 11 - 3;
  if (values instanceof BooleanValues) return i % 2 === 1;
  if (values instanceof NumberValues) return i + 0.5;
  return BigInt(i) - 3n;
}

for (const { name, keys, values, present, absent, odd } of cases) {
  Deno.test(`InlineView.get() finds every key and misses absent ones (${name})`, () => {
    const { views, mask, at, view } = inlineTable(
      SEED,
      keys,
      values,
      present.map((key, i) => [key, valueOf(values, i)]),
    );
    assertEquals(view.kind, VIEW_INLINE);
    present.forEach((key, i) => {
      const slot = view.locate(views, 0, TABLE, mask, key, ACTION);
      assertEquals(slot, at[i], `key ${String(key)}`);
      assertEquals(
        view.get(views, 0, TABLE, mask, key, ACTION),
        valueOf(values, i),
      );
      assertEquals(view.value(views, slot), valueOf(values, i));
    });
    for (const key of absent) {
      assertEquals(view.locate(views, 0, TABLE, mask, key, ACTION), -1);
      assertEquals(view.get(views, 0, TABLE, mask, key, ACTION), undefined);
    }
    if (odd !== undefined) {
      assertEquals(view.locate(views, 0, TABLE, mask, odd, ACTION), oddSlot(0));
    }
  });
}

Deno.test("InlineView.locate() finds -0 as 0 and any NaN as NaN", () => {
  const { views, mask, view } = inlineTable(
    SEED,
    new NumberKeys(),
    new Int32Values(),
    [[0, 1], [NaN, 2]],
  );
  assertEquals(view.get(views, 0, TABLE, mask, -0, ACTION), 1);
  const otherNaN = new Float64Array(new Int32Array([7, 0x7ff80000]).buffer)[0];
  assert(Number.isNaN(otherNaN));
  assertEquals(view.get(views, 0, TABLE, mask, otherNaN, ACTION), 2);
});

Deno.test("InlineView.locate() reads the odd key from the copy it is given", () => {
  const { views, mask, view } = inlineTable(
    SEED,
    new BigIntKeys(),
    new BigIntValues(),
    [[MIN_INT64, 9n]],
    16,
    2,
  );
  assertEquals(
    view.locate(views, 2, TABLE, mask, MIN_INT64, ACTION),
    oddSlot(2),
  );
  assertEquals(view.get(views, 2, TABLE, mask, MIN_INT64, ACTION), 9n);
  // Copy 0 has no odd key.
  assertEquals(view.locate(views, 0, TABLE, mask, MIN_INT64, ACTION), -1);
});

Deno.test("InlineView.locate() uses the odd slot for false under seed 0", () => {
  const { views, mask, view } = inlineTable(
    0,
    new BooleanKeys(),
    new Int32Values(),
    [[false, 4], [true, 5]],
  );
  assertEquals(view.locate(views, 0, TABLE, mask, false, ACTION), oddSlot(0));
  assertEquals(view.get(views, 0, TABLE, mask, false, ACTION), 4);
  assertEquals(view.get(views, 0, TABLE, mask, true, ACTION), 5);
});

Deno.test("InlineView.locate() returns -1 for a missing key of a full table", () => {
  const keys = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => n * 1.5);
  const { views, format, view } = inlineTable(
    SEED,
    new NumberKeys(),
    new NumberValues(),
    keys.map((key) => [key, key]),
    8,
  );
  for (let slot = 0; slot < 8; slot++) {
    assert(!format.isFree(views.i32, TABLE + format.stride * slot));
  }
  assertEquals(view.locate(views, 0, TABLE, 7, 100, ACTION), -1);
  assertEquals(view.get(views, 0, TABLE, 7, 12, ACTION), 12);
});

Deno.test("InlineView.get() and locate() refuse bad keys as the key kind does", () => {
  const refusals: [
    KeyStorage<unknown>,
    unknown,
    typeof TypeError | typeof RangeError,
    string,
  ][] = [
    [
      new NumberKeys(),
      "1",
      TypeError,
      'Cannot get from the map: key must be a number, got string "1"',
    ],
    [new NumberKeys(), 1n, TypeError, "key must be a number, got bigint 1n"],
    [
      new BooleanKeys(),
      0,
      TypeError,
      "Cannot get from the map: key must be a boolean, got number 0",
    ],
    [
      new BigIntKeys(),
      1,
      TypeError,
      "Cannot get from the map: key must be a 64-bit signed bigint (from -(2n ** 63n) to 2n ** 63n - 1n), got number 1",
    ],
    [
      new BigIntKeys(),
      2n ** 63n,
      RangeError,
      "got bigint 9223372036854775808n",
    ],
    [
      new BigIntKeys(),
      MIN_INT64 - 1n,
      RangeError,
      "got bigint -9223372036854775809n",
    ],
  ];
  for (const [keys, key, error, message] of refusals) {
    const { views, mask, view } = inlineTable(
      SEED,
      keys,
      new Int32Values(),
      [],
    );
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
