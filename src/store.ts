/**
 * The writer's tables and logs: what the writer changes in one copy of the
 * index (find, put, drop, clear, and growth), the log of each batch and the
 * published logs that kept copies have yet to replay, and what the copy set
 * asks of the tables (`CopyTables`: replay, clone, untrack, destroy).
 *
 * No user code runs here: keys and values arrive checked and owned, and
 * values leave as slot offsets for the writer to decode.
 *
 * @module
 */

import type { MapContext } from "./context.ts";
import type { CopySet, CopyTables } from "./copies.ts";
import { entryMeta, EntryStore } from "./entries.ts";
import { BufferFullError } from "./errors.ts";
import { Heap } from "./heap.ts";
import {
  E_HASH,
  E_KEY,
  E_META,
  E_VALUE_LENGTH,
  ENTRY_HEADER_WORDS,
  type MapViews,
  T_MASK,
  T_ODD,
  T_OFFSET,
  T_SIZE,
} from "./layout.ts";
import { OP_INSERT, OP_REMOVE, OP_REPLACE, OpLog } from "./oplog.ts";
import { ensureStack } from "./registry.ts";
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

/** An entry's size in words must fit the meta word beside its link bits. */
const MAX_ENTRY_WORDS = 2 ** 26;

/**
 * Logged operations kept for retired copies, at least: past this (or a
 * quarter of the current table's slots, if more), replaying them would cost
 * about as much as copying the table, and the entries they keep alive
 * would weigh on memory, so the oldest kept copies are abandoned instead.
 */
const MIN_LOG_BUDGET = 64;

/** One map's tables, entries and logs, as the writer changes them. */
export class Store<K, V> implements CopyTables {
  readonly #context: MapContext<K, V>;
  readonly #views: MapViews;
  readonly heap: Heap;
  readonly #entries: EntryStore;
  /** The entry store, for maps whose slots point at entries (else null). */
  readonly #links: EntryStore | null;
  /** Slot images of the operation under way: what it adds, what it drops. */
  readonly #added = new Int32Array(4);
  readonly #dropped = new Int32Array(4);
  /** The copies of the index; set once, right after construction. */
  copies!: CopySet;
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
  /** Operations in the published logs. */
  logged = 0;
  /** A cleared log to take for the next guard. */
  #spareLog: OpLog | null = null;

  constructor(
    context: MapContext<K, V>,
    views: MapViews,
    heapStart: number,
    maxBytes: number,
  ) {
    this.#context = context;
    this.#views = views;
    this.heap = new Heap(views, heapStart, maxBytes);
    this.#entries = new EntryStore(views, this.heap);
    this.#links = context.format.inline ? null : this.#entries;
    this.#log = new OpLog(context.format);
  }

  // ------------------------------------------------------------ logs

  /** Whether the live guard changed nothing yet. */
  get logEmpty(): boolean {
    return this.#log.empty;
  }

  /** Files the live guard's log as the batch that took the map from `version`. */
  published(version: number): void {
    const log = this.#log;
    log.version = version;
    this.#batches[this.#endLog++] = log;
    this.logged += log.length;
    this.#log = this.#spareLog ?? new OpLog(this.#context.format);
    this.#spareLog = null;
  }

  /** Takes the live guard's operations back out of `copy`. */
  undo(copy: number): void {
    this.#log.undo(this.#views, this.#links, copy);
  }

  /** The index of the first batch from version `from` on. */
  #firstBatch(from: number): number {
    const first = this.#firstLog;
    if (first === this.#endLog) return first;
    return first + Math.max(0, from - this.#batches[first].version);
  }

  /** Forgets the logs that no kept copy will replay. */
  dropReplayedLogs(): void {
    const batches = this.#batches;
    const end = this.#endLog;
    const keep = Math.min(this.#firstBatch(this.copies.oldestKept()), end);
    if (keep === this.#firstLog) return;
    for (let i = this.#firstLog; i < keep; i++) {
      this.logged -= batches[i].length;
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
  boundLogs(): void {
    if (this.logged <= MIN_LOG_BUDGET) return;
    const i32 = this.#views.i32;
    const slots = i32[descriptor(this.copies.current, T_MASK)] + 1;
    const budget = Math.max(MIN_LOG_BUDGET, slots / 4);
    while (this.logged > budget) {
      const oldest = this.copies.oldestKeptCopy();
      if (oldest < 0) return;
      this.copies.abandon(oldest);
    }
  }

  // ------------------------------------------------------------ CopyTables

  /** `CopyTables.replay`: the logs since `from`, onto `copy`. */
  replay(copy: number, from: number): void {
    const batches = this.#batches;
    for (let i = this.#firstBatch(from); i < this.#endLog; i++) {
      batches[i].replay(this.#views, this.#links, copy);
    }
  }

  /** `CopyTables.clone`: a new table for `copy`, holding the current copy's entries. */
  clone(copy: number): boolean {
    const stride = this.#context.stride;
    const i32 = this.#views.i32;
    const current = readTable(i32, this.copies.current);
    const words = stride * (current.mask + 1);
    let offset: number;
    try {
      offset = this.heap.allocAligned(words, "copy the index", true);
    } catch (error) {
      if (error instanceof BufferFullError) return false;
      throw error;
    }
    const table = this.#views.i32;
    table.copyWithin(offset, current.offset, current.offset + words);
    if (this.#links !== null) {
      for (let at = offset + 1; at < offset + words; at += stride) {
        if (table[at] !== 0) this.#links.relink(table[at]);
      }
    }
    writeTable(table, copy, {
      offset,
      mask: current.mask,
      size: current.size,
    });
    copyOdd(table, this.copies.current, copy);
    return true;
  }

  /** `CopyTables.untrack`: `copy` will not hold what was logged since `from`. */
  untrack(_copy: number, from: number): void {
    const unlink = (entry: number) => this.#entries.unlink(entry);
    const batches = this.#batches;
    for (let i = this.#firstBatch(from); i < this.#endLog; i++) {
      batches[i].forEachAdded(unlink);
    }
    this.#log.forEachAdded(unlink);
    this.dropReplayedLogs();
  }

  /** `CopyTables.destroy`: frees `copy`'s table and its hold on entries. */
  destroy(copy: number): void {
    const i32 = this.#views.i32;
    const stride = this.#context.stride;
    const table = readTable(i32, copy);
    const end = table.offset + stride * (table.mask + 1);
    if (this.#links !== null) {
      for (let at = table.offset + 1; at < end; at += stride) {
        if (i32[at] !== 0) this.#links.unlink(i32[at]);
      }
    }
    this.heap.free(table.offset, stride * (table.mask + 1));
    writeTable(i32, copy, { offset: 0, mask: 0, size: 0 });
    i32[descriptor(copy, T_ODD)] = 0;
  }

  // ------------------------------------------------------------ the write copy

  /**
   * Word index of `copy`'s slot holding the checked key (a table slot, or
   * the odd-key slot), or -1.
   */
  find(copy: number, key: unknown, hash: number): number {
    const views = this.#views;
    const i32 = views.i32;
    const table = i32[descriptor(copy, T_OFFSET)];
    const mask = i32[descriptor(copy, T_MASK)];
    const { format, keys } = this.#context;
    const stride = format.stride;
    if (!format.inline) {
      const slot = keys.find(views, table, mask, stride, key, hash);
      return slot < 0 ? -1 : table + stride * slot;
    }
    const image = this.#added;
    keys.storeKey(key, this.#context.seed, image, 0);
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
   * Stores a checked key and value in `copy`, in place of the slot at word
   * `at`, or in a new slot when `at` is -1, and logs it. Nothing can fail
   * after the allocations, so a full buffer throws before anything changed.
   */
  put(
    copy: number,
    key: unknown,
    value: unknown,
    hash: number,
    at: number,
    action: string,
  ): void {
    const { format, keys, values } = this.#context;
    const added = this.#added;
    let entry = 0;
    const grows = at < 0 && this.#mustGrow(copy);
    // A growth untracks and frees many things: a stack overflow half way
    // through would leave the copies' tables of different sizes.
    if (grows) ensureStack();
    if (format.inline) {
      added.fill(0);
      keys.storeKey(key, this.#context.seed, added, 0);
      values.storeValue(value, added, format.valueAt);
    } else {
      const words = this.#entryWords(key, value);
      if (words >= MAX_ENTRY_WORDS) {
        throw new RangeError(
          `Cannot ${action}: the entry would take ${
            words * 4
          } bytes, over the limit of ${
            MAX_ENTRY_WORDS * 4
          } bytes for one entry`,
        );
      }
      entry = this.heap.alloc(words, action);
      added[0] = hash;
      added[1] = entry;
    }
    if (grows) {
      try {
        this.#grow(copy, action);
      } catch (error) {
        if (entry !== 0) this.heap.free(entry, this.#entryWords(key, value));
        throw error;
      }
    }
    const views = this.#views;
    const i32 = views.i32;
    if (entry !== 0) {
      const keyWords = keys.dataWords(key);
      i32[entry + E_HASH] = hash;
      i32[entry + E_KEY] = keys.keyField(key);
      i32[entry + E_VALUE_LENGTH] = values.length(value);
      i32[entry + E_META] = entryMeta(
        this.#entryWords(key, value),
        this.copies.tracking,
      );
      keys.write(views, entry, key);
      values.write(views, entry + ENTRY_HEADER_WORDS + keyWords, value);
    }
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

  /** Takes the slot at word `at` out of `copy`, and logs it. */
  drop(copy: number, at: number): void {
    const i32 = this.#views.i32;
    const dropped = this.#dropped;
    const stride = this.#context.stride;
    for (let word = 0; word < stride; word++) dropped[word] = i32[at + word];
    clearSlot(i32, this.#context.format, copy, at);
    i32[descriptor(copy, T_SIZE)]--;
    this.#links?.unlink(dropped[1]);
    this.#log.log(OP_REMOVE, null, 0, dropped, 0);
  }

  /** Empties `copy`, logging every slot as removed. */
  clear(copy: number): void {
    const i32 = this.#views.i32;
    const table = readTable(i32, copy);
    // Each slot is logged as removed, so that the retired copies drop it at
    // their replay (and an abort puts it back).
    forEachSlot(i32, this.#context.format, copy, (at) => {
      this.#links?.unlink(i32[at + 1]);
      this.#log.log(OP_REMOVE, null, 0, i32, at);
    });
    clearTable(this.#views, table.offset, table.mask + 1, this.#context.stride);
    i32[descriptor(copy, T_ODD)] = 0;
    i32[descriptor(copy, T_SIZE)] = 0;
  }

  /** Words of the entry of a checked key and value. */
  #entryWords(key: unknown, value: unknown): number {
    const { keys, values } = this.#context;
    return ENTRY_HEADER_WORDS + keys.dataWords(key) + values.dataWords(value);
  }

  /**
   * Doubles `copy`'s table (one more entry would pass its load limit). The
   * other copies are abandoned: each next write copy is a copy of the grown
   * table, made once the old tables are let go, so that the buffer never
   * holds more than two tables of each size at once. The heap promises
   * room for that copy, so that making it cannot fail.
   */
  #grow(copy: number, action: string): void {
    const views = this.#views;
    const current = readTable(views.i32, copy);
    const slots = current.mask + 1;
    const grown = 2 * slots;
    const stride = this.#context.stride;
    const heap = this.heap;
    const offset = heap.allocAligned(stride * grown, action);
    try {
      heap.promise(stride * grown, action);
    } catch (error) {
      heap.free(offset, stride * grown);
      throw error;
    }
    clearTable(views, offset, grown, stride);
    rehash(views.i32, this.#context.format, current, offset, grown - 1);
    heap.free(current.offset, stride * slots);
    writeTable(views.i32, copy, {
      offset,
      mask: grown - 1,
      size: current.size,
    });
    this.copies.abandonAll();
  }

  /** Whether one more entry would take `copy`'s table past its load limit. */
  #mustGrow(copy: number): boolean {
    const i32 = this.#views.i32;
    return i32[descriptor(copy, T_SIZE)] + 1 >
      (i32[descriptor(copy, T_MASK)] + 1) * MAX_LOAD;
  }
}
