/**
 * The library under test: int32 keys and values in one shared buffer,
 * written by the main thread and read by workers that attach to it.
 *
 * @module
 */

import {
  attach,
  codecs,
  create,
  type ReadHandle,
  type ReadToken,
  type WriteGuard,
  type WriteHandle,
} from "@x/flashmap";
import { valueOf, VERSION_KEY } from "../data.ts";
import type {
  ReaderBackend,
  ReaderContext,
  Session,
  SessionContext,
  WriterBackend,
} from "./types.ts";

class FlashmapWriter implements WriterBackend {
  waitMs = 0;
  #guard: WriteGuard<number, number> | undefined;
  constructor(readonly write: WriteHandle<number, number>) {}

  begin(): void {
    const start = performance.now();
    this.#guard = this.write.guard(); // waits for readers still on the old copy, then replays
    this.waitMs += performance.now() - start;
  }
  insert(key: number, value: number): void {
    this.#guard!.insert(key, value);
  }
  remove(key: number): void {
    this.#guard!.remove(key);
  }
  publish(version: number): void {
    if (version >= 0) this.#guard!.insert(VERSION_KEY, version);
    this.#guard!.publish();
    this.#guard = undefined;
  }
}

/** Creates the map, prefilled with the dataset's live keys. */
export function flashmapSession(context: SessionContext): Session {
  const { keys, live } = context.data;
  const [write, read] = create({
    key: codecs.int32,
    value: codecs.int32,
    capacity: keys.length + 1,
    maxReaders: 128,
  });
  {
    using guard = write.guard();
    for (let i = 0; i < live; i++) guard.insert(keys[i], valueOf(keys[i]));
    guard.insert(VERSION_KEY, 0);
  }
  // Replays the prefill onto the second copy now, not inside the first run.
  write.synchronize();
  return {
    name: "flashmap",
    writer: new FlashmapWriter(write),
    readerInit: () => ({ payload: read.share() }),
    sharedBytes: () => read.share().buffer.byteLength,
    close() {
      write.close();
      read.close();
    },
  };
}

class FlashmapReader implements ReaderBackend {
  version = -1;
  bad = 0;
  stream: Int32Array;
  readonly #keys: Int32Array;
  constructor(
    readonly read: ReadHandle<number, number>,
    readonly token: ReadToken<number, number>,
    context: ReaderContext,
  ) {
    this.#keys = context.keys;
    this.stream = context.streams.uniform;
  }

  batch(pos: number, k: number, withVersion: boolean): number {
    const keys = this.#keys;
    const stream = this.stream;
    const mask = stream.length - 1;
    if (k === 1 && !withVersion) {
      // One lookup: the one-shot path, without a guard object.
      const key = keys[stream[pos & mask]];
      const value = this.read.get(key);
      if (value === undefined) return 0;
      if (value !== valueOf(key)) this.bad++;
      return 1;
    }
    const guard = this.read.guard();
    let hits = 0;
    for (let j = 0; j < k; j++) {
      const key = keys[stream[(pos + j) & mask]];
      const value = guard.get(key);
      if (value === undefined) continue;
      hits++;
      if (value !== valueOf(key)) this.bad++;
    }
    if (withVersion) this.version = guard.get(VERSION_KEY) ?? -1;
    guard.release();
    return hits;
  }

  reattach(): number {
    const start = performance.now();
    const again = attach(this.token);
    const ms = performance.now() - start;
    again.close();
    return ms;
  }

  close(): void {
    this.read.close();
  }
}

/** Attaches to the map in a worker; the caller times this. */
export function flashmapReader(context: ReaderContext): ReaderBackend {
  const token = context.payload as ReadToken<number, number>;
  return new FlashmapReader(attach(token), token, context);
}
