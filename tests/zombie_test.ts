/**
 * Zombie readers: in Deno, `worker.terminate()` takes effect only when the
 * worker returns to its event loop, so a worker busy in synchronous code
 * inside a guard runs on after `terminate()` and after the writer reclaimed
 * its handle. Whatever it does late (leave its guard, open a new one, read,
 * close), nothing that belongs to anyone else may change: a healthy
 * reader's snapshot, the residual counts, the new handle in the reused slot.
 * The zombie gets a `TypeError` the next time it needs the handle.
 *
 * Where the writer must wait for (or refuse to wait for) a zombie or dead
 * reader, the map has `maxCopies: 2`: with spare copies the writer would
 * copy the index rather than wait, and the test would prove nothing.
 *
 * The zombie reports through shared words (tests/workers/zombie_worker.ts),
 * since messages it posts after `terminate()` are never delivered.
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
  codecs,
  create,
  DeadlockError,
  type ReadGuard,
  type ReadHandle,
  WaitTimeoutError,
  type WriteHandle,
} from "@x/flashmap";
import {
  C_REGISTRY_EPOCH,
  C_REGISTRY_LOCK,
  C_REGISTRY_OWNER,
  H_MAX_READERS,
  MAX_COPIES,
  S_OWNER,
  S_REFCOUNT,
  S_RESIDUAL,
  slotBase,
} from "../src/layout.ts";
import { guardsIn, ID_SLOTS } from "../src/protocol.ts";
import { snapshot, TestWorker } from "./utils.ts";

const ZOMBIE = new URL("./workers/zombie_worker.ts", import.meta.url);

// The zombie's shared words: mirrors tests/workers/zombie_worker.ts.
const GO = 0;
const STAGE = 1;
const OUTCOMES = 2;
const MAX_ACTIONS = 10;
const HELD_RELEASED = OUTCOMES + MAX_ACTIONS;
const CLOSED = HELD_RELEASED + 1;
const MESSAGE_LENGTH = CLOSED + 1;
const MESSAGE = MESSAGE_LENGTH + 1;
const MESSAGE_WORDS = 200;
const FLAG_WORDS = MESSAGE + MESSAGE_WORDS;
const SPINNING = 1;
const DONE = 2;

/** What each late action of the zombie did. */
type Outcome = "not run" | "ok" | "reclaimed" | "closed" | "other error";
const OUTCOME_NAMES: Outcome[] = [
  "not run",
  "ok",
  "reclaimed",
  "closed",
  "other error",
];

type Action = "release" | "enter" | "get" | "has" | "clone" | "close";

/** A deadlock guard for the waits below, never a timing assertion. */
const DEADLOCK_GUARD_MS = 1_000;
const POLLS = 3_000;
const POLL_MS = 5;

/** The map's own words, to check the counts the public API cannot show. */
function wordsOf(read: ReadHandle<string, number>): Int32Array {
  return new Int32Array(read.share().buffer);
}

function slotOf(id: number): number {
  return id % ID_SLOTS;
}

/** The residual guards of one slot's handle, on every copy. */
function residualOf(words: Int32Array, slot: number): number {
  let residual = 0;
  for (let copy = 0; copy < MAX_COPIES; copy++) {
    residual += guardsIn(words[slotBase(slot) + S_RESIDUAL + copy]);
  }
  return residual;
}

/** The residual guards of every handle on every copy: what pins retired copies. */
function residualGuards(words: Int32Array): number {
  let residual = 0;
  for (let slot = 0; slot < words[H_MAX_READERS]; slot++) {
    residual += residualOf(words, slot);
  }
  return residual;
}

/** A slot's refcount and residual words. */
function handleWords(words: Int32Array, slot: number): number[] {
  const base = slotBase(slot);
  return Array.from(
    words.subarray(base + S_REFCOUNT, base + S_RESIDUAL + MAX_COPIES),
  );
}

/** Publishes `changes` through `write.update`, with a deadlock guard on the wait. */
function publish(
  write: WriteHandle<string, number>,
  changes: Record<string, number>,
): void {
  write.update((guard) => {
    for (const [key, value] of Object.entries(changes)) guard.set(key, value);
  }, { timeoutMs: DEADLOCK_GUARD_MS });
}

/** Waits (bounded) until the zombie's stage word is no longer `stage`. */
async function leaves(flags: Int32Array, stage: number): Promise<number> {
  for (let polls = 0; polls < POLLS; polls++) {
    const now = Atomics.load(flags, STAGE);
    if (now !== stage) return now;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return Atomics.load(flags, STAGE);
}

/** The zombie's first unexpected error, if it noted one. */
function zombieMessage(flags: Int32Array): string {
  const length = Atomics.load(flags, MESSAGE_LENGTH);
  let text = "";
  for (let i = 0; i < length; i++) {
    text += String.fromCharCode(flags[MESSAGE + i]);
  }
  return text;
}

/** Lets a spinning zombie go, so that its thread ends. */
function letGo(flags: Int32Array): void {
  Atomics.store(flags, GO, 1);
  Atomics.notify(flags, GO);
}

/** A zombie worker attached to `read`'s map: its handle's id and its shared words. */
async function startZombie(
  worker: TestWorker,
  read: ReadHandle<string, number>,
): Promise<{ id: number; flags: Int32Array }> {
  const flags = new Int32Array(new SharedArrayBuffer(FLAG_WORDS * 4));
  await worker.next("ready");
  const reply = await worker.request(
    { type: "attach", token: read.share(), flags } as { type: string },
  );
  assertEquals(reply.error, undefined);
  return { id: reply.id as number, flags };
}

/**
 * Runs one zombie: it holds a guard (residual or not), is terminated and
 * reclaimed, a new handle of the writer's thread takes its slot, a healthy
 * guard and a guard of the new handle are held over a publish, and only
 * then does the zombie run `actions`. Checks that nothing of anyone else
 * changed, and returns what the zombie's actions did.
 */
async function zombieRun(
  actions: Action[],
  residual: boolean,
): Promise<{ outcomes: Outcome[]; heldReleased: boolean; closed: boolean }> {
  const [write, read] = create({
    key: codecs.string,
    value: codecs.number,
    maxReaders: 4,
    maxCopies: 2,
  });
  publish(write, { v: 1, w: 10 });
  await using worker = new TestWorker(ZOMBIE);
  const { id, flags } = await startZombie(worker, read);
  let fresh: ReadHandle<string, number> | undefined;
  let healthy: ReadGuard<string, number> | undefined;
  let freshGuard: ReadGuard<string, number> | undefined;
  try {
    const hold = await worker.request(
      { type: "hold", actions } as { type: string },
    );
    assertEquals(hold.error, undefined);
    assertEquals(hold.value, 1);
    assertEquals(await leaves(flags, 0), SPINNING);
    if (residual) publish(write, { v: 2 }); // the zombie's guard is residual
    const words = wordsOf(read);
    assertEquals(residualGuards(words), residual ? 1 : 0);

    worker.worker.terminate(); // the zombie spins on: it is busy
    write.reclaim(id);
    assertEquals(residualGuards(words), 0, "reclaim counted off its guard");
    publish(write, { v: 3 }); // the writer's wait does not block

    fresh = read.clone(); // takes the reclaimed slot
    assertNotEquals(fresh.id, id);
    assertEquals(slotOf(fresh.id), slotOf(id));
    healthy = read.guard();
    freshGuard = fresh.guard();
    const before = snapshot(healthy);
    assertEquals(before, new Map([["v", 3], ["w", 10]]));
    publish(write, { v: 4, x: 5 }); // both guards are residual now
    assertEquals(residualGuards(words), 2);
    const freshWords = handleWords(words, slotOf(fresh.id));

    letGo(flags); // the zombie's late actions, after all of that
    const stage = await leaves(flags, SPINNING);
    assertEquals(stage, DONE, `the zombie ended in stage ${stage}`);
    const outcomes = actions.map((_, i) =>
      OUTCOME_NAMES[Atomics.load(flags, OUTCOMES + i)]
    );
    assert(
      !outcomes.includes("other error"),
      `the zombie got an unexpected error: ${zombieMessage(flags)}`,
    );

    // Nothing that belongs to anyone else changed.
    assertEquals(residualGuards(words), 2, "the residual counts");
    assertEquals(
      handleWords(words, slotOf(fresh.id)),
      freshWords,
      "the new handle's refcount and residual words",
    );
    assertEquals(snapshot(healthy), before, "the healthy guard's snapshot");
    assertEquals(snapshot(freshGuard), before, "the new handle's snapshot");
    // The writer still counts this thread's two residual guards: it refuses
    // to wait for them. (Were the count off, it would write over the copy
    // they read; check that snapshot again even so.)
    let refused: unknown = undefined;
    try {
      publish(write, { v: 99 });
    } catch (error) {
      refused = error;
    }
    assertEquals(snapshot(healthy), before, "S1 after a write attempt");
    assert(
      refused instanceof DeadlockError,
      `expected a DeadlockError, got ${refused}`,
    );

    healthy.release();
    assertThrows(() => write.guard({ timeoutMs: 0 }), DeadlockError);
    freshGuard.release();
    assertEquals(residualGuards(words), 0);
    publish(write, { v: 5 });

    // The new handle works, and its guards count: the writer waits for
    // them (refusing, in this thread), and not once they are released.
    for (let round = 0; round < 5; round++) {
      const value = 6 + round;
      assertEquals(fresh.get("v"), value - 1);
      const guard = fresh.guard();
      publish(write, { v: value });
      const word = words[slotBase(slotOf(fresh.id)) + S_REFCOUNT];
      // The guard it still holds is residual, no longer live.
      assertEquals([guardsIn(word), residualOf(words, slotOf(fresh.id))], [
        0,
        1,
      ]);
      assertThrows(() => write.guard({ timeoutMs: 0 }), DeadlockError);
      assertEquals(guard.get("v"), value - 1);
      guard.release();
      assertEquals(residualGuards(words), 0);
      write.guard({ timeoutMs: DEADLOCK_GUARD_MS }).publish();
      assertEquals(fresh.get("v"), value);
    }

    // The stale id is refused, and the new handle keeps its slot.
    assertThrows(() => write.reclaim(id), RangeError);
    assertEquals(fresh.get("x"), 5);
    fresh.close();
    read.close();
    write.close();

    return {
      outcomes,
      heldReleased: Atomics.load(flags, HELD_RELEASED) === 1,
      closed: Atomics.load(flags, CLOSED) === 1,
    };
  } finally {
    letGo(flags);
    if (healthy !== undefined) healthy.release();
    if (freshGuard !== undefined) freshGuard.release();
  }
}

Deno.test("WriteHandle.reclaim() makes a busy terminated worker's handle inert: its late release, reads and close change nothing", async () => {
  const run = await zombieRun(
    ["release", "enter", "get", "has", "clone", "close"],
    true,
  );
  assertEquals(run.outcomes, [
    "ok", // the late release throws nothing
    "reclaimed", // a new guard: a TypeError that says it was reclaimed
    "reclaimed",
    "reclaimed",
    "reclaimed",
    "ok", // close throws nothing
  ]);
  assert(run.heldReleased);
  assert(run.closed);
});

Deno.test("WriteHandle.reclaim() makes a busy terminated worker's handle inert: a late enter before its late release changes nothing", async () => {
  const run = await zombieRun(["enter", "get", "release", "close"], true);
  assertEquals(run.outcomes, ["reclaimed", "reclaimed", "ok", "ok"]);
  assert(run.heldReleased);
  assert(run.closed);
});

Deno.test("WriteHandle.reclaim() makes a worker's handle inert when its guard was not residual", async () => {
  const run = await zombieRun(["release", "get", "enter", "close"], false);
  assertEquals(run.outcomes, ["ok", "reclaimed", "reclaimed", "ok"]);
  assert(run.heldReleased);
  assert(run.closed);
});

Deno.test("WriteHandle.reclaim() refuses the id of a zombie handle a second time, and never frees the handle that reused its slot", async () => {
  const [write, read] = create({
    key: codecs.string,
    value: codecs.number,
    maxReaders: 2,
    maxCopies: 2,
  });
  publish(write, { v: 1 });
  await using worker = new TestWorker(ZOMBIE);
  const { id, flags } = await startZombie(worker, read);
  try {
    await worker.request({ type: "hold", actions: ["release", "close"] } as {
      type: string;
    });
    assertEquals(await leaves(flags, 0), SPINNING);
    worker.worker.terminate();
    write.reclaim(id);
    assertThrows(() => write.reclaim(id), RangeError);
    using fresh = read.clone();
    assertEquals(slotOf(fresh.id), slotOf(id));
    assertThrows(() => write.reclaim(id), RangeError);
    letGo(flags);
    assertEquals(await leaves(flags, SPINNING), DONE);
    // Its late release and close: ok.
    assertEquals(
      [Atomics.load(flags, OUTCOMES), Atomics.load(flags, OUTCOMES + 1)],
      [1, 1],
      zombieMessage(flags),
    );
    assertThrows(() => write.reclaim(id), RangeError);
    // The new handle still owns its slot: it reads, and its guard counts.
    const guard = fresh.guard();
    publish(write, { v: 2 });
    assertThrows(() => write.guard({ timeoutMs: 0 }), DeadlockError);
    assertEquals(guard.get("v"), 1);
    guard.release();
    publish(write, { v: 3 });
    assertEquals(fresh.get("v"), 3);
  } finally {
    letGo(flags);
  }
});

Deno.test("WriteHandle.reclaim() takes back the registry lock from a terminated worker that held it", async () => {
  const [write, read] = create({
    key: codecs.string,
    value: codecs.number,
    maxReaders: 4,
  });
  publish(write, { v: 1 });
  await using worker = new TestWorker(ZOMBIE);
  const { id, flags } = await startZombie(worker, read);
  worker.worker.terminate();
  const words = wordsOf(read);
  const tag = words[slotBase(slotOf(id)) + S_OWNER];
  assertNotEquals(tag, 0);
  // The worker's thread "died" holding the registry lock.
  Atomics.store(words, C_REGISTRY_LOCK, 1);
  Atomics.store(words, C_REGISTRY_OWNER, tag);
  Atomics.add(words, C_REGISTRY_EPOCH, 1);
  try {
    // Registry operations fail in bounded time and name the holder's handles.
    const error = assertThrows(
      () => write.reclaim(ID_SLOTS * 7 + 3, { timeoutMs: 50 }),
      WaitTimeoutError,
    );
    assertEquals(error.readers, [id]);
    // A short wait never takes the lock back: a live holder might be slow.
    assertThrows(
      () => write.reclaim(id, { timeoutMs: 50 }),
      WaitTimeoutError,
    );
    assertNotEquals(Atomics.load(words, C_REGISTRY_LOCK), 0);
    // Reclaiming the holder's own handle, after the default wait, does.
    write.reclaim(id);
    assertEquals(Atomics.load(words, C_REGISTRY_LOCK), 0);
    using clone = read.clone();
    assertEquals(slotOf(clone.id), slotOf(id));
    publish(write, { v: 2 });
    assertEquals(clone.get("v"), 2);
  } finally {
    Atomics.store(words, C_REGISTRY_LOCK, 0);
    Atomics.store(words, C_REGISTRY_OWNER, 0);
    letGo(flags);
  }
});

/** Attempts a frame higher each time, until this many in a row succeeded. */
const SUCCESSES_IN_A_ROW = 30;
const MAX_OFFSET = 2_500;
/** A first attempt with stack to spare, so that the worker's code is compiled. */
const WARM_UP = 3_000;

/**
 * A worker opens a guard, the writer publishes (the guard is residual), and
 * the worker releases it `offset` frames above its stack limit, then goes
 * back to its event loop. For each offset, one frame higher each time,
 * `released` is called when the guard says it is released; it returns
 * `true` to stop. Returns whether the scan reached the offsets where the
 * release succeeds throughout.
 */
async function releaseAtEveryDepth(
  worker: TestWorker,
  write: WriteHandle<string, number>,
  released: (offset: number) => boolean,
): Promise<boolean> {
  let overflowed = 0;
  let inARow = 0;
  for (let i = -1; i < MAX_OFFSET && inARow < SUCCESSES_IN_A_ROW; i++) {
    const offset = i < 0 ? WARM_UP : i;
    assertEquals((await worker.request({ type: "open" })).error, undefined);
    publish(write, { v: offset }); // the worker's guard is residual
    const reply = await worker.request(
      { type: "releaseAt", offset } as { type: string },
    );
    if (reply.failure !== null) {
      assert(
        /call stack/.test(reply.failure as string),
        `offset ${offset}: ${reply.failure}`,
      );
      overflowed++;
      inARow = 0;
    } else if (i >= 0) {
      inARow++;
    }
    if (!reply.released) {
      assert(reply.failure !== null, "not released, yet no error");
      await worker.request({ type: "release" }); // still live: release it
    } else if (released(offset)) {
      return false;
    }
  }
  assert(overflowed > 0, "no release ran out of stack");
  return inARow === SUCCESSES_IN_A_ROW;
}

Deno.test("ReadGuard.release() out of stack in a worker leaves nothing for the writer to wait for once the guard says it is released", async () => {
  const [write, read] = create({
    key: codecs.string,
    value: codecs.number,
    maxReaders: 4,
    maxCopies: 2,
  });
  publish(write, { v: 0 });
  await using worker = new TestWorker(ZOMBIE);
  const { flags } = await startZombie(worker, read);
  try {
    const done = await releaseAtEveryDepth(worker, write, (offset) => {
      // The worker is idle in its event loop: the writer must not wait.
      try {
        publish(write, { v: -offset });
      } catch (error) {
        throw new Error(
          `the worker's guard says it is released (${offset} frames above the stack limit), yet the writer waits for it: ${error}`,
        );
      }
      return false;
    });
    assert(done);
  } finally {
    letGo(flags);
  }
});

Deno.test("WriteHandle.reclaim() ends the writer's wait for a worker terminated after a release that ran out of stack", async () => {
  const [write, read] = create({
    key: codecs.string,
    value: codecs.number,
    maxReaders: 4,
    maxCopies: 2,
  });
  publish(write, { v: 0 });
  const words = wordsOf(read);
  await using worker = new TestWorker(ZOMBIE);
  const { id, flags } = await startZombie(worker, read);
  try {
    // Look for a depth at which the worker's release says it is released
    // but runs out of stack before counting the guard off its residual
    // word. (A fixed library may have no such depth: then there is nothing
    // to recover from.)
    let strandedAt = -1;
    await releaseAtEveryDepth(worker, write, (offset) => {
      if (residualGuards(words) === 0) return false;
      strandedAt = offset;
      return true;
    });
    worker.worker.terminate(); // before it uses the handle again
    write.reclaim(id);
    // The writer must not wait for a guard of a worker that is gone.
    try {
      publish(write, { v: -1 });
      publish(write, { v: -2 });
    } catch (error) {
      throw new Error(
        `after a release ${strandedAt} frames above the stack limit, terminate() and reclaim(${id}): ${error}`,
      );
    }
    assertEquals(read.get("v"), -2);
  } finally {
    letGo(flags);
  }
});
