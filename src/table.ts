/**
 * Open addressing over one copy of the map: a power-of-two array of slots,
 * each `[hash, entry]`, or `[hash, entry, value, value]` for maps of
 * word-sized values (entry 0 marks an empty slot), probed linearly.
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
  COPIES_START,
  COPY_WORDS,
  type MapViews,
  T_MASK,
  T_OFFSET,
  T_SIZE,
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

/**
 * The slot where a probe for `hash` starts: the hash's top bits, as many as
 * the table has slots (tables have at least {@linkcode MIN_SLOTS}, so the
 * shift is never 32). The top bits of a product are its best mixed, which
 * lets int32 keys hash with one multiply.
 */
export function homeSlot(hash: number, mask: number): number {
  return hash >>> Math.clz32(mask);
}

/** Word index of the descriptor field `field` of copy `copy`'s table. */
export function descriptor(copy: number, field: number): number {
  return COPIES_START + COPY_WORDS * copy + field;
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

/**
 * Puts an entry into the first free slot of its probe run. With a stride of
 * four words the slot also carries the entry's value (`low`, `high`), so a
 * reader of a word-sized value never has to visit the entry.
 */
export function placeEntry(
  i32: Int32Array,
  table: number,
  mask: number,
  stride: number,
  hash: number,
  entry: number,
  low: number,
  high: number,
): void {
  let slot = homeSlot(hash, mask);
  while (i32[table + stride * slot + 1] !== 0) slot = (slot + 1) & mask;
  const at = table + stride * slot;
  i32[at] = hash;
  i32[at + 1] = entry;
  if (stride === 4) {
    i32[at + 2] = low;
    i32[at + 3] = high;
  }
}

/** The slot that references `entry` (which must be in the table). */
export function slotOfEntry(
  i32: Int32Array,
  table: number,
  mask: number,
  stride: number,
  hash: number,
  entry: number,
): number {
  let slot = homeSlot(hash, mask);
  while (i32[table + stride * slot + 1] !== entry) slot = (slot + 1) & mask;
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
  stride: number,
  slot: number,
): void {
  let hole = slot;
  let next = slot;
  for (;;) {
    next = (next + 1) & mask;
    const at = table + stride * next;
    if (i32[at + 1] === 0) break;
    const home = homeSlot(i32[at], mask);
    // Move the entry into the hole unless its home lies cyclically in (hole, next].
    const stays = hole <= next
      ? hole < home && home <= next
      : hole < home || home <= next;
    if (!stays) {
      const to = table + stride * hole;
      for (let word = 0; word < stride; word++) i32[to + word] = i32[at + word];
      hole = next;
    }
  }
  const cleared = table + stride * hole;
  for (let word = 0; word < stride; word++) i32[cleared + word] = 0;
}

/** Fills an empty table with every entry of another, slots whole. */
export function rehash(
  i32: Int32Array,
  from: TableRef,
  toOffset: number,
  toMask: number,
  stride: number,
): void {
  const end = from.offset + stride * (from.mask + 1);
  for (let at = from.offset; at < end; at += stride) {
    if (i32[at + 1] === 0) continue;
    let slot = homeSlot(i32[at], toMask);
    while (i32[toOffset + stride * slot + 1] !== 0) slot = (slot + 1) & toMask;
    const to = toOffset + stride * slot;
    for (let word = 0; word < stride; word++) i32[to + word] = i32[at + word];
  }
}

/** Zeroes a table's slots. */
export function clearTable(
  views: MapViews,
  offset: number,
  slots: number,
  stride: number,
): void {
  views.i32.fill(0, offset, offset + stride * slots);
}
