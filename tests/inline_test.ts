import { assertEquals, assertThrows } from "@std/assert";
import { type Codec, codecs, create, type KeyCodec } from "@x/flashmap";

/** A random generator with a fixed seed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (Math.imul(state, 1103515245) + 12345) | 0;
    return (state >>> 8) / 2 ** 24;
  };
}

interface Case<K, V> {
  name: string;
  key: KeyCodec<K>;
  value: Codec<V>;
  /** The key whose stored form is all zero words, for seed 77. */
  odd: K;
  keyOf: (n: number) => K;
  valueOf: (n: number) => V;
}

const SEED = 77;
const cases: Case<unknown, unknown>[] = [
  {
    name: "int32 to int32",
    key: codecs.int32,
    value: codecs.int32,
    odd: SEED, // its hash with seed 77 is 0
    keyOf: (n) => n * 3 - 40,
    valueOf: (n) => n ^ 0x5555,
  },
  {
    name: "int32 to number",
    key: codecs.int32,
    value: codecs.number,
    odd: SEED,
    keyOf: (n) => n * 3 - 40,
    valueOf: (n) => n / 7,
  },
  {
    name: "number to bigint",
    key: codecs.number,
    value: codecs.bigint,
    odd: NaN, // no number is stored as zero words: -0 is 0
    keyOf: (n) => n === 5 ? -0 : n / 4 - 3,
    valueOf: (n) => BigInt(n) * -(2n ** 40n),
  },
  {
    name: "bigint to boolean",
    key: codecs.bigint,
    value: codecs.boolean,
    odd: -(2n ** 63n),
    keyOf: (n) => BigInt(n) * 2n ** 33n - 5n,
    valueOf: (n) => n % 3 === 0,
  },
  {
    name: "boolean to int32",
    key: codecs.boolean,
    value: codecs.int32,
    odd: true,
    keyOf: (n) => n % 2 === 0,
    valueOf: (n) => n,
  },
] as Case<unknown, unknown>[];

for (const c of cases) {
  Deno.test(`inline slots (${c.name}): random writes, held guards and growth match a Map model, the odd key included`, () => {
    const [write, read] = create({ key: c.key, value: c.value, seed: SEED });
    const model = new Map<unknown, unknown>();
    const next = random(c.name.length);
    const held: {
      guard: ReturnType<typeof read.guard>;
      model: Map<unknown, unknown>;
    }[] = [];
    for (let round = 0; round < 60; round++) {
      const guard = write.guard();
      const before = new Map(model);
      for (let op = 0; op < 40; op++) {
        const n = Math.floor(next() * (40 + round * 8));
        const key = next() < 0.1 ? c.odd : c.keyOf(n);
        const value = c.valueOf(op + round);
        const roll = next();
        if (roll < 0.55) {
          assertEquals(guard.insert(key, value), model.get(key));
          model.set(key, value);
        } else if (roll < 0.7) {
          assertEquals(guard.replace(key, () => value), model.get(key));
          if (model.has(key)) model.set(key, value);
        } else {
          assertEquals(guard.remove(key), model.get(key));
          model.delete(key);
        }
        assertEquals(guard.get(key), model.get(key));
        assertEquals(guard.has(key), model.has(key));
      }
      assertEquals(guard.size, model.size);
      if (round % 7 === 6) {
        guard.abort();
        model.clear();
        for (const [k, v] of before) model.set(k, v);
      } else {
        guard.publish();
      }
      if (round % 5 === 0) {
        held.push({ guard: read.guard(), model: new Map(model) });
      }
      for (const { guard: view, model: seen } of held) {
        assertEquals(view.size, seen.size);
        assertEquals(new Map(view.entries()), seen);
        for (const [k, v] of seen) assertEquals(view.get(k), v);
      }
      assertEquals(read.get(c.odd), model.get(c.odd));
      assertEquals(read.has(c.odd), model.has(c.odd));
      if (round % 20 === 19) {
        for (const { guard: view } of held.splice(0)) view.release();
      }
    }
    for (const { guard: view } of held) view.release();
    {
      using view = read.guard();
      assertEquals(new Map(view), model);
    }
    for (const [k, v] of model) assertEquals(read.get(k), v);
    write.update((guard) => guard.clear());
    assertEquals(read.size, 0);
    assertEquals(read.get(c.odd), undefined);
    read.close();
    write.close();
  });
}

Deno.test("inline slots: a bad key is refused with the map unchanged", () => {
  const [write, read] = create({ key: codecs.int32, value: codecs.int32 });
  write.update((guard) => guard.insert(1, 2));
  assertThrows(() => read.get(1.5 as number), RangeError);
  assertThrows(() => read.get("1" as unknown as number), TypeError);
  using view = read.guard();
  assertThrows(() => view.has(2 ** 31), RangeError);
  assertEquals(view.get(1), 2);
  assertEquals(read.stats().openHandles, 1);
});

Deno.test("inline slots: int32 to int32 takes at most 64 buffer bytes per entry without a capacity hint", () => {
  const [write, read] = create({ key: codecs.int32, value: codecs.int32 });
  for (let start = 0; start < 100_000; start += 1000) {
    write.update((guard) => {
      for (let key = start; key < start + 1000; key++) guard.insert(key, key);
    });
  }
  const perEntry = read.share().buffer.byteLength / read.size;
  assertEquals(read.size, 100_000);
  assertEquals(perEntry <= 64, true, `${perEntry} bytes per entry`);
});
