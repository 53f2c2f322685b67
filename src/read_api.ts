/**
 * The read side's public contract: the token a worker attaches from, the
 * read handle, and its guards. What each operation means is documented here
 * once; `read.ts` implements it.
 *
 * @module
 */

// Only for the documentation's links.
// deno-lint-ignore no-unused-vars
import type { ReaderLimitError, WaitTimeoutError } from "./errors.ts";
import type { AtomicCells } from "./cells_api.ts";

/**
 * A plain, structured-cloneable description of a map that a worker turns
 * into a read handle of its own with `attach()`. Send it with
 * `postMessage`; the map's buffer is shared, not copied.
 *
 * @typeParam K The type of the keys.
 * @typeParam V The type of the values.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { attach, create } from "@x/flashmap";
 *
 * const [write, read] = create();
 * const token = read.share();
 * const other = attach(structuredClone(token));
 * assertEquals(other.get("x"), undefined);
 * other.close();
 * ```
 */
export interface ReadToken<K, V> {
  /** Always `"@x/flashmap:read"`. */
  readonly kind: "@x/flashmap:read";
  /** The layout version of the buffer. */
  readonly layout: number;
  /** The map's memory. */
  readonly buffer: SharedArrayBuffer;
  /** The name of the key codec. */
  readonly key: string;
  /** The name of the value codec. */
  readonly value: string;
  /** Never present: carries the key and value types for TypeScript. */
  readonly types?: [K, V];
}

/**
 * A read handle: reads the map from one thread. Open guards for consistent
 * snapshots, or use `get` / `has` for one-shot reads. Give other workers
 * their own handle through `share()` and `attach()`.
 *
 * | operation | cost |
 * | --- | --- |
 * | `guard()` | one compare-and-exchange, one small object |
 * | `get`, `has`, `size` | two compare-and-exchanges and a probe; no allocation but the value |
 * | `version` | two or three atomic loads |
 * | `changed()`, `versions()` | sleep on the publish count (`Atomics.waitAsync`), woken by each publish |
 * | `clone()`, `attach()`, `close()` | a registry lock, O(maxReaders) at worst |
 *
 * @typeParam K The type of the keys.
 * @typeParam V The type of the values.
 *
 * @example Reading a snapshot
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { create } from "@x/flashmap";
 *
 * const [write, read] = create();
 * write.guard().publish();
 * {
 *   using guard = write.guard();
 *   guard.insert("a", "1");
 * }
 * using view = read.guard();
 * assertEquals(view.get("a"), "1");
 * assertEquals(view.size, 1);
 * ```
 */
export interface ReadHandle<K, V> extends Disposable, AtomicCells<K, V> {
  /**
   * Opens a read guard: a consistent snapshot of the last published
   * version, until it is released.
   *
   * @returns The guard; release it with `release()` or by disposing it.
   *
   * @example
   * ```ts
   * import { create } from "@x/flashmap";
   *
   * const [, read] = create();
   * using view = read.guard();
   * view.has("a");
   * ```
   */
  guard(): ReadGuard<K, V>;
  /**
   * Reads one key from the latest published version, without a guard
   * object.
   *
   * @param key The key.
   * @returns The value, or `undefined`.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [, read] = create();
   * assertEquals(read.get("a"), undefined);
   * ```
   */
  get(key: K): V | undefined;
  /**
   * Whether the latest published version has the key, without a guard
   * object.
   *
   * @param key The key.
   * @returns `true` if present.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [, read] = create();
   * assertEquals(read.has("a"), false);
   * ```
   */
  has(key: K): boolean;
  /**
   * Another read handle of the same map for this thread, with its own
   * registry slot (throws {@linkcode ReaderLimitError} when none is free).
   *
   * @returns The new handle.
   *
   * @example
   * ```ts
   * import { create } from "@x/flashmap";
   *
   * const [, read] = create();
   * using other = read.clone();
   * ```
   */
  clone(): ReadHandle<K, V>;
  /**
   * A token to send to another worker, which turns it into its own read
   * handle with `attach()`.
   *
   * @returns The token.
   *
   * @example
   * ```ts
   * import { create } from "@x/flashmap";
   *
   * const [, read] = create();
   * const token = read.share(); // worker.postMessage(token)
   * ```
   */
  share(): ReadToken<K, V>;
  /**
   * Frees the handle's registry slot. Throws a `TypeError`, changing
   * nothing, while guards of the handle are live. Closing twice does
   * nothing, and neither does closing a handle the writer reclaimed.
   *
   * @example
   * ```ts
   * import { create } from "@x/flashmap";
   *
   * const [, read] = create();
   * read.close();
   * ```
   */
  close(): void;
  /** Whether `close()` has been called. */
  readonly closed: boolean;
  /**
   * This handle's id, unique over the map's life (its registry slot and how
   * many handles that slot has held). A worker sends it to the writer's
   * thread so that `WriteHandle.reclaim` can free the handle if the worker
   * is terminated without closing it; a stale id is refused, never taken
   * for a newer handle in the same slot.
   */
  readonly id: number;
  /**
   * The version (publish count) a guard opened now on this handle would
   * read: one or two atomic loads. It never goes back, and a guard opened
   * after it was read sees it or a newer version.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [write, read] = create();
   * assertEquals(read.version, 0);
   * write.update((guard) => guard.set("a", "1"));
   * assertEquals(read.version, 1);
   * ```
   */
  readonly version: number;
  /**
   * The number of entries in the latest version: one-shot, like `get`.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [write, read] = create();
   * write.update((guard) => guard.set("a", "1").set("b", "2"));
   * assertEquals(read.size, 2);
   * ```
   */
  readonly size: number;
  /**
   * Waits until a version newer than `since` is published, and resolves
   * with the newest version then (`read.version`). It sleeps on the
   * publish count with `Atomics.waitAsync`, without polling; every publish
   * wakes it. A publish made after the call is always seen.
   *
   * Rejects with the signal's reason (an `AbortError` `DOMException` by
   * default) when `options.signal` aborts, with a {@linkcode WaitTimeoutError}
   * after `options.timeoutMs`, and with a `TypeError` when the write handle
   * is closed with no newer version, or this handle is closed or reclaimed.
   *
   * @param since A version this reader has seen (for example `read.version`).
   * @param options A signal to give up with, and a time limit.
   * @returns The newest version, newer than `since`.
   *
   * @example Rebuilding what a worker derives from the map
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [write, read] = create();
   * const seen = read.version;
   * const next = read.changed(seen, { timeoutMs: 5_000 });
   * write.update((guard) => guard.set("route", "/new"));
   * assertEquals(await next, seen + 1);
   * ```
   */
  changed(since: number, options?: ChangedOptions): Promise<number>;
  /**
   * The versions published from now on, newest first as they come: each
   * step waits as `changed()` does and yields the newest version, skipping
   * those published while the loop body ran. It ends when the write handle
   * closes.
   *
   * @returns An async iterator of versions.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [write, read] = create();
   * const seen: number[] = [];
   * const loop = (async () => {
   *   for await (const version of read.versions()) seen.push(version);
   * })();
   * write.update((guard) => guard.set("a", "1"));
   * await new Promise((resolve) => setTimeout(resolve, 10));
   * write.close(); // ends the loop
   * await loop;
   * assertEquals(seen, [1]);
   * ```
   */
  versions(): AsyncGenerator<number, void, undefined>;
  /**
   * What this handle sees of the map now, read with atomic loads.
   *
   * @returns A fresh snapshot of the figures; see {@linkcode ReadStats}.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [write, read] = create();
   * write.update((guard) => guard.set("a", "1"));
   * const stats = read.stats();
   * assertEquals([stats.version, stats.size, stats.openHandles], [1, 1, 1]);
   * ```
   */
  stats(): ReadStats;
}

/**
 * The options of {@linkcode ReadHandle.changed}.
 *
 * @example
 * ```ts
 * import type { ChangedOptions } from "@x/flashmap";
 *
 * const options: ChangedOptions = {
 *   signal: AbortSignal.timeout(1000),
 *   timeoutMs: 5000,
 * };
 * ```
 */
export interface ChangedOptions {
  /** Gives up when this signal aborts, rejecting with its reason. */
  signal?: AbortSignal;
  /** Gives up after this many milliseconds with a `WaitTimeoutError`. */
  timeoutMs?: number;
}

/**
 * What {@linkcode ReadHandle.stats} returns.
 *
 * @example
 * ```ts
 * import { create, type ReadStats } from "@x/flashmap";
 *
 * const [, read] = create();
 * const stats: ReadStats = read.stats();
 * ```
 */
export interface ReadStats {
  /** The version a guard opened now would read (`ReadHandle.version`). */
  readonly version: number;
  /** Entries in that version (`ReadHandle.size`). */
  readonly size: number;
  /** Bytes of the map's buffer as this thread sees it now. */
  readonly bytes: number;
  /** Read handles open now, in every thread. */
  readonly openHandles: number;
  /** The most read handles that may be open at once (`maxReaders`). */
  readonly maxReaders: number;
  /** Whether the write handle is closed: no version will come after this one. */
  readonly writerClosed: boolean;
}

/**
 * A consistent snapshot of one published version of the map. Nothing
 * changes under a live guard, whatever the writer publishes meanwhile; a
 * guard opened later on the same handle sees the same or a newer version.
 *
 * A guard may be held as long as its reader needs it, across `await`s
 * too: it pins the copy of the index it reads (memory, shown by the
 * writer's `stats().pinned`), never the writer. `release()` and disposal may be repeated; any
 * other use of a released guard throws a `TypeError`.
 *
 * | operation | cost |
 * | --- | --- |
 * | `get`, `has` | O(1) expected, plain loads |
 * | `size` | O(1) |
 * | iteration | O(table slots) |
 * | `release()` | one compare-and-exchange |
 *
 * @typeParam K The type of the keys.
 * @typeParam V The type of the values.
 *
 * @example A snapshot outlives a publish
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { create } from "@x/flashmap";
 *
 * const [write, read] = create();
 * {
 *   using guard = write.guard();
 *   guard.insert("a", "old");
 * }
 * const view = read.guard();
 * {
 *   using guard = write.guard();
 *   guard.insert("a", "new");
 * }
 * assertEquals(view.get("a"), "old");
 * view.release();
 * assertEquals(read.get("a"), "new");
 * ```
 */
export interface ReadGuard<K, V>
  extends Disposable, Iterable<[K, V]>, AtomicCells<K, V> {
  /**
   * The value of a key in this snapshot.
   *
   * @param key The key.
   * @returns The value, or `undefined`.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [, read] = create();
   * using view = read.guard();
   * assertEquals(view.get("a"), undefined);
   * ```
   */
  get(key: K): V | undefined;
  /**
   * Whether this snapshot has the key.
   *
   * @param key The key.
   * @returns `true` if present.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [, read] = create();
   * using view = read.guard();
   * assertEquals(view.has("a"), false);
   * ```
   */
  has(key: K): boolean;
  /** The number of entries in this snapshot. */
  readonly size: number;
  /** The version (publish count) of this snapshot. */
  readonly version: number;
  /**
   * The keys of this snapshot, in table order.
   *
   * @returns An iterator of the keys.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [, read] = create();
   * using view = read.guard();
   * assertEquals([...view.keys()], []);
   * ```
   */
  keys(): IterableIterator<K>;
  /**
   * The values of this snapshot, in table order.
   *
   * @returns An iterator of the values.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [, read] = create();
   * using view = read.guard();
   * assertEquals([...view.values()], []);
   * ```
   */
  values(): IterableIterator<V>;
  /**
   * The `[key, value]` pairs of this snapshot, in table order.
   *
   * @returns An iterator of the entries.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { create } from "@x/flashmap";
   *
   * const [, read] = create();
   * using view = read.guard();
   * assertEquals([...view.entries()], []);
   * ```
   */
  entries(): IterableIterator<[K, V]>;
  /**
   * Leaves the snapshot. Calling it again does nothing. If an exception
   * (out of stack) interrupts it, the guard is either fully left or still
   * live, and can be released again. Releasing a guard of a reclaimed
   * handle changes nothing and throws nothing.
   *
   * @example
   * ```ts
   * import { create } from "@x/flashmap";
   *
   * const [, read] = create();
   * const view = read.guard();
   * view.release();
   * view.release();
   * ```
   */
  release(): void;
  /** Whether the guard has been released. */
  readonly released: boolean;
}
