/**
 * A concurrent hash map with one writer and many readers that lives in
 * SharedArrayBuffer memory, so Deno Workers read it directly: no copies, no
 * messages. A port of the Rust crate flashmap: two copies of the map,
 * per-reader refcounts, and an operation log replayed onto the second copy.
 * Reads are wait-free and nearly as cheap as `Map.get`; writes become
 * visible to new read guards when published.
 *
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { create } from "@x/flashmap";
 *
 * const [write, read] = create();
 * {
 *   using guard = write.guard();
 *   guard.insert("foo", "bar");
 * } // published here
 * assertEquals(read.get("foo"), "bar");
 * // worker.postMessage(read.share()); in the worker: attach(event.data)
 * ```
 *
 * @module
 */

export { attach, Builder, create, type MapOptions } from "./src/create.ts";
export { type Codec, codecs, type KeyCodec } from "./src/codecs.ts";
export {
  BufferFullError,
  DeadlockError,
  ReaderLimitError,
  WaitTimeoutError,
} from "./src/errors.ts";
export type { ReadGuard, ReadHandle, ReadToken } from "./src/read.ts";
export type { WaitOptions, WriteGuard, WriteHandle } from "./src/write.ts";
