/**
 * The hand-written lock-based baseline: a {@linkcode SharedTable} that the
 * main thread writes under the write lock and workers read under the read
 * lock, `k` lookups per acquisition (the counterpart of `k` per guard).
 *
 * @module
 */

import { valueOf, VERSION_KEY } from "../data.ts";
import { SharedTable } from "./rwlock_table.ts";
import type {
  ReaderBackend,
  ReaderContext,
  Session,
  SessionContext,
  WriterBackend,
} from "./types.ts";

/**
 * Buffers a batch and applies it under the write lock at publish, as a user
 * would: holding the lock across a slow batch would stall every reader.
 */
class LockWriter implements WriterBackend {
  waitMs = 0;
  #ops: number[] = [];
  constructor(readonly table: SharedTable) {}

  begin(): void {}
  insert(key: number, value: number): void {
    this.#ops.push(key, value);
  }
  remove(key: number): void {
    this.#ops.push(key, -1);
  }
  publish(version: number): void {
    const table = this.table;
    const ops = this.#ops;
    const start = performance.now();
    table.writeLock();
    this.waitMs += performance.now() - start;
    for (let i = 0; i < ops.length; i += 2) {
      if (ops[i + 1] < 0) table.delete(ops[i]);
      else table.set(ops[i], ops[i + 1]);
    }
    if (version >= 0) table.set(VERSION_KEY, version);
    table.writeUnlock();
    this.#ops = [];
  }
}

/** Creates and prefills the table. */
export function lockTableSession(context: SessionContext): Session {
  const { keys, live } = context.data;
  const table = SharedTable.create(keys.length + 1);
  for (let i = 0; i < live; i++) table.set(keys[i], valueOf(keys[i]));
  table.set(VERSION_KEY, 0);
  return {
    name: "locktable",
    writer: new LockWriter(table),
    readerInit: () => ({ payload: table.buffer }),
    sharedBytes: () => table.buffer.byteLength,
    close() {},
  };
}

class LockReader implements ReaderBackend {
  version = -1;
  bad = 0;
  stream: Int32Array;
  readonly #keys: Int32Array;
  constructor(readonly table: SharedTable, context: ReaderContext) {
    this.#keys = context.keys;
    this.stream = context.streams.uniform;
  }

  batch(pos: number, k: number, withVersion: boolean): number {
    const keys = this.#keys;
    const stream = this.stream;
    const mask = stream.length - 1;
    const table = this.table;
    let hits = 0;
    table.readLock();
    for (let j = 0; j < k; j++) {
      const key = keys[stream[(pos + j) & mask]];
      const value = table.get(key);
      if (value < 0) continue;
      hits++;
      if (value !== valueOf(key)) this.bad++;
    }
    if (withVersion) this.version = table.get(VERSION_KEY);
    table.readUnlock();
    return hits;
  }

  close(): void {}
}

/** Opens the table in a worker. */
export function lockTableReader(context: ReaderContext): ReaderBackend {
  return new LockReader(
    new SharedTable(context.payload as SharedArrayBuffer),
    context,
  );
}
