import { assert, assertEquals, assertThrows } from "@std/assert";
import { attach, Builder, codecs, create, type ReadHandle } from "@x/flashmap";
import {
  C_PUBLISHES,
  COPIES_START,
  COPY_WORDS,
  H_CURRENT_COPY,
  H_MAX_COPIES,
  MAX_COPIES,
  T_MASK,
  T_OFFSET,
  T_VERSION,
} from "../src/layout.ts";

/** The map's first words: header, control line and copy descriptors. */
function headerOf<K, V>(read: ReadHandle<K, V>): Int32Array {
  return new Int32Array(
    read.share().buffer,
    0,
    COPIES_START + MAX_COPIES * COPY_WORDS,
  );
}

/** Field `field` of copy `copy`'s descriptor. */
function field(header: Int32Array, copy: number, field: number): number {
  return header[COPIES_START + COPY_WORDS * copy + field];
}

/** The slot counts of the copies that have a table, by copy. */
function tableSlots(header: Int32Array): number[] {
  const slots: number[] = [];
  for (let copy = 0; copy < MAX_COPIES; copy++) {
    if (field(header, copy, T_OFFSET) !== 0) {
      slots.push(field(header, copy, T_MASK) + 1);
    }
  }
  return slots;
}

Deno.test("create() with a capacity holds that many entries without growing its tables", () => {
  const [write, read] = create({
    key: codecs.int32,
    value: codecs.int32,
    capacity: 10_000,
  });
  const header = headerOf(read);
  // Two copies to start with: the current one and the one to write.
  assertEquals(tableSlots(header), [16_384, 16_384]);
  for (let round = 0; round < 2; round++) {
    using guard = write.guard();
    for (let i = 0; i < 10_000; i++) guard.insert(i, i + round);
  }
  write.synchronize();
  {
    using view = read.guard();
    assertEquals(view.size, 10_000);
  }
  assertEquals(tableSlots(header), [16_384, 16_384]);
  {
    using guard = write.guard();
    for (let i = 10_000; i < 14_000; i++) guard.insert(i, i);
  }
  write.synchronize();
  assertEquals(tableSlots(header), [32_768, 32_768]);
  // The current copy's descriptor names the version it holds.
  const current = header[H_CURRENT_COPY];
  assertEquals(field(header, current, T_VERSION), header[C_PUBLISHES]);
  assertEquals(header[C_PUBLISHES], 3);
});

Deno.test("create() records maxCopies in the header", () => {
  const maxCopiesOf = (read: ReadHandle<unknown, unknown>) =>
    headerOf(read)[H_MAX_COPIES];
  assertEquals(maxCopiesOf(create()[1]), 8);
  for (const maxCopies of [2, 5, MAX_COPIES]) {
    assertEquals(maxCopiesOf(create({ maxCopies })[1]), maxCopies);
    assertEquals(
      maxCopiesOf(new Builder().withMaxCopies(maxCopies).build()[1]),
      maxCopies,
    );
  }
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
    .withMaxCopies(3)
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
  assertEquals(headerOf(read)[H_MAX_COPIES], 3);
});

Deno.test("create() without SharedArrayBuffer throws a TypeError naming the COOP and COEP headers", () => {
  const saved = globalThis.SharedArrayBuffer;
  Object.defineProperty(globalThis, "SharedArrayBuffer", {
    value: undefined,
    configurable: true,
    writable: true,
  });
  try {
    const error = assertThrows(() => create(), TypeError);
    for (
      const header of [
        "Cross-Origin-Opener-Policy: same-origin",
        "Cross-Origin-Embedder-Policy: require-corp",
      ]
    ) {
      assert(error.message.includes(header), error.message);
    }
  } finally {
    Object.defineProperty(globalThis, "SharedArrayBuffer", {
      value: saved,
      configurable: true,
      writable: true,
    });
  }
  const [write, read] = create();
  write.update((guard) => guard.set("a", "1"));
  assertEquals(read.get("a"), "1");
});

Deno.test("stringCacheBytes: create(), attach() and the builder take 0 to 512 MiB (null: the default) and refuse anything else, before they register a reader", () => {
  const [write, read] = create({ stringCacheBytes: 0 });
  write.update((guard) => guard.insert("k", "v"));
  const built = new Builder<string, string>().withStringCacheBytes(4096)
    .build();
  for (const bytes of [0, 1, 4096, 2 ** 29, null as unknown as number]) {
    using attached = attach(read.share(), { stringCacheBytes: bytes });
    using guard = attached.guard();
    for (let i = 0; i < 10; i++) assertEquals(guard.get("k"), "v");
  }
  const token = read.share();
  const open = read.stats().openHandles;
  for (
    const [bad, kind] of [
      [-1, RangeError],
      [0.5, RangeError],
      [2 ** 29 + 1, RangeError],
      [NaN, RangeError],
      ["1", TypeError],
      [{}, TypeError],
    ] as const
  ) {
    const options = { stringCacheBytes: bad as unknown as number };
    const created = assertThrows(() => create(options), kind);
    assert(created.message.includes("stringCacheBytes"), created.message);
    const attached = assertThrows(() => attach(token, options), kind);
    assert(attached.message.includes("stringCacheBytes"), attached.message);
    assertThrows(
      () => new Builder().withStringCacheBytes(bad as number).build(),
      kind,
    );
  }
  assertThrows(() => attach(token, null as never), TypeError);
  assertEquals(read.stats().openHandles, open, "no reader slot taken");
  built[1].close();
  built[0].close();
  read.close();
  write.close();
});
