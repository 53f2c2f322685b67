/**
 * Per-worker `Map` replicas, what many JS programs do today: every worker
 * gets a structured clone of the map, and the writer posts each published
 * batch of changes to every worker. Reads run at `Map` speed; memory and
 * attach cost grow with the workers. A replica run with no writer and one
 * reader is the "Map in one thread" ceiling.
 *
 * @module
 */

import { PUBLISHED } from "../control.ts";
import { valueOf, VERSION_KEY } from "../data.ts";
import type {
  ReaderBackend,
  ReaderContext,
  Session,
  SessionContext,
  WriterBackend,
} from "./types.ts";

/** A batch of changes: `[key, value]` pairs, value -1 for a removal. */
export interface ApplyMessage {
  type: "apply";
  ops: Int32Array;
  version: number;
}

/** Applies a batch to a `Map` (shared with the RPC server). */
export function applyBatch(map: Map<number, number>, message: ApplyMessage) {
  const ops = message.ops;
  for (let i = 0; i < ops.length; i += 2) {
    if (ops[i + 1] < 0) map.delete(ops[i]);
    else map.set(ops[i], ops[i + 1]);
  }
  if (message.version >= 0) map.set(VERSION_KEY, message.version);
}

/** Buffers a batch and posts it at publish (to every worker of the pool). */
export class PostingWriter implements WriterBackend {
  waitMs = 0;
  #ops: number[] = [];
  constructor(readonly targets: () => Worker[]) {}

  begin(): void {}
  insert(key: number, value: number): void {
    this.#ops.push(key, value);
  }
  remove(key: number): void {
    this.#ops.push(key, -1);
  }
  publish(version: number): void {
    const message: ApplyMessage = {
      type: "apply",
      ops: Int32Array.from(this.#ops),
      version,
    };
    for (const worker of this.targets()) worker.postMessage(message);
    this.#ops = [];
  }
}

/** Builds the map that every worker receives a clone of. */
export function prefilledMap(keys: Int32Array, live: number) {
  const map = new Map<number, number>();
  for (let i = 0; i < live; i++) map.set(keys[i], valueOf(keys[i]));
  map.set(VERSION_KEY, 0);
  return map;
}

/** The replica session: the map is cloned into each worker at init. */
export function replicaSession(context: SessionContext): Session {
  const map = prefilledMap(context.data.keys, context.data.live);
  return {
    name: "replica",
    writer: new PostingWriter(context.workers),
    readerInit: () => ({ payload: map }),
    sharedBytes: () => undefined,
    close() {},
  };
}

class ReplicaReader implements ReaderBackend {
  version = -1;
  bad = 0;
  stream: Int32Array;
  readonly #keys: Int32Array;
  readonly #ctl: Int32Array;
  #applied = 0;
  #wake: (() => void) | undefined;
  constructor(readonly map: Map<number, number>, context: ReaderContext) {
    this.#keys = context.keys;
    this.#ctl = context.ctl;
    this.stream = context.streams.uniform;
    this.#applied = map.get(VERSION_KEY) ?? 0;
  }

  batch(pos: number, k: number, withVersion: boolean): number {
    const keys = this.#keys;
    const stream = this.stream;
    const mask = stream.length - 1;
    const map = this.map;
    let hits = 0;
    for (let j = 0; j < k; j++) {
      const key = keys[stream[(pos + j) & mask]];
      const value = map.get(key);
      if (value === undefined) continue;
      hits++;
      if (value !== valueOf(key)) this.bad++;
    }
    if (withVersion) this.version = map.get(VERSION_KEY) ?? -1;
    return hits;
  }

  /**
   * The writer stores PUBLISHED after posting, so a newer PUBLISHED means a
   * batch is on its way: only then does the loop yield to the event loop
   * (a timer would cost milliseconds), until the batch has been applied.
   */
  poll(): Promise<void> | undefined {
    if (this.#ctl[PUBLISHED] === this.#applied) return undefined;
    return new Promise((resolve) => this.#wake = resolve);
  }

  onMessage(data: unknown): void {
    const message = data as ApplyMessage;
    applyBatch(this.map, message);
    if (message.version >= 0) this.#applied = message.version;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  close(): void {}
}

/** Keeps the clone the worker received. */
export function replicaReader(context: ReaderContext): ReaderBackend {
  return new ReplicaReader(context.payload as Map<number, number>, context);
}
