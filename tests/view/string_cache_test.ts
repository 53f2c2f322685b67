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
