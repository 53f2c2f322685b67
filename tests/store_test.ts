import { assert, assertEquals } from "@std/assert";
import { codecs, create, type KeyCodec } from "@x/flashmap";
import { type Codec, keyStorage, valueStorage } from "../src/codecs.ts";
import { mapContext } from "../src/context.ts";
import { CopySet } from "../src/copies.ts";
import { MapViews } from "../src/layout.ts";
import { Store } from "../src/store.ts";
import {
  forEachSlot,
  readTable,
  sizeField,
  type SlotFormat,
} from "../src/table.ts";

/**
 * A `Store` over the buffer of a fresh map whose own writer is never used
 * again: copy 0 current, copy 1 the write copy, both empty.
 */
function storeOf<K, V>(
  key: Codec<K>,
  value: Codec<V>,
  maxCopies = 4,
  capacity = 0,
) {
  const [, read] = create({
    key: key as KeyCodec<K>,
    value,
    seed: 99,
    maxReaders: 4,
    capacity,
  });
  const buffer = read.share().buffer;
  const context = mapContext(
    buffer,
    4,
    key,
    value,
    keyStorage(key),
    valueStorage(value),
  );
  const views = new MapViews(buffer);
  const second = readTable(views.i32, 1);
  const heapStart = second.offset + context.stride * (second.mask + 1);
  const store = new Store(context, views, heapStart, 64 * 1024 * 1024);
  const copies = new CopySet(context.control, store, maxCopies, 0, 1);
  store.copies = copies;
  return { context, views, store, copies };
}

/** The words of every occupied slot of `copy`, sorted. */
function slotsOf(
  s: { views: MapViews; context: { format: SlotFormat } },
  copy: number,
): string[] {
  const { views, context: { format } } = s;
  const slots: string[] = [];
  forEachSlot(views.i32, format, copy, (at) => {
    slots.push([...views.i32.subarray(at, at + format.stride)].join(","));
  });
  return slots.sort();
}

/** Puts `key → value` into the write copy the way the writer does. */
function put<K, V>(
  s: ReturnType<typeof storeOf<K, V>>,
  key: K,
  value: V,
): void {
  const { context, store, copies } = s;
  const prepared = context.keys.prepare(key, "insert into the map");
  const hash = context.keys.hash(prepared, context.seed);
  const at = store.find(copies.write, prepared, hash);
  store.put(
    copies.write,
    prepared,
    context.values.prepare(value, "insert into the map"),
    hash,
    at,
    "insert into the map",
  );
}

/** Drops `key` from the write copy; whether it was there. */
function drop<K, V>(s: ReturnType<typeof storeOf<K, V>>, key: K): boolean {
  const { context, store, copies } = s;
  const prepared = context.keys.prepare(key, "remove from the map");
  const at = store.find(
    copies.write,
    prepared,
    context.keys.hash(prepared, context.seed),
  );
  if (at < 0) return false;
  store.drop(copies.write, at);
  return true;
}

/** What `Writer.publish` does, less the protocol: the copy set's view of it. */
function publish<K, V>(s: ReturnType<typeof storeOf<K, V>>): void {
  const { store, copies, views } = s;
  const grew = readTable(views.i32, copies.write).mask !==
    readTable(views.i32, copies.current).mask;
  store.published(copies.version);
  if (copies.published(grew) >= 0) store.dropReplayedLogs();
  store.boundLogs();
}

for (
  const [name, key, value] of [
    ["inline int32 slots", codecs.int32, codecs.int32],
    ["entry slots", codecs.string, codecs.string],
  ] as const
) {
  Deno.test(`Store replays a published batch onto the retired copy, which then holds what the current one holds (${name})`, () => {
    const s = storeOf(key as Codec<unknown>, value as Codec<unknown>);
    const keyOf = (n: number) => key === codecs.int32 ? n : `k${n}`;
    const valueOf = (n: number) => value === codecs.int32 ? n : `v${n}`;
    for (let n = 0; n < 5; n++) put(s, keyOf(n), valueOf(n));
    publish(s); // copy 1 current; copy 0 replayed at once
    assertEquals(s.copies.write, 0);
    assertEquals(slotsOf(s, 0), slotsOf(s, 1));
    assertEquals(s.store.logged, 0, "the replayed batch is dropped");
    assert(drop(s, keyOf(2)));
    assert(!drop(s, keyOf(9)));
    put(s, keyOf(3), valueOf(30));
    publish(s);
    assertEquals(slotsOf(s, 0), slotsOf(s, 1));
    assertEquals(s.views.i32[sizeField(0)], 4);
    assertEquals(s.views.i32[sizeField(1)], 4);
  });
}

Deno.test("Store.undo() takes a batch back out of the write copy", () => {
  const s = storeOf(codecs.int32, codecs.number);
  for (let n = 0; n < 6; n++) put(s, n, n / 2);
  publish(s);
  const before = slotsOf(s, s.copies.write);
  drop(s, 1);
  put(s, 2, 99);
  put(s, 40, 1);
  s.store.clear(s.copies.write);
  put(s, 41, 2);
  assert(!s.store.logEmpty);
  s.store.undo(s.copies.write);
  assert(s.store.logEmpty);
  assertEquals(slotsOf(s, s.copies.write), before);
});

Deno.test("Store grows the write copy's table, and the copy set then clones the grown table instead of replaying the old one", () => {
  const s = storeOf(codecs.int32, codecs.int32);
  const slots = readTable(s.views.i32, 1).mask + 1;
  for (let n = 0; n < slots; n++) put(s, n, n); // past the load limit
  const grown = readTable(s.views.i32, 1).mask + 1;
  assertEquals(grown > slots, true);
  publish(s); // the old current copy is abandoned, not replayed
  assertEquals(s.copies.write, -1);
  assertEquals(s.copies.prepareNow(), 0);
  assertEquals(s.copies.clones, 1);
  assertEquals(readTable(s.views.i32, 0).mask + 1, grown);
  assertEquals(slotsOf(s, 0), slotsOf(s, 1));
});

Deno.test("Store.boundLogs() abandons the oldest kept copy once the logs pass their budget", () => {
  // Room for every key: no growth abandons the copy, only the log budget
  // (the larger of 64 and a quarter of 512 slots).
  const s = storeOf(codecs.int32, codecs.int32, 4, 256);
  assertEquals(readTable(s.views.i32, 0).mask + 1, 512);
  for (let n = 0; n < 10; n++) put(s, n, n);
  publish(s);
  // Pin copy 0's next retirement: a kept copy that is not free stays kept.
  const control = s.context.control;
  // Make copy 1 (current) look read by a guard when it retires, by
  // recording a residual guard on it in registry slot 0.
  let batches = 0;
  const pinned = s.copies.current;
  const residual = 320 + 4 + pinned; // slot 0's residual word for `pinned`
  control.store(residual, 1);
  for (let round = 0; round < 40; round++) {
    if (s.copies.write < 0) {
      s.copies.prepareNow();
      s.store.dropReplayedLogs();
    }
    for (let n = 0; n < 8; n++) put(s, 100 + round * 8 + n, n);
    publish(s);
    batches++;
  }
  control.store(residual, 0);
  assert(batches > 0);
  assertEquals(s.copies.role(pinned), "abandoned");
  assert(s.store.logged <= 128, `${s.store.logged} operations kept`);
  assertEquals(readTable(s.views.i32, 0).mask + 1, 512, "no growth");
});
