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

/** Words in a 64-byte cache line. */
export const LINE_WORDS = 16;

/** The buffer grows in steps of at least this many bytes. */
const GROWTH_STEP_BYTES = 64 * 1024;
/**
 * Beyond what a request needs, the buffer grows by this share of its size:
 * enough that a map filled one entry at a time grows it a few hundred
 * times on its way to a gigabyte, not at every step, while the memory it
 * reserves stays within 1/16 of what it uses (doubling left up to half
 * the buffer unused).
 */
const GROWTH_SLACK = 1 / 16;

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

/**
 * Bump allocation with free lists per size, merging neighbouring free blocks.
 *
 * A request takes a free block of its exact size class if there is one, else
 * the top of the heap while the buffer has room; only when the buffer would
 * have to grow does it split the first free block that is large enough.
 * Freed blocks merge with free neighbours, and a free block at the top
 * lowers the top, so a failed operation that hands back what it took leaves
 * the heap as it found it.
 */
export class Heap {
  readonly #views: MapViews;
  readonly #maxBytes: number;
  #top: number;
  /** Free blocks: start -> size, and end -> start. */
  readonly #freeAt = new Map<number, number>();
  readonly #freeEnding = new Map<number, number>();
  /**
   * Words promised to an allocation to come (the next copy of a grown
   * index): other allocations may not take the buffer so close to
   * `maxBytes` that it would no longer fit.
   */
  #promised = 0;
  /** Starts of free blocks by size; entries whose block merged away are skipped. */
  #bySize = new Map<number, number[]>();
  /** Entries of `#bySize` that may no longer be free blocks. */
  #stale = 0;

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

  /** One past the highest allocated word. */
  get top(): number {
    return this.#top;
  }

  /** Words held in free blocks. */
  get freeWords(): number {
    let words = 0;
    for (const size of this.#freeAt.values()) words += size;
    return words;
  }

  /**
   * Promises `words` words to a later {@linkcode allocAligned} with
   * `promised` set (replacing any earlier promise): from now on other
   * allocations leave room for it below `maxBytes`. Throws
   * {@linkcode BufferFullError} and changes nothing when the heap cannot
   * keep the promise.
   */
  promise(words: number, purpose: string): void {
    this.#checkLimit(this.#top + sizeClass(words) + LINE_WORDS, purpose, 0);
    this.#promised = sizeClass(words) + LINE_WORDS;
  }

  /**
   * Allocates a block of at least `words` words (an even word index), or
   * throws {@linkcode BufferFullError} and changes nothing.
   */
  alloc(words: number, purpose: string): number {
    const size = sizeClass(words);
    const list = this.#bySize.get(size);
    while (list !== undefined && list.length > 0) {
      const at = list.pop()!;
      if (this.#freeAt.get(at) === size) {
        this.#unlist(at, size);
        return at;
      }
    }
    const at = this.#top;
    if (at + size <= this.#views.words && this.#keepsPromise(at + size)) {
      this.#top = at + size;
      return at;
    }
    for (const [start, free] of this.#freeAt) {
      if (free < size) continue;
      this.#unlist(start, free);
      if (free > size) this.#list(start + size, free - size);
      return start;
    }
    this.#ensure(at + size, purpose);
    this.#top = at + size;
    return at;
  }

  /**
   * Allocates a block of at least `words` words that starts on a cache line
   * (a multiple of {@linkcode LINE_WORDS}), for index tables: a 16-byte
   * slot then never straddles two lines. What is skipped to reach the line
   * stays free. With `promised`, it is the allocation an earlier
   * {@linkcode promise} kept room for. Throws {@linkcode BufferFullError}
   * and changes nothing.
   */
  allocAligned(words: number, purpose: string, promised = false): number {
    if (!promised) return this.#allocAligned(words, purpose);
    const promise = this.#promised;
    this.#promised = 0;
    try {
      return this.#allocAligned(words, purpose);
    } catch (error) {
      this.#promised = promise;
      throw error;
    }
  }

  #allocAligned(words: number, purpose: string): number {
    const size = sizeClass(words);
    const align = (at: number) => Math.ceil(at / LINE_WORDS) * LINE_WORDS;
    const top = this.#top;
    const fromTop = align(top);
    if (
      fromTop + size <= this.#views.words && this.#keepsPromise(fromTop + size)
    ) {
      return this.#takeTop(top, fromTop, size);
    }
    for (const [start, free] of this.#freeAt) {
      const at = align(start);
      if (at + size > start + free) continue;
      this.#unlist(start, free);
      if (at > start) this.#list(start, at - start);
      if (at + size < start + free) {
        this.#list(at + size, start + free - at - size);
      }
      return at;
    }
    this.#ensure(fromTop + size, purpose);
    return this.#takeTop(top, fromTop, size);
  }

  #takeTop(top: number, at: number, size: number): number {
    if (at > top) this.#list(top, at - top);
    this.#top = at + size;
    return at;
  }

  /** Hands back a block of `words` words, as allocated. */
  free(at: number, words: number): void {
    let start = at;
    let size = sizeClass(words);
    const after = this.#freeAt.get(start + size);
    if (after !== undefined) {
      this.#unlist(start + size, after);
      size += after;
    }
    const before = this.#freeEnding.get(start);
    if (before !== undefined) {
      const beforeSize = this.#freeAt.get(before)!;
      this.#unlist(before, beforeSize);
      start = before;
      size += beforeSize;
    }
    if (start + size === this.#top) this.#top = start;
    else this.#list(start, size);
  }

  #list(start: number, size: number): void {
    this.#freeAt.set(start, size);
    this.#freeEnding.set(start + size, start);
    let list = this.#bySize.get(size);
    if (list === undefined) this.#bySize.set(size, list = []);
    list.push(start);
  }

  #unlist(start: number, size: number): void {
    this.#freeAt.delete(start);
    this.#freeEnding.delete(start + size);
    if (++this.#stale > 4096 && this.#stale > 2 * this.#freeAt.size) {
      // Rebuild the lists so that merged-away entries do not pile up.
      this.#bySize = new Map();
      for (const [at, free] of this.#freeAt) {
        let list = this.#bySize.get(free);
        if (list === undefined) this.#bySize.set(free, list = []);
        list.push(at);
      }
      this.#stale = 0;
    }
  }

  /** Whether the heap may reach word `endWords` and still keep its promise. */
  #keepsPromise(endWords: number): boolean {
    return (endWords + this.#promised) * 4 <= this.#maxBytes;
  }

  /** Throws unless the heap may reach word `endWords` with `promised` words still to come. */
  #checkLimit(endWords: number, purpose: string, promised: number): void {
    const needed = (endWords + promised) * 4;
    if (needed > this.#maxBytes) {
      throw new BufferFullError(
        `Cannot ${purpose}: the map would need ${needed} bytes, over its maxBytes of ${this.#maxBytes}`,
      );
    }
  }

  #ensure(endWords: number, purpose: string): void {
    const views = this.#views;
    this.#checkLimit(endWords, purpose, this.#promised);
    if (endWords <= views.words) return;
    const needed = endWords * 4;
    const current = views.buffer.byteLength;
    const wanted = Math.max(
      needed + current * GROWTH_SLACK,
      current + GROWTH_STEP_BYTES,
    );
    const rounded = Math.ceil(wanted / GROWTH_STEP_BYTES) * GROWTH_STEP_BYTES;
    views.buffer.grow(Math.min(rounded, this.#maxBytes));
    views.remap();
    views.i32[H_BUFFER_WORDS] = views.words;
  }
}
