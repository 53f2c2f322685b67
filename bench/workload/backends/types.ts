/**
 * What every backend (flashmap and each baseline) provides: a main-thread
 * session that owns the data and the writer, and a reader that runs in a
 * worker.
 *
 * @module
 */

import type { Dataset, Distribution } from "../data.ts";

/** The names of the backends, as used on the command line and in results. */
export type BackendName =
  | "flashmap"
  | "map"
  | "replica"
  | "rpc"
  | "locktable"
  | "sharedmap"
  | "lmdb";

/** The writer side, used by the main thread's writer loop. */
export interface WriterBackend {
  /** Starts a batch of writes (flashmap: opens a write guard, which may wait for readers). */
  begin(): void;
  insert(key: number, value: number): void;
  remove(key: number): void;
  /**
   * Makes the batch visible to readers; with `version >= 0` the batch also
   * stores `version` under `VERSION_KEY`, so that readers can tell how stale
   * they are.
   */
  publish(version: number): void;
  /** Milliseconds spent waiting for readers so far (guard open or write lock). */
  waitMs: number;
}

/** What a worker needs to open a reader, and what to transfer with it. */
export interface ReaderInit {
  payload: unknown;
  transfer?: Transferable[];
}

/** A backend's main-thread side, alive for all the runs of that backend. */
export interface Session {
  readonly name: BackendName;
  readonly writer: WriterBackend;
  /** The message that opens reader `index` in a worker. */
  readerInit(index: number): ReaderInit | Promise<ReaderInit>;
  /** Bytes of shared data (buffer or file), when the backend shares one. */
  sharedBytes(): number | undefined;
  /**
   * Resolves when everything the writer posted has been applied (the RPC
   * server), so that a backlog does not spill into the next run.
   */
  settle?(): Promise<void>;
  /** A note for the report (for example what the keys are turned into). */
  readonly note?: string;
  close(): void | Promise<void>;
}

/** A reader in a worker. */
export interface ReaderBackend {
  /** The stream of key indices of the current run (set before each run). */
  stream: Int32Array;
  /**
   * Does `k` lookups of the keys at stream positions `pos..pos+k` (wrapping)
   * in one guard (or lock, or transaction), verifies each hit against
   * `valueOf`, and returns the hit count. With `withVersion`, it also reads
   * `VERSION_KEY` in the same guard into `version`.
   */
  batch(pos: number, k: number, withVersion: boolean): number | Promise<number>;
  /** `true` when `batch` returns promises. */
  readonly async?: boolean;
  /** The version the last `withVersion` batch saw. */
  version: number;
  /** Hits whose value was wrong (must stay 0). */
  bad: number;
  /** Replicas only: a promise to await when updates are waiting in the event loop. */
  poll?(): Promise<void> | undefined;
  /** Attaches a second time and closes that handle: the warm attach cost, in ms. */
  reattach?(): number;
  /** Handles a message from the main thread that is not a request (replica updates). */
  onMessage?(data: unknown): void;
  close(): void | Promise<void>;
}

/** What a reader factory receives in the worker. */
export interface ReaderContext {
  keys: Int32Array;
  streams: Record<Distribution, Int32Array>;
  ctl: Int32Array;
  payload: unknown;
}

/** Everything a session factory needs. */
export interface SessionContext {
  data: Dataset;
  ctl: Int32Array;
  /** Workers that will read, so that updates can be posted to all of them. */
  workers: () => Worker[];
}
