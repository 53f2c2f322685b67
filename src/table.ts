/**
 * The index table of one copy of the map, and the format of its slots.
 *
 * A table is a power-of-two array of slots, probed linearly. Removal shifts
 * the following run back instead of leaving tombstones, so probe runs stay
 * short however many removals a table sees. A slot is one of:
 *
 * ```text
 * entry slots (2 words)    [hash, entry]          entry 0: free
 * inline, 1-word key       [key, value]           stride 2: int32/boolean to int32/boolean
 *                          [key, 0, value, value] stride 4: to number/bigint
 * inline, 2-word key       [key, key, value, 0]   stride 4: number/bigint keys
 *                          [key, key, value, value]
 * ```
 *
 * Entry slots point at an out-of-line entry (`entries.ts`) that holds the
 * key and value. Inline slots hold both: a one-word key is stored as its
 * hash (a bijection of the key, so the hash is the key), a two-word key as
 * its bits with the sign bit of the high word flipped. Either way the
 * stored key words of a free slot are all zero, and the one key whose
 * stored form is all zero (the "odd key") lives in its copy's descriptor
 * instead (`T_ODD`, `T_ODD_SLOT`).
 *
 * Readers only ever probe a table (through their view, `src/view/`); the
 * functions here that change a table run in the writer, on a copy no reader
 * can see.
 *
 * @module
 */

import { hashPair } from "./hash.ts";
import {
  copyWord,
  type MapViews,
  T_MASK,
  T_ODD,
  T_ODD_SLOT,
  T_OFFSET,
  T_SIZE,
} from "./layout.ts";

/**
 * A table grows when an insert would take it over this share of its slots.
 * Eight-byte slots put eight of a probe run in one cache line, so a fuller
 * table costs lookups little, and each percent saves memory twice: every
 * copy of the index has a table this size.
 */
export const MAX_LOAD = 0.8;
/** The smallest table. */
export const MIN_SLOTS = 8;

/** Entry slots: the word holding the key's hash. */
export const SLOT_HASH = 0;
/** Entry slots: the word holding the entry's offset (0 when free). */
export const SLOT_ENTRY = 1;
/** Inline slots: the first stored key word. */
export const SLOT_KEY = 0;

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
  return copyWord(copy, field);
}

/** How a map's slots are laid out (see the module doc). */
export class SlotFormat {
  /** Words per slot. */
  readonly stride: number;
  /** Stored key words of an inline slot: 1 or 2; 0 for entry slots. */
  readonly keyWords: number;
  /** Value words of an inline slot: 1 or 2; 0 for entry slots. */
  readonly valueWords: number;
  /** The word of an inline slot where the value starts. */
  readonly valueAt: number;
  readonly #seed: number;

  constructor(keyWords: number, valueWords: number, seed: number) {
    this.keyWords = keyWords;
    this.valueWords = valueWords;
    this.#seed = seed;
    this.stride = keyWords === 0 || (keyWords === 1 && valueWords === 1)
      ? 2
      : 4;
    this.valueAt = this.stride === 2 ? 1 : 2;
  }

  /** Whether slots hold keys and values themselves. */
  get inline(): boolean {
    return this.keyWords !== 0;
  }

  /** Whether the slot at word `at` is free. */
  isFree(i32: Int32Array, at: number): boolean {
    if (this.keyWords === 0) return i32[at + SLOT_ENTRY] === 0;
    if (this.keyWords === 1) return i32[at] === 0;
    return (i32[at] | i32[at + 1]) === 0;
  }

  /** The hash that places the (occupied) slot at word `at`. */
  hashAt(i32: Int32Array, at: number): number {
    return this.keyWords === 2
      ? hashPair(i32[at], i32[at + 1], this.#seed)
      : i32[at];
  }

  /** Whether the key stored in `image` (at `from`) is the odd key. */
  isOdd(image: ArrayLike<number>, from: number): boolean {
    if (this.keyWords === 1) return image[from] === 0;
    return this.keyWords === 2 && (image[from] | image[from + 1]) === 0;
  }

  /** Whether the slot at word `at` holds the key of `image` (at `from`). */
  sameKey(
    i32: Int32Array,
    at: number,
    image: ArrayLike<number>,
    from: number,
  ): boolean {
    if (this.keyWords === 0) {
      return i32[at + SLOT_ENTRY] === image[from + SLOT_ENTRY];
    }
    return i32[at] === image[from] &&
      (this.keyWords === 1 || i32[at + 1] === image[from + 1]);
  }
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

/** Word index of `copy`'s odd-key slot. */
export function oddSlot(copy: number): number {
  return descriptor(copy, T_ODD_SLOT);
}

/** Whether `copy` holds the odd key. */
export function holdsOdd(i32: Int32Array, copy: number): boolean {
  return i32[descriptor(copy, T_ODD)] !== 0;
}

/**
 * Puts the slot `image` (at `from`, `stride` words, whose key the table
 * lacks) into `copy`'s table: the first free slot of its probe run, or the
 * odd-key slot. Does not count it in the size.
 */
export function placeSlot(
  i32: Int32Array,
  format: SlotFormat,
  copy: number,
  image: ArrayLike<number>,
  from: number,
): void {
  const stride = format.stride;
  let at: number;
  if (format.isOdd(image, from)) {
    i32[descriptor(copy, T_ODD)] = 1;
    at = oddSlot(copy);
  } else {
    const table = i32[descriptor(copy, T_OFFSET)];
    const mask = i32[descriptor(copy, T_MASK)];
    let slot = homeSlot(format.hashAt(image as Int32Array, from), mask);
    while (!format.isFree(i32, table + stride * slot)) {
      slot = (slot + 1) & mask;
    }
    at = table + stride * slot;
  }
  for (let word = 0; word < stride; word++) i32[at + word] = image[from + word];
}

/**
 * Word index of the slot of `copy` that holds the key of `image` (at
 * `from`), which the copy must hold: the odd-key slot, or a table slot.
 */
export function slotHolding(
  i32: Int32Array,
  format: SlotFormat,
  copy: number,
  image: ArrayLike<number>,
  from: number,
): number {
  if (format.isOdd(image, from)) return oddSlot(copy);
  const table = i32[descriptor(copy, T_OFFSET)];
  const mask = i32[descriptor(copy, T_MASK)];
  const stride = format.stride;
  let slot = homeSlot(format.hashAt(image as Int32Array, from), mask);
  while (!format.sameKey(i32, table + stride * slot, image, from)) {
    slot = (slot + 1) & mask;
  }
  return table + stride * slot;
}

/**
 * Empties the slot at word `at` of `copy` (a table slot, or the odd-key
 * slot) and moves later members of its probe run back, so every key stays
 * reachable from its home slot without passing a free slot. Does not
 * change the size.
 */
export function clearSlot(
  i32: Int32Array,
  format: SlotFormat,
  copy: number,
  at: number,
): void {
  const stride = format.stride;
  if (at === oddSlot(copy)) {
    i32[descriptor(copy, T_ODD)] = 0;
    i32.fill(0, at, at + stride);
    return;
  }
  const table = i32[descriptor(copy, T_OFFSET)];
  const mask = i32[descriptor(copy, T_MASK)];
  const keyWords = format.keyWords;
  // The word that is zero in a free slot, and the word holding the hash
  // (two-word keys are hashed from their words instead).
  const freeWord = keyWords === 0 ? SLOT_ENTRY : 0;
  let hole = (at - table) / stride;
  let next = hole;
  for (;;) {
    next = (next + 1) & mask;
    const from = table + stride * next;
    if (
      i32[from + freeWord] === 0 && (keyWords !== 2 || i32[from + 1] === 0)
    ) break;
    const home = (keyWords === 2 ? format.hashAt(i32, from) : i32[from]) >>>
      Math.clz32(mask);
    // Move the slot into the hole unless its home lies cyclically in (hole, next].
    const stays = hole <= next
      ? hole < home && home <= next
      : hole < home || home <= next;
    if (!stays) {
      const to = table + stride * hole;
      for (let word = 0; word < stride; word++) {
        i32[to + word] = i32[from + word];
      }
      hole = next;
    }
  }
  const cleared = table + stride * hole;
  for (let word = 0; word < stride; word++) i32[cleared + word] = 0;
}

/** Fills an empty table with every slot of another, slots whole. */
export function rehash(
  i32: Int32Array,
  format: SlotFormat,
  from: TableRef,
  toOffset: number,
  toMask: number,
): void {
  const stride = format.stride;
  const end = from.offset + stride * (from.mask + 1);
  for (let at = from.offset; at < end; at += stride) {
    if (format.isFree(i32, at)) continue;
    let slot = homeSlot(format.hashAt(i32, at), toMask);
    while (!format.isFree(i32, toOffset + stride * slot)) {
      slot = (slot + 1) & toMask;
    }
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

/** Calls `fn` with the word index of every occupied slot of `copy`, the odd-key slot first. */
export function forEachSlot(
  i32: Int32Array,
  format: SlotFormat,
  copy: number,
  fn: (at: number) => void,
): void {
  if (format.inline && holdsOdd(i32, copy)) fn(oddSlot(copy));
  const table = readTable(i32, copy);
  const stride = format.stride;
  const end = table.offset + stride * (table.mask + 1);
  for (let at = table.offset; at < end; at += stride) {
    if (!format.isFree(i32, at)) fn(at);
  }
}

/** Copies `from`'s odd-key fields into `to`'s descriptor. */
export function copyOdd(i32: Int32Array, from: number, to: number): void {
  i32[descriptor(to, T_ODD)] = i32[descriptor(from, T_ODD)];
  i32.copyWithin(oddSlot(to), oddSlot(from), oddSlot(from) + 4);
}

/** Word index of `copy`'s size. */
export function sizeField(copy: number): number {
  return descriptor(copy, T_SIZE);
}
