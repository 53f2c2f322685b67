/**
 * The named error classes: conditions a caller may want to catch and handle.
 *
 * Plain misuse (a wrong type, a released guard, a closed handle) throws the
 * built-in `TypeError` or `RangeError`; these subclasses exist where a
 * program can reasonably recover.
 *
 * @module
 */

/**
 * Thrown when an insert would need more memory than the map's `maxBytes`
 * allows. The map is left exactly as it was before the failed operation and
 * stays usable: remove entries, or create the map with a larger `maxBytes`.
 *
 * @example Catching a full map
 * ```ts
 * import { assertInstanceOf } from "@std/assert";
 * import { BufferFullError, codecs, create } from "@x/flashmap";
 *
 * const [write] = create({ value: codecs.string, maxBytes: 64 * 1024 });
 * let caught: unknown;
 * using guard = write.guard();
 * try {
 *   for (let i = 0; i < 1_000_000; i++) guard.insert(`key ${i}`, "x".repeat(64));
 * } catch (error) {
 *   caught = error;
 * }
 * assertInstanceOf(caught, BufferFullError);
 * ```
 */
export class BufferFullError extends RangeError {
  /**
   * Creates the error.
   *
   * @param message What could not be done, and the limit that stopped it.
   */
  constructor(message: string) {
    super(message);
    this.name = "BufferFullError";
  }
}

/**
 * Thrown when a map already has `maxReaders` open read handles and another
 * one is requested (`clone()` or `attach()`). Close a handle, or create the
 * map with a larger `maxReaders`.
 *
 * @example Running out of reader slots
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { create, ReaderLimitError } from "@x/flashmap";
 *
 * const [write, read] = create({ maxReaders: 1 });
 * assertThrows(() => read.clone(), ReaderLimitError);
 * read.close();
 * write.close();
 * ```
 */
export class ReaderLimitError extends RangeError {
  /**
   * Creates the error.
   *
   * @param message What could not be done, and the limit that stopped it.
   */
  constructor(message: string) {
    super(message);
    this.name = "ReaderLimitError";
  }
}

/**
 * Thrown instead of hanging when the writer would have to wait for read
 * guards held by its own thread: those guards cannot be released while the
 * thread is blocked in the wait. The writer waits only when all `maxCopies`
 * copies of the index are taken (or `maxBytes` leaves no room for another)
 * and read guards hold every retired one. Release them first, or use the
 * async variants (`guardAsync()`, `synchronizeAsync()`), which let the event
 * loop run while they wait.
 *
 * @example With `maxCopies: 2`, a read guard held across a publish blocks the next write guard
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { create, DeadlockError } from "@x/flashmap";
 *
 * const [write, read] = create({ maxCopies: 2 });
 * const view = read.guard();
 * {
 *   using guard = write.guard();
 *   guard.insert("a", "1");
 * }
 * assertThrows(() => write.guard(), DeadlockError);
 * view.release();
 * write.guard().publish();
 * ```
 */
export class DeadlockError extends Error {
  /**
   * Creates the error.
   *
   * @param message What the writer was about to wait for.
   */
  constructor(message: string) {
    super(message);
    this.name = "DeadlockError";
  }
}

/**
 * Thrown by a write guard or `synchronize()` given a `timeoutMs` when it
 * had to wait for a copy of the index to come free (all `maxCopies` copies
 * were taken) and read guards still hold every retired copy at the
 * deadline. `readers` lists the ids (`ReadHandle.id`) of the handles they
 * belong to, those on the oldest versions first: if one of them belongs to
 * a worker that is gone, `WriteHandle.reclaim(id)` frees it and the wait
 * can end.
 *
 * @example Waiting at most 10 ms for a reader, with `maxCopies: 2`
 * ```ts
 * import { assertEquals, assertInstanceOf } from "@std/assert";
 * import { create, WaitTimeoutError } from "@x/flashmap";
 *
 * const [write, read] = create({ maxCopies: 2 });
 * const other = read.clone();
 * {
 *   using guard = write.guard();
 *   guard.insert("a", "1");
 * }
 * const view = other.guard(); // as if held by a worker that never releases it
 * {
 *   using guard = write.guard();
 *   guard.insert("a", "2");
 * }
 * const error = await write.guardAsync({ timeoutMs: 10 }).catch((e) => e);
 * assertInstanceOf(error, WaitTimeoutError);
 * assertEquals(error.readers, [other.id]);
 * view.release();
 * ```
 */
export class WaitTimeoutError extends Error {
  /** Ids of the read handles whose guards the writer was waiting for. */
  readonly readers: number[];

  /**
   * Creates the error.
   *
   * @param message What the writer was waiting for.
   * @param readers The ids of the read handles it was waiting for.
   */
  constructor(message: string, readers: number[]) {
    super(message);
    this.name = "WaitTimeoutError";
    this.readers = readers;
  }
}
