/**
 * How keys and values are laid out inside an entry, one class per kind of
 * data. Each key kind has its own probe loop, so the comparison inlines and
 * lookups of one map stay monomorphic.
 *
 * An entry is `[hash, key field, value length, meta, key data..., value data...]`;
 * key and value data each take an even number of words.
 *
 * @module
 */

import {
  hashBytes,
  hashInt32,
  hashPair,
  hashString,
  unhashInt32,
} from "./hash.ts";
import { homeSlot } from "./table.ts";
import {
  E_KEY,
  E_VALUE_LENGTH,
  ENTRY_HEADER_WORDS,
  type MapViews,
} from "./layout.ts";

/** How a key kind validates, hashes, finds, stores and reads its keys. */
export interface KeyStorage<K, E = unknown> {
  /** Validates a key and brings it to its canonical form; throws on bad input. */
  prepare(key: unknown, action: string): E;
  /** Whether `prepare` runs user code (a user codec's `encode`). */
  readonly runsUserCode: boolean;
  /**
   * A prepared key in memory of the map's own: the caller's bytes (or a
   * codec's reused output buffer) may change once user code runs again.
   */
  own(prepared: E): E;
  hash(prepared: E, seed: number): number;
  /** The slot holding the key in the table at `table` (`stride` words a slot), or -1. */
  find(
    views: MapViews,
    table: number,
    mask: number,
    stride: number,
    prepared: E,
    hash: number,
  ): number;
  /**
   * The read path in one call: validates `key` (throwing as `prepare`
   * does), hashes it and probes. Returns the word offset of the slot holding
   * the key, or -1.
   */
  locate(
    views: MapViews,
    table: number,
    mask: number,
    stride: number,
    key: unknown,
    seed: number,
    action: string,
  ): number;
  /** The word kept in the entry's key field: the key itself, or its length. */
  keyField(prepared: E): number;
  /** Words of key data after the entry header (even). */
  dataWords(prepared: E): number;
  /** Words of key data of a stored entry, from its key field. */
  storedWords(keyField: number): number;
  write(views: MapViews, entry: number, prepared: E): void;
  read(views: MapViews, entry: number): K;
  /**
   * Words of the stored key in an inline slot: 1 or 2 for kinds that fit
   * one, else 0 (see `table.ts`).
   */
  readonly inlineWords: number;
  /** Writes the stored form of a key into `out` at `from` (inline kinds). */
  storeKey(prepared: E, seed: number, out: Int32Array, from: number): void;
  /** The key whose stored form is at word `at` of `i32` (inline kinds). */
  loadKey(i32: Int32Array, at: number, seed: number): K;
}

/** How a value kind validates, stores and reads its values. */
export interface ValueStorage<V, E = unknown> {
  prepare(value: unknown, action: string): E;
  /** A prepared value in memory of the map's own (see `KeyStorage.own`). */
  own(prepared: E): E;
  /** The entry's value-length word. */
  length(prepared: E): number;
  /** Words of value data (even). */
  dataWords(prepared: E): number;
  write(views: MapViews, at: number, prepared: E): void;
  read(views: MapViews, at: number, length: number): V;
  /**
   * The value of the entry in the table slot at word `at`: from the slot
   * for kinds kept there, else from the entry. One method per kind, so that
   * a lookup inlines the one read it needs and knows the value's type.
   */
  readAt(views: MapViews, keys: KeyStorage<unknown>, at: number): V;
  /**
   * What a one-shot read takes out of the slot at word `at` while it holds
   * its guard: the value, or for kinds that decode with user code, a copy
   * of the stored bytes, which {@linkcode finish} decodes after the guard is
   * left. No user code runs inside a one-shot read's guard.
   */
  rawAt(views: MapViews, keys: KeyStorage<unknown>, at: number): unknown;
  /** The value of what `rawAt` returned. */
  finish(raw: unknown): V;
  /** Words of the value in an inline slot: 1 or 2 for kinds that fit, else 0. */
  readonly inlineWords: number;
  /** Writes a value's words into `out` at `from` (inline kinds). */
  storeValue(prepared: E, out: Int32Array, from: number): void;
  /** The value whose words are at word `at` (inline kinds; 8-byte aligned if 2). */
  loadValue(views: MapViews, at: number): V;
}

/** The value stored in `entry`. */
export function readEntryValue<V>(
  views: MapViews,
  keys: KeyStorage<unknown>,
  values: ValueStorage<V>,
  entry: number,
): V {
  const i32 = views.i32;
  return values.read(
    views,
    entry + ENTRY_HEADER_WORDS + keys.storedWords(i32[entry + E_KEY]),
    i32[entry + E_VALUE_LENGTH],
  );
}

/**
 * What every value kind shares: values are already the map's own once
 * prepared, and a one-shot read is a plain read (kinds that decode with
 * user code override `own`, `rawAt` and `finish`).
 */
abstract class ValueKind<V, E> implements ValueStorage<V, E> {
  abstract prepare(value: unknown, action: string): E;
  abstract length(prepared: E): number;
  abstract dataWords(prepared: E): number;
  abstract write(views: MapViews, at: number, prepared: E): void;
  abstract read(views: MapViews, at: number, length: number): V;
  abstract readAt(views: MapViews, keys: KeyStorage<unknown>, at: number): V;
  own(prepared: E): E {
    return prepared;
  }
  readonly inlineWords: number = 0;
  storeValue(_prepared: E, _out: Int32Array, _from: number): void {
    throw new TypeError("values of this kind are never inline");
  }
  loadValue(_views: MapViews, _at: number): V {
    throw new TypeError("values of this kind are never inline");
  }
  rawAt(views: MapViews, keys: KeyStorage<unknown>, at: number): unknown {
    return this.readAt(views, keys, at);
  }
  finish(raw: unknown): V {
    return raw as V;
  }
}

/** For value kinds kept only in their entry. */
abstract class EntryValues<V, E> extends ValueKind<V, E> {
  readAt(views: MapViews, keys: KeyStorage<unknown>, at: number): V {
    return readEntryValue(views, keys, this, views.i32[at + 1]);
  }
}

/** For value kinds of one or two words (kept in an entry, or inline in a slot). */
abstract class SlotValues<V, E> extends ValueKind<V, E> {
  readAt(views: MapViews, keys: KeyStorage<unknown>, at: number): V {
    return readEntryValue(views, keys, this, views.i32[at + 1]);
  }
}

/** Names what a caller passed, for error messages. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (value instanceof Uint8Array) {
    return `a Uint8Array of ${value.length} bytes`;
  }
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") {
    const name = Object.getPrototypeOf(value)?.constructor?.name;
    return name && name !== "Object" ? `an instance of ${name}` : "an object";
  }
  if (typeof value === "string") {
    const shown = value.length > 20 ? `${value.slice(0, 20)}...` : value;
    return `string "${shown}"`;
  }
  if (typeof value === "bigint") return `bigint ${value}n`;
  if (typeof value === "number" || typeof value === "boolean") {
    return `${typeof value} ${Object.is(value, -0) ? "-0" : value}`;
  }
  return typeof value;
}

export function typeError(
  action: string,
  what: string,
  expected: string,
  got: unknown,
) {
  return new TypeError(
    `Cannot ${action}: ${what} must be ${expected}, got ${describe(got)}`,
  );
}

/**
 * Key kinds whose `locate` is their `prepare`, `hash` and `find` in turn
 * (int32 and boolean keys have one of their own, with the hash inline).
 */
abstract class ProbedKeys<K, E> implements KeyStorage<K, E> {
  abstract prepare(key: unknown, action: string): E;
  readonly runsUserCode: boolean = false;
  readonly inlineWords: number = 0;
  storeKey(_prepared: E, _seed: number, _out: Int32Array, _from: number): void {
    throw new TypeError("keys of this kind are never inline");
  }
  loadKey(_i32: Int32Array, _at: number, _seed: number): K {
    throw new TypeError("keys of this kind are never inline");
  }
  own(prepared: E): E {
    return prepared;
  }
  abstract hash(prepared: E, seed: number): number;
  abstract find(
    views: MapViews,
    table: number,
    mask: number,
    stride: number,
    prepared: E,
    hash: number,
  ): number;
  abstract keyField(prepared: E): number;
  abstract dataWords(prepared: E): number;
  abstract storedWords(keyField: number): number;
  abstract write(views: MapViews, entry: number, prepared: E): void;
  abstract read(views: MapViews, entry: number): K;
  locate(
    views: MapViews,
    table: number,
    mask: number,
    stride: number,
    key: unknown,
    seed: number,
    action: string,
  ): number {
    const prepared = this.prepare(key, action);
    const slot = this.find(
      views,
      table,
      mask,
      stride,
      prepared,
      this.hash(prepared, seed),
    );
    return slot < 0 ? -1 : table + stride * slot;
  }
}

const INT32_RANGE = "an int32 (an integer from -2147483648 to 2147483647)";
const INT64_RANGE =
  "a 64-bit signed bigint (from -(2n ** 63n) to 2n ** 63n - 1n)";

function evenWords(bytes: number): number {
  return ((bytes + 7) >>> 3) << 1;
}

const scratchF64 = new Float64Array(1);
const scratchI32 = new Int32Array(scratchF64.buffer);
const scratchI64 = new BigInt64Array(scratchF64.buffer);
/** The sign bit of a 64-bit value's high word. */
const SIGN_BIT = 0x80000000 | 0;

/** Copies UTF-16 code units out of shared memory into a string. */
export function readUtf16(
  u16: Uint16Array,
  start: number,
  length: number,
): string {
  if (length === 0) return "";
  if (length === 1) return String.fromCharCode(u16[start]);
  const chunk = 8192;
  if (length <= chunk) {
    return String.fromCharCode.apply(
      null,
      u16.subarray(start, start + length) as unknown as number[],
    );
  }
  let text = "";
  for (let at = 0; at < length; at += chunk) {
    const end = start + Math.min(length, at + chunk);
    text += String.fromCharCode.apply(
      null,
      u16.subarray(start + at, end) as unknown as number[],
    );
  }
  return text;
}

function writeUtf16(u16: Uint16Array, start: number, text: string): void {
  for (let i = 0; i < text.length; i++) u16[start + i] = text.charCodeAt(i);
}

// ---------------------------------------------------------------- keys

/**
 * String keys, stored as UTF-16 code units (lone surrogates included), two
 * per word, an odd last unit followed by a zero unit. A probe compares whole
 * words against the units that hashing packed, never calling `charCodeAt`
 * twice per unit.
 */
export class StringKeys extends ProbedKeys<string, string> {
  /** The code units of the key last hashed, packed as a stored key is. */
  #packed = new Int32Array(64);
  /** The key whose units `#packed` holds. */
  #packedKey = "";

  prepare(key: unknown, action: string): string {
    if (typeof key !== "string") {
      throw typeError(action, "key", "a string", key);
    }
    return key;
  }
  hash(key: string, seed: number): number {
    if (key.length > 2 * this.#packed.length) {
      this.#packed = new Int32Array(
        Math.max(key.length, 4 * this.#packed.length),
      );
    }
    this.#packedKey = key;
    return hashString(key, seed, this.#packed);
  }
  find(
    views: MapViews,
    table: number,
    mask: number,
    stride: number,
    key: string,
    hash: number,
  ): number {
    if (this.#packedKey !== key) this.hash(key, 0);
    const packed = this.#packed;
    const i32 = views.i32;
    const length = key.length;
    const words = (length + 1) >> 1;
    let slot = homeSlot(hash, mask);
    // Bounded, so that a guard whose table was freed under it (a reclaimed
    // handle's) cannot spin for ever on reused memory.
    for (let left = mask; left >= 0; left--) {
      const at = table + stride * slot;
      const entry = i32[at + 1];
      if (entry === 0) return -1;
      if (i32[at] === hash && i32[entry + E_KEY] === length) {
        const start = entry + ENTRY_HEADER_WORDS;
        let i = 0;
        while (i < words && i32[start + i] === packed[i]) i++;
        if (i === words) return slot;
      }
      slot = (slot + 1) & mask;
    }
    return -1;
  }
  keyField(key: string): number {
    return key.length;
  }
  dataWords(key: string): number {
    return evenWords(key.length * 2);
  }
  storedWords(length: number): number {
    return evenWords(length * 2);
  }
  write(views: MapViews, entry: number, key: string): void {
    const start = (entry + ENTRY_HEADER_WORDS) * 2;
    writeUtf16(views.u16, start, key);
    if (key.length % 2 === 1) views.u16[start + key.length] = 0;
  }
  read(views: MapViews, entry: number): string {
    return readUtf16(
      views.u16,
      (entry + ENTRY_HEADER_WORDS) * 2,
      views.i32[entry + E_KEY],
    );
  }
}

/**
 * Keys whose canonical form is one int32 (int32 and boolean keys). The hash
 * is a bijection of the key, so equal hashes are equal keys and a probe never
 * leaves the table; the key itself sits in the entry's key field.
 */
abstract class WordKeys<K> implements KeyStorage<K, number> {
  abstract prepare(key: unknown, action: string): number;
  readonly runsUserCode = false;
  /** Stored as its hash, a bijection of the key. */
  readonly inlineWords = 1;
  storeKey(word: number, seed: number, out: Int32Array, from: number): void {
    out[from] = hashInt32(word, seed);
  }
  /** The key of the canonical word `word`. */
  abstract fromWord(word: number): K;
  loadKey(i32: Int32Array, at: number, seed: number): K {
    return this.fromWord(unhashInt32(i32[at], seed));
  }
  own(word: number): number {
    return word;
  }
  abstract read(views: MapViews, entry: number): K;
  hash(word: number, seed: number): number {
    return hashInt32(word, seed);
  }
  find(
    views: MapViews,
    table: number,
    mask: number,
    stride: number,
    _word: number,
    hash: number,
  ): number {
    const i32 = views.i32;
    let slot = homeSlot(hash, mask);
    // Bounded, so that a guard whose table was freed under it (a reclaimed
    // handle's) cannot spin for ever on reused memory.
    for (let left = mask; left >= 0; left--) {
      const at = table + stride * slot;
      if (i32[at + 1] === 0) return -1;
      if (i32[at] === hash) return slot;
      slot = (slot + 1) & mask;
    }
    return -1;
  }
  /**
   * The probe of `find` again, returning the word offset, with the hash
   * inline: going through `find` measured 1.2x to 1.5x slower per in-cache
   * int32 lookup.
   */
  locate(
    views: MapViews,
    table: number,
    mask: number,
    stride: number,
    key: unknown,
    seed: number,
    action: string,
  ): number {
    const hash = hashInt32(this.prepare(key, action), seed);
    const i32 = views.i32;
    let slot = homeSlot(hash, mask);
    for (let left = mask; left >= 0; left--) {
      const at = table + stride * slot;
      if (i32[at + 1] === 0) return -1;
      if (i32[at] === hash) return at;
      slot = (slot + 1) & mask;
    }
    return -1;
  }
  keyField(word: number): number {
    return word;
  }
  dataWords(): number {
    return 0;
  }
  storedWords(): number {
    return 0;
  }
  write(): void {}
}

/** int32 keys. */
export class Int32Keys extends WordKeys<number> {
  prepare(key: unknown, action: string): number {
    if (typeof key === "number" && (key | 0) === key) return key | 0;
    if (typeof key === "number") {
      throw new RangeError(
        `Cannot ${action}: key must be ${INT32_RANGE}, got ${describe(key)}`,
      );
    }
    throw typeError(action, "key", INT32_RANGE, key);
  }
  read(views: MapViews, entry: number): number {
    return views.i32[entry + E_KEY];
  }
  fromWord(word: number): number {
    return word;
  }
}

/** Boolean keys. */
export class BooleanKeys extends WordKeys<boolean> {
  prepare(key: unknown, action: string): number {
    if (typeof key !== "boolean") {
      throw typeError(action, "key", "a boolean", key);
    }
    return key ? 1 : 0;
  }
  read(views: MapViews, entry: number): boolean {
    return views.i32[entry + E_KEY] !== 0;
  }
  fromWord(word: number): boolean {
    return word !== 0;
  }
}

/** Float64 keys with `Map`'s SameValueZero: `-0` is `0`, and `NaN` is one key. */
export class NumberKeys extends ProbedKeys<number, number> {
  prepare(key: unknown, action: string): number {
    if (typeof key !== "number") {
      throw typeError(action, "key", "a number", key);
    }
    // One canonical NaN: arithmetic makes NaNs with other bit patterns.
    if (key !== key) return NaN;
    return key === 0 ? 0 : key;
  }
  hash(key: number, seed: number): number {
    scratchF64[0] = key; // NaN is written as the one canonical NaN
    return hashPair(scratchI32[0], scratchI32[1], seed);
  }
  find(
    views: MapViews,
    table: number,
    mask: number,
    stride: number,
    key: number,
    hash: number,
  ): number {
    const i32 = views.i32;
    const f64 = views.f64;
    let slot = homeSlot(hash, mask);
    // Bounded, so that a guard whose table was freed under it (a reclaimed
    // handle's) cannot spin for ever on reused memory.
    for (let left = mask; left >= 0; left--) {
      const at = table + stride * slot;
      const entry = i32[at + 1];
      if (entry === 0) return -1;
      if (i32[at] === hash) {
        const stored = f64[(entry + ENTRY_HEADER_WORDS) >> 1];
        if (stored === key || (key !== key && stored !== stored)) return slot;
      }
      slot = (slot + 1) & mask;
    }
    return -1;
  }
  keyField(): number {
    return 0;
  }
  dataWords(): number {
    return 2;
  }
  storedWords(): number {
    return 2;
  }
  write(views: MapViews, entry: number, key: number): void {
    views.f64[(entry + ENTRY_HEADER_WORDS) >> 1] = key;
  }
  read(views: MapViews, entry: number): number {
    return views.f64[(entry + ENTRY_HEADER_WORDS) >> 1];
  }
  /** Stored as its bits, the high word's sign flipped: `-0`, never a key, is all zero. */
  override readonly inlineWords = 2;
  override storeKey(
    key: number,
    _seed: number,
    out: Int32Array,
    from: number,
  ): void {
    scratchF64[0] = key;
    out[from] = scratchI32[0];
    out[from + 1] = scratchI32[1] ^ SIGN_BIT;
  }
  override loadKey(i32: Int32Array, at: number): number {
    scratchI32[0] = i32[at];
    scratchI32[1] = i32[at + 1] ^ SIGN_BIT;
    return scratchF64[0];
  }
}

/** 64-bit signed bigint keys. */
export class BigIntKeys extends ProbedKeys<bigint, bigint> {
  prepare(key: unknown, action: string): bigint {
    if (typeof key !== "bigint") {
      throw typeError(action, "key", INT64_RANGE, key);
    }
    if (BigInt.asIntN(64, key) !== key) {
      throw new RangeError(
        `Cannot ${action}: key must be ${INT64_RANGE}, got ${describe(key)}`,
      );
    }
    return key;
  }
  hash(key: bigint, seed: number): number {
    scratchI64[0] = key;
    return hashPair(scratchI32[0], scratchI32[1], seed);
  }
  find(
    views: MapViews,
    table: number,
    mask: number,
    stride: number,
    key: bigint,
    hash: number,
  ): number {
    const i32 = views.i32;
    const i64 = views.i64;
    let slot = homeSlot(hash, mask);
    // Bounded, so that a guard whose table was freed under it (a reclaimed
    // handle's) cannot spin for ever on reused memory.
    for (let left = mask; left >= 0; left--) {
      const at = table + stride * slot;
      const entry = i32[at + 1];
      if (entry === 0) return -1;
      if (i32[at] === hash && i64[(entry + ENTRY_HEADER_WORDS) >> 1] === key) {
        return slot;
      }
      slot = (slot + 1) & mask;
    }
    return -1;
  }
  keyField(): number {
    return 0;
  }
  dataWords(): number {
    return 2;
  }
  storedWords(): number {
    return 2;
  }
  write(views: MapViews, entry: number, key: bigint): void {
    views.i64[(entry + ENTRY_HEADER_WORDS) >> 1] = key;
  }
  read(views: MapViews, entry: number): bigint {
    return views.i64[(entry + ENTRY_HEADER_WORDS) >> 1];
  }
  /**
   * Stored as its bits, the high word's sign flipped: only `-(2n ** 63n)`
   * is all zero, the odd key kept in the copy's descriptor.
   */
  override readonly inlineWords = 2;
  override storeKey(
    key: bigint,
    _seed: number,
    out: Int32Array,
    from: number,
  ): void {
    scratchI64[0] = key;
    out[from] = scratchI32[0];
    out[from + 1] = scratchI32[1] ^ SIGN_BIT;
  }
  override loadKey(i32: Int32Array, at: number): bigint {
    scratchI32[0] = i32[at];
    scratchI32[1] = i32[at + 1] ^ SIGN_BIT;
    return scratchI64[0];
  }
}

/**
 * Byte-string keys: `Uint8Array` keys, and the keys of user codecs (stored
 * as what their `encode` returns).
 */
export class ByteKeys<K> extends ProbedKeys<K, Uint8Array> {
  readonly #encode: (key: unknown, action: string) => Uint8Array;
  readonly #decode: (bytes: Uint8Array) => K;
  override readonly runsUserCode: boolean;

  constructor(
    encode: (key: unknown, action: string) => Uint8Array,
    decode: (bytes: Uint8Array) => K,
    runsUserCode: boolean,
  ) {
    super();
    this.#encode = encode;
    this.#decode = decode;
    this.runsUserCode = runsUserCode;
  }
  /**
   * A plain copy of the map's own: the caller's array may be a subclass,
   * or have a `length` (or any) property of its own, that runs user code
   * whenever the map reads it; the typed-array constructor copies by the
   * array's internal slots, reading no property.
   */
  prepare(key: unknown, action: string): Uint8Array {
    return new Uint8Array(this.#encode(key, action));
  }
  /** `prepare` made it the map's own already. */
  override own(bytes: Uint8Array): Uint8Array {
    return bytes;
  }
  hash(bytes: Uint8Array, seed: number): number {
    return hashBytes(bytes, seed);
  }
  find(
    views: MapViews,
    table: number,
    mask: number,
    stride: number,
    bytes: Uint8Array,
    hash: number,
  ): number {
    const i32 = views.i32;
    const u8 = views.u8;
    const length = bytes.length;
    let slot = homeSlot(hash, mask);
    // Bounded, so that a guard whose table was freed under it (a reclaimed
    // handle's) cannot spin for ever on reused memory.
    for (let left = mask; left >= 0; left--) {
      const at = table + stride * slot;
      const entry = i32[at + 1];
      if (entry === 0) return -1;
      if (i32[at] === hash && i32[entry + E_KEY] === length) {
        const start = (entry + ENTRY_HEADER_WORDS) * 4;
        let i = 0;
        while (i < length && u8[start + i] === bytes[i]) i++;
        if (i === length) return slot;
      }
      slot = (slot + 1) & mask;
    }
    return -1;
  }
  keyField(bytes: Uint8Array): number {
    return bytes.length;
  }
  dataWords(bytes: Uint8Array): number {
    return evenWords(bytes.length);
  }
  storedWords(length: number): number {
    return evenWords(length);
  }
  write(views: MapViews, entry: number, bytes: Uint8Array): void {
    views.u8.set(bytes, (entry + ENTRY_HEADER_WORDS) * 4);
  }
  read(views: MapViews, entry: number): K {
    const start = (entry + ENTRY_HEADER_WORDS) * 4;
    return this.#decode(
      views.u8.slice(start, start + views.i32[entry + E_KEY]),
    );
  }
}

// ---------------------------------------------------------------- values

/** String values as UTF-16 code units. */
export class StringValues extends EntryValues<string, string> {
  prepare(value: unknown, action: string): string {
    if (typeof value !== "string") {
      throw typeError(action, "value", "a string", value);
    }
    return value;
  }
  length(value: string): number {
    return value.length;
  }
  dataWords(value: string): number {
    return evenWords(value.length * 2);
  }
  write(views: MapViews, at: number, value: string): void {
    writeUtf16(views.u16, at * 2, value);
  }
  read(views: MapViews, at: number, length: number): string {
    return readUtf16(views.u16, at * 2, length);
  }
}

/** JSON values: checked to be plain JSON data, stored as their JSON text. */
export class JsonValues<T> extends EntryValues<T, string> {
  prepare(value: unknown, action: string): string {
    try {
      checkJson(value, [], action, new Set());
      return JSON.stringify(value);
    } catch (error) {
      if (isStackOverflow(error)) {
        throw new RangeError(
          `Cannot ${action}: value is nested too deeply to be stored as JSON`,
        );
      }
      throw error;
    }
  }
  length(text: string): number {
    return text.length;
  }
  dataWords(text: string): number {
    return evenWords(text.length * 2);
  }
  write(views: MapViews, at: number, text: string): void {
    writeUtf16(views.u16, at * 2, text);
  }
  read(views: MapViews, at: number, length: number): T {
    return JSON.parse(readUtf16(views.u16, at * 2, length));
  }
}

/** Whether `error` is the engine's "out of stack" error. */
function isStackOverflow(error: unknown): boolean {
  return error instanceof RangeError &&
    /call stack|too much recursion/i.test(error.message);
}

/** A path into a value, for messages: `value[0].name`. */
function pathText(path: (string | number)[]): string {
  let text = "value";
  for (const step of path) {
    text += typeof step === "number" ? `[${step}]` : `.${step}`;
  }
  return text;
}

/**
 * Accepts exactly the values that survive `JSON.stringify` then
 * `JSON.parse` (with `-0` coming back as `0`): null, booleans, finite
 * numbers, strings, arrays and plain objects of those, without cycles.
 * `path` leads from the whole value to this one; it becomes text only in
 * an error, so deep values cost no quadratic strings.
 */
export function checkJson(
  value: unknown,
  path: (string | number)[],
  action: string,
  open: Set<object>,
): void {
  switch (typeof value) {
    case "string":
    case "boolean":
      return;
    case "number":
      if (Number.isFinite(value)) return;
      break;
    case "object": {
      if (value === null) return;
      if (open.has(value)) {
        throw new TypeError(
          `Cannot ${action}: ${pathText(path)} must be JSON data, got a cycle`,
        );
      }
      const prototype = Object.getPrototypeOf(value);
      const isArray = Array.isArray(value);
      if (!isArray && prototype !== Object.prototype && prototype !== null) {
        break;
      }
      open.add(value);
      if (isArray) {
        for (let i = 0; i < value.length; i++) {
          path.push(i);
          checkJson(value[i], path, action, open);
          path.pop();
        }
      } else {
        for (const key of Object.keys(value)) {
          path.push(key);
          checkJson(
            (value as Record<string, unknown>)[key],
            path,
            action,
            open,
          );
          path.pop();
        }
      }
      open.delete(value);
      return;
    }
  }
  throw typeError(
    action,
    pathText(path),
    "JSON data (null, a boolean, a finite number, a string, or arrays and plain objects of those)",
    value,
  );
}

/** float64 values. */
export class NumberValues extends SlotValues<number, number> {
  override readonly inlineWords = 2;
  override storeValue(value: number, out: Int32Array, from: number): void {
    scratchF64[0] = value;
    out[from] = scratchI32[0];
    out[from + 1] = scratchI32[1];
  }
  override loadValue(views: MapViews, at: number): number {
    return views.f64[at >> 1];
  }
  prepare(value: unknown, action: string): number {
    if (typeof value !== "number") {
      throw typeError(action, "value", "a number", value);
    }
    return value;
  }
  length(): number {
    return 1;
  }
  dataWords(): number {
    return 2;
  }
  write(views: MapViews, at: number, value: number): void {
    views.f64[at >> 1] = value;
  }
  read(views: MapViews, at: number): number {
    return views.f64[at >> 1];
  }
}

/** int32 values, kept in the entry's value-length word. */
export class Int32Values extends SlotValues<number, number> {
  override readonly inlineWords = 1;
  override storeValue(value: number, out: Int32Array, from: number): void {
    out[from] = value;
  }
  override loadValue(views: MapViews, at: number): number {
    return views.i32[at];
  }
  prepare(value: unknown, action: string): number {
    if (typeof value === "number" && (value | 0) === value) return value | 0;
    if (typeof value === "number") {
      throw new RangeError(
        `Cannot ${action}: value must be ${INT32_RANGE}, got ${
          describe(value)
        }`,
      );
    }
    throw typeError(action, "value", INT32_RANGE, value);
  }
  length(value: number): number {
    return value;
  }
  dataWords(): number {
    return 0;
  }
  write(): void {}
  read(_views: MapViews, _at: number, length: number): number {
    return length;
  }
}

/** Boolean values, kept in the entry's value-length word. */
export class BooleanValues extends SlotValues<boolean, number> {
  override readonly inlineWords = 1;
  override storeValue(word: number, out: Int32Array, from: number): void {
    out[from] = word;
  }
  override loadValue(views: MapViews, at: number): boolean {
    return views.i32[at] !== 0;
  }
  prepare(value: unknown, action: string): number {
    if (typeof value !== "boolean") {
      throw typeError(action, "value", "a boolean", value);
    }
    return value ? 1 : 0;
  }
  length(word: number): number {
    return word;
  }
  dataWords(): number {
    return 0;
  }
  write(): void {}
  read(_views: MapViews, _at: number, length: number): boolean {
    return length !== 0;
  }
}

/** 64-bit signed bigint values. */
export class BigIntValues extends SlotValues<bigint, bigint> {
  override readonly inlineWords = 2;
  override storeValue(value: bigint, out: Int32Array, from: number): void {
    scratchI64[0] = value;
    out[from] = scratchI32[0];
    out[from + 1] = scratchI32[1];
  }
  override loadValue(views: MapViews, at: number): bigint {
    return views.i64[at >> 1];
  }
  prepare(value: unknown, action: string): bigint {
    if (typeof value !== "bigint") {
      throw typeError(action, "value", INT64_RANGE, value);
    }
    if (BigInt.asIntN(64, value) !== value) {
      throw new RangeError(
        `Cannot ${action}: value must be ${INT64_RANGE}, got ${
          describe(value)
        }`,
      );
    }
    return value;
  }
  length(): number {
    return 1;
  }
  dataWords(): number {
    return 2;
  }
  write(views: MapViews, at: number, value: bigint): void {
    views.i64[at >> 1] = value;
  }
  read(views: MapViews, at: number): bigint {
    return views.i64[at >> 1];
  }
}

/** Byte values: `Uint8Array` values, and the values of user codecs. */
export class ByteValues<V> extends EntryValues<V, Uint8Array> {
  readonly #encode: (value: unknown, action: string) => Uint8Array;
  readonly #decode: (bytes: Uint8Array) => V;

  constructor(
    encode: (value: unknown, action: string) => Uint8Array,
    decode: (bytes: Uint8Array) => V,
  ) {
    super();
    this.#encode = encode;
    this.#decode = decode;
  }
  /** A plain copy of the map's own (see `ByteKeys.prepare`). */
  prepare(value: unknown, action: string): Uint8Array {
    return new Uint8Array(this.#encode(value, action));
  }
  /** `prepare` made it the map's own already. */
  override own(bytes: Uint8Array): Uint8Array {
    return bytes;
  }
  length(bytes: Uint8Array): number {
    return bytes.length;
  }
  dataWords(bytes: Uint8Array): number {
    return evenWords(bytes.length);
  }
  write(views: MapViews, at: number, bytes: Uint8Array): void {
    views.u8.set(bytes, at * 4);
  }
  read(views: MapViews, at: number, length: number): V {
    return this.#decode(views.u8.slice(at * 4, at * 4 + length));
  }
  override rawAt(
    views: MapViews,
    keys: KeyStorage<unknown>,
    at: number,
  ): unknown {
    const i32 = views.i32;
    const entry = i32[at + 1];
    const start =
      (entry + ENTRY_HEADER_WORDS + keys.storedWords(i32[entry + E_KEY])) * 4;
    return views.u8.slice(start, start + i32[entry + E_VALUE_LENGTH]);
  }
  override finish(raw: unknown): V {
    return this.#decode(raw as Uint8Array);
  }
}
