/**
 * A concurrent hash map with one writer and many readers that lives in
 * SharedArrayBuffer memory, so Deno Workers read it directly: no copies, no
 * messages. A port of the Rust crate flashmap: copies of the map's index,
 * per-reader refcounts, and an operation log replayed onto retired copies.
 * Reads are wait-free and nearly as cheap as `Map.get`; writes become
 * visible to new read guards when published, and a reader that holds a
 * guard for long pins memory, never the writer.
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

export {
  attach,
  type AttachOptions,
  Builder,
  create,
  type MapOptions,
} from "./src/create.ts";
export { type Codec, codecs, type KeyCodec } from "./src/codecs.ts";
export type {
  Atomic,
  atomicCell,
  CellInput,
  CellOperand,
  ValueInput,
} from "./src/cells.ts";
export type { AtomicCells } from "./src/cells_api.ts";
export {
  BufferFullError,
  DeadlockError,
  ReaderLimitError,
  WaitTimeoutError,
} from "./src/errors.ts";
export type {
  ChangedOptions,
  ReadGuard,
  ReadHandle,
  ReadStats,
  ReadToken,
} from "./src/read_api.ts";
export type {
  PinnedVersion,
  ReclaimOptions,
  WaitOptions,
  WriteGuard,
  WriteHandle,
  WriteStats,
} from "./src/write_api.ts";
