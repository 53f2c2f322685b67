import { assert, assertEquals, assertThrows } from "@std/assert";
import { BufferFullError, create } from "@x/flashmap";
import { Heap, LINE_WORDS, sizeClass } from "../src/heap.ts";
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

Deno.test("Heap merges neighbouring free blocks and lowers the top", () => {
  const buffer = new SharedArrayBuffer(64 * 1024, { maxByteLength: 64 * 1024 });
  const views = new MapViews(buffer);
  const heap = new Heap(views, 64, 64 * 1024);
  const a = heap.alloc(10, "test");
  const b = heap.alloc(10, "test");
  const c = heap.alloc(10, "test");
  heap.free(a, 10);
  heap.free(b, 10); // merges with a
  assertEquals(heap.freeWords, 20);
  assertEquals(heap.alloc(20, "test"), a); // found by its exact size
  heap.free(c, 10); // at the top: lowers it
  assertEquals(heap.top, c);
  assertEquals(heap.freeWords, 0);
});

Deno.test("Heap splits a free block when the buffer cannot grow", () => {
  const buffer = new SharedArrayBuffer(1024, { maxByteLength: 1024 });
  const views = new MapViews(buffer);
  const heap = new Heap(views, 64, 1024);
  const blocks = Array.from({ length: 6 }, () => heap.alloc(30, "test"));
  for (const block of blocks.slice(0, 4)) heap.free(block, 30); // 120 free words, merged
  assertThrows(() => heap.alloc(130, "test"), BufferFullError); // larger than any free block
  const split = heap.alloc(60, "test");
  assertEquals(split, blocks[0]);
  assertEquals(heap.freeWords, 60);
});

Deno.test("Heap.allocAligned() starts tables on a cache line and keeps the skipped words free", () => {
  const buffer = new SharedArrayBuffer(4096, { maxByteLength: 4096 });
  const views = new MapViews(buffer);
  const heap = new Heap(views, 64, 4096); // 1024 words, cannot grow
  const entry = heap.alloc(6, "test"); // the top is now off the line
  const table = heap.allocAligned(64, "test");
  assertEquals(table % LINE_WORDS, 0);
  assertEquals(table, 80);
  assertEquals(heap.freeWords, 10); // words 70-79, free for entries
  assertEquals(heap.alloc(10, "test"), entry + 6);
  heap.free(entry + 6, 10);
  const big = heap.allocAligned(768, "test"); // 144-911
  const rest = heap.alloc(112, "test"); // 912-1023: the top is full
  heap.free(table, 64); // 70-143 free (merged)
  // With no room at the top, a free block is split on the line.
  const inner = heap.allocAligned(32, "test");
  assertEquals(inner, 80);
  assertEquals(heap.freeWords, 10 + 32);
  heap.free(inner, 32);
  heap.free(rest, 112); // at the top: lowers it
  heap.free(big, 768); // merges down to the entry and lowers the top again
  assertEquals(heap.top, entry + 6);
  assertEquals(heap.freeWords, 0);
});

Deno.test("Heap.allocAligned() that fails with BufferFullError changes nothing", () => {
  const buffer = new SharedArrayBuffer(1024, { maxByteLength: 2048 });
  const views = new MapViews(buffer);
  const heap = new Heap(views, 64, 2048);
  heap.alloc(6, "test");
  const top = heap.top;
  assertThrows(() => heap.allocAligned(512, "test"), BufferFullError);
  assertEquals(heap.top, top);
  assertEquals(heap.freeWords, 0);
  assertEquals(buffer.byteLength, 1024);
});

Deno.test("WriteGuard.insert() that fails with BufferFullError leaves room for what fitted before", () => {
  const maxBytes = 64 * 1024;
  const [write] = create({ maxReaders: 1, maxBytes, seed: 1 });
  const guard = write.guard();
  // Six entries fill the first table to its load limit, and the buffer to
  // within a few hundred bytes: the seventh needs a table growth.
  for (let i = 0; i < 4; i++) guard.insert(`k${i}`, "x".repeat(6132));
  guard.insert("k4", "x".repeat(6900));
  let room = maxBytes - write.stats().bytesInUse;
  guard.insert("k5", "x".repeat(Math.max(2, (room - 232) / 2 - 10)));
  room = maxBytes - write.stats().bytesInUse;
  assert(room >= 192 && room < 280, `${room} bytes left`);
  const before = write.stats();
  assertThrows(() => guard.insert("k6", ""), BufferFullError);
  const after = write.stats();
  assertEquals(after.bytesInUse, before.bytesInUse);
  assertEquals(after.bytesReserved, before.bytesReserved);
  // What fitted before the failure still fits.
  guard.insert("k0", "y".repeat(84));
  assertEquals(guard.size, 6);
});

Deno.test("WriteGuard reuses the space of many small removed entries for larger ones", () => {
  const [write] = create({ maxBytes: 1 << 20, maxReaders: 1, capacity: 2000 });
  let small = 0;
  {
    using guard = write.guard();
    assertThrows(() => {
      for (; small < 100_000; small++) {
        guard.insert(`k${small}`, "a".repeat(100));
      }
    }, BufferFullError);
  }
  {
    using guard = write.guard();
    for (let i = 0; i < small; i++) guard.remove(`k${i}`);
  }
  write.synchronize(); // the second copy drops them too: their blocks are free
  let large = 0;
  {
    using guard = write.guard();
    assertThrows(() => {
      for (; large < 100_000; large++) {
        guard.insert(`k${large}`, "b".repeat(300));
      }
    }, BufferFullError);
  }
  // 300-unit values take about 2.7 times the room of 100-unit ones.
  assert(large > small / 3, `${large} large entries after ${small} small ones`);
});
