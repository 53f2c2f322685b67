/**
 * Micro benchmarks with string keys of 16 characters (`codecs.string`,
 * values `codecs.number`), 1k and 1M entries: reads, iteration and writes
 * against a `Map` holding the same entries. The groups and what each
 * iteration does are described in `map_suite.ts`.
 *
 * Reads come in two kinds of keys, named in the groups:
 * - `reused strings`: the very string objects the maps were filled with.
 *   V8 caches a string's hash in the string, so `Map` never hashes them
 *   again; the map hashes the text on every lookup.
 * - `fresh strings`: new string objects with the same text each iteration,
 *   parsed from JSON outside the timed part, as keys parsed from input are:
 *   `Map` hashes each one too.
 *
 * Run with `deno task bench` (`deno bench --allow-read=. bench/`).
 *
 * @module
 */

import { codecs, create } from "@x/flashmap";
import {
  fill,
  freshKeys,
  parsedStrings,
  range,
  registerIteration,
  registerReadGroups,
  registerWrites,
  reusedKeys,
  shuffled,
  SIZES,
  stringKey,
  WRITE_OPS,
} from "./map_suite.ts";

/** Flat strings (from JSON), as most keys are; template literals give cons strings. */
function keys(from: number, count: number): string[] {
  return parsedStrings(range(from, count).map(stringKey));
}

/** Key `i` maps to `i`; misses are keys `n … 2n-1`, of the same shape. */
const subjects = SIZES.map((size) => {
  const entries = size.entries;
  const hits = keys(0, entries);
  const misses = keys(entries, entries);
  const subject = fill(
    size,
    hits,
    create({ key: codecs.string, value: codecs.number, capacity: entries }),
  );
  /** Absent keys the write benchmarks add and take away again. */
  const writes = shuffled(keys(2 * entries, Math.max(entries, WRITE_OPS)));
  // Reused keys have been used before: V8 caches a string's hash in the
  // string, and the hits got theirs when they were inserted. Looking the
  // other keys up once does the same for them; otherwise `Map` would hash
  // each on its first use, in whichever benchmark that falls. (The count
  // is used, so that the optimizing compiler cannot drop the lookups.)
  const present = [...misses, ...writes].filter((key) => subject.map.has(key));
  if (present.length > 0) throw new Error(`${present[0]} is not absent`);
  return { subject, keys: { hits, misses }, writes };
});

for (const { subject, keys } of subjects) {
  registerReadGroups(
    subject,
    keys,
    (ordered) => reusedKeys("reused strings", ordered),
  );
}
for (const { subject, keys } of subjects) {
  registerReadGroups(subject, keys, freshKeys);
}
// Before the writes: the writes grow the 1k map's table for good.
for (const { subject } of subjects) registerIteration("strings", subject);
for (const { subject, writes } of subjects) {
  registerWrites("strings (reused)", subject, writes);
}
