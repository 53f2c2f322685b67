import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import { WaitTimeoutError } from "../src/errors.ts";
import { C_REGISTRY_EPOCH, heapStart } from "../src/layout.ts";
import { AtomicsMemory } from "../src/memory.ts";
import {
  lockRegistry,
  registerReader,
  registryHolder,
  runBlocking,
  type Step,
  unlockRegistry,
} from "../src/protocol.ts";
import {
  ensureStack,
  OUTER_PROBE_FRAMES,
  REGISTRY_WAIT_MS,
  runRegistry,
  runRegistryRecovering,
} from "../src/registry.ts";

const MAX_READERS = 4;

/** Control words of a map with no reader and a free registry lock. */
function control(): AtomicsMemory {
  return new AtomicsMemory(
    new Int32Array(new SharedArrayBuffer(4 * heapStart(MAX_READERS))),
  );
}

/** A registry operation: takes the lock as `tag`, runs `body`, releases it. */
function locked<T>(
  memory: AtomicsMemory,
  tag: number,
  body: () => T,
): () => Generator<Step, T> {
  return function* () {
    yield* lockRegistry(memory, tag);
    try {
      return body();
    } finally {
      yield* unlockRegistry(memory);
    }
  };
}

/** Takes the registry lock as `tag` and keeps it, as a holder that died would. */
function holdLock(memory: AtomicsMemory, tag: number): void {
  runBlocking(memory, lockRegistry(memory, tag));
}

/** `frames` nested calls shaped like the probe's. */
function nested(frames: number, a: number, b: number, c: number): number {
  if (frames === 0) return a + b + c;
  return nested(frames - 1, b, c, a + 1) + 1;
}

Deno.test("ensureStack() returns when the stack has room", () => {
  assertEquals(ensureStack(), undefined);
  assertEquals(ensureStack(OUTER_PROBE_FRAMES), undefined);
  assertEquals(ensureStack(0), undefined);
});

Deno.test("ensureStack() throws a RangeError when the stack cannot take the probe", () => {
  // No stack holds ten million frames.
  const error = assertThrows(() => ensureStack(10_000_000));
  assertInstanceOf(error, RangeError);
});

Deno.test("ensureStack() passes only where a few nested calls still fit", () => {
  // Descends until ensureStack() refuses; at every depth where it passed,
  // ten nested calls of the same shape must have fit (the probe takes 40).
  let failures = 0;
  let refusedAt = -1;
  function descend(depth: number): void {
    try {
      ensureStack();
    } catch (error) {
      assertInstanceOf(error, RangeError);
      refusedAt = depth;
      return;
    }
    try {
      nested(10, depth, 1, 2);
    } catch {
      failures++;
    }
    descend(depth + 1);
  }
  descend(0);
  assert(refusedAt > 0, "the descent never reached the end of the stack");
  assertEquals(failures, 0);
});

Deno.test("OUTER_PROBE_FRAMES probes deeper than the default", () => {
  // Somewhere down the stack the outer probe fails while the default passes.
  let outerFailedFirst = false;
  function descend(depth: number): void {
    try {
      ensureStack(OUTER_PROBE_FRAMES);
    } catch {
      try {
        ensureStack();
        outerFailedFirst = true;
      } catch {
        // Both failed at once: the frames between them were too few to see.
      }
      return;
    }
    descend(depth + 1);
  }
  descend(0);
  assert(outerFailedFirst);
});

Deno.test("runRegistry() runs the steps to completion and returns their value", () => {
  const memory = control();
  let ran = 0;
  const result = runRegistry(
    memory,
    3,
    locked(memory, 3, () => {
      ran++;
      assertEquals(registryHolder(memory).owner, 3);
      return "done";
    }),
    "open a read handle",
  );
  assertEquals(result, "done");
  assertEquals(ran, 1);
  assertEquals(registryHolder(memory).owner, 0);
});

Deno.test("runRegistry() rethrows an error from the steps unchanged", () => {
  const memory = control();
  const thrown = new SyntaxError("from inside");
  const error = assertThrows(() =>
    runRegistry(
      memory,
      3,
      locked(memory, 3, () => {
        throw thrown;
      }),
      "open a read handle",
    )
  );
  assertStrictEquals(error, thrown);
  assertEquals(registryHolder(memory).owner, 0);
});

Deno.test("runRegistry() takes back a lock left held under its own tag", () => {
  const memory = control();
  holdLock(memory, 5);
  assertEquals(registryHolder(memory).owner, 5);
  const epoch = memory.load(C_REGISTRY_EPOCH);
  // With its own tag it does not wait: a short limit would throw otherwise.
  const result = runRegistry(
    memory,
    5,
    locked(memory, 5, () => 42),
    "close the read handle",
    1,
  );
  assertEquals(result, 42);
  assertEquals(registryHolder(memory).owner, 0);
  assert(memory.load(C_REGISTRY_EPOCH) > epoch);
});

Deno.test("runRegistry() throws a WaitTimeoutError naming the read handles of the lock's holder", () => {
  const memory = control();
  const registration = runBlocking(
    memory,
    registerReader(memory, MAX_READERS, 7),
  );
  assert(registration !== null);
  holdLock(memory, 7);
  let ran = false;
  const error = assertThrows(
    () =>
      runRegistry(
        memory,
        9,
        locked(memory, 9, () => {
          ran = true;
        }),
        "open a read handle",
        20,
      ),
    WaitTimeoutError,
  );
  assertEquals(error.readers, [registration.id]);
  assertEquals(
    error.message,
    `Cannot open a read handle: after 20 ms, the registry lock is still held by the context tagged 7, owner of read handle ${registration.id}; if that worker is gone, WriteHandle.reclaim() of its handle recovers the lock`,
  );
  assert(!ran);
  // The lock is still the other context's.
  assertEquals(registryHolder(memory).owner, 7);
});

Deno.test("runRegistry() says when the lock's holder has no open read handle", () => {
  const memory = control();
  holdLock(memory, 8);
  const error = assertThrows(
    () => runRegistry(memory, 2, locked(memory, 2, () => 0), "publish", 5),
    WaitTimeoutError,
  );
  assertEquals(error.readers, []);
  assertEquals(
    error.message,
    "Cannot publish: after 5 ms, the registry lock is still held by the context tagged 8, which has no open read handle",
  );
});

Deno.test("runRegistryRecovering() keeps a short timeoutMs's WaitTimeoutError", () => {
  const memory = control();
  holdLock(memory, 8);
  assertThrows(
    () =>
      runRegistryRecovering(
        memory,
        2,
        8,
        locked(memory, 2, () => 0),
        "reclaim the read handle",
        10,
      ),
    WaitTimeoutError,
  );
  assertEquals(registryHolder(memory).owner, 8);
});

Deno.test("runRegistryRecovering() runs at once when the lock is free", () => {
  const memory = control();
  const result = runRegistryRecovering(
    memory,
    2,
    8,
    locked(memory, 2, () => "ran"),
    "reclaim the read handle",
    REGISTRY_WAIT_MS,
  );
  assertEquals(result, "ran");
  assertEquals(registryHolder(memory).owner, 0);
});

Deno.test("runRegistryRecovering() takes back the lock of a gone context that held it all along", () => {
  const memory = control();
  holdLock(memory, 8);
  // Waits REGISTRY_WAIT_MS for the lock, sees it never moved, and breaks it.
  const result = runRegistryRecovering(
    memory,
    2,
    8,
    locked(memory, 2, () => "recovered"),
    "reclaim the read handle",
    REGISTRY_WAIT_MS,
  );
  assertEquals(result, "recovered");
  assertEquals(registryHolder(memory).owner, 0);
});

Deno.test("runRegistryRecovering() does not break the lock of a context other than the gone one", () => {
  const memory = control();
  holdLock(memory, 6);
  assertThrows(
    () =>
      runRegistryRecovering(
        memory,
        2,
        8,
        locked(memory, 2, () => 0),
        "reclaim the read handle",
        REGISTRY_WAIT_MS,
      ),
    WaitTimeoutError,
  );
  assertEquals(registryHolder(memory).owner, 6);
});
