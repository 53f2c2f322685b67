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

/**
 * Bump allocation with free lists per size, merging neighbouring free blocks.
 *
 * A request takes a free block of its exact size class if there is one, else
 * the top of the heap while the buffer has room; only when the buffer would
 * have to grow does it split the first free block that is large enough.
 * Freed blocks merge with free neighbours, and a free block at the top
 * lowers the top, so a failed operation that hands back what it took leaves
 * the heap as it found it.
 *
 * A free block is unreachable by readers, so it carries its own boundary
 * tags: its first word holds its size, its last word its start. Two bitmaps
 * in the writer's memory (one bit per two words) mark where free blocks start
 * and end, so merging needs no search.
 */
export class Heap {
  readonly #views: MapViews;
  readonly #maxBytes: number;
  #top: number;
  /** Bit `w / 2`: a free block starts at word `w`. */
  #starts: Uint32Array;
  /** Bit `w / 2`: a free block ends just before word `w`. */
  #ends: Uint32Array;
  /** Starts of free blocks by size; entries whose block merged away are skipped. */
  #bySize = new Map<number, number[]>();
  /** Entries of `#bySize` that may no longer be free blocks. */
  #stale = 0;
  #freeBlocks = 0;
  #freeWords = 0;

  /**
   * @param views The writer's views; remapped here when the buffer grows.
   * @param start The first heap word (even).
   * @param maxBytes The buffer's size limit.
   */
  constructor(views: MapViews, start: number, maxBytes: number) {
    this.#views = views;
    this.#top = start;
    this.#maxBytes = maxBytes;
    this.#starts = new Uint32Array(bitmapWords(views.words));
    this.#ends = new Uint32Array(bitmapWords(views.words));
  }

  /** One past the highest allocated word. */
  get top(): number {
    return this.#top;
  }

  /** Words held in free blocks. */
  get freeWords(): number {
    return this.#freeWords;
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
      if (this.#isFree(at, size)) {
        this.#unlist(at, size);
        return at;
      }
      this.#stale--;
    }
    const at = this.#top;
    if (at + size <= this.#views.words) {
      this.#top = at + size;
      return at;
    }
    const found = this.#firstFit(size);
    if (found >= 0) {
      const free = this.#views.i32[found];
      this.#unlist(found, free);
      if (free > size) this.#list(found + size, free - size);
      return found;
    }
    this.#ensure(at + size, purpose);
    this.#top = at + size;
    return at;
  }

  /** Hands back a block of `words` words, as allocated. */
  free(at: number, words: number): void {
    const i32 = this.#views.i32;
    let start = at;
    let size = sizeClass(words);
    if (testBit(this.#starts, start + size)) {
      const after = i32[start + size];
      this.#unlist(start + size, after);
      this.#stale++; // it stays in its list until popped or relisted
      size += after;
    }
    if (testBit(this.#ends, start)) {
      const before = i32[start - 1];
      const beforeSize = i32[before];
      this.#unlist(before, beforeSize);
      this.#stale++;
      start = before;
      size += beforeSize;
    }
    if (start + size === this.#top) this.#top = start;
    else this.#list(start, size);
  }

  #isFree(start: number, size: number): boolean {
    return testBit(this.#starts, start) && this.#views.i32[start] === size;
  }

  /**
   * Takes the first listed free block of at least `size` words off its list
   * (dropping stale entries and empty lists on the way); -1 if there is none.
   */
  #firstFit(size: number): number {
    for (const [free, list] of this.#bySize) {
      if (free < size) continue;
      while (list.length > 0) {
        const at = list.pop()!;
        if (this.#isFree(at, free)) return at;
        this.#stale--;
      }
      this.#bySize.delete(free);
    }
    return -1;
  }

  #list(start: number, size: number): void {
    const i32 = this.#views.i32;
    i32[start] = size;
    i32[start + size - 1] = start;
    setBit(this.#starts, start, true);
    setBit(this.#ends, start + size, true);
    this.#freeBlocks++;
    this.#freeWords += size;
    let list = this.#bySize.get(size);
    if (list === undefined) this.#bySize.set(size, list = []);
    list.push(start);
  }

  #unlist(start: number, size: number): void {
    setBit(this.#starts, start, false);
    setBit(this.#ends, start + size, false);
    this.#freeBlocks--;
    this.#freeWords -= size;
    if (this.#stale > 4096 && this.#stale > 2 * this.#freeBlocks) {
      this.#relist();
    }
  }

  /** Rebuilds the lists from the bitmap, so merged-away entries do not pile up. */
  #relist(): void {
    const i32 = this.#views.i32;
    const starts = this.#starts;
    this.#bySize = new Map();
    for (let index = 0; index < starts.length; index++) {
      let bits = starts[index];
      while (bits !== 0) {
        const bit = 31 - Math.clz32(bits);
        bits ^= 1 << bit;
        const start = (index * 32 + bit) * 2;
        const size = i32[start];
        let list = this.#bySize.get(size);
        if (list === undefined) this.#bySize.set(size, list = []);
        list.push(start);
      }
    }
    this.#stale = 0;
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
    this.#starts = grownBitmap(this.#starts, views.words);
    this.#ends = grownBitmap(this.#ends, views.words);
  }
}

/** 32-bit words of a bitmap with one bit per two heap words (and one to spare). */
function bitmapWords(heapWords: number): number {
  return (heapWords >>> 6) + 2;
}

function grownBitmap(bitmap: Uint32Array, heapWords: number): Uint32Array {
  const grown = new Uint32Array(bitmapWords(heapWords));
  grown.set(bitmap);
  return grown;
}

/** Whether the bit of (even) word `word` is set; words past the map read as clear. */
function testBit(bitmap: Uint32Array, word: number): boolean {
  const bit = word >>> 1;
  return ((bitmap[bit >>> 5] >>> (bit & 31)) & 1) === 1;
}

function setBit(bitmap: Uint32Array, word: number, on: boolean): void {
  const bit = word >>> 1;
  if (on) bitmap[bit >>> 5] |= 1 << (bit & 31);
  else bitmap[bit >>> 5] &= ~(1 << (bit & 31));
}
