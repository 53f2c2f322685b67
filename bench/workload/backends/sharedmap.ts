/**
 * The npm package `sharedmap`: a lock-based string map in a
 * SharedArrayBuffer (a shared lock plus line locks on every `get`). It holds
 * strings only, so keys and values travel as decimal strings.
 *
 * @module
 */

// A benchmark-only dependency: pinned in bench/deno.json, with its own lock
// (bench/deno.lock), so that it stays out of the library's import map, lock
// and downloads.
import * as untyped from "sharedmap";
import { valueOf, VERSION_KEY } from "../data.ts";
import type {
  ReaderBackend,
  ReaderContext,
  Session,
  SessionContext,
  WriterBackend,
} from "./types.ts";

/** What the harness uses of a map of the package. */
interface SharedMap {
  readonly storage: SharedArrayBuffer;
  set(key: string, value: string | number): void;
  get(key: string): string | undefined;
  delete(key: string): void;
}

/**
 * The package's index.d.ts declares a named export, but the class is the
 * default export: the harness states the shape it relies on.
 */
const SharedMap = (untyped as unknown as {
  default: {
    new (maxSize: number, keySize: number, objSize: number): SharedMap;
    prototype: SharedMap;
  };
}).default;

const VERSION = String(VERSION_KEY);
/** UTF-16 units per key and value: int31 values take at most 10 digits. */
const FIELD = 12;

/** Every operation locks on its own, so there is no batch to buffer. */
class SharedMapWriter implements WriterBackend {
  waitMs = 0;
  constructor(readonly map: SharedMap) {}
  begin(): void {}
  insert(key: number, value: number): void {
    this.map.set(String(key), value);
  }
  remove(key: number): void {
    this.map.delete(String(key));
  }
  publish(version: number): void {
    if (version >= 0) this.map.set(VERSION, version);
  }
}

/** Creates and prefills the map (room for 25% more entries than keys). */
export function sharedMapSession(context: SessionContext): Session {
  const { keys, live } = context.data;
  const map = new SharedMap(Math.ceil(keys.length * 1.25) + 64, FIELD, FIELD);
  for (let i = 0; i < live; i++) map.set(String(keys[i]), valueOf(keys[i]));
  map.set(VERSION, 0);
  return {
    name: "sharedmap",
    writer: new SharedMapWriter(map),
    // The instance clones as a plain object whose views share the buffer.
    readerInit: () => ({ payload: map }),
    sharedBytes: () => map.storage.byteLength,
    note: "string keys and values (the package stores strings only)",
    close() {},
  };
}

class SharedMapReader implements ReaderBackend {
  version = -1;
  bad = 0;
  stream: Int32Array;
  readonly #keys: Int32Array;
  constructor(readonly map: SharedMap, context: ReaderContext) {
    this.#keys = context.keys;
    this.stream = context.streams.uniform;
  }

  batch(pos: number, k: number, withVersion: boolean): number {
    const keys = this.#keys;
    const stream = this.stream;
    const mask = stream.length - 1;
    const map = this.map;
    let hits = 0;
    for (let j = 0; j < k; j++) {
      const key = keys[stream[(pos + j) & mask]];
      const value = map.get(String(key));
      if (value === undefined) continue;
      hits++;
      if (Number(value) !== valueOf(key)) this.bad++;
    }
    if (withVersion) this.version = Number(map.get(VERSION) ?? -1);
    return hits;
  }

  close(): void {}
}

/** Restores the class of the cloned map, as the package's README says to. */
export function sharedMapReader(context: ReaderContext): ReaderBackend {
  const map = context.payload as SharedMap;
  Object.setPrototypeOf(map, SharedMap.prototype);
  return new SharedMapReader(map, context);
}
