import { assert, assertEquals, assertThrows } from "@std/assert";
import { codecs, create } from "@x/flashmap";
import { snapshot } from "./utils.ts";

Deno.test("ReadHandle.get() and has() agree with a guard's get() and has()", () => {
  const [write, read] = create({ key: codecs.int32, value: codecs.string });
  {
    using guard = write.guard();
    for (let i = 0; i < 500; i += 3) guard.insert(i, `v${i}`);
  }
  using view = read.guard();
  for (let i = -5; i < 505; i++) {
    assertEquals(read.get(i), view.get(i));
    assertEquals(read.has(i), view.has(i));
    assertEquals(read.has(i), i >= 0 && i < 500 && i % 3 === 0);
  }
});

Deno.test("ReadGuard nested on one handle: the inner one never sees an older version", () => {
  const [write, read] = create({ value: codecs.number });
  const publish = (n: number) => {
    using guard = write.guard();
    guard.insert("version", n);
  };
  publish(1);
  const outer = read.guard();
  publish(2); // outer is now residual
  const middle = read.guard();
  const inner = read.guard();
  assertEquals(outer.get("version"), 1);
  assertEquals(middle.get("version"), 2);
  assert(inner.get("version")! >= middle.get("version")!);
  inner.release();
  middle.release();
  outer.release();
  publish(3);
  using last = read.guard();
  assertEquals(last.get("version"), 3);
});

Deno.test("ReadHandle.clone() is an independent handle of the same map", () => {
  const [write, read] = create();
  const clone = read.clone();
  {
    using guard = write.guard();
    guard.insert("k", "v");
  }
  assertEquals(clone.get("k"), "v");
  const held = clone.guard();
  read.close(); // closing one handle leaves the other alone
  assertEquals(held.get("k"), "v");
  held.release();
  clone.close();
  assert(clone.closed);
});

Deno.test("ReadGuard keys(), values() and entries() list the same entries", () => {
  const [write, read] = create({
    key: codecs.string,
    value: codecs.int32,
    capacity: 2,
  });
  const model = new Map<string, number>();
  {
    using guard = write.guard();
    for (let i = 0; i < 300; i++) {
      guard.insert(`key${i}`, i);
      model.set(`key${i}`, i);
    }
  }
  using view = read.guard();
  const entries = [...view.entries()];
  assertEquals(entries.map(([key]) => key), [...view.keys()]);
  assertEquals(entries.map(([, value]) => value), [...view.values()]);
  assertEquals(new Map(entries), model);
  assertEquals(snapshot(view).size, view.size);
});

Deno.test("ReadHandle.share() makes a structured-cloneable token", () => {
  const [, read] = create({ key: codecs.bigint, value: codecs.boolean });
  const token = structuredClone(read.share());
  assertEquals(token.kind, "@x/flashmap:read");
  assertEquals(token.key, "bigint");
  assertEquals(token.value, "boolean");
  assert(token.buffer instanceof SharedArrayBuffer);
});

Deno.test("guards of every key kind (each view kind has a guard class of its own) read, refuse bad keys, and refuse all use once released", () => {
  const kinds = [
    [codecs.int32, 7, "seven", "7"],
    [codecs.boolean, true, "yes", 1],
    [codecs.number, 2.5, "two and a half", "2.5"],
    [codecs.bigint, 9n, "nine", 9],
    [codecs.string, "k", "kay", 1],
    [codecs.bytes, new Uint8Array([1, 2]), "bytes", "12"],
  ] as const;
  for (const [key, present, value, wrong] of kinds) {
    const [write, read] = create({
      key: key as typeof codecs.string,
      value: codecs.string,
    });
    write.update((guard) => guard.insert(present as string, value));
    const guard = read.guard();
    assertEquals(guard.get(present as string), value, key.name);
    assert(guard.has(present as string), key.name);
    assertThrows(() => guard.get(wrong as string), TypeError);
    guard.release();
    for (
      const use of [
        () => guard.get(present as string),
        () => guard.has(present as string),
      ]
    ) {
      const error = assertThrows(use, TypeError);
      assert(error.message.includes("released"), error.message);
    }
    read.close();
    write.close();
  }
});
