/**
 * The read side: read handles, one per thread that reads (or several), and
 * the read guards they open. Entering a guard is one compare-and-exchange on
 * the handle's own refcount word, leaving it another; in between the
 * guard's copy of the map cannot change, so lookups are plain loads.
 *
 * @module
 */

import {
  addLocalReader,
  type MapContext,
  type ReaderState,
  removeLocalReader,
  TableIterator,
} from "./context.ts";
import {
  CELL_ACTIONS,
  CELL_ADD,
  CELL_LOAD,
  CELL_STORE,
  CELL_SUB,
  CellMethods,
  type CellOperand,
  cellsOf,
  runCell,
} from "./cells.ts";
import { ReaderLimitError } from "./errors.ts";
import {
  ENTRY_HEADER_WORDS,
  H_BUFFER_WORDS,
  H_WRITER_CLOSED,
  LAYOUT_VERSION,
  MapViews,
  MAX_COPIES,
  T_MASK,
  T_OFFSET,
  T_SIZE,
  T_VERSION,
} from "./layout.ts";
import {
  enterGuard,
  leaveGuard,
  leaveOrphan,
  leaveResidual,
  LEFT,
  MAX_GUARDS,
  openHandleCount,
  RECLAIMED,
  registerReader,
  RESIDUAL_GUARD,
  runBlocking,
  unregisterReader,
  wakeVersionWaiters,
  wakeWriter,
} from "./protocol.ts";
import { runRegistry } from "./registry.ts";
import type {
  ChangedOptions,
  ReadGuard,
  ReadHandle,
  ReadStats,
  ReadToken,
} from "./read_api.ts";
import { changedOptions } from "./options.ts";
import { describe } from "./storage.ts";
import { handleVersion, waitForVersion } from "./versions.ts";
import { int32Entry } from "./view/entry.ts";
import type { InlineView } from "./view/inline.ts";
import type { Int32View } from "./view/int32.ts";
import type { StringView } from "./view/string.ts";
import { VIEW_INLINE, VIEW_INT32, VIEW_STRING } from "./view/view.ts";
import { descriptor } from "./table.ts";

/** The `kind` of every read token of this library. */
export const TOKEN_KIND: ReadToken<unknown, unknown>["kind"] =
  "@x/flashmap:read";

/** The error for using a handle that was closed or reclaimed. */
function unusable(state: ReaderState, action: string): TypeError {
  return new TypeError(
    state.closed
      ? `Cannot ${action}: the read handle is closed`
      : `Cannot ${action}: the read handle was reclaimed by the writer (WriteHandle.reclaim); attach a new one`,
  );
}

/**
 * Enters a guard on the handle, then takes new views if the writer grew the
 * buffer. Returns the copy to read. Either it enters and returns, or it
 * throws with nothing entered.
 */
function enter<K, V>(
  context: MapContext<K, V>,
  views: MapViews,
  state: ReaderState,
  action: string,
): number {
  const copy = enterGuard(context.control, state);
  if (copy < 0) refuseGuard(state, copy, action);
  if (views.i32[H_BUFFER_WORDS] !== views.words) {
    remapEntered(context, views, state, copy);
  }
  return copy;
}

/** Throws for a guard that `enterGuard` refused (`why`). */
function refuseGuard(state: ReaderState, why: number, action: string): never {
  if (why === RECLAIMED) {
    state.reclaimed = true;
    throw unusable(state, action);
  }
  throw new RangeError(
    `Cannot ${action}: the read handle already holds ${MAX_GUARDS} live guards, the most one handle can hold; release some, or clone() another handle`,
  );
}

/** New views after the writer grew the buffer; leaves the guard if that fails. */
function remapEntered<K, V>(
  context: MapContext<K, V>,
  views: MapViews,
  state: ReaderState,
  copy: number,
): void {
  try {
    views.remap();
  } catch (error) {
    let result: number = leaveGuard(context.control, state, copy);
    if (result === RESIDUAL_GUARD) {
      result = leaveResidual(context.control, state, copy);
    }
    if (result !== LEFT) settleLeave(context, state, result, copy);
    throw error;
  }
}

/**
 * What follows a guard's leaving its handle's words, given `result` of
 * `leaveGuard` or `leaveResidual` (not {@linkcode LEFT}) for a guard on
 * `copy`: noting that the handle was reclaimed (in a map of cells, counting
 * the guard off its copy's orphans), or waking a writer that may wait for
 * the copy the handle's last residual guard left. A wake-up lost to an
 * exception costs the writer one wait slice, never a hang; an orphan count
 * lost to one keeps its copy pinned, never frees it early.
 */
function settleLeave<K, V>(
  context: MapContext<K, V>,
  state: ReaderState,
  result: number,
  copy: number,
): void {
  if (result === RECLAIMED) {
    state.reclaimed = true;
    if (context.cells === null || !leaveOrphan(context.control, copy)) return;
  }
  runBlocking(context.control, wakeWriter(context.control));
}

/**
 * Leaves the guard of a one-shot `get` or `has`, then settles what follows.
 * `leaveGuard` and `settleLeave` are called from here alike, so the stack
 * that held the leave holds the count-off.
 */
function leaveOneShot<K, V>(
  context: MapContext<K, V>,
  state: ReaderState,
  copy: number,
): void {
  // Written out in each leave, not shared through a helper: the leave must
  // run no deeper than the enter did, so that the stack that held one
  // holds the other.
  let result: number = leaveGuard(context.control, state, copy);
  if (result === RESIDUAL_GUARD) {
    result = leaveResidual(context.control, state, copy);
  }
  state.live[copy]--;
  if (result !== LEFT) settleLeave(context, state, result, copy);
}

/** Registers a new read handle of a map in this thread. */
export function openReader<K, V>(
  context: MapContext<K, V>,
): ReadHandleImpl<K, V> {
  const control = context.control;
  const registration = runRegistry(
    control,
    context.tag,
    () => registerReader(control, context.maxReaders, context.tag),
    "open a read handle",
  );
  if (registration === null) {
    throw new ReaderLimitError(
      `Cannot open a read handle: all ${context.maxReaders} reader slots (maxReaders) are in use`,
    );
  }
  const state: ReaderState = {
    ...registration.word,
    id: registration.id,
    live: new Array<number>(MAX_COPIES).fill(0),
    closed: false,
    reclaimed: false,
  };
  addLocalReader(context.mapId, state);
  return new ReadHandleImpl(context, new MapViews(context.buffer), state);
}

/** The read handle users hold. */
export class ReadHandleImpl<K, V> extends CellMethods<K, V>
  implements ReadHandle<K, V> {
  readonly #context: MapContext<K, V>;
  readonly #views: MapViews;
  readonly #state: ReaderState;

  constructor(context: MapContext<K, V>, views: MapViews, state: ReaderState) {
    super();
    this.#context = context;
    this.#views = views;
    this.#state = state;
  }

  guard(): ReadGuard<K, V> {
    const state = this.#state;
    if (state.closed || state.reclaimed) {
      throw unusable(state, "open a read guard");
    }
    return new ReadGuardImpl(this.#context, this.#views, state);
  }

  get(key: K): V | undefined {
    const state = this.#state;
    const action = "read the map";
    if (state.closed || state.reclaimed) throw unusable(state, action);
    const context = this.#context;
    if (context.keys.runsUserCode) return this.#getEncoded(key, action);
    const views = this.#views;
    const copy = enter(context, views, state, action);
    const format = context.format;
    let raw: unknown = undefined;
    let found = false;
    state.live[copy]++;
    try {
      const i32 = views.i32;
      const at = context.view.locate(
        views,
        copy,
        i32[descriptor(copy, T_OFFSET)],
        i32[descriptor(copy, T_MASK)],
        key,
        action,
      );
      if (at >= 0) {
        found = true;
        raw = format.inline
          ? context.view.value(views, at)
          : context.values.rawAt(views, context.keys, at);
      }
    } finally {
      leaveOneShot(context, state, copy);
    }
    if (!found) return undefined;
    // A value codec's decode runs after the guard is left.
    return format.inline ? raw as V : context.values.finish(raw);
  }

  /**
   * `get` for keys a user codec encodes: the key is encoded before the
   * guard, and the value decoded after it, so no user code runs inside.
   */
  #getEncoded(key: K, action: string): V | undefined {
    const state = this.#state;
    const context = this.#context;
    const keys = context.keys;
    const prepared = keys.prepare(key, action);
    // A user codec's encode may have closed the handle.
    if (state.closed || state.reclaimed) throw unusable(state, action);
    const hash = keys.hash(prepared, context.seed);
    const views = this.#views;
    const copy = enter(context, views, state, action);
    const values = context.values;
    let raw: unknown = undefined;
    let found = false;
    state.live[copy]++;
    try {
      const i32 = views.i32;
      const table = i32[descriptor(copy, T_OFFSET)];
      const slot = keys.find(
        views,
        table,
        i32[descriptor(copy, T_MASK)],
        2,
        prepared,
        hash,
      );
      if (slot >= 0) {
        found = true;
        raw = values.rawAt(views, keys, table + 2 * slot);
      }
    } finally {
      leaveOneShot(context, state, copy);
    }
    return found ? values.finish(raw) : undefined;
  }

  has(key: K): boolean {
    const state = this.#state;
    const action = "read the map";
    if (state.closed || state.reclaimed) throw unusable(state, action);
    const prepared = this.#prepareOutside(key, action);
    const context = this.#context;
    const copy = enter(context, this.#views, state, action);
    let found = false;
    state.live[copy]++;
    try {
      found = this.#slotIn(copy, key, prepared, action) >= 0;
    } finally {
      leaveOneShot(context, state, copy);
    }
    return found;
  }

  /**
   * The key as a one-shot read looks it up: a user codec encodes it here,
   * before the guard (and may have closed the handle meanwhile); other
   * keys are checked inside, by the probe.
   */
  #prepareOutside(key: K, action: string): unknown {
    const keys = this.#context.keys;
    if (!keys.runsUserCode) return key;
    const prepared = keys.prepare(key, action);
    const state = this.#state;
    if (state.closed || state.reclaimed) throw unusable(state, action);
    return prepared;
  }

  /**
   * Word offset of the slot of `key` (`prepared` by
   * {@linkcode #prepareOutside}) in entered copy `copy`, or -1.
   */
  #slotIn(copy: number, key: K, prepared: unknown, action: string): number {
    const context = this.#context;
    const keys = context.keys;
    const views = this.#views;
    const i32 = views.i32;
    const table = i32[descriptor(copy, T_OFFSET)];
    const mask = i32[descriptor(copy, T_MASK)];
    if (!keys.runsUserCode) {
      return context.view.locate(views, copy, table, mask, key, action);
    }
    const hash = keys.hash(prepared, context.seed);
    const slot = keys.find(views, table, mask, 2, prepared, hash);
    return slot < 0 ? -1 : table + 2 * slot;
  }

  /**
   * A cell operation in a one-shot guard: operands and a user codec's key
   * are checked before the guard, so no user code runs inside it.
   */
  [runCell](
    op: number,
    key: K,
    value: unknown,
    replacement: unknown,
    index: number | undefined,
  ): CellOperand<V> | undefined {
    const state = this.#state;
    const action = CELL_ACTIONS[op];
    if (state.closed || state.reclaimed) throw unusable(state, action);
    const context = this.#context;
    const cells = cellsOf(context.cells, action, context.valueCodec.name);
    // Operands are checked before the key is looked up: nothing changes.
    const cell = cells.index(index, action);
    const a = cells.first(op, value, action);
    const b = cells.second(op, replacement, action);
    const prepared = this.#prepareOutside(key, action);
    const views = this.#views;
    const copy = enter(context, views, state, action);
    let result: number | bigint | undefined = undefined;
    state.live[copy]++;
    try {
      const at = this.#slotIn(copy, key, prepared, action);
      if (at >= 0) {
        result = cells.apply(
          views,
          cells.cellOf(views, context.keys, views.i32[at + 1], cell),
          op,
          a,
          b,
        );
      }
    } finally {
      leaveOneShot(context, state, copy);
    }
    return result as CellOperand<V> | undefined;
  }

  clone(): ReadHandle<K, V> {
    const state = this.#state;
    if (state.closed || state.reclaimed) {
      throw unusable(state, "clone the read handle");
    }
    return openReader(this.#context);
  }

  share(): ReadToken<K, V> {
    const state = this.#state;
    if (state.closed || state.reclaimed) {
      throw unusable(state, "share the read handle");
    }
    const context = this.#context;
    return {
      kind: TOKEN_KIND,
      layout: LAYOUT_VERSION,
      buffer: context.buffer,
      key: context.keyCodec.name,
      value: context.valueCodec.name,
    };
  }

  get closed(): boolean {
    return this.#state.closed;
  }

  get id(): number {
    return this.#state.id;
  }

  get version(): number {
    return this.#version("read the version");
  }

  /** `version`, throwing for `action` if the handle is closed or reclaimed. */
  #version(action: string): number {
    const state = this.#state;
    if (state.closed || state.reclaimed) throw unusable(state, action);
    const version = handleVersion(this.#context.control, state);
    if (version < 0) {
      state.reclaimed = true;
      throw unusable(state, action);
    }
    return version;
  }

  get size(): number {
    const state = this.#state;
    const action = "read the map's size";
    if (state.closed || state.reclaimed) throw unusable(state, action);
    const context = this.#context;
    const views = this.#views;
    const copy = enter(context, views, state, action);
    state.live[copy]++;
    let size: number;
    try {
      size = views.i32[descriptor(copy, T_SIZE)];
    } finally {
      leaveOneShot(context, state, copy);
    }
    return size;
  }

  changed(since: number, options?: ChangedOptions): Promise<number> {
    const state = this.#state;
    const action = "wait for a newer version";
    try {
      if (state.closed || state.reclaimed) throw unusable(state, action);
      if (typeof since !== "number" || !Number.isInteger(since)) {
        throw new TypeError(
          `Cannot ${action}: since must be an integer version, got ${
            describe(since)
          }`,
        );
      }
      const limits = changedOptions(options, action);
      return waitForVersion(
        this.#context.control,
        since,
        () => this.#version(action),
        limits,
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async *versions(): AsyncGenerator<number, void, undefined> {
    let seen = this.version;
    const control = this.#context.control;
    for (;;) {
      try {
        seen = await this.changed(seen);
      } catch (error) {
        // The writer closed: no version will come.
        if (
          error instanceof TypeError && control.load(H_WRITER_CLOSED) !== 0 &&
          !this.#state.closed && !this.#state.reclaimed
        ) return;
        throw error;
      }
      yield seen;
    }
  }

  stats(): ReadStats {
    const context = this.#context;
    return {
      version: this.#version("read the stats"),
      size: this.size,
      bytes: context.buffer.byteLength,
      openHandles: openHandleCount(context.control),
      maxReaders: context.maxReaders,
      writerClosed: context.control.load(H_WRITER_CLOSED) !== 0,
    };
  }

  close(): void {
    const state = this.#state;
    if (state.closed) return;
    const context = this.#context;
    if (!state.reclaimed) {
      const live = state.live.reduce((sum, guards) => sum + guards, 0);
      if (live > 0) {
        throw new TypeError(
          `Cannot close the read handle: ${live} of its guards ${
            live === 1 ? "is" : "are"
          } still live`,
        );
      }
      const control = context.control;
      const freed = runRegistry(
        control,
        context.tag,
        () => unregisterReader(control, state.id, context.tag),
        "close the read handle",
      );
      if (!freed) state.reclaimed = true;
    }
    state.closed = true;
    removeLocalReader(context.mapId, state);
    // A `changed()` of this handle that sleeps learns that it is closed.
    runBlocking(context.control, wakeVersionWaiters(context.control));
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** `#narrowCell`: the key is absent from the guard's snapshot. */
const ABSENT_CELL = -1;
/** `#narrowCell`: the map's cells are not 32-bit, or the guard is released. */
const NOT_NARROW = -2;

class ReadGuardImpl<K, V> extends CellMethods<K, V> implements ReadGuard<K, V> {
  readonly #context: MapContext<K, V>;
  readonly #views: MapViews;
  readonly #state: ReaderState;
  readonly #copy: number;
  readonly #table: number;
  readonly #mask: number;
  /** The version of the guard's copy, read while the guard is counted. */
  readonly #version: number;
  #released = false;

  /**
   * Enters the guard once the object exists, so that a counted guard always
   * has an object to release it; what follows the enter only reads.
   */
  constructor(
    context: MapContext<K, V>,
    views: MapViews,
    state: ReaderState,
  ) {
    super();
    this.#context = context;
    this.#views = views;
    this.#state = state;
    const copy = enter(context, views, state, "open a read guard");
    state.live[copy]++;
    this.#copy = copy;
    const i32 = views.i32;
    this.#table = i32[descriptor(copy, T_OFFSET)];
    this.#mask = i32[descriptor(copy, T_MASK)];
    this.#version = i32[descriptor(copy, T_VERSION)];
  }

  #check(action: string): void {
    if (this.#released) {
      throw new TypeError(`Cannot ${action}: the read guard was released`);
    }
  }

  get(key: K): V | undefined {
    if (this.#released) this.#check("read the guard");
    const context = this.#context;
    // One call site per view class (see `view/view.ts`).
    switch (context.viewKind) {
      case VIEW_INT32:
        return (context.view as Int32View<V>).get(
          this.#views,
          this.#copy,
          this.#table,
          this.#mask,
          key,
          "read the guard",
        );
      case VIEW_INLINE:
        return (context.view as InlineView<K, V>).get(
          this.#views,
          this.#copy,
          this.#table,
          this.#mask,
          key,
          "read the guard",
        );
      case VIEW_STRING:
        return (context.view as StringView<V>).get(
          this.#views,
          this.#copy,
          this.#version,
          this.#table,
          this.#mask,
          key,
          "read the guard",
        );
    }
    const at = this.#locate(key);
    return at < 0 ? undefined : context.view.value(this.#views, at);
  }

  has(key: K): boolean {
    if (this.#released) this.#check("read the guard");
    const context = this.#context;
    switch (context.viewKind) {
      case VIEW_INT32:
        return (context.view as Int32View<V>).locate(
          this.#views,
          this.#copy,
          this.#table,
          this.#mask,
          key,
          "read the guard",
        ) >= 0;
      case VIEW_INLINE:
        return (context.view as InlineView<K, V>).locate(
          this.#views,
          this.#copy,
          this.#table,
          this.#mask,
          key,
          "read the guard",
        ) >= 0;
      case VIEW_STRING:
        return (context.view as StringView<V>).has(
          this.#views,
          this.#copy,
          this.#version,
          this.#table,
          this.#mask,
          key,
          "read the guard",
        );
    }
    return this.#locate(key) >= 0;
  }

  // add, sub, load and store of a 32-bit cell's first word, with an int32
  // operand, take a path of their own: through the shared one (checks of
  // every operand kind, a switch on the operation) an add measured 1.5
  // times as dear as the lookup and the `Atomics.add` alone.
  override add(
    key: K,
    value: CellOperand<V>,
    index?: number,
  ): CellOperand<V> | undefined {
    if (
      index === undefined && typeof value === "number" && (value | 0) === value
    ) {
      const cell = this.#narrowCell(key, CELL_ADD);
      if (cell >= 0) return Atomics.add(this.#views.i32, cell, value) as never;
      if (cell === ABSENT_CELL) return undefined;
    }
    return this[runCell](CELL_ADD, key, value, 0, index);
  }
  override sub(
    key: K,
    value: CellOperand<V>,
    index?: number,
  ): CellOperand<V> | undefined {
    if (
      index === undefined && typeof value === "number" && (value | 0) === value
    ) {
      const cell = this.#narrowCell(key, CELL_SUB);
      if (cell >= 0) return Atomics.sub(this.#views.i32, cell, value) as never;
      if (cell === ABSENT_CELL) return undefined;
    }
    return this[runCell](CELL_SUB, key, value, 0, index);
  }
  override load(key: K, index?: number): CellOperand<V> | undefined {
    if (index === undefined) {
      const cell = this.#narrowCell(key, CELL_LOAD);
      if (cell >= 0) return Atomics.load(this.#views.i32, cell) as never;
      if (cell === ABSENT_CELL) return undefined;
    }
    return this[runCell](CELL_LOAD, key, 0, 0, index);
  }
  override store(
    key: K,
    value: CellOperand<V>,
    index?: number,
  ): CellOperand<V> | undefined {
    if (
      index === undefined && typeof value === "number" && (value | 0) === value
    ) {
      const cell = this.#narrowCell(key, CELL_STORE);
      if (cell >= 0) {
        return Atomics.store(this.#views.i32, cell, value) as never;
      }
      if (cell === ABSENT_CELL) return undefined;
    }
    return this[runCell](CELL_STORE, key, value, 0, index);
  }

  /**
   * The word of the first 32-bit cell of `key`'s entry, {@linkcode
   * ABSENT_CELL}, or {@linkcode NOT_NARROW} when the general path must
   * decide (a released guard, a map without 32-bit cells: it throws there).
   */
  #narrowCell(key: K, op: number): number {
    const context = this.#context;
    const cells = context.cells;
    if (this.#released || cells === null || cells.wide) return NOT_NARROW;
    if (context.int32Keys && typeof key === "number" && (key | 0) === key) {
      // int32 keys keep no key data: the cells follow the header.
      const entry = int32Entry(
        this.#views.i32,
        this.#table,
        this.#mask,
        key,
        context.seed,
      );
      return entry === 0 ? ABSENT_CELL : entry + ENTRY_HEADER_WORDS;
    }
    const entry = this.#entryOf(key, CELL_ACTIONS[op]);
    if (entry < 0) return ABSENT_CELL;
    return cells.cellOf(this.#views, context.keys, entry, 0);
  }

  /** The word offset of `key`'s entry in this snapshot, or -1. */
  #entryOf(key: K, action: string): number {
    const context = this.#context;
    const views = this.#views;
    if (context.viewKind === VIEW_STRING) {
      return (context.view as StringView<V>).entryOf(
        views,
        this.#copy,
        this.#version,
        this.#table,
        this.#mask,
        key,
        action,
      );
    }
    const at = this.#locate(key, action);
    return at < 0 ? -1 : views.i32[at + 1];
  }

  /** A cell operation in this guard's snapshot. */
  [runCell](
    op: number,
    key: K,
    value: unknown,
    replacement: unknown,
    index: number | undefined,
  ): CellOperand<V> | undefined {
    const action = CELL_ACTIONS[op];
    if (this.#released) this.#check(action);
    const context = this.#context;
    const cells = cellsOf(context.cells, action, context.valueCodec.name);
    // Operands are checked before the key is looked up: nothing changes.
    const cell = cells.index(index, action);
    const a = cells.first(op, value, action);
    const b = cells.second(op, replacement, action);
    const views = this.#views;
    const entry = this.#entryOf(key, action);
    if (entry < 0) return undefined;
    return cells.apply(
      views,
      cells.cellOf(views, context.keys, entry, cell),
      op,
      a,
      b,
    ) as CellOperand<V>;
  }

  /** The word offset of `key`'s slot in this snapshot, or -1. */
  #locate(key: K, action = "read the guard"): number {
    if (this.#released) this.#check(action);
    const context = this.#context;
    if (context.keys.runsUserCode) {
      return this.#locateAfterUserCode(key, action);
    }
    return context.view.locate(
      this.#views,
      this.#copy,
      this.#table,
      this.#mask,
      key,
      action,
    );
  }

  /**
   * `locate` for keys a user codec encodes: the codec may release this very
   * guard, after which the table may be another version's, or freed.
   */
  #locateAfterUserCode(key: K, action: string): number {
    const context = this.#context;
    const keys = context.keys;
    const prepared = keys.prepare(key, action);
    this.#check(action);
    const slot = keys.find(
      this.#views,
      this.#table,
      this.#mask,
      context.stride,
      prepared,
      keys.hash(prepared, context.seed),
    );
    return slot < 0 ? -1 : this.#table + context.stride * slot;
  }

  get size(): number {
    this.#check("read the guard");
    return this.#views.i32[descriptor(this.#copy, T_SIZE)];
  }

  get version(): number {
    this.#check("read the guard");
    return this.#version;
  }

  #iterate(mode: "keys" | "values" | "entries") {
    this.#check("iterate the guard");
    return new TableIterator(
      this.#views,
      this.#copy,
      this.#context,
      mode,
      () => this.#check("iterate the guard"),
    );
  }

  keys(): IterableIterator<K> {
    return this.#iterate("keys") as IterableIterator<K>;
  }
  values(): IterableIterator<V> {
    return this.#iterate("values") as IterableIterator<V>;
  }
  entries(): IterableIterator<[K, V]> {
    return this.#iterate("entries") as IterableIterator<[K, V]>;
  }
  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }

  get released(): boolean {
    return this.#released;
  }

  release(): void {
    if (this.#released) return;
    // Leaving the word is all or nothing; the local marks follow at once,
    // so an exception (out of stack) leaves the guard either live, to be
    // released again, or fully left.
    const state = this.#state;
    const control = this.#context.control;
    let result: number = leaveGuard(control, state, this.#copy);
    if (result === RESIDUAL_GUARD) {
      result = leaveResidual(control, state, this.#copy);
    }
    this.#released = true;
    state.live[this.#copy]--;
    if (result !== LEFT) {
      settleLeave(this.#context, state, result, this.#copy);
    }
  }

  [Symbol.dispose](): void {
    this.release();
  }
}
