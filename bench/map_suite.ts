/**
 * The groups the micro benchmarks share, generated from key sets: read
 * lookups, write batches and iteration, each against a plain `Map` holding
 * the same entries (the baseline of every group).
 *
 * Not a benchmark file itself: `map_int32_bench.ts` and
 * `map_string_bench.ts` register these groups for their key type. They are
 * separate files because `deno bench` runs each file in its own isolate:
 * a process that looks up int32 and string keys through the same functions
 * trains V8's inline caches on both, and every lookup would then pay for a
 * key type it does not use.
 *
 * Every iteration of a read benchmark does {@linkcode LOOKUPS} lookups and
 * every iteration of a write benchmark {@linkcode WRITE_OPS} operations,
 * whatever the lookups per guard or operations per publish, so the times
 * of all read groups (and of all write groups) can be compared directly.
 * That is also enough work for `deno bench` to time each iteration on its
 * own (over 10 µs), so explicit timers work, and a fixed number of read
 * iterations (`n`, by map size) bounds the time the 240 read benchmarks take.
 *
 * @module
 */

import type { ReadHandle, WriteHandle } from "@x/flashmap";

/** Lookups in one iteration of every read benchmark (the 1k key sets four times over). */
export const LOOKUPS = 4096;
/** Operations in one iteration of every write benchmark. */
export const WRITE_OPS = 4096;

/** A map size, and the iterations timed per read benchmark at that size. */
export interface Size {
  readonly label: string;
  readonly entries: number;
  /** Iterations timed per read benchmark: about 0.1 to 0.3 s in all. */
  readonly samples: number;
}

/** Map sizes: 2^10 entries fit in the caches, 2^20 do not. */
export const SIZES: readonly Size[] = [
  { label: "1k", entries: 1 << 10, samples: 1000 },
  { label: "1M", entries: 1 << 20, samples: 150 },
];

// ------------------------------------------------------------ keys

/** A deterministic shuffle (xorshift32), so runs read keys in the same order. */
export function shuffled<T>(items: readonly T[], seed = 0x9e3779b9): T[] {
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

/** `count` consecutive integers from `from`. */
export function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}

/** The 16-character string key of an index: `user:` and 11 base-36 digits. */
export function stringKey(index: number): string {
  return `user:${index.toString(36).padStart(11, "0")}`;
}

/**
 * New flat string objects with the same text, as when keys are parsed from
 * input. V8 has not hashed them yet (strings longer than 10 characters are
 * not internalized by `JSON.parse`), and a template literal would give cons
 * strings instead.
 */
export function parsedStrings(keys: readonly string[]): string[] {
  return JSON.parse(JSON.stringify(keys));
}

// ------------------------------------------------------------ sink

/** Results go here, so that the engine cannot drop the work. */
let sink = 0;

/** Keeps a result alive. */
export function keep(value: number): void {
  sink += value;
}

globalThis.addEventListener("unload", () => {
  if (Number.isNaN(sink)) console.log("unexpected NaN in the bench sink");
});

// ------------------------------------------------------------ read kernels
//
// One function per operation, not one generic loop taking the operation as
// a callback: a callback call site seeing several functions would not be
// inlined, and would slow down the map and the baseline alike.

/** `Map.get` on `keys[from, from + count)`; returns the sum of the values found. */
export function mapGet<K>(
  map: Map<K, number>,
  keys: readonly K[],
  from: number,
  count: number,
): number {
  let sum = 0;
  for (let i = from, end = from + count; i < end; i++) {
    const value = map.get(keys[i]);
    if (value !== undefined) sum += value;
  }
  return sum;
}

/** `Map.has` on `keys[from, from + count)`; returns the keys found. */
export function mapHas<K>(
  map: Map<K, number>,
  keys: readonly K[],
  from: number,
  count: number,
): number {
  let found = 0;
  for (let i = from, end = from + count; i < end; i++) {
    if (map.has(keys[i])) found++;
  }
  return found;
}

/**
 * `ReadGuard.get` on `keys[from, from + count)`, `perGuard` lookups in each
 * guard. Guards are released by `release()`, as a hot loop would: `using`
 * adds the cost of its disposal bookkeeping (see `map_bench.ts`).
 */
export function guardGet<K>(
  read: ReadHandle<K, number>,
  keys: readonly K[],
  from: number,
  count: number,
  perGuard: number,
): number {
  let sum = 0;
  for (let i = from, end = from + count; i < end;) {
    const guard = read.guard();
    for (const stop = i + perGuard; i < stop; i++) {
      const value = guard.get(keys[i]);
      if (value !== undefined) sum += value;
    }
    guard.release();
  }
  return sum;
}

/** `ReadGuard.has` on `keys[from, from + count)`, `perGuard` lookups in each guard. */
export function guardHas<K>(
  read: ReadHandle<K, number>,
  keys: readonly K[],
  from: number,
  count: number,
  perGuard: number,
): number {
  let found = 0;
  for (let i = from, end = from + count; i < end;) {
    const guard = read.guard();
    for (const stop = i + perGuard; i < stop; i++) {
      if (guard.has(keys[i])) found++;
    }
    guard.release();
  }
  return found;
}

/** One-shot `ReadHandle.get` (a guard's two atomics inside each call). */
export function handleGet<K>(
  read: ReadHandle<K, number>,
  keys: readonly K[],
  from: number,
  count: number,
): number {
  let sum = 0;
  for (let i = from, end = from + count; i < end; i++) {
    const value = read.get(keys[i]);
    if (value !== undefined) sum += value;
  }
  return sum;
}

/** One-shot `ReadHandle.has`. */
export function handleHas<K>(
  read: ReadHandle<K, number>,
  keys: readonly K[],
  from: number,
  count: number,
): number {
  let found = 0;
  for (let i = from, end = from + count; i < end; i++) {
    if (read.has(keys[i])) found++;
  }
  return found;
}

// ------------------------------------------------------------ key sources

/**
 * A key set laid out for iterations of {@linkcode LOOKUPS} lookups: as it
 * is when its size is a multiple of that, else repeated up to it.
 */
function forIterations<K>(keys: readonly K[]): readonly K[] {
  if (keys.length % LOOKUPS === 0) return keys;
  if (LOOKUPS % keys.length !== 0) {
    throw new RangeError(`key sets must divide or be a multiple of ${LOOKUPS}`);
  }
  return Array.from({ length: LOOKUPS }, (_, i) => keys[i % keys.length]);
}

/** Does {@linkcode LOOKUPS} lookups on `keys` from `from`; returns a result to keep. */
type Lookups<K> = (keys: readonly K[], from: number) => number;

/**
 * Where the keys of a read benchmark come from. `bench` turns a lookup
 * kernel into the benchmark's function; `first` gives the keys of one
 * iteration, to check that the map and the baseline agree.
 */
export interface KeySource<K> {
  /** Said in group names: `int32`, `reused strings` or `fresh strings`. */
  readonly kind: string;
  bench(lookups: Lookups<K>): (b: Deno.BenchContext) => void;
  first(): readonly K[];
}

/**
 * Looks up the given key objects themselves, cycling through them. For
 * strings these are the objects the maps were filled with (or, for misses,
 * objects looked up before): V8 keeps a string's hash in the string, so
 * after the first lookup `Map` never hashes them again. The map hashes the
 * text on every lookup.
 */
export function reusedKeys<K>(kind: string, set: readonly K[]): KeySource<K> {
  const keys = forIterations(set);
  return {
    kind,
    bench(lookups) {
      let at = 0;
      return () => {
        keep(lookups(keys, at));
        at = (at + LOOKUPS) % keys.length;
      };
    },
    first: () => keys.slice(0, LOOKUPS),
  };
}

/**
 * Looks up new, unhashed string objects each iteration: each iteration
 * parses the next {@linkcode LOOKUPS} keys from JSON outside the timed part
 * (`b.start()` / `b.end()`), so `Map` pays for hashing on every lookup, as
 * it does for keys parsed from input. Repeated keys of the 1k set are
 * separate objects too.
 */
export function freshKeys(set: readonly string[]): KeySource<string> {
  const keys = forIterations(set);
  const chunks: string[] = [];
  for (let i = 0; i < keys.length; i += LOOKUPS) {
    chunks.push(JSON.stringify(keys.slice(i, i + LOOKUPS)));
  }
  return {
    kind: "fresh strings",
    bench(lookups) {
      let at = 0;
      return (b) => {
        const fresh: string[] = JSON.parse(chunks[at]);
        at = (at + 1) % chunks.length;
        b.start();
        const result = lookups(fresh, 0);
        b.end();
        keep(result);
      };
    },
    first: () => JSON.parse(chunks[0]),
  };
}

// ------------------------------------------------------------ read groups

/** A map and a `Map` holding the same entries: key `i` of the set has value `i`. */
export interface Subject<K> {
  readonly size: Size;
  readonly map: Map<K, number>;
  readonly read: ReadHandle<K, number>;
  readonly write: WriteHandle<K, number>;
}

/** Fills a new map (from `create`) and a `Map` with `keys[i] → i`. */
export function fill<K>(
  size: Size,
  keys: readonly K[],
  [write, read]: [WriteHandle<K, number>, ReadHandle<K, number>],
): Subject<K> {
  const map = new Map<K, number>();
  {
    using guard = write.guard();
    keys.forEach((key, i) => {
      guard.insert(key, i);
      map.set(key, i);
    });
  }
  // Replays the fill onto the second copy now, not in the first write bench.
  write.synchronize();
  return { size, map, read, write };
}

/** The operations of the read groups: the baseline, then the map's. */
interface ReadOperation {
  readonly name: string;
  /** Which key set: the keys of the map, or keys it does not hold. */
  readonly keys: "hits" | "misses";
  readonly baseline: [string, typeof mapGet];
  readonly guard: [string, typeof guardGet];
  readonly oneShot: [string, typeof handleGet];
}

const READ_OPERATIONS: readonly ReadOperation[] = [
  {
    name: "get hit",
    keys: "hits",
    baseline: ["Map.get", mapGet],
    guard: ["ReadGuard.get", guardGet],
    oneShot: ["ReadHandle.get", handleGet],
  },
  {
    name: "get miss",
    keys: "misses",
    baseline: ["Map.get", mapGet],
    guard: ["ReadGuard.get", guardGet],
    oneShot: ["ReadHandle.get", handleGet],
  },
  {
    name: "has",
    keys: "hits",
    baseline: ["Map.has", mapHas],
    guard: ["ReadGuard.has", guardHas],
    oneShot: ["ReadHandle.has", handleHas],
  },
];

/**
 * Registers the read groups of one map, key kind and order: get hit, get
 * miss and has, with 64 lookups per guard and with one (where the one-shot
 * `ReadHandle` call joins the group). Group names read
 * `<kind> · <size> · <order> · <operation> · <lookups>/guard`.
 */
export function registerReads<K>(
  subject: Subject<K>,
  order: "insertion order" | "shuffled",
  sources: { hits: KeySource<K>; misses: KeySource<K> },
): void {
  const { map, read } = subject;
  for (const operation of READ_OPERATIONS) {
    const source = sources[operation.keys];
    const [baselineName, baseline] = operation.baseline;
    const [guardName, guarded] = operation.guard;
    const [oneShotName, oneShot] = operation.oneShot;
    checkAgreement(
      `${source.kind} ${subject.size.label} ${operation.name}`,
      source.first(),
      (keys) => baseline(map, keys, 0, LOOKUPS),
      (keys) => guarded(read, keys, 0, LOOKUPS, 64),
    );
    for (const perGuard of [64, 1]) {
      const group =
        `${source.kind} · ${subject.size.label} · ${order} · ${operation.name} · ${perGuard}/guard`;
      const n = subject.size.samples;
      Deno.bench({
        name: `${baselineName} ×${LOOKUPS}`,
        group,
        baseline: true,
        n,
        fn: source.bench((keys, from) => baseline(map, keys, from, LOOKUPS)),
      });
      Deno.bench({
        name: `${guardName} ×${LOOKUPS}, ${perGuard} per guard`,
        group,
        n,
        fn: source.bench((keys, from) =>
          guarded(read, keys, from, LOOKUPS, perGuard)
        ),
      });
      if (perGuard === 1) {
        Deno.bench({
          name: `${oneShotName} ×${LOOKUPS}, one-shot`,
          group,
          n,
          fn: source.bench((keys, from) => oneShot(read, keys, from, LOOKUPS)),
        });
      }
    }
  }
}

/**
 * Registers the read groups of one map and one kind of keys in both orders
 * of lookup: the order the keys were inserted in (which flatters `Map`: its
 * entries lie in memory in insertion order) and shuffled.
 */
export function registerReadGroups<K>(
  subject: Subject<K>,
  keys: { hits: readonly K[]; misses: readonly K[] },
  source: (keys: readonly K[]) => KeySource<K>,
): void {
  registerReads(subject, "insertion order", {
    hits: source(keys.hits),
    misses: source(keys.misses),
  });
  registerReads(subject, "shuffled", {
    hits: source(shuffled(keys.hits)),
    misses: source(shuffled(keys.misses)),
  });
}

/** Both sides of a group must do the same work: same values found. */
function checkAgreement<K>(
  what: string,
  keys: readonly K[],
  baseline: (keys: readonly K[]) => number,
  ours: (keys: readonly K[]) => number,
): void {
  const expected = baseline(keys);
  const actual = ours(keys);
  if (expected !== actual) {
    throw new Error(
      `${what}: the map gives ${actual}, the Map ${expected}`,
    );
  }
}

// ------------------------------------------------------------ write groups
//
// Each iteration does WRITE_OPS operations in guards of `batch` operations,
// publishing each, then calls `synchronize()`: every guard replays the one
// before it, and `synchronize()` replays the last, so the time includes
// every operation's replay onto the second copy. What an iteration adds it
// takes away again outside the timed part, so the map keeps its size.
//
// Each iteration takes the next WRITE_OPS keys of a pool of absent keys as
// large as the map. A deleted entry of a V8 `Map` stays in its bucket's
// chain until the table is rehashed: adding and deleting the same keys
// again and again would lengthen those keys' chains by one entry each
// iteration, and `Map.set` would slow down at every iteration.

/** `Map.set` of `keys[i] → i`. */
function mapSets<K>(map: Map<K, number>, keys: readonly K[]): void {
  for (let i = 0; i < keys.length; i++) map.set(keys[i], i);
}

/** `Map.delete` of every key. */
function mapDeletes<K>(map: Map<K, number>, keys: readonly K[]): void {
  for (let i = 0; i < keys.length; i++) map.delete(keys[i]);
}

/** What `replace` does to a `Map`: `set(key, update(get(key)))`. */
function mapReplaces<K>(map: Map<K, number>, keys: readonly K[]): void {
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    map.set(key, map.get(key)! + 1);
  }
}

/** `WriteGuard.insert` of `keys[i] → i`, `batch` per publish, then the last replay. */
function guardInserts<K>(
  write: WriteHandle<K, number>,
  keys: readonly K[],
  batch: number,
): void {
  for (let i = 0; i < keys.length;) {
    const guard = write.guard();
    for (const stop = i + batch; i < stop; i++) guard.insert(keys[i], i);
    guard.publish();
  }
  write.synchronize();
}

/** `WriteGuard.remove` of every key, `batch` per publish, then the last replay. */
function guardRemoves<K>(
  write: WriteHandle<K, number>,
  keys: readonly K[],
  batch: number,
): void {
  for (let i = 0; i < keys.length;) {
    const guard = write.guard();
    for (const stop = i + batch; i < stop; i++) guard.remove(keys[i]);
    guard.publish();
  }
  write.synchronize();
}

const increment = (value: number) => value + 1;

/** `WriteGuard.replace` of every key, `batch` per publish, then the last replay. */
function guardReplaces<K>(
  write: WriteHandle<K, number>,
  keys: readonly K[],
  batch: number,
): void {
  for (let i = 0; i < keys.length;) {
    const guard = write.guard();
    for (const stop = i + batch; i < stop; i++) {
      guard.replace(keys[i], increment);
    }
    guard.publish();
  }
  write.synchronize();
}

/** What one side of a write group does with an iteration's keys: untimed setup, timed work, untimed teardown. */
interface WriteSteps<K> {
  setup?(keys: readonly K[]): void;
  timed(keys: readonly K[]): void;
  teardown?(keys: readonly K[]): void;
}

/**
 * Registers the write groups of one map: insert, remove and replace of
 * {@linkcode WRITE_OPS} keys it does not hold (the next ones of `pool`), in
 * batches of 1, 64 and 4096 per publish, against `Map.set` / `Map.delete`
 * on the same keys. Group names read
 * `<kind> · <size> · <operation> · <batch>/publish`.
 */
export function registerWrites<K>(
  kind: string,
  subject: Subject<K>,
  pool: readonly K[],
): void {
  if (pool.length % WRITE_OPS !== 0) {
    throw new RangeError(`write key pools must be a multiple of ${WRITE_OPS}`);
  }
  const slices: (readonly K[])[] = [];
  for (let i = 0; i < pool.length; i += WRITE_OPS) {
    slices.push(pool.slice(i, i + WRITE_OPS));
  }
  // One cursor for all the map's write benchmarks: keys come back only
  // after the whole pool.
  let next = 0;
  const bench = (
    group: string,
    name: string,
    baseline: boolean,
    steps: WriteSteps<K>,
    before?: () => void,
  ) => {
    let started = false;
    Deno.bench({
      name,
      group,
      baseline,
      // No fixed `n` here: `Map` iterations take 50 to 500 µs, 100 of them
      // would be timed in a few milliseconds, and one garbage collection
      // pause would count for more than the writes. The default half second
      // of `deno bench` spreads pauses over many iterations.
      fn(b) {
        if (!started) {
          started = true;
          before?.();
        }
        const keys = slices[next];
        next = (next + 1) % slices.length;
        steps.setup?.(keys);
        b.start();
        steps.timed(keys);
        b.end();
        steps.teardown?.(keys);
      },
    });
  };
  // Each `Map` benchmark starts from a compact copy of the `Map`, made
  // before its first (warm-up) iteration, so every group's baseline starts
  // from the same state: the deleted entries one benchmark leaves in the
  // chains would slow down the next one's `Map.set`.
  let map = subject.map;
  const mapBench = (group: string, name: string, steps: WriteSteps<K>) =>
    bench(group, name, true, steps, () => map = new Map(subject.map));
  const { write } = subject;
  const all = WRITE_OPS;
  for (const batch of [1, 64, 4096]) {
    const group = (operation: string) =>
      `${kind} · ${subject.size.label} · ${operation} · ${batch}/publish`;
    const ops = `×${WRITE_OPS}, ${batch} per publish`;

    mapBench(group("insert"), `Map.set ×${WRITE_OPS}`, {
      timed: (keys) => mapSets(map, keys),
      teardown: (keys) => mapDeletes(map, keys),
    });
    bench(group("insert"), `WriteGuard.insert ${ops}`, false, {
      timed: (keys) => guardInserts(write, keys, batch),
      teardown: (keys) => guardRemoves(write, keys, all),
    });

    mapBench(group("remove"), `Map.delete ×${WRITE_OPS}`, {
      setup: (keys) => mapSets(map, keys),
      timed: (keys) => mapDeletes(map, keys),
    });
    bench(group("remove"), `WriteGuard.remove ${ops}`, false, {
      setup: (keys) => guardInserts(write, keys, all),
      timed: (keys) => guardRemoves(write, keys, batch),
    });

    mapBench(group("replace"), `Map.get + Map.set ×${WRITE_OPS}`, {
      setup: (keys) => mapSets(map, keys),
      timed: (keys) => mapReplaces(map, keys),
      teardown: (keys) => mapDeletes(map, keys),
    });
    bench(group("replace"), `WriteGuard.replace ${ops}`, false, {
      setup: (keys) => guardInserts(write, keys, all),
      timed: (keys) => guardReplaces(write, keys, batch),
      teardown: (keys) => guardRemoves(write, keys, all),
    });
  }
}

// ------------------------------------------------------------ iteration

/**
 * Registers a group iterating all entries of a map against iterating the
 * `Map`. A 1M-entry iteration takes tens to hundreds of milliseconds, so
 * large maps run a few iterations only (`deno bench` warms up with 20).
 */
export function registerIteration<K>(kind: string, subject: Subject<K>): void {
  const { map, read } = subject;
  const group = `${kind} · ${subject.size.label} · iterate all entries`;
  const few = map.size > 100_000 ? { warmup: 1, n: 4 } : {};
  Deno.bench({
    name: "for (const [key, value] of Map)",
    group,
    baseline: true,
    ...few,
    fn() {
      let sum = 0;
      for (const [key, value] of map) if (key !== undefined) sum += value;
      keep(sum);
    },
  });
  Deno.bench({
    name: "for (const [key, value] of ReadGuard)",
    group,
    ...few,
    fn() {
      let sum = 0;
      using guard = read.guard();
      for (const [key, value] of guard) if (key !== undefined) sum += value;
      keep(sum);
    },
  });
}
