import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertStrictEquals,
} from "@std/assert";
import {
  BufferFullError,
  DeadlockError,
  ReaderLimitError,
  WaitTimeoutError,
} from "../src/errors.ts";

Deno.test("BufferFullError is a RangeError named BufferFullError", () => {
  const error = new BufferFullError("Cannot insert into the map: full");
  assertInstanceOf(error, BufferFullError);
  assertInstanceOf(error, RangeError);
  assertInstanceOf(error, Error);
  assertEquals(error.name, "BufferFullError");
  assertEquals(error.message, "Cannot insert into the map: full");
  assertEquals(
    String(error),
    "BufferFullError: Cannot insert into the map: full",
  );
  assert(!(error instanceof ReaderLimitError));
});

Deno.test("ReaderLimitError is a RangeError named ReaderLimitError", () => {
  const error = new ReaderLimitError("Cannot clone the read handle: none left");
  assertInstanceOf(error, ReaderLimitError);
  assertInstanceOf(error, RangeError);
  assertEquals(error.name, "ReaderLimitError");
  assertEquals(error.message, "Cannot clone the read handle: none left");
  assert(!(error instanceof BufferFullError));
});

Deno.test("DeadlockError is an Error but not a RangeError or TypeError", () => {
  const error = new DeadlockError("Cannot open a write guard: deadlock");
  assertInstanceOf(error, DeadlockError);
  assertInstanceOf(error, Error);
  assert(!(error instanceof RangeError));
  assert(!(error instanceof TypeError));
  assertEquals(error.name, "DeadlockError");
  assertEquals(error.message, "Cannot open a write guard: deadlock");
});

Deno.test("WaitTimeoutError keeps the ids of the readers it waited for", () => {
  const readers = [65_537, 3];
  const error = new WaitTimeoutError(
    "Cannot open a write guard: 10 ms",
    readers,
  );
  assertInstanceOf(error, WaitTimeoutError);
  assertInstanceOf(error, Error);
  assert(!(error instanceof RangeError));
  assertEquals(error.name, "WaitTimeoutError");
  assertEquals(error.message, "Cannot open a write guard: 10 ms");
  assertStrictEquals(error.readers, readers);
  assertEquals(error.readers, [65_537, 3]);
  assertEquals(new WaitTimeoutError("none", []).readers, []);
});

Deno.test("Each named error keeps a stack and is caught by its own class", () => {
  const classes = [
    () => new BufferFullError("a"),
    () => new ReaderLimitError("b"),
    () => new DeadlockError("c"),
    () => new WaitTimeoutError("d", [1]),
  ];
  const caught: string[] = [];
  for (const make of classes) {
    try {
      throw make();
    } catch (error) {
      assertInstanceOf(error, Error);
      assertEquals(typeof error.stack, "string");
      caught.push(error.name);
    }
  }
  assertEquals(caught, [
    "BufferFullError",
    "ReaderLimitError",
    "DeadlockError",
    "WaitTimeoutError",
  ]);
});
