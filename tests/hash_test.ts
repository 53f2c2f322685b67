import { assert, assertEquals, assertNotEquals } from "@std/assert";
import {
  hashBytes,
  hashInt32,
  hashPair,
  hashString,
  mix32,
} from "../src/hash.ts";

Deno.test("mix32() is a bijection on a sample (distinct inputs, distinct outputs)", () => {
  const seen = new Set<number>();
  for (let i = -50_000; i < 50_000; i++) seen.add(mix32(i * 65_537));
  assertEquals(seen.size, 100_000);
});

Deno.test("hashString() depends on the seed and on every code unit", () => {
  const keys = [
    "",
    "a",
    "ab",
    "ba",
    "abc",
    "\uD800",
    "\uDC00",
    "😀",
    "user:0001",
    "user:0002",
  ];
  const hashes = new Set(keys.map((key) => hashString(key, 1)));
  assertEquals(hashes.size, keys.length);
  for (const key of keys) {
    assertNotEquals(hashString(key, 1), hashString(key, 2));
  }
  assertEquals(hashString("same", 7), hashString("sa" + "me", 7));
});

Deno.test("hashString() spreads sequential keys over the low bits", () => {
  const buckets = new Int32Array(1024);
  for (let i = 0; i < 102_400; i++) {
    buckets[hashString(`key-${i}`, 12345) & 1023]++;
  }
  for (const count of buckets) {
    assert(count > 40 && count < 170, `bucket of ${count}`);
  }
});

Deno.test("hashBytes(), hashPair() and hashInt32() depend on their inputs and the seed", () => {
  assertNotEquals(
    hashBytes(new Uint8Array([1, 2, 3]), 1),
    hashBytes(new Uint8Array([1, 2, 3, 0]), 1),
  );
  assertNotEquals(
    hashBytes(new Uint8Array([]), 1),
    hashBytes(new Uint8Array([0]), 1),
  );
  assertNotEquals(hashPair(1, 2, 9), hashPair(2, 1, 9));
  assertNotEquals(hashInt32(5, 1), hashInt32(5, 2));
});
