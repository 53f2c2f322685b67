/**
 * Attacks on spare copies (issue 10), written as a reviewer would try them:
 * stack exhaustion at every depth of the writer's replays, clones, frees and
 * table growth while versions are pinned; user callbacks that re-enter the
 * writer; a full buffer (`maxBytes`) and the `maxCopies` bound; many pinned
 * versions with growth and aborts in between; reclaim of a worker's handle
 * that pins versions; odd `maxCopies` values; and what `stats()` reports
 * through all of it. Memory is checked exactly: once the pins are released,
 * the bytes in use equal those of a fresh map with the same entries and
 * table size, so an entry freed twice or never would show as drift.
 *
 * @module
 */

import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import {
  BufferFullError,
  Builder,
  type Codec,
  codecs,
  create,
  DeadlockError,
  type ReadGuard,
  type ReadHandle,
  WaitTimeoutError,
  type WriteGuard,
  type WriteHandle,
  type WriteStats,
} from "@x/flashmap";
import {
  COPIES_START,
  COPY_WORDS,
  H_CURRENT_COPY,
  MAX_COPIES,
  T_MASK,
  T_OFFSET,
} from "../src/layout.ts";
import { MAX_LOAD } from "../src/table.ts";
import { random, TestWorker, type WorkerReply } from "./utils.ts";

// ------------------------------------------------------------ helpers

type StrWrite = WriteHandle<number, string>;
type StrRead = ReadHandle<number, string>;
type Model = Map<number, string>;

const MAX_READERS = 8;
const SEED = 20261202;

/** An int32-to-string map: its entries live on the heap, so frees show. */
function strMap(
  options: { maxCopies?: number; maxBytes?: number; capacity?: number } = {},
): [StrWrite, StrRead] {
  return create({
    key: codecs.int32,
    value: codecs.string,
    maxReaders: MAX_READERS,
    seed: SEED,
    ...options,
  });
}

/** Passes a value of the wrong type past the type checker. */
function wrong<T>(value: unknown): T {
  return value as T;
}

/** The entries of a guard or a model, sorted by key. */
function contents(
  source: ReadGuard<number, string> | WriteGuard<number, string> | Model,
): [number, string][] {
  return [...source].sort(([a], [b]) => a - b);
}

/** One publish of `change`, applied to the model too. */
function commit(
  handle: StrWrite,
  model: Model,
  change: (set: (key: number, value: string) => void) => void,
): void {
  using guard = handle.guard();
  change((key, value) => {
    guard.set(key, value);
    model.set(key, value);
  });
}

/** Any read handle: what the helpers below need of one. */
type AnyRead = { share(): { buffer: SharedArrayBuffer } };

/** The map's own words, to read what the public API does not show. */
function wordsOf(read: AnyRead): Int32Array {
  return new Int32Array(read.share().buffer);
}

/** The slot count of the current copy's table. */
function currentSlots(read: AnyRead): number {
  const i32 = wordsOf(read);
  return i32[COPIES_START + COPY_WORDS * i32[H_CURRENT_COPY] + T_MASK] + 1;
}

/** The slot count of every copy that has a table. */
function tableSlots(read: AnyRead): number[] {
  const i32 = wordsOf(read);
  const slots: number[] = [];
  for (let copy = 0; copy < MAX_COPIES; copy++) {
    const at = COPIES_START + COPY_WORDS * copy;
    if (i32[at + T_OFFSET] !== 0) slots.push(i32[at + T_MASK] + 1);
  }
  return slots;
}

/**
 * The bytes in use of a fresh map (same codecs, readers and seed) that holds
 * `model` in tables of `slots` slots, with nothing pinned: a header, two
 * tables and the entries, each counted once.
 */
function referenceBytes(model: Model, slots: number): number {
  const [write, read] = strMap({ capacity: Math.floor(slots * MAX_LOAD) });
  {
    using guard = write.guard();
    for (const [key, value] of model) guard.set(key, value);
  }
  write.synchronize();
  assertEquals(currentSlots(read), slots, "the reference map's table size");
  return write.stats().bytesInUse;
}

/** What every `stats()` must satisfy, whatever the map went through. */
function checkStats(stats: WriteStats): void {
  assert(
    stats.copies >= 2 && stats.copies <= stats.maxCopies,
    `${stats.copies} copies, maxCopies ${stats.maxCopies}`,
  );
  assert(
    stats.bytesInUse > 0 && stats.bytesInUse <= stats.bytesReserved &&
      stats.bytesReserved <= stats.maxBytes,
    `bytes: ${stats.bytesInUse} in use, ${stats.bytesReserved} reserved, max ${stats.maxBytes}`,
  );
  // The current copy is never pinned: at most the other copies are.
  assert(stats.pinned.length <= stats.copies - 1);
  let last = -1;
  for (const pin of stats.pinned) {
    assert(pin.version > last, "pinned versions are listed oldest first");
    assert(pin.version < stats.version, "only retired versions are pinned");
    assert(pin.readers.length > 0, "a pinned version names its readers");
    assertEquals(new Set(pin.readers).size, pin.readers.length);
    assert(pin.heldMs >= 0);
    last = pin.version;
  }
  assert(stats.loggedOperations >= 0 && stats.waits >= 0);
  assert(stats.waitMs >= 0 && stats.clones >= 0 && stats.replays >= 0);
}

/** `stats().pinned` as `[version, readers]` pairs, readers sorted. */
function pinnedOf(stats: WriteStats): [number, number[]][] {
  return stats.pinned.map((pin) => [
    pin.version,
    [...pin.readers].sort((a, b) => a - b),
  ]);
}

/** After every pin left: two copies, nothing logged, memory as a fresh map's. */
function checkSettled(write: StrWrite, read: StrRead, model: Model): void {
  write.synchronize();
  const stats = write.stats();
  checkStats(stats);
  assertEquals(
    [stats.copies, stats.pinned, stats.loggedOperations],
    [2, [], 0],
  );
  using view = read.guard();
  assertEquals(contents(view), contents(model));
  assertEquals(
    stats.bytesInUse,
    referenceBytes(model, currentSlots(read)),
    "bytes in use, against a fresh map with the same entries",
  );
}

// ------------------------------------------------------------ stack depth

/** Whether `error` is the engine's out-of-stack error. */
function isStackOverflow(error: unknown): boolean {
  return error instanceof RangeError &&
    /call stack|too much recursion/i.test(error.message);
}

/** What one call made near the stack limit did. */
interface Attempt {
  overflowed: boolean;
  error?: unknown;
}

/**
 * Runs `action` once, `offset` frames above the deepest frame the stack
 * allows (as tests/hardening_test.ts does): successive offsets let it run
 * out of stack at every point of its own code in turn.
 */
function nearStackLimit(offset: number, action: () => void): Attempt {
  const attempt: Attempt = { overflowed: false };
  let above = -1;
  let ran = false;
  const down = (): void => {
    try {
      down();
    } catch {
      if (above < 0) above = 0;
    }
    if (above === offset) {
      ran = true;
      try {
        action();
      } catch (error) {
        attempt.overflowed = true;
        attempt.error = error;
      }
    }
    above++;
  };
  down();
  assert(ran, `offset ${offset}: the action never ran`);
  if (attempt.overflowed) {
    assert(
      isStackOverflow(attempt.error),
      `offset ${offset}: unexpected ${attempt.error}`,
    );
  }
  return attempt;
}

/** Where an out-of-stack error was thrown: its first frames, in short. */
function whereThrown(attempt: Attempt): string {
  if (!attempt.overflowed) return "no overflow";
  const stack = (attempt.error as Error).stack ?? "";
  return stack.split("\n").slice(1, 6).map((line) =>
    line.trim().replace(/^at /, "").replace(/\(.*\/(src|tests)\//, "(")
  ).join(" < ");
}

const SUCCESSES_IN_A_ROW = 30;
const MAX_OFFSET = 2_500;
/** A first attempt with stack to spare, so that everything is compiled. */
const WARM_UP = 3_000;

/**
 * Calls `attempt(offset)` (which returns whether it ran out of stack) at
 * offsets from the stack limit upwards until that many in a row succeeded.
 * Asserts the scan was not vacuous.
 */
function atEveryDepth(attempt: (offset: number) => boolean): void {
  let overflowed = 0;
  let inARow = 0;
  for (let i = -1; i < MAX_OFFSET && inARow < SUCCESSES_IN_A_ROW; i++) {
    if (attempt(i < 0 ? WARM_UP : i)) {
      overflowed++;
      inARow = 0;
    } else if (i >= 0) {
      inARow++;
    }
  }
  assert(overflowed > 0, "no attempt ran out of stack");
  assertEquals(inARow, SUCCESSES_IN_A_ROW, "still failing far from the limit");
}

/**
 * A map whose write copy is one insert short of growing its table, while a
 * read guard pins version 1 (a kept copy, with logs to replay and a table
 * reserved for it by an earlier growth).
 */
function mapAboutToGrow() {
  const [write, read] = strMap({ maxBytes: 1 << 20 });
  const model: Model = new Map();
  commit(write, model, (set) => {
    for (let key = 0; key < 6; key++) set(key, "a");
  });
  const holder = read.clone();
  const pinned = holder.guard();
  const pinnedContents = contents(model);
  commit(write, model, (set) => {
    set(100, "first");
    for (let key = 0; key < 6; key++) set(key, "b");
  });
  const guard = write.guard();
  const slots = currentSlots(read);
  for (let key = 200; guard.size + 1 <= slots * MAX_LOAD; key++) {
    guard.insert(key, "g");
  }
  return { write, read, model, holder, pinned, pinnedContents, guard };
}

Deno.test("WriteGuard.insert() out of stack while growing the table with a version pinned leaves every copy's table the same size and every byte accounted for", () => {
  const failures: string[] = [];
  atEveryDepth((offset) => {
    const { write, read, model, holder, pinned, pinnedContents, guard } =
      mapAboutToGrow();
    const attempt = nearStackLimit(offset, () => guard.insert(999, "g"));
    guard.abort();
    // A publish that adds no entry, so that a replay onto a table too small
    // for what the guard wrote cannot loop here (it would, given more).
    commit(write, model, (set) => set(0, "c"));
    assertEquals(contents(pinned), pinnedContents);
    pinned.release();
    holder.close();
    write.synchronize();
    using view = read.guard();
    assertEquals(contents(view), contents(model));
    const slots = tableSlots(read);
    const stats = write.stats();
    checkStats(stats);
    if (new Set(slots).size !== 1) {
      failures.push(
        `offset ${offset}: copies with tables of ${slots} slots after a publish and a synchronize (${
          whereThrown(attempt)
        })`,
      );
    } else {
      const expected = referenceBytes(model, slots[0]);
      if (stats.bytesInUse !== expected) {
        failures.push(
          `offset ${offset}: ${stats.bytesInUse} bytes in use, ${expected} for the same entries (${
            whereThrown(attempt)
          })`,
        );
      }
    }
    return attempt.overflowed;
  });
  assertEquals(failures, []);
});

Deno.test("WriteHandle.guard(), synchronize() and WriteGuard.publish() out of stack with replays, clones and frees pending leave every copy whole and every byte accounted for", () => {
  for (const action of ["guard", "synchronize", "publish"] as const) {
    const [write, read] = strMap();
    const model: Model = new Map();
    commit(write, model, (set) => {
      for (let key = 0; key < 300; key++) set(key, `v${key}`);
    });
    let round = 0;
    atEveryDepth((offset) => {
      round++;
      // Three versions pinned by three handles, each followed by a batch of
      // sets, then all released: the next write lets two copies go and
      // replays the newest, or (for "guard", with one pin still held)
      // clones the current table.
      const holders = [read.clone(), read.clone(), read.clone()];
      const pins = holders.map((holder, i) => {
        const pin = holder.guard();
        commit(write, model, (set) => {
          for (let k = 0; k < 40; k++) {
            set((k * 7 + i + round) % 300, `p${round}`);
          }
        });
        return pin;
      });
      const keep = action === "guard" ? pins.pop()! : undefined;
      let attempt: Attempt;
      if (action === "publish") {
        const guard = write.guard();
        const next = new Map(model);
        for (let k = 0; k < 40; k++) {
          guard.set((k * 11 + round) % 300, `q${round}`);
          next.set((k * 11 + round) % 300, `q${round}`);
        }
        guard.set(-round, "marker");
        next.set(-round, "marker");
        for (const pin of pins) pin.release();
        attempt = nearStackLimit(offset, () => guard.publish());
        // All of the batch or none of it, and the guard says which.
        const visible = read.get(-round) === "marker";
        assertEquals(visible, guard.published);
        if (visible) { for (const [key, value] of next) model.set(key, value); }
        else guard.abort();
      } else {
        for (const pin of pins) pin.release();
        let opened: WriteGuard<number, string> | undefined;
        attempt = nearStackLimit(offset, () => {
          if (action === "guard") opened = write.guard();
          else write.synchronize();
        });
        opened?.abort();
      }
      keep?.release();
      for (const holder of holders) holder.close();
      // Every copy the writer uses next holds the model.
      for (let i = 0; i < 3; i++) {
        using guard = write.guard();
        assertEquals(contents(guard), contents(model));
        guard.set(-1, `cycle ${i}`);
        model.set(-1, `cycle ${i}`);
      }
      checkStats(write.stats());
      return attempt.overflowed;
    });
    checkSettled(write, read, model);
  }
});

// ------------------------------------------------------------ waits

/**
 * A map whose retired copies end up as: a small one (version 1), abandoned
 * by a growth of the tables while a guard pins it, and a grown one (version
 * 3) that this thread's guard pins. `firstSteps` publishes version 1; the
 * caller pins it (a guard of this thread, or of a worker); `lastSteps`
 * publishes versions 2 to 4 and returns this thread's guard on version 3.
 * With `maxBytes` tight, no third grown table fits, even after the small
 * copy is freed.
 */
function firstSteps(maxBytes: number): [StrWrite, StrRead] {
  const [write, read] = strMap({ maxBytes });
  {
    using guard = write.guard();
    for (let key = 0; key < 40; key++) guard.set(key, "v");
  }
  return [write, read];
}

function lastSteps(write: StrWrite, read: StrRead): ReadGuard<number, string> {
  write.update((guard) => guard.set(0, "w")); // version 2: version 1 retired
  write.update((guard) => {
    // Version 3, on a new copy: the table grows twice, which abandons the
    // copy of version 1; then large values, written after the growth.
    for (let key = 40; key < 140; key++) {
      guard.set(key, key < 100 ? "v" : "x".repeat(600));
    }
  });
  const local = read.guard();
  write.update((guard) => guard.set(1, "w")); // version 4: version 3 retired
  return local;
}

/** Whether the steps run at `maxBytes` with a guard of this thread as the pin. */
function stepsFit(maxBytes: number): boolean {
  try {
    const [write, read] = firstSteps(maxBytes);
    const pin = read.clone().guard();
    lastSteps(write, read);
    pin.release();
    return true;
  } catch (error) {
    if (error instanceof DeadlockError || error instanceof BufferFullError) {
      return false;
    }
    throw error;
  }
}

Deno.test("WriteHandle.guard() throws a DeadlockError, rather than waiting out its timeout, when the other thread's copy it waited for comes free but is too small to help and only this thread's guards hold the rest", async () => {
  // The smallest maxBytes the steps fit in.
  let low = 16 * 1024;
  let high = 1024 * 1024;
  assert(stepsFit(high) && !stepsFit(low));
  while (high - low > 8) {
    const middle = Math.floor((low + high) / 16) * 8;
    if (stepsFit(middle)) high = middle;
    else low = middle;
  }
  const maxBytes = high;
  {
    // With this thread's guard as the pin, once it leaves: the small copy is
    // freed, no new copy fits, and only `local` holds the other one.
    const [write, read] = firstSteps(maxBytes);
    const pin = read.clone().guard();
    const local = lastSteps(write, read);
    pin.release();
    assertThrows(() => write.guard({ timeoutMs: 0 }), DeadlockError);
    local.release();
  }
  await using worker = new TestWorker(
    new URL("./workers/park_release_worker.ts", import.meta.url),
  );
  await worker.next("ready");
  const [write, read] = firstSteps(maxBytes);
  const attached = await worker.request({
    type: "attach",
    token: read.share(),
  } as { type: string });
  const held = await worker.request({ type: "hold" });
  assertEquals(held.size, 40);
  const local = lastSteps(write, read);
  assertEquals(pinnedOf(write.stats()), [[1, [attached.id as number]], [3, [
    read.id,
  ]]]);
  // Before the worker leaves, the wait is for it: not a deadlock.
  assertThrows(() => write.guard({ timeoutMs: 0 }), WaitTimeoutError);
  // The worker leaves while the writer waits; what is left is this
  // thread's to release. The timeout is a deadlock guard.
  worker.post({ type: "releaseWhenParked", guard: held.guard });
  let error: unknown;
  try {
    write.guard({ timeoutMs: 500 }).abort();
  } catch (thrown) {
    error = thrown;
  }
  const released: WorkerReply = await worker.next("releaseWhenParked");
  assertEquals(released.parked, true, "the worker left inside the wait");
  local.release();
  assert(
    error instanceof DeadlockError,
    `expected a DeadlockError, got ${error}`,
  );
});

Deno.test("with maxBytes too small for another copy, the writer waits for a retired copy: guard() refuses this thread's pin with a DeadlockError naming maxBytes, guardAsync({ timeoutMs }) names the handle, and a release lets it replay", async () => {
  // Two 4096-slot tables and little room besides: a third table never fits.
  const [write, read] = strMap({ capacity: 3000, maxBytes: 72 * 1024 });
  const model: Model = new Map();
  commit(write, model, (set) => {
    for (let key = 0; key < 50; key++) set(key, `v${key}`);
  });
  const view = read.guard();
  commit(write, model, (set) => set(1, "changed")); // version 2: version 1 pinned
  let stats = write.stats();
  checkStats(stats);
  assertEquals([stats.copies, stats.clones], [2, 0]);
  const deadlock = assertThrows(() => write.guard(), DeadlockError);
  assert(deadlock.message.includes("maxBytes"), deadlock.message);
  assertThrows(() => write.synchronize(), DeadlockError);
  const timeout = await assertRejects(
    () => write.guardAsync({ timeoutMs: 0 }),
    WaitTimeoutError,
  );
  assertEquals(timeout.readers, [read.id]);
  assert(timeout.message.includes("maxBytes"), timeout.message);
  stats = write.stats();
  checkStats(stats);
  assertEquals([stats.copies, stats.clones], [2, 0]);
  assertEquals(pinnedOf(stats), [[1, [read.id]]]);
  assertEquals(view.get(1), "v1");
  const pending = write.guardAsync();
  view.release();
  {
    using guard = await pending;
    assertEquals(contents(guard), contents(model));
    guard.set(2, "after");
    model.set(2, "after");
  }
  stats = write.stats();
  checkStats(stats);
  assert(stats.waits >= 1 && stats.clones === 0 && stats.replays >= 2);
  checkSettled(write, read, model);
});

Deno.test("WriteHandle.guardAsync() waiting at maxCopies: stats() reads without disturbing it, synchronize(), guard() and close() are refused, and the wait ends when this thread's guard leaves", async () => {
  const [write, read] = strMap({ maxCopies: 3 });
  const model: Model = new Map();
  commit(write, model, (set) => set(1, "one"));
  const first = read.clone();
  const a = first.guard(); // pins version 1
  commit(write, model, (set) => set(1, "two"));
  const b = read.guard(); // pins version 2
  commit(write, model, (set) => set(1, "three"));
  const pending = write.guardAsync();
  let stats = write.stats();
  checkStats(stats);
  assertEquals(stats.copies, 3);
  assertEquals(stats.waits, 1);
  assertEquals(pinnedOf(stats), [[1, [first.id]], [2, [read.id]]]);
  assertThrows(() => write.synchronize(), TypeError, "being opened");
  assertThrows(() => write.guard(), TypeError, "being opened");
  assertThrows(() => write.close(), TypeError, "being opened");
  assertEquals([a.get(1), b.get(1), read.get(1)], ["one", "two", "three"]);
  b.release();
  {
    using guard = await pending;
    guard.set(1, "four");
    model.set(1, "four");
  }
  stats = write.stats();
  checkStats(stats);
  assertEquals(pinnedOf(stats), [[1, [first.id]]]);
  assertEquals(a.get(1), "one");
  a.release();
  first.close();
  checkSettled(write, read, model);
});

// ------------------------------------------------------------ memory

Deno.test("one read guard held across many publishes pins the memory of its version, not of every version published meanwhile", () => {
  const [write, read] = strMap();
  const model: Model = new Map();
  commit(write, model, (set) => {
    for (let key = 0; key < 200; key++) set(key, `value ${key}`);
  });
  const view = read.guard();
  const pinned = contents(view);
  const publish = (from: number, to: number) => {
    for (let p = from; p < to; p++) {
      commit(write, model, (set) => {
        for (let j = 0; j < 20; j++) set((p * 20 + j) % 200, `value ${p}`);
      });
    }
  };
  // Both counts are past the writer's log budget (4096 operations): what the
  // map holds is the same 200 entries now and the 200 of the pinned version.
  publish(0, 300);
  const middle = write.stats();
  publish(300, 600);
  const late = write.stats();
  checkStats(late);
  assertEquals(contents(view), pinned);
  assertEquals([late.waits, late.pinned.length], [0, 1]);
  assert(
    late.bytesInUse - middle.bytesInUse <= middle.bytesInUse / 10,
    `bytes in use grew from ${middle.bytesInUse} to ${late.bytesInUse} over 300 publishes with one guard held (${middle.loggedOperations}, then ${late.loggedOperations} operations logged)`,
  );
  view.release();
  checkSettled(write, read, model);
});

Deno.test("many pinned versions, table growth and aborts after growth in between, released in scrambled order, round after round: each guard reads its version and the memory comes back exactly", () => {
  const [write, read] = strMap({ maxCopies: 6 });
  const handles = [read, read.clone(), read.clone(), read.clone()];
  const model: Model = new Map();
  const next = random(0x5eed);
  let key = 0;
  let abortedGrowths = 0;
  for (let round = 0; round < 4; round++) {
    const held: [ReadGuard<number, string>, [number, string][]][] = [];
    for (let step = 0; step < 8; step++) {
      if (step % 2 === 0) {
        const guard = handles[step / 2].guard();
        held.push([guard, contents(guard)]);
      }
      // Grows the tables now and then, round after round.
      const grow = 30 + round * 40;
      if (step === 3) {
        // A batch that grows the tables, aborted: kept copies stay abandoned.
        const guard = write.guard();
        const before = Math.max(...tableSlots(read));
        for (let i = 0; i < grow; i++) {
          guard.set(100_000 + round * 1000 + i, "x");
        }
        if (Math.max(...tableSlots(read)) > before) abortedGrowths++;
        guard.abort();
      }
      commit(write, model, (set) => {
        for (let i = 0; i < (step === 5 ? grow : 10); i++) {
          set(
            step === 5 ? key++ : Math.floor(next() * (key + 1)),
            `r${round}s${step}`,
          );
        }
      });
      const stats = write.stats();
      checkStats(stats);
      assertEquals(stats.waits, 0);
      for (const [guard, expected] of held) {
        assertEquals(contents(guard), expected);
      }
    }
    // Scrambled release order, with a synchronize after each.
    for (const i of [2, 0, 3, 1]) {
      held[i][0].release();
      write.synchronize();
      checkStats(write.stats());
      for (const [guard, expected] of held) {
        if (!guard.released) assertEquals(contents(guard), expected);
      }
    }
    // Half the keys go, so that entries are freed as well as made.
    commit(write, model, () => {});
    {
      using guard = write.guard();
      for (const k of [...model.keys()]) {
        if (next() < 0.5) {
          guard.remove(k);
          model.delete(k);
        }
      }
    }
    checkSettled(write, read, model);
  }
  assert(abortedGrowths > 0, "no aborted batch grew the tables");
});

Deno.test("WriteGuard.clear() while versions are pinned: each pinned guard keeps its entries, and every entry is freed once after they leave", () => {
  const [write, read] = strMap();
  const model: Model = new Map();
  commit(write, model, (set) => {
    for (let key = 0; key < 100; key++) set(key, `a${key}`);
  });
  const first = read.guard();
  const firstContents = contents(first);
  write.update((guard) => guard.clear());
  model.clear();
  commit(write, model, (set) => {
    for (let key = 50; key < 120; key++) set(key, `b${key}`);
  });
  const other = read.clone();
  const second = other.guard();
  const secondContents = contents(second);
  // Cleared and refilled in one batch, then cleared and aborted.
  write.update((guard) => {
    guard.clear();
    guard.set(7, "c");
  });
  model.clear();
  model.set(7, "c");
  const aborted = write.guard();
  aborted.clear();
  aborted.abort();
  checkStats(write.stats());
  assertEquals(contents(first), firstContents);
  assertEquals(contents(second), secondContents);
  first.release();
  second.release();
  other.close();
  checkSettled(write, read, model);
});

// ------------------------------------------------------------ callbacks

/** Number values through a codec that runs `hook` on every encode and decode. */
function hookedValues(): Codec<number> & { hook: (() => void) | null } {
  const codec = {
    name: "test.spare-hooked-number",
    canonical: true,
    hook: null as (() => void) | null,
    encode(value: number): Uint8Array {
      codec.hook?.();
      return codecs.number.encode(value);
    },
    decode(bytes: Uint8Array): number {
      codec.hook?.();
      return codecs.number.decode(bytes);
    },
  };
  return codec;
}

Deno.test("a replace() update that re-enters the writer while versions are pinned: stats() is consistent, every write-side call is refused, and nothing changes", () => {
  const values = hookedValues();
  const [write, read] = create({
    key: codecs.int32,
    value: values,
    maxReaders: MAX_READERS,
  });
  write.update((guard) => {
    for (let key = 0; key < 20; key++) guard.set(key, key);
  });
  const holder = read.clone();
  const pinned = holder.guard();
  write.update((guard) => guard.set(0, 100)); // version 2: version 1 pinned
  const outcomes: string[] = [];
  let inside: WriteStats | undefined;
  {
    using guard = write.guard();
    guard.replace(1, (old) => {
      inside = write.stats();
      const attempts: [string, () => unknown][] = [
        ["synchronize", () => write.synchronize()],
        ["guard", () => write.guard()],
        ["update", () => write.update(() => 1)],
        ["close", () => write.close()],
        ["publish", () => guard.publish()],
        ["abort", () => guard.abort()],
        ["set", () => guard.set(5, 5)],
        ["reclaim", () => write.reclaim(holder.id)],
      ];
      for (const [name, attempt] of attempts) {
        try {
          attempt();
          outcomes.push(`${name}: ran`);
        } catch (error) {
          outcomes.push(`${name}: ${(error as Error).name}`);
        }
      }
      return old + 1;
    });
  }
  assertEquals(outcomes, [
    "synchronize: TypeError",
    "guard: TypeError",
    "update: TypeError",
    "close: TypeError",
    "publish: TypeError",
    "abort: TypeError",
    "set: TypeError",
    "reclaim: TypeError", // the handle is this thread's
  ]);
  checkStats(inside!);
  assertEquals(
    [inside!.version, inside!.copies, pinnedOf(inside!)],
    [2, 3, [[1, [holder.id]]]],
  );
  const stats = write.stats();
  checkStats(stats);
  assertEquals([stats.version, pinnedOf(stats)], [3, [[1, [holder.id]]]]);
  assertEquals([pinned.get(0), pinned.get(1), pinned.get(5)], [0, 1, 5]);
  assertEquals([read.get(0), read.get(1), read.get(5)], [100, 2, 5]);
  pinned.release();
  holder.close();
  write.synchronize();
  assertEquals([write.stats().copies, write.stats().loggedOperations], [2, 0]);
});

for (const maxCopies of [8, 2]) {
  Deno.test(`a read guard whose value codec publishes from inside the guard's own iteration still yields its version whole (maxCopies ${maxCopies})`, () => {
    const values = hookedValues();
    const [write, read] = create({
      key: codecs.int32,
      value: values,
      maxReaders: MAX_READERS,
      maxCopies,
    });
    write.update((guard) => {
      for (let key = 0; key < 30; key++) guard.set(key, key);
    });
    const view = read.guard();
    const expected = [...view].sort(([a], [b]) => a - b);
    let publishes = 0;
    const refusals: string[] = [];
    let depth = 0;
    values.hook = () => {
      if (depth > 0) return; // the writer's own encode
      depth++;
      try {
        write.update((guard) => guard.set(1000 + publishes, publishes));
        publishes++;
      } catch (error) {
        refusals.push((error as Error).name);
      } finally {
        depth--;
      }
    };
    const got = [...view].sort(([a], [b]) => a - b);
    values.hook = null;
    assertEquals(got, expected);
    const stats = write.stats();
    checkStats(stats);
    assertEquals(stats.waits, 0);
    if (maxCopies === 2) {
      // One publish fits; then the only retired copy is this thread's view.
      assertEquals(publishes, 1);
      assert(refusals.length > 0);
      assert(refusals.every((name) => name === "DeadlockError"), `${refusals}`);
    } else {
      assertEquals([publishes, refusals], [30, []]);
    }
    view.release();
    write.synchronize();
    const after = write.stats();
    assertEquals([after.copies, after.pinned, after.loggedOperations], [
      2,
      [],
      0,
    ]);
    assertEquals(read.get(1000), publishes > 0 ? 0 : undefined);
  });
}

Deno.test("a value codec or replace() update that throws at the insert that would grow the table, with versions pinned, changes nothing: no growth, no byte allocated or freed, and the guard goes on", () => {
  const values = hookedValues();
  const [write, read] = create({
    key: codecs.int32,
    value: values,
    maxReaders: MAX_READERS,
    seed: SEED,
  });
  write.update((guard) => {
    for (let key = 0; key < 6; key++) guard.set(key, key);
  });
  const holder = read.clone();
  const pinned = holder.guard();
  write.update((guard) => guard.set(0, 100));
  const guard = write.guard();
  const slots = Math.max(...tableSlots(read));
  let key = 100;
  while (guard.size + 1 <= slots * MAX_LOAD) guard.set(key++, key);
  const before = write.stats();
  const failure = new Error("codec failure");
  values.hook = () => {
    throw failure;
  };
  assertThrows(() => guard.set(key, key), Error, "codec failure");
  values.hook = null;
  assertThrows(
    () =>
      guard.replace(1, () => {
        throw failure;
      }),
    Error,
    "codec failure",
  );
  assertEquals(Math.max(...tableSlots(read)), slots, "no growth");
  assertEquals(write.stats().bytesInUse, before.bytesInUse);
  assertEquals(guard.has(key), false);
  assertEquals(guard.get(1), 1);
  // The guard goes on: the same insert now grows the table.
  guard.set(key, key);
  assert(Math.max(...tableSlots(read)) > slots);
  guard.publish();
  assertEquals(pinned.get(0), 0);
  assertEquals(pinned.has(key), false);
  assertEquals(read.get(key), key);
  pinned.release();
  holder.close();
  write.synchronize();
  const stats = write.stats();
  checkStats(stats);
  assertEquals([stats.copies, stats.pinned, stats.loggedOperations], [
    2,
    [],
    0,
  ]);
});

// ------------------------------------------------------------ stats

Deno.test("stats(): a handle with guards on two versions is listed under both, a guard on the current copy pins nothing, and all returns to two copies with nothing logged", () => {
  const [write, read] = strMap();
  const model: Model = new Map();
  const other = read.clone();
  commit(write, model, (set) => set(1, "one"));
  const a = read.guard(); // version 1
  const onOther = other.guard(); // version 1, another handle
  commit(write, model, (set) => set(1, "two"));
  const b = read.guard(); // version 2, same handle as `a`
  const current = other.guard(); // not yet pinned: version 2 is current
  let stats = write.stats();
  checkStats(stats);
  assertEquals(pinnedOf(stats), [[
    1,
    [read.id, other.id].sort((x, y) => x - y),
  ]]);
  commit(write, model, (set) => set(1, "three"));
  stats = write.stats();
  checkStats(stats);
  assertEquals(pinnedOf(stats), [
    [1, [read.id, other.id].sort((x, y) => x - y)],
    [2, [read.id, other.id].sort((x, y) => x - y)],
  ]);
  assert(stats.loggedOperations > 0);
  const fresh = read.guard(); // on version 3, the current one
  stats = write.stats();
  assertEquals(stats.pinned.length, 2);
  fresh.release();
  onOther.release();
  current.release();
  assertEquals(pinnedOf(write.stats()), [[1, [read.id]], [2, [read.id]]]);
  a.release();
  assertEquals(pinnedOf(write.stats()), [[2, [read.id]]]);
  b.release();
  assertEquals(write.stats().pinned, []);
  other.close();
  assertEquals([a.released, b.released], [true, true]);
  checkSettled(write, read, model);
});

Deno.test("reclaim(id) of a worker's handle that pins two versions unpins both at once; the worker's later release and close change nothing; the memory comes back", async () => {
  const [write, read] = strMap();
  const model: Model = new Map();
  commit(write, model, (set) => {
    for (let key = 0; key < 50; key++) set(key, `v${key}`);
  });
  await using worker = new TestWorker(
    new URL("./workers/park_release_worker.ts", import.meta.url),
  );
  await worker.next("ready");
  const { id } = await worker.request({
    type: "attach",
    token: read.share(),
  } as { type: string });
  const first = await worker.request({ type: "hold" });
  commit(write, model, (set) => set(1, "two"));
  await worker.request({ type: "hold" });
  commit(write, model, (set) => set(1, "three"));
  let stats = write.stats();
  checkStats(stats);
  assertEquals(pinnedOf(stats), [[1, [id as number]], [2, [id as number]]]);
  write.reclaim(id as number);
  stats = write.stats();
  assertEquals(stats.pinned, []);
  write.synchronize();
  assertEquals(write.stats().copies, 2);
  // The worker's handle is inert now: leaving and closing change nothing.
  const released = await worker.request({
    type: "release",
    guard: first.guard,
  } as { type: string });
  assertEquals(released.error, undefined);
  const closed = await worker.request({ type: "close" });
  assertEquals(closed.error, undefined);
  assertThrows(() => write.reclaim(id as number), RangeError);
  checkSettled(write, read, model);
  // The slot is free again: a new handle takes it.
  const again = read.clone();
  again.close();
});

// ------------------------------------------------------------ options

Deno.test("maxCopies: strings, boxed numbers, objects and fractions are refused by create() and Builder alike; null and undefined mean the default", () => {
  const wrongType = [
    "8",
    new Number(4),
    { valueOf: () => 4 },
    Symbol("4"),
    () => 4,
  ];
  const outOfRange = [
    2.5,
    17,
    1,
    -0,
    1e-300,
    Number.MAX_SAFE_INTEGER,
    -Infinity,
  ];
  for (const value of wrongType) {
    assertThrows(
      () => create({ maxCopies: wrong(value) }),
      TypeError,
      "maxCopies",
    );
    assertThrows(
      () => new Builder().withMaxCopies(wrong(value)).build(),
      TypeError,
      "maxCopies",
    );
  }
  for (const maxCopies of outOfRange) {
    assertThrows(() => create({ maxCopies }), RangeError, "from 2 to 16");
    assertThrows(
      () => new Builder().withMaxCopies(maxCopies).build(),
      RangeError,
      "from 2 to 16",
    );
  }
  for (const value of [null, undefined]) {
    assertEquals(create({ maxCopies: wrong(value) })[0].stats().maxCopies, 8);
  }
  for (const maxCopies of [2, 16, 8.0]) {
    const [write] = create({ maxCopies });
    assertEquals([write.stats().maxCopies, write.stats().copies], [
      maxCopies,
      2,
    ]);
  }
});
