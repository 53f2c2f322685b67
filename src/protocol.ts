/**
 * The reader protocol: per-handle refcounts, per-handle residual counts of
 * each copy, the writer's wait for a copy to come free, and the reader
 * registry. It counts readers and flips copies; it knows nothing of keys,
 * tables or codecs.
 *
 * The one-step read paths (enter and leave a guard) are plain functions over
 * {@linkcode Memory}. Every path that takes several shared-memory steps is a
 * generator that yields between steps, so that no two shared-memory
 * operations run without a chance for another thread in between: `undefined`
 * marks such a point, a {@linkcode WaitRequest} asks the driver to sleep
 * while the word still holds the value (checked and slept atomically, as
 * `Atomics.wait` does). Production drives these generators on `Atomics`
 * (blocking or async); a test scheduler drives the same code step by step.
 *
 * @module
 */

import type { Memory } from "./memory.ts";
import {
  C_DEPARTURES,
  C_PUBLISHES,
  C_REGISTRY_EPOCH,
  C_REGISTRY_LOCK,
  C_REGISTRY_OWNER,
  C_SLOTS_USED,
  C_VERSION_WAITERS,
  C_WRITER_PARKED,
  copyWord,
  H_CURRENT_COPY,
  MAX_COPIES,
  S_OWNER,
  S_REFCOUNT,
  S_REGISTRATIONS,
  S_RESIDUAL,
  S_STATE,
  SLOT_FREE,
  SLOT_IN_USE,
  SLOT_RETIRED,
  slotBase,
  T_ORPHANS,
} from "./layout.ts";

const GUARD_BITS = 10;
/**
 * The most guards one read handle may hold at once on the current copy
 * (and the most residual guards it can have on any one retired copy).
 */
export const MAX_GUARDS = (1 << GUARD_BITS) - 1;
const GENERATION_SHIFT = 16;
const GENERATION_MASK = 0x7ff;
const GENERATION_BITS = GENERATION_MASK << GENERATION_SHIFT;
/** Bits 28-31 of a refcount word: the copy that the handle's new guards read. */
const COPY_SHIFT = 28;

/** Live guards counted in a refcount word (or residual guards in a residual word). */
export function guardsIn(word: number): number {
  return word & MAX_GUARDS;
}

/** The slot generation recorded in a refcount or residual word. */
export function generationOf(word: number): number {
  return (word >>> GENERATION_SHIFT) & GENERATION_MASK;
}

/** The copy a refcount word points the handle's new guards at. */
export function copyOf(word: number): number {
  return word >>> COPY_SHIFT;
}

/** Asks the driver to sleep while word `index` still holds `expected`. */
export interface WaitRequest {
  readonly index: number;
  readonly expected: number;
}

/** What a protocol generator yields: a scheduling point, or a wait. */
export type Step = WaitRequest | undefined;

/**
 * A read handle's hold on its slot. Every change a handle makes to its
 * words is a compare-and-exchange that expects the handle's generation, so
 * once the writer reclaims the slot (moving the generation on) nothing the
 * handle's thread does can change them again.
 */
export interface HandleWord {
  /** Word index of the refcount (the slot's first word). */
  readonly refcount: number;
  /** The slot's generation when the handle was registered. */
  readonly generation: number;
  /** The word as this handle last wrote it: the first guess of the next exchange. */
  seen: number;
}

/** `enterGuard` / `leaveGuard` / `leaveResidual`: the handle was reclaimed; nothing changed. */
export const RECLAIMED = -1;
/** `enterGuard`: the handle already holds {@linkcode MAX_GUARDS}; nothing changed. */
export const GUARDS_FULL = -2;
/** `leaveGuard` / `leaveResidual`: the guard left. */
export const LEFT = 0;
/**
 * `leaveResidual`: the guard left, the last of its handle on a copy that a
 * publish retired: that copy may have come free, so run
 * {@linkcode wakeWriter}.
 */
export const LEFT_RESIDUAL = 1;
/**
 * `leaveGuard`: nothing changed, because the guard is residual (a publish
 * retired its copy): leave it with {@linkcode leaveResidual}.
 */
export const RESIDUAL_GUARD = 2;

/**
 * Enters a read guard: one compare-and-exchange (more only when the writer
 * flipped the handle since its last guard) that both announces the reader
 * and tells it which copy to read. Returns that copy, or
 * {@linkcode RECLAIMED} or {@linkcode GUARDS_FULL} with nothing changed.
 * The exchange is the last step, so a throw (out of stack) on the way in
 * leaves nothing entered.
 */
export function enterGuard(
  memory: Memory,
  handle: HandleWord,
): number {
  // The handle's own last word is the usual value: one exchange, no checks
  // but the count (a successful exchange proves the generation).
  const expected = handle.seen;
  if ((expected & MAX_GUARDS) === MAX_GUARDS) {
    // A publish may have moved those guards to a residual word since.
    return enterAgain(memory, handle, memory.load(handle.refcount));
  }
  const seen = memory.compareExchange(
    handle.refcount,
    expected,
    expected + 1,
  );
  if (seen !== expected) return enterAgain(memory, handle, seen);
  handle.seen = expected + 1;
  return expected >>> COPY_SHIFT;
}

/** `enterGuard` when the writer changed the word since the handle's last exchange. */
function enterAgain(
  memory: Memory,
  handle: HandleWord,
  seen: number,
): number {
  let expected = seen;
  for (;;) {
    if (generationOf(expected) !== handle.generation) return RECLAIMED;
    if ((expected & MAX_GUARDS) === MAX_GUARDS) return GUARDS_FULL;
    const found = memory.compareExchange(
      handle.refcount,
      expected,
      expected + 1,
    );
    if (found === expected) {
      handle.seen = expected + 1;
      return expected >>> COPY_SHIFT;
    }
    expected = found;
  }
}

/**
 * Leaves a read guard that was entered on `copy`: one compare-and-exchange.
 * Returns {@linkcode LEFT}, {@linkcode RECLAIMED} when the handle was
 * reclaimed (its guards no longer count, so leaving changes nothing), or
 * {@linkcode RESIDUAL_GUARD}, changing nothing, when a publish retired the
 * guard's copy: the guard then leaves with {@linkcode leaveResidual}.
 */
export function leaveGuard(
  memory: Memory,
  handle: HandleWord,
  copy: number,
): typeof LEFT | typeof RESIDUAL_GUARD | typeof RECLAIMED {
  const expected = handle.seen;
  if ((expected >>> COPY_SHIFT) === copy) {
    const seen = memory.compareExchange(
      handle.refcount,
      expected,
      expected - 1,
    );
    if (seen === expected) {
      handle.seen = expected - 1;
      return LEFT;
    }
    return leaveAgain(memory, handle, copy, seen);
  }
  return leaveAgain(memory, handle, copy, expected);
}

/** `leaveGuard` for a residual guard, or after the writer changed the word. */
function leaveAgain(
  memory: Memory,
  handle: HandleWord,
  copy: number,
  seen: number,
): typeof LEFT | typeof RESIDUAL_GUARD | typeof RECLAIMED {
  let expected = seen;
  for (;;) {
    if (generationOf(expected) !== handle.generation) return RECLAIMED;
    if ((expected >>> COPY_SHIFT) !== copy) return RESIDUAL_GUARD;
    const found = memory.compareExchange(
      handle.refcount,
      expected,
      expected - 1,
    );
    if (found === expected) {
      handle.seen = expected - 1;
      return LEFT;
    }
    expected = found;
  }
}

/**
 * Leaves a residual guard (one whose `leaveGuard` returned
 * {@linkcode RESIDUAL_GUARD}): one compare-and-exchange that counts it off
 * its handle's residual word of `copy`, where the writer counted it before
 * it flipped the handle away. Returns {@linkcode LEFT},
 * {@linkcode LEFT_RESIDUAL} when it was the handle's last residual guard on
 * that copy, or {@linkcode RECLAIMED}, changing nothing.
 */
export function leaveResidual(
  memory: Memory,
  handle: HandleWord,
  copy: number,
): typeof LEFT | typeof LEFT_RESIDUAL | typeof RECLAIMED {
  const index = handle.refcount + S_RESIDUAL + copy;
  let expected = memory.load(index);
  for (;;) {
    if (generationOf(expected) !== handle.generation) return RECLAIMED;
    const found = memory.compareExchange(index, expected, expected - 1);
    if (found === expected) {
      return (expected & MAX_GUARDS) === 1 ? LEFT_RESIDUAL : LEFT;
    }
    expected = found;
  }
}

/**
 * Leaves an orphan: a guard on `copy` whose handle was reclaimed while it
 * lived (its leave returned {@linkcode RECLAIMED}), on a map whose reclaims
 * keep such guards counted ({@linkcode reclaimReader} with `keepOrphans`:
 * maps of atomic cells, which a reclaimed worker that still runs may
 * update). One subtraction from the copy's orphan count; returns `true`
 * when it was the copy's last orphan, which may have freed it: then run
 * {@linkcode wakeWriter}. A guard leaves with `RECLAIMED` exactly when the
 * reclaim counted it (the two exchange the same word, in some order), so
 * each orphan is counted off once.
 */
export function leaveOrphan(memory: Memory, copy: number): boolean {
  return memory.sub(copyWord(copy, T_ORPHANS), 1) === 1;
}

/**
 * Tells a writer that may be waiting for a copy to come free that a copy's
 * guards changed: moves the departure count on, and wakes the writer if it
 * sleeps. A wake lost to an exception in between costs the writer one wait
 * slice ({@linkcode WAIT_SLICE_MS}), never a hang.
 */
export function* wakeWriter(memory: Memory): Generator<Step, void> {
  memory.add(C_DEPARTURES, 1);
  yield;
  if (memory.load(C_WRITER_PARKED) === 0) return;
  yield;
  memory.notify(C_DEPARTURES, 1);
}

/**
 * Whether no guard reads `copy`, a copy that a publish retired. Its guards
 * are all residual: no handle points new guards at it (every publish flips
 * every handle, and registration starts on the current copy). And a retired
 * copy can only come free, never be taken again: only the writer adds to
 * residual words. So a scan that finds every slot's residual word of the
 * copy clear proves it free, though the slots are read one by one (the
 * explorer runs it as one step: with counts that only fall, reading them
 * at once or one by one finds the same).
 */
export function copyIsFree(memory: Memory, copy: number): boolean {
  if (memory.load(copyWord(copy, T_ORPHANS)) !== 0) return false;
  const used = memory.load(C_SLOTS_USED);
  for (let slot = 0; slot < used; slot++) {
    if ((memory.load(slotBase(slot) + S_RESIDUAL + copy) & MAX_GUARDS) !== 0) {
      return false;
    }
  }
  return true;
}

/**
 * Waits until one of `copies` (none of them current) has no guard left on
 * it, and returns it. The parked flag only saves readers a needless notify:
 * the departure count is read before the scan and the wait re-checks it, so
 * no departure after the scan goes unseen.
 */
export function* awaitFreeCopy(
  memory: Memory,
  copies: readonly number[],
): Generator<Step, number> {
  let parked = false;
  try {
    for (;;) {
      const departures = memory.load(C_DEPARTURES);
      yield;
      for (const copy of copies) {
        if (copyIsFree(memory, copy)) return copy;
      }
      yield;
      if (!parked) {
        // Scan once more after parking: a departure before the flag was set
        // may not have woken anyone.
        memory.store(C_WRITER_PARKED, 1);
        parked = true;
        continue;
      }
      yield { index: C_DEPARTURES, expected: departures };
    }
  } finally {
    if (parked) memory.store(C_WRITER_PARKED, 0);
  }
}

/**
 * Guards of reclaimed handles still counted on `copy` (maps of cells: see
 * {@linkcode leaveOrphan}).
 */
export function orphansOn(memory: Memory, copy: number): number {
  return memory.load(copyWord(copy, T_ORPHANS));
}

/** The ids of the open handles with guards on `copy`, live or residual. */
export function pinningHandles(memory: Memory, copy: number): number[] {
  return openHandles(memory, (base) => {
    if ((memory.load(base + S_RESIDUAL + copy) & MAX_GUARDS) !== 0) {
      return true;
    }
    const word = memory.load(base + S_REFCOUNT);
    return (word >>> COPY_SHIFT) === copy && (word & MAX_GUARDS) !== 0;
  });
}

const UNLOCKED = 0;
const LOCKED = 1;
const CONTENDED = 2;

/**
 * Takes the registry lock, which orders registration, unregistration,
 * reclaiming and the publish loop. It is never held while anyone waits for
 * readers. The holder records its tag `owner`, and every acquisition
 * moves the epoch on, so that a waiter can tell a holder that is gone from
 * one that is busy.
 */
export function* lockRegistry(
  memory: Memory,
  owner: number,
): Generator<Step, void> {
  let seen = memory.compareExchange(C_REGISTRY_LOCK, UNLOCKED, LOCKED);
  if (seen !== UNLOCKED) {
    yield;
    if (seen !== CONTENDED) seen = memory.exchange(C_REGISTRY_LOCK, CONTENDED);
    while (seen !== UNLOCKED) {
      yield;
      yield { index: C_REGISTRY_LOCK, expected: CONTENDED };
      seen = memory.exchange(C_REGISTRY_LOCK, CONTENDED);
    }
  }
  // The epoch moves on before the owner is recorded, so that no one can
  // pair this owner with the epoch of the holder before.
  memory.add(C_REGISTRY_EPOCH, 1);
  memory.store(C_REGISTRY_OWNER, owner);
}

/** Releases the registry lock, waking one waiter if there may be any. */
export function* unlockRegistry(memory: Memory): Generator<Step, void> {
  memory.store(C_REGISTRY_OWNER, 0);
  if (memory.sub(C_REGISTRY_LOCK, 1) === LOCKED) return;
  yield;
  memory.store(C_REGISTRY_LOCK, UNLOCKED);
  yield;
  memory.notify(C_REGISTRY_LOCK, 1);
}

/** Who holds the registry lock: their tag and the lock's epoch (owner 0: free). */
export function registryHolder(
  memory: Memory,
): { owner: number; epoch: number } {
  const epoch = memory.load(C_REGISTRY_EPOCH);
  const owner = memory.load(C_REGISTRY_LOCK) === UNLOCKED
    ? 0
    : memory.load(C_REGISTRY_OWNER);
  return { owner, epoch };
}

/**
 * Takes over the registry lock from a holder that is gone (its thread died
 * inside, or threw out of, a registry section): succeeds only if the lock is
 * still held in epoch `epoch`. The caller then holds it, and must unlock.
 */
export function breakRegistryLock(
  memory: Memory,
  epoch: number,
  owner: number,
): boolean {
  if (memory.load(C_REGISTRY_LOCK) === UNLOCKED) return false;
  if (memory.compareExchange(C_REGISTRY_EPOCH, epoch, epoch + 1) !== epoch) {
    return false;
  }
  memory.store(C_REGISTRY_OWNER, owner);
  return true;
}

/**
 * Flips one handle's refcount word to copy `target`, moving its live guards
 * to its residual word of the copy they read. The residual word is raised
 * before the flip, so a guard that sees itself flipped always finds itself
 * counted there; when the flip fails because a guard came or went, the
 * residual word is set right before the next try.
 */
function* flipHandle(
  memory: Memory,
  base: number,
  target: number,
): Generator<Step, number> {
  let word = memory.load(base + S_REFCOUNT);
  const residual = base + S_RESIDUAL + (word >>> COPY_SHIFT);
  let counted = 0;
  for (;;) {
    yield;
    const live = word & MAX_GUARDS;
    if (live !== counted) {
      memory.add(residual, live - counted);
      counted = live;
      yield;
    }
    const flipped = (word & GENERATION_BITS) | (target << COPY_SHIFT);
    const seen = memory.compareExchange(base + S_REFCOUNT, word, flipped);
    if (seen === word) return live;
    word = seen;
  }
}

/**
 * Publishes: under the registry lock, makes `target` (the copy the writer
 * has been writing) the current copy, and points every handle's new guards
 * at it, counting the guards still on the copy it replaces as residual.
 * Never waits for readers. Returns how many residual guards that was.
 */
export function* publishCopy(
  memory: Memory,
  owner: number,
  target: number,
): Generator<Step, number> {
  // Sections hold the lock in try/finally, written out in each operation:
  // a generator function made per call (a `locked(section)` helper) measured
  // 1.7 µs per publish.
  yield* lockRegistry(memory, owner);
  let residual = 0;
  try {
    yield;
    memory.store(H_CURRENT_COPY, target);
    const used = memory.load(C_SLOTS_USED);
    for (let slot = 0; slot < used; slot++) {
      const base = slotBase(slot);
      if (memory.load(base + S_STATE) !== SLOT_IN_USE) continue;
      residual += yield* flipHandle(memory, base, target);
    }
    yield;
    memory.add(C_PUBLISHES, 1);
  } finally {
    yield* unlockRegistry(memory);
  }
  // Written out rather than `yield* wakeVersionWaiters(memory)`: a
  // generator made per publish costs more than the load it guards.
  if (memory.load(C_VERSION_WAITERS) !== 0) {
    yield;
    memory.notify(C_PUBLISHES, Infinity);
  }
  return residual;
}

/**
 * Wakes the readers that sleep until a version newer than theirs is
 * published (`ReadHandle.changed()`), or the writer closes.
 */
export function* wakeVersionWaiters(memory: Memory): Generator<Step, void> {
  if (memory.load(C_VERSION_WAITERS) === 0) return;
  yield;
  memory.notify(C_PUBLISHES, Infinity);
}

/** A newly registered read handle: its slot, its id, and its hold on the word. */
export interface Registration {
  readonly slot: number;
  /** Unique over the map's life: `registrations * ID_SLOTS + slot`. */
  readonly id: number;
  readonly word: HandleWord;
}

/** Ids count registrations of a slot in units of this (more than any maxReaders). */
export const ID_SLOTS = 65_536;

/** The slot of a handle id. */
export function slotOfId(id: number): number {
  return id % ID_SLOTS;
}

/**
 * Claims a free registry slot for a new read handle, starting it on the
 * current copy with no guards and keeping the slot's generation. Returns
 * `null` when all `maxReaders` slots are taken.
 */
export function* registerReader(
  memory: Memory,
  maxReaders: number,
  owner: number,
): Generator<Step, Registration | null> {
  yield* lockRegistry(memory, owner);
  try {
    yield;
    let slot = 0;
    while (
      slot < maxReaders &&
      memory.load(slotBase(slot) + S_STATE) !== SLOT_FREE
    ) slot++;
    if (slot === maxReaders) return null;
    const base = slotBase(slot);
    const generation = generationOf(memory.load(base + S_REFCOUNT));
    const word = (memory.load(H_CURRENT_COPY) << COPY_SHIFT) |
      (generation << GENERATION_SHIFT);
    memory.store(base + S_REFCOUNT, word);
    const registrations = memory.add(base + S_REGISTRATIONS, 1) >>> 0;
    memory.store(base + S_OWNER, owner);
    memory.store(base + S_STATE, SLOT_IN_USE);
    if (slot >= memory.load(C_SLOTS_USED)) {
      memory.store(C_SLOTS_USED, slot + 1);
    }
    yield;
    return {
      slot,
      id: registrations * ID_SLOTS + slot,
      word: { refcount: base + S_REFCOUNT, generation, seen: word },
    };
  } finally {
    yield* unlockRegistry(memory);
  }
}

/**
 * The state of a slot whose handle leaves: free, or retired once its
 * registration count (an unsigned word) has no next value, so that ids stay
 * unique over the map's life.
 */
function freedState(memory: Memory, base: number): number {
  return (memory.load(base + S_REGISTRATIONS) >>> 0) === 0xffffffff
    ? SLOT_RETIRED
    : SLOT_FREE;
}

/** Whether `id` names the handle now registered in its slot. */
function registered(memory: Memory, id: number): boolean {
  const base = slotBase(slotOfId(id));
  return memory.load(base + S_STATE) === SLOT_IN_USE &&
    ((memory.load(base + S_REGISTRATIONS) >>> 0) - 1) * ID_SLOTS +
          slotOfId(id) === id;
}

/**
 * Frees the slot of the read handle `id` whose thread is gone (a
 * terminated worker), whatever guards it still holds, and moves the slot's
 * generation on in its refcount and residual words, so that the handle can
 * never change them again, even if its thread is still running. The copies
 * its guards pinned may then come free: a waiting writer is woken. Returns
 * how many guards it held, or -1 if `id` is not an open handle.
 *
 * With `keepOrphans` (maps of atomic cells), those guards stay counted, as
 * orphans in their copies' descriptors, until each leaves
 * ({@linkcode leaveOrphan}): a worker that keeps running after it was
 * reclaimed may update cells through them, and the memory they reach must
 * not be reused meanwhile. Each count is raised before the exchange that
 * takes the guards off the handle's word, and set right when the exchange
 * fails, as a publish does: an orphan's leave never comes before its count.
 */
export function* reclaimReader(
  memory: Memory,
  id: number,
  owner: number,
  keepOrphans = false,
): Generator<Step, number> {
  yield* lockRegistry(memory, owner);
  let outstanding = -1;
  try {
    yield;
    if (registered(memory, id)) {
      const base = slotBase(slotOfId(id));
      let word = memory.load(base + S_REFCOUNT);
      const generation = generationOf(word) + 1;
      // The word's copy cannot change: only publishes flip it, under the lock.
      const orphans = copyWord(word >>> COPY_SHIFT, T_ORPHANS);
      let counted = 0;
      for (;;) {
        yield;
        const live = word & MAX_GUARDS;
        if (keepOrphans && live !== counted) {
          memory.add(orphans, live - counted);
          counted = live;
          yield;
        }
        const next = (word & ~GENERATION_BITS & ~MAX_GUARDS) |
          (generation << GENERATION_SHIFT);
        const seen = memory.compareExchange(base + S_REFCOUNT, word, next);
        if (seen === word) break;
        word = seen;
      }
      outstanding = word & MAX_GUARDS;
      for (let copy = 0; copy < MAX_COPIES; copy++) {
        yield;
        const index = base + S_RESIDUAL + copy;
        const reset = generation << GENERATION_SHIFT;
        if (!keepOrphans) {
          outstanding += memory.exchange(index, reset) & MAX_GUARDS;
          continue;
        }
        outstanding += yield* orphanResidual(memory, index, copy, reset);
      }
      // The slot is freed last, so that a reclaim cut short leaves it in
      // use rather than free with its words half reset. The last
      // generation is never given to a handle: a slot that reaches it is
      // never used again, and no handle reclaimed from it can match.
      yield;
      memory.store(
        base + S_STATE,
        generation === GENERATION_MASK
          ? SLOT_RETIRED
          : freedState(memory, base),
      );
    }
  } finally {
    yield* unlockRegistry(memory);
  }
  if (outstanding > 0) {
    yield;
    yield* wakeWriter(memory);
  }
  // A `changed()` of the reclaimed handle that sleeps learns of it.
  yield* wakeVersionWaiters(memory);
  return outstanding;
}

/**
 * Resets residual word `index` (of `copy`) to `reset` for a reclaim that
 * keeps orphans, counting its guards as the copy's orphans first. Returns
 * how many it counted.
 */
function* orphanResidual(
  memory: Memory,
  index: number,
  copy: number,
  reset: number,
): Generator<Step, number> {
  const orphans = copyWord(copy, T_ORPHANS);
  let word = memory.load(index);
  let counted = 0;
  for (;;) {
    const guards = word & MAX_GUARDS;
    if (guards !== counted) {
      memory.add(orphans, guards - counted);
      counted = guards;
      yield;
    }
    const seen = memory.compareExchange(index, word, reset);
    if (seen === word) return counted;
    word = seen;
    yield;
  }
}

/** The ids of the open handles whose slot passes `test` (given its first word). */
function openHandles(
  memory: Memory,
  test: (base: number) => boolean,
): number[] {
  const ids: number[] = [];
  const used = memory.load(C_SLOTS_USED);
  for (let slot = 0; slot < used; slot++) {
    const base = slotBase(slot);
    if (memory.load(base + S_STATE) === SLOT_IN_USE && test(base)) {
      ids.push(handleId(memory, slot));
    }
  }
  return ids;
}

/** How many read handles are open now, in every thread. */
export function openHandleCount(memory: Memory): number {
  return openHandles(memory, () => true).length;
}

/** The id of the handle registered in `slot` now. */
export function handleId(memory: Memory, slot: number): number {
  return ((memory.load(slotBase(slot) + S_REGISTRATIONS) >>> 0) - 1) *
      ID_SLOTS + slot;
}

/** The ids of the open handles registered under the tag `owner`. */
export function handlesOf(memory: Memory, owner: number): number[] {
  return openHandles(memory, (base) => memory.load(base + S_OWNER) === owner);
}

/**
 * Frees the registry slot of the read handle `id`, which has no live
 * guards. Returns `false`, changing nothing, when the slot no longer holds
 * that handle (it was reclaimed).
 */
export function* unregisterReader(
  memory: Memory,
  id: number,
  owner: number,
): Generator<Step, boolean> {
  yield* lockRegistry(memory, owner);
  try {
    yield;
    if (!registered(memory, id)) return false;
    const base = slotBase(slotOfId(id));
    memory.store(base + S_STATE, freedState(memory, base));
    return true;
  } finally {
    yield* unlockRegistry(memory);
  }
}

/** Thrown by the drivers when a wait outlasts its time limit. */
export class WaitTimedOut extends Error {
  /** The word that was waited on. */
  readonly index: number;
  constructor(index: number) {
    super("the wait timed out");
    this.index = index;
  }
}

/**
 * The longest single sleep of a driver. A sleeper wakes at least this often
 * and re-checks its word, so a wake-up lost to an exception between a
 * thread's last change and its notify costs this much time, never a hang.
 */
export const WAIT_SLICE_MS = 50;

/**
 * Runs a protocol generator to completion on the calling thread, sleeping
 * with `memory.wait` where it asks to wait, for at most `timeoutMs` in all
 * (then throws {@linkcode WaitTimedOut}).
 */
export function runBlocking<T>(
  memory: Memory,
  steps: Generator<Step, T>,
  timeoutMs = Infinity,
): T {
  let deadline = NaN;
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
    const request = next.value;
    if (request === undefined) continue;
    if (deadline !== deadline) deadline = performance.now() + timeoutMs;
    const left = deadline - performance.now();
    if (left <= 0) {
      steps.return(undefined as T);
      throw new WaitTimedOut(request.index);
    }
    memory.wait(
      request.index,
      request.expected,
      Math.min(left, WAIT_SLICE_MS),
    );
  }
}

/** Runs a protocol generator to completion, waiting without blocking. */
export async function runAsync<T>(
  memory: Memory & {
    waitAsync(
      index: number,
      expected: number,
      timeoutMs: number,
    ): Promise<unknown>;
  },
  steps: Generator<Step, T>,
  timeoutMs = Infinity,
): Promise<T> {
  let deadline = NaN;
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
    const request = next.value;
    if (request === undefined) continue;
    if (deadline !== deadline) deadline = performance.now() + timeoutMs;
    const left = deadline - performance.now();
    if (left <= 0) {
      steps.return(undefined as T);
      throw new WaitTimedOut(request.index);
    }
    await memory.waitAsync(
      request.index,
      request.expected,
      Math.min(left, WAIT_SLICE_MS),
    );
  }
}
