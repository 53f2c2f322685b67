/**
 * The change log of a prefix: where its keys live, what its entries hold,
 * and how a mirror reads it.
 *
 * For a prefix `P` (say `["flags"]`), data lives at `[...P, part]` and the
 * log beside it, under the root `"__flashmap"`:
 *
 * | key | value |
 * | --- | --- |
 * | `["__flashmap", ...P, "seq"]` | the sequence number of the last batch (a number; absent means 0) |
 * | `["__flashmap", ...P, "log", n, i]` | chunk `i` of batch `n`: `{ v: 1, at, chunks, ops }`, expiring after the retention |
 * | `["__flashmap", ...P, "batch", id]` | `n`, the sequence number batch `id` got, expiring with the log |
 *
 * `at` is the writer's clock (ms since the epoch) when it committed,
 * `chunks` the number of chunks of the batch, and `ops` its operations:
 * `[part, value]` sets `[...P, part]` to `value`, `[part]` deletes it. A
 * batch names each key once (its last operation on it), so the order of
 * `ops` does not matter. Chunks hold at most about 60 KB each, below KV's
 * 64 KiB per value.
 *
 * @module
 */

import { META_ROOT, showKey } from "./keys.ts";
import { describe } from "../storage.ts";
import { retryLocked } from "./retry.ts";
import { serializedSize } from "./size.ts";
import type { KvKey, KvKeyPart, KvLike } from "./types.ts";

/** The version of the log entries' format. */
export const LOG_FORMAT = 1;

/** A set (`[part, value]`) or a delete (`[part]`) of one key under the prefix. */
export type LogOp = [part: KvKeyPart, value: unknown] | [part: KvKeyPart];

/** One chunk of a batch's log entry, as stored in KV. */
export interface LogChunk {
  /** The format version, {@linkcode LOG_FORMAT}. */
  v: number;
  /** The writer's clock when it committed the batch (ms since the epoch). */
  at: number;
  /** How many chunks the batch has. */
  chunks: number;
  /** Operations of the batch. */
  ops: LogOp[];
}

/** One batch read back from the log. */
export interface LoggedBatch {
  /** Its sequence number. */
  sequence: number;
  /** The writer's clock when it committed. */
  at: number;
  /** The versionstamp of its commit (its log entry's). */
  versionstamp: string;
  /** Its operations. */
  ops: LogOp[];
}

/** The keys of one prefix's change log. */
export class LogKeys {
  /** The data prefix. */
  readonly prefix: KvKey;
  /** The sequence key. */
  readonly sequence: KvKey;
  readonly #log: KvKey;
  readonly #batch: KvKey;

  constructor(prefix: KvKey) {
    this.prefix = prefix;
    const root = [META_ROOT, ...prefix];
    this.sequence = [...root, "seq"];
    this.#log = [...root, "log"];
    this.#batch = [...root, "batch"];
  }

  /** The key of a data entry. */
  data(part: KvKeyPart): KvKey {
    return [...this.prefix, part];
  }

  /** The key of chunk `index` of batch `sequence`. */
  chunk(sequence: number, index: number): KvKey {
    return [...this.#log, sequence, index];
  }

  /** The key of a batch's marker. */
  marker(id: string): KvKey {
    return [...this.#batch, id];
  }

  /** The range of log keys of batches `from` to `to`, both included. */
  range(from: number, to: number): { start: KvKey; end: KvKey } {
    return { start: [...this.#log, from], end: [...this.#log, to + 1] };
  }
}

/**
 * The sequence number stored at a sequence key's value.
 *
 * @throws {TypeError} When the key holds something else.
 */
export function parseSequence(value: unknown, key: KvKey): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) {
    return value;
  }
  throw new TypeError(
    `Cannot read the change log: its sequence key ${
      showKey(key)
    } must hold a non-negative integer, got ${describe(value)}`,
  );
}

/** Reads the sequence number and its versionstamp (lock errors retried). */
export async function readSequence(
  kv: KvLike,
  keys: LogKeys,
): Promise<{ sequence: number; versionstamp: string | null }> {
  const entry = await retryLocked(() => kv.get(keys.sequence));
  return {
    sequence: parseSequence(entry.value, keys.sequence),
    versionstamp: entry.versionstamp,
  };
}

/** The most bytes one chunk's operations may take (below KV's 65,536). */
export const CHUNK_BYTES = 60_000;
/** Bytes of a chunk beside its operations: the object, `v`, `at`, `chunks`. */
const CHUNK_OVERHEAD = 96;

/**
 * Packs operations into chunks of at most {@linkcode CHUNK_BYTES} each;
 * an operation larger than that gets a chunk of its own (and KV refuses it
 * if it is larger than a value may be).
 */
export function chunkOps(ops: LogOp[]): LogOp[][] {
  const chunks: LogOp[][] = [];
  let current: LogOp[] = [];
  let bytes = CHUNK_OVERHEAD;
  for (const op of ops) {
    const size = serializedSize(op);
    if (current.length > 0 && bytes + size > CHUNK_BYTES) {
      chunks.push(current);
      current = [];
      bytes = CHUNK_OVERHEAD;
    }
    current.push(op);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

function isChunk(value: unknown): value is LogChunk {
  if (typeof value !== "object" || value === null) return false;
  const chunk = value as Partial<LogChunk>;
  return chunk.v === LOG_FORMAT && typeof chunk.at === "number" &&
    Number.isSafeInteger(chunk.chunks) && chunk.chunks! >= 1 &&
    Array.isArray(chunk.ops);
}

/**
 * The batches `from` to `to` (both included), in order, or `undefined`
 * when the log does not hold every chunk of every one of them: some
 * expired, or were never written (a store written without the log), or are
 * in a format this version does not read. The caller then lists the prefix
 * instead.
 */
export async function readLog(
  kv: KvLike,
  keys: LogKeys,
  from: number,
  to: number,
): Promise<LoggedBatch[] | undefined> {
  const batches: LoggedBatch[] = [];
  let expected = from;
  let chunk = 0;
  let chunks = 0;
  let current: LoggedBatch | undefined;
  const entries = await retryLocked(async () => {
    const found = [];
    for await (
      const entry of kv.list(keys.range(from, to), { batchSize: 1000 })
    ) found.push(entry);
    return found;
  });
  for (const entry of entries) {
    const sequence = entry.key[entry.key.length - 2];
    const index = entry.key[entry.key.length - 1];
    if (!isChunk(entry.value)) return undefined;
    if (current === undefined) {
      if (sequence !== expected || index !== 0) return undefined;
      current = {
        sequence,
        at: entry.value.at,
        versionstamp: entry.versionstamp,
        ops: [],
      };
      chunks = entry.value.chunks;
      chunk = 0;
    } else if (sequence !== expected || index !== chunk) {
      return undefined;
    }
    for (const op of entry.value.ops) current.ops.push(op);
    chunk++;
    if (chunk === chunks) {
      batches.push(current);
      current = undefined;
      expected++;
    }
  }
  return expected === to + 1 ? batches : undefined;
}
