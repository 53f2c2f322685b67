/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * The worker of `read_path.ts`. Each worker is a fresh isolate, so the
 * inline caches of the map's code see only the key kinds that this worker
 * uses:
 *
 * - `group int32`: makes an int32 → int32 map and a `Map` with the same
 *   entries, and times the int32 cases;
 * - `group strings`: the same with 20-character string keys, and times the
 *   fresh and reused string cases, each through a read handle of its own
 *   (so each has a string cache of its own, as a thread reading that way
 *   would);
 * - `mega-setup`, then `mega-round` per round: attaches to maps the main
 *   thread made (an int32 → int32 one, and maybe five of other key kinds),
 *   reads every one of them in a warm-up, then times the int32 case with 64
 *   lookups per guard against `Map.get`, one round per request.
 *
 * Every lookup kernel is its own function, written out per key kind, so
 * that this file's call sites (`guard.get(...)`, `keys[i]`) stay
 * monomorphic: only the map's own code is shared between kinds.
 *
 * @module
 */

import { attach, codecs, create, type ReadHandle } from "@x/flashmap";
import {
  bigintKeys,
  booleanKeys,
  bytesKeys,
  type CaseTimes,
  type Config,
  fill,
  int32Keys,
  type KeyKind,
  KEYS,
  numberKeys,
  PER_GUARD,
  type Reply,
  type Request,
  type RoundTimes,
  shuffledOrder,
  stringKeys,
  uniformOrder,
  zipfOrder,
} from "./read_path_data.ts";

/** Sums of every timed run: sent back, so that no loop is dead code. */
let sink = 0;

function reply(message: Reply): void {
  self.postMessage(message);
}

// ------------------------------------------------------------ int32 kernels

/** `ReadGuard.get`, {@linkcode PER_GUARD} per guard; the sum of the values. */
function flashGuardInt32(
  read: ReadHandle<number, number>,
  keys: Int32Array,
): number {
  let sum = 0;
  for (let i = 0, n = keys.length; i < n;) {
    const guard = read.guard();
    for (const stop = Math.min(i + PER_GUARD, n); i < stop; i++) {
      const value = guard.get(keys[i]);
      if (value !== undefined) sum += value;
    }
    guard.release();
  }
  return sum;
}

/** `ReadGuard.get`, one per guard. */
function flashGuardOneInt32(
  read: ReadHandle<number, number>,
  keys: Int32Array,
): number {
  let sum = 0;
  for (let i = 0, n = keys.length; i < n; i++) {
    const guard = read.guard();
    const value = guard.get(keys[i]);
    if (value !== undefined) sum += value;
    guard.release();
  }
  return sum;
}

/** One-shot `ReadHandle.get`. */
function flashHandleInt32(
  read: ReadHandle<number, number>,
  keys: Int32Array,
): number {
  let sum = 0;
  for (let i = 0, n = keys.length; i < n; i++) {
    const value = read.get(keys[i]);
    if (value !== undefined) sum += value;
  }
  return sum;
}

/** `ReadGuard.has`, {@linkcode PER_GUARD} per guard (warm-up only). */
function flashHasInt32(
  read: ReadHandle<number, number>,
  keys: Int32Array,
): number {
  let found = 0;
  for (let i = 0, n = keys.length; i < n;) {
    const guard = read.guard();
    for (const stop = Math.min(i + PER_GUARD, n); i < stop; i++) {
      if (guard.has(keys[i])) found++;
    }
    guard.release();
  }
  return found;
}

/** The baseline: `Map.get` on the same keys. */
function mapGetInt32(map: Map<number, number>, keys: Int32Array): number {
  let sum = 0;
  for (let i = 0, n = keys.length; i < n; i++) {
    const value = map.get(keys[i]);
    if (value !== undefined) sum += value;
  }
  return sum;
}

// ------------------------------------------------------------ string kernels

/** `ReadGuard.get`, {@linkcode PER_GUARD} per guard. */
function flashGuardString(
  read: ReadHandle<string, number>,
  keys: readonly string[],
): number {
  let sum = 0;
  for (let i = 0, n = keys.length; i < n;) {
    const guard = read.guard();
    for (const stop = Math.min(i + PER_GUARD, n); i < stop; i++) {
      const value = guard.get(keys[i]);
      if (value !== undefined) sum += value;
    }
    guard.release();
  }
  return sum;
}

/** `ReadGuard.get`, one per guard. */
function flashGuardOneString(
  read: ReadHandle<string, number>,
  keys: readonly string[],
): number {
  let sum = 0;
  for (let i = 0, n = keys.length; i < n; i++) {
    const guard = read.guard();
    const value = guard.get(keys[i]);
    if (value !== undefined) sum += value;
    guard.release();
  }
  return sum;
}

/** The baseline: `Map.get` on the same keys (or on copies of them). */
function mapGetString(
  map: Map<string, number>,
  keys: readonly string[],
): number {
  let sum = 0;
  for (let i = 0, n = keys.length; i < n; i++) {
    const value = map.get(keys[i]);
    if (value !== undefined) sum += value;
  }
  return sum;
}

// ------------------------------------------------------------ warm-up kernels
//
// For the maps of the other key kinds in the six-kind workers: guarded gets
// and has, and one-shot gets, each kind with its own functions. They count
// hits, so that any value codec will do.

function warmString(read: ReadHandle<string, unknown>, keys: string[]) {
  let found = 0;
  for (let i = 0, n = keys.length; i < n;) {
    const guard = read.guard();
    for (const stop = Math.min(i + PER_GUARD, n); i < stop; i++) {
      if (guard.get(keys[i]) !== undefined) found++;
      if (guard.has(keys[i])) found++;
    }
    guard.release();
  }
  for (let i = 0; i < keys.length; i += 16) {
    if (read.get(keys[i]) !== undefined) found++;
  }
  return found;
}

function warmNumber(read: ReadHandle<number, unknown>, keys: number[]) {
  let found = 0;
  for (let i = 0, n = keys.length; i < n;) {
    const guard = read.guard();
    for (const stop = Math.min(i + PER_GUARD, n); i < stop; i++) {
      if (guard.get(keys[i]) !== undefined) found++;
      if (guard.has(keys[i])) found++;
    }
    guard.release();
  }
  for (let i = 0; i < keys.length; i += 16) {
    if (read.get(keys[i]) !== undefined) found++;
  }
  return found;
}

function warmBigint(read: ReadHandle<bigint, unknown>, keys: bigint[]) {
  let found = 0;
  for (let i = 0, n = keys.length; i < n;) {
    const guard = read.guard();
    for (const stop = Math.min(i + PER_GUARD, n); i < stop; i++) {
      if (guard.get(keys[i]) !== undefined) found++;
      if (guard.has(keys[i])) found++;
    }
    guard.release();
  }
  for (let i = 0; i < keys.length; i += 16) {
    if (read.get(keys[i]) !== undefined) found++;
  }
  return found;
}

function warmBoolean(read: ReadHandle<boolean, unknown>, keys: boolean[]) {
  let found = 0;
  for (let i = 0, n = keys.length; i < n;) {
    const guard = read.guard();
    for (const stop = Math.min(i + PER_GUARD, n); i < stop; i++) {
      if (guard.get(keys[i]) !== undefined) found++;
      if (guard.has(keys[i])) found++;
    }
    guard.release();
  }
  for (let i = 0; i < keys.length; i += 16) {
    if (read.get(keys[i]) !== undefined) found++;
  }
  return found;
}

function warmBytes(read: ReadHandle<Uint8Array, unknown>, keys: Uint8Array[]) {
  let found = 0;
  for (let i = 0, n = keys.length; i < n;) {
    const guard = read.guard();
    for (const stop = Math.min(i + PER_GUARD, n); i < stop; i++) {
      if (guard.get(keys[i]) !== undefined) found++;
      if (guard.has(keys[i])) found++;
    }
    guard.release();
  }
  for (let i = 0; i < keys.length; i += 16) {
    if (read.get(keys[i]) !== undefined) found++;
  }
  return found;
}

/** Lookups of the warm-up kernels per call: a slice of the keys, shuffled. */
const WARM_LOOKUPS = 4096;

/** Reads one map of another key kind: `WARM_LOOKUPS` keys, from `pass`. */
type Warm = (pass: number) => number;

function pick<T>(keys: ArrayLike<T>, count: number, seed: number): T[] {
  const order = shuffledOrder(keys.length, count, seed);
  return Array.from(order, (i) => keys[i]);
}

/** The warm-up function of one map of another kind. */
function warmer(kind: KeyKind, token: unknown): {
  read: ReadHandle<unknown, unknown>;
  warm: Warm;
} {
  const read = attach(token as Parameters<typeof attach>[0]);
  // Several slices, so that the warm-up does not read the same few keys.
  const slices = <T>(keys: ArrayLike<T>) =>
    Array.from({ length: 8 }, (_, s) => pick(keys, WARM_LOOKUPS, 100 + s));
  switch (kind) {
    case "string": {
      const sets = slices(stringKeys(KEYS));
      const typed = read as ReadHandle<string, unknown>;
      return { read, warm: (pass) => warmString(typed, sets[pass % 8]) };
    }
    case "number": {
      const sets = slices(numberKeys(KEYS));
      const typed = read as ReadHandle<number, unknown>;
      return { read, warm: (pass) => warmNumber(typed, sets[pass % 8]) };
    }
    case "bigint": {
      const sets = slices(bigintKeys(KEYS));
      const typed = read as ReadHandle<bigint, unknown>;
      return { read, warm: (pass) => warmBigint(typed, sets[pass % 8]) };
    }
    case "boolean": {
      const sets = slices(booleanKeys());
      const typed = read as ReadHandle<boolean, unknown>;
      return { read, warm: (pass) => warmBoolean(typed, sets[pass % 8]) };
    }
    case "bytes": {
      const sets = slices(bytesKeys(KEYS));
      const typed = read as ReadHandle<Uint8Array, unknown>;
      return { read, warm: (pass) => warmBytes(typed, sets[pass % 8]) };
    }
    case "int32":
      throw new TypeError("the int32 map is not warmed as another kind");
  }
}

// ------------------------------------------------------------ timing

/** Times `run`; returns ns per lookup and keeps the result. */
function time(run: () => number, lookups: number): [number, number] {
  const start = performance.now();
  const result = run();
  const ms = performance.now() - start;
  sink += result;
  return [ms * 1e6 / lookups, result];
}

/** Times a case and its baseline back to back, in the order given. */
function pair(
  name: string,
  flash: () => number,
  map: () => number,
  lookups: number,
  mapFirst: boolean,
): RoundTimes {
  let flashNs: number, flashSum: number, mapNs: number, mapSum: number;
  if (mapFirst) {
    [mapNs, mapSum] = time(map, lookups);
    [flashNs, flashSum] = time(flash, lookups);
  } else {
    [flashNs, flashSum] = time(flash, lookups);
    [mapNs, mapSum] = time(map, lookups);
  }
  if (flashSum !== mapSum) {
    throw new Error(
      `${name}: flashmap found ${flashSum}, Map ${mapSum} (sums of the values)`,
    );
  }
  return { flashNs, mapNs };
}

/** A case: one round of it, with the baseline first or second. */
interface Case {
  readonly name: string;
  round(mapFirst: boolean): RoundTimes;
}

/**
 * Runs `warmUpRounds` rounds, then `rounds` timed ones; in each round every
 * case in turn, which side goes first alternating from round to round.
 */
function runRounds(cases: readonly Case[], config: Config): CaseTimes[] {
  const results = cases.map((c) => ({
    name: c.name,
    rounds: [] as RoundTimes[],
  }));
  for (let round = 0; round < config.warmUpRounds + config.rounds; round++) {
    cases.forEach((c, at) => {
      const times = c.round((round + at) % 2 === 1);
      if (round >= config.warmUpRounds) results[at].rounds.push(times);
    });
  }
  return results;
}

// ------------------------------------------------------------ groups

function int32Group(config: Config): Case[] {
  const keys = int32Keys(KEYS);
  const [write, read] = create({
    key: codecs.int32,
    value: codecs.int32,
    capacity: config.capacity,
  });
  fill(write, keys, (i) => i);
  const map = new Map<number, number>();
  keys.forEach((key, i) => map.set(key, i));
  const lookups = Int32Array.from(
    shuffledOrder(KEYS, config.lookups),
    (i) => keys[i],
  );
  const n = lookups.length;
  const baseline = () => mapGetInt32(map, lookups);
  return [
    {
      name: "int32 get, 64 per guard",
      round: (mapFirst) =>
        pair(
          "int32 64/guard",
          () => flashGuardInt32(read, lookups),
          baseline,
          n,
          mapFirst,
        ),
    },
    {
      name: "int32 get, 1 per guard",
      round: (mapFirst) =>
        pair(
          "int32 1/guard",
          () => flashGuardOneInt32(read, lookups),
          baseline,
          n,
          mapFirst,
        ),
    },
    {
      name: "one-shot read.get, int32",
      round: (mapFirst) =>
        pair(
          "int32 one-shot",
          () => flashHandleInt32(read, lookups),
          baseline,
          n,
          mapFirst,
        ),
    },
  ];
}

/** Keys per batch of fresh strings: parsed, then looked up at once. */
const FRESH_CHUNK = 8192;

/**
 * A fresh-string case: each round parses new copies of the keys from JSON
 * (flat strings that V8 has not hashed), one set for the map and one for
 * `Map`, {@linkcode FRESH_CHUNK} at a time, outside the timed part, and
 * looks each copy up once. Small batches keep the young generation small,
 * so that the scavenges the map's own allocations cause do not have to
 * copy a large set of live keys.
 */
function freshCase(
  name: string,
  chunks: readonly string[],
  flash: (keys: string[]) => number,
  map: (keys: string[]) => number,
): Case {
  return {
    name,
    round(mapFirst) {
      let flashMs = 0;
      let mapMs = 0;
      let count = 0;
      chunks.forEach((text, at) => {
        const forFlash: string[] = JSON.parse(text);
        const forMap: string[] = JSON.parse(text);
        const { flashNs, mapNs } = pair(
          name,
          () => flash(forFlash),
          () => map(forMap),
          1e6,
          (at % 2 === 1) !== mapFirst,
        );
        flashMs += flashNs;
        mapMs += mapNs;
        count += forFlash.length;
      });
      return { flashNs: flashMs * 1e6 / count, mapNs: mapMs * 1e6 / count };
    },
  };
}

function stringGroup(config: Config): Case[] {
  const keys = stringKeys(KEYS);
  const [write, read] = create({
    key: codecs.string,
    value: codecs.int32,
    capacity: config.capacity,
  });
  fill(write, keys, (i) => i);
  // The same string objects fill the `Map`, which hashes them: from now on
  // V8 keeps their hash in them.
  const map = new Map<string, number>();
  keys.forEach((key, i) => map.set(key, i));

  const freshOrder = shuffledOrder(
    KEYS,
    Math.ceil(config.fresh / FRESH_CHUNK) * FRESH_CHUNK,
    6,
  );
  const chunks: string[] = [];
  for (let at = 0; at < freshOrder.length; at += FRESH_CHUNK) {
    chunks.push(JSON.stringify(
      Array.from(freshOrder.subarray(at, at + FRESH_CHUNK), (i) => keys[i]),
    ));
  }
  const zipf = Array.from(zipfOrder(KEYS, config.lookups, 1), (i) => keys[i]);
  const uniform = Array.from(
    uniformOrder(KEYS, config.lookups),
    (i) => keys[i],
  );
  const baseline = (keys: string[]) => mapGetString(map, keys);
  // Each case reads through a handle of its own, as a thread that reads
  // one way would: a handle's string cache adapts to what its thread looks
  // up, and the cases take their rounds in turn.
  const own = () => attach(read.share()) as ReadHandle<string, number>;
  const [fresh64, fresh1, zipfRead, uniformRead] = [own(), own(), own(), own()];
  return [
    freshCase(
      "fresh string keys, 64 per guard",
      chunks,
      (keys) => flashGuardString(fresh64, keys),
      baseline,
    ),
    freshCase(
      "fresh string keys, 1 per guard",
      chunks,
      (keys) => flashGuardOneString(fresh1, keys),
      baseline,
    ),
    {
      name: "reused string keys, Zipf (s = 1), 64 per guard",
      round: (mapFirst) =>
        pair(
          "reused Zipf",
          () => flashGuardString(zipfRead, zipf),
          () => mapGetString(map, zipf),
          zipf.length,
          mapFirst,
        ),
    },
    {
      name: "reused string keys, uniform, 64 per guard",
      round: (mapFirst) =>
        pair(
          "reused uniform",
          () => flashGuardString(uniformRead, uniform),
          () => mapGetString(map, uniform),
          uniform.length,
          mapFirst,
        ),
    },
  ];
}

// ------------------------------------------------------------ megamorphism

/** Warm-up passes over every map before the first round. */
const WARM_PASSES = 24;

interface Mega {
  round(mapFirst: boolean): RoundTimes;
  close(): void;
}

function megaSetup(
  config: Config,
  int32Token: unknown,
  others: { kind: KeyKind; token: unknown }[],
): Mega {
  const read = attach(
    int32Token as Parameters<typeof attach>[0],
  ) as ReadHandle<number, number>;
  const keys = int32Keys(KEYS);
  const map = new Map<number, number>();
  keys.forEach((key, i) => map.set(key, i));
  const lookups = Int32Array.from(
    shuffledOrder(KEYS, config.lookups),
    (i) => keys[i],
  );
  const warmKeys = Int32Array.from(
    shuffledOrder(KEYS, WARM_LOOKUPS, 7),
    (i) => keys[i],
  );
  const warmers = others.map(({ kind, token }) => warmer(kind, token));

  // Every map read in turn, so that the feedback of the map's code holds
  // every kind before it is optimized.
  for (let pass = 0; pass < WARM_PASSES; pass++) {
    sink += flashGuardInt32(read, warmKeys);
    sink += flashGuardOneInt32(read, warmKeys);
    sink += flashHandleInt32(read, warmKeys);
    sink += flashHasInt32(read, warmKeys);
    sink += mapGetInt32(map, warmKeys);
    for (const { warm } of warmers) sink += warm(pass);
  }
  let pass = WARM_PASSES;
  return {
    round(mapFirst) {
      // The other maps stay in use, as in a worker that serves them all.
      for (const { warm } of warmers) sink += warm(pass);
      pass++;
      return pair(
        "int32 64/guard (megamorphism)",
        () => flashGuardInt32(read, lookups),
        () => mapGetInt32(map, lookups),
        lookups.length,
        mapFirst,
      );
    },
    close() {
      read.close();
      for (const { read } of warmers) read.close();
    },
  };
}

// ------------------------------------------------------------ messages

let mega: Mega | undefined;

self.onmessage = (event: MessageEvent<Request>) => {
  const request = event.data;
  try {
    switch (request.kind) {
      case "group": {
        const start = performance.now();
        const cases = request.group === "int32"
          ? int32Group(request.config)
          : stringGroup(request.config);
        const times = runRounds(cases, request.config);
        reply({
          kind: "group",
          cases: times,
          sink,
          ms: performance.now() - start,
        });
        break;
      }
      case "mega-setup": {
        const start = performance.now();
        mega = megaSetup(request.config, request.int32, request.others);
        reply({ kind: "ready", warmUpMs: performance.now() - start });
        break;
      }
      case "mega-round":
        if (mega === undefined) throw new Error("no mega-setup yet");
        reply({ kind: "round", times: mega.round(request.mapFirst) });
        break;
      case "close":
        mega?.close();
        reply({ kind: "closed", sink });
        break;
    }
  } catch (error) {
    reply({
      kind: "error",
      message: error instanceof Error
        ? `${error.message}\n${error.stack}`
        : String(error),
    });
  }
};
