/**
 * The writer's operation log: what the guards since the last replay did,
 * as pairs of entries (the one a slot gained, the one it lost). Replayed
 * forwards onto the other copy once its readers have left; undone backwards
 * on the writer's own copy when a guard aborts.
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
import type { Copy } from "./protocol.ts";

/** No entry, in a log pair. */
const NONE = 0;

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

/** The operations since the last replay. */
export class OpLog {
  /** `[added, dropped]` pairs of entry offsets; {@linkcode NONE} for none. */
  #pairs: number[] = [];

  /** Whether the log holds no operation. */
  get empty(): boolean {
    return this.#pairs.length === 0;
  }

  /** A new entry took a slot of its own. */
  inserted(entry: number): void {
    this.#pairs.push(entry, NONE);
  }

  /** A new entry took the slot of `old` (the same key). */
  replaced(entry: number, old: number): void {
    this.#pairs.push(entry, old);
  }

  /** An entry left its slot. */
  removed(old: number): void {
    this.#pairs.push(NONE, old);
  }

  clear(): void {
    this.#pairs = [];
  }

  /**
   * Applies the log to `copy`, which no reader can see and which lacks
   * exactly these operations, then clears it. Entries that `copy` lets go
   * of, and that the other copy already dropped, are freed.
   */
  replay<K, V>(
    views: MapViews,
    store: EntryStore<K, V>,
    copy: Copy,
    stride: number,
  ): void {
    const i32 = views.i32;
    const table = readTable(i32, copy);
    const pairs = this.#pairs;
    let size = table.size;
    for (let i = 0; i < pairs.length; i += 2) {
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
    this.clear();
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
    copy: Copy,
    stride: number,
  ): void {
    const i32 = views.i32;
    const table = readTable(i32, copy);
    const pairs = this.#pairs;
    let size = table.size;
    for (let i = pairs.length - 2; i >= 0; i -= 2) {
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
