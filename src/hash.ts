/**
 * Seeded 32-bit hashing of keys.
 *
 * The seed is random by default, so an attacker who does not know it cannot
 * choose keys that all land in one probe run. This is a fast mixing hash,
 * not a cryptographic function: it defends against blind flooding, as V8's
 * own seeded string hash does for `Map`.
 *
 * The seed lives in the map's header, in shared memory: any code holding a
 * read token can read it and then build colliding keys. The defence is
 * against outside input, not against the workers a map is shared with.
 *
 * @module
 */

/** The avalanche of MurmurHash3: a bijection on 32-bit integers. */
export function mix32(value: number): number {
  let h = value;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/**
 * Absorbs one 32-bit word. The shift before the second multiply sends every
 * difference through a carry chain that depends on the state, so a
 * difference cannot be cancelled by the next word without knowing the seed.
 */
function absorb(state: number, word: number): number {
  let h = Math.imul(state ^ word, 0x9e3779b1);
  h ^= h >>> 15;
  return Math.imul(h, 0x2c1b3c6d);
}

/**
 * Hash of one 32-bit integer: a bijection, so equal hashes mean equal keys.
 * One multiply (Fibonacci hashing) is enough because tables index by the
 * top bits of the hash, where a product mixes every input bit below them.
 */
export function hashInt32(value: number, seed: number): number {
  return Math.imul(value ^ seed, 0x9e3779b1);
}

/** The int32 whose {@linkcode hashInt32} with `seed` is `hash`. */
export function unhashInt32(hash: number, seed: number): number {
  return Math.imul(hash, 0x0e8b2f51) ^ seed;
}

/** Hash of two 32-bit words (the halves of a float64 or a bigint). */
export function hashPair(low: number, high: number, seed: number): number {
  return mix32(absorb(absorb(seed, low), high) ^ 8);
}

/**
 * Hash of a string's UTF-16 code units. Two lanes absorb alternate words,
 * so the two multiply chains run side by side. The units are packed into
 * `out` on the way (which must hold `(key.length + 1) >> 1` words): two per
 * word, the first in the low half, an odd last unit alone in its word, the
 * layout of a stored string key, so that a probe compares word by word.
 */
export function hashString(
  key: string,
  seed: number,
  out: Int32Array = new Int32Array((key.length + 1) >> 1),
): number {
  const length = key.length;
  let a = seed;
  let b = seed ^ 0x5bd1e995;
  let i = 0;
  let w = 0;
  for (; i + 3 < length; i += 4, w += 2) {
    const low = key.charCodeAt(i) | (key.charCodeAt(i + 1) << 16);
    const high = key.charCodeAt(i + 2) | (key.charCodeAt(i + 3) << 16);
    out[w] = low;
    out[w + 1] = high;
    a = absorb(a, low);
    b = absorb(b, high);
  }
  if (i + 1 < length) {
    const word = key.charCodeAt(i) | (key.charCodeAt(i + 1) << 16);
    out[w++] = word;
    a = absorb(a, word);
    i += 2;
  }
  if (i < length) {
    const word = key.charCodeAt(i);
    out[w] = word;
    b = absorb(b, word | 0x10000);
  }
  return mix32(a ^ Math.imul(b, 0x85ebca6b) ^ length);
}

/** Hash of bytes, four per step. */
export function hashBytes(bytes: Uint8Array, seed: number): number {
  const length = bytes.length;
  let h = seed;
  let i = 0;
  for (; i + 3 < length; i += 4) {
    h = absorb(
      h,
      bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) |
        (bytes[i + 3] << 24),
    );
  }
  if (i < length) {
    let tail = 1;
    for (; i < length; i++) tail = (tail << 8) | bytes[i];
    h = absorb(h, tail);
  }
  return mix32(h ^ length);
}

/** A random 32-bit seed from the platform's cryptographic generator. */
export function randomSeed(): number {
  return crypto.getRandomValues(new Int32Array(1))[0];
}
