/**
 * Making a map (`create`, `Builder`) and joining one from another worker
 * (`attach`): options, their checks, and the buffer's first layout.
 *
 * @module
 */

import {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_COPIES,
  DEFAULT_MAX_READERS,
} from "./defaults.ts";
import {
  builtinCodec,
  type Codec,
  codecs,
  type KeyCodec,
  keyStorage,
  valueStorage,
} from "./codecs.ts";
import { mapContext, slotFormat } from "./context.ts";
import { DEFAULT_CACHE_BYTES } from "./view/string.ts";
import { randomSeed } from "./hash.ts";
import {
  H_BUFFER_WORDS,
  H_CURRENT_COPY,
  H_KEY_CODEC_NAME,
  H_LAYOUT,
  H_MAGIC,
  H_MAP_ID,
  H_MAX_COPIES,
  H_MAX_READERS,
  H_SEED,
  H_VALUE_CODEC_NAME,
  heapStart,
  LAYOUT_VERSION,
  MAGIC,
  MapViews,
  MAX_COPIES,
} from "./layout.ts";
import { openReader, TOKEN_KIND } from "./read.ts";
import type { ReadHandle, ReadToken } from "./read_api.ts";
import { slotsFor, writeTable } from "./table.ts";
import { WriteHandleImpl, Writer } from "./write.ts";
import type { WriteHandle } from "./write_api.ts";

/**
 * Options of {@linkcode create}.
 *
 * @typeParam K The type of the keys, from the key codec.
 * @typeParam V The type of the values, from the value codec.
 *
 * @example
 * ```ts
 * import { codecs, create, type MapOptions } from "@x/flashmap";
 *
 * const options: MapOptions<number, string> = {
 *   key: codecs.int32,
 *   value: codecs.string,
 *   capacity: 10_000,
 * };
 * const [write, read] = create(options);
 * ```
 */
export interface MapOptions<K, V> {
  /** How keys are stored; `codecs.string` by default. Must be canonical. */
  key?: KeyCodec<K>;
  /** How values are stored; `codecs.string` by default. */
  value?: Codec<V>;
  /** Entries the map holds before its tables first grow (default 0). */
  capacity?: number;
  /** Read handles that may be open at once, across all workers (default 256). */
  maxReaders?: number;
  /**
   * The most bytes the map's buffer may grow to (default 4 GiB, at most
   * 8 GiB). Only address space is reserved up front.
   */
  maxBytes?: number;
  /**
   * The most copies of the index the buffer may hold at once, from 2 to 16
   * (default 8). The writer writes a copy no reader reads; when readers
   * still hold the copy it retired last, it makes another rather than wait
   * for them, and waits only once this many copies exist (or `maxBytes` is
   * reached). One guard held for long pins one copy, so the writer needs
   * three: the default leaves room for several versions pinned at once
   * (guards held across `await`s that span publishes), while bounding the
   * memory a crowd of slow readers can pin to this many index tables.
   * `maxCopies: 2` is the Rust crate's behaviour: the writer waits for the
   * readers of the copy it retired. If guards held across many publishes
   * still make the writer wait (`write.stats().waits`), raise it.
   */
  maxCopies?: number;
  /**
   * The hash seed, an int32; random by default. It is stored in the map's
   * buffer, so any worker holding a token can read it and build colliding
   * keys: seeded hashing defends against outside input, not against the
   * code a map is shared with.
   */
  seed?: number;
  /**
   * String-keyed maps only: the most bytes this thread's cache of the
   * strings it looks up again and again may take, per read handle (and its
   * clones); default 8 MiB (about 100,000 keys of 20 characters), at most
   * 512 MiB, 0 turns it off. The cache lets a lookup of a string the
   * program already holds cost about one `Map.get` (see the README). It is
   * per thread, not shared: a worker chooses its own with `attach()`.
   */
  stringCacheBytes?: number;
}

/**
 * What {@linkcode attach} takes beside the token.
 *
 * @typeParam K The type of the keys.
 * @typeParam V The type of the values.
 *
 * @example A worker with a smaller string cache
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { type AttachOptions, attach, create } from "@x/flashmap";
 *
 * const [write, read] = create();
 * write.update((guard) => guard.insert("mode", "fast"));
 * const options: AttachOptions<string, string> = {
 *   stringCacheBytes: 256 * 1024,
 * };
 * using attached = attach(read.share(), options);
 * assertEquals(attached.get("mode"), "fast");
 * ```
 */
export interface AttachOptions<K, V> {
  /** The map's key codec, if it is a user codec. */
  key?: KeyCodec<K>;
  /** The map's value codec, if it is a user codec. */
  value?: Codec<V>;
  /** This thread's string cache of the map ({@linkcode MapOptions.stringCacheBytes}). */
  stringCacheBytes?: number;
}

export {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_COPIES,
  DEFAULT_MAX_READERS,
} from "./defaults.ts";
const MAX_MAX_BYTES = 8 * 1024 ** 3;
/** Word indexes stay below 2^31: the last 8 bytes of 8 GiB are never used. */
const USABLE_MAX_BYTES = MAX_MAX_BYTES - 8;
const MAX_READERS_LIMIT = 65_536;
const MAX_CAPACITY = 2 ** 28;
const INITIAL_GROWTH_BYTES = 64 * 1024;
const HEADER_BYTES = 128;

/** The most `stringCacheBytes` may be: 512 MiB. */
const MAX_CACHE_BYTES = 2 ** 29;

/** `stringCacheBytes`, checked, or its default. */
function checkCacheBytes(action: string, value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_CACHE_BYTES;
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot ${action}: stringCacheBytes must be a number, got ${typeof value}`,
    );
  }
  if (!Number.isInteger(value) || value < 0 || value > MAX_CACHE_BYTES) {
    throw new RangeError(
      `Cannot ${action}: stringCacheBytes must be an integer from 0 to ${MAX_CACHE_BYTES}, got ${value}`,
    );
  }
  return value;
}

function checkInteger(
  name: string,
  value: unknown,
  min: number,
  max: number,
): number {
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot create the map: ${name} must be a number, got ${typeof value}`,
    );
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Cannot create the map: ${name} must be an integer from ${min} to ${max}, got ${value}`,
    );
  }
  return value;
}

/**
 * Creates a map and returns its one write handle and a first read handle.
 *
 * @typeParam K The type of the keys (from `options.key`; `string` by default).
 * @typeParam V The type of the values (from `options.value`; `string` by default).
 * @param options Codecs, sizes and limits.
 * @returns `[write, read]`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { codecs, create } from "@x/flashmap";
 *
 * const [write, read] = create({ key: codecs.int32, value: codecs.number });
 * {
 *   using guard = write.guard();
 *   guard.insert(1, 0.5);
 * }
 * assertEquals(read.get(1), 0.5);
 * ```
 */
export function create<K = string, V = string>(
  options: MapOptions<K, V> = {},
): [WriteHandle<K, V>, ReadHandle<K, V>] {
  requireSharedMemory();
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Cannot create the map: options must be an object, got ${
        options === null ? "null" : typeof options
      }`,
    );
  }
  const keyCodec = (options.key ?? codecs.string) as Codec<K>;
  const valueCodec = (options.value ?? codecs.string) as Codec<V>;
  const keys = keyStorage(keyCodec);
  const values = valueStorage(valueCodec);
  const capacity = checkInteger(
    "capacity",
    options.capacity ?? 0,
    0,
    MAX_CAPACITY,
  );
  const maxReaders = checkInteger(
    "maxReaders",
    options.maxReaders ?? DEFAULT_MAX_READERS,
    1,
    MAX_READERS_LIMIT,
  );
  const maxBytes = Math.min(
    USABLE_MAX_BYTES,
    Math.floor(
      checkInteger(
        "maxBytes",
        options.maxBytes ?? DEFAULT_MAX_BYTES,
        1,
        MAX_MAX_BYTES,
      ) / 8,
    ) * 8,
  );
  const maxCopies = checkInteger(
    "maxCopies",
    options.maxCopies ?? DEFAULT_MAX_COPIES,
    2,
    MAX_COPIES,
  );
  const cacheBytes = checkCacheBytes(
    "create the map",
    options.stringCacheBytes,
  );
  const seed = options.seed === undefined
    ? randomSeed()
    : checkInteger("seed", options.seed, -(2 ** 31), 2 ** 31 - 1);

  const namesStart = heapStart(maxReaders);
  const keyName = codecName(keyCodec, "key");
  const valueName = codecName(valueCodec, "value");
  const keyNameWords = Math.ceil(keyName.length / 2);
  const valueNameAt = namesStart + keyNameWords;
  // Tables start on a 64-byte line, as the heap places them later.
  const start = Math.ceil(
    (valueNameAt + Math.ceil(valueName.length / 2)) / LINE_WORDS,
  ) * LINE_WORDS;
  const slots = slotsFor(capacity);
  const stride = slotFormat(keys, values, seed).stride;
  const tablesEnd = start + 2 * stride * slots;
  const needed = tablesEnd * 4;
  if (needed > maxBytes) {
    throw new RangeError(
      `Cannot create the map: maxBytes must be at least ${needed} for ${maxReaders} readers and capacity ${capacity}, got ${maxBytes}`,
    );
  }
  const initial = Math.min(
    maxBytes,
    Math.ceil((needed + INITIAL_GROWTH_BYTES) / INITIAL_GROWTH_BYTES) *
      INITIAL_GROWTH_BYTES,
  );
  const buffer = new SharedArrayBuffer(initial, { maxByteLength: maxBytes });
  const views = new MapViews(buffer);
  const i32 = views.i32;
  i32[H_MAGIC] = MAGIC;
  i32[H_LAYOUT] = LAYOUT_VERSION;
  i32[H_BUFFER_WORDS] = views.words;
  i32[H_CURRENT_COPY] = 0;
  i32[H_SEED] = seed;
  i32[H_MAX_READERS] = maxReaders;
  i32[H_MAX_COPIES] = maxCopies;
  i32.set(crypto.getRandomValues(new Int32Array(2)), H_MAP_ID);
  writeName(views.u16, i32, H_KEY_CODEC_NAME, namesStart, keyName);
  writeName(views.u16, i32, H_VALUE_CODEC_NAME, valueNameAt, valueName);
  writeTable(i32, 0, { offset: start, mask: slots - 1, size: 0 });
  writeTable(i32, 1, {
    offset: start + stride * slots,
    mask: slots - 1,
    size: 0,
  });

  const context = mapContext(
    buffer,
    maxReaders,
    keyCodec,
    valueCodec,
    keys,
    values,
    cacheBytes,
  );
  const writer = new Writer(context, views, tablesEnd, maxBytes, maxCopies);
  return [new WriteHandleImpl(writer), openReader(context)];
}

/**
 * Throws a `TypeError` that says what to do when this realm has no
 * `SharedArrayBuffer`: browsers give it only to cross-origin isolated pages.
 */
function requireSharedMemory(): void {
  if (typeof SharedArrayBuffer === "function") return;
  throw new TypeError(
    "Cannot create the map: SharedArrayBuffer is not available here. Browsers give it only to cross-origin isolated pages: serve the page (and its workers) with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp",
  );
}

/** Words of a 64-byte cache line. */
const LINE_WORDS = 16;
/** The longest codec name the header records. */
const MAX_CODEC_NAME = 1024;

function codecName(codec: Codec<unknown>, role: "key" | "value"): string {
  const name = codec.name;
  if (name.length > MAX_CODEC_NAME) {
    throw new RangeError(
      `Cannot create the map: the ${role} codec's name must be at most ${MAX_CODEC_NAME} characters, got ${name.length}`,
    );
  }
  return name;
}

/** Records a codec name at word `at`, and where it is in the header at `field`. */
function writeName(
  u16: Uint16Array,
  i32: Int32Array,
  field: number,
  at: number,
  name: string,
): void {
  i32[field] = at;
  i32[field + 1] = name.length;
  for (let i = 0; i < name.length; i++) u16[at * 2 + i] = name.charCodeAt(i);
}

/**
 * The codec name a buffer records at header `field`, or `undefined` when
 * the header points outside the buffer (not a map of this library).
 */
function readName(
  buffer: SharedArrayBuffer,
  field: number,
): string | undefined {
  const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
  const at = header[field];
  const length = header[field + 1];
  if (
    at < heapStart(header[H_MAX_READERS]) || length < 0 ||
    length > MAX_CODEC_NAME || (at * 2 + length) * 2 > buffer.byteLength
  ) return undefined;
  return String.fromCharCode(...new Uint16Array(buffer, at * 4, length));
}

function notAToken(detail: string): TypeError {
  return new TypeError(
    `Cannot attach to the map: expected a token from ReadHandle.share(), ${detail}`,
  );
}

/**
 * Opens a read handle of a map from a token made by `ReadHandle.share()`,
 * usually in another worker. Built-in codecs are found by name; a map with
 * user codecs needs the same codecs passed again.
 *
 * Throws a `TypeError` for anything that is not a token of this library's
 * layout version, and {@linkcode ReaderLimitError} when the map has no free
 * reader slot.
 *
 * @typeParam K The type of the keys.
 * @typeParam V The type of the values.
 * @param token What `share()` returned (after `postMessage`).
 * @param options The map's user codecs, if it has any, and this thread's
 *   string cache (`stringCacheBytes`).
 * @returns A read handle of this thread.
 *
 * @example In a worker
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { attach, create } from "@x/flashmap";
 *
 * const [write, read] = create();
 * {
 *   using guard = write.guard();
 *   guard.insert("greeting", "hello");
 * }
 * // in a worker: attach(event.data as ReadToken<string, string>)
 * using attached = attach(read.share());
 * assertEquals(attached.get("greeting"), "hello");
 * ```
 */
export function attach<K = unknown, V = unknown>(
  token: ReadToken<K, V>,
  options: AttachOptions<K, V> = {},
): ReadHandle<K, V> {
  if (typeof token !== "object" || token === null) {
    throw notAToken(`got ${token === null ? "null" : typeof token}`);
  }
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Cannot attach to the map: options must be an object, got ${
        options === null ? "null" : typeof options
      }`,
    );
  }
  const cacheBytes = checkCacheBytes(
    "attach to the map",
    options.stringCacheBytes,
  );
  const candidate = token as Partial<ReadToken<K, V>>;
  if (candidate.kind !== TOKEN_KIND) {
    throw notAToken(`got an object without kind "${TOKEN_KIND}"`);
  }
  if (candidate.layout !== LAYOUT_VERSION) {
    throw new TypeError(
      `Cannot attach to the map: the token has layout version ${candidate.layout}, this library reads version ${LAYOUT_VERSION}`,
    );
  }
  const buffer = candidate.buffer;
  if (!(buffer instanceof SharedArrayBuffer) || !buffer.growable) {
    throw notAToken("whose buffer is a growable SharedArrayBuffer");
  }
  if (buffer.byteLength < HEADER_BYTES) {
    throw notAToken("but its buffer is too small to hold a map");
  }
  const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
  const maxReaders = header[H_MAX_READERS];
  if (
    header[H_MAGIC] !== MAGIC || header[H_LAYOUT] !== LAYOUT_VERSION ||
    maxReaders < 1 || buffer.byteLength < heapStart(maxReaders) * 4
  ) {
    throw notAToken("but its buffer does not hold a map of this layout");
  }
  const keyName = readName(buffer, H_KEY_CODEC_NAME);
  const valueName = readName(buffer, H_VALUE_CODEC_NAME);
  if (keyName === undefined || valueName === undefined) {
    throw notAToken("but its buffer does not hold a map of this layout");
  }
  const keyCodec = codecFor("key", keyName, candidate.key, options.key);
  const valueCodec = codecFor(
    "value",
    valueName,
    candidate.value,
    options.value,
  );
  const context = mapContext(
    buffer,
    maxReaders,
    keyCodec,
    valueCodec,
    keyStorage(keyCodec),
    valueStorage(valueCodec),
    cacheBytes,
  );
  return openReader(context);
}

/**
 * The codec to read the map's keys or values with: the one its buffer
 * names (`stored`), which the token and any codec passed in must name too.
 */
function codecFor<T>(
  role: "key" | "value",
  stored: string,
  named: unknown,
  given: Codec<T> | undefined,
): Codec<T> {
  if (typeof named !== "string") {
    throw notAToken(`got a token without a ${role} codec name`);
  }
  if (named !== stored) {
    throw new TypeError(
      `Cannot attach to the map: its ${role} codec is "${stored}", but the token names "${named}"`,
    );
  }
  if (given !== undefined) {
    if (typeof given !== "object" || given === null || given.name !== stored) {
      throw new TypeError(
        `Cannot attach to the map: its ${role} codec is "${stored}", got a codec named "${
          (given as { name?: unknown } | null)?.name
        }"`,
      );
    }
    return given;
  }
  const known = builtinCodec(stored);
  if (known === undefined) {
    throw new TypeError(
      `Cannot attach to the map: its ${role} codec "${stored}" is not built in; pass it to attach()`,
    );
  }
  return known as Codec<T>;
}

/**
 * The fluent form of {@linkcode create}'s options.
 *
 * @typeParam K The type of the keys.
 * @typeParam V The type of the values.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Builder, codecs } from "@x/flashmap";
 *
 * const [write, read] = new Builder()
 *   .withCapacity(1000)
 *   .withKey(codecs.string)
 *   .withValue(codecs.number)
 *   .build();
 * {
 *   using guard = write.guard();
 *   guard.insert("pi", 3.14);
 * }
 * assertEquals(read.get("pi"), 3.14);
 * ```
 */
export class Builder<K = string, V = string> {
  readonly #options: MapOptions<K, V>;

  /**
   * Starts from the defaults (or from `options`).
   *
   * @param options Options to start from.
   */
  constructor(options: MapOptions<K, V> = {}) {
    this.#options = { ...options };
  }

  /**
   * Sets the key codec.
   *
   * @typeParam K2 The type of the keys.
   * @param key The codec.
   * @returns A builder for the new key type.
   *
   * @example
   * ```ts
   * import { Builder, codecs } from "@x/flashmap";
   *
   * const builder = new Builder().withKey(codecs.int32);
   * ```
   */
  withKey<K2>(key: KeyCodec<K2>): Builder<K2, V> {
    return new Builder<K2, V>({ ...this.#options, key } as MapOptions<K2, V>);
  }

  /**
   * Sets the value codec.
   *
   * @typeParam V2 The type of the values.
   * @param value The codec.
   * @returns A builder for the new value type.
   *
   * @example
   * ```ts
   * import { Builder, codecs } from "@x/flashmap";
   *
   * const builder = new Builder().withValue(codecs.json<{ on: boolean }>());
   * ```
   */
  withValue<V2>(value: Codec<V2>): Builder<K, V2> {
    return new Builder<K, V2>({ ...this.#options, value } as MapOptions<K, V2>);
  }

  /**
   * Sets the entries held before the tables first grow.
   *
   * @param capacity The entry count.
   * @returns This builder.
   *
   * @example
   * ```ts
   * import { Builder } from "@x/flashmap";
   *
   * const builder = new Builder().withCapacity(1000);
   * ```
   */
  withCapacity(capacity: number): this {
    this.#options.capacity = capacity;
    return this;
  }

  /**
   * Sets how many read handles may be open at once.
   *
   * @param maxReaders The limit.
   * @returns This builder.
   *
   * @example
   * ```ts
   * import { Builder } from "@x/flashmap";
   *
   * const builder = new Builder().withMaxReaders(64);
   * ```
   */
  withMaxReaders(maxReaders: number): this {
    this.#options.maxReaders = maxReaders;
    return this;
  }

  /**
   * Sets the most bytes the buffer may grow to.
   *
   * @param maxBytes The limit.
   * @returns This builder.
   *
   * @example
   * ```ts
   * import { Builder } from "@x/flashmap";
   *
   * const builder = new Builder().withMaxBytes(64 * 1024 * 1024);
   * ```
   */
  withMaxBytes(maxBytes: number): this {
    this.#options.maxBytes = maxBytes;
    return this;
  }

  /**
   * Sets the most copies of the index the buffer may hold at once (see
   * {@linkcode MapOptions.maxCopies}).
   *
   * @param maxCopies The limit, from 2 to 16.
   * @returns This builder.
   *
   * @example
   * ```ts
   * import { Builder } from "@x/flashmap";
   *
   * const builder = new Builder().withMaxCopies(4);
   * ```
   */
  withMaxCopies(maxCopies: number): this {
    this.#options.maxCopies = maxCopies;
    return this;
  }

  /**
   * Sets the hash seed (random by default).
   *
   * @param seed An int32.
   * @returns This builder.
   *
   * @example
   * ```ts
   * import { Builder } from "@x/flashmap";
   *
   * const builder = new Builder().withSeed(42);
   * ```
   */
  withSeed(seed: number): this {
    this.#options.seed = seed;
    return this;
  }

  /**
   * Sets the most bytes this thread's string cache of the map may take
   * (see {@linkcode MapOptions.stringCacheBytes}).
   *
   * @param bytes The limit; 0 turns the cache off.
   * @returns This builder.
   *
   * @example
   * ```ts
   * import { Builder } from "@x/flashmap";
   *
   * const builder = new Builder().withStringCacheBytes(1024 * 1024);
   * ```
   */
  withStringCacheBytes(bytes: number): this {
    this.#options.stringCacheBytes = bytes;
    return this;
  }

  /**
   * Creates the map.
   *
   * @returns `[write, read]`, as {@linkcode create} does.
   *
   * @example
   * ```ts
   * import { Builder } from "@x/flashmap";
   *
   * const [write, read] = new Builder().build();
   * ```
   */
  build(): [WriteHandle<K, V>, ReadHandle<K, V>] {
    return create<K, V>(this.#options);
  }
}
