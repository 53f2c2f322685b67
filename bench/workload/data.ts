/**
 * The data every backend reads: a shuffled key set, values derived from the
 * keys (so that a reader can verify every hit without a second copy of the
 * data), and precomputed streams of key indices (uniform and Zipf). The
 * arrays live in SharedArrayBuffers so that workers use them without copies.
 *
 * @module
 */

/** The key under which each publish stores its sequence number (outside every key range). */
export const VERSION_KEY = 0x7fffffff;

/** Indices per stream: a power of two, so that positions wrap with a mask. */
export const STREAM_LENGTH = 1 << 20;

/**
 * The value stored under `key`: cheap to recompute in the reader, a
 * non-negative int31 so that every backend (int32, strings, msgpack) can
 * hold it unchanged.
 */
export function valueOf(key: number): number {
  return Math.imul(key ^ 0x5bd1e995, 0x9e3779b1) >>> 1;
}

/** A small seeded generator (xorshift32): runs see the same keys and streams. */
export class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed | 0 || 0x2545f491;
  }
  /** A uniform int32. */
  next(): number {
    let s = this.#state;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return this.#state = s;
  }
  /** A uniform integer in `[0, n)`, for `n` up to 2^31. */
  below(n: number): number {
    return ((this.next() >>> 0) * n / 2 ** 32) | 0;
  }
}

/** An Int32Array over fresh shared memory. */
export function sharedInt32(length: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(length * 4));
}

/**
 * `count` distinct non-negative keys drawn from `[0, count * spread)`, in
 * random order: the prefill inserts them in this order and the streams
 * index into it, so no backend benefits from sequential keys.
 */
export function sampleKeys(count: number, spread: number, seed: number) {
  const rng = new Rng(seed);
  const range = Math.min(count * spread, 0x7fffffff - 1);
  if (range < count) throw new RangeError(`Cannot draw ${count} keys`);
  const seen = new Set<number>();
  const keys = sharedInt32(count);
  let n = 0;
  while (n < count) {
    const key = rng.below(range);
    if (seen.has(key)) continue;
    seen.add(key);
    keys[n++] = key;
  }
  return keys;
}

/** A stream of uniform indices into `[0, n)`. */
export function uniformStream(n: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  const out = sharedInt32(STREAM_LENGTH);
  for (let i = 0; i < STREAM_LENGTH; i++) out[i] = rng.below(n);
  return out;
}

/**
 * A stream of Zipf-distributed indices into `[0, n)` (rank 0 the most
 * frequent), by binary search in the cumulative distribution. Since the key
 * array is shuffled, the hot keys are spread over the table.
 */
export function zipfStream(n: number, s: number, seed: number): Int32Array {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / Math.pow(i + 1, s);
  const rng = new Rng(seed);
  const out = sharedInt32(STREAM_LENGTH);
  for (let i = 0; i < STREAM_LENGTH; i++) {
    const target = ((rng.next() >>> 0) / 2 ** 32) * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < target) lo = mid + 1;
      else hi = mid;
    }
    out[i] = lo;
  }
  return out;
}

/** Which stream a reader follows. */
export type Distribution = "uniform" | "zipf";

/** The key set and streams, as shared buffers that workers can receive. */
export interface Dataset {
  /** The keys; the first `live` of them are in the map after prefill. */
  keys: Int32Array;
  /** How many keys the prefill inserts. */
  live: number;
  streams: Record<Distribution, Int32Array>;
}

/** The dataset of the single-writer mode and its baselines. */
export function singleDataset(prefill: number, seed: number): Dataset {
  const keys = sampleKeys(prefill, 20, seed);
  return {
    keys,
    live: prefill,
    streams: {
      uniform: uniformStream(prefill, seed + 1),
      zipf: zipfStream(prefill, 1.03, seed + 2),
    },
  };
}
