/**
 * Running registry operations (registering, unregistering, reclaiming a
 * read handle, publishing) from a real thread: with enough stack to finish
 * once begun, a bounded wait for the registry lock, and recovery of a lock
 * whose holder is gone.
 *
 * @module
 */

import { WaitTimeoutError } from "./errors.ts";
import type { AtomicsMemory } from "./memory.ts";
import {
  breakRegistryLock,
  handlesOf,
  registryHolder,
  runBlocking,
  type Step,
  unlockRegistry,
  WaitTimedOut,
} from "./protocol.ts";

/**
 * How long a registry operation waits for the lock when its call takes no
 * `timeoutMs`. Holders keep it for microseconds and run no user code, so a
 * lock held this long belongs to a thread that died holding it.
 */
export const REGISTRY_WAIT_MS = 2_000;

const PROBE_FRAMES = 40;

function probe(frames: number, a: number, b: number, c: number): number {
  if (frames === 0) return a + b + c;
  return probe(frames - 1, b, c, a + 1) + 1;
}

/**
 * Throws (out of stack) here, before anything shared changed, when the
 * stack is too short for a multi-step protocol operation to finish: such an
 * operation interrupted half way would leave shared state that no one can
 * repair. The probe takes several times the frames any operation needs.
 *
 * @param frames How deep to probe.
 */
export function ensureStack(frames: number = PROBE_FRAMES): void {
  probe(frames, 0, 1, 2);
}

/**
 * Probe frames for an operation that itself runs others which probe, a few
 * calls deeper (an update's abort or publish).
 */
export const OUTER_PROBE_FRAMES = 2 * PROBE_FRAMES;

/**
 * Runs `steps` (a registry operation: it takes and releases the lock) to
 * completion for the context tagged `tag`. A lock left held under this very
 * tag (an exception out of a registry section) is taken back first. A wait
 * for the lock longer than `timeoutMs` throws a {@linkcode WaitTimeoutError}
 * that names the holder's read handles (`readers`), so that the caller can
 * reclaim them if that worker is gone.
 */
export function runRegistry<T>(
  control: AtomicsMemory,
  tag: number,
  steps: () => Generator<Step, T>,
  action: string,
  timeoutMs = REGISTRY_WAIT_MS,
): T {
  ensureStack();
  const holder = registryHolder(control);
  if (
    holder.owner === tag && breakRegistryLock(control, holder.epoch, tag)
  ) {
    runBlocking(control, unlockRegistry(control));
  }
  try {
    return runBlocking(control, steps(), timeoutMs);
  } catch (error) {
    throw lockTimedOut(control, error, action, timeoutMs);
  }
}

/**
 * `runRegistry` for reclaiming the handles of the context tagged `gone`,
 * which the caller says is gone: if that context holds the lock, and holds
 * it in the same epoch for the whole wait (at least
 * {@linkcode REGISTRY_WAIT_MS}, whatever `timeoutMs` says, since a holder
 * that is alive keeps it for microseconds), it died inside a registry
 * section, and the lock is taken back.
 */
export function runRegistryRecovering<T>(
  control: AtomicsMemory,
  tag: number,
  gone: number,
  steps: () => Generator<Step, T>,
  action: string,
  timeoutMs: number,
): T {
  const epoch = registryHolder(control).epoch;
  try {
    return runRegistry(control, tag, steps, action, timeoutMs);
  } catch (error) {
    const holder = registryHolder(control);
    if (
      !(error instanceof WaitTimeoutError) || timeoutMs < REGISTRY_WAIT_MS ||
      gone === 0 || holder.owner !== gone || holder.epoch !== epoch ||
      !breakRegistryLock(control, epoch, tag)
    ) throw error;
    runBlocking(control, unlockRegistry(control));
    return runRegistry(control, tag, steps, action, timeoutMs);
  }
}

/** The error for a wait on the registry lock that ran out of time. */
function lockTimedOut(
  control: AtomicsMemory,
  error: unknown,
  action: string,
  timeoutMs: number,
): unknown {
  if (!(error instanceof WaitTimedOut)) return error;
  const { owner } = registryHolder(control);
  const readers = owner === 0 ? [] : handlesOf(control, owner);
  return new WaitTimeoutError(
    `Cannot ${action}: after ${timeoutMs} ms, the registry lock is still held by the context tagged ${owner}${
      readers.length === 0
        ? ", which has no open read handle"
        : `, owner of read handle${readers.length === 1 ? "" : "s"} ${
          readers.join(", ")
        }; if that worker is gone, WriteHandle.reclaim() of its handle recovers the lock`
    }`,
    readers,
  );
}
