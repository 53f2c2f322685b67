/**
 * The string cache's own rules (`src/view/string_cache.ts`): what it
 * answers and for which version and copy, what it keeps, and its bound.
 * The answers seen through real maps are checked in `view_string_test.ts`.
 */
import { assert, assertEquals } from "@std/assert";
import {
  ABSENT,
  CACHE_KEY_LENGTH,
  StringCache,
} from "../../src/view/string_cache.ts";

/** What a lookup that found nothing in the cache does: looks up, notes it. */
function miss(
  cache: StringCache,
  key: string,
  answer: unknown,
  version = 1,
  copy = 0,
  own = true,
): void {
  cache.missed(key, hashOf(key), answer, version, copy, own);
  cache.consulted();
}

/** Any fixed hash per key will do: the cache only buckets sightings by it. */
function hashOf(key: string): number {
  let h = 7;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 31);
  return h;
}

Deno.test("StringCache answers only for the version and copy of the answers it holds", () => {
  const cache = new StringCache(1 << 20);
  miss(cache, "alpha", 1, 5, 2);
  miss(cache, "beta", ABSENT, 5, 2);
  assertEquals(cache.consult("alpha", 5, 2), 1);
  assertEquals(cache.consult("beta", 5, 2), ABSENT);
  assertEquals(cache.hit("alpha", 5, 2), 1);
  for (const [version, copy] of [[5, 1], [4, 2], [6, 2]]) {
    assertEquals(cache.consult("alpha", version, copy), undefined);
    assertEquals(cache.hit("alpha", version, copy), undefined);
  }
  // An older version keeps nothing; a newer one empties and stamps again.
  miss(cache, "gamma", 3, 4, 2);
  assertEquals(cache.consult("gamma", 4, 2), undefined);
  assertEquals(cache.consult("alpha", 5, 2), 1);
  miss(cache, "delta", 4, 6, 3);
  assertEquals(cache.size, 1);
  assertEquals(cache.consult("alpha", 5, 2), undefined);
  assertEquals(cache.consult("delta", 6, 3), 4);
});

Deno.test("StringCache keeps nothing from a lookup whose table is not its copy's", () => {
  const cache = new StringCache(1 << 20);
  for (let i = 0; i < 10; i++) miss(cache, "stale", 9, 1, 0, false);
  assertEquals([cache.size, cache.bytes], [0, 0]);
  assertEquals(cache.consult("stale", 1, 0), undefined);
});

Deno.test("StringCache keeps each key at its first miss up to half full, then only keys seen again and again", () => {
  const capacity = 64 * 100; // 40 + 2 * 12 bytes a key: 100 keys
  const cache = new StringCache(capacity);
  let i = 0;
  while (cache.bytes * 2 < capacity) {
    miss(cache, `key-${String(i++).padStart(6, "0")}`, i);
    assertEquals(cache.size, i, "taken at its first miss");
  }
  const before = cache.size;
  const late = "late-00000000";
  miss(cache, late, 1);
  assertEquals(cache.size, before, "not yet");
  for (
    let seen = 0;
    seen < 4 && cache.consult(late, 1, 0) === undefined;
    seen++
  ) {
    miss(cache, late, 1);
  }
  assertEquals(cache.consult(late, 1, 0), 1, "taken once seen often");
});

Deno.test("StringCache never counts more than its bound, at least 40 bytes a key and 2 a unit of the key and of a string answer, and 16 for a boxed number", () => {
  const capacity = 4096;
  const cache = new StringCache(capacity);
  let counted = 0;
  for (let i = 0; i < 2000; i++) {
    const key = `k${i}`.padEnd(20, "x");
    const answer = i % 3 === 0 ? `v${i}` : i % 3 === 1 ? i + 0.5 : i;
    for (let seen = 0; seen < 5; seen++) miss(cache, key, answer);
    assert(cache.bytes <= capacity, `${cache.bytes} bytes`);
    if (cache.size === 1 && cache.consult(key, 1, 0) === answer) {
      counted = cache.bytes;
      const bytes = 40 + 2 * key.length +
        (typeof answer === "string"
          ? 2 * answer.length
          : answer === i
          ? 0
          : 16);
      assertEquals(counted, bytes);
    }
  }
  assert(counted > 0, "a cache emptied for room held one key");
});

Deno.test("StringCache takes keys of at most 64 units, and nothing with no room", () => {
  assertEquals(new StringCache(1 << 20).maxLength, CACHE_KEY_LENGTH);
  const none = new StringCache(0);
  assertEquals(none.maxLength, -1);
  for (let i = 0; i < 20; i++) miss(none, "k", 1);
  assertEquals([none.size, none.bytes], [0, 0]);
});

/**
 * Drives a cache as a view does, `lookups` times over `keys` in turn, on a
 * clock that a lookup advances by `cachedNs` while the cache is on and by
 * `aroundNs` while lookups go around it. Returns the share of lookups the
 * cache took.
 */
function drive(
  cache: StringCache,
  clock: { now: number },
  keys: readonly string[],
  lookups: number,
  cachedNs: number,
  aroundNs: number,
): number {
  let taken = 0;
  for (let i = 0; i < lookups; i++) {
    const key = keys[i % keys.length];
    const answer = key.length;
    if (cache.on) {
      taken++;
      clock.now += cachedNs / 1e6;
      if (cache.hit(key, 1, 0) !== undefined) continue;
      if (cache.consult(key, 1, 0) === undefined) {
        cache.missed(key, hashOf(key), answer, 1, 0, true);
      }
      cache.consulted();
    } else {
      clock.now += aroundNs / 1e6;
      if (cache.around(hashOf(key))) {
        if (cache.consultMiniature(key, 1, 0) === undefined) {
          cache.missed(key, hashOf(key), answer, 1, 0, true);
        }
        cache.consulted();
      }
    }
  }
  return taken / lookups;
}

const KEYS = Array.from(
  { length: 2000 },
  (_, i) => `session:${i}`.padEnd(20, "-"),
);

Deno.test("StringCache stays on while lookups through it are faster than around it", () => {
  const clock = { now: 0 };
  const cache = new StringCache(1 << 20, () => clock.now);
  drive(cache, clock, KEYS, 400_000, 60, 400);
  const share = drive(cache, clock, KEYS, 400_000, 60, 400);
  assert(share > 0.95, `on for ${share} of the lookups`);
  assertEquals(cache.size, KEYS.length);
});

Deno.test("StringCache goes off while its hits are slower than going around (strings V8 hashes each time), keeps its answers, and tries again ever less often", () => {
  const clock = { now: 0 };
  const cache = new StringCache(1 << 20, () => clock.now);
  drive(cache, clock, KEYS, 400_000, 700, 400);
  assert(!cache.on || cache.size > 0);
  const share = drive(cache, clock, KEYS, 2_000_000, 700, 400);
  assert(share < 0.1, `on for ${share} of the lookups`);
  assertEquals(cache.size, KEYS.length, "answers kept for the next try");
  // Once hits are fast again, a try finds it so and the cache stays on.
  drive(cache, clock, KEYS, 4_000_000, 60, 400);
  const after = drive(cache, clock, KEYS, 400_000, 60, 400);
  assert(after > 0.95, `on for ${after} of the lookups`);
});

Deno.test("StringCache with far more keys in use than it holds goes off and lets its answers go", () => {
  const clock = { now: 0 };
  const many = Array.from(
    { length: 60_000 },
    (_, i) => `k${i}`.padEnd(20, "-"),
  );
  // Room for about 3,000 keys: a miss costs more than a lookup around it.
  const cache = new StringCache(3000 * 80, () => clock.now);
  const share = (() => {
    drive(cache, clock, many, 600_000, 500, 400);
    return drive(cache, clock, many, 600_000, 500, 400);
  })();
  assert(share < 0.1, `on for ${share} of the lookups`);
  assert(cache.size <= 3000);
});
