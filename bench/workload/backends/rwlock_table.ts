/**
 * The baseline a JS developer would write by hand: an open-addressing hash
 * table of int32 keys and values in a SharedArrayBuffer, behind a
 * readers-writer lock built on `Atomics.wait` / `notify`. Readers share the
 * lock word (one CAS to enter, one subtract to leave); the writer excludes
 * everybody. Keys must be non-negative (`EMPTY` is -1).
 *
 * Lock word: bits 0-29 count readers, `WRITER` marks the writer inside,
 * `WAITING` a writer waiting (which keeps new readers out, so that a stream
 * of readers cannot starve it).
 *
 * @module
 */

const WRITER = 1 << 30;
const WAITING = 1 << 29;
const READERS = WAITING - 1;
const EMPTY = -1;
/** Header words: the lock on a line of its own, then the mask and the size. */
const LOCK = 0;
const MASK = 32;
const SIZE = 33;
const TABLE = 64;

/** The shared table; construct it on the buffer in every thread. */
export class SharedTable {
  readonly words: Int32Array;
  readonly #mask: number;

  constructor(buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer);
    this.#mask = this.words[MASK];
  }

  /** A new table for up to `entries` entries at a load factor of at most 1/2. */
  static create(entries: number): SharedTable {
    let slots = 16;
    while (slots < 2 * entries) slots *= 2;
    const buffer = new SharedArrayBuffer((TABLE + 2 * slots) * 4);
    const words = new Int32Array(buffer);
    words.fill(EMPTY, TABLE);
    words[MASK] = slots - 1;
    return new SharedTable(buffer);
  }

  get buffer(): SharedArrayBuffer {
    return this.words.buffer as SharedArrayBuffer;
  }

  readLock(): void {
    const w = this.words;
    for (;;) {
      const state = Atomics.load(w, LOCK);
      if ((state & (WRITER | WAITING)) === 0) {
        if (Atomics.compareExchange(w, LOCK, state, state + 1) === state) {
          return;
        }
      } else {
        Atomics.wait(w, LOCK, state);
      }
    }
  }

  readUnlock(): void {
    // The last reader out wakes a waiting writer.
    if (Atomics.sub(this.words, LOCK, 1) - 1 === WAITING) {
      Atomics.notify(this.words, LOCK);
    }
  }

  writeLock(): void {
    const w = this.words;
    Atomics.or(w, LOCK, WAITING);
    for (;;) {
      const state = Atomics.load(w, LOCK);
      if ((state & (READERS | WRITER)) === 0) {
        if (Atomics.compareExchange(w, LOCK, state, WRITER) === state) return;
      } else {
        Atomics.wait(w, LOCK, state);
      }
    }
  }

  writeUnlock(): void {
    Atomics.and(this.words, LOCK, ~WRITER);
    Atomics.notify(this.words, LOCK);
  }

  #slot(key: number): number {
    return (Math.imul(key, 0x9e3779b1) >>> 7) & this.#mask;
  }

  /** The value of `key`, or -1; call under a lock. */
  get(key: number): number {
    const w = this.words;
    const mask = this.#mask;
    for (let slot = this.#slot(key);; slot = (slot + 1) & mask) {
      const at = TABLE + 2 * slot;
      const found = w[at];
      if (found === key) return w[at + 1];
      if (found === EMPTY) return -1;
    }
  }

  /** Inserts or overwrites; call under the write lock. */
  set(key: number, value: number): void {
    const w = this.words;
    const mask = this.#mask;
    for (let slot = this.#slot(key);; slot = (slot + 1) & mask) {
      const at = TABLE + 2 * slot;
      if (w[at] === key) {
        w[at + 1] = value;
        return;
      }
      if (w[at] === EMPTY) {
        if (w[SIZE] + 1 > (mask + 1) * 0.75) throw new RangeError("table full");
        w[at] = key;
        w[at + 1] = value;
        w[SIZE]++;
        return;
      }
    }
  }

  /** Removes `key` with backward-shift deletion (no tombstones); call under the write lock. */
  delete(key: number): boolean {
    const w = this.words;
    const mask = this.#mask;
    let hole = this.#slot(key);
    for (;; hole = (hole + 1) & mask) {
      const found = w[TABLE + 2 * hole];
      if (found === EMPTY) return false;
      if (found === key) break;
    }
    for (let next = (hole + 1) & mask;; next = (next + 1) & mask) {
      const at = TABLE + 2 * next;
      const moved = w[at];
      if (moved === EMPTY) break;
      const home = this.#slot(moved);
      // Move the entry back when its home is not within (hole, next].
      if (((next - home) & mask) >= ((next - hole) & mask)) {
        w[TABLE + 2 * hole] = moved;
        w[TABLE + 2 * hole + 1] = w[at + 1];
        hole = next;
      }
    }
    w[TABLE + 2 * hole] = EMPTY;
    w[SIZE]--;
    return true;
  }

  get size(): number {
    return this.words[SIZE];
  }
}
