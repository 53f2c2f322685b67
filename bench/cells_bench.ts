/**
 * Micro benchmarks of atomic cells (`codecs.atomicInt32` values): `add` and
 * `get` through a read guard, 64 operations per guard, against the same
 * `Atomics` call on a plain shared `Int32Array` at a known index (the floor:
 * what the cell update itself costs, without finding the key).
 *
 * Every iteration of every benchmark does {@linkcode OPS} operations, so
 * the ratios `deno bench` prints are ratios per operation. Keys come from a
 * precomputed shuffled array, {@linkcode OPS} at a time from a rotating
 * cursor, and the baselines read their indexes the same way.
 *
 * Run with `deno task bench`, or this file alone:
 * `deno bench --config bench/deno.json --allow-read=. bench/cells_bench.ts`.
 *
 * @module
 */

import { type Atomic, codecs, create, type ReadHandle } from "@x/flashmap";
import { range, shuffled } from "./map_suite.ts";

/** Operations per iteration, and per guard. */
const OPS = 64;
/** Entries of the maps, and cells of the baseline array. */
const ENTRIES = 1024;
/** The small map's entries: few enough that all of them stay in L1. */
const FEW = 64;

const order = shuffled(range(0, ENTRIES));
/** Int32 keys, and the baseline's indexes: the same permutation. */
const intKeys = Int32Array.from(order);
/**
 * String keys as a request handler would have them: flat strings, parsed
 * rather than built by a template literal (which gives cons strings).
 */
const stringKeys: string[] = JSON.parse(
  JSON.stringify(order.map((i) => `hits:/route/${i}`)),
);
const fewKeys = Int32Array.from(
  shuffled(Array.from({ length: ENTRIES }, (_, i) => i % FEW)),
);

/** Results go here, so that the engine cannot drop the work. */
let sink = 0;
globalThis.addEventListener("unload", () => {
  if (Number.isNaN(sink)) console.log("unexpected NaN in the bench sink");
});

/** The next window of `OPS` keys: advances by `OPS`, wrapping at `ENTRIES`. */
let cursor = 0;
function next(): number {
  const from = cursor;
  cursor = (cursor + OPS) & (ENTRIES - 1);
  return from;
}

// ------------------------------------------------------------ subjects

const plain = new Int32Array(new SharedArrayBuffer(4 * ENTRIES));

function intMap(keys: number): ReadHandle<number, Atomic<number>> {
  const [write, read] = create({
    key: codecs.int32,
    value: codecs.atomicInt32,
    capacity: keys,
  });
  write.update((guard) => {
    for (let i = 0; i < keys; i++) guard.insert(i, 0);
  });
  return read;
}

const ints = intMap(ENTRIES);
const few = intMap(FEW);

const [stringWrite, strings] = create({
  key: codecs.string,
  value: codecs.atomicInt32,
  capacity: ENTRIES,
});
stringWrite.update((guard) => {
  for (let i = 0; i < ENTRIES; i++) guard.insert(`hits:/route/${i}`, 0);
});

// ------------------------------------------------------------ add
//
// One kernel per candidate rather than one loop taking a callback: a call
// site seeing several functions would not be inlined, and would slow the
// baseline and the map alike.

const ADD = `cells: add, ${OPS} per guard, int32 keys`;

Deno.bench({
  name: `Atomics.add on an Int32Array, ${ENTRIES} cells`,
  group: ADD,
  baseline: true,
  fn() {
    const from = next();
    let sum = 0;
    for (let i = from, end = from + OPS; i < end; i++) {
      sum += Atomics.add(plain, intKeys[i], 1);
    }
    sink += sum;
  },
});

Deno.bench({
  name: `view.add, int32 keys, ${ENTRIES} entries`,
  group: ADD,
  fn() {
    const from = next();
    let sum = 0;
    using view = ints.guard();
    for (let i = from, end = from + OPS; i < end; i++) {
      sum += view.add(intKeys[i], 1)!;
    }
    sink += sum;
  },
});

Deno.bench({
  name: `view.add, int32 keys, ${FEW} entries`,
  group: ADD,
  fn() {
    const from = next();
    let sum = 0;
    using view = few.guard();
    for (let i = from, end = from + OPS; i < end; i++) {
      sum += view.add(fewKeys[i], 1)!;
    }
    sink += sum;
  },
});

Deno.bench({
  name: `read.add (a guard per add), int32 keys, ${ENTRIES} entries`,
  group: ADD,
  fn() {
    const from = next();
    let sum = 0;
    for (let i = from, end = from + OPS; i < end; i++) {
      sum += ints.add(intKeys[i], 1)!;
    }
    sink += sum;
  },
});

Deno.bench({
  name: `view.add, string keys, ${ENTRIES} entries`,
  group: ADD,
  fn() {
    const from = next();
    let sum = 0;
    using view = strings.guard();
    for (let i = from, end = from + OPS; i < end; i++) {
      sum += view.add(stringKeys[i], 1)!;
    }
    sink += sum;
  },
});

// ------------------------------------------------------------ get

const GET = `cells: get (load), ${OPS} per guard, int32 keys`;

Deno.bench({
  name: `Atomics.load on an Int32Array, ${ENTRIES} cells`,
  group: GET,
  baseline: true,
  fn() {
    const from = next();
    let sum = 0;
    for (let i = from, end = from + OPS; i < end; i++) {
      sum += Atomics.load(plain, intKeys[i]);
    }
    sink += sum;
  },
});

Deno.bench({
  name: `view.get, int32 keys, ${ENTRIES} entries`,
  group: GET,
  fn() {
    const from = next();
    let sum = 0;
    using view = ints.guard();
    for (let i = from, end = from + OPS; i < end; i++) {
      sum += view.get(intKeys[i])!;
    }
    sink += sum;
  },
});

Deno.bench({
  name: `view.load, int32 keys, ${ENTRIES} entries`,
  group: GET,
  fn() {
    const from = next();
    let sum = 0;
    using view = ints.guard();
    for (let i = from, end = from + OPS; i < end; i++) {
      sum += view.load(intKeys[i])!;
    }
    sink += sum;
  },
});
