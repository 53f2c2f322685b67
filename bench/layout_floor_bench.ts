/**
 * What the table layout costs, apart from the code around each lookup: int32
 * keys at 2^20 entries, shuffled, looked up through `ReadGuard.get` (64 per
 * guard), by a bare probe loop over the map's own table with no guard at all
 * (the layout's floor: the map is not written meanwhile), and in the
 * readers-writer-lock table of the workload harness under one read lock per
 * 64 lookups. The baseline is `Map.get`.
 *
 * Run with `deno task bench` (`deno bench --allow-read=. bench/`).
 *
 * @module
 */

import { codecs, create } from "@x/flashmap";
import { SharedTable } from "./workload/backends/rwlock_table.ts";
import { fill, keep, range, shuffled, SIZES } from "./map_suite.ts";
import { H_SEED, T_MASK, T_OFFSET } from "../src/layout.ts";
import { hashInt32 } from "../src/hash.ts";
import { descriptor, homeSlot } from "../src/table.ts";

const size = SIZES[SIZES.length - 1];
const ENTRIES = size.entries;
const { map, read } = fill(
  size,
  range(0, ENTRIES),
  create({ key: codecs.int32, value: codecs.int32, capacity: ENTRIES }),
);
const locked = SharedTable.create(ENTRIES);
for (let key = 0; key < ENTRIES; key++) locked.set(key, key);
/** Every key once per 256 iterations of 4096 lookups. */
const keys = Int32Array.from(shuffled(range(0, ENTRIES)));
const LOOKUPS = 4096;
const PER_GUARD = 64;
const GROUP = "int32 · 1M · shuffled · get hit · the layout's floor";

// Copy 0's table; after `fill` both copies hold every key.
const buffer = read.share().buffer;
const words = new Int32Array(buffer, 0, Math.floor(buffer.byteLength / 8) * 2);
const table = words[descriptor(0, T_OFFSET)];
const mask = words[descriptor(0, T_MASK)];
const seed = words[H_SEED];

function bareGet(key: number): number | undefined {
  const hash = hashInt32(key, seed);
  for (let slot = homeSlot(hash, mask);; slot = (slot + 1) & mask) {
    const at = table + 4 * slot;
    if (words[at + 1] === 0) return undefined;
    if (words[at] === hash) return words[at + 2];
  }
}

// The bare probe reads the map's own table: check it finds what the map holds.
for (const key of [0, ENTRIES >> 1, ENTRIES - 1]) {
  if (bareGet(key) !== map.get(key)) {
    throw new Error(`the bare probe of copy 0 misses key ${key}`);
  }
}

let at = 0;
function next(): number {
  const from = at;
  at = (at + LOOKUPS) % ENTRIES;
  return from;
}

Deno.bench({
  name: "Map.get ×4096",
  group: GROUP,
  baseline: true,
  n: size.samples,
  fn() {
    const from = next();
    let sum = 0;
    for (let i = from; i < from + LOOKUPS; i++) sum += map.get(keys[i])!;
    keep(sum);
  },
});

Deno.bench({
  name: "ReadGuard.get ×4096, 64 per guard",
  group: GROUP,
  n: size.samples,
  fn() {
    const from = next();
    let sum = 0;
    for (let i = from; i < from + LOOKUPS;) {
      const guard = read.guard();
      for (const stop = i + PER_GUARD; i < stop; i++) {
        sum += guard.get(keys[i])!;
      }
      guard.release();
    }
    keep(sum);
  },
});

Deno.bench({
  name: "bare probe of the map's table ×4096, no guard",
  group: GROUP,
  n: size.samples,
  fn() {
    const from = next();
    let sum = 0;
    for (let i = from; i < from + LOOKUPS; i++) sum += bareGet(keys[i])!;
    keep(sum);
  },
});

Deno.bench({
  name: "rwlock table get ×4096, 64 per read lock",
  group: GROUP,
  n: size.samples,
  fn() {
    const from = next();
    let sum = 0;
    for (let i = from; i < from + LOOKUPS;) {
      locked.readLock();
      for (const stop = i + PER_GUARD; i < stop; i++) {
        sum += locked.get(keys[i]);
      }
      locked.readUnlock();
    }
    keep(sum);
  },
});
