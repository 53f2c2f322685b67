import { assertEquals, assertThrows } from "@std/assert";
import { MapViews } from "../../src/layout.ts";
import {
  BigIntValues,
  BooleanValues,
  ByteValues,
  Int32Values,
  JsonValues,
  NumberValues,
  StringValues,
  type ValueStorage,
} from "../../src/storage.ts";
import {
  inlineValue,
  inlineValueKind,
  VALUE_BIGINT,
  VALUE_BOOLEAN,
  VALUE_INT32,
  VALUE_NUMBER,
  VIEW_ENTRY,
  VIEW_INLINE,
  VIEW_INT32,
} from "../../src/view/view.ts";

Deno.test("VIEW_INT32, VIEW_INLINE and VIEW_ENTRY are distinct kinds", () => {
  assertEquals(new Set([VIEW_INT32, VIEW_INLINE, VIEW_ENTRY]).size, 3);
});

Deno.test("inlineValueKind() names each inline value kind by its own code", () => {
  assertEquals(inlineValueKind(new Int32Values()), VALUE_INT32);
  assertEquals(inlineValueKind(new BooleanValues()), VALUE_BOOLEAN);
  assertEquals(inlineValueKind(new NumberValues()), VALUE_NUMBER);
  assertEquals(inlineValueKind(new BigIntValues()), VALUE_BIGINT);
  assertEquals(
    new Set([VALUE_INT32, VALUE_BOOLEAN, VALUE_NUMBER, VALUE_BIGINT]).size,
    4,
  );
});

Deno.test("inlineValueKind() refuses with a TypeError value kinds that are never inline", () => {
  const kinds: ValueStorage<unknown>[] = [
    new StringValues(),
    new JsonValues(),
    new ByteValues((value) => value as Uint8Array, (bytes) => bytes),
  ];
  for (const values of kinds) {
    assertThrows(
      () => inlineValueKind(values),
      TypeError,
      "values of this kind are never inline",
    );
  }
});

Deno.test("inlineValue() reads the value stored by each kind's storeValue()", () => {
  const views = new MapViews(new SharedArrayBuffer(256));
  const cases: [ValueStorage<unknown>, number, unknown[]][] = [
    [new Int32Values(), VALUE_INT32, [0, -1, 2 ** 31 - 1, -(2 ** 31)]],
    [new BooleanValues(), VALUE_BOOLEAN, [true, false]],
    [new NumberValues(), VALUE_NUMBER, [0, -0, 1.5, NaN, -Infinity]],
    [new BigIntValues(), VALUE_BIGINT, [0n, -1n, -(2n ** 63n), 2n ** 63n - 1n]],
  ];
  for (const [values, kind, samples] of cases) {
    for (const value of samples) {
      views.i32.fill(-1);
      values.storeValue(values.prepare(value, "insert"), views.i32, 6);
      const read = inlineValue(views, kind, 6);
      assertEquals(
        Object.is(read, value),
        true,
        `${String(value)}: ${String(read)}`,
      );
    }
  }
});

Deno.test("inlineValue() reads boolean true from any non-zero word", () => {
  const views = new MapViews(new SharedArrayBuffer(64));
  views.i32[3] = -5;
  assertEquals(inlineValue(views, VALUE_BOOLEAN, 3), true);
  views.i32[3] = 0;
  assertEquals(inlineValue(views, VALUE_BOOLEAN, 3), false);
});
