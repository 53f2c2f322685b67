/**
 * The write side's public contract: the write handle, its guards, and the
 * options of its waits. What each operation means is documented here once;
 * `write.ts` implements it.
 *
 * @module
 */

import type { ValueInput } from "./cells.ts";
import type { AtomicCells } from "./cells_api.ts";

// Only for the documentation's links.
// deno-lint-ignore no-unused-vars
import type { DeadlockError, WaitTimeoutError } from "./errors.ts";

/**
 * The write handle of a map: the only way to change it. There is one per
 * map, used from one thread; it opens one write guard at a time.
 *
 * | operation | cost |
 * | --- | --- |
 * | `guard()` | replays the last guard's operations onto a copy no reader holds; if readers hold every retired copy, copies the index instead (O(entries)); waits only when `maxCopies` copies, or `maxBytes`, are used up |
 * | `synchronize()` | the same, without opening a guard, and frees every retired copy that readers have left |
 * | `stats()` | O(readers × copies) loads; never disturbs readers |
 * | `close()` | O(1); readers keep reading |
 *
 * A read guard held for long (across an `await`, or by a worker that died
 * in it) pins the copy of the index it reads, and the entries that copy
 * reaches: it costs memory, shown by `stats().pinned`, never the writer's
 * time. The writer writes another copy meanwhile.
 *
 * @typeParam K The type of the keys.
 * @typeParam V The type of the values.
 *
 * @example Writing, then reading what was published
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { create } from "@x/flashmap";
 *
 * const [write, read] = create();
 * {
 *   using guard = write.guard();
 *   guard.insert("colour", "blue");
 * } // leaving the block publishes
 * assertEquals(read.get("colour"), "blue");
 * write.close();
 * read.close();
 * ```
 */
export interface WriteHandle<K, V> extends Disposable {
  /**
   * Opens a write guard on a copy of the index that no read guard reads:
   * the copy the last publish retired, brought up to date by replaying the
   * last guard's operations, once its readers have left; if readers still
   * hold it, another retired copy they have left (replaying the logs since
   * its version), or a new copy of the current index. It waits (blocking
   * the thread) only when the map already has `maxCopies` copies, or the
   * buffer has no room for another, until a retired copy comes free.
   *
   * Throws a `TypeError` if the handle is closed or a write guard is live,
   * a {@linkcode DeadlockError} if it would have to wait and the guards it
   * would wait for belong to this thread, and a {@linkcode WaitTimeoutError}
   * naming the read handles that pin the oldest copies if the wait outlasts
   * `timeoutMs`.
   *
   * @returns The write guard; publish it with `publish()` or by disposing it.
   *
   * @example
   * ```ts
   * import { create } from "@x/flashmap";
   *
   * const [write] = create();
   * using guard = write.guard();
   * guard.insert("a", "1");
   * ```
   */
  guard(options?: WaitOptions): WriteGuard<K, V>;
  /**
   * Opens a write guard like `guard()`, but waits without blocking the
   * event loop, so read guards of this thread may be released meanwhile.
   *
   * @returns A promise of the write guard.
   *
   * @example
   * ```ts
   * import { create } from "@x/flashmap";
   *
   * const [write] = create();
   * using guard = await write.guardAsync();
   * guard.insert("a", "1");
   * ```
   */
  guardAsync(options?: WaitOptions): Promise<WriteGuard<K, V>>;
  /**
   * Does now the work the next `guard()` would do first. After it returns,
   * the writer has no replay pending (the next guard opens at once, with no
   * wait and no copying), and every retired copy that no read guard holds
   * any more has been freed, with the entries only it reached. Copies that
   * guards still hold stay until they are left; `stats().pinned` lists them.
   * It waits, like `guard()`, only when `maxCopies` copies are taken.
   *
   * @example
   * ```ts
   * import { create } from "@x/flashmap";
   *
   * const [write] = create();
   * {
   *   using guard = write.guard();
   *   guard.insert("k", "v");
   * }
   * write.synchronize();
   * ```
   */
  synchronize(options?: WaitOptions): void;
  /**
   * `synchronize()` without blocking the event loop.
   *
   * @returns A promise that settles when the wait and the replay are done.
   *
   * @example
   * ```ts
   * import { create } from "@x/flashmap";
   *
   * const [write] = create();
   * {
   *   using guard = write.guard();
   *   guard.insert("k", "v");
   * }
   * await write.synchronizeAsync();
   * ```
   */
  synchronizeAsync(options?: WaitOptions): Promise<void>;
  /**
   * Frees the registry slot of the read handle `readerId` (its
   * `ReadHandle.id`) whose worker is gone or going, for example terminated
   * while it held a guard. Its guards stop counting, so a wait for them
   * ends, the copies only they held are freed at the next `guard()` or
   * `synchronize()`, and its slot counts no more against `maxReaders`.
   *
   * The handle becomes inert, even if its thread keeps running (in Deno,
   * `worker.terminate()` stops a worker only when it returns to its event
   * loop): leaving its guards and closing it change nothing, and opening a
   * guard, `get`, `has`, `size`, `version`, `changed()`, `stats()`, `clone`
   * and `share` throw a `TypeError`. A guard it still holds may read a copy
   * that the writer changes. Ids are unique over the map's life, so a stale
   * id never reclaims a newer handle.
   *
   * In a map of atomic cells (`codecs.atomicInt32` and the like), a guard
   * the handle still holds could update cells, so its copy is not freed
   * until that guard is released, even by a thread that was reclaimed: the
   * guard stays counted as an orphan (`stats().pinned[i].orphans`), and
   * its late updates land in the entries it saw, never in reused memory. A
   * worker terminated for good while it held a guard (at an `await`, say)
   * keeps that copy pinned, as if it was never reclaimed; its slot is
   * freed all the same. When you know that the handle's thread has stopped
   * and will never run again, pass `{ stopped: true }`: its guards are then
   * dropped at once, as in maps without cells (a thread that still runs
   * could then update cells in memory the writer reuses).
   *
   * If the registry lock is held by the reclaimed handle's thread and does
   * not move for the whole wait (a wait of at least 2 s: a `timeoutMs` below
   * that never takes the lock back), that thread died inside a registry
   * operation (a runtime whose `terminate()` interrupts running code, such
   * as Node's, can do that): the lock is taken back.
   *
   * Throws a `TypeError` for an id that is not a number, a `RangeError` if
   * no open handle has that id, a `TypeError` for a handle of this thread
   * (close it instead), and a
   * {@linkcode WaitTimeoutError} if the registry lock stays held by another
   * thread past `timeoutMs` (2 s by default).
   *
   * @param readerId The id of the handle to free.
   * @param options How long to wait for the registry lock, and whether the
   * handle's thread is known to have stopped.
   *
   * @example Recovering from a worker terminated inside a guard
   * ```ts ignore
   * // worker: const read = attach(token); self.postMessage(read.id); ...
   * const id = await idFromWorker;
   * worker.terminate(); // the worker may run on until it yields
   * write.reclaim(id); // safe even so: its handle is inert from here on
   * using guard = write.guard();
   * ```
   *
   * @example What it refuses
   * ```ts
   * import { assertThrows } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [write, read] = create();
   * assertThrows(() => write.reclaim(read.id), TypeError); // this thread's: close it
   * assertThrows(() => write.reclaim(200), RangeError); // no such open handle
   * ```
   */
  reclaim(readerId: number, options?: ReclaimOptions): void;
  /**
   * What the writer and its copies of the index look like now: the
   * version, the copies, the versions that read guards still pin and who
   * pins them, the buffer's memory, and how often the writer waited or
   * copied. Read from the registry with plain loads: it never disturbs
   * readers. See {@linkcode WriteStats} for each field.
   *
   * @returns A fresh snapshot.
   *
   * @example A guard held long pins its version, not the writer
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [write, read] = create();
   * write.update((guard) => guard.insert("a", "1"));
   * const view = read.guard(); // held, as across an await
   * write.update((guard) => guard.insert("a", "2"));
   * write.update((guard) => guard.insert("a", "3")); // no wait
   * const stats = write.stats();
   * assertEquals(stats.version, 3);
   * assertEquals(stats.waits, 0);
   * assertEquals(stats.pinned.map((p) => [p.version, p.readers]), [[1, [read.id]]]);
   * assertEquals(view.get("a"), "1");
   * view.release();
   * write.synchronize(); // frees the copy the guard pinned
   * assertEquals(write.stats().pinned, []);
   * ```
   */
  stats(): WriteStats;
  /**
   * The version (publish count) of the last publish: what read guards
   * opened now see.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [write] = create();
   * write.update((guard) => guard.set("a", "1"));
   * assertEquals(write.version, 1);
   * ```
   */
  readonly version: number;
  /**
   * Runs `fn` with a new write guard and publishes what it did if it
   * returns, or takes it all back (`WriteGuard.abort()`) if it throws, then
   * rethrows: readers see all of the batch or none of it. Returns what `fn`
   * returned. Waits for the guard as `guard(options)` does; `timeoutMs`
   * bounds each of its waits (for readers when it opens, for the registry
   * lock when it publishes), and a publish that times out aborts the batch. `fn` must not be
   * async: use {@linkcode WriteHandle.updateAsync} for that (a promise
   * returned here is refused with a `TypeError`, the batch aborted).
   *
   * A plain `using guard = write.guard()` block publishes whatever it did
   * when it ends, even when it ends by an exception; use `update` for
   * all-or-nothing batches.
   *
   * @typeParam T What `fn` returns.
   * @param fn Makes the changes.
   * @param options How long to wait for a copy to come free (when every copy is taken).
   * @returns What `fn` returned.
   *
   * @example All or nothing
   * ```ts
   * import { assertEquals, assertThrows } from "@std/assert";
   * import { codecs, create } from "@x/flashmap";
   *
   * const [write, read] = create({ value: codecs.number });
   * write.update((guard) => guard.set("a", 1).set("b", 2));
   * assertThrows(() =>
   *   write.update((guard) => {
   *     guard.set("a", 10);
   *     throw new Error("half way");
   *   })
   * );
   * assertEquals(read.get("a"), 1); // the failed batch left no trace
   * ```
   */
  update<T>(fn: (guard: WriteGuard<K, V>) => T, options?: WaitOptions): T;
  /**
   * `update()` for async functions: waits for the guard as `guardAsync()`
   * does, awaits `fn`, then publishes, or aborts and rethrows if it
   * rejects. Other code of the thread cannot open a write guard meanwhile.
   *
   * @typeParam T What `fn` resolves to.
   * @param fn Makes the changes.
   * @param options How long to wait for a copy to come free (when every copy is taken).
   * @returns What `fn` resolved to.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [write, read] = create();
   * await write.updateAsync(async (guard) => {
   *   guard.set("config", await Promise.resolve("loaded"));
   * });
   * assertEquals(read.get("config"), "loaded");
   * ```
   */
  updateAsync<T>(
    fn: (guard: WriteGuard<K, V>) => T | Promise<T>,
    options?: WaitOptions,
  ): Promise<T>;
  /**
   * Closes the handle. Readers keep reading the last published version.
   * Throws a `TypeError` while a write guard is live. Closing twice does
   * nothing.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [write, read] = create();
   * {
   *   using guard = write.guard();
   *   guard.insert("k", "v");
   * }
   * write.close();
   * assertEquals(read.get("k"), "v");
   * ```
   */
  close(): void;
  /** Whether `close()` has been called. */
  readonly closed: boolean;
}

/**
 * Options of the writer's waits.
 *
 * @example
 * ```ts
 * import { create, type WaitOptions } from "@x/flashmap";
 *
 * const [write] = create();
 * const options: WaitOptions = { timeoutMs: 1000 };
 * using guard = write.guard(options);
 * ```
 */
export interface WaitOptions {
  /**
   * Gives up waiting for read guards after this many milliseconds with a
   * {@linkcode WaitTimeoutError} naming the read handles still waited for
   * (default: wait as long as it takes).
   */
  timeoutMs?: number;
}

/**
 * Options of {@linkcode WriteHandle.reclaim}.
 *
 * @example
 * ```ts
 * import type { ReclaimOptions } from "@x/flashmap";
 *
 * const options: ReclaimOptions = { timeoutMs: 5000, stopped: true };
 * ```
 */
export interface ReclaimOptions extends WaitOptions {
  /**
   * `true` when the handle's thread has stopped and will never run again
   * (not merely been asked to terminate): in a map of atomic cells, the
   * guards it held are then dropped at once instead of being kept until
   * they are released. Default `false`. Maps without cells ignore it.
   */
  stopped?: boolean;
}

/**
 * A version of the map that read guards still read after newer ones were
 * published: an entry of {@linkcode WriteStats.pinned}.
 *
 * @example
 * ```ts
 * import type { PinnedVersion } from "@x/flashmap";
 *
 * const pinned: PinnedVersion = {
 *   version: 3,
 *   readers: [1],
 *   orphans: 0,
 *   heldMs: 1500,
 * };
 * ```
 */
export interface PinnedVersion {
  /** The version (publish count) the guards read. */
  readonly version: number;
  /** Ids of the read handles whose guards read it (`ReadHandle.id`). */
  readonly readers: number[];
  /**
   * Guards of reclaimed read handles that still read it (maps of atomic
   * cells only: their workers may still be updating cells through them, so
   * the version is kept until each is released; see `WriteHandle.reclaim`).
   */
  readonly orphans: number;
  /**
   * Milliseconds since a newer version replaced it: how long the guards
   * have kept it alive past its time.
   */
  readonly heldMs: number;
}

/**
 * What {@linkcode WriteHandle.stats} returns.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { create, type WriteStats } from "@x/flashmap";
 *
 * const [write] = create();
 * const stats: WriteStats = write.stats();
 * assertEquals(stats.copies, 2);
 * ```
 */
export interface WriteStats {
  /** Publishes so far: the version new read guards see. */
  readonly version: number;
  /**
   * Copies of the index in the buffer now: the current one, the writer's,
   * and retired ones that guards still read (or that wait to be replayed or
   * freed at the next write guard or `synchronize()`). Right after a publish
   * that grew the table it can be 1: the writer's next copy is made from
   * the grown table at the next write guard or `synchronize()`.
   */
  readonly copies: number;
  /** The most copies the writer may make (the `maxCopies` option). */
  readonly maxCopies: number;
  /** The retired versions read guards still read, oldest first. */
  readonly pinned: PinnedVersion[];
  /** Bytes of the buffer that hold the header, registry, tables and entries. */
  readonly bytesInUse: number;
  /** Bytes the buffer has grown to (committed, in use or free for reuse). */
  readonly bytesReserved: number;
  /** The most bytes the buffer may grow to (the `maxBytes` option). */
  readonly maxBytes: number;
  /** Times the writer waited for a copy to come free (all copies were taken). */
  readonly waits: number;
  /** Milliseconds the writer spent in those waits. */
  readonly waitMs: number;
  /** Write copies made by copying the current index, because readers held the retired copies. */
  readonly clones: number;
  /** Write copies brought up to date by replaying logged operations. */
  readonly replays: number;
  /** Operations logged for retired copies that may yet be replayed. */
  readonly loggedOperations: number;
}

/**
 * Exclusive write access to a map. Changes go to the writer's own copy:
 * the guard sees them at once, readers when the guard is published (by
 * `publish()` or by disposing it, for example at the end of a `using`
 * block). After that, every method but `publish()`, `abort()` and disposal
 * throws.
 *
 * | operation | cost |
 * | --- | --- |
 * | `insert`, `replace`, `remove` | O(1) expected, plus the same again when the copy it retires is replayed (at the publish, or when its readers leave) |
 * | `get`, `has`, `size` | O(1) expected |
 * | `publish()` | O(read handles), plus the replay of the guard's operations onto the copy it retires when no guard is left on it; never waits for readers (only, briefly, for the registry lock) |
 *
 * Values passed in are checked by the map's codecs first: a value the
 * codec cannot take throws a `TypeError` or `RangeError` and changes nothing.
 * Codecs and `replace()` updates run with changes refused: from inside them,
 * `insert`, `set`, `replace`, `remove`, `delete`, `clear`, `publish` and `abort`
 * throw a `TypeError`.
 *
 * A `using` block publishes what it did when it ends, even when it ends by
 * an exception. For all-or-nothing batches use `WriteHandle.update()`, or
 * call `abort()`.
 *
 * @typeParam K The type of the keys.
 * @typeParam V The type of the values.
 *
 * @example Several operations, published at once
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { create } from "@x/flashmap";
 *
 * const [write, read] = create();
 * {
 *   using guard = write.guard();
 *   assertEquals(guard.insert("a", "1"), undefined);
 *   assertEquals(guard.insert("a", "2"), "1");
 *   assertEquals(guard.replace("a", (old) => old + "!"), "2");
 *   assertEquals(guard.remove("missing"), undefined);
 *   assertEquals(guard.get("a"), "2!");
 *   assertEquals(read.get("a"), undefined); // not published yet
 * }
 * assertEquals(read.get("a"), "2!");
 * ```
 */
export interface WriteGuard<K, V>
  extends Disposable, Iterable<[K, V]>, AtomicCells<K, V> {
  /**
   * Inserts or overwrites an entry.
   *
   * @param key The key.
   * @param value The value.
   * @returns The previous value, or `undefined` if the key was absent.
   *
   * @example
   * ```ts
   * import { create } from "@x/flashmap";
   *
   * const [write] = create();
   * using guard = write.guard();
   * guard.insert("a", "1");
   * ```
   */
  insert(key: K, value: ValueInput<V>): V | undefined;
  /**
   * Inserts or overwrites an entry without reading the previous value, so
   * it also overwrites a value that cannot be decoded. The cheap write when
   * the old value is not needed.
   *
   * @param key The key.
   * @param value The value.
   * @returns This guard, as `Map.set` does.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [write] = create();
   * using guard = write.guard();
   * guard.set("a", "1").set("b", "2");
   * assertEquals(guard.size, 2);
   * ```
   */
  set(key: K, value: ValueInput<V>): this;
  /**
   * Replaces the value of an existing key with `update(previous)`. Does
   * nothing (and does not call `update`) when the key is absent. If
   * `update` throws, the map is unchanged.
   *
   * @param key The key.
   * @param update Computes the new value from the previous one.
   * @returns The previous value, or `undefined` if the key was absent.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { codecs, create } from "@x/flashmap";
   *
   * const [write] = create({ value: codecs.number });
   * using guard = write.guard();
   * guard.insert("hits", 1);
   * guard.replace("hits", (n) => n + 1);
   * assertEquals(guard.get("hits"), 2);
   * ```
   */
  replace(
    key: K,
    update: (previous: V) => ValueInput<V>,
  ): V | undefined;
  /**
   * Removes an entry.
   *
   * @param key The key.
   * @returns The removed value, or `undefined` if the key was absent.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [write] = create();
   * using guard = write.guard();
   * guard.insert("a", "1");
   * assertEquals(guard.remove("a"), "1");
   * ```
   */
  remove(key: K): V | undefined;
  /**
   * Removes an entry without reading its value, so it also removes a value
   * that cannot be decoded.
   *
   * @param key The key.
   * @returns `true` if the key was present, as `Map.delete` does.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [write] = create();
   * using guard = write.guard();
   * guard.set("a", "1");
   * assertEquals(guard.delete("a"), true);
   * assertEquals(guard.delete("a"), false);
   * ```
   */
  delete(key: K): boolean;
  /**
   * Removes every entry. Readers see the empty map once the guard is
   * published; their guards on older versions keep their entries, which
   * are freed only when no guard can reach them. An abort puts every entry
   * back. The tables keep their size: the memory of the entries comes
   * back, that of the tables does not.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [write, read] = create();
   * write.update((guard) => guard.set("a", "1").set("b", "2"));
   * const view = read.guard();
   * write.update((guard) => guard.clear());
   * assertEquals(read.size, 0);
   * assertEquals(view.size, 2); // an older snapshot keeps its entries
   * view.release();
   * ```
   */
  clear(): void;
  /**
   * The value of a key, including this guard's unpublished changes.
   *
   * @param key The key.
   * @returns The value, or `undefined`.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [write] = create();
   * using guard = write.guard();
   * guard.insert("a", "1");
   * assertEquals(guard.get("a"), "1");
   * ```
   */
  get(key: K): V | undefined;
  /**
   * Whether the key is present, including this guard's unpublished changes.
   *
   * @param key The key.
   * @returns `true` if present.
   *
   * @example
   * ```ts
   * import { assert } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [write] = create();
   * using guard = write.guard();
   * guard.insert("a", "1");
   * assert(guard.has("a"));
   * ```
   */
  has(key: K): boolean;
  /** The number of entries, including this guard's unpublished changes. */
  readonly size: number;
  /**
   * The keys, in table order.
   *
   * @returns An iterator of the keys.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [write] = create();
   * using guard = write.guard();
   * guard.insert("a", "1");
   * assertEquals([...guard.keys()], ["a"]);
   * ```
   */
  keys(): IterableIterator<K>;
  /**
   * The values, in table order.
   *
   * @returns An iterator of the values.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [write] = create();
   * using guard = write.guard();
   * guard.insert("a", "1");
   * assertEquals([...guard.values()], ["1"]);
   * ```
   */
  values(): IterableIterator<V>;
  /**
   * The `[key, value]` pairs, in table order.
   *
   * @returns An iterator of the entries.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [write] = create();
   * using guard = write.guard();
   * guard.insert("a", "1");
   * assertEquals([...guard.entries()], [["a", "1"]]);
   * ```
   */
  entries(): IterableIterator<[K, V]>;
  /**
   * Makes this guard's changes visible to read guards created from now on,
   * all at once, as a new version. Never waits for readers. Calling it
   * again does nothing, and so does publishing a guard that changed
   * nothing: no version is made for it.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [write, read] = create();
   * const guard = write.guard();
   * guard.insert("a", "1");
   * guard.publish();
   * assertEquals(read.get("a"), "1");
   * ```
   */
  publish(): void;
  /** Whether the guard has been published. */
  readonly published: boolean;
  /**
   * Takes back every change made through this guard: the writer's copy is
   * again exactly the last published version, entries the guard created are
   * freed, and nothing is published. The guard is finished, as after
   * `publish()` (which then does nothing). Calling it again does nothing;
   * calling it after `publish()` throws a `TypeError`.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [write, read] = create();
   * write.update((guard) => guard.set("a", "kept"));
   * {
   *   using guard = write.guard();
   *   guard.set("a", "changed");
   *   guard.set("b", "new");
   *   guard.abort();
   * }
   * assertEquals(read.get("a"), "kept");
   * assertEquals(read.has("b"), false);
   * ```
   */
  abort(): void;
  /** Whether the guard was aborted. */
  readonly aborted: boolean;
}
