/**
 * Micro benchmarks of one thread: the map's read and write paths against a
 * plain `Map` (the baseline of each group, and the ceiling for one reader:
 * a `Map` cannot be shared between workers).
 *
 * Run with `deno task bench` (`deno bench --allow-read=. bench/`). Each
 * benchmark iteration does the work its name says (for example 64 lookups),
 * so compare times within a group, not across groups.
 *
 * @module
 */

import { codecs, create } from "@x/flashmap";

const ENTRIES = 100_000;
const LOOKUPS_PER_GUARD = 64;
const BATCH = 4096;
/** Keys the write benchmarks cycle through: after 16 batches, every insert overwrites. */
const WRITE_KEYS = 16 * BATCH;

/** A deterministic shuffle (xorshift32), so runs read keys in the same order. */
function shuffled<T>(items: T[], seed = 0x9e3779b9): T[] {
  const out = items.slice();
  let state = seed | 0;
  for (let i = out.length - 1; i > 0; i--) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const j = (state >>> 0) % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Results go here, so that the engine cannot drop the lookups. */
let sink = 0;

// ------------------------------------------------------------ int32 keys

const [intWrite, intRead] = create({
  key: codecs.int32,
  value: codecs.number,
  capacity: ENTRIES,
});
const intMap = new Map<number, number>();
{
  using guard = intWrite.guard();
  for (let key = 0; key < ENTRIES; key++) {
    guard.insert(key, key * 0.5);
    intMap.set(key, key * 0.5);
  }
}
const intOrder = Int32Array.from(
  shuffled(Array.from({ length: ENTRIES }, (_, i) => i)),
);
let intCursor = 0;

Deno.bench({
  name: "Map.get, 64 hits",
  group: "int32 keys, 100k entries: 64 lookups",
  baseline: true,
  fn() {
    let sum = 0;
    let at = intCursor;
    for (let i = 0; i < LOOKUPS_PER_GUARD; i++) {
      sum += intMap.get(intOrder[at])!;
      at = at + 1 === ENTRIES ? 0 : at + 1;
    }
    intCursor = at;
    sink += sum;
  },
});

Deno.bench({
  name: "ReadGuard.get, 64 hits in one guard",
  group: "int32 keys, 100k entries: 64 lookups",
  fn() {
    using view = intRead.guard();
    let sum = 0;
    let at = intCursor;
    for (let i = 0; i < LOOKUPS_PER_GUARD; i++) {
      sum += view.get(intOrder[at])!;
      at = at + 1 === ENTRIES ? 0 : at + 1;
    }
    intCursor = at;
    sink += sum;
  },
});

Deno.bench({
  name: "Map.get, 1 hit",
  group: "int32 keys, 100k entries: one-shot lookup",
  baseline: true,
  fn() {
    sink += intMap.get(intOrder[intCursor])!;
    intCursor = intCursor + 1 === ENTRIES ? 0 : intCursor + 1;
  },
});

Deno.bench({
  name: "ReadHandle.get, 1 hit (guard included)",
  group: "int32 keys, 100k entries: one-shot lookup",
  fn() {
    sink += intRead.get(intOrder[intCursor])!;
    intCursor = intCursor + 1 === ENTRIES ? 0 : intCursor + 1;
  },
});

// ------------------------------------------------------------ string keys

/** ~16-character keys, built once: both maps are given the same string objects. */
const stringKeys = Array.from(
  { length: ENTRIES },
  (_, i) => `user:${i.toString(36).padStart(11, "0")}`,
);
const [stringWrite, stringRead] = create({
  key: codecs.string,
  value: codecs.number,
  capacity: ENTRIES,
});
const stringMap = new Map<string, number>();
{
  using guard = stringWrite.guard();
  stringKeys.forEach((key, i) => {
    guard.insert(key, i);
    stringMap.set(key, i);
  });
}
const stringOrder = shuffled(stringKeys);
let stringCursor = 0;

Deno.bench({
  name: "Map.get, 64 hits",
  group: "string keys (16 chars), 100k entries: 64 lookups",
  baseline: true,
  fn() {
    let sum = 0;
    let at = stringCursor;
    for (let i = 0; i < LOOKUPS_PER_GUARD; i++) {
      sum += stringMap.get(stringOrder[at])!;
      at = at + 1 === ENTRIES ? 0 : at + 1;
    }
    stringCursor = at;
    sink += sum;
  },
});

Deno.bench({
  name: "ReadGuard.get, 64 hits in one guard",
  group: "string keys (16 chars), 100k entries: 64 lookups",
  fn() {
    using view = stringRead.guard();
    let sum = 0;
    let at = stringCursor;
    for (let i = 0; i < LOOKUPS_PER_GUARD; i++) {
      sum += view.get(stringOrder[at])!;
      at = at + 1 === ENTRIES ? 0 : at + 1;
    }
    stringCursor = at;
    sink += sum;
  },
});

// ------------------------------------------------------------ guards

/** The floor of a guard: the same two atomics on a word of shared memory. */
const words = new Int32Array(new SharedArrayBuffer(128));

Deno.bench({
  name: "Atomics.add + Atomics.sub",
  group: "read guard alone",
  baseline: true,
  fn() {
    Atomics.add(words, 0, 1);
    sink += Atomics.sub(words, 0, 1);
  },
});

Deno.bench({
  name: "ReadHandle.guard() + release()",
  group: "read guard alone",
  fn() {
    intRead.guard().release();
  },
});

// ------------------------------------------------------------ writes

const [batchWrite] = create({
  key: codecs.int32,
  value: codecs.number,
  capacity: WRITE_KEYS,
});
const batchMap = new Map<number, number>();
let writeBase = 0;
let writeValue = 0;

Deno.bench({
  name: "Map.set, 4096 keys",
  group: "writes: batches of 4096 int32 keys",
  baseline: true,
  fn() {
    const base = writeBase;
    writeValue++;
    for (let i = 0; i < BATCH; i++) batchMap.set(base + i, writeValue);
    writeBase = (base + BATCH) % WRITE_KEYS;
  },
});

Deno.bench({
  name: "write guard (replays the last batch) + 4096 inserts + publish",
  group: "writes: batches of 4096 int32 keys",
  fn() {
    const base = writeBase;
    writeValue++;
    using guard = batchWrite.guard();
    for (let i = 0; i < BATCH; i++) guard.insert(base + i, writeValue);
    writeBase = (base + BATCH) % WRITE_KEYS;
  },
});

globalThis.addEventListener("unload", () => {
  if (Number.isNaN(sink)) console.log("unexpected NaN");
});
