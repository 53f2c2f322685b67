/**
 * A local, worker-shared replica of a Deno KV prefix: {@linkcode mirrorKv}
 * keeps a map (one `SharedArrayBuffer`, read by every worker at memory
 * speed) equal to the keys under a prefix, and {@linkcode kvWrite} writes
 * batches that every mirror, in any process on any machine, applies whole
 * and in commit order.
 *
 * Each batch commits in one atomic KV transaction that bumps the prefix's
 * sequence number and appends the batch to a change log whose entries
 * expire after a retention you choose. A mirror lists the prefix once,
 * then reads the sequence key (every `pollMs`, and when a watch of it
 * fires) and applies the log since the last batch it applied, publishing
 * once per check. When the log no longer reaches back, or every
 * `rescanMs`, it lists the prefix again and applies the difference.
 *
 * Needs `--unstable-kv` at run time (for `Deno.openKv`); the types do not.
 *
 * ```ts ignore
 * import { codecs } from "@x/flashmap";
 * import { kvWrite, mirrorKv } from "@x/flashmap/kv";
 *
 * const kv = await Deno.openKv("flags.sqlite"); // or a KV Connect URL
 * const flags = await mirrorKv(kv, ["flags"], {
 *   key: codecs.string,
 *   value: codecs.json<{ on: boolean }>(),
 * });
 * worker.postMessage(flags.read.share()); // the worker calls attach(token)
 * const { sequence } = await kvWrite(kv, ["flags"], (batch) => {
 *   batch.set("new-checkout", { on: true });
 *   batch.delete("old-checkout");
 * });
 * await flags.waitFor(sequence);
 * flags.read.get("new-checkout"); // { on: true }
 * await flags.close();
 * kv.close();
 * ```
 *
 * @module
 */

export {
  type KvMirror,
  type KvMirrorOptions,
  type KvMirrorStatus,
  mirrorKv,
  type WaitForOptions,
} from "./src/kv/mirror.ts";
export {
  type KvBatch,
  kvWrite,
  type KvWriteOptions,
  type KvWriteResult,
} from "./src/kv/write.ts";
export type { KeyPartMapping } from "./src/kv/keys.ts";
export type {
  KvAtomic,
  KvCheck,
  KvEntry,
  KvEntryMaybe,
  KvKey,
  KvKeyPart,
  KvLike,
  KvListSelector,
} from "./src/kv/types.ts";
// The core types the signatures above use (and the types theirs use), so
// that this entry point's documentation is complete on its own.
export type {
  ChangedOptions,
  Codec,
  KeyCodec,
  MapOptions,
  PinnedVersion,
  ReadGuard,
  ReadHandle,
  ReadStats,
  ReadToken,
  WaitOptions,
  WriteGuard,
  WriteHandle,
  WriteStats,
} from "./mod.ts";
