/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * A worker for tests/cells_workers_test.ts: attaches to a map of string
 * keys to `codecs.atomicInt32` cells from a token and updates cells on
 * request. Every request gets one reply of the same type (an error comes
 * back as `{ error }`), except that a zombie run reports through shared
 * words, since messages posted after `terminate()` are never delivered.
 *
 * Requests:
 * - `attach { token }`: replies with the handle's id.
 * - `count { keys, adds, batch, offset, checkpoints, publishesApart,
 *   oneShotEvery }`: `adds` times `add(key, 1)`, round robin over `keys`
 *   from `offset`, in read guards of `batch` adds (every `oneShotEvery`-th
 *   batch through the read handle's one-shot `add` instead). At
 *   `checkpoints` points along the way it waits (bounded) until the writer
 *   has published `publishesApart` more times since the last one, so that
 *   its adds span that many publishes whatever the scheduling. Replies with
 *   what it added to each key and what it saw. It stops early once the
 *   test sets `stop[0]` (a failed test), as the lock run does.
 * - `lock { iterations, plain, id, work }`: `iterations` times takes the
 *   lock cell "lock" with `compareExchange("lock", 0, 1)` (bounded spin),
 *   runs a plain read-modify-write of `plain[0]` and checks that the
 *   "owner" cell names no one else, then releases with `store("lock", 0)`.
 * - `critical { plain, id, useLock, pause }`: one such critical section, at
 *   most one try at the lock; with `pause`, it stops between its read and
 *   its write of `plain[0]` until the test says go (`pause[1]`).
 * - `zombie { key, flags, maxAdds }`: opens a guard and adds 1 to `key`
 *   through it, over and over, until `flags[GO]` is set (at most `maxAdds`
 *   times), staying in synchronous code so that `terminate()` cannot stop
 *   it; then tries the handle late, releases the guard and reports.
 * - `hold { key }`: opens a guard, adds 1 to `key` through it and replies,
 *   keeping the guard open for good: the worker then sits idle in its event
 *   loop, where `terminate()` stops it for good.
 */
import {
  type Atomic,
  attach,
  type ReadGuard,
  type ReadHandle,
  type ReadToken,
} from "@x/flashmap";

type Cells = ReadHandle<string, Atomic<number>>;
type CellsGuard = ReadGuard<string, Atomic<number>>;

type Request =
  | { type: "attach"; token: ReadToken<string, Atomic<number>> }
  | {
    type: "count";
    keys: string[];
    adds: number;
    batch: number;
    offset: number;
    checkpoints: number;
    publishesApart: number;
    oneShotEvery: number;
    stop: Int32Array;
  }
  | {
    type: "lock";
    iterations: number;
    plain: Int32Array;
    id: number;
    stop: Int32Array;
  }
  | {
    type: "critical";
    plain: Int32Array;
    id: number;
    useLock: boolean;
    pause: Int32Array | null;
  }
  | { type: "zombie"; key: string; flags: Int32Array; maxAdds: number }
  | { type: "hold"; key: string };

// The zombie's shared words: mirrored in tests/cells_workers_test.ts.
const GO = 0;
const STAGE = 1;
/** Adds done so far (written every few adds, and at the end). */
const ADDS = 2;
/** Adds that found no key in the guard's snapshot. */
const MISSES = 3;
/** Adds whose previous value was not the last one plus 1: someone else wrote the cell. */
const JUMPS = 4;
/** The value of the cell after the zombie's last add. */
const LAST = 5;
/** What a late one-shot `add` on the reclaimed handle did (an outcome). */
const LATE_ADD = 6;
/** What a late `guard()` on the reclaimed handle did (an outcome). */
const LATE_GUARD = 7;
/** 1 once the zombie's guard says it is released. */
const RELEASED = 8;
/** The cell's value when the zombie's first add ran. */
const FIRST = 9;
const MESSAGE_LENGTH = 10;
const MESSAGE = 11;
const MESSAGE_WORDS = 200;

/** `flags[STAGE]` */
const ADDING = 1;
const DONE = 2;

/** Outcomes of a late call. */
const OK = 1;
const RECLAIMED = 2;
const OTHER_ERROR = 3;

/** Adds between two writes of the zombie's progress word. */
const PROGRESS_EVERY = 256;

/** Bounds on the waits below: deadlock guards, never timings. */
const WAIT_SLICES = 20_000;
const SLICE_MS = 1;
/** Failed tries at the lock before a short sleep, and the most in all. */
const SPINS_BEFORE_SLEEP = 64;
const MAX_TRIES = 5_000_000;
/** A sleep that lets a descheduled lock holder run. */
const BACKOFF_MS = 0.05;

let read: Cells | undefined;

function reply(type: string, fields: Record<string, unknown> = {}): void {
  self.postMessage({ type, ...fields });
}

/**
 * Waits (bounded) until the map's version is past `version`; the version
 * then, or -1 if the wait ran out or the test said stop.
 */
function awaitPublish(
  handle: Cells,
  version: number,
  stop: Int32Array,
): number {
  for (let slice = 0; slice < WAIT_SLICES; slice++) {
    const now = handle.version;
    if (now > version) return now;
    if (Atomics.load(stop, 0) !== 0) return -1;
    Atomics.wait(stop, 0, 0, SLICE_MS);
  }
  return -1;
}

function count(
  request: Extract<Request, { type: "count" }>,
): Record<string, unknown> {
  const handle = read!;
  const {
    keys,
    adds,
    batch,
    offset,
    checkpoints,
    publishesApart,
    oneShotEvery,
    stop,
  } = request;
  const added = keys.map(() => 0);
  /** What each key's cell held at this worker's last add to it. */
  const lastSeen = keys.map(() => -1);
  let misses = 0;
  let backwards = 0;
  let stalls = 0;
  let guards = 0;
  const versions = new Set<number>();
  const every = Math.ceil(adds / (checkpoints + 1));
  let nextCheckpoint = every;
  let version = handle.version;
  let k = offset % keys.length;
  const note = (index: number, previous: number | undefined): void => {
    if (previous === undefined) {
      misses++;
      return;
    }
    // Only adds of 1 reach these cells: what one thread sees of a cell only
    // grows, whichever copy of the index its guard reads.
    if (previous <= lastSeen[index]) backwards++;
    lastSeen[index] = previous;
    added[index]++;
  };
  let done = 0;
  let batches = 0;
  while (done < adds) {
    const size = Math.min(batch, adds - done, nextCheckpoint - done);
    batches++;
    if (oneShotEvery > 0 && batches % oneShotEvery === 0) {
      for (let i = 0; i < size; i++) {
        note(k, handle.add(keys[k], 1));
        if (++k === keys.length) k = 0;
      }
    } else {
      const view = handle.guard();
      try {
        guards++;
        versions.add(view.version);
        for (let i = 0; i < size; i++) {
          note(k, view.add(keys[k], 1));
          if (++k === keys.length) k = 0;
        }
      } finally {
        view.release();
      }
    }
    done += size;
    if (done === nextCheckpoint && done < adds) {
      nextCheckpoint += every;
      const now = awaitPublish(handle, version + publishesApart - 1, stop);
      if (now < 0) {
        stalls++;
        break; // the writer stopped: the test has failed
      }
      version = now;
    }
  }
  return {
    added,
    misses,
    backwards,
    stalls,
    guards,
    versions: versions.size,
  };
}

/**
 * Takes the lock through `view` (bounded); the tries it took, or -1 if it
 * gave up or the test said stop.
 */
function acquire(view: CellsGuard, stop: Int32Array): number {
  for (let tries = 1; tries <= MAX_TRIES; tries++) {
    if (view.compareExchange("lock", 0, 1) === 0) return tries;
    if (tries % SPINS_BEFORE_SLEEP === 0) {
      if (Atomics.load(stop, 0) !== 0) return -1;
      Atomics.wait(stop, 0, 0, BACKOFF_MS);
    }
  }
  return -1;
}

/**
 * The critical section: checks the "owner" cell is free and claims it, a
 * plain read-modify-write of `plain[0]` (with `between` run between the read
 * and the write), then checks it still owns "owner" and frees it. Returns
 * the overlaps it saw (0, 1 or 2).
 */
function critical(
  view: CellsGuard,
  plain: Int32Array,
  id: number,
  between: () => void,
): number {
  let overlaps = 0;
  if (view.exchange("owner", id) !== 0) overlaps++;
  const value = plain[0];
  between();
  plain[0] = value + 1;
  if (view.exchange("owner", 0) !== id) overlaps++;
  return overlaps;
}

function lock(
  request: Extract<Request, { type: "lock" }>,
): Record<string, unknown> {
  const handle = read!;
  const { iterations, plain, id, stop } = request;
  let overlaps = 0;
  let giveUps = 0;
  let contended = 0;
  let sink = 0;
  // A little work between the read and the write widens the race.
  const work = () => {
    for (let i = 0; i < 20; i++) sink = (sink * 31 + i) | 0;
  };
  for (let i = 0; i < iterations; i++) {
    // A new guard each time, so the lock is taken through whichever copy
    // is current, and released now through the guard, now through the
    // handle's one-shot store (another copy, perhaps).
    const view = handle.guard();
    try {
      const tries = acquire(view, stop);
      if (tries < 0) {
        giveUps++;
        break;
      }
      if (tries > 1) contended++;
      overlaps += critical(view, plain, id, work);
      if (i % 2 === 0) view.store("lock", 0);
      else if (handle.store("lock", 0) === undefined) giveUps++;
    } finally {
      view.release();
    }
  }
  return { overlaps, giveUps, contended, sink };
}

function criticalOnce(
  request: Extract<Request, { type: "critical" }>,
): Record<string, unknown> {
  const { plain, id, useLock, pause } = request;
  const view = read!.guard();
  try {
    if (useLock && view.compareExchange("lock", 0, 1) !== 0) {
      return { acquired: false, overlaps: 0, stalled: false };
    }
    let stalled = false;
    const overlaps = critical(view, plain, id, () => {
      if (pause === null) return;
      Atomics.store(pause, 0, 1);
      Atomics.notify(pause, 0);
      let slice = 0;
      while (Atomics.load(pause, 1) === 0 && slice++ < WAIT_SLICES) {
        Atomics.wait(pause, 1, 0, SLICE_MS);
      }
      stalled = Atomics.load(pause, 1) === 0;
    });
    if (useLock) view.store("lock", 0);
    return { acquired: true, overlaps, stalled };
  } finally {
    view.release();
  }
}

function note(flags: Int32Array, error: unknown): void {
  if (Atomics.load(flags, MESSAGE_LENGTH) !== 0) return;
  const text = String(error).slice(0, MESSAGE_WORDS);
  for (let i = 0; i < text.length; i++) flags[MESSAGE + i] = text.charCodeAt(i);
  Atomics.store(flags, MESSAGE_LENGTH, text.length);
}

function outcome(flags: Int32Array, late: () => void): number {
  try {
    late();
    return OK;
  } catch (error) {
    if (error instanceof TypeError && /reclaimed/.test(error.message)) {
      return RECLAIMED;
    }
    note(flags, error);
    return OTHER_ERROR;
  }
}

function zombie(request: Extract<Request, { type: "zombie" }>): void {
  const handle = read!;
  const { key, flags, maxAdds } = request;
  const view = handle.guard();
  try {
    const first = view.add(key, 1);
    if (first === undefined) {
      Atomics.store(flags, MISSES, 1);
      return;
    }
    Atomics.store(flags, FIRST, first);
    Atomics.store(flags, ADDS, 1);
    Atomics.store(flags, STAGE, ADDING);
    Atomics.notify(flags, STAGE);
    reply("zombie", { first });
    // Busy in synchronous code: terminate() cannot stop this thread here.
    let expected = first + 1;
    let adds = 1;
    let misses = 0;
    let jumps = 0;
    while (adds < maxAdds && Atomics.load(flags, GO) === 0) {
      const previous = view.add(key, 1);
      adds++;
      if (previous === undefined) {
        misses++;
      } else {
        if (previous !== expected) jumps++;
        expected = previous + 1;
      }
      if (adds % PROGRESS_EVERY === 0) {
        Atomics.store(flags, ADDS, adds);
        Atomics.store(flags, MISSES, misses);
        Atomics.store(flags, JUMPS, jumps);
      }
    }
    Atomics.store(flags, ADDS, adds);
    Atomics.store(flags, MISSES, misses);
    Atomics.store(flags, JUMPS, jumps);
    Atomics.store(flags, LAST, expected);
    // Late use of the reclaimed handle: refused, changing nothing.
    Atomics.store(flags, LATE_ADD, outcome(flags, () => handle.add(key, 1)));
    Atomics.store(
      flags,
      LATE_GUARD,
      outcome(flags, () => handle.guard().release()),
    );
  } catch (error) {
    note(flags, error);
  } finally {
    try {
      view.release();
    } catch (error) {
      note(flags, error);
    }
    Atomics.store(flags, RELEASED, view.released ? 1 : 0);
    Atomics.store(flags, STAGE, DONE);
    Atomics.notify(flags, STAGE);
  }
}

/** Guards opened by `hold`, never released. */
const held: CellsGuard[] = [];

self.onmessage = (event: MessageEvent<Request>) => {
  const request = event.data;
  try {
    switch (request.type) {
      case "attach":
        read = attach(request.token);
        return reply("attach", { id: read.id });
      case "count":
        return reply("count", count(request));
      case "lock":
        return reply("lock", lock(request));
      case "critical":
        return reply("critical", criticalOnce(request));
      case "zombie":
        return zombie(request);
      case "hold": {
        if (read === undefined) throw new Error("attach first");
        held.push(read.guard());
        return reply("hold", { added: held.at(-1)!.add(request.key, 1) });
      }
    }
  } catch (error) {
    if (request.type === "zombie") note(request.flags, error);
    reply(request.type, { error: String(error) });
  }
};

reply("ready");
