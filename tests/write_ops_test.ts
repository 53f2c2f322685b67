import { assert, assertEquals, assertThrows } from "@std/assert";
import { type Codec, codecs, create } from "@x/flashmap";

/** A string codec whose encode runs `during` first (user code). */
function codecRunning(during: () => void): Codec<string> {
  return {
    name: "test:running",
    canonical: false,
    encode(value: string) {
      during();
      return new TextEncoder().encode(value);
    },
    decode: (bytes: Uint8Array) => new TextDecoder().decode(bytes),
  };
}

Deno.test("WriteOps refuses changes from user code running inside an operation, and the operation still completes", () => {
  let inner: (() => void) | undefined;
  const [write, read] = create({
    key: codecs.string,
    value: codecRunning(() => inner?.()),
  });
  write.update((guard) => {
    inner = () => guard.insert("b", "nested");
    assertThrows(
      () => guard.insert("a", "1"),
      TypeError,
      "busy running a codec",
    );
    inner = undefined;
    guard.insert("a", "1");
    // Reads from inside user code are allowed.
    inner = () => assertEquals(guard.get("a"), "1");
    guard.insert("c", "3");
    inner = undefined;
  });
  using view = read.guard();
  assertEquals(new Map(view), new Map([["a", "1"], ["c", "3"]]));
});

Deno.test("WriteOps iteration throws once the guard changed the map under it", () => {
  const [write] = create({ key: codecs.int32, value: codecs.int32 });
  write.update((guard) => {
    for (let key = 0; key < 10; key++) guard.insert(key, key);
    const keys = guard.keys();
    keys.next();
    guard.remove(3);
    assertThrows(() => keys.next(), TypeError, "changed the map during");
    assertEquals(guard.size, 9);
  });
});

Deno.test("WriteOps.replace() calls update once with the current value and returns it; absent keys leave update uncalled", () => {
  const [write, read] = create({ key: codecs.int32, value: codecs.number });
  write.update((guard) => guard.insert(1, 1.5));
  const calls: number[] = [];
  write.update((guard) => {
    assertEquals(guard.replace(1, (v) => (calls.push(v), v * 2)), 1.5);
    assertEquals(guard.replace(2, (v) => (calls.push(v), v)), undefined);
  });
  assertEquals(calls, [1.5]);
  assertEquals(read.get(1), 3);
  assertEquals(read.has(2), false);
});

Deno.test("remove() of a bytes key whose length getter grows the table drops the key from the grown table, and the count agrees", () => {
  const [write, read] = create({ key: codecs.bytes, value: codecs.int32 });
  const guard = write.guard();
  const key = (n: number) => Uint8Array.of(n & 255, n >> 8, 7);
  for (let i = 0; i < 5; i++) guard.set(key(i), i);
  let armed = true;
  class Growing extends Uint8Array {
    override get length() {
      if (armed) {
        armed = false;
        for (let i = 100; i < 400; i++) guard.set(key(i), i);
      }
      return super.length;
    }
  }
  const growing = new Growing(3);
  growing.set(key(3));
  let removed: number | undefined;
  try {
    removed = guard.remove(growing);
  } catch (error) {
    // Refusing the change made from inside the key is as good.
    assert(error instanceof TypeError, String(error));
  }
  let count = 0;
  for (const _ of guard.keys()) count++;
  assertEquals(guard.size, count, "the count agrees with the table");
  assertEquals(guard.has(key(3)), removed === undefined);
  guard.publish();
  {
    using view = read.guard();
    assertEquals(view.size, count);
  }
  read.close();
  write.close();
});
