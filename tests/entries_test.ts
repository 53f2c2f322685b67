import { assert, assertEquals } from "@std/assert";
import { entryMeta, EntryStore } from "../src/entries.ts";
import { Heap, sizeClass } from "../src/heap.ts";
import { E_META, LINK_BITS, MapViews } from "../src/layout.ts";

const START = 64;

/** A heap over a fresh buffer, an entry of `words` words with `links` links, and a block after it. */
function setUp(words: number, links: number) {
  const buffer = new SharedArrayBuffer(64 * 1024, { maxByteLength: 64 * 1024 });
  const views = new MapViews(buffer);
  const heap = new Heap(views, START, 64 * 1024);
  const entry = heap.alloc(words, "test");
  views.i32[entry + E_META] = entryMeta(words, links);
  // A block above the entry, so that freeing the entry lists it as free
  // instead of lowering the top.
  const after = heap.alloc(8, "test");
  assert(after > entry);
  return { views, heap, entry, store: new EntryStore(views, heap) };
}

Deno.test("entryMeta() packs the size above LINK_BITS bits of links", () => {
  assertEquals(entryMeta(10, 3), (10 << LINK_BITS) | 3);
  assertEquals(entryMeta(10, 3) >>> LINK_BITS, 10);
  assertEquals(entryMeta(10, 3) & ((1 << LINK_BITS) - 1), 3);
  assertEquals(entryMeta(1_000_000, 16) >>> LINK_BITS, 1_000_000);
  assertEquals(entryMeta(1_000_000, 16) & ((1 << LINK_BITS) - 1), 16);
  assertEquals(entryMeta(6, 0), 6 << LINK_BITS);
});

Deno.test("EntryStore.unlink() frees an entry exactly at its last link", () => {
  const { views, heap, entry, store } = setUp(10, 3);
  store.unlink(entry);
  assertEquals(heap.freeWords, 0);
  assertEquals(views.i32[entry + E_META], entryMeta(10, 2));
  store.unlink(entry);
  assertEquals(heap.freeWords, 0);
  assertEquals(views.i32[entry + E_META], entryMeta(10, 1));
  store.unlink(entry);
  assertEquals(heap.freeWords, sizeClass(10));
  // The freed block is the entry's: the next allocation of its size takes it.
  assertEquals(heap.alloc(10, "test"), entry);
  assertEquals(heap.freeWords, 0);
});

Deno.test("EntryStore.relink() adds a link, so one more unlink is needed to free", () => {
  const { views, heap, entry, store } = setUp(12, 1);
  store.relink(entry);
  assertEquals(views.i32[entry + E_META], entryMeta(12, 2));
  store.unlink(entry);
  assertEquals(heap.freeWords, 0);
  store.unlink(entry);
  assertEquals(heap.freeWords, sizeClass(12));
});

Deno.test("EntryStore.unlink() frees the size recorded in the meta word", () => {
  // A 100-word entry lies in a larger size class: the whole class is freed.
  const { heap, entry, store } = setUp(100, 1);
  store.unlink(entry);
  assertEquals(heap.freeWords, sizeClass(100));
  assertEquals(heap.alloc(100, "test"), entry);
});

Deno.test("EntryStore.discard() frees an entry whatever links it counts", () => {
  const { views, heap, entry, store } = setUp(8, 4);
  store.discard(entry);
  assertEquals(heap.freeWords, sizeClass(8));
  // discard does not touch the meta word's links.
  assertEquals(views.i32[entry + E_META], entryMeta(8, 4));
});

Deno.test("EntryStore frees each of several entries only at its own last unlink", () => {
  const buffer = new SharedArrayBuffer(64 * 1024);
  const views = new MapViews(buffer);
  const heap = new Heap(views, START, 64 * 1024);
  const store = new EntryStore(views, heap);
  const entries: number[] = [];
  for (let i = 0; i < 5; i++) {
    const entry = heap.alloc(6, "test");
    views.i32[entry + E_META] = entryMeta(6, i + 1);
    entries.push(entry);
  }
  heap.alloc(8, "test"); // keeps the entries off the top
  // Round r takes one link from every entry still linked: entry i goes
  // at round i.
  for (let round = 0; round < 5; round++) {
    for (let i = round; i < 5; i++) store.unlink(entries[i]);
    assertEquals(heap.freeWords, 6 * (round + 1), `round ${round}`);
  }
});
