/**
 * The read path of maps with string keys (`codecs.string`), whatever their
 * values: hashing, probing, comparing and reading written out for strings,
 * with a bounded per-thread cache of the strings a program looks up again
 * and again (`string_cache.ts`).
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
  ABSENT,
  CACHE_KEY_LENGTH,
  DEFAULT_CACHE_BYTES,
  StringCache,
} from "./string_cache.ts";
import {
  VALUE_BIGINT,
  VALUE_BOOLEAN,
  VALUE_INT32,
  VALUE_NUMBER,
  type View,
  VIEW_STRING,
} from "./view.ts";

export { CACHE_KEY_LENGTH, DEFAULT_CACHE_BYTES } from "./string_cache.ts";

/** String values: read from the entry, and cached whole when short. */
const VALUE_STRING = 5;
/** Values read through their storage: JSON, bytes, user codecs. */
const VALUE_STORED = 0;

/** What `#answerOf` returns for a lookup that went around the cache. */
const AROUND: unique symbol = Symbol("around the cache");

/** Keys longer than this get scratch space for their lookup only. */
const LONG_KEY = 1 << 14;

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
 * **Lookups around the cache** hash the key's UTF-16 code units once,
 * packing them two to a word as stored keys are, and compare whole words
 * of the one entry whose slot holds the same hash and whose key has the
 * same length. The value is read by a switch on its kind: int32 and
 * boolean values from the entry's value-length word, number and bigint
 * values from its data, other kinds through their storage.
 *
 * **The cache** ({@linkcode StringCache}) answers strings the program
 * looks up again and again with one `Map` lookup. Its answers are the value
 * itself when it is immutable (int32, boolean, number and bigint values,
 * and string values of up to {@linkcode CACHE_KEY_LENGTH} units), else the
 * entry's word offset (longer strings, JSON, bytes, user codecs: decoded
 * on every get, so that no two gets share a decoded object), or `ABSENT`.
 * A lookup uses the cache only with the version and copy its guard read
 * when it entered, never the descriptor at lookup time, and keeps answers
 * only if its table is its copy's: a reclaimed handle's guard, which may
 * read memory the writer has let go of, keeps nothing. (Its copy may be
 * rewritten while its descriptor still shows the version it had; no guard
 * that is not reclaimed reads that copy and version again.) So publishes,
 * removals, re-insertions, `clear()`, and a copy that comes back with a
 * new version are all seen, and growth changes nothing (word offsets are
 * kept, never typed arrays). Versions are 32-bit publish counts: a stale
 * answer could only be used after a multiple of 2^32 publishes with no
 * answer kept in between.
 *
 * One-shot reads (`ReadHandle.get/has`) go around the cache.
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
  /** The slot the last lookup around the cache found, or -1. */
  #at = -1;
  readonly #cache: StringCache;

  /**
   * @param capacity The bytes this view's cache may count
   * (`stringCacheBytes`); 0 for no cache.
   */
  constructor(
    seed: number,
    values: ValueStorage<V>,
    capacity: number = DEFAULT_CACHE_BYTES,
  ) {
    this.#seed = seed;
    this.#values = values;
    this.#valueKind = valueKind(values);
    this.#cache = new StringCache(capacity);
  }

  /** The view's cache (for tests). */
  get cache(): StringCache {
    return this.#cache;
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
   * Whether `table` and `mask` are `copy`'s own: not so for a reclaimed
   * handle's guard, which may read memory the writer has let go of.
   */
  #own(i32: Int32Array, copy: number, table: number, mask: number): boolean {
    const base = descriptor(copy, 0);
    return i32[base + T_OFFSET] === table && i32[base + T_MASK] === mask;
  }

  /**
   * What the slot at `at` (-1 for none) holds for a key of `length` units,
   * as the cache keeps it.
   */
  #answer(views: MapViews, at: number, length: number): unknown {
    if (at < 0) return ABSENT;
    const entry = views.i32[at + 1];
    switch (this.#valueKind) {
      case VALUE_INT32:
      case VALUE_BOOLEAN:
      case VALUE_NUMBER:
      case VALUE_BIGINT:
        return this.#read(views, entry, length);
      case VALUE_STRING: {
        const valueLength = views.i32[entry + E_VALUE_LENGTH];
        if (valueLength > CACHE_KEY_LENGTH) return entry;
        return readUtf16(
          views.u16,
          (entry + ENTRY_HEADER_WORDS + keyWords(length)) * 2,
          valueLength,
        );
      }
    }
    return entry;
  }

  /** The value an answer stands for, for a key of `length` units. */
  #fromAnswer(views: MapViews, answer: unknown, length: number): V | undefined {
    if (answer === ABSENT) return undefined;
    const kind = this.#valueKind;
    if (
      kind === VALUE_STORED ||
      (kind === VALUE_STRING && typeof answer === "number")
    ) {
      return this.#read(views, answer as number, length);
    }
    return answer as V;
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

  /** `ReadGuard.get`: a cache hit here, anything else in `#answerOf`. */
  get(
    views: MapViews,
    copy: number,
    version: number,
    table: number,
    mask: number,
    key: unknown,
    action: string,
  ): V | undefined {
    if (typeof key === "string" && key.length <= this.#cache.maxLength) {
      const answer = this.#cache.hit(key, version, copy);
      if (answer !== undefined) {
        if (this.#valueKind === VALUE_INT32) {
          return (answer ?? undefined) as V | undefined;
        }
        return this.#fromAnswer(views, answer, key.length);
      }
    }
    const answer = this.#answerOf(
      views,
      copy,
      version,
      table,
      mask,
      key,
      action,
    );
    const length = (key as string).length;
    if (answer !== AROUND) return this.#fromAnswer(views, answer, length);
    const at = this.#at;
    return at < 0 ? undefined : this.#read(views, views.i32[at + 1], length);
  }

  /**
   * The word offset of `key`'s entry, or -1: for maps whose answers are
   * entries (values read through their storage, as cells are), so that
   * updates of cells find their entry through the cache as gets do.
   */
  entryOf(
    views: MapViews,
    copy: number,
    version: number,
    table: number,
    mask: number,
    key: unknown,
    action: string,
  ): number {
    if (typeof key === "string" && key.length <= this.#cache.maxLength) {
      const answer = this.#cache.hit(key, version, copy);
      if (answer !== undefined) {
        return answer === ABSENT ? -1 : answer as number;
      }
    }
    const answer = this.#answerOf(
      views,
      copy,
      version,
      table,
      mask,
      key,
      action,
    );
    if (answer !== AROUND) return answer === ABSENT ? -1 : answer as number;
    const at = this.#at;
    return at < 0 ? -1 : views.i32[at + 1];
  }

  /** `ReadGuard.has`: a cache hit here, anything else in `#answerOf`. */
  has(
    views: MapViews,
    copy: number,
    version: number,
    table: number,
    mask: number,
    key: unknown,
    action: string,
  ): boolean {
    if (typeof key === "string" && key.length <= this.#cache.maxLength) {
      const answer = this.#cache.hit(key, version, copy);
      if (answer !== undefined) return answer !== ABSENT;
    }
    const answer = this.#answerOf(
      views,
      copy,
      version,
      table,
      mask,
      key,
      action,
    );
    return answer === AROUND ? this.#at >= 0 : answer !== ABSENT;
  }

  /**
   * The answer for `key` in `version` of `copy` while the cache is on: its
   * own, or a probe's, which it may keep. Else `AROUND`, with the slot
   * the probe found (or -1) in `#at`: the caller reads only what it needs
   * (`has` decodes no value).
   */
  #answerOf(
    views: MapViews,
    copy: number,
    version: number,
    table: number,
    mask: number,
    key: unknown,
    action: string,
  ): unknown {
    if (typeof key !== "string") refuse(key, action);
    const cache = this.#cache;
    const i32 = views.i32;
    const length = (key as string).length;
    if (length <= cache.maxLength && cache.on) {
      let answer = cache.consult(key as string, version, copy);
      if (answer === undefined) {
        answer = this.#answer(
          views,
          this.#probe(i32, table, mask, key as string),
          length,
        );
        this.#missed(i32, key as string, answer, version, copy, table, mask);
      }
      cache.consulted();
      return answer;
    }
    const at = this.#probe(i32, table, mask, key as string);
    this.#at = at;
    if (length <= cache.maxLength && cache.around(this.#hash)) {
      if (cache.consultMiniature(key as string, version, copy) === undefined) {
        const answer = this.#answer(views, at, length);
        this.#missed(i32, key as string, answer, version, copy, table, mask);
      }
      cache.consulted();
    }
    return AROUND;
  }

  /** Tells the cache what the key last probed has in `version` of `copy`. */
  #missed(
    i32: Int32Array,
    key: string,
    answer: unknown,
    version: number,
    copy: number,
    table: number,
    mask: number,
  ): void {
    this.#cache.missed(
      key,
      this.#hash,
      answer,
      version,
      copy,
      this.#own(i32, copy, table, mask),
    );
  }
}

function refuse(key: unknown, action: string): never {
  throw typeError(action, "key", "a string", key);
}
