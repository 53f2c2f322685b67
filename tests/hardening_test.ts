/**
 * Hardening, in one thread through the public API: guards entered and left
 * at every stack depth near exhaustion, a handle closed from inside its own
 * codec, tokens that lie about their codecs, a registry lock held by a
 * thread that is gone, and the last odd inputs. After each fault the map is
 * checked as it was, and the writer and the readers go on working.
 *
 * @module
 */

import {
  assert,
  assertEquals,
  assertNotEquals,
  assertRejects,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import {
  attach,
  type Codec,
  codecs,
  create,
  type KeyCodec,
  ReaderLimitError,
  type ReadHandle,
  type ReadToken,
  type WaitOptions,
  WaitTimeoutError,
  type WriteHandle,
} from "@x/flashmap";
import {
  C_REGISTRY_EPOCH,
  C_REGISTRY_LOCK,
  C_REGISTRY_OWNER,
  S_OWNER,
  slotBase,
} from "../src/layout.ts";
import { ID_SLOTS } from "../src/protocol.ts";
import { pinnedReaders } from "./utils.ts";

/** A deadlock guard for the writer's waits, never a timing assertion. */
const DEADLOCK_GUARD_MS = 1_000;

/** Passes a value of the wrong type past the type checker. */
function wrong<T>(value: unknown): T {
  return value as T;
}

/** The map's own words, to forge or inspect what the public API cannot. */
function wordsOf<K, V>(read: ReadHandle<K, V>): Int32Array {
  return new Int32Array(read.share().buffer);
}

/**
 * Publishes `key` = `value`, then publishes again and opens one more write
 * guard, which lets go of every retired copy no guard reads: a guard count
 * left behind anywhere keeps a copy pinned, which `stats()` shows (and
 * with `maxCopies: 2` the writer would wait for it: a `DeadlockError` for a
 * count this thread still holds, a `WaitTimeoutError` for one stranded in
 * shared memory).
 */
function writerWorks(
  write: WriteHandle<string, number>,
  read: ReadHandle<string, number>,
  key: string,
  value: number,
): void {
  write.update((guard) => guard.set(key, value), {
    timeoutMs: DEADLOCK_GUARD_MS,
  });
  write.update((guard) => guard.set(key, value + 1), {
    timeoutMs: DEADLOCK_GUARD_MS,
  });
  write.guard({ timeoutMs: DEADLOCK_GUARD_MS }).publish();
  assertEquals(read.get(key), value + 1);
  const stats = write.stats();
  assertEquals(stats.pinned, []);
  assertEquals(stats.copies, 2, "a retired copy was not let go");
}

// ------------------------------------------------- item 4: stack exhaustion

/** What one call made near the stack limit did. */
interface Attempt<T> {
  ran: boolean;
  value?: T;
  error?: unknown;
}

/**
 * Runs `action` once, `offset` frames above the deepest frame the stack
 * allows: recurses until the engine throws its out-of-stack `RangeError`,
 * then, unwinding, calls `action` in the frame `offset` levels up. Successive
 * offsets give the action successively more stack, so that it runs out at
 * every point of its own code in turn.
 */
function nearStackLimit<T>(offset: number, action: () => T): Attempt<T> {
  const attempt: Attempt<T> = { ran: false };
  let above = -1;
  const down = (): void => {
    try {
      down();
    } catch {
      if (above < 0) above = 0; // the deepest frame: the call below ran out of stack
    }
    if (above === offset) {
      attempt.ran = true;
      try {
        attempt.value = action();
      } catch (error) {
        attempt.error = error;
      }
    }
    above++;
  };
  down();
  return attempt;
}

/**
 * Attempts go on, one frame higher each time, until this many in a row
 * succeeded (every one higher up then has stack enough), but not past
 * `MAX_OFFSET` frames (registry operations make sure of a few hundred).
 */
const SUCCESSES_IN_A_ROW = 30;
const MAX_OFFSET = 2_500;
/**
 * An attempt first made with stack to spare, so that the code it runs is
 * compiled: compiling a function on its first call takes far more stack
 * than running it, and would hide the action's own steps behind that.
 */
const WARM_UP = 3_000;

/** Whether `error` is the engine's out-of-stack error. */
function isStackOverflow(error: unknown): boolean {
  return error instanceof RangeError &&
    /call stack|too much recursion/i.test(error.message);
}

/**
 * Tries `action` at every offset from the stack limit: `setup` runs before
 * each attempt and `check` after it, both at normal depth. Asserts that the
 * action threw nothing but out-of-stack errors, and that some attempts ran
 * out of stack and some succeeded (not vacuous).
 */
function atEveryDepth<S, T>(
  setup: () => S,
  action: (state: S) => T,
  check: (state: S, attempt: Attempt<T>, offset: number) => void,
): void {
  let overflowed = 0;
  let succeeded = 0;
  let inARow = 0;
  for (let i = -1; i < MAX_OFFSET && inARow < SUCCESSES_IN_A_ROW; i++) {
    const offset = i < 0 ? WARM_UP : i;
    const state = setup();
    const attempt = nearStackLimit(offset, () => action(state));
    assert(attempt.ran, `offset ${offset}: the action never ran`);
    if ("error" in attempt) {
      assert(
        isStackOverflow(attempt.error),
        `offset ${offset}: unexpected ${attempt.error}`,
      );
      overflowed++;
      inARow = 0;
    } else {
      succeeded++;
      if (i >= 0) inARow++;
    }
    check(state, attempt, offset);
  }
  assert(overflowed > 0, "no attempt ran out of stack");
  assert(
    inARow === SUCCESSES_IN_A_ROW,
    `still failing ${MAX_OFFSET} frames above the stack limit`,
  );
}

function numberMap() {
  return create({ key: codecs.string, value: codecs.number, maxReaders: 8 });
}

/**
 * The writer's side of the checks: `n` counts up with every call, and the
 * writer publishes it twice (`writerWorks`). Returns the value readers see.
 */
function nextVersion(
  write: WriteHandle<string, number>,
  read: ReadHandle<string, number>,
): () => number {
  let version = 0;
  writerWorks(write, read, "n", version);
  return () => {
    version += 2;
    writerWorks(write, read, "n", version);
    return version + 1;
  };
}

for (const residual of [false, true]) {
  Deno.test(
    `ReadGuard.release() out of stack leaves a${
      residual ? " residual" : ""
    } guard either released or live and releasable`,
    () => {
      const [write, read] = numberMap();
      const publishNext = nextVersion(write, read);
      let released = 0;
      let again = 0;
      atEveryDepth(
        () => {
          const handle = read.clone();
          const guard = handle.guard();
          if (residual) write.guard({ timeoutMs: DEADLOCK_GUARD_MS }).publish();
          // A publish with nothing to publish does not flip: make a change.
          if (residual) {
            write.update((g) => g.set("r", released + again), {
              timeoutMs: DEADLOCK_GUARD_MS,
            });
          }
          return { handle, guard };
        },
        ({ guard }) => guard.release(),
        ({ handle, guard }, attempt) => {
          if (guard.released) {
            released++;
          } else {
            assert("error" in attempt, "not released, yet no error");
            guard.release(); // still live: a later release works
            assert(guard.released);
            again++;
          }
          publishNext(); // waits for every guard of the old copy
          handle.close(); // throws if a guard of the handle still counts
        },
      );
      assert(released > 0 && again > 0, `${released} released, ${again} again`);
      read.close();
      write.close();
    },
  );
}

for (const method of ["get", "has"] as const) {
  Deno.test(`ReadHandle.${method}() out of stack leaves no guard behind`, () => {
    const [write, read] = numberMap();
    const publishNext = nextVersion(write, read);
    let expected = 1;
    atEveryDepth(
      () => read.clone(),
      (handle) => handle[method]("n"),
      (handle, attempt) => {
        if (!("error" in attempt)) {
          assertEquals(attempt.value, method === "get" ? expected : true);
        }
        // Before close(), which would reset the handle's word.
        expected = publishNext();
        handle.close(); // throws if a guard of the handle still counts
      },
    );
    read.close();
    write.close();
  });
}

Deno.test("ReadHandle.guard() out of stack either opens a guard or leaves none counted", () => {
  const [write, read] = numberMap();
  const publishNext = nextVersion(write, read);
  let expected = 1;
  atEveryDepth(
    () => read.clone(),
    (handle) => handle.guard(),
    (handle, attempt) => {
      if (!("error" in attempt)) {
        const guard = attempt.value!;
        assertEquals(guard.get("n"), expected);
        guard.release();
      }
      // Before close(), which would reset the handle's word.
      expected = publishNext();
      handle.close(); // throws if a guard was counted but never returned
    },
  );
  read.close();
  write.close();
});

Deno.test("ReadGuard.get() of string keys out of stack leaves no cached answer that a later guard of the same version could misread", () => {
  // Number values are read into the cache with a call, so an overflow can
  // cut a record's writing short; every key is looked up often enough to be
  // admitted.
  const [write, read] = numberMap();
  const keys = Array.from({ length: 24 }, (_, i) => `key-${i}`);
  let round = 0;
  const model = new Map<string, number>();
  atEveryDepth(
    () => {
      round++;
      write.update((guard) => {
        for (const key of keys) {
          guard.insert(key, round + keys.indexOf(key) / 100);
          model.set(key, round + keys.indexOf(key) / 100);
        }
      });
    },
    () => {
      const guard = read.guard();
      try {
        for (let pass = 0; pass < 6; pass++) {
          for (const key of keys) guard.get(key);
        }
      } finally {
        guard.release();
      }
    },
    () => {
      // The same version, at normal depth: every answer, cached or not.
      using guard = read.guard();
      for (let pass = 0; pass < 6; pass++) {
        for (const key of keys) assertEquals(guard.get(key), model.get(key));
      }
    },
  );
  read.close();
  write.close();
});

Deno.test("ReadHandle.clone() out of stack leaks no registry slot and leaves the lock free", () => {
  const [write, read] = create({
    key: codecs.string,
    value: codecs.number,
    maxReaders: 3,
  });
  const publishNext = nextVersion(write, read);
  atEveryDepth(
    () => undefined,
    () => read.clone(),
    (_, attempt) => {
      if (!("error" in attempt)) attempt.value!.close();
      // Both other slots are free: no slot leaked, and the lock is free.
      const a = read.clone();
      const b = read.clone();
      a.close();
      b.close();
      publishNext();
    },
  );
  read.close();
  write.close();
});

Deno.test("ReadHandle.close() out of stack either closes the handle or leaves it open and closable", () => {
  const [write, read] = create({
    key: codecs.string,
    value: codecs.number,
    maxReaders: 3,
  });
  const publishNext = nextVersion(write, read);
  atEveryDepth(
    () => read.clone(),
    (handle) => handle.close(),
    (handle, attempt) => {
      if (!handle.closed) {
        assert("error" in attempt, "not closed, yet no error");
        assertEquals(handle.get("n") !== undefined, true); // still usable
        handle.close();
      }
      const a = read.clone();
      const b = read.clone();
      a.close();
      b.close();
      publishNext();
    },
  );
  read.close();
  write.close();
});

Deno.test("WriteHandle.update() out of stack publishes all of its batch or none of it, and leaves no live write guard", () => {
  const [write, read] = numberMap();
  const publishNext = nextVersion(write, read);
  let last = -1;
  let batch = 0;
  write.update((g) => g.set("a", last).set("b", last));
  atEveryDepth(
    () => ++batch,
    (value) => write.update((g) => g.set("a", value).set("b", value)),
    (value, attempt) => {
      // No write guard was left live: a new one opens.
      write.guard({ timeoutMs: DEADLOCK_GUARD_MS }).publish();
      const a = read.get("a");
      assertEquals(read.get("b"), a, "all of the batch or none of it");
      assertEquals(
        a,
        "error" in attempt ? last : value,
        "a failed batch is not published, a batch that returned is",
      );
      last = a!;
      publishNext();
    },
  );
  read.close();
  write.close();
});

// ------------------------------- item 5: a handle closed by its own codec

/** String keys through a user codec that can run `hook` inside `encode`. */
function hookedKeys(): KeyCodec<string> & { hook: (() => void) | null } {
  const codec = {
    name: "test.hooked-string",
    canonical: true as const,
    hook: null as (() => void) | null,
    encode(value: string): Uint8Array {
      const hook = codec.hook;
      codec.hook = null; // once
      if (hook !== null) hook();
      return new TextEncoder().encode(value);
    },
    decode: (bytes: Uint8Array) => new TextDecoder().decode(bytes),
  };
  return codec;
}

/** Number values through a user codec that can run `hook` inside `decode`. */
function hookedValues(): Codec<number> & { hook: (() => void) | null } {
  const codec = {
    name: "test.hooked-number",
    canonical: true,
    hook: null as (() => void) | null,
    encode: (value: number) => codecs.number.encode(value),
    decode(bytes: Uint8Array): number {
      const hook = codec.hook;
      codec.hook = null;
      if (hook !== null) hook();
      return codecs.number.decode(bytes);
    },
  };
  return codec;
}

for (const method of ["get", "has"] as const) {
  Deno.test(`ReadHandle.${method}() throws a TypeError when the key codec closes the handle, and a clone that takes the slot works`, () => {
    const key = hookedKeys();
    const [write, read] = create({
      key,
      value: codecs.number,
      maxReaders: 3,
    });
    write.update((g) => g.set("a", 1).set("b", 2));
    const victim = read.clone();
    const victimSlot = victim.id % ID_SLOTS;
    let taken: ReadHandle<string, number> | undefined;
    key.hook = () => {
      victim.close();
      taken = read.clone(); // takes the freed slot at once
    };
    assertThrows(() => victim[method]("a"), TypeError, "closed");
    assert(victim.closed);
    assert(taken !== undefined);
    assertEquals(taken.id % ID_SLOTS, victimSlot);
    assertNotEquals(taken.id, victim.id);
    // The handle in the slot reads, and its guards count.
    assertEquals(taken.get("a"), 1);
    const guard = taken.guard();
    write.update((g) => g.set("a", 10), { timeoutMs: DEADLOCK_GUARD_MS });
    // Its guard pins the version it reads, under its own id.
    assertEquals(pinnedReaders(write), [[taken.id]]);
    assertEquals(guard.get("a"), 1);
    guard.release();
    for (let round = 0; round < 3; round++) {
      write.update((g) => g.set("b", round), { timeoutMs: DEADLOCK_GUARD_MS });
      assertEquals(taken.get("b"), round);
    }
    assertEquals(pinnedReaders(write), []); // its release counted
    // A clone made afterwards works too.
    using later = read.clone();
    assertEquals(later.get("a"), 10);
    taken.close();
    assertThrows(() => victim.get("a"), TypeError, "closed");
  });
}

Deno.test("ReadHandle.get() throws a TypeError when the key codec closes the handle, and the writer goes on", () => {
  const key = hookedKeys();
  const [write, read] = create({ key, value: codecs.number });
  write.update((g) => g.set("a", 1));
  const victim = read.clone();
  key.hook = () => victim.close();
  assertThrows(() => victim.get("a"), TypeError, "closed");
  for (let round = 0; round < 3; round++) {
    const guard = read.guard();
    write.update((g) => g.set("a", round), { timeoutMs: DEADLOCK_GUARD_MS });
    guard.release();
    write.guard({ timeoutMs: DEADLOCK_GUARD_MS }).publish();
    assertEquals(read.get("a"), round);
  }
  using clone = read.clone();
  assertEquals(clone.get("a"), 2);
});

Deno.test("ReadGuard.get() passes on the TypeError of a close() from inside the value codec, and the guard stays live", () => {
  const value = hookedValues();
  const [write, read] = create({ key: codecs.string, value, maxReaders: 3 });
  write.update((g) => g.set("a", 1));
  const handle = read.clone();
  const guard = handle.guard();
  value.hook = () => handle.close();
  assertThrows(() => guard.get("a"), TypeError, "live");
  assert(!handle.closed);
  assert(!guard.released);
  assertEquals(guard.get("a"), 1);
  write.update((g) => g.set("a", 2), { timeoutMs: DEADLOCK_GUARD_MS });
  // The guard still counts: it pins the version it reads.
  assertEquals(pinnedReaders(write), [[handle.id]]);
  assertEquals(guard.get("a"), 1); // still its snapshot
  guard.release();
  handle.close();
  write.update((g) => g.set("a", 3), { timeoutMs: DEADLOCK_GUARD_MS });
  assertEquals(read.get("a"), 3);
  assertEquals(pinnedReaders(write), []);
});

// -------------------------------------- item 6: tokens name their codecs

/** Asserts a TypeError whose message names both codecs. */
function refusedNaming(fn: () => unknown, a: string, b: string): void {
  const error = assertThrows(fn, TypeError);
  assert(
    error.message.includes(`"${a}"`) && error.message.includes(`"${b}"`),
    `expected "${a}" and "${b}" in: ${error.message}`,
  );
}

Deno.test("attach() throws a TypeError naming both codecs for a token whose codec names were edited", () => {
  const [write, read] = create({ key: codecs.string, value: codecs.number });
  write.update((g) => g.set("a", 1));
  const token = read.share();
  refusedNaming(() => attach({ ...token, key: "int32" }), "string", "int32");
  refusedNaming(
    () => attach(wrong<ReadToken<string, number>>({ ...token, value: "json" })),
    "number",
    "json",
  );
  refusedNaming(
    () => attach(wrong<ReadToken<string, number>>({ ...token, key: "bytes" })),
    "string",
    "bytes",
  );
  // The real token still attaches.
  using other = attach(token);
  assertEquals(other.get("a"), 1);
});

Deno.test("attach() throws a TypeError naming both codecs for a string-keyed token carrying an int32 map's buffer", () => {
  const [, stringRead] = create({ key: codecs.string, value: codecs.string });
  const [intWrite, intRead] = create({
    key: codecs.int32,
    value: codecs.number,
  });
  intWrite.update((g) => g.set(7, 7.5));
  const forged = wrong<ReadToken<number, number>>({
    ...stringRead.share(),
    buffer: intRead.share().buffer,
  });
  refusedNaming(() => attach(forged), "int32", "string");
  // Only the key name fixed: the value names still differ.
  refusedNaming(
    () => attach({ ...forged, key: "int32" }),
    "number",
    "string",
  );
  using honest = attach(intRead.share());
  assertEquals(honest.get(7), 7.5);
});

Deno.test("attach() throws a TypeError naming both codecs for a codec passed under another name", () => {
  const [, read] = create({ key: codecs.string, value: codecs.number });
  const token = read.share();
  refusedNaming(
    () =>
      attach(wrong<ReadToken<number, number>>(token), { key: codecs.int32 }),
    "string",
    "int32",
  );
  const impostor: Codec<number> = { ...codecs.number, name: "test.other" };
  refusedNaming(
    () => attach(token, { value: impostor }),
    "number",
    "test.other",
  );

  const user = hookedValues();
  const [write, userRead] = create({ key: codecs.string, value: user });
  write.update((g) => g.set("a", 1));
  const userToken = userRead.share();
  const lookalike = { ...hookedValues(), name: "test.lookalike" };
  refusedNaming(
    () => attach(userToken, { value: lookalike }),
    "test.hooked-number",
    "test.lookalike",
  );
  // A token renamed to match the impostor is refused as well.
  refusedNaming(
    () =>
      attach({ ...userToken, value: "test.lookalike" }, { value: lookalike }),
    "test.hooked-number",
    "test.lookalike",
  );
  using ok = attach(userToken, { value: hookedValues() });
  assertEquals(ok.get("a"), 1);
});

// ---------------------------------------- item 7: the registry lock bound

/** A tag no context has: the map hands out positive ones. */
const NO_THREAD = -2;

/** Marks the registry lock held by `owner`, as a thread that died in it would leave it. */
function forgeLock(words: Int32Array, owner: number): void {
  assertEquals(Atomics.load(words, C_REGISTRY_LOCK), 0, "the lock is free");
  Atomics.store(words, C_REGISTRY_LOCK, 1);
  Atomics.store(words, C_REGISTRY_OWNER, owner);
  Atomics.add(words, C_REGISTRY_EPOCH, 1);
}

function clearLock(words: Int32Array): void {
  Atomics.store(words, C_REGISTRY_OWNER, 0);
  Atomics.store(words, C_REGISTRY_LOCK, 0);
}

/** A map with a registry lock held by a thread that is gone. */
function lockedMap() {
  const [write, read] = numberMap();
  write.update((g) => g.set("a", 1));
  const other = read.clone();
  const words = wordsOf(read);
  forgeLock(words, NO_THREAD);
  return { write, read, other, words };
}

Deno.test("ReadHandle.clone() throws a WaitTimeoutError while a thread that is gone holds the registry lock", () => {
  const { write, read, other, words } = lockedMap();
  try {
    const error = assertThrows(() => read.clone(), WaitTimeoutError);
    assertEquals(error.readers, []);
    // Reads never need the lock.
    assertEquals(read.get("a"), 1);
    using guard = read.guard();
    assertEquals(guard.get("a"), 1);
  } finally {
    clearLock(words);
  }
  using clone = read.clone();
  assertEquals(clone.get("a"), 1);
  other.close();
  write.close();
});

Deno.test("attach() throws a WaitTimeoutError while a thread that is gone holds the registry lock", () => {
  const { read, other, words } = lockedMap();
  const token = read.share();
  try {
    assertThrows(() => attach(token), WaitTimeoutError);
  } finally {
    clearLock(words);
  }
  using attached = attach(token);
  assertEquals(attached.get("a"), 1);
  other.close();
});

Deno.test("ReadHandle.close() throws a WaitTimeoutError while a thread that is gone holds the registry lock, and leaves the handle open", () => {
  const { read, other, words } = lockedMap();
  try {
    assertThrows(() => other.close(), WaitTimeoutError);
    assert(!other.closed);
  } finally {
    clearLock(words);
  }
  assertEquals(other.get("a"), 1);
  other.close();
  assert(other.closed);
  // Its slot is free again: the map has maxReaders 8.
  const handles = Array.from({ length: 7 }, () => read.clone());
  for (const handle of handles) handle.close();
});

Deno.test("WriteHandle.update() throws a WaitTimeoutError when publishing while a thread that is gone holds the registry lock, and publishes nothing", () => {
  const { write, read, other, words } = lockedMap();
  try {
    assertThrows(
      () => write.update((g) => g.set("a", 2).set("b", 2)),
      WaitTimeoutError,
    );
  } finally {
    clearLock(words);
  }
  assertEquals(read.get("a"), 1);
  assertEquals(read.get("b"), undefined);
  // The writer goes on: its next batch publishes.
  write.update((g) => g.set("a", 3), { timeoutMs: DEADLOCK_GUARD_MS });
  assertEquals(read.get("a"), 3);
  other.close();
});

Deno.test("WriteGuard.publish() throws a WaitTimeoutError while a thread that is gone holds the registry lock, and can be retried", () => {
  const { write, read, other, words } = lockedMap();
  const guard = write.guard({ timeoutMs: DEADLOCK_GUARD_MS });
  guard.set("a", 2);
  try {
    assertThrows(() => guard.publish(), WaitTimeoutError);
    assertEquals(read.get("a"), 1);
  } finally {
    clearLock(words);
  }
  if (!guard.published) guard.publish();
  assertEquals(read.get("a"), 2);
  write.update((g) => g.set("a", 3), { timeoutMs: DEADLOCK_GUARD_MS });
  assertEquals(read.get("a"), 3);
  other.close();
});

Deno.test("WriteHandle.reclaim() throws a WaitTimeoutError after timeoutMs while a thread that is gone holds the registry lock", () => {
  const { write, read, other, words } = lockedMap();
  try {
    // An id that no handle of this thread has (slot 5, never registered).
    const error = assertThrows(
      () => write.reclaim(5, { timeoutMs: 50 }),
      WaitTimeoutError,
    );
    assertEquals(error.readers, []);
    assertThrows(() => write.reclaim(5, { timeoutMs: 0 }), WaitTimeoutError);
  } finally {
    clearLock(words);
  }
  assertThrows(() => write.reclaim(5, { timeoutMs: 50 }), RangeError);
  using clone = read.clone();
  assertEquals(clone.get("a"), 1);
  other.close();
});

Deno.test("ReadHandle.clone() takes back a registry lock left held by its own thread", () => {
  const [write, read] = numberMap();
  write.update((g) => g.set("a", 1));
  const words = wordsOf(read);
  // This thread's tag, as its handles record it.
  const tag = words[slotBase(read.id % ID_SLOTS) + S_OWNER];
  assertNotEquals(tag, 0);
  forgeLock(words, tag);
  try {
    using clone = read.clone(); // no wait: the lock is this thread's own
    assertEquals(clone.get("a"), 1);
    assertEquals(Atomics.load(words, C_REGISTRY_LOCK), 0);
  } finally {
    clearLock(words);
  }
  forgeLock(words, tag);
  try {
    write.update((g) => g.set("a", 2)); // publishing takes it back too
    assertEquals(read.get("a"), 2);
    assertEquals(Atomics.load(words, C_REGISTRY_LOCK), 0);
  } finally {
    clearLock(words);
  }
});

// ------------------------------------------------- item 8: odd inputs

/** `[[[…0…]]]`, `depth` arrays deep. */
function nestedArrays(depth: number): unknown {
  let value: unknown = 0;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

/** `{ a: { a: … } }`, `depth` objects deep. */
function nestedObjects(depth: number): unknown {
  let value: unknown = null;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

Deno.test("WriteGuard.insert(), set() and replace() refuse JSON nested 100000 deep with a RangeError, the map unchanged", () => {
  const [write, read] = create({ key: codecs.string, value: codecs.json() });
  write.update((g) => g.set("a", { x: [1, 2] }).set("b", "text"));
  const before = new Map<string, unknown>([["a", { x: [1, 2] }], [
    "b",
    "text",
  ]]);
  for (const deep of [nestedArrays(100_000), nestedObjects(100_000)]) {
    {
      using guard = write.guard({ timeoutMs: DEADLOCK_GUARD_MS });
      assertThrows(() => guard.insert("c", deep), RangeError, "Cannot insert");
      assertThrows(() => guard.insert("a", deep), RangeError, "Cannot insert");
      assertThrows(() => guard.set("c", deep), RangeError, "Cannot set");
      assertThrows(() => guard.set("b", deep), RangeError, "Cannot set");
      assertThrows(
        () => guard.replace("a", () => deep),
        RangeError,
        "Cannot replace",
      );
      assertEquals(guard.size, 2);
      assertEquals(new Map(guard.entries()), before);
      guard.set("c", 3); // the guard goes on
      guard.delete("c");
    }
    assertThrows(
      () => write.update((g) => g.set("c", deep)),
      RangeError,
      "Cannot set",
    );
    using view = read.guard();
    assertEquals(new Map(view.entries()), before);
    assertThrows(() => codecs.json().encode(deep), RangeError);
  }
  // A deep value that fits is stored and read back.
  write.update((g) => g.set("d", nestedArrays(1000)));
  assertEquals(read.get("d"), nestedArrays(1000));
});

Deno.test('WriteHandle methods throw a TypeError that says a timeoutMs of "10" is a string', async () => {
  const [write, read] = create({ key: codecs.string, value: codecs.number });
  write.update((g) => g.set("a", 1));
  const options = wrong<WaitOptions>({ timeoutMs: "10" });
  const says = (error: Error) =>
    assert(/string/.test(error.message), `not said: ${error.message}`);
  says(assertThrows(() => write.guard(options), TypeError));
  says(assertThrows(() => write.synchronize(options), TypeError));
  says(
    assertThrows(() => write.update((g) => g.set("a", 2), options), TypeError),
  );
  says(assertThrows(() => write.reclaim(ID_SLOTS + 1, options), TypeError));
  says(await assertRejects(() => write.guardAsync(options), TypeError));
  says(await assertRejects(() => write.synchronizeAsync(options), TypeError));
  says(
    await assertRejects(
      () => write.updateAsync((g) => g.set("a", 2), options),
      TypeError,
    ),
  );
  // Nothing was opened or published.
  assertEquals(read.get("a"), 1);
  write.update((g) => g.set("a", 3), { timeoutMs: DEADLOCK_GUARD_MS });
  assertEquals(read.get("a"), 3);
});

Deno.test("WriteHandle.reclaim() throws a RangeError for the stale id of a closed handle whose slot was reused, and does not free the live handle", () => {
  const [write, read] = create({
    key: codecs.string,
    value: codecs.number,
    maxReaders: 2,
  });
  write.update((g) => g.set("a", 1));
  const old = read.clone();
  const staleId = old.id;
  old.close();
  using reused = read.clone();
  assertEquals(reused.id % ID_SLOTS, staleId % ID_SLOTS);
  assertNotEquals(reused.id, staleId);
  assertThrows(() => write.reclaim(staleId), RangeError);
  assertThrows(() => write.reclaim(staleId, { timeoutMs: 50 }), RangeError);
  // The live handle still owns its slot: it reads, its guards count, and
  // no other handle fits beside it.
  assertEquals(reused.get("a"), 1);
  const guard = reused.guard();
  write.update((g) => g.set("a", 2), { timeoutMs: DEADLOCK_GUARD_MS });
  assertEquals(pinnedReaders(write), [[reused.id]]);
  assertEquals(guard.get("a"), 1);
  guard.release();
  write.update((g) => g.set("a", 3), { timeoutMs: DEADLOCK_GUARD_MS });
  assertEquals(pinnedReaders(write), []);
  assertEquals(reused.get("a"), 3);
  assertThrows(() => read.clone(), ReaderLimitError); // no slot beside it
  assertThrows(() => write.reclaim(reused.id), TypeError); // this thread's
  assertStrictEquals(reused.closed, false);
});
