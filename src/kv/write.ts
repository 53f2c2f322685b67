/**
 * `kvWrite`: one batch of sets and deletes under a prefix, committed in one
 * atomic KV transaction together with its entry in the change log.
 *
 * @module
 */

import type { Codec, KeyCodec } from "../../mod.ts";
import {
  checkPrefix,
  type KeyPartMapping,
  partId,
  partMapper,
  showKey,
} from "./keys.ts";
import { describe } from "../storage.ts";
import {
  chunkOps,
  LOG_FORMAT,
  type LogChunk,
  LogKeys,
  type LogOp,
  parseSequence,
  readSequence,
} from "./log.ts";
import { isRetryable, jitteredDelay, sleep } from "./retry.ts";
import type { KvKey, KvKeyPart, KvLike } from "./types.ts";

/** How long log entries are kept by default: one hour. */
export const DEFAULT_RETENTION_MS = 3_600_000;
/** How long `kvWrite` keeps trying by default: 30 seconds. */
export const DEFAULT_WRITE_TIMEOUT_MS = 30_000;
/** The most mutations one KV transaction may hold. */
const MAX_MUTATIONS = 1000;

const ADD = "add to the batch";
const WRITE = "write the batch";

/**
 * The batch a {@linkcode kvWrite} callback fills: sets and deletes of keys
 * under the prefix, committed together. The last operation on a key wins.
 *
 * @typeParam K The type of the keys (KV key parts, or what the key codec takes).
 * @typeParam V The type of the values.
 *
 * @example
 * ```ts
 * import type { KvBatch } from "@x/flashmap/kv";
 *
 * function rename(batch: KvBatch<string, unknown>, from: string, to: string, value: unknown) {
 *   batch.delete(from).set(to, value);
 * }
 * ```
 */
export interface KvBatch<K, V> {
  /**
   * Sets `[...prefix, key]` to `value` when the batch commits.
   *
   * @param key The key (the last part of the KV key).
   * @param value The value, stored in KV as it is (structured clone).
   * @returns The batch, for chaining.
   * @throws {TypeError} Or `RangeError`, when the key cannot be a KV key
   * part, or the value codec refuses the value, or the callback has
   * returned.
   */
  set(key: K, value: V): this;
  /**
   * Deletes `[...prefix, key]` when the batch commits.
   *
   * @param key The key.
   * @returns The batch, for chaining.
   * @throws {TypeError} Or `RangeError`, when the key cannot be a KV key
   * part, or the callback has returned.
   */
  delete(key: K): this;
  /** The number of keys the batch changes so far. */
  readonly size: number;
}

/**
 * Options of {@linkcode kvWrite}.
 *
 * @typeParam K The type of the keys.
 * @typeParam V The type of the values.
 *
 * @example
 * ```ts
 * import { codecs } from "@x/flashmap";
 * import type { KvWriteOptions } from "@x/flashmap/kv";
 *
 * const options: KvWriteOptions<string, number> = {
 *   key: codecs.string,
 *   value: codecs.number,
 *   retentionMs: 10 * 60_000,
 * };
 * ```
 */
export interface KvWriteOptions<K, V> {
  /**
   * The mirror's key codec: keys are checked and mapped to KV key parts as
   * the mirror maps them back (see the module docs). Without it, keys are
   * KV key parts as they are.
   */
  key?: KeyCodec<K>;
  /** The mirror's value codec: values it refuses are refused here. */
  value?: Codec<V>;
  /** How keys become KV key parts, for a key codec of your own. */
  keyPart?: KeyPartMapping<K>;
  /**
   * How long the batch's log entry is kept, in milliseconds (default one
   * hour). A mirror that falls further behind than this lists the prefix
   * again instead of reading the log; keep it well above the mirrors'
   * `pollMs` and the time a listing of the prefix takes.
   */
  retentionMs?: number;
  /**
   * How long to keep trying while other writers win the race or SQLite is
   * locked, in milliseconds (default 30 s).
   */
  timeoutMs?: number;
  /** Stops trying when it aborts; the batch is then not written. */
  signal?: AbortSignal;
}

/**
 * What {@linkcode kvWrite} returns.
 *
 * @example
 * ```ts
 * import type { KvWriteResult } from "@x/flashmap/kv";
 *
 * const result: KvWriteResult = { sequence: 7, versionstamp: "00000000000000070000", attempts: 1, operations: 2 };
 * ```
 */
export interface KvWriteResult {
  /**
   * The batch's sequence number: a mirror whose `status().sequence` has
   * reached it shows the batch (`mirror.waitFor(sequence)`). For an empty
   * batch, nothing is written and this is the current sequence number.
   */
  readonly sequence: number;
  /** The versionstamp of the commit (`null` for an empty batch). */
  readonly versionstamp: string | null;
  /** Commits tried, this one included (0 for an empty batch). */
  readonly attempts: number;
  /** Keys the batch changed. */
  readonly operations: number;
}

class Batch<K, V> implements KvBatch<K, V> {
  readonly ops = new Map<string, LogOp>();
  #sealed = false;
  readonly #toPart: (key: K, action: string) => KvKeyPart;
  readonly #value: Codec<V> | undefined;

  constructor(
    toPart: (key: K, action: string) => KvKeyPart,
    value: Codec<V> | undefined,
  ) {
    this.#toPart = toPart;
    this.#value = value;
  }

  seal(): void {
    this.#sealed = true;
  }

  #part(key: K): KvKeyPart {
    if (this.#sealed) {
      throw new TypeError(
        "Cannot add to the batch: the kvWrite callback has returned (add every operation before it returns)",
      );
    }
    return this.#toPart(key, ADD);
  }

  set(key: K, value: V): this {
    const part = this.#part(key);
    if (this.#value !== undefined) {
      try {
        this.#value.encode(value);
      } catch (error) {
        const Kind = error instanceof RangeError ? RangeError : TypeError;
        throw new Kind(
          `Cannot add to the batch: the value codec "${this.#value.name}" refuses the value of key ${
            showKey([part])
          }: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        );
      }
    }
    const id = partId(part);
    this.ops.delete(id);
    this.ops.set(id, [part, value]);
    return this;
  }

  delete(key: K): this {
    const part = this.#part(key);
    const id = partId(part);
    this.ops.delete(id);
    this.ops.set(id, [part]);
    return this;
  }

  get size(): number {
    return this.ops.size;
  }
}

function checkNumber(
  name: string,
  value: unknown,
  min: number,
  integer: boolean,
): number {
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot write the batch: ${name} must be a number, got ${
        describe(value)
      }`,
    );
  }
  if (
    Number.isNaN(value) || value < min ||
    (integer && !Number.isSafeInteger(value))
  ) {
    throw new RangeError(
      `Cannot write the batch: ${name} must be ${
        integer ? "an integer" : "a number"
      } of at least ${min}, got ${value}`,
    );
  }
  return value;
}

/** KV's own error for a transaction over its limits, as a RangeError that says so. */
function tooLarge(error: unknown): Error | undefined {
  if (
    error instanceof Error && /too large|too many/i.test(error.message)
  ) {
    return new RangeError(
      `Cannot write the batch: it does not fit one KV transaction (a batch and its log entry together: at most 1000 keys, 800 KiB, 64 KiB per value): ${error.message}`,
      { cause: error },
    );
  }
  return undefined;
}

/**
 * Writes a batch of sets and deletes under `prefix`, all or nothing, and
 * logs it for the mirrors of the prefix ({@linkcode mirrorKv}).
 *
 * `fn` fills the batch; nothing is written if it throws. The batch is then
 * committed in one atomic transaction that
 *
 * 1. checks that the prefix's sequence key still has the versionstamp read
 *    just before, and that this batch's marker is absent;
 * 2. sets the sequence key to the next number `n`;
 * 3. writes the data keys (`[...prefix, key]`);
 * 4. writes the batch's log entry (`["__flashmap", ...prefix, "log", n, i]`,
 *    in chunks below KV's 64 KiB per value) and its marker, both expiring
 *    after `retentionMs`.
 *
 * When the check fails (another writer committed first), it reads the
 * sequence again and retries; when SQLite answers `database is locked`, it
 * retries after a short random wait. Batches from any number of writers,
 * in any number of processes, thus get consecutive numbers in commit order,
 * and none is lost. The marker makes a retry after a commit that failed
 * with the lock error yet went through find its batch instead of writing
 * it twice. Any other error of a commit is rethrown, not retried: the
 * batch may or may not have been written (a network error, over KV
 * Connect).
 *
 * Values are stored in KV as they are (structured clone), so plain
 * `kv.get` and `kv.list` read them. `fn` runs once; retries reuse its batch.
 * Operations are blind writes: for a read-modify-write, read, compute,
 * and write in `fn`, knowing that another writer may commit between.
 *
 * @typeParam K The type of the keys: KV key parts, or what `options.key` takes.
 * @typeParam V The type of the values.
 * @param kv The KV store (a `Deno.Kv`).
 * @param prefix Where the data lives (at least one part).
 * @param fn Fills the batch; may be async (what it returns is ignored).
 * @param options Codecs to check against, the log's retention, retry bounds.
 * @returns The batch's sequence number and versionstamp.
 * @throws {TypeError} For a bad prefix, key, value or option (from `fn`'s
 * calls too), and for KV errors other than a lock.
 * @throws {RangeError} For a batch too large for one KV transaction (over
 * 1000 keys with its log, or too many bytes), or an option out of range.
 * @throws {Error} When `timeoutMs` runs out, or the abort reason when `signal`
 * aborts; the batch is then not written.
 *
 * @example Turn one flag on and another off, together
 * ```ts
 * import { codecs } from "@x/flashmap";
 * import { kvWrite } from "@x/flashmap/kv";
 *
 * interface Flag {
 *   on: boolean;
 * }
 *
 * async function launch(kv: Deno.Kv): Promise<number> {
 *   const { sequence } = await kvWrite(kv, ["flags"], (batch) => {
 *     batch.set("new-checkout", { on: true });
 *     batch.delete("old-checkout");
 *   }, { key: codecs.string, value: codecs.json<Flag>() });
 *   return sequence; // mirrors show the batch once they reach it
 * }
 * ```
 */
export async function kvWrite<K = KvKeyPart, V = unknown>(
  kv: KvLike,
  prefix: KvKey,
  fn: (batch: KvBatch<K, V>) => unknown,
  options: KvWriteOptions<K, V> = {},
): Promise<KvWriteResult> {
  if (
    typeof kv !== "object" || kv === null || typeof kv.get !== "function" ||
    typeof kv.atomic !== "function"
  ) {
    throw new TypeError(
      `Cannot write the batch: kv must be a Deno.Kv (get, atomic), got ${
        describe(kv)
      }`,
    );
  }
  const keys = new LogKeys(checkPrefix(prefix, WRITE));
  if (typeof fn !== "function") {
    throw new TypeError(
      `Cannot write the batch: fn must be a function, got ${describe(fn)}`,
    );
  }
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Cannot write the batch: options must be an object, got ${
        describe(options)
      }`,
    );
  }
  const retentionMs = checkNumber(
    "retentionMs",
    options.retentionMs ?? DEFAULT_RETENTION_MS,
    1,
    true,
  );
  const timeoutMs = checkNumber(
    "timeoutMs",
    options.timeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS,
    0,
    false,
  );
  const signal = options.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(
      `Cannot write the batch: signal must be an AbortSignal, got ${
        describe(signal)
      }`,
    );
  }
  const mapper = partMapper(options.key, options.keyPart, WRITE);
  const batch = new Batch<K, V>(
    (key, action) => mapper.toPart(key, action),
    options.value,
  );
  try {
    await fn(batch);
  } finally {
    batch.seal();
  }
  const ops = [...batch.ops.values()];
  if (ops.length === 0) {
    const { sequence } = await readSequence(kv, keys);
    return { sequence, versionstamp: null, attempts: 0, operations: 0 };
  }
  const chunks = chunkOps(ops);
  const mutations = ops.length + chunks.length + 2;
  if (mutations > MAX_MUTATIONS) {
    throw new RangeError(
      `Cannot write the batch: it needs ${mutations} mutations (${ops.length} keys, ${chunks.length} log chunks, the sequence and the marker), one KV transaction takes at most ${MAX_MUTATIONS}: split it into smaller batches`,
    );
  }
  const marker = keys.marker(crypto.randomUUID());
  const deadline = performance.now() + timeoutMs;
  let inDoubt = false;
  let lastReason = "";
  for (let attempt = 1;; attempt++) {
    signal?.throwIfAborted();
    let delay = 0;
    try {
      const current = await kv.get(keys.sequence);
      const next = parseSequence(current.value, keys.sequence) + 1;
      const at = Date.now();
      const atomic = kv.atomic()
        .check(
          { key: keys.sequence, versionstamp: current.versionstamp },
          { key: marker, versionstamp: null },
        )
        .set(keys.sequence, next);
      for (const op of ops) {
        if (op.length === 2) atomic.set(keys.data(op[0]), op[1]);
        else atomic.delete(keys.data(op[0]));
      }
      chunks.forEach((chunk, index) => {
        const entry: LogChunk = {
          v: LOG_FORMAT,
          at,
          chunks: chunks.length,
          ops: chunk,
        };
        atomic.set(keys.chunk(next, index), entry, { expireIn: retentionMs });
      });
      atomic.set(marker, next, { expireIn: retentionMs });
      let result;
      try {
        result = await atomic.commit();
      } catch (error) {
        inDoubt = true;
        throw error;
      }
      if (result.ok) {
        return {
          sequence: next,
          versionstamp: result.versionstamp,
          attempts: attempt,
          operations: ops.length,
        };
      }
      if (inDoubt) {
        // An earlier try may have committed without its answer reaching us.
        const found = await kv.get(marker);
        if (found.value !== null) {
          return {
            sequence: parseSequence(found.value, marker),
            versionstamp: found.versionstamp,
            attempts: attempt,
            operations: ops.length,
          };
        }
      }
      lastReason = "another writer committed first";
      // The first conflict retries at once; repeated ones spread out.
      delay = attempt === 1 ? 0 : jitteredDelay(attempt - 1, 1, 50);
    } catch (error) {
      if (!isRetryable(error)) throw tooLarge(error) ?? error;
      lastReason = error instanceof Error ? error.message : String(error);
      delay = jitteredDelay(attempt, 1, 50);
    }
    if (performance.now() + delay > deadline) {
      throw new Error(
        `Cannot write the batch: gave up after ${attempt} attempts in ${timeoutMs} ms (timeoutMs): ${lastReason}`,
      );
    }
    if (delay > 0) await sleep(delay, signal);
  }
}
