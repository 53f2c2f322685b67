/**
 * The write side: the one write handle of a map, and the write guards it
 * opens. The writer mutates the copy no reader can see, logs each operation,
 * and at publish points new read guards at that copy. Before it writes
 * again it waits for the guards still on the other copy, then replays the
 * log there, so both copies hold the same entries again.
 *
 * @module
 */

import {
  isLocalReader,
  localGuardsOn,
  type MapContext,
  TableIterator,
} from "./context.ts";
import { DeadlockError, WaitTimeoutError } from "./errors.ts";
import { Heap } from "./heap.ts";
import {
  E_HASH,
  E_KEY,
  E_META,
  E_VALUE_LENGTH,
  ENTRY_HEADER_WORDS,
  H_CURRENT_COPY,
  H_WRITER_CLOSED,
  type MapViews,
  S_STATE,
  SLOT_IN_USE,
  slotBase,
  T_MASK,
  T_OFFSET,
  T_SIZE,
} from "./layout.ts";
import {
  awaitResidualReaders,
  type Copy,
  publishCopy,
  reclaimReader,
  residualReaders,
  residualSlots,
  runAsync,
  runBlocking,
  WaitTimedOut,
} from "./protocol.ts";
import { readEntryValue } from "./storage.ts";
import {
  clearSlot,
  clearTable,
  descriptor,
  MAX_LOAD,
  placeEntry,
  readTable,
  rehash,
  slotOfEntry,
  type TableRef,
  writeTable,
} from "./table.ts";

/**
 * The write handle of a map: the only way to change it. There is one per
 * map, used from one thread; it opens one write guard at a time.
 *
 * | operation | cost |
 * | --- | --- |
 * | `guard()` | O(1) when no reader holds the old copy; otherwise waits for them, then replays the last guard's operations |
 * | `synchronize()` | the same wait and replay, without opening a guard |
 * | `close()` | O(1); readers keep reading |
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
   * Opens a write guard. If read guards are still on the copy the last
   * publish gave away, waits for them to leave (blocking the thread), then
   * replays the last guard's operations onto that copy.
   *
   * Throws a `TypeError` if the handle is closed or a write guard is live,
   * and a {@linkcode DeadlockError} if the guards it would wait for belong
   * to this thread.
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
   * Waits until no reader is left on the copy the last publish gave away,
   * and replays the published operations onto it, so that the memory of
   * removed and replaced entries is free for reuse. `guard()` does the same
   * on its own; call this to do that work at a time of your choosing.
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
   * `ReadHandle.id`) whose worker is gone, for example terminated while it
   * held a guard. Its guards stop counting, so a wait for them ends, and its
   * slot counts no more against `maxReaders`.
   *
   * Only for handles that can never be used again: a live handle whose slot
   * is reclaimed could read a copy that the writer changes. Throws a
   * `RangeError` if no open handle has that id, and a `TypeError` for a
   * handle of this thread (close it instead).
   *
   * @param readerId The id of the handle to free.
   *
   * @example Recovering from a worker terminated inside a guard
   * ```ts ignore
   * // worker: const read = attach(token); self.postMessage(read.id); ...
   * const id = await idFromWorker;
   * worker.terminate();
   * write.reclaim(id); // its guards no longer hold the writer
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
  reclaim(readerId: number): void;
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
 * Exclusive write access to a map. Changes go to the writer's own copy:
 * the guard sees them at once, readers when the guard is published (by
 * `publish()` or by disposing it, for example at the end of a `using`
 * block). After that, every method but `publish()` and disposal throws.
 *
 * | operation | cost |
 * | --- | --- |
 * | `insert`, `replace`, `remove` | O(1) expected, plus the same again when the next guard replays it |
 * | `get`, `has`, `size` | O(1) expected |
 * | `publish()` | O(read handles); never waits for readers |
 *
 * Values passed in are checked by the map's codecs first: a value the
 * codec cannot take throws a `TypeError` or `RangeError` and changes nothing.
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
export interface WriteGuard<K, V> extends Disposable, Iterable<[K, V]> {
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
  insert(key: K, value: V): V | undefined;
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
  replace(key: K, update: (previous: V) => V): V | undefined;
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
   * all at once. Never waits for readers. Calling it again does nothing.
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
}

/** The time limit of a wait, checked. */
function waitLimit(options: WaitOptions | undefined, action: string): number {
  const timeoutMs = options?.timeoutMs ?? Infinity;
  if (typeof timeoutMs !== "number" || !(timeoutMs >= 0)) {
    throw new RangeError(
      `Cannot ${action}: timeoutMs must be a number of milliseconds from 0, got ${timeoutMs}`,
    );
  }
  return timeoutMs;
}

/** An entry's size in words must fit the meta word beside its two link bits. */
const MAX_ENTRY_WORDS = 2 ** 29;

/** Links of a new entry: the writer's table now, the other copy at replay. */
const NEW_ENTRY_LINKS = 2;

/** The writer's state and every operation behind the handle and its guards. */
export class Writer<K, V> {
  readonly context: MapContext<K, V>;
  readonly views: MapViews;
  readonly #heap: Heap;
  /** The copy readers cannot see. */
  #writeCopy: Copy;
  /** `[newEntry, oldEntry]` pairs published but not yet replayed onto the write copy. */
  #log: number[] = [];
  /** Whether a publish happened since the last wait and replay. */
  #unsynchronized = false;
  /** A block reserved for each copy's next table, taken at replay. */
  readonly #reserved: [TableRef | null, TableRef | null] = [null, null];
  #guard: WriteGuardImpl<K, V> | null = null;
  #opening = false;
  /** Set while user code (a codec, a `replace` update) runs inside an operation. */
  #inCallback = false;
  /** Counts changes, so that an iterator can tell the table changed under it. */
  #changes = 0;
  closed = false;

  constructor(
    context: MapContext<K, V>,
    views: MapViews,
    heapStart: number,
    maxBytes: number,
  ) {
    this.context = context;
    this.views = views;
    this.#heap = new Heap(views, heapStart, maxBytes);
    this.#writeCopy = (views.i32[H_CURRENT_COPY] ^ 1) as Copy;
  }

  // ------------------------------------------------------------ guards

  #checkCanOpen(action: string): void {
    if (this.closed) {
      throw new TypeError(`Cannot ${action}: the write handle is closed`);
    }
    if (this.#guard !== null) {
      throw new TypeError(`Cannot ${action}: a write guard is already live`);
    }
    if (this.#opening) {
      throw new TypeError(
        `Cannot ${action}: a write guard is being opened (or a synchronize is waiting)`,
      );
    }
  }

  openGuard(options?: WaitOptions): WriteGuardImpl<K, V> {
    const action = "open a write guard";
    this.#checkCanOpen(action);
    this.#synchronizeBlocking(action, waitLimit(options, action));
    return this.#guard = new WriteGuardImpl(this);
  }

  async openGuardAsync(options?: WaitOptions): Promise<WriteGuardImpl<K, V>> {
    const action = "open a write guard";
    this.#checkCanOpen(action);
    await this.#synchronizeAsync(action, waitLimit(options, action));
    this.#checkCanOpen(action);
    return this.#guard = new WriteGuardImpl(this);
  }

  synchronize(options?: WaitOptions): void {
    this.#checkCanOpen("synchronize");
    this.#synchronizeBlocking("synchronize", waitLimit(options, "synchronize"));
  }

  async synchronizeAsync(options?: WaitOptions): Promise<void> {
    this.#checkCanOpen("synchronize");
    await this.#synchronizeAsync(
      "synchronize",
      waitLimit(options, "synchronize"),
    );
  }

  #synchronizeBlocking(action: string, timeoutMs: number): void {
    if (!this.#unsynchronized) return;
    const control = this.context.control;
    if (residualReaders(control) !== 0) {
      const own = localGuardsOn(this.context, this.#writeCopy);
      if (own > 0) {
        throw new DeadlockError(
          `Cannot ${action}: ${own} read guard${
            own === 1 ? "" : "s"
          } of this thread still read${
            own === 1 ? "s" : ""
          } the copy the writer must wait for; release ${
            own === 1 ? "it" : "them"
          } first, or use the async variant`,
        );
      }
      try {
        runBlocking(control, awaitResidualReaders(control), timeoutMs);
      } catch (error) {
        throw this.#timedOut(error, action, timeoutMs);
      }
    }
    this.#replay();
  }

  async #synchronizeAsync(action: string, timeoutMs: number): Promise<void> {
    if (!this.#unsynchronized) return;
    const control = this.context.control;
    this.#opening = true;
    try {
      await runAsync(control, awaitResidualReaders(control), timeoutMs);
    } catch (error) {
      throw this.#timedOut(error, action, timeoutMs);
    } finally {
      this.#opening = false;
    }
    this.#replay();
  }

  #timedOut(error: unknown, action: string, timeoutMs: number): unknown {
    if (!(error instanceof WaitTimedOut)) return error;
    const readers = residualSlots(this.context.control);
    return new WaitTimeoutError(
      `Cannot ${action}: after ${timeoutMs} ms, guards of read handle${
        readers.length === 1 ? "" : "s"
      } ${readers.join(", ")} still read the old copy`,
      readers,
    );
  }

  reclaim(readerId: number): void {
    const action = "reclaim the read handle";
    if (this.closed) {
      throw new TypeError(`Cannot ${action}: the write handle is closed`);
    }
    const { control, maxReaders, mapId } = this.context;
    if (
      typeof readerId !== "number" || !Number.isInteger(readerId) ||
      readerId < 0 || readerId >= maxReaders ||
      control.load(slotBase(readerId) + S_STATE) !== SLOT_IN_USE
    ) {
      throw new RangeError(
        `Cannot ${action}: no read handle with id ${readerId} is open`,
      );
    }
    if (isLocalReader(mapId, readerId)) {
      throw new TypeError(
        `Cannot ${action}: read handle ${readerId} belongs to this thread; close it instead`,
      );
    }
    runBlocking(control, reclaimReader(control, readerId));
  }

  /** Replays the published operations onto the write copy (no reader is on it). */
  #replay(): void {
    const copy = this.#writeCopy;
    const i32 = this.views.i32;
    const stride = this.context.stride;
    const reserved = this.#reserved[copy];
    if (reserved !== null) {
      const old = readTable(i32, copy);
      clearTable(this.views, reserved.offset, reserved.mask + 1, stride);
      rehash(i32, old, reserved.offset, reserved.mask, stride);
      this.#heap.free(old.offset, stride * (old.mask + 1));
      writeTable(i32, copy, { ...reserved, size: old.size });
      this.#reserved[copy] = null;
    }
    const table = readTable(i32, copy);
    const log = this.#log;
    let size = table.size;
    for (let i = 0; i < log.length; i += 2) {
      const added = log[i];
      const dropped = log[i + 1];
      if (dropped === 0) {
        this.#place(table.offset, table.mask, added);
        size++;
        continue;
      }
      const slot = slotOfEntry(
        i32,
        table.offset,
        table.mask,
        stride,
        i32[dropped + E_HASH],
        dropped,
      );
      if (added !== 0) {
        this.#fillSlot(table.offset + stride * slot, added);
      } else {
        clearSlot(i32, table.offset, table.mask, stride, slot);
        size--;
      }
      this.#unlink(dropped);
    }
    i32[descriptor(copy, T_SIZE)] = size;
    this.#log = [];
    this.#unsynchronized = false;
  }

  /** Puts an entry into a table, with its value words when slots keep them. */
  #place(table: number, mask: number, entry: number): void {
    const views = this.views;
    const i32 = views.i32;
    const { keys, values, stride } = this.context;
    let low = 0;
    let high = 0;
    if (stride === 4) {
      const at = entry + ENTRY_HEADER_WORDS +
        keys.storedWords(i32[entry + E_KEY]);
      const length = i32[entry + E_VALUE_LENGTH];
      low = values.slotWord(views, at, length, 0);
      high = values.slotWord(views, at, length, 1);
    }
    placeEntry(i32, table, mask, stride, i32[entry + E_HASH], entry, low, high);
  }

  /** Points the slot at word `at` to `entry` (same key), value words included. */
  #fillSlot(at: number, entry: number): void {
    const views = this.views;
    const i32 = views.i32;
    i32[at + 1] = entry;
    if (this.context.stride !== 4) return;
    const { keys, values } = this.context;
    const data = entry + ENTRY_HEADER_WORDS +
      keys.storedWords(i32[entry + E_KEY]);
    const length = i32[entry + E_VALUE_LENGTH];
    i32[at + 2] = values.slotWord(views, data, length, 0);
    i32[at + 3] = values.slotWord(views, data, length, 1);
  }

  /** One table let go of an entry; the second one to do so frees it. */
  #unlink(entry: number): void {
    const i32 = this.views.i32;
    const meta = i32[entry + E_META] - 1;
    i32[entry + E_META] = meta;
    if ((meta & 3) === 0) this.#heap.free(entry, meta >>> 2);
  }

  publish(guard: WriteGuardImpl<K, V>): void {
    if (this.#guard !== guard) return;
    this.#checkWritable(guard, "publish the write guard");
    this.#guard = null;
    if (this.#log.length === 0) return; // nothing changed: no version to publish
    const control = this.context.control;
    runBlocking(control, publishCopy(control));
    this.#writeCopy = (this.#writeCopy ^ 1) as Copy;
    this.#unsynchronized = true;
  }

  close(): void {
    if (this.closed) return;
    if (this.#guard !== null || this.#opening) {
      throw new TypeError(
        `Cannot close the write handle: a write guard is ${
          this.#opening
            ? "being opened (or a synchronize is waiting)"
            : "still live"
        }`,
      );
    }
    this.closed = true;
    this.views.i32[H_WRITER_CLOSED] = 1;
  }

  // ------------------------------------------------------------ operations

  #checkUsable(guard: WriteGuardImpl<K, V>, action: string): void {
    if (this.#guard !== guard) {
      throw new TypeError(`Cannot ${action}: the write guard was published`);
    }
  }

  /** Like `#checkUsable`, and also refuses changes from inside a callback. */
  #checkWritable(guard: WriteGuardImpl<K, V>, action: string): void {
    this.#checkUsable(guard, action);
    if (this.#inCallback) {
      throw new TypeError(
        `Cannot ${action}: the write guard is busy running a codec or a replace() update`,
      );
    }
  }

  #slotOf(prepared: unknown, hash: number): number {
    const i32 = this.views.i32;
    const copy = this.#writeCopy;
    return this.context.keys.find(
      this.views,
      i32[descriptor(copy, T_OFFSET)],
      i32[descriptor(copy, T_MASK)],
      this.context.stride,
      prepared,
      hash,
    );
  }

  #entryAt(slot: number): number {
    const i32 = this.views.i32;
    return i32[
      i32[descriptor(this.#writeCopy, T_OFFSET)] + this.context.stride * slot +
      1
    ];
  }

  get(guard: WriteGuardImpl<K, V>, key: K): V | undefined {
    this.#checkUsable(guard, "read the write guard");
    const keys = this.context.keys;
    const prepared = keys.prepare(key, "read the write guard");
    const slot = this.#slotOf(prepared, keys.hash(prepared, this.context.seed));
    if (slot < 0) return undefined;
    return this.#decode(this.#entryAt(slot));
  }

  /**
   * The key codec's checked form of `key`. This and the two below run user
   * code (codecs, a `replace` update) with changes to the guard refused.
   */
  #prepareKey(key: K, action: string): unknown {
    this.#inCallback = true;
    try {
      return this.context.keys.prepare(key, action);
    } finally {
      this.#inCallback = false;
    }
  }

  /** The value codec's checked form of `value`, or of `update(value)`. */
  #prepareValue(
    value: V,
    action: string,
    update?: (previous: V) => V,
  ): unknown {
    this.#inCallback = true;
    try {
      return this.context.values.prepare(
        update === undefined ? value : update(value),
        action,
      );
    } finally {
      this.#inCallback = false;
    }
  }

  /** Decodes an entry's value. */
  #decode(entry: number): V {
    this.#inCallback = true;
    try {
      return readEntryValue(
        this.views,
        this.context.keys,
        this.context.values,
        entry,
      );
    } finally {
      this.#inCallback = false;
    }
  }

  has(guard: WriteGuardImpl<K, V>, key: K): boolean {
    this.#checkUsable(guard, "read the write guard");
    const keys = this.context.keys;
    const prepared = keys.prepare(key, "read the write guard");
    return this.#slotOf(prepared, keys.hash(prepared, this.context.seed)) >= 0;
  }

  size(guard: WriteGuardImpl<K, V>): number {
    this.#checkUsable(guard, "read the write guard");
    return this.views.i32[descriptor(this.#writeCopy, T_SIZE)];
  }

  iterate(guard: WriteGuardImpl<K, V>, mode: "keys" | "values" | "entries") {
    const action = "iterate the write guard";
    this.#checkUsable(guard, action);
    const { keys, values, stride } = this.context;
    const changes = this.#changes;
    return new TableIterator(
      this.views,
      readTable(this.views.i32, this.#writeCopy),
      stride,
      keys,
      values,
      mode,
      () => {
        this.#checkUsable(guard, action);
        if (this.#changes !== changes) {
          throw new TypeError(
            `Cannot ${action}: the guard changed the map during the iteration`,
          );
        }
      },
    );
  }

  insert(guard: WriteGuardImpl<K, V>, key: K, value: V): V | undefined {
    const action = "insert into the map";
    this.#checkWritable(guard, action);
    const preparedKey = this.#prepareKey(key, action);
    const preparedValue = this.#prepareValue(value, action);
    const hash = this.context.keys.hash(preparedKey, this.context.seed);
    const slot = this.#slotOf(preparedKey, hash);
    const previous = slot < 0 ? undefined : this.#decode(this.#entryAt(slot));
    return this.#put(preparedKey, preparedValue, hash, slot, previous, action);
  }

  replace(
    guard: WriteGuardImpl<K, V>,
    key: K,
    update: (previous: V) => V,
  ): V | undefined {
    const action = "replace in the map";
    this.#checkWritable(guard, action);
    if (typeof update !== "function") {
      throw new TypeError(
        `Cannot ${action}: update must be a function, got ${typeof update}`,
      );
    }
    const preparedKey = this.#prepareKey(key, action);
    const hash = this.context.keys.hash(preparedKey, this.context.seed);
    const slot = this.#slotOf(preparedKey, hash);
    if (slot < 0) return undefined;
    const previous = this.#decode(this.#entryAt(slot));
    const preparedValue = this.#prepareValue(previous, action, update);
    return this.#put(preparedKey, preparedValue, hash, slot, previous, action);
  }

  remove(guard: WriteGuardImpl<K, V>, key: K): V | undefined {
    const action = "remove from the map";
    this.#checkWritable(guard, action);
    const prepared = this.#prepareKey(key, action);
    const slot = this.#slotOf(
      prepared,
      this.context.keys.hash(prepared, this.context.seed),
    );
    if (slot < 0) return undefined;
    const entry = this.#entryAt(slot);
    const previous = this.#decode(entry);
    const i32 = this.views.i32;
    const copy = this.#writeCopy;
    clearSlot(
      i32,
      i32[descriptor(copy, T_OFFSET)],
      i32[descriptor(copy, T_MASK)],
      this.context.stride,
      slot,
    );
    i32[descriptor(copy, T_SIZE)]--;
    this.#unlink(entry);
    this.#log.push(0, entry);
    this.#changes++;
    return previous;
  }

  /**
   * Stores a new entry for a checked key and value, in place of the one at
   * `slot` (whose value, already decoded, is `previous`), or in a new slot
   * when `slot` is -1. Nothing can fail after the allocations, so a full
   * buffer throws before anything changed.
   */
  #put(
    key: unknown,
    value: unknown,
    hash: number,
    slot: number,
    previous: V | undefined,
    action: string,
  ): V | undefined {
    const { keys, values } = this.context;
    const keyWords = keys.dataWords(key);
    const words = ENTRY_HEADER_WORDS + keyWords + values.dataWords(value);
    if (words >= MAX_ENTRY_WORDS) {
      throw new RangeError(
        `Cannot ${action}: the entry would take ${
          words * 4
        } bytes, over the limit of ${MAX_ENTRY_WORDS * 4} bytes for one entry`,
      );
    }
    const entry = this.#heap.alloc(words, action);
    if (slot < 0) {
      try {
        this.#reserveRoomForOneMore(action);
      } catch (error) {
        this.#heap.free(entry, words);
        throw error;
      }
    }
    const views = this.views;
    const i32 = views.i32;
    i32[entry + E_HASH] = hash;
    i32[entry + E_KEY] = keys.keyField(key);
    i32[entry + E_VALUE_LENGTH] = values.length(value);
    i32[entry + E_META] = (words << 2) | NEW_ENTRY_LINKS;
    keys.write(views, entry, key);
    values.write(views, entry + ENTRY_HEADER_WORDS + keyWords, value);

    const copy = this.#writeCopy;
    const table = i32[descriptor(copy, T_OFFSET)];
    this.#changes++;
    if (slot < 0) {
      this.#place(table, i32[descriptor(copy, T_MASK)], entry);
      i32[descriptor(copy, T_SIZE)]++;
      this.#log.push(entry, 0);
      return undefined;
    }
    const at = table + this.context.stride * slot;
    const replaced = i32[at + 1];
    this.#fillSlot(at, entry);
    this.#unlink(replaced);
    this.#log.push(entry, replaced);
    return previous;
  }

  /**
   * Grows the write copy's table when one more entry would pass the load
   * limit, and reserves the other copy's next table at the same time, so
   * that a replay never needs memory and so can never fail.
   */
  #reserveRoomForOneMore(action: string): void {
    const i32 = this.views.i32;
    const copy = this.#writeCopy;
    const current = readTable(i32, copy);
    const slots = current.mask + 1;
    if (current.size + 1 <= slots * MAX_LOAD) return;
    const grown = 2 * slots;
    const stride = this.context.stride;
    const heap = this.#heap;
    const offset = heap.allocAligned(stride * grown, action);
    let other: number;
    try {
      other = heap.allocAligned(stride * grown, action);
    } catch (error) {
      heap.free(offset, stride * grown);
      throw error;
    }
    const views = this.views;
    clearTable(views, offset, grown, stride);
    rehash(views.i32, current, offset, grown - 1, stride);
    heap.free(current.offset, stride * slots);
    writeTable(views.i32, copy, {
      offset,
      mask: grown - 1,
      size: current.size,
    });
    const peer = (copy ^ 1) as Copy;
    const previous = this.#reserved[peer];
    if (previous !== null) {
      heap.free(previous.offset, stride * (previous.mask + 1));
    }
    this.#reserved[peer] = { offset: other, mask: grown - 1, size: 0 };
  }
}

/** The write guard users hold: a thin front for {@linkcode Writer}. */
export class WriteGuardImpl<K, V> implements WriteGuard<K, V> {
  readonly #writer: Writer<K, V>;
  #published = false;

  constructor(writer: Writer<K, V>) {
    this.#writer = writer;
  }

  insert(key: K, value: V): V | undefined {
    return this.#writer.insert(this, key, value);
  }
  replace(key: K, update: (previous: V) => V): V | undefined {
    return this.#writer.replace(this, key, update);
  }
  remove(key: K): V | undefined {
    return this.#writer.remove(this, key);
  }
  get(key: K): V | undefined {
    return this.#writer.get(this, key);
  }
  has(key: K): boolean {
    return this.#writer.has(this, key);
  }
  get size(): number {
    return this.#writer.size(this);
  }
  keys(): IterableIterator<K> {
    return this.#writer.iterate(this, "keys") as IterableIterator<K>;
  }
  values(): IterableIterator<V> {
    return this.#writer.iterate(this, "values") as IterableIterator<V>;
  }
  entries(): IterableIterator<[K, V]> {
    return this.#writer.iterate(this, "entries") as IterableIterator<[K, V]>;
  }
  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }
  get published(): boolean {
    return this.#published;
  }
  publish(): void {
    if (this.#published) return;
    this.#writer.publish(this);
    this.#published = true;
  }
  [Symbol.dispose](): void {
    this.publish();
  }
}

/** The write handle users hold: a thin front for {@linkcode Writer}. */
export class WriteHandleImpl<K, V> implements WriteHandle<K, V> {
  readonly #writer: Writer<K, V>;

  constructor(writer: Writer<K, V>) {
    this.#writer = writer;
  }

  guard(options?: WaitOptions): WriteGuard<K, V> {
    return this.#writer.openGuard(options);
  }
  guardAsync(options?: WaitOptions): Promise<WriteGuard<K, V>> {
    return this.#writer.openGuardAsync(options);
  }
  synchronize(options?: WaitOptions): void {
    this.#writer.synchronize(options);
  }
  synchronizeAsync(options?: WaitOptions): Promise<void> {
    return this.#writer.synchronizeAsync(options);
  }
  reclaim(readerId: number): void {
    this.#writer.reclaim(readerId);
  }
  close(): void {
    this.#writer.close();
  }
  get closed(): boolean {
    return this.#writer.closed;
  }
  [Symbol.dispose](): void {
    this.close();
  }
}
