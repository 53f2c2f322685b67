import { assert, assertEquals, assertThrows } from "@std/assert";
import { BufferFullError } from "@x/flashmap";
import { Heap, sizeClass } from "../src/heap.ts";
import { H_BUFFER_WORDS, MapViews } from "../src/layout.ts";

Deno.test("sizeClass() rounds up to even sizes within an eighth", () => {
  let previous = 0;
  for (let words = 1; words < 100_000; words++) {
    const size = sizeClass(words);
    assert(size >= words && size % 2 === 0, `class of ${words}`);
    assert(size <= Math.max(words + 1, words * 1.125 + 2), `waste at ${words}`);
    assert(size >= previous);
    previous = size;
  }
});

Deno.test("Heap reuses a freed block of the same class before growing", () => {
  const buffer = new SharedArrayBuffer(1024, { maxByteLength: 1 << 20 });
  const views = new MapViews(buffer);
  const heap = new Heap(views, 64, 1 << 20);
  const a = heap.alloc(10, "test");
  const b = heap.alloc(10, "test");
  assertEquals(b - a, 10);
  heap.free(a, 9); // same class as 10
  assertEquals(heap.alloc(10, "test"), a);
  assertEquals(heap.alloc(10, "test"), b + 10);
});

Deno.test("Heap grows the buffer, records its size, and refuses to pass maxBytes", () => {
  const buffer = new SharedArrayBuffer(1024, { maxByteLength: 256 * 1024 });
  const views = new MapViews(buffer);
  const heap = new Heap(views, 64, 256 * 1024);
  const block = heap.alloc(1000, "test");
  assert(buffer.byteLength >= (block + 1000) * 4);
  assertEquals(views.i32[H_BUFFER_WORDS], views.words);
  const top = heap.top;
  assertThrows(
    () => heap.alloc(64 * 1024, "insert"),
    BufferFullError,
    "maxBytes",
  );
  assertEquals(heap.top, top); // nothing allocated by the failed call
});
