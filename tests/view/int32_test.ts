import { assert, assertEquals, assertThrows } from "@std/assert";
import { MapViews } from "../../src/layout.ts";
import {
  BigIntValues,
  BooleanValues,
  Int32Keys,
  Int32Values,
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
import { Int32View } from "../../src/view/int32.ts";
import { VIEW_INT32 } from "../../src/view/view.ts";

const TABLE = 1024;
const ACTION = "get from the map";
const INT32_RANGE = "an int32 (an integer from -2147483648 to 2147483647)";

/**
 * An inline int32-keyed table of copy `copy` (`slots` slots at TABLE)
 * holding `entries`, as the writer lays it out. Returns the views, the
 * format and each key's slot.
 */
function int32Table<V>(
  seed: number,
  values: ValueStorage<V>,
  entries: [number, unknown][],
  slots = 16,
  copy = 0,
) {
  const views = new MapViews(new SharedArrayBuffer(4 * 4096));
  const format = new SlotFormat(1, values.inlineWords, seed);
  const keys = new Int32Keys();
  writeTable(views.i32, copy, { offset: TABLE, mask: slots - 1, size: 0 });
  const at = new Map<number, number>();
  for (const [key, value] of entries) {
    const image = new Int32Array(format.stride);
    keys.storeKey(keys.prepare(key, "insert"), seed, image, 0);
    values.storeValue(values.prepare(value, "insert"), image, format.valueAt);
    placeSlot(views.i32, format, copy, image, 0);
    at.set(key, slotHolding(views.i32, format, copy, image, 0));
  }
  return { views, format, mask: slots - 1, at };
}

const valueKinds: [string, ValueStorage<unknown>, (n: number) => unknown][] = [
  ["int32 values", new Int32Values(), (n) => n * 3 - 7],
  ["boolean values", new BooleanValues(), (n) => n % 2 === 0],
  ["number values", new NumberValues(), (n) => n / 4],
  ["bigint values", new BigIntValues(), (n) => BigInt(n) << 40n],
];

for (const [name, values, valueOf] of valueKinds) {
  for (const seed of [77, 0, -123456789]) {
    Deno.test(`Int32View.get() finds every key, the odd key included (${name}, seed ${seed})`, () => {
      const keys = [seed, 1, -1, 5, 2 ** 31 - 1, -(2 ** 31), 1000, 0]
        .filter((key, i, all) => all.indexOf(key) === i);
      const { views, format, mask, at } = int32Table(
        seed,
        values,
        keys.map((key, i) => [key, valueOf(i)]),
      );
      const view = new Int32View(seed, format.stride, values);
      assertEquals(view.kind, VIEW_INT32);
      keys.forEach((key, i) => {
        const slot = view.locate(views, 0, TABLE, mask, key, ACTION);
        assertEquals(slot, at.get(key), `key ${key}`);
        assertEquals(view.get(views, 0, TABLE, mask, key, ACTION), valueOf(i));
        assertEquals(view.value(views, slot), valueOf(i));
      });
      // The key equal to the seed is stored as 0: it lives in the odd slot.
      assertEquals(at.get(seed), oddSlot(0));
      for (const key of [2, 3, -2, 999, -(2 ** 31) + 1]) {
        assertEquals(view.locate(views, 0, TABLE, mask, key, ACTION), -1);
        assertEquals(view.get(views, 0, TABLE, mask, key, ACTION), undefined);
      }
    });
  }
}

Deno.test("Int32View.locate() misses the odd key when the copy does not hold it", () => {
  const seed = 77;
  const { views, format, mask } = int32Table(seed, new Int32Values(), [
    [1, 10],
    [2, 20],
  ]);
  const view = new Int32View(seed, format.stride, new Int32Values());
  assertEquals(view.locate(views, 0, TABLE, mask, seed, ACTION), -1);
  assertEquals(view.get(views, 0, TABLE, mask, seed, ACTION), undefined);
});

Deno.test("Int32View.locate() reads the odd key of the copy it is given", () => {
  const seed = 77;
  const { views, format, mask } = int32Table(
    seed,
    new Int32Values(),
    [[seed, 5]],
    16,
    1,
  );
  const view = new Int32View(seed, format.stride, new Int32Values());
  assertEquals(view.get(views, 1, TABLE, mask, seed, ACTION), 5);
  assertEquals(view.locate(views, 1, TABLE, mask, seed, ACTION), oddSlot(1));
  assertEquals(view.get(views, 0, TABLE, mask, seed, ACTION), undefined);
});

Deno.test("Int32View.get() finds key 0 when asked for -0", () => {
  const { views, format, mask } = int32Table(9, new Int32Values(), [[0, 42]]);
  const view = new Int32View(9, format.stride, new Int32Values());
  assertEquals(view.get(views, 0, TABLE, mask, -0, ACTION), 42);
});

Deno.test("Int32View.locate() returns -1 for a missing key of a full table", () => {
  const seed = 31;
  const keys = [1, 2, 3, 4, 5, 6, 7, 8];
  const { views, format } = int32Table(
    seed,
    new NumberValues(),
    keys.map((key) => [key, key]),
    8,
  );
  for (let slot = 0; slot < 8; slot++) {
    assert(!format.isFree(views.i32, TABLE + format.stride * slot));
  }
  const view = new Int32View(seed, format.stride, new NumberValues());
  assertEquals(view.locate(views, 0, TABLE, 7, 9, ACTION), -1);
  assertEquals(view.get(views, 0, TABLE, 7, 9, ACTION), undefined);
  assertEquals(view.get(views, 0, TABLE, 7, 8, ACTION), 8);
});

Deno.test("Int32View.get() and locate() refuse keys that are not int32s", () => {
  const { views, format, mask } = int32Table(3, new Int32Values(), [[1, 1]]);
  const view = new Int32View(3, format.stride, new Int32Values());
  const cases: [unknown, typeof TypeError | typeof RangeError, string][] = [
    ["1", TypeError, 'got string "1"'],
    [1n, TypeError, "got bigint 1n"],
    [null, TypeError, "got null"],
    [undefined, TypeError, "got undefined"],
    [true, TypeError, "got boolean true"],
    [1.5, RangeError, "got number 1.5"],
    [2 ** 31, RangeError, "got number 2147483648"],
    [-(2 ** 31) - 1, RangeError, "got number -2147483649"],
    [NaN, RangeError, "got number NaN"],
    [Infinity, RangeError, "got number Infinity"],
  ];
  for (const [key, error, got] of cases) {
    const message =
      `Cannot get from the map: key must be ${INT32_RANGE}, ${got}`;
    assertThrows(
      () => view.get(views, 0, TABLE, mask, key, ACTION),
      error,
      message,
    );
    assertThrows(
      () => view.locate(views, 0, TABLE, mask, key, "check the map"),
      error,
      `Cannot check the map: key must be ${INT32_RANGE}, ${got}`,
    );
  }
});
