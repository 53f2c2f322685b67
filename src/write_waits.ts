/**
 * The writer's waits for a retired copy to come free, seen from outside:
 * counting them into the stats, refusing a wait only this thread's own
 * guards could end (`DeadlockError`), and naming the readers a wait that
 * timed out was waiting for (`WaitTimeoutError`).
 *
 * @module
 */

import { localGuardsOn, type MapContext } from "./context.ts";
import type { CopySet } from "./copies.ts";
import { DeadlockError, WaitTimeoutError } from "./errors.ts";
import {
  orphansOn,
  pinningHandles,
  type Step,
  WaitTimedOut,
} from "./protocol.ts";

/**
 * Runs `steps`, calling `beforeWait` before each of its waits (`first`
 * for the first) and `afterWait` with the time spent once it ends (however
 * it ends).
 */
export function* observeWaits<T>(
  steps: Generator<Step, T>,
  beforeWait: (first: boolean) => void,
  afterWait: (ms: number) => void,
): Generator<Step, T> {
  let since = NaN;
  try {
    for (;;) {
      const next = steps.next();
      if (next.done) return next.value;
      if (next.value !== undefined) {
        beforeWait(since !== since);
        if (since !== since) since = performance.now();
      }
      yield next.value;
    }
  } finally {
    steps.return(undefined as T);
    if (since === since) afterWait(performance.now() - since);
  }
}

/** Why the writer must wait for a retired copy to come free. */
function noCopy(copies: CopySet, maxBytes: number): string {
  return copies.count < copies.maxCopies
    ? `the buffer has no room for another copy of the index (maxBytes ${maxBytes})`
    : `all ${copies.maxCopies} copies of the index (maxCopies) are taken`;
}

/**
 * Before a blocking wait for a retired copy to come free: throws a
 * `DeadlockError` if guards of this thread hold every retired copy, since
 * no other thread could end the wait.
 */
export function refuseDeadlock<K, V>(
  context: MapContext<K, V>,
  copies: CopySet,
  action: string,
  maxBytes: number,
): void {
  let own = 0;
  for (const copy of copies.retired()) {
    const guards = localGuardsOn(context, copy);
    if (guards === 0) return;
    own += guards;
  }
  throw new DeadlockError(
    `Cannot ${action}: ${noCopy(copies, maxBytes)}, and ${own} read guard${
      own === 1 ? "" : "s"
    } of this thread hold${
      own === 1 ? "s" : ""
    } the retired ones the writer must wait for; release ${
      own === 1 ? "it" : "them"
    } first, or use the async variant`,
  );
}

/** The ids of the handles with guards on retired copies, oldest version first. */
function pinningReaders<K, V>(
  context: MapContext<K, V>,
  copies: CopySet,
): number[] {
  const readers: number[] = [];
  for (const copy of copies.retired()) {
    for (const id of pinningHandles(context.control, copy)) {
      if (!readers.includes(id)) readers.push(id);
    }
  }
  return readers;
}

/**
 * What a failed wait throws: a `WaitTimeoutError` naming the readers that
 * pin the retired copies when the wait timed out, else `error` itself.
 */
export function timedOut<K, V>(
  context: MapContext<K, V>,
  copies: CopySet,
  error: unknown,
  action: string,
  timeoutMs: number,
  maxBytes: number,
): unknown {
  if (!(error instanceof WaitTimedOut)) return error;
  const readers = pinningReaders(context, copies);
  let orphans = 0;
  for (const copy of copies.retired()) {
    orphans += orphansOn(context.control, copy);
  }
  const holders = [
    readers.length === 0
      ? ""
      : `guards of read handle${readers.length === 1 ? "" : "s"} ${
        readers.join(", ")
      }`,
    orphans === 0
      ? ""
      : `${orphans} guard${
        orphans === 1 ? "" : "s"
      } of reclaimed read handles (a map of cells keeps them until they are released)`,
  ].filter((text) => text !== "").join(" and ") ||
    "guards that left without waking the writer";
  return new WaitTimeoutError(
    `Cannot ${action}: ${
      noCopy(copies, maxBytes)
    }, and after ${timeoutMs} ms ${holders} still hold the retired ones`,
    readers,
  );
}
