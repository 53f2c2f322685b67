/**
 * The shared control block of a run: the start barrier, the stop flag, the
 * writer's publish count (for staleness), and per-reader progress words (for
 * the bustle mode's pacing). Words that different threads write sit 128
 * bytes apart, so that they never share a cache line.
 *
 * @module
 */

/** Readers that have reached the barrier. */
export const ARRIVED = 0;
/** Set to 1 to release the barrier. */
export const GO = 1;
/** A word nobody changes: `Atomics.wait` on it is a precise sleep. */
export const SLEEP = 2;
/** Set to 1 when readers must stop. */
export const STOP = 32;
/** The writer's last published sequence number. */
export const PUBLISHED = 64;
/** The writer's completed writes (bustle pacing). */
export const WRITES = 96;
const PROGRESS = 128;
const STRIDE = 32;
/** The most readers one run can have. */
export const MAX_READERS = 64;

/** The word where reader `slot` stores how many reads it has done. */
export function progressWord(slot: number): number {
  return PROGRESS + STRIDE * slot;
}

/** A fresh control block. */
export function createControl(): Int32Array {
  return new Int32Array(
    new SharedArrayBuffer((PROGRESS + STRIDE * MAX_READERS) * 4),
  );
}

/** Clears the block before a run. */
export function resetControl(ctl: Int32Array): void {
  ctl.fill(0);
}

/** Sleeps the thread for `ms` milliseconds (fractions allowed). */
export function sleep(ctl: Int32Array, ms: number): void {
  if (ms > 0) Atomics.wait(ctl, SLEEP, 0, ms);
}

/** A reader arrives at the start barrier and blocks until the main thread releases it. */
export function arriveAndWait(ctl: Int32Array): void {
  Atomics.add(ctl, ARRIVED, 1);
  Atomics.notify(ctl, ARRIVED);
  while (Atomics.load(ctl, GO) === 0) Atomics.wait(ctl, GO, 0, 1000);
}

/**
 * The main thread waits until `count` readers have arrived, then releases
 * them together. Throws after `timeoutMs`, so that a worker that died does
 * not hang the harness.
 */
export function releaseWhenArrived(
  ctl: Int32Array,
  count: number,
  timeoutMs: number,
): void {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const arrived = Atomics.load(ctl, ARRIVED);
    if (arrived >= count) break;
    if (performance.now() > deadline) {
      throw new Error(
        `Cannot start the run: ${arrived} of ${count} readers reached the barrier in ${timeoutMs} ms`,
      );
    }
    Atomics.wait(ctl, ARRIVED, arrived, 50);
  }
  Atomics.store(ctl, GO, 1);
  Atomics.notify(ctl, GO);
}
