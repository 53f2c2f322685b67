/**
 * Attacks on the hardening of issue 9, written as a reviewer would try them:
 * zombie read handles whose slot generation comes round again, user codecs
 * that release a read guard in the middle of its own lookup or iteration,
 * and bad option values and ids given to every call that takes them.
 *
 * @module
 */

import {
  assert,
  assertEquals,
  assertNotEquals,
  assertThrows,
} from "@std/assert";
import {
  attach,
  codecs,
  create,
  DeadlockError,
  type KeyCodec,
} from "@x/flashmap";
// Header words, edited the way a forger would.
import {
  H_KEY_CODEC_LENGTH,
  H_KEY_CODEC_NAME,
  H_LAYOUT,
  H_MAGIC,
  H_MAX_COPIES,
  H_MAX_READERS,
  H_VALUE_CODEC_LENGTH,
  H_VALUE_CODEC_NAME,
  LAYOUT_VERSION,
} from "../src/layout.ts";

/** A deadlock guard for waits, never a timing assertion. */
const DEADLOCK_GUARD_MS = 20_000;

// ------------------------------------------------------------ workers

/** A reply of tests/workers/zombie_worker.ts. */
interface Reply {
  type: string;
  id?: number;
  value?: number | null;
  error?: string;
}

/** A zombie_worker.ts worker driven by request and reply. */
class Peer {
  readonly worker: Worker;
  readonly #inbox: Reply[] = [];
  #wake: (() => void) | null = null;
  #failure: string | null = null;

  constructor() {
    this.worker = new Worker(
      new URL("./workers/zombie_worker.ts", import.meta.url),
      { type: "module" },
    );
    this.worker.onmessage = (event: MessageEvent<Reply>) => {
      this.#inbox.push(event.data);
      this.#wake?.();
    };
    this.worker.onerror = (event) => {
      event.preventDefault();
      this.#failure = event.message;
      this.#wake?.();
    };
  }

  /** The next reply of `type` (the deadline is a deadlock guard). */
  async next(type: string): Promise<Reply> {
    const deadline = Date.now() + DEADLOCK_GUARD_MS;
    for (;;) {
      if (this.#failure !== null) {
        throw new Error(`worker failed: ${this.#failure}`);
      }
      const at = this.#inbox.findIndex((reply) => reply.type === type);
      if (at >= 0) return this.#inbox.splice(at, 1)[0];
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no "${type}" reply from the worker`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 500));
        this.#wake = () => {
          clearTimeout(timer);
          this.#wake = null;
          resolve();
        };
      });
    }
  }

  async ask(request: Record<string, unknown>): Promise<Reply> {
    this.worker.postMessage(request);
    return await this.next(request.type as string);
  }

  /** Attaches a new handle in the worker (it replaces the worker's `read`). */
  async attach(token: unknown): Promise<number> {
    const flags = new Int32Array(new SharedArrayBuffer(4 * 256));
    const reply = await this.ask({ type: "attach", token, flags });
    if (reply.error !== undefined) throw new Error(reply.error);
    return reply.id!;
  }

  static async start(): Promise<Peer> {
    const peer = new Peer();
    await peer.next("ready");
    return peer;
  }
}

/**
 * Slot generations are 11 bits: this many reclaims of one slot would bring
 * its generation round to the first handle's again.
 */
const GENERATIONS = 2048;

/**
 * A map with one read handle here (slot 0) and a zombie in a worker (slot
 * 1), reclaimed; then `GENERATIONS - 1` more handles of a second worker
 * reclaimed in that slot, whose generation has then come round to the
 * zombie's again; and a fresh handle, which must not be given that slot.
 */
async function zombieAfterGenerationWrap() {
  const [write, read] = create({
    key: codecs.string,
    value: codecs.number,
    maxReaders: 3,
  });
  write.update((guard) => guard.set("v", 1));
  const zombie = await Peer.start();
  const cycler = await Peer.start();
  const zombieId = await zombie.attach(read.share());
  const opened = await zombie.ask({ type: "open" });
  assertEquals(opened.value, 1);
  write.reclaim(zombieId); // the zombie keeps running: its handle is inert
  for (let i = 1; i < GENERATIONS; i++) {
    write.reclaim(await cycler.attach(read.share()));
  }
  const freshId = await cycler.attach(read.share());
  assert(freshId !== zombieId, "ids are unique over the map's life");
  assertNotEquals(
    freshId % 65_536,
    zombieId % 65_536,
    "a slot whose generation came round is retired",
  );
  return { write, read, zombie, cycler, freshId };
}

Deno.test({
  name:
    "WriteHandle.reclaim() retires a slot before its generation comes round, and a zombie's late release from it changes no other handle",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const { write, read, zombie, cycler } = await zombieAfterGenerationWrap();
    try {
      // The zombie leaves the guard it held before it was reclaimed.
      const late = await zombie.ask({ type: "release" });
      assertEquals(late.error, undefined);
      // The fresh handle must be untouched by that.
      const fresh = await cycler.ask({ type: "open" });
      assertEquals(
        fresh.error,
        undefined,
        "the fresh handle was corrupted by the zombie's late release",
      );
      assertEquals(fresh.value, 1);
      assertEquals((await cycler.ask({ type: "release" })).error, undefined);
      // And the writer is not left waiting for guards nobody holds.
      write.update((guard) => guard.set("v", 2));
      write.update((guard) => guard.set("v", 3), {
        timeoutMs: DEADLOCK_GUARD_MS,
      });
      assertEquals(read.get("v"), 3);
    } finally {
      zombie.worker.terminate();
      cycler.worker.terminate();
    }
  },
});

Deno.test({
  name:
    "WriteHandle.reclaim() retires a slot before its generation comes round, and a zombie's late guard() from it throws",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const { zombie, cycler } = await zombieAfterGenerationWrap();
    try {
      // A late enter through the reclaimed handle must throw a TypeError.
      const late = await zombie.ask({ type: "open" });
      assert(
        late.error !== undefined && /reclaimed/.test(late.error),
        `the reclaimed handle opened a guard (read ${late.value}) on the slot of another handle`,
      );
      const fresh = await cycler.ask({ type: "open" });
      assertEquals(fresh.error, undefined);
      assertEquals((await cycler.ask({ type: "release" })).error, undefined);
    } finally {
      zombie.worker.terminate();
      cycler.worker.terminate();
    }
  },
});

// ------------------------------------- callbacks that release a read guard

/**
 * String keys through a user codec whose `encode` or `decode` runs `hook`
 * once when armed.
 */
function hookedStrings(): KeyCodec<string> & {
  onEncode: (() => void) | null;
  onDecode: (() => void) | null;
} {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const codec = {
    name: "test.attack-hooked-string",
    canonical: true as const,
    onEncode: null as (() => void) | null,
    onDecode: null as (() => void) | null,
    encode(value: string): Uint8Array {
      const hook = codec.onEncode;
      codec.onEncode = null;
      hook?.();
      return encoder.encode(value);
    },
    decode(bytes: Uint8Array): string {
      const hook = codec.onDecode;
      codec.onDecode = null;
      hook?.();
      return decoder.decode(bytes);
    },
  };
  return codec;
}

for (const method of ["get", "has"] as const) {
  Deno.test(`ReadGuard.${method}() never answers from another version when its key codec releases the guard and the writer publishes meanwhile`, () => {
    const keys = hookedStrings();
    const [write, read] = create({ key: keys, value: codecs.number });
    write.update((guard) => guard.set("a", 1).set("gone", 0));
    const view = read.guard();
    keys.onEncode = () => {
      view.release();
      // The writer may now take back the copy the guard was reading.
      write.update((guard) => guard.set("a", 2).delete("gone"));
      write.update((guard) => guard.set("a", 3).set("new", 9));
    };
    // The snapshot held a = 1, gone = 0 and no "new": anything else is
    // a read of a version the guard never saw. A TypeError (released
    // guard) is fine too.
    const key = method === "get" ? "a" : "new";
    let answer: unknown;
    try {
      answer = view[method](key);
    } catch (error) {
      assert(error instanceof TypeError, `unexpected ${error}`);
      answer = "TypeError";
    }
    assert(
      answer === "TypeError" || answer === (method === "get" ? 1 : false),
      `a released guard answered ${
        JSON.stringify(answer)
      } from a later version`,
    );
    assertEquals(read.get("a"), 3);
    read.close();
    write.close();
  });
}

Deno.test("ReadGuard.entries() never pairs a key with another version's value when the key codec releases the guard and the writer publishes meanwhile", () => {
  const keys = hookedStrings();
  const [write, read] = create({ key: keys, value: codecs.number });
  write.update((guard) => guard.set("a", 1));
  const view = read.guard();
  const iterator = view.entries();
  keys.onDecode = () => {
    view.release();
    write.update((guard) => guard.set("a", 2));
    write.update((guard) => guard.set("a", 3));
  };
  let answer: unknown;
  try {
    answer = iterator.next().value;
  } catch (error) {
    assert(error instanceof TypeError, `unexpected ${error}`);
    answer = "TypeError";
  }
  assert(
    answer === "TypeError" ||
      JSON.stringify(answer) === JSON.stringify(["a", 1]),
    `a released guard's iterator yielded ${JSON.stringify(answer)}`,
  );
  assertEquals(read.get("a"), 3);
  read.close();
  write.close();
});

Deno.test("ReadHandle.get() answers from one version when the key codec's encode publishes twice", () => {
  const keys = hookedStrings();
  const [write, read] = create({ key: keys, value: codecs.number });
  write.update((guard) => guard.set("a", 1));
  keys.onEncode = () => {
    write.update((guard) => guard.set("a", 2));
    write.update((guard) => guard.set("a", 3));
  };
  // Encoding runs before the guard: the lookup sees the latest version.
  assertEquals(read.get("a"), 3);
  read.close();
  write.close();
});

// ---------------------------------------------------- bad options and ids

/** Every kind of bad `timeoutMs`, and what it must throw. */
const BAD_TIMEOUTS: Array<[unknown, typeof TypeError | typeof RangeError]> = [
  ["10", TypeError],
  [10n, TypeError],
  [true, TypeError],
  [{}, TypeError],
  [[10], TypeError],
  [Symbol("ms"), TypeError],
  [() => 10, TypeError],
  [NaN, RangeError],
  [-1, RangeError],
  [-Infinity, RangeError],
  [-0.5, RangeError],
];

Deno.test("WriteHandle.guard(), synchronize(), update() and reclaim() refuse every bad timeoutMs with the map unchanged", async () => {
  const [write, read] = create({ value: codecs.number });
  write.update((guard) => guard.set("a", 1));
  const other = read.clone();
  const id = other.id;
  for (const [timeoutMs, expected] of BAD_TIMEOUTS) {
    const options = { timeoutMs } as { timeoutMs: number };
    let called = false;
    assertThrows(() => write.guard(options), expected, "timeoutMs");
    assertThrows(() => write.synchronize(options), expected, "timeoutMs");
    assertThrows(
      () =>
        write.update((guard) => {
          called = true;
          guard.set("a", 2);
        }, options),
      expected,
      "timeoutMs",
    );
    let rejected: unknown = null;
    try {
      await write.updateAsync((guard) => {
        called = true;
        guard.set("a", 2);
      }, options);
    } catch (error) {
      rejected = error;
    }
    assert(rejected instanceof expected, `updateAsync: ${rejected}`);
    rejected = null;
    try {
      await write.guardAsync(options);
    } catch (error) {
      rejected = error;
    }
    assert(rejected instanceof expected, `guardAsync: ${rejected}`);
    assertThrows(() => write.reclaim(id, options), expected, "timeoutMs");
    assertEquals(called, false, `fn ran for timeoutMs ${String(timeoutMs)}`);
  }
  for (const options of [null, 5, "x", true]) {
    assertThrows(
      () => write.guard(options as unknown as { timeoutMs: number }),
      TypeError,
    );
  }
  // Nothing changed, and the writer still works.
  assertEquals(read.get("a"), 1);
  assertEquals(other.get("a"), 1);
  write.update((guard) => guard.set("a", 3), { timeoutMs: Infinity });
  write.update((guard) => guard.set("a", 4), { timeoutMs: 0 });
  assertEquals(read.get("a"), 4);
  other.close();
  read.close();
  write.close();
});

Deno.test("WriteHandle.guard(), synchronize(), update() and reclaim() refuse a timeoutMs of null with a TypeError instead of waiting without limit", () => {
  const [write, read] = create({ value: codecs.number });
  write.update((guard) => guard.set("a", 1));
  // Not a number: like "10", it must be refused, not read as "no limit".
  // For reclaim() it even lifts the registry lock's default 2 s bound.
  const options = { timeoutMs: null } as unknown as { timeoutMs: number };
  const outcomes: string[] = [];
  const attempt = (name: string, action: () => void) => {
    try {
      action();
      outcomes.push(`${name}: accepted`);
    } catch (error) {
      if (!(error instanceof TypeError && /timeoutMs/.test(error.message))) {
        outcomes.push(`${name}: ${error}`);
      }
    }
  };
  attempt("guard", () => write.guard(options).publish());
  attempt("synchronize", () => write.synchronize(options));
  attempt("update", () => write.update((guard) => guard.set("a", 2), options));
  attempt("reclaim", () => write.reclaim(3, options));
  assertEquals(outcomes, []);
  read.close();
  write.close();
});

Deno.test("WriteHandle.reclaim() refuses ids that are not numbers with a TypeError, and numbers that name no open handle with a RangeError, and frees nothing", () => {
  const [write, read] = create({ maxReaders: 4 });
  write.update((guard) => guard.set("a", "1"));
  const other = read.clone();
  const bad: unknown[] = [
    -1,
    -0.5,
    0.5,
    other.id + 0.5,
    NaN,
    Infinity,
    -Infinity,
    2 ** 53,
    Number.MAX_VALUE,
    String(other.id),
    BigInt(other.id),
    null,
    undefined,
    {},
    [other.id],
    other.id + 65_536, // a later registration of the same slot
    other.id - 65_536, // an earlier one
    3, // a slot never used
    65_535, // a slot past maxReaders
  ];
  for (const id of bad) {
    const error = assertThrows(() => write.reclaim(id as number));
    // A wrong type is a TypeError; a number that names no open handle, a
    // RangeError.
    const expected = typeof id === "number" ? RangeError : TypeError;
    assert(
      error instanceof expected,
      `reclaim(${String(id)}): ${error}`,
    );
  }
  // Both handles are still open and usable.
  assertEquals(read.get("a"), "1");
  assertEquals(other.get("a"), "1");
  using view = other.guard();
  assertEquals(view.get("a"), "1");
  view.release();
  other.close();
  read.close();
  write.close();
});

// -------------------------------------------- nested guards, at the limit

Deno.test("ReadHandle.guard() refuses the 1024th live guard with a RangeError and the writer still waits for all 1023", () => {
  // Two copies: the writer has no spare copy, so it must wait for the guards.
  const [write, read] = create({ value: codecs.number, maxCopies: 2 });
  write.update((guard) => guard.set("a", 1));
  const other = read.clone();
  const guards = [];
  for (let i = 0; i < 1023; i++) guards.push(other.guard());
  assertThrows(() => other.guard(), RangeError);
  assertThrows(() => other.get("a"), RangeError);
  assertThrows(() => other.has("a"), RangeError);
  write.update((guard) => guard.set("a", 2));
  // All 1023 guards hold the old snapshot, and the writer must wait for them.
  for (const guard of guards) assertEquals(guard.get("a"), 1);
  assertThrows(() => write.guard(), DeadlockError);
  for (let i = 0; i < 1022; i++) guards[i].release();
  assertThrows(() => write.guard(), DeadlockError);
  assertEquals(guards[1022].get("a"), 1);
  guards[1022].release();
  write.update((guard) => guard.set("a", 3), { timeoutMs: DEADLOCK_GUARD_MS });
  assertEquals(other.get("a"), 3);
  other.close();
  read.close();
  write.close();
});

Deno.test("ReadHandle with 1023 guards across a publish pins one version, and enters again once they leave", () => {
  const [write, read] = create({ value: codecs.number });
  write.update((guard) => guard.set("a", 1));
  const guards = [];
  for (let i = 0; i < 1023; i++) guards.push(read.guard());
  // The writer goes on with spare copies: the guards become residual.
  write.update((guard) => guard.set("a", 2), { timeoutMs: 0 });
  write.update((guard) => guard.set("a", 3), { timeoutMs: 0 });
  assertEquals(write.stats().pinned.map((pinned) => pinned.readers), [[
    read.id,
  ]]);
  for (const guard of guards) assertEquals(guard.get("a"), 1);
  for (const guard of guards) guard.release();
  // None of them counts against the handle's limit any more.
  assertEquals(read.get("a"), 3);
  const again = [];
  for (let i = 0; i < 1023; i++) again.push(read.guard());
  assertThrows(() => read.guard(), RangeError);
  for (const guard of again) guard.release();
  write.synchronize();
  assertEquals(write.stats().pinned, []);
  read.close();
  write.close();
});

// ------------------------------------------------ abort, publish, update

Deno.test("WriteHandle.update() aborts what fn did when fn throws after reading the guard from a replace() update", () => {
  const [write, read] = create({ value: codecs.number });
  write.update((guard) => guard.set("a", 1).set("b", 2));
  assertThrows(
    () =>
      write.update((guard) => {
        guard.set("c", 3);
        guard.replace("a", (old) => {
          // Reads from inside a callback are allowed; changes are not.
          assertEquals(guard.get("b"), 2);
          assertThrows(() => guard.abort(), TypeError);
          assertThrows(() => guard.publish(), TypeError);
          return old + 10;
        });
        guard.delete("b");
        throw new Error("half way");
      }),
    Error,
    "half way",
  );
  using view = read.guard();
  assertEquals([...view].sort(), [["a", 1], ["b", 2]]);
  view.release();
  // The writer's copy is the last published version again.
  write.update((guard) => {
    assertEquals(guard.size, 2);
    assertEquals(guard.get("a"), 1);
    assertEquals(guard.has("c"), false);
  });
  read.close();
  write.close();
});

// ------------------------------------------------------- forged buffers

Deno.test("attach() refuses a buffer with any forged header word with a TypeError, and the map stays as it was", () => {
  const [write, read] = create({
    key: codecs.int32,
    value: codecs.number,
    maxReaders: 4,
  });
  write.update((guard) => guard.set(1, 1.5).set(2, 2.5));
  const token = read.share();
  const header = new Int32Array(token.buffer, 0, 32);
  const forgeries: Array<[number, number]> = [
    [H_MAGIC, 0],
    [H_LAYOUT, LAYOUT_VERSION - 1],
    [H_LAYOUT, LAYOUT_VERSION + 1],
    [H_MAX_READERS, 0],
    [H_MAX_READERS, -1],
    [H_MAX_READERS, 2 ** 30],
    [H_MAX_READERS, 0x7fffffff],
    [H_MAX_READERS, 5], // more slots than there are: the names move
    [H_KEY_CODEC_NAME, -1],
    [H_KEY_CODEC_NAME, 0],
    [H_KEY_CODEC_NAME, 0x7fffffff],
    [H_KEY_CODEC_LENGTH, -1],
    [H_KEY_CODEC_LENGTH, 0],
    [H_KEY_CODEC_LENGTH, 2 ** 30],
    [H_VALUE_CODEC_NAME, 0x40000000],
    [H_VALUE_CODEC_LENGTH, -0x80000000],
    [H_VALUE_CODEC_LENGTH, 1],
  ];
  for (const [word, forged] of forgeries) {
    const kept = header[word];
    header[word] = forged;
    try {
      assertThrows(
        () => attach(token),
        TypeError,
        undefined,
        `header word ${word} = ${forged}`,
      );
    } finally {
      header[word] = kept;
    }
  }
  // Readers never read the writer's copy limit: a forged one changes nothing
  // for them, nor for the writer, which keeps its own.
  for (const forged of [0, -1, 1, 17, 0x7fffffff]) {
    const kept = header[H_MAX_COPIES];
    header[H_MAX_COPIES] = forged;
    try {
      using other = attach(token);
      assertEquals(other.get(2), 2.5, `header word 7 = ${forged}`);
    } finally {
      header[H_MAX_COPIES] = kept;
    }
  }
  assertEquals(write.stats().maxCopies, 8);
  // Tokens naming other codecs than the buffer's are refused too.
  for (const names of [{ key: "string" }, { value: "int32" }, { key: "" }]) {
    assertThrows(() => attach({ ...token, ...names }), TypeError);
  }
  assertThrows(
    () => attach(token, { key: codecs.string as never }),
    TypeError,
  );
  // No slot leaked: the three other slots are free, and the map is intact.
  const others = [attach(token), attach(token), read.clone()];
  for (const other of others) assertEquals(other.get(2), 2.5);
  for (const other of others) other.close();
  write.update((guard) => guard.set(3, 3.5));
  assertEquals(read.get(3), 3.5);
  read.close();
  write.close();
});

Deno.test("bytes keys and values that run code when read (a Uint8Array subclass, an own length getter, a user codec's output) are copied without running it, for every operation", () => {
  let ran = 0;
  class Loud extends Uint8Array {
    override get length(): number {
      ran++;
      return super.length;
    }
  }
  const loud = (...bytes: number[]) => {
    const value = new Loud(bytes.length);
    value.set(bytes);
    return value;
  };
  const ownLength = (...bytes: number[]) => {
    const value = Uint8Array.from(bytes);
    Object.defineProperty(value, "length", {
      get() {
        ran++;
        return bytes.length;
      },
    });
    return value;
  };
  const userCodec: KeyCodec<string> = {
    name: "test:loud-bytes",
    canonical: true,
    encode: (text: string) => loud(...new TextEncoder().encode(text)),
    decode: (bytes: Uint8Array) => new TextDecoder().decode(bytes),
  };
  for (const make of [loud, ownLength]) {
    const [write, read] = create({ key: codecs.bytes, value: codecs.bytes });
    write.update((guard) => {
      guard.insert(make(1, 2), make(3, 4));
      guard.set(make(5), make(6, 7, 8));
      assertEquals([...guard.get(make(1, 2))!], [3, 4]);
      assert(guard.has(make(5)));
      guard.replace(make(5), () => make(9));
      assertEquals([...guard.remove(make(5))!], [9]);
      assert(!guard.delete(make(5)));
    });
    {
      using view = read.guard();
      assertEquals([...view.get(make(1, 2))!], [3, 4]);
      assert(!view.has(make(5)));
    }
    assertEquals([...read.get(make(1, 2))!], [3, 4]);
    read.close();
    write.close();
  }
  const [write, read] = create({ key: userCodec, value: codecs.int32 });
  write.update((guard) => guard.insert("a", 1));
  assertEquals(read.get("a"), 1);
  write.update((guard) => assertEquals(guard.remove("a"), 1));
  assertEquals(read.get("a"), undefined);
  read.close();
  write.close();
  assertEquals(ran, 0, "no getter of the caller's arrays ran");
});
