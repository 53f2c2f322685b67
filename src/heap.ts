/**
 * The writer's allocator for entries and index tables inside the buffer.
 *
 * Its bookkeeping (the bump pointer and the free lists) lives in the
 * writer's own memory: only the writer allocates, and readers never need it.
 * A block is handed back here only when no table references it and no guard
 * can reach it, so whatever is free may be reused at once.
 *
 * @module
 */

import { BufferFullError } from "./errors.ts";
import { H_BUFFER_WORDS, type MapViews } from "./layout.ts";

/** The buffer grows in steps of at least this many bytes. */
const GROWTH_STEP_BYTES = 64 * 1024;

/**
 * Rounds a request up to its size class: exact below 64 words, then
 * eight classes per power of two, so a freed block fits many later requests
 * and no block wastes more than an eighth of itself.
 */
export function sizeClass(words: number): number {
  if (words <= 64) return (words + 1) & ~1;
  const step = 2 ** (Math.floor(Math.log2(words)) - 3);
  return Math.ceil(words / step) * step;
}

/** Bump allocation with exact-size free lists, growing the buffer on demand. */
export class Heap {
  readonly #views: MapViews;
  readonly #maxBytes: number;
  #top: number;
  readonly #free = new Map<number, number[]>();

  /**
   * @param views The writer's views; remapped here when the buffer grows.
   * @param start The first heap word (even).
   * @param maxBytes The buffer's size limit.
   */
  constructor(views: MapViews, start: number, maxBytes: number) {
    this.#views = views;
    this.#top = start;
    this.#maxBytes = maxBytes;
  }

  /** Words from the heap's start to its highest allocated word. */
  get top(): number {
    return this.#top;
  }

  /**
   * Allocates a block of at least `words` words (an even word index), or
   * throws {@linkcode BufferFullError} and changes nothing.
   */
  alloc(words: number, purpose: string): number {
    const size = sizeClass(words);
    const reused = this.#free.get(size)?.pop();
    if (reused !== undefined) return reused;
    const at = this.#top;
    this.#ensure(at + size, purpose);
    this.#top = at + size;
    return at;
  }

  /** Hands a block back for reuse. */
  free(at: number, words: number): void {
    const size = sizeClass(words);
    let list = this.#free.get(size);
    if (list === undefined) this.#free.set(size, list = []);
    list.push(at);
  }

  #ensure(endWords: number, purpose: string): void {
    const views = this.#views;
    if (endWords <= views.words) return;
    const needed = endWords * 4;
    if (needed > this.#maxBytes) {
      throw new BufferFullError(
        `Cannot ${purpose}: the map would need ${needed} bytes, over its maxBytes of ${this.#maxBytes}`,
      );
    }
    const current = views.buffer.byteLength;
    const wanted = Math.max(needed, current * 2, current + GROWTH_STEP_BYTES);
    const rounded = Math.ceil(wanted / GROWTH_STEP_BYTES) * GROWTH_STEP_BYTES;
    views.buffer.grow(Math.min(rounded, this.#maxBytes));
    views.remap();
    views.i32[H_BUFFER_WORDS] = views.words;
  }
}
