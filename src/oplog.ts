/**
 * The writer's operation log: what one write guard did, as typed records,
 * and how one operation is applied to one copy of the index (left-right's
 * "absorb"). Once published, a log is replayed forwards onto each retired
 * copy that the writer brings up to date; while its guard is live it can be
 * undone backwards on the write copy, when the guard aborts.
 *
 * A record is `[op, added slot, dropped slot]`: the slot images (see
 * `table.ts`) that the operation put into the table and took out of it,
 * `stride` words each (zero words where there is none).
 *
 * @module
 */

import type { MapViews } from "./layout.ts";
import {
  clearSlot,
  placeSlot,
  sizeField,
  SLOT_ENTRY,
  type SlotFormat,
  slotHolding,
} from "./table.ts";

/** A key that was absent got a slot. */
export const OP_INSERT = 1;
/** A key's slot got a new value (a new entry, or new inline value words). */
export const OP_REPLACE = 2;
/** A key left the table. */
export const OP_REMOVE = 3;

/** The most words a cleared log keeps for reuse. */
const RETAINED_WORDS = 1 << 17;
/** The words a new log starts with. */
const INITIAL_WORDS = 256;

/**
 * What happens to out-of-line entries as slots that point at them come
 * and go (`EntryStore`); maps with inline slots have none.
 */
export interface EntryLinks {
  /** One table let go of `entry`; the last one to do so frees it. */
  unlink(entry: number): void;
  /** A table took `entry` (back). */
  relink(entry: number): void;
  /** Frees `entry`, which no table and no reader can reach. */
  discard(entry: number): void;
}

/** The operations of one write guard. */
export class OpLog {
  readonly #format: SlotFormat;
  readonly #record: number;
  #words = new Int32Array(INITIAL_WORDS);
  #end = 0;
  /** Once published: the version the operations took the map from. */
  version = 0;

  constructor(format: SlotFormat) {
    this.#format = format;
    this.#record = 1 + 2 * format.stride;
  }

  /** Whether the log holds no operation. */
  get empty(): boolean {
    return this.#end === 0;
  }

  /** Operations logged. */
  get length(): number {
    return this.#end / this.#record;
  }

  /**
   * Logs an operation: `added` and `dropped` are slot images at `from`
   * (`null` for none).
   */
  log(
    op: number,
    added: ArrayLike<number> | null,
    addedFrom: number,
    dropped: ArrayLike<number> | null,
    droppedFrom: number,
  ): void {
    const stride = this.#format.stride;
    let end = this.#end;
    if (end + this.#record > this.#words.length) this.#grow();
    const words = this.#words;
    words[end++] = op;
    for (let word = 0; word < stride; word++) {
      words[end++] = added === null ? 0 : added[addedFrom + word];
    }
    for (let word = 0; word < stride; word++) {
      words[end++] = dropped === null ? 0 : dropped[droppedFrom + word];
    }
    this.#end = end;
  }

  /** Doubles the room for records. */
  #grow(): void {
    const words = new Int32Array(2 * this.#words.length);
    words.set(this.#words.subarray(0, this.#end));
    this.#words = words;
  }

  clear(): void {
    // A large buffer is let go rather than kept for the next guard.
    if (this.#words.length > RETAINED_WORDS) {
      this.#words = new Int32Array(INITIAL_WORDS);
    }
    this.#end = 0;
    this.version = 0;
  }

  /** Calls `fn` with each entry the operations created (entry slots only). */
  forEachAdded(fn: (entry: number) => void): void {
    if (this.#format.inline) return;
    const words = this.#words;
    for (let at = 0; at < this.#end; at += this.#record) {
      if (words[at] !== OP_REMOVE) fn(words[at + 1 + SLOT_ENTRY]);
    }
  }

  /**
   * Applies the log to `copy`, which no reader can see and which lacks
   * exactly these operations. Entries that `copy` lets go of, and that no
   * other copy holds or will hold, are freed.
   */
  replay(views: MapViews, links: EntryLinks | null, copy: number): void {
    const words = this.#words;
    const record = this.#record;
    for (let at = 0; at < this.#end; at += record) {
      absorb(views.i32, this.#format, links, copy, words, at);
    }
  }

  /**
   * Takes every logged operation back out of `copy`, newest first, so that
   * it holds what it held when the log was last empty, then clears the log.
   * Entries the operations created are freed; entries they dropped are
   * linked again.
   */
  undo(views: MapViews, links: EntryLinks | null, copy: number): void {
    const words = this.#words;
    for (let at = this.#end - this.#record; at >= 0; at -= this.#record) {
      revert(views.i32, this.#format, links, copy, words, at);
    }
    this.clear();
  }
}

/** Applies the record at `at` of `words` to `copy`. */
export function absorb(
  i32: Int32Array,
  format: SlotFormat,
  links: EntryLinks | null,
  copy: number,
  words: ArrayLike<number>,
  at: number,
): void {
  const op = words[at];
  const added = at + 1;
  const dropped = added + format.stride;
  if (op === OP_INSERT) {
    placeSlot(i32, format, copy, words, added);
    i32[sizeField(copy)]++;
    return;
  }
  const slot = slotHolding(i32, format, copy, words, dropped);
  if (op === OP_REPLACE) {
    for (let word = 0; word < format.stride; word++) {
      i32[slot + word] = words[added + word];
    }
  } else {
    clearSlot(i32, format, copy, slot);
    i32[sizeField(copy)]--;
  }
  links?.unlink(words[dropped + SLOT_ENTRY]);
}

/** Takes the record at `at` of `words` back out of `copy`, which holds it. */
function revert(
  i32: Int32Array,
  format: SlotFormat,
  links: EntryLinks | null,
  copy: number,
  words: ArrayLike<number>,
  at: number,
): void {
  const op = words[at];
  const added = at + 1;
  const dropped = added + format.stride;
  if (op === OP_REMOVE) {
    placeSlot(i32, format, copy, words, dropped);
    i32[sizeField(copy)]++;
    links?.relink(words[dropped + SLOT_ENTRY]);
    return;
  }
  const slot = slotHolding(i32, format, copy, words, added);
  if (op === OP_REPLACE) {
    for (let word = 0; word < format.stride; word++) {
      i32[slot + word] = words[dropped + word];
    }
    links?.relink(words[dropped + SLOT_ENTRY]);
  } else {
    clearSlot(i32, format, copy, slot);
    i32[sizeField(copy)]--;
  }
  links?.discard(words[added + SLOT_ENTRY]);
}
