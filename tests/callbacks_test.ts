/**
 * User code run by the writer cannot change the map (issue 9, items 1 and
 * 3): codecs' `encode`/`decode` and `replace()` updates are refused every
 * change, even after they read the guard, nest other callbacks or throw; and
 * the map takes the key and value bytes into memory of its own before any
 * user code can run, so a caller's later change to them, or a codec that
 * reuses its output array, does not change what is stored.
 */
import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  type Codec,
  codecs,
  create,
  type KeyCodec,
  type ReadHandle,
  type WriteGuard,
  type WriteHandle,
} from "@x/flashmap";
import { snapshot, sorted } from "./utils.ts";

// ------------------------------------------------------------ item 1

/** What one refused change from inside a callback threw. */
interface Attempt {
  where: string;
  op: string;
  error: unknown;
}

/**
 * String keys and values through user codecs whose callbacks, when armed,
 * attack the live write guard: each first reads it (`get`, `has`, an
 * iteration), which runs nested callbacks that attack in turn, and then
 * tries every change. Each attempt is recorded with what it threw.
 */
class Attacker {
  guard: WriteGuard<string, string> | null = null;
  /** The write handle, whose operations are tried too. */
  write: WriteHandle<string, string> | null = null;
  armed = false;
  /** How deep callbacks may nest and still attack (0 = only the outermost). */
  maxDepth = 1;
  /**
   * Makes the next armed outermost callback (of kind `throwWhere`, if set)
   * throw after its reads, once.
   */
  throwNext: Error | null = null;
  throwWhere: string | null = null;
  depth = 0;
  readonly attempts: Attempt[] = [];
  readonly #encoder = new TextEncoder();
  readonly #decoder = new TextDecoder();

  readonly keyCodec: KeyCodec<string> = {
    name: "test.attack-key",
    canonical: true,
    encode: (key) => {
      this.attack("key encode");
      return this.#encoder.encode(key);
    },
    decode: (bytes) => {
      this.attack("key decode");
      return this.#decoder.decode(bytes);
    },
  };

  readonly valueCodec: Codec<string> = {
    name: "test.attack-value",
    canonical: false,
    encode: (value) => {
      this.attack("value encode");
      return this.#encoder.encode(value);
    },
    decode: (bytes) => {
      this.attack("value decode");
      return this.#decoder.decode(bytes);
    },
  };

  /** A `replace()` update that attacks, then appends `suffix`. */
  update(suffix: string): (previous: string) => string {
    return (previous) => {
      this.attack("replace update");
      return previous + suffix;
    };
  }

  attack(where: string): void {
    const guard = this.guard;
    if (!this.armed || guard === null || this.depth > this.maxDepth) return;
    this.depth++;
    try {
      // Reads decode, and so run callbacks nested in this one.
      guard.get("other");
      guard.has("victim");
      if (this.depth === 1) {
        for (const [key, value] of guard) {
          if (key === value) break; // never: only reads the entries
        }
      }
      if (
        this.throwNext !== null && this.depth === 1 &&
        (this.throwWhere === null || this.throwWhere === where)
      ) {
        const error = this.throwNext;
        this.throwNext = null;
        this.throwWhere = null;
        throw error;
      }
      const tries: [string, () => unknown][] = [
        ["insert", () => guard.insert("evil insert", "x")],
        ["set", () => guard.set("evil set", "x")],
        ["replace", () => guard.replace("victim", () => "evil")],
        ["remove", () => guard.remove("victim")],
        ["delete", () => guard.delete("other")],
        ["publish", () => guard.publish()],
        ["abort", () => guard.abort()],
      ];
      const write = this.write;
      if (write !== null) {
        tries.push(
          ["WriteHandle.update", () => write.update((g) => g.set("u", "x"))],
          ["WriteHandle.guard", () => write.guard().set("g", "x")],
          ["WriteHandle.synchronize", () => write.synchronize()],
          ["WriteHandle.close", () => write.close()],
        );
      }
      for (const [op, change] of tries) {
        try {
          change();
          this.attempts.push({ where, op, error: null });
        } catch (error) {
          this.attempts.push({ where, op, error });
        }
      }
      // Reads still work after the refusals.
      guard.get("victim");
    } finally {
      this.depth--;
    }
  }

  /** Checks that every attempt so far threw a TypeError; returns how many. */
  checkRefused(): number {
    for (const attempt of this.attempts) {
      assert(
        attempt.error instanceof TypeError,
        `${attempt.op} from ${attempt.where} was not refused with a TypeError: ${
          attempt.error === null ? "it went through" : String(attempt.error)
        }`,
      );
    }
    const count = this.attempts.length;
    this.attempts.length = 0;
    return count;
  }
}

/** Checks the write guard's view against `model`. */
function checkGuard(
  guard: WriteGuard<string, string>,
  model: Map<string, string>,
): void {
  assertEquals(snapshot(guard), sorted(model));
  assertEquals(guard.size, [...guard].length);
  assertEquals(guard.size, model.size);
}

/** Checks what readers see (a guard, and a handle cloned now) against `model`. */
function checkReaders(
  read: ReadHandle<string, string>,
  model: Map<string, string>,
): void {
  {
    using view = read.guard();
    assertEquals(snapshot(view), sorted(model));
    assertEquals(view.size, [...view].length);
  }
  using clone = read.clone();
  using view = clone.guard();
  assertEquals(snapshot(view), sorted(model));
  assertEquals(view.size, [...view].length);
}

function attackedMap() {
  const attacker = new Attacker();
  const [write, read] = create({
    key: attacker.keyCodec,
    value: attacker.valueCodec,
    capacity: 1,
  });
  const model = new Map([
    ["victim", "v0"],
    ["other", "o0"],
    ["bystander", "b0"],
  ]);
  write.update((guard) => {
    for (const [key, value] of model) guard.set(key, value);
  });
  attacker.write = write;
  return { attacker, write, read, model, initial: new Map(model) };
}

Deno.test("WriteGuard refuses changes from codecs and replace() updates that read the guard first", () => {
  const { attacker, write, read, model, initial } = attackedMap();
  const guard = write.guard();
  attacker.guard = guard;
  attacker.armed = true;
  attacker.maxDepth = 0; // no nesting here: see the next test

  assertEquals(guard.insert("new", "n1"), undefined);
  model.set("new", "n1");
  guard.set("bystander", "b1");
  model.set("bystander", "b1");
  assertEquals(guard.replace("victim", attacker.update("+r")), "v0");
  model.set("victim", "v0+r");
  assertEquals(guard.remove("new"), "n1");
  model.delete("new");
  assertEquals(guard.delete("bystander"), true);
  model.delete("bystander");
  assertEquals(guard.get("other"), "o0");
  assert(guard.has("victim"));
  assert(attacker.checkRefused() >= 7 * 6);

  attacker.armed = false;
  checkGuard(guard, model);
  checkReaders(read, initial); // nothing published from inside
  attacker.armed = true;
  guard.publish(); // from outside: allowed
  assert(guard.published);
  attacker.armed = false;
  checkReaders(read, model);
  {
    using next = write.guard();
    checkGuard(next, model);
  }
  write.close();
  read.close();
});

Deno.test("WriteGuard refuses changes from callbacks nested in callbacks", () => {
  const { attacker, write, read, model, initial } = attackedMap();
  const guard = write.guard();
  attacker.guard = guard;
  attacker.armed = true;
  attacker.maxDepth = 2; // a decode inside an encode inside an encode...

  guard.insert("nested", "n1");
  model.set("nested", "n1");
  guard.replace("other", attacker.update("+r"));
  model.set("other", "o0+r");
  guard.set("victim", "v1");
  model.set("victim", "v1");
  assertEquals(guard.remove("nested"), "n1");
  model.delete("nested");
  // Every level of every callback tried every change, and none went through.
  const refused = attacker.checkRefused();
  assert(refused > 7 * 20, `only ${refused} attempts`);

  attacker.armed = false;
  checkGuard(guard, model);
  checkReaders(read, initial);
  guard.publish();
  checkReaders(read, model);
  {
    using next = write.guard();
    checkGuard(next, model);
  }
  write.close();
  read.close();
});

Deno.test("WriteGuard keeps refusing changes from callbacks after a callback threw", () => {
  const { attacker, write, read, model, initial } = attackedMap();
  const guard = write.guard();
  attacker.guard = guard;
  attacker.armed = true;
  attacker.maxDepth = 1;

  // A key encode that reads the guard, then throws: the insert fails.
  const boom = new Error("boom in a codec");
  attacker.throwNext = boom;
  assertThrows(() => guard.insert("lost", "x"), Error, "boom in a codec");
  attacker.armed = false;
  checkGuard(guard, model); // unchanged
  attacker.armed = true;

  // The next callback is still refused every change...
  guard.set("after", "a1");
  model.set("after", "a1");
  assert(attacker.checkRefused() > 0);

  // ...also after a replace() update that reads, then throws.
  const refused = new RangeError("boom in an update");
  assertThrows(
    () =>
      guard.replace("victim", (previous) => {
        attacker.guard?.get("other");
        assertEquals(attacker.guard?.get("victim"), previous);
        throw refused;
      }),
    RangeError,
    "boom in an update",
  );
  attacker.checkRefused();
  guard.replace("victim", attacker.update("+r"));
  model.set("victim", "v0+r");
  assert(attacker.checkRefused() > 0);

  // ...and after a value decode that reads, then throws, part way through
  // a remove.
  attacker.throwNext = new Error("boom in a decode");
  attacker.throwWhere = "value decode";
  assertThrows(() => guard.remove("other"), Error, "boom in a decode");
  assert(guard.has("other"));
  guard.set("again", "g1");
  model.set("again", "g1");
  assert(attacker.checkRefused() > 0);

  // Changes from outside any callback still work.
  attacker.armed = false;
  guard.insert("outside", "z");
  model.set("outside", "z");
  assert(guard.delete("bystander"));
  model.delete("bystander");
  checkGuard(guard, model);
  checkReaders(read, initial);
  guard.publish();
  checkReaders(read, model);
  write.close();
  read.close();
});

Deno.test("WriteGuard.abort() from outside takes back what callbacks tried", () => {
  const { attacker, write, read, model } = attackedMap();
  const guard = write.guard();
  attacker.guard = guard;
  attacker.armed = true;
  attacker.maxDepth = 1;
  guard.set("x", "1");
  guard.replace("victim", attacker.update("+r"));
  assert(attacker.checkRefused() > 0);
  attacker.armed = false;
  guard.abort();
  checkReaders(read, model);
  {
    using next = write.guard();
    checkGuard(next, model);
  }
  write.close();
  read.close();
});

Deno.test("WriteHandle.update() refuses changes from callbacks inside fn", () => {
  const { attacker, write, read, model } = attackedMap();
  attacker.armed = true;
  attacker.maxDepth = 1;
  write.update((guard) => {
    attacker.guard = guard;
    guard.set("u", "1");
    guard.replace("other", attacker.update("!"));
  });
  model.set("u", "1");
  model.set("other", "o0!");
  assert(attacker.checkRefused() > 0);
  attacker.armed = false;
  checkReaders(read, model);
  write.close();
  read.close();
});

Deno.test("WriteGuard refuses changes from codecs run by an iteration of the guard", () => {
  const { attacker, write, read, model, initial } = attackedMap();
  const guard = write.guard();
  attacker.guard = guard;
  guard.set("new", "n1");
  model.set("new", "n1");
  attacker.armed = true;
  attacker.maxDepth = 0;
  // Iterating decodes every key and value, from outside any other callback.
  const iterations: [string, () => unknown[]][] = [
    ["entries", () => [...guard.entries()]],
    ["keys", () => [...guard.keys()]],
    ["values", () => [...guard.values()]],
    ["iterator", () => [...guard]],
  ];
  for (const [name, iterate] of iterations) {
    try {
      iterate();
    } catch (error) {
      // An iteration may stop with a TypeError; it must not have changed
      // anything (checked below).
      assert(error instanceof TypeError, `${name}: ${error}`);
    }
  }
  attacker.armed = false;
  const made = attacker.attempts.length;
  assert(made > 0, "no callback ran during the iterations");
  const through = attacker.attempts
    .filter((attempt) => !(attempt.error instanceof TypeError))
    .map((attempt) => `${attempt.op} from ${attempt.where}`);
  attacker.attempts.length = 0;
  assertEquals(through, [], "changes went through from inside an iteration");
  assert(!guard.published && !guard.aborted);
  checkGuard(guard, model);
  checkReaders(read, initial);
  guard.publish();
  checkReaders(read, model);
  write.close();
  read.close();
});

Deno.test("WriteGuard refuses changes from a replace() update on a built-in codec", () => {
  const [write, read] = create({ value: codecs.number });
  write.update((guard) => guard.set("a", 1).set("b", 2));
  const errors: unknown[] = [];
  {
    using guard = write.guard();
    guard.replace("a", (n) => {
      for (let round = 0; round < 2; round++) {
        // A read, a nested replace() (refused), then every change.
        guard.get("b");
        [...guard.entries()];
        const tries = [
          () => guard.replace("b", (m) => m + 1),
          () => guard.insert("c", 3),
          () => guard.set("c", 3),
          () => guard.remove("b"),
          () => guard.delete("b"),
          () => guard.publish(),
          () => guard.abort(),
        ];
        for (const change of tries) {
          try {
            change();
            errors.push(null);
          } catch (error) {
            errors.push(error);
          }
        }
      }
      return n + 10;
    });
    assertEquals(guard.size, [...guard].length);
  }
  assertEquals(errors.length, 14);
  for (const error of errors) assert(error instanceof TypeError);
  {
    using view = read.guard();
    assertEquals(snapshot(view), new Map([["a", 11], ["b", 2]]));
    assertEquals(view.size, 2);
  }
  write.close();
  read.close();
});

// ------------------------------------------------------------ item 3

Deno.test("WriteGuard.replace() stores a bytes key under the bytes it had when called", () => {
  const [write, read] = create({ key: codecs.bytes, value: codecs.string });
  const key = Uint8Array.of(1, 2, 3, 4);
  write.update((guard) => guard.set(key.slice(), "before"));
  {
    using guard = write.guard();
    const mutable = key.slice();
    guard.replace(mutable, (previous) => {
      mutable.fill(9); // the caller changes its own key bytes
      mutable[0] = 7;
      return previous + " after";
    });
    assertEquals(guard.get(key), "before after");
    assertEquals(guard.get(Uint8Array.of(7, 9, 9, 9)), undefined);
    assertEquals(guard.size, 1);
    assertEquals(guard.size, [...guard].length);
    assertEquals([...guard.keys()], [key]);
  }
  {
    using view = read.guard();
    assertEquals(view.get(key), "before after");
    assertEquals(view.size, [...view].length);
    assertEquals(view.size, 1);
  }
  // The entry can still be removed by its original bytes.
  {
    using guard = write.guard();
    assertEquals(guard.remove(key), "before after");
    assertEquals(guard.size, 0);
  }
  write.close();
  read.close();
});

Deno.test("WriteGuard.insert() stores a bytes key under its bytes when the value codec changes them", () => {
  // The value codec runs after the key was taken: changing the key's bytes
  // from there must not change what is stored.
  const key = Uint8Array.of(10, 20, 30);
  const meddling: Codec<string> = {
    name: "test.meddling",
    canonical: false,
    encode: (value) => {
      key.fill(0);
      return new TextEncoder().encode(value);
    },
    decode: (bytes) => new TextDecoder().decode(bytes),
  };
  const [write, read] = create({ key: codecs.bytes, value: meddling });
  write.update((guard) => {
    guard.insert(key, "first");
    key.set([10, 20, 30]);
    guard.set(key, "second");
    key.set([10, 20, 30]);
    guard.set(Uint8Array.of(1), "third");
  });
  {
    using view = read.guard();
    assertEquals(view.get(Uint8Array.of(10, 20, 30)), "second");
    assertEquals(view.get(Uint8Array.of(0, 0, 0)), undefined);
    assertEquals(view.size, 2);
    assertEquals(view.size, [...view].length);
  }
  write.close();
  read.close();
});

/** A canonical int-key codec that writes every key into one shared array. */
function reusingKeyCodec(): KeyCodec<number> {
  const out = new Uint8Array(4);
  const view = new DataView(out.buffer);
  return {
    name: "test.reused-key",
    canonical: true,
    encode: (key) => {
      view.setInt32(0, key, true);
      return out;
    },
    decode: (bytes) =>
      new DataView(bytes.buffer, bytes.byteOffset, 4).getInt32(0, true),
  };
}

/** A string value codec that writes every value into one shared array. */
function reusingValueCodec(): Codec<string> {
  const out = new Uint8Array(64);
  return {
    name: "test.reused-value",
    canonical: false,
    encode: (value) => {
      const { written } = new TextEncoder().encodeInto(value, out);
      return out.subarray(0, written);
    },
    decode: (bytes) => new TextDecoder().decode(bytes),
  };
}

Deno.test("WriteGuard stores correct keys and values for codecs that reuse their output array", () => {
  const [write, read] = create({
    key: reusingKeyCodec(),
    value: reusingValueCodec(),
    capacity: 1,
  });
  const model = new Map<number, string>();
  for (let round = 0; round < 4; round++) {
    write.update((guard) => {
      for (let i = 0; i < 150; i++) {
        const key = (i * 7919 + round * 13) % 400 - 200;
        const value = `r${round} k${key}`.padEnd(5 + (i % 40), "*");
        assertEquals(guard.insert(key, value), model.get(key));
        model.set(key, value);
        if (i % 5 === 0) {
          guard.replace(key, (old) => old + "+");
          model.set(key, value + "+");
        }
        if (i % 11 === 0) {
          const gone = key + 1;
          assertEquals(guard.delete(gone), model.delete(gone));
        }
      }
      assertEquals(snapshot(guard), sorted(model));
    });
    {
      using view = read.guard();
      assertEquals(snapshot(view), sorted(model));
      assertEquals(view.size, model.size);
      for (let key = -201; key <= 201; key++) {
        assertEquals(view.get(key), model.get(key));
      }
    }
  }
  write.close();
  read.close();
});

Deno.test("WriteGuard looks keys up correctly with a key codec that reuses its output array", () => {
  // get/has/remove encode the key too: the probe must not see a later
  // encode's bytes in place of its own.
  const [write, read] = create({
    key: reusingKeyCodec(),
    value: reusingValueCodec(),
  });
  {
    using guard = write.guard();
    guard.set(1, "one").set(2, "two").set(3, "three");
    assertEquals(guard.get(2), "two");
    assertEquals(guard.remove(1), "one");
    assert(guard.has(3));
    assert(!guard.has(1));
    assertEquals(guard.replace(3, (old) => old + "!"), "three");
  }
  assertEquals(read.get(3), "three!");
  assertEquals(read.get(2), "two");
  assertEquals(read.get(1), undefined);
  write.close();
  read.close();
});

/**
 * A key codec and a value codec that share one scratch array for every
 * encode and decode, as a codec pair written for speed might.
 */
function sharedScratchCodecs(): {
  key: KeyCodec<number>;
  value: Codec<string>;
} {
  const scratch = new Uint8Array(256);
  const view = new DataView(scratch.buffer);
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  return {
    key: {
      name: "test.scratch-key",
      canonical: true,
      encode: (key) => {
        view.setInt32(0, key, true);
        return scratch.subarray(0, 4);
      },
      decode: (bytes) => {
        scratch.set(bytes);
        return view.getInt32(0, true);
      },
    },
    value: {
      name: "test.scratch-value",
      canonical: false,
      encode: (value) => {
        const { written } = encoder.encodeInto(value, scratch);
        return scratch.subarray(0, written);
      },
      decode: (bytes) => {
        scratch.set(bytes);
        return decoder.decode(scratch.slice(0, bytes.length));
      },
    },
  };
}

Deno.test("WriteGuard stores correct keys and values for codecs that share one output array", () => {
  // The key is encoded before the value, and insert() decodes the old value
  // after both: each must be taken before the next codec call overwrites it.
  const { key, value } = sharedScratchCodecs();
  const [write, read] = create({ key, value, capacity: 1 });
  const model = new Map<number, string>();
  for (let round = 0; round < 3; round++) {
    write.update((guard) => {
      for (let i = 0; i < 120; i++) {
        const k = (i * 31 + round) % 90;
        const v = `value ${round}/${i}`.padEnd(12 + (i % 30), "#");
        assertEquals(guard.insert(k, v), model.get(k));
        model.set(k, v);
        if (i % 7 === 0) {
          assertEquals(guard.replace(k, (old) => old + "?"), v);
          model.set(k, v + "?");
        }
        if (i % 9 === 0) guard.set(k + 1000, v);
        if (i % 9 === 0) model.set(k + 1000, v);
      }
      assertEquals(snapshot(guard), sorted(model));
      assertEquals(guard.size, [...guard].length);
    });
    using view = read.guard();
    assertEquals(snapshot(view), sorted(model));
    for (const [k, v] of model) assertEquals(view.get(k), v);
  }
  write.close();
  read.close();
});
