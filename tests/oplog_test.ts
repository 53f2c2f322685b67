import { assert, assertEquals } from "@std/assert";
import { hashInt32 } from "../src/hash.ts";
import { MapViews } from "../src/layout.ts";
import {
  absorb,
  type EntryLinks,
  OP_INSERT,
  OP_REMOVE,
  OP_REPLACE,
  OpLog,
} from "../src/oplog.ts";
import {
  descriptor,
  holdsOdd,
  homeSlot,
  oddSlot,
  placeSlot,
  readTable,
  sizeField,
  SLOT_ENTRY,
  SlotFormat,
  writeTable,
} from "../src/table.ts";
import { T_ODD } from "../src/layout.ts";

const SEED = 12345;
const MASK = 15;
const TABLES = [1024, 2048];

/** EntryLinks that records every call, in order. */
class RecordingLinks implements EntryLinks {
  calls: string[] = [];
  unlink(entry: number): void {
    this.calls.push(`unlink ${entry}`);
  }
  relink(entry: number): void {
    this.calls.push(`relink ${entry}`);
  }
  discard(entry: number): void {
    this.calls.push(`discard ${entry}`);
  }
}

/** A small random generator with a fixed seed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (Math.imul(state, 1103515245) + 12345) | 0;
    return (state >>> 8) / 2 ** 24;
  };
}

/** Views over a fresh buffer whose copies 0 and 1 have empty 16-slot tables. */
function tables(): MapViews {
  const views = new MapViews(new SharedArrayBuffer(4 * 4096));
  for (const copy of [0, 1]) {
    writeTable(views.i32, copy, { offset: TABLES[copy], mask: MASK, size: 0 });
  }
  return views;
}

const formats: [string, SlotFormat][] = [
  ["entry slots", new SlotFormat(0, 0, SEED)],
  ["inline, 1-word key and value", new SlotFormat(1, 1, SEED)],
  ["inline, 1-word key, 2-word value", new SlotFormat(1, 2, SEED)],
  ["inline, 2-word key and value", new SlotFormat(2, 2, SEED)],
];

/**
 * The slot image of key number `key` (0 is the odd key of inline formats)
 * with value or entry `payload`.
 */
function imageOf(format: SlotFormat, key: number, payload: number): number[] {
  const image = new Array<number>(format.stride).fill(0);
  if (format.keyWords === 0) {
    // Hashes collide on purpose, so that probe runs form.
    image[0] = hashInt32(key, SEED) & 0xf000000f;
    image[SLOT_ENTRY] = payload;
  } else if (format.keyWords === 1) {
    image[0] = key === 0 ? 0 : hashInt32(key, SEED);
    image[format.valueAt] = payload;
  } else {
    image[0] = key === 0 ? 0 : key;
    image[1] = key === 0 ? 0 : key * 7 + 1;
    image[format.valueAt] = payload;
    image[format.valueAt + 1] = -payload;
  }
  return image;
}

/** One log record: `[op, added image, dropped image]`. */
function record(
  format: SlotFormat,
  op: number,
  added: number[] | null,
  dropped: number[] | null,
): number[] {
  const none = new Array<number>(format.stride).fill(0);
  return [op, ...(added ?? none), ...(dropped ?? none)];
}

/** What a copy holds: its size, its odd-key fields and its slots, word for word. */
function state(views: MapViews, format: SlotFormat, copy: number) {
  const i32 = views.i32;
  const table = readTable(i32, copy);
  const odd = oddSlot(copy);
  return {
    mask: table.mask,
    size: table.size,
    odd: i32[descriptor(copy, T_ODD)],
    oddSlot: [...i32.subarray(odd, odd + 4)],
    slots: [
      ...i32.subarray(
        table.offset,
        table.offset + format.stride * (table.mask + 1),
      ),
    ],
  };
}

/** The occupied slot images of a copy, sorted: its content, whatever the layout. */
function content(views: MapViews, format: SlotFormat, copy: number): string[] {
  const i32 = views.i32;
  const table = readTable(i32, copy);
  const images: string[] = [];
  if (format.inline && holdsOdd(i32, copy)) {
    images.push(
      `odd ${[...i32.subarray(oddSlot(copy), oddSlot(copy) + format.stride)]}`,
    );
  }
  for (let slot = 0; slot <= table.mask; slot++) {
    const at = table.offset + format.stride * slot;
    if (!format.isFree(i32, at)) {
      images.push(`${[...i32.subarray(at, at + format.stride)]}`);
    }
  }
  return images.sort();
}

/** Whether a bounded probe from the home of `image`'s key finds exactly that image. */
function holds(
  views: MapViews,
  format: SlotFormat,
  copy: number,
  image: number[],
): boolean {
  const i32 = views.i32;
  if (format.isOdd(image, 0)) {
    return holdsOdd(i32, copy) &&
      image.every((word, i) => i32[oddSlot(copy) + i] === word);
  }
  const { offset, mask } = readTable(i32, copy);
  let slot = homeSlot(format.hashAt(new Int32Array(image), 0), mask);
  for (let left = mask; left >= 0; left--) {
    const at = offset + format.stride * slot;
    if (format.isFree(i32, at)) return false;
    if (image.every((word, i) => i32[at + i] === word)) return true;
    slot = (slot + 1) & mask;
  }
  return false;
}

/**
 * Random operations on up to 12 keys, each applied to copy 0 with
 * `absorb` (as a live write does) and logged. Returns the model of what
 * copy 0 holds after them, and the records in order.
 */
function randomOps(
  views: MapViews,
  format: SlotFormat,
  links: EntryLinks | null,
  log: OpLog,
  model: Map<number, number[]>,
  seed: number,
  steps: number,
): number[][] {
  const next = random(seed);
  const records: number[][] = [];
  for (let step = 0; step < steps; step++) {
    const key = Math.floor(next() * 12);
    const payload = 100 + 2 * (seed * 1000 + step);
    const present = model.get(key);
    let words: number[];
    if (present === undefined) {
      const added = imageOf(format, key, payload);
      words = record(format, OP_INSERT, added, null);
      log.log(OP_INSERT, added, 0, null, 0);
      model.set(key, added);
    } else if (next() < 0.5) {
      const added = imageOf(format, key, payload);
      words = record(format, OP_REPLACE, added, present);
      log.log(OP_REPLACE, added, 0, present, 0);
      model.set(key, added);
    } else {
      words = record(format, OP_REMOVE, null, present);
      log.log(OP_REMOVE, null, 0, present, 0);
      model.delete(key);
    }
    absorb(views.i32, format, links, 0, words, 0);
    records.push(words);
  }
  return records;
}

Deno.test("OP_INSERT, OP_REPLACE and OP_REMOVE are distinct non-zero codes", () => {
  assertEquals(new Set([OP_INSERT, OP_REPLACE, OP_REMOVE]).size, 3);
  for (const op of [OP_INSERT, OP_REPLACE, OP_REMOVE]) assert(op !== 0);
});

for (const [name, format] of formats) {
  Deno.test(`absorb() applies an insert, a replace and a remove to one copy (${name})`, () => {
    const views = tables();
    const i32 = views.i32;
    const links = format.inline ? null : new RecordingLinks();
    const first = imageOf(format, 5, 40);
    absorb(i32, format, links, 0, record(format, OP_INSERT, first, null), 0);
    assertEquals(i32[sizeField(0)], 1);
    assert(holds(views, format, 0, first));
    assertEquals(content(views, format, 0), [`${first}`]);
    // The other copy is untouched.
    assertEquals(content(views, format, 1), []);

    const second = imageOf(format, 5, 42);
    absorb(
      i32,
      format,
      links,
      0,
      record(format, OP_REPLACE, second, first),
      0,
    );
    assertEquals(i32[sizeField(0)], 1);
    assertEquals(content(views, format, 0), [`${second}`]);

    absorb(i32, format, links, 0, record(format, OP_REMOVE, null, second), 0);
    assertEquals(i32[sizeField(0)], 0);
    assertEquals(content(views, format, 0), []);
    assertEquals(
      state(views, format, 0).slots.every((word) => word === 0),
      true,
    );
    if (links !== null) assertEquals(links.calls, ["unlink 40", "unlink 42"]);
  });

  Deno.test(`absorb() reads the record at the offset it is given (${name})`, () => {
    const views = tables();
    const image = imageOf(format, 3, 60);
    const words = [7, 7, 7, ...record(format, OP_INSERT, image, null)];
    absorb(views.i32, format, null, 1, words, 3);
    assertEquals(views.i32[sizeField(1)], 1);
    assertEquals(content(views, format, 1), [`${image}`]);
  });

  Deno.test(`OpLog.replay() brings another copy to the same table, word for word (${name})`, () => {
    const views = tables();
    const links = format.inline ? null : new RecordingLinks();
    const log = new OpLog(format);
    assert(log.empty);
    const records = randomOps(views, format, links, log, new Map(), 3, 60);
    assertEquals(log.length, 60);
    assert(!log.empty);
    const live = links?.calls.slice() ?? [];
    if (links !== null) links.calls = [];
    log.replay(views, links, 1);
    const source = state(views, format, 0);
    const replayed = state(views, format, 1);
    assertEquals(replayed.size, source.size);
    assertEquals(replayed.odd, source.odd);
    assertEquals(replayed.oddSlot, source.oddSlot);
    assertEquals(replayed.slots, source.slots);
    if (links !== null) {
      // The replayed copy lets go of the same entries the live copy did.
      assertEquals(links.calls, live);
      assertEquals(
        links.calls.length,
        records.filter(([op]) => op !== OP_INSERT).length,
      );
    }
    // Replay does not consume the log.
    assertEquals(log.length, 60);
  });

  Deno.test(`OpLog.undo() takes every operation back out of the copy and clears the log (${name})`, () => {
    const views = tables();
    const links = new RecordingLinks();
    const used = format.inline ? null : links;
    // A copy that already holds some keys, placed without the log.
    const model = new Map<number, number[]>();
    for (const key of [0, 1, 2, 4, 8, 9]) {
      if (key === 0 && !format.inline) continue;
      const image = imageOf(format, key, 10 + key * 2);
      placeSlot(views.i32, format, 0, image, 0);
      views.i32[sizeField(0)]++;
      model.set(key, image);
    }
    const before = content(views, format, 0);
    const sizeBefore = views.i32[sizeField(0)];
    const oddBefore = state(views, format, 0).odd;
    const log = new OpLog(format);
    log.version = 9;
    const records = randomOps(views, format, used, log, model, 11, 40);
    assert(
      records.some(([op]) => op === OP_REMOVE) &&
        records.some(([op]) => op === OP_REPLACE),
    );
    assert(content(views, format, 0).join() !== before.join());
    links.calls = [];
    log.undo(views, used, 0);

    assertEquals(content(views, format, 0), before);
    assertEquals(views.i32[sizeField(0)], sizeBefore);
    assertEquals(state(views, format, 0).odd, oddBefore);
    for (const image of before) {
      if (image.startsWith("odd")) continue;
      assert(holds(views, format, 0, image.split(",").map(Number)), image);
    }
    assert(log.empty);
    assertEquals(log.length, 0);
    assertEquals(log.version, 0);

    if (used !== null) {
      // Newest first: an insert's entry is discarded; a replace relinks the
      // entry it dropped and discards the one it added; a remove relinks.
      const expected: string[] = [];
      const stride = format.stride;
      for (let i = records.length - 1; i >= 0; i--) {
        const words = records[i];
        const addedEntry = words[1 + SLOT_ENTRY];
        const droppedEntry = words[1 + stride + SLOT_ENTRY];
        if (words[0] === OP_INSERT) expected.push(`discard ${addedEntry}`);
        if (words[0] === OP_REPLACE) {
          expected.push(`relink ${droppedEntry}`, `discard ${addedEntry}`);
        }
        if (words[0] === OP_REMOVE) expected.push(`relink ${droppedEntry}`);
      }
      assertEquals(links.calls, expected);
    }
  });
}

Deno.test("OpLog.undo() restores a table of colliding keys word for word when nothing was removed", () => {
  const format = new SlotFormat(0, 0, SEED);
  const views = tables();
  // All three keys share one hash, so they form one probe run.
  const image = (entry: number) => [0x70000001, entry];
  placeSlot(views.i32, format, 0, image(20), 0);
  views.i32[sizeField(0)]++;
  const before = state(views, format, 0);
  const log = new OpLog(format);
  for (
    const [op, added, dropped] of [
      [OP_INSERT, image(22), null],
      [OP_INSERT, image(24), null],
      [OP_REPLACE, image(26), image(22)],
    ] as const
  ) {
    absorb(views.i32, format, null, 0, record(format, op, added, dropped), 0);
    log.log(op, added, 0, dropped, 0);
  }
  log.undo(views, null, 0);
  assertEquals(state(views, format, 0), before);
});

Deno.test("OpLog.forEachAdded() calls back with each entry an insert or replace created", () => {
  const format = new SlotFormat(0, 0, SEED);
  const log = new OpLog(format);
  log.log(OP_INSERT, [1, 100], 0, null, 0);
  log.log(OP_REPLACE, [1, 102], 0, [1, 100], 0);
  log.log(OP_REMOVE, null, 0, [1, 102], 0);
  // An image may be read from the middle of a larger array.
  log.log(OP_INSERT, [9, 9, 5, 104], 2, null, 0);
  const seen: number[] = [];
  log.forEachAdded((entry) => seen.push(entry));
  assertEquals(seen, [100, 102, 104]);
  assertEquals(log.length, 4);
});

Deno.test("OpLog.forEachAdded() calls nothing for inline slots, which have no entries", () => {
  const format = new SlotFormat(1, 1, SEED);
  const log = new OpLog(format);
  log.log(OP_INSERT, [hashInt32(1, SEED), 100], 0, null, 0);
  log.log(OP_REPLACE, [hashInt32(1, SEED), 7], 0, [hashInt32(1, SEED), 100], 0);
  let calls = 0;
  log.forEachAdded(() => calls++);
  assertEquals(calls, 0);
  assertEquals(log.length, 2);
});

Deno.test("OpLog.clear() empties the log and forgets its version", () => {
  const format = new SlotFormat(1, 2, SEED);
  const log = new OpLog(format);
  log.version = 4;
  for (let i = 1; i <= 5; i++) {
    log.log(OP_INSERT, imageOf(format, i, i), 0, null, 0);
  }
  assertEquals(log.length, 5);
  log.clear();
  assert(log.empty);
  assertEquals(log.length, 0);
  assertEquals(log.version, 0);
  // A cleared log replays nothing.
  const views = tables();
  log.replay(views, null, 0);
  assertEquals(views.i32[sizeField(0)], 0);
  // And takes new records from the start.
  log.log(OP_INSERT, imageOf(format, 2, 8), 0, null, 0);
  log.replay(views, null, 0);
  assertEquals(content(views, format, 0), [`${imageOf(format, 2, 8)}`]);
});

Deno.test("OpLog.replay() moves the odd key of an inline map through the descriptor", () => {
  const format = new SlotFormat(2, 2, SEED);
  const views = tables();
  const log = new OpLog(format);
  const odd = imageOf(format, 0, 50);
  assert(format.isOdd(odd, 0));
  log.log(OP_INSERT, odd, 0, null, 0);
  log.replay(views, null, 1);
  assert(holdsOdd(views.i32, 1));
  assertEquals([...views.i32.subarray(oddSlot(1), oddSlot(1) + 4)], odd);
  assertEquals(views.i32[sizeField(1)], 1);
  // No table slot was used.
  assertEquals(state(views, format, 1).slots.every((word) => word === 0), true);
  log.clear();
  log.log(OP_REMOVE, null, 0, odd, 0);
  log.replay(views, null, 1);
  assert(!holdsOdd(views.i32, 1));
  assertEquals(views.i32[sizeField(1)], 0);
});
