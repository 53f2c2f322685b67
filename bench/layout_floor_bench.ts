/**
 * Floors: what the table layout costs apart from the code around each
 * lookup, and what a guard's two atomics cost around one lookup. Int32 keys
 * at 2^20 entries, shuffled, looked up through `ReadGuard.get` (64 per
 * guard, and one per guard), by a bare probe loop over the map's own table
 * with no guard at all (the layout's floor: the map is not written
 * meanwhile), in the readers-writer-lock table of the workload harness under
 * one read lock per 64 lookups, and by `Map.get` between the two
 * compare-and-exchanges a guard makes (the floor of one lookup per guard:
 * on x86 a locked instruction waits for the loads before it, so the
 * lookups' cache misses no longer overlap). The baseline is `Map.get`.
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
import { descriptor, homeSlot, SLOT_KEY } from "../src/table.ts";

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
const GROUP = "int32 · 1M · shuffled · get hit · floors";
/** The word the compare-and-exchanges of the atomics floor work on. */
const flag = new Int32Array(new SharedArrayBuffer(64));

// Copy 0's table; after `fill` both copies hold every key.
const buffer = read.share().buffer;
const words = new Int32Array(buffer, 0, Math.floor(buffer.byteLength / 8) * 2);
const table = words[descriptor(0, T_OFFSET)];
const mask = words[descriptor(0, T_MASK)];
const seed = words[H_SEED];

/** Slots of an int32 → int32 map: `[hashInt32(key), value]`, 0 when free. */
const STRIDE = 2;

function bareGet(key: number): number | undefined {
  const hash = hashInt32(key, seed);
  // The one key whose hash is 0 lives in the copy's descriptor.
  if (hash === 0) return read.get(key);
  for (let slot = homeSlot(hash, mask);; slot = (slot + 1) & mask) {
    const at = table + STRIDE * slot;
    const stored = words[at + SLOT_KEY];
    if (stored === hash) return words[at + 1];
    if (stored === 0) return undefined;
  }
}

// The bare probe reads the map's own table: check it finds what the map holds.
for (const key of [0, 1, ENTRIES >> 1, ENTRIES - 1, ENTRIES, -1]) {
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

Deno.bench({
  name: "ReadGuard.get ×4096, 1 per guard",
  group: GROUP,
  n: size.samples,
  fn() {
    const from = next();
    let sum = 0;
    for (let i = from; i < from + LOOKUPS; i++) {
      const guard = read.guard();
      sum += guard.get(keys[i])!;
      guard.release();
    }
    keep(sum);
  },
});

Deno.bench({
  name: "Map.get ×4096 between two compareExchange (a guard's atomics)",
  group: GROUP,
  n: size.samples,
  fn() {
    const from = next();
    let sum = 0;
    for (let i = from; i < from + LOOKUPS; i++) {
      Atomics.compareExchange(flag, 0, 0, 1);
      sum += map.get(keys[i])!;
      Atomics.compareExchange(flag, 0, 1, 0);
    }
    keep(sum);
  },
});
