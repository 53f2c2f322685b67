/**
 * Open addressing over one copy of the map: a power-of-two array of slots,
 * each `[hash, entry]` (entry 0 marks an empty slot), probed linearly.
 * Removal shifts the following run back instead of leaving tombstones, so
 * probe runs stay short however many removals a table sees.
 *
 * Readers only ever probe a table (through the key kind's `find`); the
 * functions here that change a table run in the writer, on the copy no
 * reader can see.
 *
 * @module
 */

import {
  H_TABLES,
  type MapViews,
  T_MASK,
  T_OFFSET,
  T_SIZE,
  TABLE_STRIDE,
} from "./layout.ts";

/** A table grows when an insert would take it over this share of its slots. */
export const MAX_LOAD = 0.75;
/** The smallest table. */
export const MIN_SLOTS = 8;

/** Slots of the smallest table that holds `entries` below the load limit. */
export function slotsFor(entries: number): number {
  let slots = MIN_SLOTS;
  while (entries > slots * MAX_LOAD) slots *= 2;
  return slots;
}

/** Word index of the descriptor field `field` of copy `copy`'s table. */
export function descriptor(copy: number, field: number): number {
  return H_TABLES + TABLE_STRIDE * copy + field;
}

/** The table of `copy` as the header describes it. */
export interface TableRef {
  offset: number;
  mask: number;
  size: number;
}

/** Reads the header's description of `copy`'s table. */
export function readTable(i32: Int32Array, copy: number): TableRef {
  return {
    offset: i32[descriptor(copy, T_OFFSET)],
    mask: i32[descriptor(copy, T_MASK)],
    size: i32[descriptor(copy, T_SIZE)],
  };
}

/** Points `copy`'s descriptor at a table. */
export function writeTable(
  i32: Int32Array,
  copy: number,
  table: TableRef,
): void {
  i32[descriptor(copy, T_OFFSET)] = table.offset;
  i32[descriptor(copy, T_MASK)] = table.mask;
  i32[descriptor(copy, T_SIZE)] = table.size;
}

/** Puts an entry into the first free slot of its probe run. */
export function placeEntry(
  i32: Int32Array,
  table: number,
  mask: number,
  hash: number,
  entry: number,
): void {
  let slot = hash & mask;
  while (i32[table + 2 * slot + 1] !== 0) slot = (slot + 1) & mask;
  i32[table + 2 * slot] = hash;
  i32[table + 2 * slot + 1] = entry;
}

/** The slot that references `entry` (which must be in the table). */
export function slotOfEntry(
  i32: Int32Array,
  table: number,
  mask: number,
  hash: number,
  entry: number,
): number {
  let slot = hash & mask;
  while (i32[table + 2 * slot + 1] !== entry) slot = (slot + 1) & mask;
  return slot;
}

/**
 * Empties a slot and moves later members of its probe run back, so every
 * entry stays reachable from its home slot without passing an empty slot.
 */
export function clearSlot(
  i32: Int32Array,
  table: number,
  mask: number,
  slot: number,
): void {
  let hole = slot;
  let next = slot;
  for (;;) {
    next = (next + 1) & mask;
    const at = table + 2 * next;
    if (i32[at + 1] === 0) break;
    const home = i32[at] & mask;
    // Move the entry into the hole unless its home lies cyclically in (hole, next].
    const stays = hole <= next
      ? hole < home && home <= next
      : hole < home || home <= next;
    if (!stays) {
      i32[table + 2 * hole] = i32[at];
      i32[table + 2 * hole + 1] = i32[at + 1];
      hole = next;
    }
  }
  i32[table + 2 * hole] = 0;
  i32[table + 2 * hole + 1] = 0;
}

/** Fills an empty table with every entry of another. */
export function rehash(
  i32: Int32Array,
  from: TableRef,
  toOffset: number,
  toMask: number,
): void {
  const end = from.offset + 2 * (from.mask + 1);
  for (let at = from.offset; at < end; at += 2) {
    const entry = i32[at + 1];
    if (entry !== 0) placeEntry(i32, toOffset, toMask, i32[at], entry);
  }
}

/** Zeroes a table's slots. */
export function clearTable(
  views: MapViews,
  offset: number,
  slots: number,
): void {
  views.i32.fill(0, offset, offset + 2 * slots);
}
