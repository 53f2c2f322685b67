/**
 * Keys, lookup sequences and statistics shared by `read_path.ts` (the main
 * thread) and `read_path_worker.ts` (the workers that time the lookups).
 * Every generator is deterministic, so the main thread and a worker that
 * call it with the same arguments get the same keys.
 *
 * @module
 */

import {
  type Codec,
  codecs,
  type KeyCodec,
  type WriteHandle,
} from "@x/flashmap";

/** Entries in every map of the read-path benchmark (but the boolean one). */
export const KEYS = 100_000;
/** Lookups per guard in the batched cases. */
export const PER_GUARD = 64;
/** Length of the string keys, in UTF-16 code units. */
export const STRING_KEY_LENGTH = 20;
/** Inserts per write guard when a map is filled. */
export const FILL_BATCH = 1000;

// ------------------------------------------------------------ randomness

/** xorshift32: a small deterministic generator. */
export class Random {
  #state: number;
  constructor(seed: number) {
    this.#state = (seed | 0) || 0x9e3779b9;
  }
  /** The next unsigned 32-bit value. */
  next(): number {
    let state = this.#state;
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    this.#state = state;
    return state >>> 0;
  }
  /** A float in [0, 1). */
  float(): number {
    return this.next() / 0x1_0000_0000;
  }
  /** An integer in [0, bound). */
  below(bound: number): number {
    return Math.floor(this.float() * bound);
  }
}

/** Shuffles `items` in place (Fisher-Yates) and returns it. */
export function shuffle<T extends { length: number; [i: number]: number }>(
  items: T,
  random: Random,
): T {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.below(i + 1);
    const swap = items[i];
    items[i] = items[j];
    items[j] = swap;
  }
  return items;
}

// ------------------------------------------------------------ keys

/**
 * `count` distinct int32 keys drawn at random in [0, 2^30): small integers
 * to V8 (Smis, even with pointer compression), so `Map` hashes them as
 * integers, not as heap numbers, and not in an order that flatters either
 * side.
 */
export function int32Keys(count: number, seed = 1): Int32Array {
  const random = new Random(seed);
  const seen = new Set<number>();
  const keys = new Int32Array(count);
  for (let i = 0; i < count;) {
    const key = random.next() >>> 2;
    if (seen.has(key)) continue;
    seen.add(key);
    keys[i++] = key;
  }
  return keys;
}

/**
 * The text of `count` distinct string keys of {@linkcode STRING_KEY_LENGTH}
 * characters (`session:` and 12 base-36 digits, the last six of them the
 * index), made by template literals: cons strings. Pass them through
 * {@linkcode flatStrings} before use.
 */
function stringKeyTexts(count: number, seed: number): string[] {
  const random = new Random(seed);
  return Array.from(
    { length: count },
    (_, i) =>
      `session:${random.below(36 ** 6).toString(36).padStart(6, "0")}${
        i.toString(36).padStart(6, "0")
      }`,
  );
}

/**
 * New flat string objects with the same text (`JSON.parse` makes flat
 * sequential strings, and does not internalize or hash strings longer than
 * 10 characters).
 */
export function flatStrings(keys: readonly string[]): string[] {
  return JSON.parse(JSON.stringify(keys));
}

/** `count` distinct flat string keys of {@linkcode STRING_KEY_LENGTH} characters. */
export function stringKeys(count: number, seed = 2): string[] {
  const keys = flatStrings(stringKeyTexts(count, seed));
  if (keys.some((key) => key.length !== STRING_KEY_LENGTH)) {
    throw new Error("string keys have the wrong length");
  }
  return keys;
}

/** `count` distinct float64 keys that are not integers. */
export function numberKeys(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i * 1.5 + 0.25);
}

/** `count` distinct signed 64-bit keys spread over the whole range. */
export function bigintKeys(count: number): bigint[] {
  return Array.from(
    { length: count },
    (_, i) => BigInt.asIntN(64, BigInt(i + 1) * 0x9e3779b97f4a7c15n),
  );
}

/** `count` distinct 12-byte keys. */
export function bytesKeys(count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => {
    const key = new Uint8Array(12);
    const view = new DataView(key.buffer);
    view.setUint32(0, 0x6b657900); // "key\0"
    view.setUint32(4, Math.imul(i + 1, 0x9e3779b1) >>> 0);
    view.setUint32(8, i);
    return key;
  });
}

/** Both boolean keys. */
export function booleanKeys(): boolean[] {
  return [false, true];
}

// ------------------------------------------------------------ lookup orders

/**
 * `length` indices into `count` keys: shuffles of `0 … count-1` one after
 * another, so each key is looked up equally often, in no useful order.
 */
export function shuffledOrder(
  count: number,
  length: number,
  seed = 3,
): Uint32Array {
  const random = new Random(seed);
  const order = new Uint32Array(length);
  const pass = new Uint32Array(count);
  for (let at = 0; at < length; at += count) {
    for (let i = 0; i < count; i++) pass[i] = i;
    shuffle(pass, random);
    order.set(pass.subarray(0, Math.min(count, length - at)), at);
  }
  return order;
}

/** `length` indices drawn uniformly (with repetition) from `0 … count-1`. */
export function uniformOrder(
  count: number,
  length: number,
  seed = 4,
): Uint32Array {
  const random = new Random(seed);
  return Uint32Array.from({ length }, () => random.below(count));
}

/**
 * `length` indices into `count` keys drawn from a Zipf distribution with
 * exponent `s`: rank r (1-based) has weight 1/r^s. Ranks are given to keys
 * by a random permutation, so the hot keys lie all over the table.
 */
export function zipfOrder(
  count: number,
  length: number,
  s = 1,
  seed = 5,
): Uint32Array {
  const random = new Random(seed);
  const cumulative = new Float64Array(count);
  let total = 0;
  for (let rank = 1; rank <= count; rank++) {
    total += 1 / rank ** s;
    cumulative[rank - 1] = total;
  }
  const keyOfRank = new Uint32Array(count);
  for (let i = 0; i < count; i++) keyOfRank[i] = i;
  shuffle(keyOfRank, random);
  const order = new Uint32Array(length);
  for (let i = 0; i < length; i++) {
    const u = random.float() * total;
    let lo = 0;
    let hi = count - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid] > u) hi = mid;
      else lo = mid + 1;
    }
    order[i] = keyOfRank[lo];
  }
  return order;
}

// ------------------------------------------------------------ maps

/**
 * Inserts `keys[i] → value(i)` with one write guard per
 * {@linkcode FILL_BATCH} inserts, each published, then synchronizes (so the
 * replay onto the second copy is not left for later).
 */
export function fill<K, V>(
  write: WriteHandle<K, V>,
  keys: ArrayLike<K>,
  value: (index: number) => V,
): void {
  for (let at = 0; at < keys.length; at += FILL_BATCH) {
    const guard = write.guard();
    for (
      let i = at, end = Math.min(at + FILL_BATCH, keys.length);
      i < end;
      i++
    ) {
      guard.insert(keys[i], value(i));
    }
    guard.publish();
  }
  write.synchronize();
}

/** Key kinds of the megamorphism workers' maps. */
export type KeyKind =
  | "int32"
  | "string"
  | "number"
  | "bigint"
  | "boolean"
  | "bytes";

/** The five kinds besides int32 that the six-kind workers read. */
export const OTHER_KINDS: readonly KeyKind[] = [
  "string",
  "number",
  "bigint",
  "boolean",
  "bytes",
];

/** Keys of a kind, as the megamorphism maps hold them. */
export function keysOf(kind: KeyKind): ArrayLike<unknown> {
  switch (kind) {
    case "int32":
      return int32Keys(KEYS);
    case "string":
      return stringKeys(KEYS);
    case "number":
      return numberKeys(KEYS);
    case "bigint":
      return bigintKeys(KEYS);
    case "boolean":
      return booleanKeys();
    case "bytes":
      return bytesKeys(KEYS);
  }
}

/**
 * The codecs of a megamorphism map of `kind` keys, and its value of key
 * index i: int32 values, or with `mixed` a value codec per kind (int32 keys
 * keep int32 values).
 */
export function codecsFor(kind: KeyKind, mixed: boolean): {
  key: KeyCodec<unknown>;
  value: Codec<unknown>;
  valueOf: (index: number) => unknown;
} {
  const key = codecs[kind] as KeyCodec<unknown>;
  const int32 = {
    value: codecs.int32 as Codec<unknown>,
    valueOf: (i: number) => i,
  };
  if (!mixed) return { key, ...int32 };
  switch (kind) {
    case "int32":
      return { key, ...int32 };
    case "string":
      return { key, value: codecs.json(), valueOf: (i) => ({ n: i }) };
    case "number":
      return {
        key,
        value: codecs.number as Codec<unknown>,
        valueOf: (i) => i * 0.5,
      };
    case "bigint":
      return {
        key,
        value: codecs.bigint as Codec<unknown>,
        valueOf: (i) => BigInt(i),
      };
    case "boolean":
      return {
        key,
        value: codecs.string as Codec<unknown>,
        valueOf: (i) => `v${i}`,
      };
    case "bytes":
      return {
        key,
        value: codecs.bytes as Codec<unknown>,
        valueOf: (i) => new Uint8Array([i & 255, i >> 8 & 255]),
      };
  }
}

// ------------------------------------------------------------ messages

/** How the workers are run. */
export interface Config {
  /** Timed rounds per case. */
  readonly rounds: number;
  /** Rounds run first and not recorded. */
  readonly warmUpRounds: number;
  /** Lookups per side per round, in the int32 and reused-string cases. */
  readonly lookups: number;
  /** Lookups per side per round in the fresh-string cases (new strings each). */
  readonly fresh: number;
  /** The `capacity` hint given to `create()`, if any. */
  readonly capacity: number | undefined;
}

/** One round of one case: ns per lookup of each side. */
export interface RoundTimes {
  readonly flashNs: number;
  readonly mapNs: number;
}

/** Every timed round of one case. */
export interface CaseTimes {
  readonly name: string;
  readonly rounds: RoundTimes[];
}

/** Main thread to worker. */
export type Request =
  | { kind: "group"; group: "int32" | "strings"; config: Config }
  | {
    kind: "mega-setup";
    config: Config;
    int32: unknown;
    others: { kind: KeyKind; token: unknown }[];
  }
  | { kind: "mega-round"; mapFirst: boolean }
  | { kind: "close" };

/** Worker to main thread. */
export type Reply =
  | { kind: "group"; cases: CaseTimes[]; sink: number; ms: number }
  | { kind: "ready"; warmUpMs: number }
  | { kind: "round"; times: RoundTimes }
  | { kind: "closed"; sink: number }
  | { kind: "error"; message: string };

// ------------------------------------------------------------ statistics

/** The `q` quantile (0 … 1) of `values`, interpolated. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = values.toSorted((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

/** The median of `values`. */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}
