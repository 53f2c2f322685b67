import { assert, assertEquals } from "@std/assert";
import { Builder, codecs, create } from "@x/flashmap";
import { H_TABLES, T_MASK, TABLE_STRIDE } from "../src/layout.ts";

Deno.test("create() with a capacity holds that many entries without growing its tables", () => {
  const [write, read] = create({
    key: codecs.int32,
    value: codecs.int32,
    capacity: 10_000,
  });
  const header = new Int32Array(read.share().buffer, 0, 32);
  const slots = (copy: number) =>
    header[H_TABLES + TABLE_STRIDE * copy + T_MASK] + 1;
  assertEquals([slots(0), slots(1)], [16_384, 16_384]);
  for (let round = 0; round < 2; round++) {
    using guard = write.guard();
    for (let i = 0; i < 10_000; i++) guard.insert(i, i + round);
  }
  write.synchronize();
  {
    using view = read.guard();
    assertEquals(view.size, 10_000);
  }
  assertEquals([slots(0), slots(1)], [16_384, 16_384]);
  {
    using guard = write.guard();
    for (let i = 10_000; i < 13_000; i++) guard.insert(i, i);
  }
  write.synchronize();
  assertEquals([slots(0), slots(1)], [32_768, 32_768]);
});

Deno.test("create() with the same seed lays out the same table order", () => {
  const order = (seed: number) => {
    const [write, read] = create({ seed });
    {
      using guard = write.guard();
      for (let i = 0; i < 100; i++) guard.insert(`k${i}`, "v");
    }
    using view = read.guard();
    return [...view.keys()];
  };
  assertEquals(order(42), order(42));
  assert(order(42).join() !== order(43).join(), "another seed, another order");
});

Deno.test("Builder builds the map create() would", () => {
  const [write, read] = new Builder()
    .withKey(codecs.int32)
    .withValue(codecs.json<{ n: number }>())
    .withCapacity(100)
    .withMaxReaders(8)
    .withMaxBytes(1 << 20)
    .withSeed(7)
    .build();
  {
    using guard = write.guard();
    guard.insert(1, { n: 1 });
  }
  assertEquals(read.get(1), { n: 1 });
  const token = read.share();
  assertEquals(token.key, "int32");
  assertEquals(token.value, "json");
  assertEquals(token.buffer.maxByteLength, 1 << 20);
});
