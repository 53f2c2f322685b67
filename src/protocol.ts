/**
 * The reader protocol: per-handle refcounts, the residual count, the
 * writer's wait and the reader registry. It counts readers and flips copies;
 * it knows nothing of keys, tables or codecs.
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
  C_PUBLISHES,
  C_REGISTRY_LOCK,
  C_RESIDUAL,
  C_SLOTS_USED,
  C_WRITER_PARKED,
  H_CURRENT_COPY,
  S_OWNER,
  S_REFCOUNT,
  S_RESIDUAL,
  S_STATE,
  SLOT_FREE,
  SLOT_IN_USE,
  slotBase,
} from "./layout.ts";

/** Bit 31 of a refcount: the copy that the handle's new guards read. */
export const COPY_BIT = 0x80000000 | 0;
/** The low bits of a refcount: live guards of the handle. */
export const COUNT_MASK = 0x7fffffff;

/** Which of the two copies of the map: 0 or 1. */
export type Copy = 0 | 1;

/** Asks the driver to sleep while word `index` still holds `expected`. */
export interface WaitRequest {
  readonly index: number;
  readonly expected: number;
}

/** What a protocol generator yields: a scheduling point, or a wait. */
export type Step = WaitRequest | undefined;

/**
 * Enters a read guard: one atomic add that both announces the reader and
 * tells it which copy to read.
 */
export function enterGuard(memory: Memory, refcount: number): Copy {
  return (memory.add(refcount, 1) >>> 31) as Copy;
}

/**
 * Leaves a read guard that was entered on `copy`. Returns `true` when the
 * writer flipped the handle while the guard was live: the guard was
 * residual, and the caller must run {@linkcode departResidual}.
 */
export function leaveGuard(
  memory: Memory,
  refcount: number,
  copy: Copy,
): boolean {
  return (memory.sub(refcount, 1) >>> 31) !== copy;
}

/**
 * A residual guard of the handle whose refcount is at `refcount` has left:
 * count it off, for the handle and in all, and wake the writer when this was
 * the last one and the writer is parked. The counts may go below zero while
 * the writer is still adding up the residual guards of a publish; the
 * departure that brings the total to exactly zero is the last.
 */
export function* departResidual(
  memory: Memory,
  refcount: number,
): Generator<Step, void> {
  memory.sub(refcount - S_REFCOUNT + S_RESIDUAL, 1);
  yield;
  yield* countOff(memory, 1);
}

/** Takes `guards` off the residual count, waking a parked writer at zero. */
function* countOff(memory: Memory, guards: number): Generator<Step, void> {
  const before = memory.sub(C_RESIDUAL, guards);
  if (before !== guards) return;
  yield;
  if (memory.load(C_WRITER_PARKED) === 0) return;
  yield;
  memory.notify(C_RESIDUAL, 1);
}

/**
 * Waits until no guard is left on the copy the writer gave away at its last
 * publish. The parked flag only saves readers a needless notify: the wait
 * itself re-checks the count before sleeping, so no wake-up is lost.
 */
export function* awaitResidualReaders(memory: Memory): Generator<Step, void> {
  let parked = false;
  for (;;) {
    const residual = memory.load(C_RESIDUAL);
    if (residual === 0) break;
    yield;
    if (!parked) {
      memory.store(C_WRITER_PARKED, 1);
      parked = true;
      yield;
    }
    yield { index: C_RESIDUAL, expected: residual };
  }
  if (parked) memory.store(C_WRITER_PARKED, 0);
}

/** Residual guards left (0 when the writer may touch the other copy). */
export function residualReaders(memory: Memory): number {
  return memory.load(C_RESIDUAL);
}

const UNLOCKED = 0;
const LOCKED = 1;
const CONTENDED = 2;

/**
 * Takes the registry lock, which orders registration, unregistration and the
 * publish loop. It is never held while anyone waits for readers.
 */
export function* lockRegistry(memory: Memory): Generator<Step, void> {
  let seen = memory.compareExchange(C_REGISTRY_LOCK, UNLOCKED, LOCKED);
  if (seen === UNLOCKED) return;
  yield;
  if (seen !== CONTENDED) seen = memory.exchange(C_REGISTRY_LOCK, CONTENDED);
  while (seen !== UNLOCKED) {
    yield;
    yield { index: C_REGISTRY_LOCK, expected: CONTENDED };
    seen = memory.exchange(C_REGISTRY_LOCK, CONTENDED);
  }
}

/** Releases the registry lock, waking one waiter if there may be any. */
export function* unlockRegistry(memory: Memory): Generator<Step, void> {
  if (memory.sub(C_REGISTRY_LOCK, 1) === LOCKED) return;
  yield;
  memory.store(C_REGISTRY_LOCK, UNLOCKED);
  yield;
  memory.notify(C_REGISTRY_LOCK, 1);
}

/**
 * Publishes: under the registry lock, points new guards of every handle at
 * the copy the writer has been writing (`H_CURRENT_COPY` toggles, each
 * handle's copy bit toggles), then adds the number of guards still on the
 * old copy to the residual count. Never waits for readers.
 *
 * Returns the residual guards counted.
 */
export function* publishCopy(memory: Memory): Generator<Step, number> {
  yield* lockRegistry(memory);
  yield;
  memory.store(H_CURRENT_COPY, memory.load(H_CURRENT_COPY) ^ 1);
  const used = memory.load(C_SLOTS_USED);
  let residual = 0;
  for (let slot = 0; slot < used; slot++) {
    const base = slotBase(slot);
    if (memory.load(base + S_STATE) !== SLOT_IN_USE) continue;
    yield;
    const live = memory.add(base + S_REFCOUNT, COPY_BIT) & COUNT_MASK;
    if (live === 0) continue;
    yield;
    memory.add(base + S_RESIDUAL, live);
    residual += live;
  }
  yield;
  memory.add(C_PUBLISHES, 1);
  yield* unlockRegistry(memory);
  if (residual !== 0) {
    yield;
    memory.add(C_RESIDUAL, residual);
  }
  return residual;
}

/**
 * Claims a free registry slot for a new read handle, starting it on the
 * current copy with no guards. Returns the slot, or -1 when all
 * `maxReaders` slots are taken.
 */
export function* registerReader(
  memory: Memory,
  maxReaders: number,
  owner: number,
): Generator<Step, number> {
  yield* lockRegistry(memory);
  yield;
  let slot = 0;
  while (
    slot < maxReaders &&
    memory.load(slotBase(slot) + S_STATE) !== SLOT_FREE
  ) slot++;
  if (slot < maxReaders) {
    const base = slotBase(slot);
    memory.store(base + S_REFCOUNT, memory.load(H_CURRENT_COPY) << 31);
    memory.store(base + S_RESIDUAL, 0);
    memory.store(base + S_OWNER, owner);
    memory.store(base + S_STATE, SLOT_IN_USE);
    if (slot >= memory.load(C_SLOTS_USED)) {
      memory.store(C_SLOTS_USED, slot + 1);
    }
  } else {
    slot = -1;
  }
  yield* unlockRegistry(memory);
  return slot;
}

/**
 * Frees the slot of a read handle whose thread is gone (a terminated
 * worker), whatever guards it still holds: its guards still counted as
 * residual are counted off, so the writer's wait can end. Returns how many
 * that was, or -1 if the slot was not in use.
 */
export function* reclaimReader(
  memory: Memory,
  slot: number,
): Generator<Step, number> {
  yield* lockRegistry(memory);
  yield;
  const base = slotBase(slot);
  let outstanding = -1;
  if (memory.load(base + S_STATE) === SLOT_IN_USE) {
    memory.store(base + S_STATE, SLOT_FREE);
    yield;
    outstanding = memory.exchange(base + S_RESIDUAL, 0);
  }
  yield* unlockRegistry(memory);
  if (outstanding > 0) {
    yield;
    yield* countOff(memory, outstanding);
  }
  return outstanding;
}

/** The slots with guards that the writer's wait is still waiting for. */
export function residualSlots(memory: Memory): number[] {
  const slots: number[] = [];
  const used = memory.load(C_SLOTS_USED);
  for (let slot = 0; slot < used; slot++) {
    const base = slotBase(slot);
    if (
      memory.load(base + S_STATE) === SLOT_IN_USE &&
      memory.load(base + S_RESIDUAL) > 0
    ) slots.push(slot);
  }
  return slots;
}

/** Frees the registry slot of a read handle that has no live guards. */
export function* unregisterReader(
  memory: Memory,
  slot: number,
): Generator<Step, void> {
  yield* lockRegistry(memory);
  yield;
  memory.store(slotBase(slot) + S_STATE, SLOT_FREE);
  yield* unlockRegistry(memory);
}

/** Thrown by the drivers when a wait outlasts its time limit. */
export class WaitTimedOut extends Error {
  constructor() {
    super("the wait timed out");
  }
}

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
      throw new WaitTimedOut();
    }
    memory.wait(request.index, request.expected, left);
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
      throw new WaitTimedOut();
    }
    await memory.waitAsync(request.index, request.expected, left);
  }
}
