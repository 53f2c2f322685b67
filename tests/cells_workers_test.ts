/**
 * Atomic cells updated by real workers: counters that several workers add
 * to while the writer publishes, grows the table and replaces other keys;
 * a lock built on `compareExchange` that keeps a plain read-modify-write
 * exact; and a zombie (a worker still running after `terminate()` and
 * `reclaim()`) whose late updates must never land in memory the writer
 * reused.
 *
 * The workers are tests/workers/cells_worker.ts. Every wait here is bounded
 * and no assertion is on time.
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
  type Atomic,
  codecs,
  create,
  type ReadHandle,
  type WriteHandle,
} from "@x/flashmap";
import { TestWorker } from "./utils.ts";

const CELLS = new URL("./workers/cells_worker.ts", import.meta.url);

type Counters = WriteHandle<string, Atomic<number>>;
type CounterReader = ReadHandle<string, Atomic<number>>;

/** A deadlock guard for the writer's waits, never a timing assertion. */
const DEADLOCK_GUARD_MS = 10_000;
/** How long a worker's reply may take before the test gives up (a deadlock guard). */
const REPLY_GUARD_MS = 120_000;

/** Lets the event loop run, so that worker messages arrive. */
function yieldToEvents(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

async function startWorkers(
  count: number,
  read: CounterReader,
): Promise<{ workers: TestWorker[]; ids: number[] }> {
  const workers: TestWorker[] = [];
  const ids: number[] = [];
  for (let i = 0; i < count; i++) workers.push(new TestWorker(CELLS));
  for (const worker of workers) {
    await worker.next("ready");
    const reply = await worker.request(
      { type: "attach", token: read.share() } as { type: string },
    );
    assertEquals(reply.error, undefined);
    ids.push(reply.id as number);
  }
  return { workers, ids };
}

/**
 * Terminates `workers`, first setting `stop[0]` so that a worker still
 * busy in a run (a failed test) leaves it rather than run on as a zombie.
 */
async function stopAll(
  workers: TestWorker[],
  stop?: Int32Array,
): Promise<void> {
  if (stop !== undefined) {
    Atomics.store(stop, 0, 1);
    Atomics.notify(stop, 0);
  }
  for (const worker of workers) await worker[Symbol.asyncDispose]();
}

/** A word the test sets to make busy workers stop. */
function stopWord(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4));
}

/**
 * The writer's busy work on keys other than the counters: cycles that fill
 * the map with "other" keys up to a target that doubles each cycle (so the
 * table grows again and again), replace some values, then remove them all;
 * the next cycle inserts the same names again. `model` is what the map must
 * hold of them.
 */
class OtherKeys {
  readonly model = new Map<string, number>();
  #cycle = 0;
  #target: number;
  readonly #maxTarget: number;
  #filling = true;
  #next = 0;
  /** The most other keys the schedule has held at once. */
  highest = 0;

  constructor(firstTarget: number, maxTarget: number) {
    this.#target = firstTarget;
    this.#maxTarget = maxTarget;
  }

  /** Runs `ops` operations of the schedule in `guard`. */
  step(
    guard: {
      set(key: string, value: number): unknown;
      delete(key: string): boolean;
    },
    ops: number,
  ): void {
    const model = this.model;
    for (let op = 0; op < ops; op++) {
      if (this.#filling) {
        const key = `other:${this.#next}`;
        const value = (this.#cycle * 100_003 + this.#next * 7_919) | 0;
        guard.set(key, value);
        model.set(key, value);
        this.#next++;
        // Now and then, a new value for a key already in (a new entry).
        if (this.#next % 7 === 0) {
          const again = `other:${this.#next >> 1}`;
          const value = -this.#next;
          guard.set(again, value);
          model.set(again, value);
        }
        if (this.#next === this.#target) {
          this.highest = Math.max(this.highest, this.#next);
          this.#filling = false;
        }
      } else {
        this.#next--;
        const key = `other:${this.#next}`;
        assert(guard.delete(key), `the writer's ${key} was there`);
        model.delete(key);
        if (this.#next === 0) {
          this.#cycle++;
          this.#target = Math.min(this.#target * 2, this.#maxTarget);
          this.#filling = true;
        }
      }
    }
  }
}

const COUNTERS = ["hits:a", "hits:b", "hits:c", "hits:d"];
const COUNTING_WORKERS = 4;
const ADDS_PER_WORKER = 1_000_000;
/**
 * Each worker waits at this many points of its adds until the writer has
 * published this many times since the last: its adds span thousands of
 * publishes, however the threads are scheduled.
 */
const CHECKPOINTS = 32;
const PUBLISHES_APART = 96;
/**
 * The writer's side of a run: publishes `ops` changes of `others` at a
 * time until `replies` settles (either way, so that it ends even if a
 * worker fails), at most {@linkcode MAX_PUBLISHES} times, letting worker
 * messages in every `yieldEvery` publishes. Returns how many it made.
 */
async function churn(
  write: Counters,
  others: OtherKeys,
  ops: number,
  yieldEvery: number,
  replies: Promise<unknown>,
): Promise<number> {
  let finished = false;
  replies.then(() => finished = true, () => finished = true);
  let publishes = 0;
  while (!finished && publishes < MAX_PUBLISHES) {
    write.update((guard) => others.step(guard, ops), {
      timeoutMs: DEADLOCK_GUARD_MS,
    });
    publishes++;
    if (publishes % yieldEvery === 0) await yieldToEvents();
  }
  return publishes;
}

/** Bounds the writer's loop: far more publishes than the workers need. */
const MAX_PUBLISHES = 1_000_000;

Deno.test("atomic cells: 4 workers each add 1 a million times while the writer publishes, grows and replaces other keys", async () => {
  const [write, read] = create({
    key: codecs.string,
    value: codecs.atomicInt32,
  });
  write.update((guard) => {
    for (const key of COUNTERS) guard.insert(key, 0);
  });
  const { workers } = await startWorkers(COUNTING_WORKERS, read);
  const stop = stopWord();
  try {
    const replies = Promise.all(
      workers.map((worker, i) => {
        worker.post({
          type: "count",
          keys: COUNTERS,
          adds: ADDS_PER_WORKER,
          batch: 128,
          offset: i,
          checkpoints: CHECKPOINTS,
          publishesApart: PUBLISHES_APART,
          oneShotEvery: 8,
          stop,
        });
        return worker.next("count", REPLY_GUARD_MS);
      }),
    );
    const others = new OtherKeys(512, 16_384);
    const publishes = await churn(write, others, 12, 32, replies);
    const results = await replies;

    // Every worker's adds found their key, in order, and spanned publishes.
    const added = COUNTERS.map(() => 0);
    for (const result of results) {
      assertEquals(result.error, undefined);
      assertEquals(
        [result.misses, result.backwards, result.stalls],
        [0, 0, 0],
        "misses, backwards reads and stalled checkpoints",
      );
      assert((result.versions as number) > 1, "the guards saw one version");
      const mine = result.added as number[];
      assertEquals(mine.reduce((a, b) => a + b, 0), ADDS_PER_WORKER);
      mine.forEach((n, i) => added[i] += n);
    }
    assert(others.highest >= 8_192, `the table grew to ${others.highest} keys`);

    // The counters hold exactly the adds, through every kind of read.
    const expected = COUNTING_WORKERS * ADDS_PER_WORKER;
    assertEquals(
      COUNTERS.map((key): number | undefined => read.get(key)),
      added,
    );
    assertEquals(COUNTERS.map((key) => read.load(key)), added);
    {
      using view = read.guard();
      const values = COUNTERS.map((key) => view.get(key)!);
      assertEquals(values, added);
      assertEquals(values.reduce((a, b) => a + b, 0), expected);
      // The other keys are exactly what the writer wrote.
      const rest = new Map(
        [...view.entries()].filter(([key]) => !COUNTERS.includes(key)),
      );
      assertEquals(rest, others.model);
      assertEquals(view.size, COUNTERS.length + others.model.size);
    }
    {
      using guard = write.guard({ timeoutMs: DEADLOCK_GUARD_MS });
      assertEquals(
        COUNTERS.map((key): number | undefined => guard.get(key)),
        added,
      );
      guard.abort();
    }
    // Each worker waited for these publishes between its checkpoints.
    assert(publishes >= CHECKPOINTS * PUBLISHES_APART);
  } finally {
    await stopAll(workers, stop);
  }
});

const LOCK_WORKERS = 4;
const LOCK_ITERATIONS = 20_000;

/** A map with the lock and owner cells, both 0 (free). */
function lockMap(): [Counters, CounterReader] {
  const [write, read] = create({
    key: codecs.string,
    value: codecs.atomicInt32,
  });
  write.update((guard) => {
    guard.insert("lock", 0);
    guard.insert("owner", 0);
  });
  return [write, read];
}

Deno.test("atomic cells: a mutual exclusion built on compareExchange holds under 4 workers", async () => {
  const [write, read] = lockMap();
  const plain = new Int32Array(new SharedArrayBuffer(4));
  const { workers } = await startWorkers(LOCK_WORKERS, read);
  const stop = stopWord();
  try {
    const replies = Promise.all(
      workers.map((worker, i) => {
        worker.post({
          type: "lock",
          iterations: LOCK_ITERATIONS,
          plain,
          id: i + 1,
          stop,
        });
        return worker.next("lock", REPLY_GUARD_MS);
      }),
    );
    // Meanwhile the writer publishes other keys: the lock's cell is the one
    // cell whichever copy a worker's guard reads.
    const others = new OtherKeys(64, 1_024);
    await churn(write, others, 8, 4, replies);
    const results = await replies;
    // How often a worker found the lock taken depends on the scheduling:
    // it is not asserted, only named in the messages.
    const contended = results.map((result) => result.contended).join(", ");
    for (const result of results) {
      assertEquals(result.error, undefined);
      assertEquals(result.giveUps, 0, "a worker never got the lock");
      assertEquals(
        result.overlaps,
        0,
        `two workers held the lock at once (contended: ${contended})`,
      );
    }
    assertEquals(
      Atomics.load(plain, 0),
      LOCK_WORKERS * LOCK_ITERATIONS,
      `lost updates (contended: ${contended})`,
    );
    assertEquals([read.get("lock"), read.get("owner")], [0, 0]);
  } finally {
    await stopAll(workers, stop);
  }
});

/** Waits (bounded) until `words[index]` is not 0. */
async function untilSet(words: Int32Array, index: number): Promise<boolean> {
  for (let polls = 0; polls < 10_000; polls++) {
    if (Atomics.load(words, index) !== 0) return true;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return false;
}

Deno.test("atomic cells: the lock's checks catch an overlap and a lost update, and the lock keeps a second worker out (a stepped control)", async () => {
  const [write, read] = lockMap();
  const plain = new Int32Array(new SharedArrayBuffer(4));
  const pause = new Int32Array(new SharedArrayBuffer(8));
  const { workers: [a, b] } = await startWorkers(2, read);
  try {
    // A takes the lock and stops between its read and its write.
    a.post({ type: "critical", plain, id: 1, useLock: true, pause });
    assert(await untilSet(pause, 0), "A never reached its critical section");
    assertEquals([read.load("lock"), read.load("owner")], [1, 1]);
    // The writer publishes: the lock holds through the new copy too.
    write.update((guard) => guard.insert("other", 5));
    // B, with the lock: kept out.
    let reply = await b.request(
      { type: "critical", plain, id: 2, useLock: true, pause: null } as {
        type: string;
      },
    );
    assertEquals([reply.error, reply.acquired], [undefined, false]);
    // B, without the lock: it gets in, and both see the overlap.
    reply = await b.request(
      { type: "critical", plain, id: 2, useLock: false, pause: null } as {
        type: string;
      },
    );
    assertEquals([reply.acquired, reply.overlaps], [true, 1]);
    assertEquals(Atomics.load(plain, 0), 1);
    Atomics.store(pause, 1, 1);
    Atomics.notify(pause, 1);
    reply = await a.next("critical");
    assertEquals([reply.acquired, reply.overlaps, reply.stalled], [
      true,
      1,
      false,
    ]);
    // Two increments, one lost: what the exact count in the test above
    // would catch.
    assertEquals(Atomics.load(plain, 0), 1);
    assertEquals([read.load("lock"), read.load("owner")], [0, 0]);
    // Released: B gets the lock now.
    reply = await b.request(
      { type: "critical", plain, id: 2, useLock: true, pause: null } as {
        type: string;
      },
    );
    assertEquals([reply.acquired, reply.overlaps], [true, 0]);
    assertEquals(Atomics.load(plain, 0), 2);
  } finally {
    Atomics.store(pause, 1, 1);
    Atomics.notify(pause, 1);
    await stopAll([a, b]);
  }
});

// The zombie's shared words: mirrors tests/workers/cells_worker.ts.
const GO = 0;
const STAGE = 1;
const ADDS = 2;
const MISSES = 3;
const JUMPS = 4;
const LAST = 5;
const LATE_ADD = 6;
const LATE_GUARD = 7;
const RELEASED = 8;
const FIRST = 9;
const MESSAGE_LENGTH = 10;
const MESSAGE = 11;
const MESSAGE_WORDS = 200;
const FLAG_WORDS = MESSAGE + MESSAGE_WORDS;
const ADDING = 1;
const DONE = 2;
const RECLAIMED = 2;

/** The zombie adds at most this many times: a bound, not a timing. */
const ZOMBIE_MAX_ADDS = 2_000_000_000;
const POLLS = 20_000;
const POLL_MS = 1;

/** The zombie's first unexpected error, if it noted one. */
function zombieMessage(flags: Int32Array): string {
  const length = Atomics.load(flags, MESSAGE_LENGTH);
  let text = "";
  for (let i = 0; i < length; i++) {
    text += String.fromCharCode(flags[MESSAGE + i]);
  }
  return text;
}

/** Waits (bounded) until the zombie has added more than `adds` times; its count then. */
async function progress(flags: Int32Array, adds: number): Promise<number> {
  for (let polls = 0; polls < POLLS; polls++) {
    const now = Atomics.load(flags, ADDS);
    if (now > adds || Atomics.load(flags, STAGE) === DONE) return now;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return Atomics.load(flags, ADDS);
}

/** Waits (bounded) until the zombie is done. */
async function done(flags: Int32Array): Promise<boolean> {
  for (let polls = 0; polls < POLLS; polls++) {
    if (Atomics.load(flags, STAGE) === DONE) return true;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return false;
}

function letGo(flags: Int32Array): void {
  Atomics.store(flags, GO, 1);
  Atomics.notify(flags, GO);
}

/** Checks that the map holds exactly `model`, through a guard and one-shot reads. */
function checkExact(
  read: CounterReader,
  write: Counters,
  model: Map<string, number>,
  when: string,
): void {
  {
    using view = read.guard();
    assertEquals(view.size, model.size, `${when}: the size`);
    for (const [key, value] of view.entries()) {
      assertEquals(value, model.get(key), `${when}: ${key} in a guard`);
    }
  }
  assertEquals(read.size, model.size, `${when}: the size, one-shot`);
  for (const [key, value] of model) {
    const got = read.get(key);
    if (got !== value) {
      assertEquals(got, value, `${when}: ${key}, one-shot`);
    }
  }
  // The writer's copy too.
  using guard = write.guard({ timeoutMs: DEADLOCK_GUARD_MS });
  assertEquals(guard.size, model.size, `${when}: the writer's size`);
  for (const [key, value] of guard.entries()) {
    assertEquals(value, model.get(key), `${when}: ${key} in the writer's copy`);
  }
  guard.abort();
}

/**
 * A zombie adds to "z" through a guard while the writer removes "z" and
 * every other key, re-inserts "z" and thousands of new keys (the table
 * grows), publishes and synchronizes again and again. With `residual`, the
 * writer publishes once between the zombie's guard and the reclaim (the
 * guard is on a retired copy); without, the guard is on the current copy.
 */
async function zombieRun(residual: boolean): Promise<void> {
  const [write, read] = create({
    key: codecs.string,
    value: codecs.atomicInt32,
  });
  const model = new Map<string, number>();
  write.update((guard) => {
    guard.insert("z", 0);
    for (let i = 0; i < 100; i++) guard.insert(`old:${i}`, i);
  });
  const flags = new Int32Array(new SharedArrayBuffer(FLAG_WORDS * 4));
  const { workers: [worker], ids: [id] } = await startWorkers(1, read);
  try {
    worker.post({ type: "zombie", key: "z", flags, maxAdds: ZOMBIE_MAX_ADDS });
    const started = await worker.next("zombie");
    assertEquals(started.error, undefined);
    assertEquals(started.first, 0);
    assertEquals(Atomics.load(flags, STAGE), ADDING);
    if (residual) write.update((guard) => guard.set("old:0", -1));

    worker.worker.terminate(); // the zombie adds on: it is busy
    write.reclaim(id);
    let adds = await progress(flags, Atomics.load(flags, ADDS));
    assertEquals(Atomics.load(flags, STAGE), ADDING, "the zombie stopped");

    // "z" and every other key go; their entries must outlive the zombie's
    // guard, since it still adds to "z" through it.
    write.update((guard) => guard.clear(), { timeoutMs: DEADLOCK_GUARD_MS });
    write.synchronize({ timeoutMs: DEADLOCK_GUARD_MS });
    adds = await progress(flags, adds);
    checkExact(read, write, model, "after the clear");

    // Rounds of new keys ("z" again among them), growing the table, with
    // removals in between, so that freed memory is reused.
    for (let round = 0; round < 6; round++) {
      const keys = 1_000 * (round + 1);
      for (let start = 0; start < keys; start += 250) {
        write.update((guard) => {
          for (let i = start; i < start + 250 && i < keys; i++) {
            const key = `new:${round}:${i}`;
            const value = (round * 1_000_003 + i * 7_919 + 1) | 0;
            guard.set(key, value);
            model.set(key, value);
          }
          guard.set("z", 1_000 + round);
          model.set("z", 1_000 + round);
        }, { timeoutMs: DEADLOCK_GUARD_MS });
      }
      if (round > 0) {
        // Half of the last round's keys go.
        write.update((guard) => {
          for (let i = 0; i < 1_000 * round; i += 2) {
            const key = `new:${round - 1}:${i}`;
            assert(guard.delete(key));
            model.delete(key);
          }
        }, { timeoutMs: DEADLOCK_GUARD_MS });
      }
      write.synchronize({ timeoutMs: DEADLOCK_GUARD_MS });
      // The zombie is still adding, now that the memory was reused.
      const before = adds;
      adds = await progress(flags, adds);
      assert(adds > before, `the zombie stopped adding in round ${round}`);
      assertEquals(Atomics.load(flags, STAGE), ADDING);
      checkExact(read, write, model, `round ${round}`);
    }
    // Stray increments would show here, or as jumps the zombie saw.
    assertEquals(Atomics.load(flags, MISSES), 0, "the zombie's key went");
    assertEquals(Atomics.load(flags, JUMPS), 0, "someone else wrote its cell");
    // Its guard keeps its copy (and the entries it reaches) from reuse:
    // beside the current copy and the writer's, that copy is still there.
    // `stats().pinned` shows it as one orphan of no open handle.
    const copiesPinned = write.stats().copies;
    assertEquals(copiesPinned, 3, "the current, the writer's and the zombie's");
    assertEquals(
      write.stats().pinned.map((pinned) => [pinned.readers, pinned.orphans]),
      [[[], 1]],
    );

    // The zombie's loop ends: it tries the handle, then leaves its guard.
    letGo(flags);
    assert(await done(flags), "the zombie never finished");
    assertEquals(zombieMessage(flags), "");
    assertEquals(Atomics.load(flags, MISSES), 0);
    assertEquals(Atomics.load(flags, JUMPS), 0);
    const total = Atomics.load(flags, ADDS);
    assert(total >= adds);
    // Its old cell counted every add, from 0: nothing else wrote it.
    assertEquals(Atomics.load(flags, LAST), total);
    assertEquals(Atomics.load(flags, FIRST), 0);
    assertEquals(Atomics.load(flags, LATE_ADD), RECLAIMED);
    assertEquals(Atomics.load(flags, LATE_GUARD), RECLAIMED);
    assertEquals(Atomics.load(flags, RELEASED), 1);

    // Its copies come free: synchronize() returns and the writer goes on.
    write.synchronize({ timeoutMs: DEADLOCK_GUARD_MS });
    assertEquals(write.stats().copies, copiesPinned - 1, "the zombie's copy");
    assertEquals(write.stats().pinned, []);
    checkExact(read, write, model, "after the zombie left");
    write.update((guard) => {
      for (let i = 0; i < 2_000; i++) {
        guard.set(`last:${i}`, -i | 0);
        model.set(`last:${i}`, -i | 0);
      }
    }, { timeoutMs: DEADLOCK_GUARD_MS });
    write.synchronize({ timeoutMs: DEADLOCK_GUARD_MS });
    checkExact(read, write, model, "at the end");
    assertNotEquals(read.get("z"), undefined);
  } finally {
    letGo(flags);
    await done(flags);
    await stopAll([worker]);
  }
}

Deno.test("atomic cells: a zombie's late updates never land in another key's memory (its guard on a retired copy)", async () => {
  await zombieRun(true);
});

Deno.test("atomic cells: a zombie's late updates never land in another key's memory (its guard on the current copy)", async () => {
  await zombieRun(false);
});

Deno.test("atomic cells: a reclaimed worker's guard pins its copy as an orphan until released, unless reclaim() is told the thread stopped", async () => {
  for (const stopped of [false, true]) {
    const [write, read] = create({
      key: codecs.string,
      value: codecs.atomicInt32,
      maxCopies: 3,
    });
    write.update((guard) => guard.insert("k", 0));
    const { workers, ids } = await startWorkers(1, read);
    const [worker] = workers;
    try {
      const reply = await worker.request({ type: "hold", key: "k" } as {
        type: string;
      });
      assertEquals(reply.error, undefined);
      assertEquals(reply.added, 0);
      write.update((guard) => guard.insert("other", 1)); // retires its copy
      // Idle in its event loop, the worker stops for good here.
      await worker[Symbol.asyncDispose]();
      write.reclaim(ids[0], { stopped });
      write.synchronize({ timeoutMs: DEADLOCK_GUARD_MS });
      const pinned = write.stats().pinned;
      if (stopped) {
        assertEquals(pinned, []);
        assertEquals(write.stats().copies, 2);
      } else {
        assertEquals(pinned.map((p) => [p.readers, p.orphans]), [[[], 1]]);
        assertEquals(write.stats().copies, 3);
      }
      assertEquals(read.get("k"), 1);
    } finally {
      await stopAll(workers);
      read.close();
      write.close();
    }
  }
  const [write] = create({ value: codecs.atomicInt32 });
  // Checked before the id: nothing is reclaimed.
  assertThrows(
    () => write.reclaim(200, { stopped: "yes" as unknown as boolean }),
    TypeError,
    "stopped must be a boolean",
  );
});
