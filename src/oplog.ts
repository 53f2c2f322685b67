/**
 * The writer's operation log: what one write guard did, as pairs of entries
 * (the one a slot gained, the one it lost). Once published it is replayed
 * forwards onto each retired copy that the writer brings up to date; while
 * its guard is live it can be undone backwards on the write copy, when the
 * guard aborts.
 *
 * @module
 */

import type { EntryStore } from "./entries.ts";
import { E_HASH, type MapViews, T_SIZE } from "./layout.ts";
import {
  clearSlot,
  descriptor,
  readTable,
  slotOfEntry,
  type TableRef,
} from "./table.ts";

/** No entry, in a log pair. */
const NONE = 0;
/** The most array slots a cleared log keeps for reuse. */
const RETAINED_PAIRS = 1 << 16;

/** The slot of `table` that points at `entry` (which it holds). */
function slotHolding(
  i32: Int32Array,
  table: TableRef,
  stride: number,
  entry: number,
): number {
  return slotOfEntry(
    i32,
    table.offset,
    table.mask,
    stride,
    i32[entry + E_HASH],
    entry,
  );
}

/** The operations of one write guard. */
export class OpLog {
  /**
   * `[added, dropped]` pairs of entry offsets ({@linkcode NONE} for none),
   * up to `#end`: a cleared log keeps its array for the next guard.
   */
  #pairs: number[] = [];
  #end = 0;
  /** Once published: the version the operations took the map from. */
  version = 0;

  /** Whether the log holds no operation. */
  get empty(): boolean {
    return this.#end === 0;
  }

  #log(added: number, dropped: number): void {
    const end = this.#end;
    this.#pairs[end] = added;
    this.#pairs[end + 1] = dropped;
    this.#end = end + 2;
  }

  /** A new entry took a slot of its own. */
  inserted(entry: number): void {
    this.#log(entry, NONE);
  }

  /** A new entry took the slot of `old` (the same key). */
  replaced(entry: number, old: number): void {
    this.#log(entry, old);
  }

  /** An entry left its slot. */
  removed(old: number): void {
    this.#log(NONE, old);
  }

  /** Operations logged. */
  get length(): number {
    return this.#end / 2;
  }

  clear(): void {
    // A large array is let go rather than kept for the next guard.
    if (this.#pairs.length > RETAINED_PAIRS) this.#pairs = [];
    this.#end = 0;
    this.version = 0;
  }

  /** Calls `fn` with each entry the operations created. */
  forEachAdded(fn: (entry: number) => void): void {
    const pairs = this.#pairs;
    for (let i = 0; i < this.#end; i += 2) {
      if (pairs[i] !== NONE) fn(pairs[i]);
    }
  }

  /**
   * Applies the log to `copy`, which no reader can see and which lacks
   * exactly these operations. Entries that `copy` lets go of, and that no
   * other copy holds or will hold, are freed.
   */
  replay<K, V>(
    views: MapViews,
    store: EntryStore<K, V>,
    copy: number,
    stride: number,
  ): void {
    const i32 = views.i32;
    const table = readTable(i32, copy);
    const pairs = this.#pairs;
    let size = table.size;
    const end = this.#end;
    for (let i = 0; i < end; i += 2) {
      const added = pairs[i];
      const dropped = pairs[i + 1];
      if (dropped === NONE) {
        store.place(table.offset, table.mask, added);
        size++;
        continue;
      }
      const slot = slotHolding(i32, table, stride, dropped);
      if (added !== NONE) {
        store.fill(table.offset + stride * slot, added);
      } else {
        clearSlot(i32, table.offset, table.mask, stride, slot);
        size--;
      }
      store.unlink(dropped);
    }
    i32[descriptor(copy, T_SIZE)] = size;
  }

  /**
   * Takes every logged operation back out of `copy`, newest first, so that
   * it holds what it held when the log was last empty, then clears the log.
   * Entries the operations created are freed; entries they dropped are
   * linked again.
   */
  undo<K, V>(
    views: MapViews,
    store: EntryStore<K, V>,
    copy: number,
    stride: number,
  ): void {
    const i32 = views.i32;
    const table = readTable(i32, copy);
    const pairs = this.#pairs;
    let size = table.size;
    for (let i = this.#end - 2; i >= 0; i -= 2) {
      const added = pairs[i];
      const dropped = pairs[i + 1];
      if (added === NONE) {
        store.place(table.offset, table.mask, dropped);
        store.relink(dropped);
        size++;
        continue;
      }
      const slot = slotHolding(i32, table, stride, added);
      if (dropped !== NONE) {
        store.fill(table.offset + stride * slot, dropped);
        store.relink(dropped);
      } else {
        clearSlot(i32, table.offset, table.mask, stride, slot);
        size--;
      }
      store.discard(added);
    }
    i32[descriptor(copy, T_SIZE)] = size;
    this.clear();
  }
}
