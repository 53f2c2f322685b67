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
  isLocalReader,
  localGuardsOn,
  type MapContext,
  TableIterator,
} from "./context.ts";
import { CopySet, type CopyTables } from "./copies.ts";
import { entryMeta, EntryStore } from "./entries.ts";
import { BufferFullError, DeadlockError, WaitTimeoutError } from "./errors.ts";
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
  S_OWNER,
  slotBase,
  T_MASK,
  T_ODD,
  T_OFFSET,
  T_SIZE,
  T_VERSION,
} from "./layout.ts";
import { OP_INSERT, OP_REMOVE, OP_REPLACE, OpLog } from "./oplog.ts";
import {
  handleId,
  pinningHandles,
  publishCopy,
  reclaimReader,
  runAsync,
  runBlocking,
  slotOfId,
  type Step,
  WaitTimedOut,
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
import { describe, readEntryValue } from "./storage.ts";
import {
  clearSlot,
  clearTable,
  copyOdd,
  descriptor,
  forEachSlot,
  holdsOdd,
  homeSlot,
  MAX_LOAD,
  oddSlot,
  placeSlot,
  readTable,
  rehash,
  writeTable,
} from "./table.ts";
import type {
  PinnedVersion,
  WaitOptions,
  WriteGuard,
  WriteHandle,
  WriteStats,
} from "./write_api.ts";

/** An entry's size in words must fit the meta word beside its link bits. */
const MAX_ENTRY_WORDS = 2 ** 26;

/**
 * Logged operations kept for retired copies, at least: past this (or a
 * quarter of the current table's slots, if more), replaying them would cost
 * about as much as copying the table, and the entries they keep alive
 * would weigh on memory, so the oldest kept copies are abandoned instead.
 */
const MIN_LOG_BUDGET = 64;

/**
 * Stack frames probed before a copy is prepared: its deepest path (an
 * operation's unlink freeing a block) is under ten calls, and a replay cut
 * short by a stack overflow could not be resumed.
 */
const PREPARE_PROBE_FRAMES = 24;

/**
 * Runs `steps`, calling `beforeWait` before each of its waits (`first`
 * for the first) and `afterWait` with the time spent once it ends (however
 * it ends).
 */
function* observeWaits<T>(
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
export class Writer<K, V> implements CopyTables {
  readonly context: MapContext<K, V>;
  readonly views: MapViews;
  readonly #heap: Heap;
  readonly #store: EntryStore;
  /** The entry store, for maps whose slots point at entries (else null). */
  readonly #links: EntryStore | null;
  /** Slot images of the operation under way: what it adds, what it drops. */
  readonly #added = new Int32Array(4);
  readonly #dropped = new Int32Array(4);
  readonly #maxBytes: number;
  readonly #copies: CopySet;
  /** The copy readers cannot see, while one is prepared (else -1). */
  #writeCopy: number;
  /** The live guard's operations (or the next guard's). */
  #log: OpLog;
  /**
   * Published logs that kept copies have yet to replay, oldest first: one
   * per version from the first one's on, with no gap. They are the slots
   * from `#firstLog` to `#endLog`; slots outside hold stale references.
   */
  readonly #batches: OpLog[] = [];
  #firstLog = 0;
  #endLog = 0;
  /** Operations in `#batches`. */
  #logged = 0;
  /** A cleared log to take for the next guard. */
  #spareLog: OpLog | null = null;
  #guard: WriteGuardImpl<K, V> | null = null;
  #opening = false;
  /**
   * How many user callbacks (codecs, `replace` updates) are running inside
   * operations of the live guard. A depth, not a flag: a callback that
   * reads, or nests another callback, must not turn the refusal off.
   */
  #callbacks = 0;
  /** Counts changes, so that an iterator can tell the table changed under it. */
  #changes = 0;
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
    this.#heap = new Heap(views, heapStart, maxBytes);
    this.#store = new EntryStore(views, this.#heap);
    this.#links = context.format.inline ? null : this.#store;
    this.#log = new OpLog(context.format);
    const current = views.i32[H_CURRENT_COPY];
    this.#writeCopy = current ^ 1;
    this.#copies = new CopySet(
      context.control,
      this,
      maxCopies,
      current,
      this.#writeCopy,
    );
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
          this.#observed(() => this.#refuseDeadlock(action)),
          timeoutMs,
        );
      } catch (error) {
        throw this.#timedOut(error, action, timeoutMs);
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
        throw this.#timedOut(error, action, timeoutMs);
      }
    }
    this.#prepared();
  }

  /** After `CopySet.prepare`: writes go to its copy; logs no copy needs go. */
  #prepared(): void {
    this.#writeCopy = this.#copies.write;
    this.#dropReplayedLogs();
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

  /**
   * Before a blocking wait for a retired copy to come free: if guards of
   * this thread hold every retired copy, no other thread can end the wait.
   */
  #refuseDeadlock(action: string): void {
    let own = 0;
    for (const copy of this.#copies.retired()) {
      const guards = localGuardsOn(this.context, copy);
      if (guards === 0) return;
      own += guards;
    }
    throw new DeadlockError(
      `Cannot ${action}: ${this.#noCopy()}, and ${own} read guard${
        own === 1 ? "" : "s"
      } of this thread hold${
        own === 1 ? "s" : ""
      } the retired ones the writer must wait for; release ${
        own === 1 ? "it" : "them"
      } first, or use the async variant`,
    );
  }

  /** Why the writer must wait for a retired copy to come free. */
  #noCopy(): string {
    const copies = this.#copies;
    return copies.count < copies.maxCopies
      ? `the buffer has no room for another copy of the index (maxBytes ${this.#maxBytes})`
      : `all ${copies.maxCopies} copies of the index (maxCopies) are taken`;
  }

  /** The ids of the handles with guards on retired copies, oldest version first. */
  #pinningReaders(): number[] {
    const readers: number[] = [];
    for (const copy of this.#copies.retired()) {
      for (const id of pinningHandles(this.context.control, copy)) {
        if (!readers.includes(id)) readers.push(id);
      }
    }
    return readers;
  }

  #timedOut(error: unknown, action: string, timeoutMs: number): unknown {
    if (!(error instanceof WaitTimedOut)) return error;
    const readers = this.#pinningReaders();
    const holders = readers.length === 0
      ? "guards that left without waking the writer"
      : `guards of read handle${readers.length === 1 ? "" : "s"} ${
        readers.join(", ")
      }`;
    return new WaitTimeoutError(
      `Cannot ${action}: ${this.#noCopy()}, and after ${timeoutMs} ms ${holders} still hold the retired ones`,
      readers,
    );
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
      if (readers.length === 0) continue;
      pinned.push({
        version: copies.versionOf(copy),
        readers,
        heldMs: now - copies.retiredAt(copy),
      });
    }
    const heap = this.#heap;
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
      loggedOperations: this.#logged,
    };
  }

  reclaim(readerId: number, options?: WaitOptions): void {
    const action = "reclaim the read handle";
    if (this.closed) {
      throw new TypeError(`Cannot ${action}: the write handle is closed`);
    }
    const timeoutMs = waitLimit(options, action, REGISTRY_WAIT_MS);
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
      () => reclaimReader(control, readerId, tag),
      action,
      timeoutMs,
    );
    if (outstanding < 0) {
      throw new RangeError(
        `Cannot ${action}: no read handle with id ${readerId} is open`,
      );
    }
  }

  // ------------------------------------------------------------ tables

  /** `CopyTables.replay`: the logs since `from`, onto `copy`. */
  replay(copy: number, from: number): void {
    const batches = this.#batches;
    for (let i = this.#firstBatch(from); i < this.#endLog; i++) {
      batches[i].replay(this.views, this.#links, copy);
    }
  }

  /** The index of the first batch from version `from` on. */
  #firstBatch(from: number): number {
    const first = this.#firstLog;
    if (first === this.#endLog) return first;
    return first + Math.max(0, from - this.#batches[first].version);
  }

  /** `CopyTables.clone`: a new table for `copy`, holding the current copy's entries. */
  clone(copy: number): boolean {
    const stride = this.context.stride;
    const current = readTable(this.views.i32, this.#copies.current);
    const words = stride * (current.mask + 1);
    let offset: number;
    try {
      offset = this.#heap.allocAligned(words, "copy the index", true);
    } catch (error) {
      if (error instanceof BufferFullError) return false;
      throw error;
    }
    const i32 = this.views.i32;
    i32.copyWithin(offset, current.offset, current.offset + words);
    if (this.#links !== null) {
      for (let at = offset + 1; at < offset + words; at += stride) {
        if (i32[at] !== 0) this.#links.relink(i32[at]);
      }
    }
    writeTable(i32, copy, { offset, mask: current.mask, size: current.size });
    copyOdd(i32, this.#copies.current, copy);
    return true;
  }

  /** `CopyTables.untrack`: `copy` will not hold what was logged since `from`. */
  untrack(_copy: number, from: number): void {
    const unlink = (entry: number) => this.#store.unlink(entry);
    const batches = this.#batches;
    for (let i = this.#firstBatch(from); i < this.#endLog; i++) {
      batches[i].forEachAdded(unlink);
    }
    this.#log.forEachAdded(unlink);
    this.#dropReplayedLogs();
  }

  /** `CopyTables.destroy`: frees `copy`'s table and its hold on entries. */
  destroy(copy: number): void {
    const i32 = this.views.i32;
    const stride = this.context.stride;
    const table = readTable(i32, copy);
    const end = table.offset + stride * (table.mask + 1);
    if (this.#links !== null) {
      for (let at = table.offset + 1; at < end; at += stride) {
        if (i32[at] !== 0) this.#links.unlink(i32[at]);
      }
    }
    this.#heap.free(table.offset, stride * (table.mask + 1));
    writeTable(i32, copy, { offset: 0, mask: 0, size: 0 });
    i32[descriptor(copy, T_ODD)] = 0;
  }

  /** Forgets the logs that no kept copy will replay. */
  #dropReplayedLogs(): void {
    const batches = this.#batches;
    const end = this.#endLog;
    const keep = Math.min(this.#firstBatch(this.#copies.oldestKept()), end);
    if (keep === this.#firstLog) return;
    for (let i = this.#firstLog; i < keep; i++) {
      this.#logged -= batches[i].length;
    }
    const spare = batches[keep - 1];
    spare.clear();
    this.#spareLog = spare;
    if (keep === end) {
      this.#firstLog = this.#endLog = 0;
    } else if (keep > 1024 && keep * 2 > end) {
      batches.copyWithin(0, keep, end);
      this.#firstLog = 0;
      this.#endLog = end - keep;
    } else {
      this.#firstLog = keep;
    }
  }

  /**
   * Keeps the logs bounded: while they hold more operations than the
   * budget, abandons the oldest kept copy, which will then be let go, not
   * replayed, once free. So a guard held for long pins its version and at
   * most a budget's worth of logged changes, whatever the writer writes
   * meanwhile.
   */
  #boundLogs(): void {
    if (this.#logged <= MIN_LOG_BUDGET) return;
    const i32 = this.views.i32;
    const slots = i32[descriptor(this.#copies.current, T_MASK)] + 1;
    const budget = Math.max(MIN_LOG_BUDGET, slots / 4);
    while (this.#logged > budget) {
      const oldest = this.#copies.oldestKeptCopy();
      if (oldest < 0) return;
      this.#copies.abandon(oldest);
    }
  }

  /**
   * Publishes the guard's changes. `timeoutMs` bounds the wait for the
   * registry lock (its default bound when not given).
   */
  publish(guard: WriteGuardImpl<K, V>, timeoutMs = REGISTRY_WAIT_MS): void {
    if (this.#guard !== guard) return;
    this.#checkWritable(guard, "publish the write guard");
    if (this.#log.empty) { // nothing changed: no version to publish
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
    this.#log.version = copies.version;
    this.#batches[this.#endLog++] = this.#log;
    this.#logged += this.#log.length;
    this.#log = this.#spareLog ?? new OpLog(this.context.format);
    this.#spareLog = null;
    this.#writeCopy = -1;
    if (copies.published(grew) >= 0) this.#prepared();
    this.#boundLogs();
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
    this.#log.undo(this.views, this.#links, this.#writeCopy);
    this.#changes++;
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

  #checkUsable(guard: WriteGuardImpl<K, V>, action: string): void {
    if (this.#guard !== guard) {
      throw new TypeError(
        `Cannot ${action}: the write guard was ${
          guard.aborted ? "aborted" : "published"
        }`,
      );
    }
  }

  /** Like `#checkUsable`, and also refuses changes from inside a callback. */
  #checkWritable(guard: WriteGuardImpl<K, V>, action: string): void {
    this.#checkUsable(guard, action);
    if (this.#callbacks !== 0) {
      throw new TypeError(
        `Cannot ${action}: the write guard is busy running a codec or a replace() update`,
      );
    }
  }

  /**
   * Word index of the write copy's slot holding the prepared key (a table
   * slot, or the odd-key slot), or -1.
   */
  #find(prepared: unknown, hash: number): number {
    const views = this.views;
    const i32 = views.i32;
    const copy = this.#writeCopy;
    const table = i32[descriptor(copy, T_OFFSET)];
    const mask = i32[descriptor(copy, T_MASK)];
    const { format, keys } = this.context;
    const stride = format.stride;
    if (!format.inline) {
      const slot = keys.find(views, table, mask, stride, prepared, hash);
      return slot < 0 ? -1 : table + stride * slot;
    }
    const image = this.#added;
    keys.storeKey(prepared, this.context.seed, image, 0);
    if (format.isOdd(image, 0)) return holdsOdd(i32, copy) ? oddSlot(copy) : -1;
    let slot = homeSlot(format.hashAt(image, 0), mask);
    for (let left = mask; left >= 0; left--) {
      const at = table + stride * slot;
      if (format.sameKey(i32, at, image, 0)) return at;
      if (format.isFree(i32, at)) return -1;
      slot = (slot + 1) & mask;
    }
    return -1;
  }

  /**
   * The key codec's checked form of `key`, in memory of the map's own. This
   * and the two below run user code (codecs, a `replace` update) with
   * changes to the guard refused.
   */
  #prepareKey(key: K, action: string): unknown {
    this.#callbacks++;
    try {
      const keys = this.context.keys;
      return keys.own(keys.prepare(key, action));
    } finally {
      this.#callbacks--;
    }
  }

  /** The value codec's checked form of `value`, or of `update(value)`. */
  #prepareValue(
    value: V,
    action: string,
    update?: (previous: V) => V,
  ): unknown {
    this.#callbacks++;
    try {
      const values = this.context.values;
      return values.own(
        values.prepare(update === undefined ? value : update(value), action),
      );
    } finally {
      this.#callbacks--;
    }
  }

  /** Decodes the value of the write copy's slot at word `at`. */
  #decode(at: number): V {
    const { format, keys, values } = this.context;
    if (format.inline) return values.loadValue(this.views, at + format.valueAt);
    this.#callbacks++;
    try {
      return readEntryValue(this.views, keys, values, this.views.i32[at + 1]);
    } finally {
      this.#callbacks--;
    }
  }

  /** The hash of the key `#ownKey` last returned. */
  #hash = 0;

  /**
   * The checked form of `key`, owned by the map; its hash is left in
   * `#hash`. User code runs here and in the decodes below, with changes
   * refused, so none of it can end the guard: the checks made when an
   * operation starts still hold when it changes the table.
   */
  #ownKey(key: K, action: string): unknown {
    const prepared = this.#prepareKey(key, action);
    this.#hash = this.context.keys.hash(prepared, this.context.seed);
    return prepared;
  }

  get(guard: WriteGuardImpl<K, V>, key: K): V | undefined {
    const action = "read the write guard";
    this.#checkUsable(guard, action);
    const slot = this.#find(this.#ownKey(key, action), this.#hash);
    if (slot < 0) return undefined;
    return this.#decode(slot);
  }

  has(guard: WriteGuardImpl<K, V>, key: K): boolean {
    const action = "read the write guard";
    this.#checkUsable(guard, action);
    return this.#find(this.#ownKey(key, action), this.#hash) >= 0;
  }

  size(guard: WriteGuardImpl<K, V>): number {
    this.#checkUsable(guard, "read the write guard");
    return this.views.i32[descriptor(this.#writeCopy, T_SIZE)];
  }

  iterate(
    guard: WriteGuardImpl<K, V>,
    mode: "keys" | "values" | "entries",
  ): IterableIterator<unknown> {
    const action = "iterate the write guard";
    this.#checkUsable(guard, action);
    const changes = this.#changes;
    const entries = new TableIterator(
      this.views,
      this.#writeCopy,
      this.context,
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
    // Each step decodes with user codecs: changes are refused meanwhile.
    const step = (): IteratorResult<unknown, undefined> => {
      this.#callbacks++;
      try {
        return entries.next();
      } finally {
        this.#callbacks--;
      }
    };
    return {
      next: step,
      [Symbol.iterator]() {
        return this;
      },
    };
  }

  insert(guard: WriteGuardImpl<K, V>, key: K, value: V): V | undefined {
    const action = "insert into the map";
    this.#checkWritable(guard, action);
    const prepared = this.#ownKey(key, action);
    const hash = this.#hash;
    const preparedValue = this.#prepareValue(value, action);
    const slot = this.#find(prepared, hash);
    const previous = slot < 0 ? undefined : this.#decode(slot);
    this.#put(prepared, preparedValue, hash, slot, action);
    return previous;
  }

  set(guard: WriteGuardImpl<K, V>, key: K, value: V): void {
    const action = "set an entry of the map";
    this.#checkWritable(guard, action);
    const prepared = this.#ownKey(key, action);
    const hash = this.#hash;
    const preparedValue = this.#prepareValue(value, action);
    this.#put(
      prepared,
      preparedValue,
      hash,
      this.#find(prepared, hash),
      action,
    );
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
    const prepared = this.#ownKey(key, action);
    const hash = this.#hash;
    const slot = this.#find(prepared, hash);
    if (slot < 0) return undefined;
    const previous = this.#decode(slot);
    const preparedValue = this.#prepareValue(previous, action, update);
    this.#put(prepared, preparedValue, hash, slot, action);
    return previous;
  }

  remove(guard: WriteGuardImpl<K, V>, key: K): V | undefined {
    const action = "remove from the map";
    this.#checkWritable(guard, action);
    const slot = this.#find(this.#ownKey(key, action), this.#hash);
    if (slot < 0) return undefined;
    const previous = this.#decode(slot);
    this.#drop(slot);
    return previous;
  }

  clear(guard: WriteGuardImpl<K, V>): void {
    this.#checkWritable(guard, "clear the map");
    const i32 = this.views.i32;
    const copy = this.#writeCopy;
    const table = readTable(i32, copy);
    const stride = this.context.stride;
    // Each slot is logged as removed, so that the retired copies drop it at
    // their replay (and an abort puts it back).
    forEachSlot(i32, this.context.format, copy, (at) => {
      this.#links?.unlink(i32[at + 1]);
      this.#log.log(OP_REMOVE, null, 0, i32, at);
    });
    clearTable(this.views, table.offset, table.mask + 1, stride);
    i32[descriptor(copy, T_ODD)] = 0;
    i32[descriptor(copy, T_SIZE)] = 0;
    this.#changes++;
  }

  delete(guard: WriteGuardImpl<K, V>, key: K): boolean {
    const action = "delete from the map";
    this.#checkWritable(guard, action);
    const slot = this.#find(this.#ownKey(key, action), this.#hash);
    if (slot < 0) return false;
    this.#drop(slot);
    return true;
  }

  /** Takes the slot at word `at` out of the write copy. */
  #drop(at: number): void {
    const i32 = this.views.i32;
    const copy = this.#writeCopy;
    const dropped = this.#dropped;
    const stride = this.context.stride;
    for (let word = 0; word < stride; word++) dropped[word] = i32[at + word];
    clearSlot(i32, this.context.format, copy, at);
    i32[descriptor(copy, T_SIZE)]--;
    this.#links?.unlink(dropped[1]);
    this.#log.log(OP_REMOVE, null, 0, dropped, 0);
    this.#changes++;
  }

  /**
   * Stores a checked key and value, in place of the slot at word `at`, or
   * in a new slot when `at` is -1. Nothing can fail after the allocations,
   * so a full buffer throws before anything changed.
   */
  #put(
    key: unknown,
    value: unknown,
    hash: number,
    at: number,
    action: string,
  ): void {
    const { format, keys, values } = this.context;
    const added = this.#added;
    let entry = 0;
    const grows = at < 0 && this.#mustGrow();
    // A growth untracks and frees many things: a stack overflow half way
    // through would leave the copies' tables of different sizes.
    if (grows) ensureStack();
    if (format.inline) {
      added.fill(0);
      keys.storeKey(key, this.context.seed, added, 0);
      values.storeValue(value, added, format.valueAt);
    } else {
      const keyWords = keys.dataWords(key);
      const words = ENTRY_HEADER_WORDS + keyWords + values.dataWords(value);
      if (words >= MAX_ENTRY_WORDS) {
        throw new RangeError(
          `Cannot ${action}: the entry would take ${
            words * 4
          } bytes, over the limit of ${
            MAX_ENTRY_WORDS * 4
          } bytes for one entry`,
        );
      }
      entry = this.#heap.alloc(words, action);
      added[0] = hash;
      added[1] = entry;
    }
    if (grows) {
      try {
        this.#grow(action);
      } catch (error) {
        if (entry !== 0) this.#heap.free(entry, this.#entryWords(key, value));
        throw error;
      }
    }
    const views = this.views;
    const i32 = views.i32;
    if (entry !== 0) {
      const keyWords = keys.dataWords(key);
      i32[entry + E_HASH] = hash;
      i32[entry + E_KEY] = keys.keyField(key);
      i32[entry + E_VALUE_LENGTH] = values.length(value);
      i32[entry + E_META] = entryMeta(
        this.#entryWords(key, value),
        this.#copies.tracking,
      );
      keys.write(views, entry, key);
      values.write(views, entry + ENTRY_HEADER_WORDS + keyWords, value);
    }
    const copy = this.#writeCopy;
    this.#changes++;
    if (at < 0) {
      placeSlot(i32, format, copy, added, 0);
      i32[descriptor(copy, T_SIZE)]++;
      this.#log.log(OP_INSERT, added, 0, null, 0);
      return;
    }
    const dropped = this.#dropped;
    const stride = format.stride;
    for (let word = 0; word < stride; word++) {
      dropped[word] = i32[at + word];
      i32[at + word] = added[word];
    }
    this.#links?.unlink(dropped[1]);
    this.#log.log(OP_REPLACE, added, 0, dropped, 0);
  }

  /** Words of the entry of a checked key and value. */
  #entryWords(key: unknown, value: unknown): number {
    const { keys, values } = this.context;
    return ENTRY_HEADER_WORDS + keys.dataWords(key) + values.dataWords(value);
  }

  /**
   * Doubles the write copy's table (one more entry would pass its load
   * limit). The other copies are abandoned: each next write copy is a copy
   * of the grown table, made once the old tables are let go, so that the
   * buffer never holds more than two tables of each size at once. The heap
   * promises room for that copy, so that making it cannot fail.
   */
  #grow(action: string): void {
    const i32 = this.views.i32;
    const copy = this.#writeCopy;
    const current = readTable(i32, copy);
    const slots = current.mask + 1;
    const grown = 2 * slots;
    const stride = this.context.stride;
    const heap = this.#heap;
    const offset = heap.allocAligned(stride * grown, action);
    try {
      heap.promise(stride * grown, action);
    } catch (error) {
      heap.free(offset, stride * grown);
      throw error;
    }
    const views = this.views;
    clearTable(views, offset, grown, stride);
    rehash(views.i32, this.context.format, current, offset, grown - 1);
    heap.free(current.offset, stride * slots);
    writeTable(views.i32, copy, {
      offset,
      mask: grown - 1,
      size: current.size,
    });
    this.#copies.abandonAll();
  }

  /** Whether one more entry would take the write copy's table past its load limit. */
  #mustGrow(): boolean {
    const i32 = this.views.i32;
    const copy = this.#writeCopy;
    return i32[descriptor(copy, T_SIZE)] + 1 >
      (i32[descriptor(copy, T_MASK)] + 1) * MAX_LOAD;
  }
}

/** The write guard users hold: a thin front for {@linkcode Writer}. */
export class WriteGuardImpl<K, V> implements WriteGuard<K, V> {
  readonly #writer: Writer<K, V>;
  #published = false;
  #aborted = false;

  constructor(writer: Writer<K, V>) {
    this.#writer = writer;
  }

  insert(key: K, value: V): V | undefined {
    return this.#writer.insert(this, key, value);
  }
  set(key: K, value: V): this {
    this.#writer.set(this, key, value);
    return this;
  }
  replace(key: K, update: (previous: V) => V): V | undefined {
    return this.#writer.replace(this, key, update);
  }
  remove(key: K): V | undefined {
    return this.#writer.remove(this, key);
  }
  delete(key: K): boolean {
    return this.#writer.delete(this, key);
  }
  clear(): void {
    this.#writer.clear(this);
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
  reclaim(readerId: number, options?: WaitOptions): void {
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
