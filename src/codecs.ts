/**
 * Codecs: how keys and values of each type are stored in shared memory.
 *
 * The built-in codecs have fast paths inside the map (string keys are kept
 * as UTF-16 and hashed in place, numbers as float64, and so on). A user codec
 * turns its values into bytes and back.
 *
 * @module
 */

import {
  BigIntKeys,
  BigIntValues,
  BooleanKeys,
  BooleanValues,
  ByteKeys,
  ByteValues,
  Int32Keys,
  Int32Values,
  JsonValues,
  type KeyStorage,
  NumberKeys,
  NumberValues,
  StringKeys,
  StringValues,
  typeError,
  type ValueStorage,
} from "./storage.ts";
import { type Atomic, CellValues } from "./cells.ts";

/**
 * Turns values of type `T` into bytes and back.
 *
 * A codec used for keys must be `canonical`: equal keys must encode to equal
 * bytes and different keys to different bytes, because the map hashes and
 * compares the bytes (the analogue of flashmap's `TrustedHashEq`). `create`
 * refuses a codec that does not say so as a key codec.
 *
 * @typeParam T The type of the values the codec stores.
 *
 * @example A user codec for `Date` keys
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { type Codec, codecs, create } from "@x/flashmap";
 *
 * const date: Codec<Date> & { canonical: true } = {
 *   name: "example.date",
 *   canonical: true,
 *   encode: (value) => codecs.number.encode(value.getTime()),
 *   decode: (bytes) => new Date(codecs.number.decode(bytes)),
 * };
 * const [write, read] = create({ key: date, value: codecs.string });
 * {
 *   using guard = write.guard();
 *   guard.insert(new Date(0), "epoch");
 * }
 * assertEquals(read.get(new Date(0)), "epoch");
 * ```
 */
export interface Codec<T> {
  /**
   * Names the codec in read-handle tokens: `attach` in another worker finds
   * a built-in codec by this name, or checks a user codec passed to it.
   */
  readonly name: string;
  /** `true` when equal values always encode to equal bytes, and different values to different bytes. */
  readonly canonical: boolean;
  /** Encodes a value; throws a `TypeError` or `RangeError` for a value it cannot take. */
  encode(value: T): Uint8Array;
  /** Decodes what `encode` returned (a copy, outside shared memory). */
  decode(bytes: Uint8Array): T;
}

/**
 * A codec that may be used for keys: equal keys encode to equal bytes.
 *
 * @typeParam T The type of the keys.
 *
 * @example
 * ```ts
 * import { type KeyCodec, codecs } from "@x/flashmap";
 *
 * const key: KeyCodec<number> = codecs.int32;
 * ```
 */
export interface KeyCodec<T> extends Codec<T> {
  /** Always `true` for a key codec. */
  readonly canonical: true;
}

interface Storage {
  key?: KeyStorage<unknown>;
  value: ValueStorage<unknown>;
}

const builtins = new Map<string, Codec<unknown>>();
const storageOf = new WeakMap<Codec<unknown>, Storage>();

function builtin<C>(codec: C, storage: Storage): C {
  const known = codec as Codec<unknown>;
  builtins.set(known.name, known);
  storageOf.set(known, storage);
  return codec;
}

function littleEndian(
  bytes: number,
  fill: (view: DataView) => void,
): Uint8Array {
  const out = new Uint8Array(bytes);
  fill(new DataView(out.buffer));
  return out;
}

function exactLength(
  bytes: Uint8Array,
  length: number,
  name: string,
): DataView {
  if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
    throw new TypeError(
      `Cannot decode ${name}: expected ${length} bytes, got ${
        bytes instanceof Uint8Array ? bytes.length : typeof bytes
      }`,
    );
  }
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function utf16Bytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    out[2 * i] = unit & 0xff;
    out[2 * i + 1] = unit >>> 8;
  }
  return out;
}

function utf16Text(bytes: Uint8Array): string {
  if (bytes.length % 2 !== 0) {
    throw new TypeError(
      `Cannot decode string: expected an even number of bytes, got ${bytes.length}`,
    );
  }
  let text = "";
  for (let i = 0; i < bytes.length; i += 2) {
    text += String.fromCharCode(bytes[i] | (bytes[i + 1] << 8));
  }
  return text;
}

const stringKeys = new StringKeys();
const int32Keys = new Int32Keys();
const numberKeys = new NumberKeys();
const bigintKeys = new BigIntKeys();
const booleanKeys = new BooleanKeys();

/** `value`, checked to be a `Uint8Array` (`ByteKeys`/`ByteValues` copy it). */
function checkBytes(value: unknown, action: string, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw typeError(action, what, "a Uint8Array", value);
  }
  return value;
}

const stringCodec: KeyCodec<string> = builtin({
  name: "string",
  canonical: true,
  encode: (value: string) => utf16Bytes(stringKeys.prepare(value, "encode")),
  decode: utf16Text,
}, { key: stringKeys, value: new StringValues() });

const numberCodec: KeyCodec<number> = builtin({
  name: "number",
  canonical: true,
  encode: (value: number) => {
    const canonical = numberKeys.prepare(value, "encode");
    return littleEndian(8, (view) => view.setFloat64(0, canonical, true));
  },
  decode: (bytes: Uint8Array) =>
    exactLength(bytes, 8, "number").getFloat64(0, true),
}, { key: numberKeys, value: new NumberValues() });

const int32Codec: KeyCodec<number> = builtin({
  name: "int32",
  canonical: true,
  encode: (value: number) => {
    const checked = int32Keys.prepare(value, "encode");
    return littleEndian(4, (view) => view.setInt32(0, checked, true));
  },
  decode: (bytes: Uint8Array) =>
    exactLength(bytes, 4, "int32").getInt32(0, true),
}, { key: int32Keys, value: new Int32Values() });

const bigintCodec: KeyCodec<bigint> = builtin({
  name: "bigint",
  canonical: true,
  encode: (value: bigint) => {
    const checked = bigintKeys.prepare(value, "encode");
    return littleEndian(8, (view) => view.setBigInt64(0, checked, true));
  },
  decode: (bytes: Uint8Array) =>
    exactLength(bytes, 8, "bigint").getBigInt64(0, true),
}, { key: bigintKeys, value: new BigIntValues() });

const booleanCodec: KeyCodec<boolean> = builtin({
  name: "boolean",
  canonical: true,
  encode: (value: boolean) =>
    Uint8Array.of(booleanKeys.prepare(value, "encode")),
  decode: (bytes: Uint8Array) =>
    exactLength(bytes, 1, "boolean").getUint8(0) !== 0,
}, { key: booleanKeys, value: new BooleanValues() });

const identity = (bytes: Uint8Array) => bytes;

const bytesCodec: KeyCodec<Uint8Array> = builtin({
  name: "bytes",
  canonical: true,
  encode: (value: Uint8Array) =>
    new Uint8Array(checkBytes(value, "encode", "value")),
  decode: (bytes: Uint8Array) => bytes.slice(),
}, {
  key: new ByteKeys(
    (key, action) => checkBytes(key, action, "key"),
    identity,
    false,
  ),
  value: new ByteValues(
    (value, action) => checkBytes(value, action, "value"),
    identity,
  ),
});

const jsonValues = new JsonValues<unknown>();
const jsonCodec: Codec<unknown> = builtin({
  name: "json",
  canonical: false,
  encode: (value: unknown) =>
    new TextEncoder().encode(jsonValues.prepare(value, "encode")),
  decode: (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes)),
}, { value: jsonValues });

/** The most cells one entry of an array-of-cells codec may hold. */
export const MAX_CELLS = 1 << 20;

/** A codec of atomic cells: `wide` for 64-bit cells, `array` for `length` of them. */
function cellCodec<T>(
  name: string,
  wide: boolean,
  length: number,
  array: boolean,
): Codec<Atomic<T>> {
  const storage = new CellValues<T>(wide, length, array);
  const bytes = wide ? 8 : 4;
  return builtin({
    name,
    canonical: false,
    encode: (value: Atomic<T>) => {
      // prepare() made the cells' own buffer, of exactly their size.
      return new Uint8Array(storage.prepare(value, "encode").buffer);
    },
    decode: (encoded: Uint8Array) => {
      if (
        !(encoded instanceof Uint8Array) || encoded.length !== length * bytes
      ) {
        throw new TypeError(
          `Cannot decode ${name}: expected ${length * bytes} bytes, got ${
            encoded instanceof Uint8Array ? encoded.length : typeof encoded
          }`,
        );
      }
      const copy = encoded.slice();
      const cells = wide
        ? new BigInt64Array(copy.buffer, 0, length)
        : new Int32Array(copy.buffer, 0, length);
      return (array ? cells : cells[0]) as unknown as Atomic<T>;
    },
  }, { value: storage });
}

const atomicInt32Codec = cellCodec<number>("atomicInt32", false, 1, false);
const atomicBigInt64Codec = cellCodec<bigint>("atomicBigInt64", true, 1, false);
const cellArrays = new Map<string, Codec<unknown>>();

/** The codec of `length` cells per entry, made once per name. */
function cellArrayCodec<T>(wide: boolean, length: unknown): Codec<Atomic<T>> {
  const kind = wide ? "atomicBigInt64Array" : "atomicInt32Array";
  const action = `make codecs.${kind}`;
  if (typeof length !== "number") {
    throw typeError(action, "length", "a number of cells", length);
  }
  if (!Number.isInteger(length) || length < 1 || length > MAX_CELLS) {
    throw new RangeError(
      `Cannot ${action}: length must be an integer from 1 to ${MAX_CELLS}, got ${length}`,
    );
  }
  const name = `${kind}(${length})`;
  let codec = cellArrays.get(name);
  if (codec === undefined) {
    codec = cellCodec<T>(name, wide, length, true) as Codec<unknown>;
    cellArrays.set(name, codec);
  }
  return codec as Codec<Atomic<T>>;
}

/**
 * The built-in codecs.
 *
 * | codec | keys | values | stored as |
 * | --- | --- | --- | --- |
 * | `string` | yes | yes | UTF-16 code units (lone surrogates kept) |
 * | `number` | yes | yes | float64; as keys `-0` is `0` and `NaN` is one key, as in `Map` |
 * | `int32` | yes | yes | one 32-bit word |
 * | `bigint` | yes | yes | 64-bit signed integer |
 * | `boolean` | yes | yes | one word |
 * | `bytes` | yes | yes | the bytes (`Uint8Array`; reads return copies) |
 * | `json<T>()` | no | yes | JSON text; only plain JSON data is accepted |
 * | `atomicInt32` | no | yes | one 32-bit atomic cell (see below) |
 * | `atomicBigInt64` | no | yes | one 64-bit atomic cell |
 * | `atomicInt32Array(n)` | no | yes | `n` 32-bit cells; reads return an `Int32Array` copy |
 * | `atomicBigInt64Array(n)` | no | yes | `n` 64-bit cells; reads return a `BigInt64Array` copy |
 *
 * Atomic cells are values that any worker updates in place through a read
 * guard, a read handle or a write guard (`add`, `sub`, `and`, `or`, `xor`,
 * `exchange`, `compareExchange`, `load`, `store`), with `Atomics` on the
 * shared buffer: every copy of the map sees the update at once, with no
 * publish. Their operands are integers from -2^31 to 2^32 - 1 (32-bit
 * cells) or bigints from -2^63 to 2^64 - 1 (64-bit cells), as `Atomics`
 * wraps them; reads return the signed value.
 *
 * @example Choosing codecs
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { codecs, create } from "@x/flashmap";
 *
 * const [write, read] = create({
 *   key: codecs.int32,
 *   value: codecs.json<{ name: string }>(),
 * });
 * {
 *   using guard = write.guard();
 *   guard.insert(7, { name: "seven" });
 * }
 * assertEquals(read.get(7), { name: "seven" });
 * ```
 */
export const codecs: {
  /** UTF-16 strings. */
  readonly string: KeyCodec<string>;
  /** float64 numbers, with `Map`'s key equality (SameValueZero). */
  readonly number: KeyCodec<number>;
  /** Integers from -2^31 to 2^31 - 1. */
  readonly int32: KeyCodec<number>;
  /** Integers from -2^63 to 2^63 - 1. */
  readonly bigint: KeyCodec<bigint>;
  /** `true` and `false`. */
  readonly boolean: KeyCodec<boolean>;
  /** Byte strings. */
  readonly bytes: KeyCodec<Uint8Array>;
  /**
   * Plain JSON data (values only).
   *
   * @typeParam T The shape of the values.
   * @returns The JSON codec, typed for `T`.
   */
  json<T = unknown>(): Codec<T>;
  /** One 32-bit atomic cell per entry, read as a number (values only). */
  readonly atomicInt32: Codec<Atomic<number>>;
  /** One 64-bit atomic cell per entry, read as a bigint (values only). */
  readonly atomicBigInt64: Codec<Atomic<bigint>>;
  /**
   * `length` 32-bit atomic cells per entry, read as a fresh `Int32Array`
   * (values only).
   *
   * @param length Cells per entry, from 1 to 2^20.
   * @returns The codec (the same object for the same length).
   */
  atomicInt32Array(length: number): Codec<Atomic<Int32Array>>;
  /**
   * `length` 64-bit atomic cells per entry, read as a fresh
   * `BigInt64Array` (values only).
   *
   * @param length Cells per entry, from 1 to 2^20.
   * @returns The codec (the same object for the same length).
   */
  atomicBigInt64Array(length: number): Codec<Atomic<BigInt64Array>>;
} = Object.freeze({
  string: stringCodec,
  number: numberCodec,
  int32: int32Codec,
  bigint: bigintCodec,
  boolean: booleanCodec,
  bytes: bytesCodec,
  json: <T = unknown>(): Codec<T> => jsonCodec as Codec<T>,
  atomicInt32: atomicInt32Codec,
  atomicBigInt64: atomicBigInt64Codec,
  atomicInt32Array: (length: number) =>
    cellArrayCodec<Int32Array>(false, length),
  atomicBigInt64Array: (length: number) =>
    cellArrayCodec<BigInt64Array>(true, length),
});

/** The built-in codec with this name, if any. */
export function builtinCodec(name: string): Codec<unknown> | undefined {
  const known = builtins.get(name);
  if (known !== undefined) return known;
  // Array-of-cells codecs are made on first use, in each thread.
  const cells = /^atomic(Int32|BigInt64)Array\(([1-9][0-9]{0,6})\)$/.exec(name);
  if (cells === null || Number(cells[2]) > MAX_CELLS) return undefined;
  return cellArrayCodec(cells[1] === "BigInt64", Number(cells[2]));
}

function checkCodec(codec: unknown, role: "key" | "value"): Codec<unknown> {
  const candidate = codec as Partial<Codec<unknown>> | null;
  if (
    typeof candidate !== "object" || candidate === null ||
    typeof candidate.name !== "string" || candidate.name === "" ||
    typeof candidate.encode !== "function" ||
    typeof candidate.decode !== "function" ||
    typeof candidate.canonical !== "boolean"
  ) {
    throw new TypeError(
      `Cannot use the ${role} codec: expected a codec ({ name, canonical, encode, decode }), got ${
        typeof codec === "object" ? "an object without them" : typeof codec
      }`,
    );
  }
  // Through builtinCodec, so that the names of codecs made on first use
  // (arrays of cells) are reserved too, even before this thread made them.
  const known = builtinCodec(candidate.name);
  if (known !== undefined && known !== codec) {
    throw new TypeError(
      `Cannot use the ${role} codec: the name "${candidate.name}" belongs to a built-in codec`,
    );
  }
  return candidate as Codec<unknown>;
}

function encodeWith(
  codec: Codec<unknown>,
): (value: unknown, action: string) => Uint8Array {
  return (value) => {
    const bytes = codec.encode(value);
    if (!(bytes instanceof Uint8Array)) {
      throw new TypeError(
        `Cannot use codec "${codec.name}": encode must return a Uint8Array, got ${typeof bytes}`,
      );
    }
    return bytes;
  };
}

/** How the map stores keys of this codec; throws for a codec that cannot be a key. */
export function keyStorage<K>(codec: Codec<K>): KeyStorage<K> {
  const checked = checkCodec(codec, "key");
  const storage = storageOf.get(checked);
  if (storage !== undefined) {
    if (storage.key !== undefined) return storage.key as KeyStorage<K>;
  } else if (checked.canonical) {
    return new ByteKeys(
      encodeWith(checked),
      (bytes) => checked.decode(bytes) as K,
      true,
    );
  }
  throw new TypeError(
    `Cannot use codec "${checked.name}" for keys: it is not canonical (equal keys must encode to equal bytes)`,
  );
}

/** How the map stores values of this codec. */
export function valueStorage<V>(codec: Codec<V>): ValueStorage<V> {
  const checked = checkCodec(codec, "value");
  return (storageOf.get(checked)?.value as ValueStorage<V> | undefined) ??
    new ByteValues(encodeWith(checked), (bytes) => checked.decode(bytes) as V);
}
