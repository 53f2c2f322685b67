/**
 * The read path of maps with string keys (`codecs.string`), whatever their
 * values: hashing, probing, comparing and reading written out for strings,
 * and a bounded per-thread cache of the strings a program looks up again
 * and again (see {@linkcode StringView}).
 *
 * @module
 */

import { hashString } from "../hash.ts";
import {
  E_KEY,
  E_VALUE_LENGTH,
  ENTRY_HEADER_WORDS,
  type MapViews,
  T_MASK,
  T_OFFSET,
} from "../layout.ts";
import {
  BigIntValues,
  BooleanValues,
  Int32Values,
  NumberValues,
  readUtf16,
  StringValues,
  typeError,
  type ValueStorage,
} from "../storage.ts";
import { descriptor } from "../table.ts";
import {
  VALUE_BIGINT,
  VALUE_BOOLEAN,
  VALUE_INT32,
  VALUE_NUMBER,
  type View,
  VIEW_STRING,
} from "./view.ts";

/** String values: read from the entry, and cached whole when short. */
const VALUE_STRING = 5;
/** Values read through their storage: JSON, bytes, user codecs. */
const VALUE_STORED = 0;

/** Keys the cache holds at most (a power of two). */
export const CACHE_KEYS = 16384;
/** The longest key the cache takes, in UTF-16 code units. */
export const CACHE_KEY_LENGTH = 64;
/** Records a new view starts with: they double as keys are admitted. */
const FIRST_RECORDS = 256;
/** Keys longer than this get scratch space for their lookup only. */
const LONG_KEY = 1 << 14;
/** Consultations of the cache per decision whether it pays. */
const WINDOW = 256;
/**
 * While the cache does not pay, it is consulted only for the keys whose
 * hash is 0 modulo this (after their uncached lookup), with this much less
 * room: a miniature of the cache that tells whether the whole would pay.
 */
const SAMPLE = 256;
/**
 * Windows the cache is consulted in whatever it saves, when a view is new
 * or the miniature says the cache would pay, so that a working set it can
 * hold is in it before its hit rate is weighed.
 */
const GRACE = 256;
/**
 * Sightings of a key (misses of the cache, counted in its hash bucket)
 * that admit it. The counts are halved every `4 * capacity` sightings, so
 * this is a rate.
 */
const ADMIT_AFTER = 4;

/** Words of a cache record: the version and copy it is from, then its answer. */
const RECORD = 4;
const R_VERSION = 0;
const R_COPY = 1;
/** The value (int32, boolean), or the entry's word offset (other kinds). */
const R_WORD = 2;
/** What the answer is: `ABSENT`, `IN_WORD`, or `IN_ANSWERS` (`#answers`). */
const R_STATE = 3;
const ABSENT = 0;
const IN_WORD = 1;
const IN_ANSWERS = 2;

/** The `VALUE_` code of a value kind. */
function valueKind<V>(values: ValueStorage<V>): number {
  if (values instanceof Int32Values) return VALUE_INT32;
  if (values instanceof BooleanValues) return VALUE_BOOLEAN;
  if (values instanceof NumberValues) return VALUE_NUMBER;
  if (values instanceof BigIntValues) return VALUE_BIGINT;
  if (values instanceof StringValues) return VALUE_STRING;
  return VALUE_STORED;
}

/** Words of the key data of a stored key of `length` code units (even). */
function keyWords(length: number): number {
  return ((length + 3) >> 2) << 1;
}

/**
 * The read path of maps whose keys are built-in strings (`codecs.string`),
 * for values of every kind.
 *
 * **Uncached lookups** hash the key's UTF-16 code units once, packing them
 * two to a word as stored keys are, and compare whole words of the one
 * entry whose slot holds the same hash and whose key has the same length.
 * The value is read by a switch on its kind: int32 and boolean values from
 * the entry's value-length word, number and bigint values from its data,
 * other kinds through their storage.
 *
 * **The cache.** V8 keeps the hash of every string it has hashed, so a
 * `Map` lookup of a string the program already holds never reads its
 * characters; this view must read them all. So each view (one per map per
 * thread: views are per context) keeps a `Map` from such strings to a
 * record of what one version of the map holds for them: nothing, the value
 * (int32 and boolean values in the record, number, bigint and string values
 * of up to {@linkcode CACHE_KEY_LENGTH} units beside it: all immutable), or
 * the entry's word offset (longer strings, JSON, bytes, user codecs:
 * decoded on every get, so that no two gets share a decoded object).
 *
 * - *Validation.* Each record carries the version and the copy it was
 *   read from: the guard's own, read once when the guard entered (while it
 *   is counted, so its copy keeps that version), never the descriptor at
 *   lookup time. A lookup uses a record only if both are those of its
 *   guard; a record of another version is read again and rewritten in
 *   place. Even a reclaimed handle's guard, which may read memory the
 *   writer has since reused, stamps what it reads with the version it
 *   entered, which its copy never holds again, so no other guard uses it. So
 *   publishes, removals, re-insertions, `clear()`, and a copy that comes
 *   back with a new version are all seen, and growth changes nothing (word
 *   offsets are kept, never typed arrays). Only lookups of the newest
 *   version seen write records, and only if their guard's table is its
 *   copy's: a reclaimed handle's guard, which may read memory the writer
 *   has let go of, writes nothing. (Its copy may be rewritten while its
 *   descriptor still shows the version it had; no guard that is not
 *   reclaimed reads that copy and version again.) Versions are 32-bit
 *   publish counts: a record could only be wrong after a multiple of 2^32
 *   publishes with no lookup of that key in between.
 * - *Bound.* At most {@linkcode CACHE_KEYS} keys of at most
 *   {@linkcode CACHE_KEY_LENGTH} units; a full cache is emptied. Keys of 13
 *   units or more (those V8 may keep as a slice of a longer string, or a
 *   rope of others) are stored as flat copies, so the cache holds no
 *   string alive but its own. Measured in Deno 2.9.6, a full cache takes
 *   about 0.9 MiB with 20-unit keys and int32 values (36 bytes a key on
 *   the heap, 16 in its record) and at most about 3.1 MiB (64-unit
 *   two-byte keys and string values); a view that has cached nothing, its
 *   64 KiB of sighting counts. Records grow with the keys admitted.
 * - *Admission.* A key gets a record after about four sightings (misses,
 *   counted by hash bucket and halved every `4 * CACHE_KEYS` of them), so
 *   that keys seen once or twice do not churn the cache.
 * - *When it pays.* A consultation costs a `Map` lookup, and for a string V8
 *   has not hashed yet (just parsed, decoded or built), V8's hashing of it,
 *   100 ns or more. Every 256 consultations the view weighs what hits saved
 *   against what misses and admissions (a copy, hashed by V8) cost. While
 *   the cache does not pay (more keys in use than it holds, keys that do
 *   not repeat), lookups go around it, and it keeps only a miniature: the
 *   keys whose hash is 0 modulo 256, after their lookup, in 1/256 of the
 *   room, whose hit rate is the whole cache's would be. When that says it
 *   would pay, the view takes the whole cache again (and, as a new view
 *   does, keeps it for 256 windows, so that a working set it can hold is
 *   in it before it is weighed). Strings whose text
 *   repeats but which are new objects each time still pay V8's hashing at
 *   every lookup: up to 40% slower there than without the cache.
 *
 * One-shot reads (`ReadHandle.get/has`) take the uncached path.
 */
export class StringView<V> implements View<V> {
  readonly kind = VIEW_STRING;
  readonly #seed: number;
  readonly #values: ValueStorage<V>;
  readonly #valueKind: number;
  /** The code units of the key being looked up, packed as stored keys are. */
  #packed: Int32Array = new Int32Array(64);
  /** The hash of the key last probed. */
  #hash = 0;

  readonly #capacity: number;
  readonly #maxLength: number;
  /** Key → the index of its record. */
  readonly #cache = new Map<string, number>();
  /**
   * The records (see `RECORD`), grown as keys are admitted, up to
   * `capacity`; the last is the spare, for the answer of a lookup that
   * takes no record.
   */
  #records: Int32Array;
  /** Per record, an answer that is a JS value: a number, bigint or string. */
  #answers: unknown[];
  /** Records in use, and the index of the spare one. */
  #used = 0;
  #spare: number;
  /** The newest version a lookup has seen: only its lookups write records. */
  #newest = 0;
  #seenAny = false;
  /** Recent sightings of keys the cache did not answer, by hash bucket. */
  readonly #sightings: Uint8Array;
  /** `#sightings` four at a time, to halve them. */
  readonly #sightingWords: Uint32Array;
  /** Sightings to go before they are halved. */
  #aging: number;
  /** Whether every lookup consults the cache, or only the miniature's. */
  #on = true;
  /** Consultations left in this window, and misses so far in it. */
  #window: number;
  #misses = 0;
  /** Keys admitted in this window. */
  #admitted = 0;
  /** Windows left before the first decision. */
  #grace = GRACE;

  constructor(
    seed: number,
    values: ValueStorage<V>,
    capacity: number = CACHE_KEYS,
  ) {
    this.#seed = seed;
    this.#values = values;
    const kind = valueKind(values);
    this.#valueKind = kind;
    this.#capacity = capacity;
    this.#maxLength = CACHE_KEY_LENGTH;
    this.#spare = Math.min(capacity, FIRST_RECORDS);
    this.#records = new Int32Array((this.#spare + 1) * RECORD).fill(-1);
    this.#answers = new Array<unknown>(this.#spare + 1).fill(null);
    this.#sightings = new Uint8Array(4 << (31 - Math.clz32(capacity)));
    this.#sightingWords = new Uint32Array(this.#sightings.buffer);
    this.#aging = this.#sightings.length;
    this.#window = WINDOW;
  }

  /** Keys in the cache now (for tests). */
  get cacheSize(): number {
    return this.#cache.size;
  }

  /** The slot holding `key` in the table, or -1: hashes, then probes. */
  #probe(i32: Int32Array, table: number, mask: number, key: string): number {
    const length = key.length;
    let packed = this.#packed;
    if (length > 2 * packed.length) packed = this.#grow(length);
    const hash = hashString(key, this.#seed, packed);
    this.#hash = hash;
    const words = (length + 1) >> 1;
    let slot = hash >>> Math.clz32(mask);
    // Bounded, so that a guard whose table was freed under it (a reclaimed
    // handle's) cannot spin for ever on reused memory.
    for (let left = mask; left >= 0; left--) {
      const at = table + 2 * slot;
      const entry = i32[at + 1];
      if (entry === 0) return -1;
      if (i32[at] === hash && i32[entry + E_KEY] === length) {
        const start = entry + ENTRY_HEADER_WORDS;
        let i = 0;
        while (i < words && i32[start + i] === packed[i]) i++;
        if (i === words) return at;
      }
      slot = (slot + 1) & mask;
    }
    return -1;
  }

  /**
   * Room for the units of a key of `length` units: kept for the next keys
   * up to {@linkcode LONG_KEY} units, for one lookup beyond.
   */
  #grow(length: number): Int32Array {
    const packed = new Int32Array(Math.max(length, 128));
    if (length <= LONG_KEY) this.#packed = packed;
    return packed;
  }

  /**
   * Whether a lookup of `copy` (at `table`, `mask`), whose version is
   * `version`, may write records: only if its table is its copy's (not so
   * for a reclaimed handle's guard, which may read memory the writer has
   * let go of) and its version is the newest seen (so that guards of two
   * versions do not take turns rewriting the same records).
   */
  #writes(
    i32: Int32Array,
    copy: number,
    table: number,
    mask: number,
    version: number,
  ): boolean {
    const base = descriptor(copy, 0);
    if (i32[base + T_OFFSET] !== table || i32[base + T_MASK] !== mask) {
      return false;
    }
    if (!this.#seenAny || ((version - this.#newest) | 0) > 0) {
      this.#newest = version;
      this.#seenAny = true;
    }
    return version === this.#newest;
  }

  /**
   * Ends a window of consultations: goes on, or samples, by what the cache
   * saved. Measured here, a hit saves about 40 ns against an uncached
   * lookup of a key used that often, a miss costs about 30 ns more than
   * one (a `Map` lookup that fails), and an admission about 1 us (a flat
   * copy of the key, which V8 then hashes): so a working set larger than
   * the cache, or a long tail of keys each seen a few times (Zipf over
   * 100,000 keys), does not pay, and a working set it holds does.
   */
  #decide(): void {
    const misses = this.#misses;
    const saved = (WINDOW - misses) * 4;
    const cost = misses * 3 + this.#admitted * 100;
    // The miniature must show twice what it costs, so that a cache that
    // would barely pay is not taken up and let go in turn.
    const pays = saved >= (this.#on ? cost : 2 * cost);
    if (this.#grace > 0) this.#grace--;
    else if (pays !== this.#on) {
      // Either way the cache starts again: as the miniature, or whole.
      this.#on = pays;
      this.#grace = pays ? GRACE : 0;
      this.#cache.clear();
      this.#used = 0;
    }
    this.#window = WINDOW;
    this.#misses = 0;
    this.#admitted = 0;
  }

  /**
   * Writes record `index`: what `version` of `copy` holds in the slot at
   * `at` (-1 for none) for a key of `length` units.
   */
  #record(
    views: MapViews,
    index: number,
    at: number,
    length: number,
    version: number,
    copy: number,
  ): void {
    const records = this.#records;
    const record = index * RECORD;
    // Invalid until its stamp is written, last: an exception half way (out
    // of stack, out of memory) leaves a record no lookup uses.
    records[record + R_VERSION] = -1;
    if (at < 0) {
      records[record + R_STATE] = ABSENT;
      records[record + R_COPY] = copy;
      records[record + R_VERSION] = version;
      return;
    }
    const i32 = views.i32;
    const entry = i32[at + 1];
    let state = IN_WORD;
    let word = entry;
    switch (this.#valueKind) {
      case VALUE_INT32:
      case VALUE_BOOLEAN:
        word = i32[entry + E_VALUE_LENGTH];
        break;
      case VALUE_NUMBER:
      case VALUE_BIGINT:
        state = IN_ANSWERS;
        this.#answers[index] = this.#read(views, entry, length);
        break;
      case VALUE_STRING: {
        const valueLength = i32[entry + E_VALUE_LENGTH];
        if (valueLength <= this.#maxLength) {
          state = IN_ANSWERS;
          this.#answers[index] = readUtf16(
            views.u16,
            (entry + ENTRY_HEADER_WORDS + keyWords(length)) * 2,
            valueLength,
          );
        }
      }
    }
    records[record + R_WORD] = word;
    records[record + R_STATE] = state;
    records[record + R_COPY] = copy;
    records[record + R_VERSION] = version;
  }

  /** The value record `index` holds, for a key of `length` units. */
  #value(views: MapViews, index: number, length: number): V | undefined {
    const records = this.#records;
    const record = index * RECORD;
    const state = records[record + R_STATE];
    if (state === IN_ANSWERS) return this.#answers[index] as V;
    if (state === ABSENT) return undefined;
    const word = records[record + R_WORD];
    switch (this.#valueKind) {
      case VALUE_INT32:
        return word as V;
      case VALUE_BOOLEAN:
        return (word !== 0) as V;
    }
    return this.#read(views, word, length);
  }

  /**
   * Counts a sighting of the key last probed, and returns its count: the
   * counts of all keys are halved every `#sightings.length` sightings.
   */
  #sight(): number {
    const sightings = this.#sightings;
    const bucket = this.#hash & (sightings.length - 1);
    const seen = sightings[bucket] + 1;
    if (seen < 16) sightings[bucket] = seen;
    if (--this.#aging === 0) {
      const words = this.#sightingWords;
      for (let i = 0; i < words.length; i++) {
        words[i] = (words[i] >>> 1) & 0x7f7f7f7f;
      }
      this.#aging = sightings.length;
    }
    return seen;
  }

  /**
   * A record for `key`, if the key is seen often enough (a full cache is
   * emptied first), else the spare record; the caller writes it.
   */
  #admit(key: string): number {
    if (this.#sight() < ADMIT_AFTER) return this.#spare;
    const cache = this.#cache;
    const room = this.#on ? this.#capacity : this.#capacity / SAMPLE;
    if (this.#used >= room) {
      cache.clear();
      this.#used = 0;
    }
    if (this.#used === this.#spare) this.#growRecords();
    const index = this.#used++;
    // A record of a key the cleared cache held must not answer for this
    // one, should the caller never get to write it (out of stack).
    this.#records[index * RECORD + R_VERSION] = -1;
    cache.set(this.#own(key), index);
    this.#admitted++;
    return index;
  }

  /** Twice the records (up to `capacity`), so that one is free. */
  #growRecords(): void {
    const spare = Math.min(this.#capacity, 2 * this.#spare);
    const records = new Int32Array((spare + 1) * RECORD).fill(-1);
    records.set(this.#records.subarray(0, this.#spare * RECORD));
    const answers = new Array<unknown>(spare + 1).fill(null);
    for (let i = 0; i < this.#spare; i++) answers[i] = this.#answers[i];
    this.#records = records;
    this.#answers = answers;
    this.#spare = spare;
  }

  /**
   * A copy of `key` that holds nothing else alive: a string of 13 or more
   * units may be a slice or a rope that holds a far longer string.
   */
  #own(key: string): string {
    const length = key.length;
    if (length < 13) return key;
    return readUtf16(new Uint16Array(this.#packed.buffer), 0, length);
  }

  /** The value of the entry at `entry`, whose key has `length` units. */
  #read(views: MapViews, entry: number, length: number): V {
    const kind = this.#valueKind;
    const i32 = views.i32;
    if (kind === VALUE_INT32) return i32[entry + E_VALUE_LENGTH] as V;
    if (kind === VALUE_BOOLEAN) return (i32[entry + E_VALUE_LENGTH] !== 0) as V;
    const data = entry + ENTRY_HEADER_WORDS + keyWords(length);
    switch (kind) {
      case VALUE_NUMBER:
        return views.f64[data >> 1] as V;
      case VALUE_BIGINT:
        return views.i64[data >> 1] as V;
    }
    return this.#values.read(views, data, i32[entry + E_VALUE_LENGTH]);
  }

  locate(
    views: MapViews,
    _copy: number,
    table: number,
    mask: number,
    key: unknown,
    action: string,
  ): number {
    if (typeof key !== "string") refuse(key, action);
    return this.#probe(views.i32, table, mask, key as string);
  }

  value(views: MapViews, at: number): V {
    const entry = views.i32[at + 1];
    return this.#read(views, entry, views.i32[entry + E_KEY]);
  }

  /** `ReadGuard.get`: a cache hit here, anything else in `#get`. */
  get(
    views: MapViews,
    copy: number,
    version: number,
    table: number,
    mask: number,
    key: unknown,
    action: string,
  ): V | undefined {
    if (
      this.#on && typeof key === "string" &&
      key.length <= this.#maxLength
    ) {
      const index = this.#cache.get(key);
      if (index !== undefined) {
        const records = this.#records;
        const record = index * RECORD;
        if (
          records[record + R_VERSION] === version &&
          records[record + R_COPY] === copy && --this.#window > 0
        ) {
          const state = records[record + R_STATE];
          if (state === IN_WORD && this.#valueKind === VALUE_INT32) {
            return records[record + R_WORD] as V;
          }
          return this.#value(views, index, key.length);
        }
      }
    }
    return this.#get(views, copy, version, table, mask, key, action);
  }

  #get(
    views: MapViews,
    copy: number,
    version: number,
    table: number,
    mask: number,
    key: unknown,
    action: string,
  ): V | undefined {
    if (typeof key !== "string") refuse(key, action);
    const length = (key as string).length;
    if (length <= this.#maxLength && this.#on) {
      const index = this.#consult(
        views,
        copy,
        version,
        table,
        mask,
        key as string,
      );
      return this.#value(views, index, length);
    }
    const i32 = views.i32;
    const at = this.#probe(i32, table, mask, key as string);
    if (length <= this.#maxLength && (this.#hash & (SAMPLE - 1)) === 0) {
      this.#consult(views, copy, version, table, mask, key as string);
    }
    return at < 0 ? undefined : this.#read(views, i32[at + 1], length);
  }

  /**
   * The record of `key` in `copy`'s version: its own if that is from this
   * version, else one written from a probe: its own, or a new one, if this
   * lookup may write records and the key is seen often, else the spare.
   */
  #consult(
    views: MapViews,
    copy: number,
    version: number,
    table: number,
    mask: number,
    key: string,
  ): number {
    const i32 = views.i32;
    let index = this.#cache.get(key);
    const records = this.#records;
    if (
      index === undefined ||
      records[index * RECORD + R_VERSION] !== version ||
      records[index * RECORD + R_COPY] !== copy
    ) {
      this.#misses++;
      const at = this.#probe(i32, table, mask, key);
      if (!this.#writes(i32, copy, table, mask, version)) {
        index = this.#spare;
      } else if (index === undefined) index = this.#admit(key);
      this.#record(views, index, at, key.length, version, copy);
    }
    if (--this.#window <= 0) this.#decide();
    return index;
  }

  /** `ReadGuard.has`: a cache hit here, anything else in `#has`. */
  has(
    views: MapViews,
    copy: number,
    version: number,
    table: number,
    mask: number,
    key: unknown,
    action: string,
  ): boolean {
    if (
      this.#on && typeof key === "string" &&
      key.length <= this.#maxLength
    ) {
      const index = this.#cache.get(key);
      if (index !== undefined) {
        const records = this.#records;
        const record = index * RECORD;
        if (
          records[record + R_VERSION] === version &&
          records[record + R_COPY] === copy && --this.#window > 0
        ) return records[record + R_STATE] !== ABSENT;
      }
    }
    return this.#has(views, copy, version, table, mask, key, action);
  }

  #has(
    views: MapViews,
    copy: number,
    version: number,
    table: number,
    mask: number,
    key: unknown,
    action: string,
  ): boolean {
    if (typeof key !== "string") refuse(key, action);
    const length = (key as string).length;
    if (length <= this.#maxLength && this.#on) {
      const index = this.#consult(
        views,
        copy,
        version,
        table,
        mask,
        key as string,
      );
      return this.#records[index * RECORD + R_STATE] !== ABSENT;
    }
    const at = this.#probe(views.i32, table, mask, key as string);
    if (length <= this.#maxLength && (this.#hash & (SAMPLE - 1)) === 0) {
      this.#consult(views, copy, version, table, mask, key as string);
    }
    return at >= 0;
  }
}

function refuse(key: unknown, action: string): never {
  throw typeError(action, "key", "a string", key);
}
