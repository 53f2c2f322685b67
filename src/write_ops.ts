/**
 * What a write guard does to the write copy: its reads and writes, each
 * checking that the guard is still live, preparing keys and values with the
 * codecs (user code, run with changes refused), and handing checked data to
 * the store. The writer (`write.ts`) owns the guard's life; this owns what
 * happens while it lives.
 *
 * @module
 */

import { type MapContext, TableIterator } from "./context.ts";
import type { MapViews } from "./layout.ts";
import { readEntryValue } from "./storage.ts";
import { CELL_ACTIONS, cellsOf } from "./cells.ts";
import type { Store } from "./store.ts";
import { descriptor } from "./table.ts";
import { T_MASK, T_OFFSET, T_SIZE } from "./layout.ts";
import type { WriteGuard } from "./write_api.ts";

/** What the operations need of the writer. */
export interface WriteHost<K, V> {
  readonly context: MapContext<K, V>;
  readonly views: MapViews;
  readonly store: Store<K, V>;
  /** The copy the live guard writes. */
  readonly writeCopy: number;
  /** Throws unless `guard` is the live write guard. */
  checkUsable(guard: WriteGuard<K, V>, action: string): void;
}

/** The operations of the live write guard. */
export class WriteOps<K, V> {
  readonly #host: WriteHost<K, V>;
  /**
   * How many user callbacks (codecs, `replace` updates) are running inside
   * operations of the live guard. A depth, not a flag: a callback that
   * reads, or nests another callback, must not turn the refusal off.
   */
  #callbacks = 0;
  /** Counts changes, so that an iterator can tell the table changed under it. */
  #changes = 0;

  constructor(host: WriteHost<K, V>) {
    this.#host = host;
  }

  /** Throws if user code of this guard is running (it may not change the map). */
  refuseInCallback(action: string): void {
    if (this.#callbacks !== 0) {
      throw new TypeError(
        `Cannot ${action}: the write guard is busy running a codec or a replace() update`,
      );
    }
  }

  /** Records a change made outside these operations (an abort). */
  changed(): void {
    this.#changes++;
  }

  /** Like `WriteHost.checkUsable`, and also refuses changes from inside a callback. */
  #checkWritable(guard: WriteGuard<K, V>, action: string): void {
    this.#host.checkUsable(guard, action);
    this.refuseInCallback(action);
  }

  /**
   * The key codec's checked form of `key`, in memory of the map's own. This
   * and the two below run user code (codecs, a `replace` update) with
   * changes to the guard refused.
   */
  #prepareKey(key: K, action: string): unknown {
    this.#callbacks++;
    try {
      const keys = this.#host.context.keys;
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
      const values = this.#host.context.values;
      return values.own(
        values.prepare(update === undefined ? value : update(value), action),
      );
    } finally {
      this.#callbacks--;
    }
  }

  /** Decodes the value of the write copy's slot at word `at`. */
  #decode(at: number): V {
    const { format, keys, values } = this.#host.context;
    if (format.inline) {
      return values.loadValue(this.#host.views, at + format.valueAt);
    }
    this.#callbacks++;
    try {
      return readEntryValue(
        this.#host.views,
        keys,
        values,
        this.#host.views.i32[at + 1],
      );
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
    this.#hash = this.#host.context.keys.hash(
      prepared,
      this.#host.context.seed,
    );
    return prepared;
  }

  get(guard: WriteGuard<K, V>, key: K): V | undefined {
    const action = "read the write guard";
    this.#host.checkUsable(guard, action);
    const slot = this.#locate(key, action);
    if (slot < 0) return undefined;
    return this.#decode(slot);
  }

  has(guard: WriteGuard<K, V>, key: K): boolean {
    const action = "read the write guard";
    this.#host.checkUsable(guard, action);
    return this.#locate(key, action) >= 0;
  }

  /**
   * Word index of the write copy's slot holding `key`, or -1: through the
   * map's view, as read guards find it (never its cache: `locate` probes);
   * no user code runs while it checks and hashes the key (bytes keys are
   * copied by the typed-array constructor, which reads no property). Keys a
   * user codec encodes are prepared with changes refused, and the table is
   * read only then. Removals find their slot here too: neither they nor
   * lookups keep the key.
   */
  #locate(key: K, action: string): number {
    const { context, views, store, writeCopy } = this.#host;
    if (context.keys.runsUserCode) {
      return store.find(writeCopy, this.#ownKey(key, action), this.#hash);
    }
    const i32 = views.i32;
    return context.view.locate(
      views,
      writeCopy,
      i32[descriptor(writeCopy, T_OFFSET)],
      i32[descriptor(writeCopy, T_MASK)],
      key,
      action,
    );
  }

  /**
   * Cell operation `op` on `key`'s entry in the write copy (see
   * `AtomicCells`): operands are checked before the key is looked up. It
   * changes no table, so it is allowed inside callbacks too.
   */
  cell(
    guard: WriteGuard<K, V>,
    op: number,
    key: K,
    value: unknown,
    replacement: unknown,
    index: number | undefined,
  ): number | bigint | undefined {
    const action = CELL_ACTIONS[op];
    this.#host.checkUsable(guard, action);
    const { context, views } = this.#host;
    const cells = cellsOf(context.cells, action, context.valueCodec.name);
    const cell = cells.index(index, action);
    const a = cells.first(op, value, action);
    const b = cells.second(op, replacement, action);
    const at = this.#locate(key, action);
    if (at < 0) return undefined;
    return cells.apply(
      views,
      cells.cellOf(views, context.keys, views.i32[at + 1], cell),
      op,
      a,
      b,
    );
  }

  size(guard: WriteGuard<K, V>): number {
    this.#host.checkUsable(guard, "read the write guard");
    return this.#host.views.i32[descriptor(this.#host.writeCopy, T_SIZE)];
  }

  iterate(
    guard: WriteGuard<K, V>,
    mode: "keys" | "values" | "entries",
  ): IterableIterator<unknown> {
    const action = "iterate the write guard";
    this.#host.checkUsable(guard, action);
    const changes = this.#changes;
    const entries = new TableIterator(
      this.#host.views,
      this.#host.writeCopy,
      this.#host.context,
      mode,
      () => {
        this.#host.checkUsable(guard, action);
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

  insert(guard: WriteGuard<K, V>, key: K, value: V): V | undefined {
    const action = "insert into the map";
    this.#checkWritable(guard, action);
    const prepared = this.#ownKey(key, action);
    const hash = this.#hash;
    const preparedValue = this.#prepareValue(value, action);
    const slot = this.#host.store.find(this.#host.writeCopy, prepared, hash);
    const previous = slot < 0 ? undefined : this.#decode(slot);
    this.#put(prepared, preparedValue, hash, slot, action);
    return previous;
  }

  set(guard: WriteGuard<K, V>, key: K, value: V): void {
    const action = "set an entry of the map";
    this.#checkWritable(guard, action);
    const prepared = this.#ownKey(key, action);
    const hash = this.#hash;
    const preparedValue = this.#prepareValue(value, action);
    this.#put(
      prepared,
      preparedValue,
      hash,
      this.#host.store.find(this.#host.writeCopy, prepared, hash),
      action,
    );
  }

  replace(
    guard: WriteGuard<K, V>,
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
    const slot = this.#host.store.find(this.#host.writeCopy, prepared, hash);
    if (slot < 0) return undefined;
    const previous = this.#decode(slot);
    const preparedValue = this.#prepareValue(previous, action, update);
    this.#put(prepared, preparedValue, hash, slot, action);
    return previous;
  }

  remove(guard: WriteGuard<K, V>, key: K): V | undefined {
    const action = "remove from the map";
    this.#checkWritable(guard, action);
    const slot = this.#locate(key, action);
    if (slot < 0) return undefined;
    const previous = this.#decode(slot);
    this.#drop(slot);
    return previous;
  }

  clear(guard: WriteGuard<K, V>): void {
    this.#checkWritable(guard, "clear the map");
    this.#host.store.clear(this.#host.writeCopy);
    this.#changes++;
  }

  delete(guard: WriteGuard<K, V>, key: K): boolean {
    const action = "delete from the map";
    this.#checkWritable(guard, action);
    const slot = this.#locate(key, action);
    if (slot < 0) return false;
    this.#drop(slot);
    return true;
  }

  /** Takes the slot at word `at` out of the write copy. */
  #drop(at: number): void {
    this.#host.store.drop(this.#host.writeCopy, at);
    this.#changes++;
  }

  /** Stores a checked key and value (see `Store.put`). */
  #put(
    key: unknown,
    value: unknown,
    hash: number,
    at: number,
    action: string,
  ): void {
    this.#host.store.put(this.#host.writeCopy, key, value, hash, at, action);
    this.#changes++;
  }
}
