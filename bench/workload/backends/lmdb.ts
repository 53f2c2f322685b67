/**
 * The npm package `lmdb`: a memory-mapped B-tree store with one writer and
 * lock-free MVCC readers. Each worker opens the same environment. Its
 * directory is a temporary one under bench/results, removed at the end.
 *
 * lmdb-js renews a thread's read transaction only on a later event-loop
 * turn, so a reader that never yields keeps reading the snapshot it first
 * saw. The reader here resets its read transaction at the start of a batch
 * when the control block says the writer has committed since: the cheapest
 * way for a busy loop to see new commits, and the analogue of a new guard.
 *
 * @module
 */

// A benchmark-only dependency: pinned in bench/deno.json, with its own lock
// (bench/deno.lock), so that it stays out of the library's import map, lock
// and downloads.
import { open, type RootDatabase } from "lmdb";
import { PUBLISHED } from "../control.ts";
import { valueOf, VERSION_KEY } from "../data.ts";
import type {
  ReaderBackend,
  ReaderContext,
  Session,
  SessionContext,
  WriterBackend,
} from "./types.ts";

type Db = RootDatabase<number, number>;

/** No fsync: the other backends are not durable either. */
function openDb(path: string): Db {
  return open<number, number>({ path, noSync: true, keyEncoding: "uint32" });
}

/** Buffers a batch and commits it in one synchronous transaction at publish. */
class LmdbWriter implements WriterBackend {
  waitMs = 0;
  #ops: number[] = [];
  constructor(readonly db: Db) {}

  begin(): void {}
  insert(key: number, value: number): void {
    this.#ops.push(key, value);
  }
  remove(key: number): void {
    this.#ops.push(key, -1);
  }
  publish(version: number): void {
    const db = this.db;
    const ops = this.#ops;
    db.transactionSync(() => {
      for (let i = 0; i < ops.length; i += 2) {
        if (ops[i + 1] < 0) db.removeSync(ops[i]);
        else db.putSync(ops[i], ops[i + 1]);
      }
      if (version >= 0) db.putSync(VERSION_KEY, version);
    });
    this.#ops = [];
  }
}

/** Creates the environment in a temporary directory and prefills it. */
export async function lmdbSession(context: SessionContext): Promise<Session> {
  const { keys, live } = context.data;
  await Deno.mkdir("bench/results", { recursive: true });
  const path = await Deno.makeTempDir({
    dir: "bench/results",
    prefix: "lmdb-",
  });
  const db = openDb(path);
  try {
    const chunk = 1 << 16;
    for (let start = 0; start < live; start += chunk) {
      db.transactionSync(() => {
        for (let i = start; i < Math.min(live, start + chunk); i++) {
          db.putSync(keys[i], valueOf(keys[i]));
        }
      });
    }
    db.transactionSync(() => db.putSync(VERSION_KEY, 0));
  } catch (error) {
    await db.close();
    await Deno.remove(path, { recursive: true });
    throw error;
  }
  return {
    name: "lmdb",
    writer: new LmdbWriter(db),
    readerInit: () => ({ payload: path }),
    sharedBytes() {
      let bytes = 0;
      for (const entry of Deno.readDirSync(path)) {
        if (entry.isFile) bytes += Deno.statSync(`${path}/${entry.name}`).size;
      }
      return bytes;
    },
    note: "memory-mapped file, no fsync",
    async close() {
      await db.close();
      await Deno.remove(path, { recursive: true });
    },
  };
}

class LmdbReader implements ReaderBackend {
  version = -1;
  bad = 0;
  stream: Int32Array;
  readonly #keys: Int32Array;
  readonly #ctl: Int32Array;
  #seen = -1;
  constructor(readonly db: Db, context: ReaderContext) {
    this.#keys = context.keys;
    this.#ctl = context.ctl;
    this.stream = context.streams.uniform;
  }

  batch(pos: number, k: number, withVersion: boolean): number {
    const published = this.#ctl[PUBLISHED]; // a plain load: a hint, not a fence
    if (published !== this.#seen) {
      this.#seen = published;
      this.db.resetReadTxn();
    }
    const keys = this.#keys;
    const stream = this.stream;
    const mask = stream.length - 1;
    const db = this.db;
    let hits = 0;
    for (let j = 0; j < k; j++) {
      const key = keys[stream[(pos + j) & mask]];
      const value = db.get(key);
      if (value === undefined) continue;
      hits++;
      if (value !== valueOf(key)) this.bad++;
    }
    if (withVersion) this.version = db.get(VERSION_KEY) ?? -1;
    return hits;
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

/** Opens the environment in a worker. */
export function lmdbReader(context: ReaderContext): ReaderBackend {
  return new LmdbReader(openDb(context.payload as string), context);
}
