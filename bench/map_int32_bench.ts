/**
 * Micro benchmarks with int32 keys (`codecs.int32`, values `codecs.number`),
 * 1k and 1M entries: reads, iteration and writes against a `Map` holding the
 * same entries. The groups and what each iteration does are described in
 * `map_suite.ts`; string keys are in `map_string_bench.ts`, guards alone
 * and attaching workers in `map_bench.ts`.
 *
 * Run with `deno task bench` (`deno bench --allow-read=. bench/`).
 *
 * @module
 */

import { codecs, create } from "@x/flashmap";
import {
  fill,
  range,
  registerIteration,
  registerReadGroups,
  registerWrites,
  reusedKeys,
  shuffled,
  SIZES,
  WRITE_OPS,
} from "./map_suite.ts";

/** Keys `0 … n-1` map to their index; misses are `n … 2n-1`. */
const subjects = SIZES.map((size) => {
  const entries = size.entries;
  const hits = range(0, entries);
  return {
    subject: fill(
      size,
      hits,
      create({ key: codecs.int32, value: codecs.number, capacity: entries }),
    ),
    keys: { hits, misses: range(entries, entries) },
    /** Absent keys the write benchmarks add and take away again. */
    writes: shuffled(range(2 * entries, Math.max(entries, WRITE_OPS))),
  };
});

for (const { subject, keys } of subjects) {
  registerReadGroups(subject, keys, (ordered) => reusedKeys("int32", ordered));
}
// Before the writes: the writes grow the 1k map's table for good.
for (const { subject } of subjects) registerIteration("int32", subject);
for (const { subject, writes } of subjects) {
  registerWrites("int32", subject, writes);
}
