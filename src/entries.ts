/**
 * Entries as the writer sees them: where they sit in a copy's table, and
 * how many tables hold them. An entry is stored once and referenced by
 * every copy of the index; its meta word counts the copies whose tables
 * hold it (or will, once the logs are replayed onto them), and the last
 * table to let it go frees its memory.
 *
 * @module
 */

import type { Heap } from "./heap.ts";
import { E_META, LINK_BITS, type MapViews } from "./layout.ts";
import type { EntryLinks } from "./oplog.ts";

const LINK_MASK = (1 << LINK_BITS) - 1;

/** The meta word of a new entry of `words` words that `links` copies will hold. */
export function entryMeta(words: number, links: number): number {
  return (words << LINK_BITS) | links;
}

/** How many table slots point at each out-of-line entry, and freeing it after the last. */
export class EntryStore implements EntryLinks {
  readonly #views: MapViews;
  readonly #heap: Heap;

  constructor(views: MapViews, heap: Heap) {
    this.#views = views;
    this.#heap = heap;
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
