/** AtomicsMemory: the production memory of the reader protocol. */
import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertThrows,
} from "@std/assert";
import { AtomicsMemory } from "../src/memory.ts";

Deno.test("AtomicsMemory.wait() on a thread that may not block throws a TypeError that names the async variants", () => {
  const memory = new AtomicsMemory(new Int32Array(new SharedArrayBuffer(8)));
  const wait = Atomics.wait;
  const refused = new TypeError(
    "Atomics.wait cannot be called in this context",
  );
  Atomics.wait = () => {
    throw refused;
  };
  try {
    const error = assertThrows(() => memory.wait(0, 0, 10), TypeError);
    assert(error.message.includes("guardAsync()"), error.message);
    assert(error.message.includes("may not block"), error.message);
    assertEquals(error.cause, refused);
  } finally {
    Atomics.wait = wait;
  }
  assertEquals(memory.wait(0, 1, 10), "not-equal");
});

Deno.test("AtomicsMemory.wait() passes on errors that are not the platform's refusal", () => {
  const memory = new AtomicsMemory(new Int32Array(new SharedArrayBuffer(8)));
  const wait = Atomics.wait;
  const other = new RangeError("something else");
  Atomics.wait = () => {
    throw other;
  };
  try {
    const error = assertThrows(() => memory.wait(0, 0, 10));
    assertInstanceOf(error, RangeError);
    assertEquals(error, other);
  } finally {
    Atomics.wait = wait;
  }
});
