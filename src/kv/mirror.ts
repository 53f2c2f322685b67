/**
 * `mirrorKv`: a map that mirrors the keys under a KV prefix, kept up to
 * date from the prefix's change log, and read by any number of workers.
 *
 * @module
 */

import {
  BufferFullError,
  type Codec,
  codecs,
  create,
  type KeyCodec,
  type MapOptions,
  type ReadHandle,
  WaitTimeoutError,
  type WriteGuard,
  type WriteHandle,
} from "../../mod.ts";
import {
  checkPrefix,
  type KeyPartMapping,
  partId,
  type PartMapper,
  partMapper,
  showKey,
} from "./keys.ts";
import { describe } from "../storage.ts";
import { changedOptions } from "../options.ts";
import { type LoggedBatch, LogKeys, type LogOp, readLog } from "./log.ts";
import { readSequence } from "./log.ts";
import { isRetryable, jitteredDelay, retryLocked, sleep } from "./retry.ts";
import type { KvKey, KvKeyPart, KvLike } from "./types.ts";

/** How often a mirror reads the sequence key by default, in milliseconds. */
export const DEFAULT_POLL_MS = 100;
/** How often a mirror lists its prefix again by default, in milliseconds. */
export const DEFAULT_RESCAN_MS = 60_000;
/** The longest wait between tries after errors, by default, in milliseconds. */
export const DEFAULT_MAX_BACKOFF_MS = 10_000;
/** Batches a mirror reads from the log at once; further behind, it lists. */
export const MAX_CATCH_UP = 10_000;
/**
 * Listings in a row a resync makes while batches commit during each and
 * the log cannot replay them, before it fails (and is retried later).
 */
const MAX_LISTINGS = 3;
/** The longest delay `setTimeout` takes. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const MIRROR = "mirror the prefix";

/**
 * Options of {@linkcode mirrorKv}.
 *
 * @typeParam K The type of the map's keys.
 * @typeParam V The type of the map's values.
 *
 * @example
 * ```ts
 * import { codecs } from "@x/flashmap";
 * import type { KvMirrorOptions } from "@x/flashmap/kv";
 *
 * const options: KvMirrorOptions<string, { on: boolean }> = {
 *   key: codecs.string,
 *   value: codecs.json<{ on: boolean }>(),
 *   pollMs: 250,
 *   rescanMs: 0, // every writer uses kvWrite
 * };
 * ```
 */
export interface KvMirrorOptions<K, V> {
  /**
   * The key codec (`codecs.string` by default; with `into`, the map's own
   * when it is built in). It decides which KV key parts become map keys.
   */
  key?: KeyCodec<K>;
  /**
   * The value codec (`codecs.string` by default; with `into`, the map's
   * own when it is built in). KV values go into the map as they are, and it
   * refuses those it cannot store.
   */
  value?: Codec<V>;
  /** How KV key parts become map keys, for a key codec of your own. */
  keyPart?: KeyPartMapping<K>;
  /**
   * Mirror into this map instead of a new one: the handles of a map you
   * made (`create()` returns `[write, read]`; `openParallel()` gives
   * `{ read, write }` to one isolate). The mirror then owns the map's
   * writes (changes made by others are undone at the next listing), and
   * `close()` leaves both handles open.
   */
  into?: { read: ReadHandle<K, V>; write: WriteHandle<K, V> };
  /** Options of the map the mirror makes (without `into`): `capacity`, `maxReaders`, and so on. */
  map?: Omit<MapOptions<K, V>, "key" | "value">;
  /**
   * How often to read the sequence key, in milliseconds (default 100). A
   * read costs about 90 µs on a local file; on a remote KV it is a request.
   * Where `watch` delivers changes, this is only the fallback.
   */
  pollMs?: number;
  /**
   * Whether to watch the sequence key too (default `true`, where the store
   * has `watch`). Watches deliver changes made through the same `Deno.Kv`
   * process and through KV Connect, but not changes that another process
   * makes to a local SQLite file (denoland/deno#21640): polling covers those.
   */
  watch?: boolean;
  /**
   * How often to list the whole prefix again and apply the difference, in
   * milliseconds (default 60,000; 0 never). Only this catches writers that
   * use plain `kv.set` or `kv.delete` instead of `kvWrite`.
   */
  rescanMs?: number;
  /** The longest wait between tries after errors, in milliseconds (default 10,000). */
  maxBackoffMs?: number;
  /**
   * What to do with keys under the prefix that cannot be map keys (another
   * part type, or more parts) and values the value codec refuses: `false`
   * (the default) makes `mirrorKv` reject with the first one and, once
   * running, reports each in `status().lastError`; `true` skips them
   * quietly. Either way they are left out of the map and counted in
   * `status().skipped`.
   */
  skipUnmappable?: boolean;
  /** Called with each error the mirror meets while it runs (it keeps running). */
  onError?: (error: Error) => void;
}

/**
 * What {@linkcode KvMirror.status} returns: how current the map is, and
 * what went wrong. Times are milliseconds since the epoch.
 *
 * @example Alert when the mirror is more than 5 s stale
 * ```ts
 * import type { KvMirrorStatus } from "@x/flashmap/kv";
 *
 * function healthy(status: KvMirrorStatus): boolean {
 *   return !status.closed && status.lagMs < 5_000;
 * }
 * ```
 */
export interface KvMirrorStatus {
  /** The map's version (publishes so far): what `read.version` shows. */
  readonly version: number;
  /** The sequence number of the last batch the map shows. */
  readonly sequence: number;
  /** Entries in the map. */
  readonly size: number;
  /** When the mirror last published a change. */
  readonly appliedAt: number;
  /**
   * When the last check that brought the map up to date began: every batch
   * committed before this time is in the map.
   */
  readonly syncedAt: number;
  /**
   * Milliseconds since `syncedAt`: how stale the map may be now. While
   * the mirror is healthy it stays below `pollMs` plus a check's duration.
   */
  readonly lagMs: number;
  /**
   * For the last batch applied from the log, the time from its commit (by
   * the writer's clock) to its publish in the map (by this clock).
   */
  readonly commitLagMs: number | undefined;
  /** The last error met (KV errors, and keys or values that cannot be mapped). */
  readonly lastError: Error | undefined;
  /** When `lastError` happened. */
  readonly lastErrorAt: number | undefined;
  /** Errors met so far. */
  readonly errors: number;
  /** Checks that failed in a row just now (0 when the last one succeeded). */
  readonly consecutiveErrors: number;
  /** Listings of the whole prefix after the first (log expired, `rescanMs`, `rescan()`). */
  readonly resyncs: number;
  /** Batches applied from the log. */
  readonly batches: number;
  /** Checks of the sequence key. */
  readonly polls: number;
  /** Keys and values left out because they cannot be mapped. */
  readonly skipped: number;
  /** Whether a watch of the sequence key is open now. */
  readonly watching: boolean;
  /** Whether `close()` was called. */
  readonly closed: boolean;
}

/**
 * Options of {@linkcode KvMirror.waitFor}.
 *
 * @example
 * ```ts
 * import type { WaitForOptions } from "@x/flashmap/kv";
 *
 * const options: WaitForOptions = { timeoutMs: 2_000 };
 * ```
 */
export interface WaitForOptions {
  /** Gives up when it aborts, rejecting with its reason. */
  signal?: AbortSignal;
  /** Gives up after this many milliseconds with a `WaitTimeoutError`. */
  timeoutMs?: number;
}

/**
 * A running mirror of a KV prefix: {@linkcode mirrorKv} returns it.
 *
 * @typeParam K The type of the map's keys.
 * @typeParam V The type of the map's values.
 *
 * @example
 * ```ts
 * import type { KvMirror } from "@x/flashmap/kv";
 *
 * function lookup(flags: KvMirror<string, string>, name: string) {
 *   return flags.read.get(name);
 * }
 * ```
 */
export interface KvMirror<K, V> extends AsyncDisposable {
  /**
   * A read handle of the map: read it here, `share()` it with workers, who
   * `attach()` the token. With `into`, it is the handle you passed.
   */
  readonly read: ReadHandle<K, V>;
  /**
   * How current the map is, and what went wrong.
   *
   * @returns A snapshot of the counters.
   *
   * @example
   * ```ts
   * import type { KvMirror } from "@x/flashmap/kv";
   *
   * function report(mirror: KvMirror<string, string>) {
   *   const { sequence, lagMs, lastError } = mirror.status();
   *   console.log(`at batch ${sequence}, ${lagMs} ms stale`, lastError ?? "");
   * }
   * ```
   */
  status(): KvMirrorStatus;
  /**
   * Checks the sequence key now (not waiting for the next poll), and
   * applies what is new.
   *
   * @returns The status after the check.
   * @throws {Error} The check's error (the mirror keeps running and retries).
   * @throws {TypeError} When the mirror is closed.
   *
   * @example
   * ```ts
   * import type { KvMirror } from "@x/flashmap/kv";
   *
   * async function current(mirror: KvMirror<string, string>) {
   *   return (await mirror.refresh()).sequence;
   * }
   * ```
   */
  refresh(): Promise<KvMirrorStatus>;
  /**
   * Lists the whole prefix now and applies the difference: picks up writes
   * made with plain `kv.set` and `kv.delete` without waiting for `rescanMs`.
   *
   * @returns The status after the listing.
   * @throws {Error} The listing's error (the mirror keeps running).
   * @throws {TypeError} When the mirror is closed.
   *
   * @example
   * ```ts
   * import type { KvMirror } from "@x/flashmap/kv";
   *
   * async function afterImport(mirror: KvMirror<string, string>) {
   *   await mirror.rescan(); // an import wrote the prefix with kv.set
   * }
   * ```
   */
  rescan(): Promise<KvMirrorStatus>;
  /**
   * Waits until the map shows batch `sequence` (from `kvWrite`'s result):
   * read-your-writes for a writer in this process. It checks at once
   * rather than at the next poll.
   *
   * @param sequence A batch's sequence number.
   * @param options A signal and a timeout.
   * @returns The map version that first shows it.
   * @throws {WaitTimeoutError} When `timeoutMs` runs out.
   * @throws {TypeError} When the mirror is closed before (or while
   * waiting), or an option has the wrong type.
   * @throws {RangeError} When `sequence` is not a non-negative integer, or
   * `timeoutMs` is not a number from 0.
   *
   * @example
   * ```ts
   * import { kvWrite, type KvMirror } from "@x/flashmap/kv";
   *
   * async function setAndSee(kv: Deno.Kv, mirror: KvMirror<string, string>) {
   *   const { sequence } = await kvWrite(kv, ["flags"], (batch) => {
   *     batch.set("mode", "dark");
   *   });
   *   await mirror.waitFor(sequence, { timeoutMs: 5_000 });
   *   return mirror.read.get("mode"); // "dark"
   * }
   * ```
   */
  waitFor(sequence: number, options?: WaitForOptions): Promise<number>;
  /**
   * Stops following the store. Without `into`, it also closes the map's
   * write handle and the mirror's read handle (release their guards
   * first); handles attached in workers keep reading the last version.
   * Calling it again returns the same promise.
   *
   * @returns When the mirror has stopped.
   *
   * @example
   * ```ts
   * import type { KvMirror } from "@x/flashmap/kv";
   *
   * async function stop(mirror: KvMirror<string, string>) {
   *   await mirror.close(); // or: await using mirror = await mirrorKv(...)
   * }
   * ```
   */
  close(): Promise<void>;
  /** Whether `close()` was called. */
  readonly closed: boolean;
}

/** The built-in codecs by the names tokens carry. */
const codecsByName: Record<string, Codec<unknown>> = {
  string: codecs.string,
  number: codecs.number,
  int32: codecs.int32,
  bigint: codecs.bigint,
  boolean: codecs.boolean,
  bytes: codecs.bytes,
  json: codecs.json(),
};

function isKvU64(value: unknown): value is { value: bigint } {
  return typeof value === "object" && value !== null &&
    value.constructor?.name === "KvU64" &&
    typeof (value as { value?: unknown }).value === "bigint";
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function checkMs(name: string, value: unknown, min: number): number {
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot mirror the prefix: ${name} must be a number, got ${
        describe(value)
      }`,
    );
  }
  if (Number.isNaN(value) || value < min) {
    throw new RangeError(
      `Cannot mirror the prefix: ${name} must be at least ${min}, got ${value}`,
    );
  }
  return value;
}

/** The codec the map behind `into` uses for `role`, checked against `given`. */
function intoCodec<T>(
  role: "key" | "value",
  named: string,
  given: Codec<T> | undefined,
): Codec<T> {
  if (given !== undefined) {
    if (given?.name !== named) {
      throw new TypeError(
        `Cannot mirror the prefix: the map's ${role} codec is "${named}", but the ${role} option is "${
          (given as { name?: unknown })?.name
        }"`,
      );
    }
    return given;
  }
  const builtin = codecsByName[named];
  if (builtin === undefined) {
    throw new TypeError(
      `Cannot mirror the prefix: the map's ${role} codec "${named}" is not built in: pass it as the ${role} option`,
    );
  }
  return builtin as Codec<T>;
}

interface Request {
  rescan: boolean;
  resolve(status: KvMirrorStatus): void;
  reject(error: unknown): void;
}

interface Waiter {
  sequence: number;
  resolve(version: number): void;
  reject(error: unknown): void;
}

class Mirror<K, V> implements KvMirror<K, V> {
  readonly read: ReadHandle<K, V>;
  readonly #write: WriteHandle<K, V>;
  readonly #own: boolean;
  readonly #kv: KvLike;
  readonly #keys: LogKeys;
  readonly #mapper: PartMapper<K>;
  readonly #value: Codec<V>;
  readonly #pollMs: number;
  readonly #watch: boolean;
  readonly #rescanMs: number;
  readonly #maxBackoffMs: number;
  readonly #skipUnmappable: boolean;
  readonly #onError: ((error: Error) => void) | undefined;

  #applied = 0;
  #version = 0;
  #size = 0;
  #appliedAt = 0;
  #syncedAt = 0;
  #commitLagMs: number | undefined;
  #lastError: Error | undefined;
  #lastErrorAt: number | undefined;
  #errors = 0;
  #consecutiveErrors = 0;
  #resyncs = 0;
  #batches = 0;
  #polls = 0;
  #skipped = 0;
  #watching = false;
  #lastRescanAt = 0;
  #forceRescan = false;

  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #stop = new AbortController();
  #wakePending = false;
  #wakeNow: (() => void) | undefined;
  #watchReader: ReadableStreamDefaultReader<unknown> | undefined;
  #loop: Promise<void> = Promise.resolve();
  #watchLoop: Promise<void> = Promise.resolve();
  readonly #requests: Request[] = [];
  readonly #waiters = new Set<Waiter>();

  constructor(
    kv: KvLike,
    keys: LogKeys,
    mapper: PartMapper<K>,
    value: Codec<V>,
    write: WriteHandle<K, V>,
    read: ReadHandle<K, V>,
    own: boolean,
    options: KvMirrorOptions<K, V>,
  ) {
    this.#kv = kv;
    this.#keys = keys;
    this.#mapper = mapper;
    this.#value = value;
    this.#write = write;
    this.read = read;
    this.#own = own;
    this.#pollMs = Math.min(
      MAX_TIMER_MS,
      checkMs("pollMs", options.pollMs ?? DEFAULT_POLL_MS, 1),
    );
    this.#rescanMs = checkMs(
      "rescanMs",
      options.rescanMs ?? DEFAULT_RESCAN_MS,
      0,
    );
    this.#maxBackoffMs = Math.min(
      MAX_TIMER_MS,
      checkMs(
        "maxBackoffMs",
        options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS,
        1,
      ),
    );
    for (const flag of ["watch", "skipUnmappable"] as const) {
      if (options[flag] !== undefined && typeof options[flag] !== "boolean") {
        throw new TypeError(
          `Cannot mirror the prefix: ${flag} must be a boolean, got ${
            describe(options[flag])
          }`,
        );
      }
    }
    this.#watch = (options.watch ?? true) && typeof kv.watch === "function";
    this.#skipUnmappable = options.skipUnmappable ?? false;
    if (
      options.onError !== undefined && typeof options.onError !== "function"
    ) {
      throw new TypeError(
        `Cannot mirror the prefix: onError must be a function, got ${
          describe(options.onError)
        }`,
      );
    }
    this.#onError = options.onError;
  }

  /** Lists the prefix into the map, strictly unless told to skip. */
  async bootstrap(): Promise<void> {
    const started = Date.now();
    await this.#sync(!this.#skipUnmappable, true);
    this.#syncedAt = started;
  }

  start(): void {
    this.#loop = this.#run();
    if (this.#watch) this.#watchLoop = this.#follow();
  }

  get closed(): boolean {
    return this.#closed;
  }

  status(): KvMirrorStatus {
    return {
      version: this.#version,
      sequence: this.#applied,
      size: this.#size,
      appliedAt: this.#appliedAt,
      syncedAt: this.#syncedAt,
      lagMs: Math.max(0, Date.now() - this.#syncedAt),
      commitLagMs: this.#commitLagMs,
      lastError: this.#lastError,
      lastErrorAt: this.#lastErrorAt,
      errors: this.#errors,
      consecutiveErrors: this.#consecutiveErrors,
      resyncs: this.#resyncs,
      batches: this.#batches,
      polls: this.#polls,
      skipped: this.#skipped,
      watching: this.#watching,
      closed: this.#closed,
    };
  }

  refresh(): Promise<KvMirrorStatus> {
    return this.#request(false);
  }

  rescan(): Promise<KvMirrorStatus> {
    return this.#request(true);
  }

  #request(rescan: boolean): Promise<KvMirrorStatus> {
    if (this.#closed) {
      return Promise.reject(
        new TypeError(
          `Cannot ${rescan ? "rescan" : "refresh"} the mirror: it is closed`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      this.#requests.push({ rescan, resolve, reject });
      this.#wake();
    });
  }

  waitFor(sequence: number, options: WaitForOptions = {}): Promise<number> {
    if (
      typeof sequence !== "number" || !Number.isSafeInteger(sequence) ||
      sequence < 0
    ) {
      return Promise.reject(
        new RangeError(
          `Cannot wait for the sequence: it must be a non-negative integer, got ${
            describe(sequence)
          }`,
        ),
      );
    }
    let checked: { signal?: AbortSignal; timeoutMs: number };
    try {
      // Checked as `ReadHandle.changed()` checks its own.
      checked = changedOptions(options, `wait for sequence ${sequence}`);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#applied >= sequence) return Promise.resolve(this.#version);
    if (this.#closed) {
      return Promise.reject(
        new TypeError(
          `Cannot wait for sequence ${sequence}: the mirror is closed`,
        ),
      );
    }
    const { signal, timeoutMs } = checked;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<number>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.#waiters.delete(waiter);
      };
      const onAbort = () => {
        done();
        reject(signal!.reason);
      };
      const waiter: Waiter = {
        sequence,
        resolve: (version) => {
          done();
          resolve(version);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      };
      this.#waiters.add(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (timeoutMs !== Infinity) {
        timer = setTimeout(() => {
          done();
          reject(
            new WaitTimeoutError(
              `Cannot wait for sequence ${sequence}: the map still shows ${this.#applied} after ${timeoutMs} ms`,
              [],
            ),
          );
        }, Math.min(MAX_TIMER_MS, timeoutMs));
      }
      this.#wake();
    });
  }

  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    this.#stop.abort();
    this.#wake();
    this.#watchReader?.cancel().catch(() => {});
    this.#closing = (async () => {
      await this.#loop;
      await this.#watchLoop;
      const closed = new TypeError("Cannot wait: the mirror was closed");
      for (const request of this.#requests.splice(0)) request.reject(closed);
      for (const waiter of [...this.#waiters]) waiter.reject(closed);
      if (this.#own) {
        this.#write.close();
        this.read.close();
      }
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #wake(): void {
    this.#wakePending = true;
    this.#wakeNow?.();
  }

  /** Sleeps `ms`, or less when woken or closed. */
  #sleep(ms: number): Promise<void> {
    if (this.#wakePending || this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wakeNow = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wakeNow = done;
    });
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      const delay = this.#consecutiveErrors === 0 ? this.#pollMs : (() => {
        const ceiling = Math.min(
          this.#maxBackoffMs,
          this.#pollMs * 2 ** Math.min(this.#consecutiveErrors, 30),
        );
        return ceiling * (0.5 + Math.random() / 2);
      })();
      await this.#sleep(delay);
      if (this.#closed) break;
      this.#wakePending = false;
      const requests = this.#requests.splice(0);
      const rescan = requests.some((request) => request.rescan);
      try {
        await this.#tick(rescan);
        const status = this.status();
        for (const request of requests) request.resolve(status);
      } catch (error) {
        this.#consecutiveErrors++;
        this.#report(asError(error));
        for (const request of requests) request.reject(error);
      }
    }
  }

  /** Reads the sequence; applies the log since the last batch, or lists. */
  async #tick(rescan: boolean): Promise<void> {
    const started = Date.now();
    this.#polls++;
    const { sequence } = await readSequence(this.#kv, this.#keys);
    const due = this.#rescanMs > 0 &&
      started - this.#lastRescanAt >= this.#rescanMs;
    if (rescan || due || this.#forceRescan || sequence < this.#applied) {
      await this.#sync(false, false);
    } else if (sequence > this.#applied) {
      const from = this.#applied + 1;
      const batches = sequence - from < MAX_CATCH_UP
        ? await readLog(this.#kv, this.#keys, from, sequence)
        : undefined;
      if (batches === undefined) await this.#sync(false, false);
      else await this.#applyBatches(batches);
    }
    this.#syncedAt = started;
    this.#consecutiveErrors = 0;
    this.#settle();
  }

  /** Resolves the waiters the map has reached. */
  #settle(): void {
    for (const waiter of [...this.#waiters]) {
      if (this.#applied >= waiter.sequence) waiter.resolve(this.#version);
    }
  }

  #report(error: Error): void {
    this.#errors++;
    this.#lastError = error;
    this.#lastErrorAt = Date.now();
    try {
      this.#onError?.(error);
    } catch {
      // A failing callback must not stop the mirror.
    }
  }

  /** Counts a key or value that cannot be mapped; throws it when strict. */
  #unmappable(error: Error, strict: boolean): void {
    this.#skipped++;
    if (strict) throw error;
    if (!this.#skipUnmappable) this.#report(error);
  }

  #published(guard: WriteGuard<K, V>): void {
    this.#size = guard.size;
    guard.publish();
    this.#version = this.#write.version;
    this.#appliedAt = Date.now();
  }

  /** The map key of a key part, or `undefined` (counted) when it has none. */
  #keyOf(part: KvKeyPart, strict: boolean): K | undefined {
    try {
      return this.#mapper.fromPart(
        part,
        () => `mirror key ${showKey(this.#keys.data(part))}`,
      );
    } catch (error) {
      this.#unmappable(asError(error), strict);
      return undefined;
    }
  }

  /**
   * Sets `key` to the KV value `raw` (unless it holds an equal value
   * already, when `compare`); a value the codec refuses removes the key.
   */
  #setValue(
    guard: WriteGuard<K, V>,
    key: K,
    part: KvKeyPart,
    raw: unknown,
    strict: boolean,
    compare: boolean,
  ): "same" | "set" | "refused" {
    const value =
      (this.#value === codecs.bigint && isKvU64(raw) ? raw.value : raw) as V;
    if (compare && this.#same(guard.get(key), value)) return "same";
    try {
      guard.set(key, value);
      return "set";
    } catch (error) {
      // A full map is no fault of the value: the check fails and is retried.
      // Anything else the codec throws (a codec of your own may throw a
      // plain Error) refuses this value only, or the mirror would be stuck
      // on it for good.
      if (error instanceof BufferFullError) throw error;
      guard.delete(key);
      this.#unmappable(
        new TypeError(
          `Cannot mirror key ${
            showKey(this.#keys.data(part))
          }: the value codec "${this.#value.name}" refuses its value: ${
            error instanceof Error ? error.message : String(error)
          }`,
          { cause: error },
        ),
        strict,
      );
      return "refused";
    }
  }

  #same(held: V | undefined, value: V): boolean {
    if (Object.is(held, value)) return true;
    if (held === undefined || held === null || typeof held !== "object") {
      return false;
    }
    if (held instanceof Uint8Array && value instanceof Uint8Array) {
      return bytesEqual(held, value);
    }
    try {
      return bytesEqual(this.#value.encode(held), this.#value.encode(value));
    } catch {
      return false;
    }
  }

  #applyOp(guard: WriteGuard<K, V>, op: LogOp, strict: boolean): void {
    const part = op[0];
    const key = this.#keyOf(part, strict);
    if (key === undefined) return;
    if (op.length === 1) guard.delete(key);
    else this.#setValue(guard, key, part, op[1], strict, false);
  }

  /** Applies batches from the log under one write guard, and publishes once. */
  async #applyBatches(batches: LoggedBatch[]): Promise<void> {
    const guard = await this.#write.guardAsync();
    try {
      for (const batch of batches) {
        for (const op of batch.ops) this.#applyOp(guard, op, false);
      }
      this.#published(guard);
    } finally {
      if (!guard.published && !guard.aborted) guard.abort();
    }
    const last = batches[batches.length - 1];
    this.#applied = last.sequence;
    this.#batches += batches.length;
    this.#commitLagMs = this.#appliedAt - last.at;
  }

  /**
   * Lists the prefix into one write guard: sets what differs, deletes what
   * is gone, applies the log written meanwhile, and publishes once (when
   * something changed, or on the first sync).
   */
  async #sync(strict: boolean, first: boolean): Promise<void> {
    this.#lastRescanAt = Date.now();
    this.#forceRescan = false;
    const guard = await this.#write.guardAsync();
    let changed = first;
    try {
      for (let listing = 1;; listing++) {
        const before = await readSequence(this.#kv, this.#keys);
        const listed = await this.#list(guard, strict);
        if (listed.changed) changed = true;
        const after = await readSequence(this.#kv, this.#keys);
        let sequence = before.sequence;
        let last: LoggedBatch | undefined;
        if (after.sequence > before.sequence) {
          const batches = after.sequence - before.sequence <= MAX_CATCH_UP
            ? await readLog(
              this.#kv,
              this.#keys,
              before.sequence + 1,
              after.sequence,
            )
            : undefined;
          if (batches === undefined) {
            // Batches committed while it listed, and the log cannot replay
            // them: the listing may hold part of one. List again.
            if (listing < MAX_LISTINGS) continue;
            throw new Error(
              `Cannot ${MIRROR}: ${MAX_LISTINGS} listings in a row met batches (${
                before.sequence + 1
              } to ${after.sequence}) that committed while it listed and that the log no longer holds (retentionMs shorter than a listing, or more than ${MAX_CATCH_UP} batches during one)`,
            );
          }
          for (const batch of batches) {
            for (const op of batch.ops) {
              // The listing saw a later write of the key than this batch's
              // (a plain kv.set): the batch must not undo it.
              const seenAt = listed.stamps.get(partId(op[0]));
              if (seenAt !== undefined && seenAt > batch.versionstamp) continue;
              this.#applyOp(guard, op, strict);
            }
          }
          sequence = after.sequence;
          last = batches[batches.length - 1];
          changed = true;
        } else if (after.sequence < before.sequence) {
          // The store went back while we listed (a restore?): list again soon.
          sequence = after.sequence;
          this.#forceRescan = true;
        }
        if (changed) this.#published(guard);
        else guard.abort();
        this.#applied = sequence;
        if (last !== undefined) this.#commitLagMs = this.#appliedAt - last.at;
        if (!first) this.#resyncs++;
        return;
      }
    } finally {
      if (!guard.published && !guard.aborted) guard.abort();
    }
  }

  /**
   * Lists the prefix into `guard`: sets what differs and deletes what is
   * gone. Returns whether it changed anything, and the versionstamp of each
   * key part it listed.
   */
  async #list(
    guard: WriteGuard<K, V>,
    strict: boolean,
  ): Promise<{ changed: boolean; stamps: Map<string, string> }> {
    const depth = this.#keys.prefix.length + 1;
    let changed = false;
    let seen = new Set<string>();
    let stamps = new Map<string, string>();
    await retryLocked(async () => {
      // A retry lists from the start: what a failed try saw may be gone.
      seen = new Set();
      stamps = new Map();
      for await (
        const entry of this.#kv.list({ prefix: this.#keys.prefix }, {
          batchSize: 1000,
        })
      ) {
        if (entry.key.length !== depth) {
          this.#unmappable(
            new TypeError(
              `Cannot mirror key ${showKey(entry.key)}: it is ${
                entry.key.length - depth + 1
              } parts below the prefix ${
                showKey(this.#keys.prefix)
              }, and a map key is one part`,
            ),
            strict,
          );
          continue;
        }
        const part = entry.key[depth - 1];
        stamps.set(partId(part), entry.versionstamp);
        const key = this.#keyOf(part, strict);
        if (key === undefined) continue;
        const done = this.#setValue(
          guard,
          key,
          part,
          entry.value,
          strict,
          true,
        );
        if (done !== "refused") {
          seen.add(partId(this.#mapper.toPart(key, MIRROR)));
        }
        if (done !== "same") changed = true;
      }
    });
    const gone = [];
    for (const key of guard.keys()) {
      if (!seen.has(partId(this.#mapper.toPart(key, MIRROR)))) gone.push(key);
    }
    for (const key of gone) guard.delete(key);
    if (gone.length > 0) changed = true;
    return { changed, stamps };
  }

  /** Watches the sequence key and wakes the loop when it moves. */
  async #follow(): Promise<void> {
    let failures = 0;
    while (!this.#closed) {
      try {
        const reader = this.#kv.watch!([this.#keys.sequence]).getReader();
        this.#watchReader = reader;
        if (this.#closed) break;
        this.#watching = true;
        for (;;) {
          const { done, value } = await reader.read();
          if (done || this.#closed) break;
          failures = 0;
          const entry = (value as readonly { value: unknown }[])[0];
          if (entry?.value !== this.#applied) this.#wake();
        }
      } catch (error) {
        if (!this.#closed && !isRetryable(error)) {
          this.#report(asError(error));
        }
      } finally {
        this.#watching = false;
        this.#watchReader?.cancel().catch(() => {});
        this.#watchReader = undefined;
      }
      if (this.#closed) break;
      failures++;
      try {
        await sleep(
          Math.max(
            this.#pollMs,
            jitteredDelay(failures, 1000, this.#maxBackoffMs),
          ),
          this.#stop.signal,
        );
      } catch {
        break; // closed
      }
    }
  }
}

/**
 * Mirrors the keys under a KV prefix into a map that any number of workers
 * read at memory speed, and keeps it up to date.
 *
 * **Bootstrap.** It reads the prefix's sequence number, lists the prefix
 * into one write guard, reads the sequence number again and applies the
 * batches committed meanwhile from the log, then publishes: the first
 * version shows the store as of one batch. Each key `[...prefix, part]`
 * becomes the map key its part maps to (see the module docs), its value
 * goes in as it is (the value codec checks it).
 *
 * **Following.** It reads the sequence key every `pollMs`, and also when
 * a watch of it fires (same process, or KV Connect). When the number moved,
 * it reads the log entries since the last batch it applied, applies them in
 * order under one write guard and publishes once: readers see whole
 * batches, in commit order, and a reader's versions never go back.
 *
 * **Resync.** When the log no longer reaches back to the last batch
 * applied (entries expired, or the store was restored), and every
 * `rescanMs` (for writers that use plain `kv.set`), it lists the prefix
 * again and applies the difference.
 *
 * **Failures.** A failed check leaves the map as it was (the last good
 * version stays readable), is reported in `status()` and `onError`, and is
 * retried after a backoff that doubles up to `maxBackoffMs`, with jitter.
 *
 * @typeParam K The type of the map's keys (`string` by default).
 * @typeParam V The type of the map's values (`string` by default).
 * @param kv The KV store (a `Deno.Kv`: a local file, or remote through KV Connect).
 * @param prefix The prefix to mirror (at least one part).
 * @param options Codecs, the map to mirror into, and timings.
 * @returns The running mirror, after its first version is published.
 * @throws {TypeError} For a bad prefix or option, codecs that do not agree
 * with `into`, a key or value under the prefix that cannot be mapped (unless
 * `skipUnmappable`; a key part out of the codec's range is a `RangeError`),
 * or a KV error during the bootstrap.
 * @throws {RangeError} For an option out of range.
 *
 * @example Flags read by workers
 * ```ts
 * import { codecs } from "@x/flashmap";
 * import { kvWrite, mirrorKv } from "@x/flashmap/kv";
 *
 * interface Flag {
 *   on: boolean;
 * }
 *
 * async function serveFlags(kv: Deno.Kv, workers: Worker[]) {
 *   const flags = await mirrorKv(kv, ["flags"], {
 *     key: codecs.string,
 *     value: codecs.json<Flag>(),
 *   });
 *   for (const worker of workers) worker.postMessage(flags.read.share());
 *   const { sequence } = await kvWrite(kv, ["flags"], (batch) => {
 *     batch.set("new-checkout", { on: true });
 *   });
 *   await flags.waitFor(sequence);
 *   console.log(flags.read.get("new-checkout"), flags.status().lagMs);
 *   return flags; // await flags.close() when done
 * }
 * ```
 */
export async function mirrorKv<K = string, V = string>(
  kv: KvLike,
  prefix: KvKey,
  options: KvMirrorOptions<K, V> = {},
): Promise<KvMirror<K, V>> {
  const keys = new LogKeys(checkPrefix(prefix, MIRROR));
  if (
    typeof kv !== "object" || kv === null || typeof kv.get !== "function" ||
    typeof kv.list !== "function" || typeof kv.atomic !== "function"
  ) {
    throw new TypeError(
      `Cannot mirror the prefix: kv must be a Deno.Kv (get, list, atomic), got ${
        describe(kv)
      }`,
    );
  }
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Cannot mirror the prefix: options must be an object, got ${
        describe(options)
      }`,
    );
  }
  let write: WriteHandle<K, V>;
  let read: ReadHandle<K, V>;
  let keyCodec: Codec<K>;
  let valueCodec: Codec<V>;
  const into = options.into;
  if (into !== undefined) {
    if (
      typeof into !== "object" || into === null ||
      typeof into.write?.guardAsync !== "function" ||
      typeof into.read?.share !== "function"
    ) {
      throw new TypeError(
        `Cannot mirror the prefix: into must be { read, write }, the handles of one map, got ${
          describe(into)
        }`,
      );
    }
    if (into.write.closed || into.read.closed) {
      throw new TypeError(
        "Cannot mirror the prefix: the handles passed as into must be open",
      );
    }
    const token = into.read.share();
    keyCodec = intoCodec("key", token.key, options.key);
    valueCodec = intoCodec("value", token.value, options.value);
    write = into.write;
    read = into.read;
  } else {
    keyCodec = (options.key ?? codecs.string) as Codec<K>;
    valueCodec = (options.value ?? codecs.string) as Codec<V>;
    [write, read] = create<K, V>({
      ...options.map,
      key: keyCodec as KeyCodec<K>,
      value: valueCodec,
    });
  }
  let mirror: Mirror<K, V>;
  try {
    const mapper = partMapper(
      keyCodec as KeyCodec<K>,
      options.keyPart,
      MIRROR,
    );
    mirror = new Mirror(
      kv,
      keys,
      mapper,
      valueCodec,
      write,
      read,
      into === undefined,
      options,
    );
    await mirror.bootstrap();
  } catch (error) {
    if (into === undefined) {
      write.close();
      read.close();
    }
    throw error;
  }
  mirror.start();
  return mirror;
}
