/**
 * Entries as the writer sees them: where they sit in a copy's table, and
 * how many tables hold them. An entry is stored once and referenced by
 * every copy of the index; its meta word counts the copies whose tables
 * hold it (or will, once the logs are replayed onto them), and the last
 * table to let it go frees its memory.
 *
 * @module
 */

import type { MapContext } from "./context.ts";
import type { Heap } from "./heap.ts";
import {
  E_HASH,
  E_KEY,
  E_META,
  E_VALUE_LENGTH,
  ENTRY_HEADER_WORDS,
  LINK_BITS,
  type MapViews,
} from "./layout.ts";
import { placeEntry } from "./table.ts";

const LINK_MASK = (1 << LINK_BITS) - 1;

/** The meta word of a new entry of `words` words that `links` copies will hold. */
export function entryMeta(words: number, links: number): number {
  return (words << LINK_BITS) | links;
}

/** The writer's operations on entries and on the slots that point at them. */
export class EntryStore<K, V> {
  readonly #context: MapContext<K, V>;
  readonly #views: MapViews;
  readonly #heap: Heap;

  constructor(context: MapContext<K, V>, views: MapViews, heap: Heap) {
    this.#context = context;
    this.#views = views;
    this.#heap = heap;
  }

  /** Puts an entry into a table, with its value words when slots keep them. */
  place(table: number, mask: number, entry: number): void {
    const i32 = this.#views.i32;
    placeEntry(
      i32,
      table,
      mask,
      this.#context.stride,
      i32[entry + E_HASH],
      entry,
      this.#slotWord(entry, 0),
      this.#slotWord(entry, 1),
    );
  }

  /** Points the slot at word `at` to `entry` (same key), value words included. */
  fill(at: number, entry: number): void {
    const i32 = this.#views.i32;
    i32[at + 1] = entry;
    if (this.#context.stride !== 4) return;
    i32[at + 2] = this.#slotWord(entry, 0);
    i32[at + 3] = this.#slotWord(entry, 1);
  }

  /** Word `which` of the value copy a slot keeps (0 when slots keep none). */
  #slotWord(entry: number, which: 0 | 1): number {
    if (this.#context.stride !== 4) return 0;
    const views = this.#views;
    const i32 = views.i32;
    const { keys, values } = this.#context;
    const data = entry + ENTRY_HEADER_WORDS +
      keys.storedWords(i32[entry + E_KEY]);
    return values.slotWord(views, data, i32[entry + E_VALUE_LENGTH], which);
  }

  /** One table let go of an entry; the last one to do so frees it. */
  unlink(entry: number): void {
    const i32 = this.#views.i32;
    const meta = i32[entry + E_META] - 1;
    i32[entry + E_META] = meta;
    if ((meta & LINK_MASK) === 0) this.#heap.free(entry, meta >>> LINK_BITS);
  }

  /** A table took an entry (back): an undone removal, or a copied table. */
  relink(entry: number): void {
    this.#views.i32[entry + E_META]++;
  }

  /** Frees an entry that no table and no reader can reach. */
  discard(entry: number): void {
    this.#heap.free(entry, this.#views.i32[entry + E_META] >>> LINK_BITS);
  }
}
