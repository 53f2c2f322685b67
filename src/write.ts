/**
 * The write side: the one write handle of a map, and the write guards it
 * opens. The writer mutates a copy no reader can see, logs each operation,
 * and at publish points new read guards at that copy. Before it writes
 * again it needs another copy no guard reads: a retired one brought up to
 * date by replaying the logs, or a new one copied from the current table
 * (see `copies.ts`); it waits only when neither is possible.
 *
 * @module
 */

import {
  CellMethods,
  type CellOperand,
  runCell,
  type ValueInput,
} from "./cells.ts";
import { isLocalReader, type MapContext } from "./context.ts";
import { CopySet } from "./copies.ts";
import {
  H_CURRENT_COPY,
  H_WRITER_CLOSED,
  type MapViews,
  S_OWNER,
  slotBase,
  T_MASK,
  T_VERSION,
} from "./layout.ts";
import {
  handleId,
  orphansOn,
  pinningHandles,
  publishCopy,
  reclaimReader,
  runAsync,
  runBlocking,
  slotOfId,
  type Step,
  wakeVersionWaiters,
} from "./protocol.ts";
import {
  ensureStack,
  OUTER_PROBE_FRAMES,
  REGISTRY_WAIT_MS,
  runRegistry,
  runRegistryRecovering,
} from "./registry.ts";
import { waitLimit } from "./options.ts";
import { describe } from "./storage.ts";
import { Store } from "./store.ts";
import { WriteOps } from "./write_ops.ts";
import { descriptor } from "./table.ts";
import { observeWaits, refuseDeadlock, timedOut } from "./write_waits.ts";
import type {
  PinnedVersion,
  ReclaimOptions,
  WaitOptions,
  WriteGuard,
  WriteHandle,
  WriteStats,
} from "./write_api.ts";

/**
 * Stack frames probed before a copy is prepared: its deepest path (an
 * operation's unlink freeing a block) is under ten calls, and a replay cut
 * short by a stack overflow could not be resumed.
 */
const PREPARE_PROBE_FRAMES = 24;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === "object" || typeof value === "function") &&
    value !== null &&
    typeof (value as { then?: unknown }).then === "function";
}

function checkUpdateFn(fn: unknown): void {
  if (typeof fn !== "function") {
    throw new TypeError(
      `Cannot update the map: fn must be a function, got ${describe(fn)}`,
    );
  }
}

/**
 * Ends an update that failed: aborts its batch (unless `fn` published it
 * itself, which stays) and throws `error`.
 */
function takeBack<K, V>(guard: WriteGuardImpl<K, V>, error: unknown): never {
  if (!guard.published) guard.abort();
  throw error;
}

/** The writer's state and every operation behind the handle and its guards. */
export class Writer<K, V> {
  readonly context: MapContext<K, V>;
  readonly views: MapViews;
  /** The tables, entries and logs this writer changes. */
  readonly store: Store<K, V>;
  readonly #maxBytes: number;
  readonly #copies: CopySet;
  /** The copy readers cannot see, while one is prepared (else -1). */
  #writeCopy: number;
  #guard: WriteGuardImpl<K, V> | null = null;
  #opening = false;
  /** What the live guard does to the write copy. */
  readonly ops: WriteOps<K, V>;
  /** Times the writer waited for a copy to come free, and for how long (ms). */
  #waits = 0;
  #waitMs = 0;
  closed = false;

  constructor(
    context: MapContext<K, V>,
    views: MapViews,
    heapStart: number,
    maxBytes: number,
    maxCopies: number,
  ) {
    this.context = context;
    this.views = views;
    this.#maxBytes = maxBytes;
    this.store = new Store(context, views, heapStart, maxBytes);
    this.ops = new WriteOps(this);
    const current = views.i32[H_CURRENT_COPY];
    this.#writeCopy = current ^ 1;
    this.#copies = new CopySet(
      context.control,
      this.store,
      maxCopies,
      current,
      this.#writeCopy,
    );
    this.store.copies = this.#copies;
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
    const timeoutMs = waitLimit(options, action);
    // Opening, from the first check until the guard exists: otherwise code
    // that runs while this waits could publish a batch that this guard
    // would then write over without its replay.
    this.#opening = true;
    try {
      await this.#synchronizeAsync(action, timeoutMs);
    } finally {
      this.#opening = false;
    }
    return this.#guard = new WriteGuardImpl(this);
  }

  synchronize(options?: WaitOptions): void {
    this.#checkCanOpen("synchronize");
    this.#synchronizeBlocking("synchronize", waitLimit(options, "synchronize"));
  }

  async synchronizeAsync(options?: WaitOptions): Promise<void> {
    this.#checkCanOpen("synchronize");
    const timeoutMs = waitLimit(options, "synchronize");
    this.#opening = true;
    try {
      await this.#synchronizeAsync("synchronize", timeoutMs);
    } finally {
      this.#opening = false;
    }
  }

  update<T>(fn: (guard: WriteGuard<K, V>) => T, options?: WaitOptions): T {
    checkUpdateFn(fn);
    // The abort or publish at the end runs at this depth, and probes again a
    // few calls deeper: make sure the stack holds them before anything opens.
    ensureStack(OUTER_PROBE_FRAMES);
    const limit = waitLimit(options, "update the map", REGISTRY_WAIT_MS);
    const guard = this.openGuard(options);
    let result: T;
    try {
      result = fn(guard);
    } catch (error) {
      takeBack(guard, error);
    }
    if (isThenable(result)) {
      // Observed, so that a rejection is not reported as unhandled.
      Promise.resolve(result).catch(() => {});
      takeBack(
        guard,
        new TypeError(
          "Cannot update the map: fn returned a promise, and the batch was aborted; use updateAsync() for async functions",
        ),
      );
    }
    try {
      guard.publishWithin(limit);
    } catch (error) {
      takeBack(guard, error);
    }
    return result;
  }

  async updateAsync<T>(
    fn: (guard: WriteGuard<K, V>) => T | Promise<T>,
    options?: WaitOptions,
  ): Promise<T> {
    checkUpdateFn(fn);
    const limit = waitLimit(options, "update the map", REGISTRY_WAIT_MS);
    const guard = await this.openGuardAsync(options);
    let result: T;
    try {
      result = await fn(guard);
      guard.publishWithin(limit);
    } catch (error) {
      takeBack(guard, error);
    }
    return result;
  }

  /**
   * Makes sure a write copy is ready (see `CopySet.prepare`), waiting at
   * most `timeoutMs` for a copy to come free. A blocking wait refuses to
   * wait for guards of this thread only.
   */
  #synchronizeBlocking(action: string, timeoutMs: number): void {
    if (this.#copies.settled) return;
    // A replay cut short by a stack overflow would be replayed again.
    ensureStack(PREPARE_PROBE_FRAMES);
    if (this.#copies.prepareNow() < 0) {
      try {
        runBlocking(
          this.context.control,
          this.#observed(() =>
            refuseDeadlock(this.context, this.#copies, action, this.#maxBytes)
          ),
          timeoutMs,
        );
      } catch (error) {
        throw this.#waitFailed(error, action, timeoutMs);
      }
    }
    this.#prepared();
  }

  /** The async wait and replay; the caller holds `#opening` meanwhile. */
  async #synchronizeAsync(action: string, timeoutMs: number): Promise<void> {
    if (this.#copies.settled) return;
    ensureStack(PREPARE_PROBE_FRAMES);
    if (this.#copies.prepareNow() < 0) {
      try {
        await runAsync(
          this.context.control,
          this.#observed(() => {}),
          timeoutMs,
        );
      } catch (error) {
        throw this.#waitFailed(error, action, timeoutMs);
      }
    }
    this.#prepared();
  }

  /** What a wait for a free copy that failed with `error` throws. */
  #waitFailed(error: unknown, action: string, timeoutMs: number): unknown {
    return timedOut(
      this.context,
      this.#copies,
      error,
      action,
      timeoutMs,
      this.#maxBytes,
    );
  }

  /** After `CopySet.prepare`: writes go to its copy; logs no copy needs go. */
  #prepared(): void {
    this.#writeCopy = this.#copies.write;
    this.store.dropReplayedLogs();
  }

  /** `CopySet.prepare`, with its waits counted into the stats. */
  #observed(beforeWait: () => void): Generator<Step, number> {
    return observeWaits(this.#copies.prepare(), (first) => {
      // Before every wait: what the writer waits for may have changed.
      beforeWait();
      if (first) this.#waits++;
    }, (ms) => {
      this.#waitMs += ms;
    });
  }

  /** The copy the live guard writes (-1 while none is prepared). */
  get writeCopy(): number {
    return this.#writeCopy;
  }

  /** The version of the last publish. */
  get version(): number {
    return this.#copies.version;
  }

  /** What the writer and its copies look like now; see {@linkcode WriteStats}. */
  stats(): WriteStats {
    const copies = this.#copies;
    const control = this.context.control;
    const now = Date.now();
    const pinned: PinnedVersion[] = [];
    for (const copy of copies.retired()) {
      const readers = pinningHandles(control, copy);
      const orphans = orphansOn(control, copy);
      if (readers.length === 0 && orphans === 0) continue;
      pinned.push({
        version: copies.versionOf(copy),
        readers,
        orphans,
        heldMs: now - copies.retiredAt(copy),
      });
    }
    const heap = this.store.heap;
    return {
      version: copies.version,
      copies: copies.count,
      maxCopies: copies.maxCopies,
      pinned,
      bytesInUse: (heap.top - heap.freeWords) * 4,
      bytesReserved: this.views.buffer.byteLength,
      maxBytes: this.#maxBytes,
      waits: this.#waits,
      waitMs: this.#waitMs,
      clones: copies.clones,
      replays: copies.replays,
      loggedOperations: this.store.logged,
    };
  }

  reclaim(readerId: number, options?: ReclaimOptions): void {
    const action = "reclaim the read handle";
    if (this.closed) {
      throw new TypeError(`Cannot ${action}: the write handle is closed`);
    }
    const timeoutMs = waitLimit(options, action, REGISTRY_WAIT_MS);
    // Read once, as waitLimit reads timeoutMs.
    const stopped = options?.stopped;
    if (stopped !== undefined && typeof stopped !== "boolean") {
      throw new TypeError(
        `Cannot ${action}: stopped must be a boolean, got ${describe(stopped)}`,
      );
    }
    if (typeof readerId !== "number") {
      throw new TypeError(
        `Cannot ${action}: the id must be a number, got ${describe(readerId)}`,
      );
    }
    if (!Number.isSafeInteger(readerId) || readerId < 0) {
      throw new RangeError(
        `Cannot ${action}: no read handle with id ${
          describe(readerId)
        } is open`,
      );
    }
    const { control, mapId } = this.context;
    if (isLocalReader(mapId, readerId)) {
      throw new TypeError(
        `Cannot ${action}: read handle ${readerId} belongs to this thread; close it instead`,
      );
    }
    const slot = slotOfId(readerId);
    if (slot >= this.context.maxReaders) {
      throw new RangeError(
        `Cannot ${action}: no read handle with id ${readerId} is open`,
      );
    }
    // The tag of the context that registered the handle, if `readerId` is
    // still the handle in its slot (read without the lock: only a hint for
    // taking back a lock that context left held).
    const gone = handleId(control, slot) === readerId
      ? control.load(slotBase(slot) + S_OWNER)
      : 0;
    const tag = this.context.tag;
    const outstanding = runRegistryRecovering(
      control,
      tag,
      gone,
      // A map of cells keeps the guards of a reclaimed handle counted until
      // they leave, unless its thread has stopped: a worker that still runs
      // may be updating cells through them.
      () =>
        reclaimReader(
          control,
          readerId,
          tag,
          this.context.cells !== null && stopped !== true,
        ),
      action,
      timeoutMs,
    );
    if (outstanding < 0) {
      throw new RangeError(
        `Cannot ${action}: no read handle with id ${readerId} is open`,
      );
    }
  }

  /**
   * Publishes the guard's changes. `timeoutMs` bounds the wait for the
   * registry lock (its default bound when not given).
   */
  publish(guard: WriteGuardImpl<K, V>, timeoutMs = REGISTRY_WAIT_MS): void {
    if (this.#guard !== guard) return;
    this.#checkWritable(guard, "publish the write guard");
    if (this.store.logEmpty) { // nothing changed: no version to publish
      this.#guard = null;
      return;
    }
    const control = this.context.control;
    const tag = this.context.tag;
    const copies = this.#copies;
    const target = this.#writeCopy;
    const i32 = this.views.i32;
    i32[descriptor(target, T_VERSION)] = copies.version + 1;
    // After a growth the old current table is too small to replay onto.
    const grew = i32[descriptor(target, T_MASK)] !==
      i32[descriptor(copies.current, T_MASK)];
    runRegistry(
      control,
      tag,
      () => publishCopy(control, tag, target),
      "publish the write guard",
      timeoutMs,
    );
    this.#guard = null;
    this.store.published(copies.version);
    this.#writeCopy = -1;
    if (copies.published(grew) >= 0) this.#prepared();
    this.store.boundLogs();
  }

  abort(guard: WriteGuardImpl<K, V>): void {
    if (this.#guard !== guard) {
      if (guard.published) {
        throw new TypeError(
          "Cannot abort the write guard: it was published",
        );
      }
      return;
    }
    this.#checkWritable(guard, "abort the write guard");
    ensureStack();
    this.store.undo(this.#writeCopy);
    this.ops.changed();
    this.#guard = null;
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
    const control = this.context.control;
    control.store(H_WRITER_CLOSED, 1);
    // Readers waiting for a newer version learn that none will come.
    runBlocking(control, wakeVersionWaiters(control));
  }

  // ------------------------------------------------------------ operations

  /** Throws unless `guard` is the live write guard. */
  checkUsable(guard: WriteGuardImpl<K, V>, action: string): void {
    if (this.#guard !== guard) {
      throw new TypeError(
        `Cannot ${action}: the write guard was ${
          guard.aborted ? "aborted" : "published"
        }`,
      );
    }
  }

  /** Like `checkUsable`, and also refuses changes from inside a callback. */
  #checkWritable(guard: WriteGuardImpl<K, V>, action: string): void {
    this.checkUsable(guard, action);
    this.ops.refuseInCallback(action);
  }
}

/** The write guard users hold: a thin front for {@linkcode Writer}. */
export class WriteGuardImpl<K, V> extends CellMethods<K, V>
  implements WriteGuard<K, V> {
  readonly #writer: Writer<K, V>;
  #published = false;
  #aborted = false;

  constructor(writer: Writer<K, V>) {
    super();
    this.#writer = writer;
  }

  [runCell](
    op: number,
    key: K,
    value: unknown,
    replacement: unknown,
    index: number | undefined,
  ): CellOperand<V> | undefined {
    return this.#writer.ops.cell(
      this,
      op,
      key,
      value,
      replacement,
      index,
    ) as CellOperand<V> | undefined;
  }
  insert(key: K, value: ValueInput<V>): V | undefined {
    return this.#writer.ops.insert(this, key, value as V);
  }
  set(key: K, value: ValueInput<V>): this {
    this.#writer.ops.set(this, key, value as V);
    return this;
  }
  replace(
    key: K,
    update: (previous: V) => ValueInput<V>,
  ): V | undefined {
    return this.#writer.ops.replace(this, key, update as (previous: V) => V);
  }
  remove(key: K): V | undefined {
    return this.#writer.ops.remove(this, key);
  }
  delete(key: K): boolean {
    return this.#writer.ops.delete(this, key);
  }
  clear(): void {
    this.#writer.ops.clear(this);
  }
  get(key: K): V | undefined {
    return this.#writer.ops.get(this, key);
  }
  has(key: K): boolean {
    return this.#writer.ops.has(this, key);
  }
  get size(): number {
    return this.#writer.ops.size(this);
  }
  keys(): IterableIterator<K> {
    return this.#writer.ops.iterate(this, "keys") as IterableIterator<K>;
  }
  values(): IterableIterator<V> {
    return this.#writer.ops.iterate(this, "values") as IterableIterator<V>;
  }
  entries(): IterableIterator<[K, V]> {
    return this.#writer.ops.iterate(this, "entries") as IterableIterator<
      [K, V]
    >;
  }
  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }
  get published(): boolean {
    return this.#published;
  }
  get aborted(): boolean {
    return this.#aborted;
  }
  publish(): void {
    this.publishWithin(REGISTRY_WAIT_MS);
  }
  /** `publish()`, waiting at most `timeoutMs` for the registry lock. */
  publishWithin(timeoutMs: number): void {
    if (this.#published || this.#aborted) return;
    this.#writer.publish(this, timeoutMs);
    this.#published = true;
  }
  abort(): void {
    if (this.#aborted) return;
    this.#writer.abort(this);
    this.#aborted = true;
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
  update<T>(fn: (guard: WriteGuard<K, V>) => T, options?: WaitOptions): T {
    return this.#writer.update(fn, options);
  }
  updateAsync<T>(
    fn: (guard: WriteGuard<K, V>) => T | Promise<T>,
    options?: WaitOptions,
  ): Promise<T> {
    return this.#writer.updateAsync(fn, options);
  }
  reclaim(readerId: number, options?: ReclaimOptions): void {
    this.#writer.reclaim(readerId, options);
  }
  stats(): WriteStats {
    return this.#writer.stats();
  }
  get version(): number {
    return this.#writer.version;
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
