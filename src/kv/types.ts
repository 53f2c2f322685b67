/**
 * The part of the Deno KV API that `@x/flashmap/kv` uses, typed
 * structurally: a `Deno.Kv` is a {@linkcode KvLike}, and so is any object
 * with these methods (a wrapper that counts calls, a test double, the
 * `@deno/kv` package on Node). Typing it here rather than as `Deno.Kv`
 * keeps the module free of Deno's unstable types.
 *
 * @module
 */

/**
 * One part of a KV key, as Deno KV has them (`Deno.KvKeyPart`). Symbols
 * are part of Deno's type, but no map key maps to one.
 *
 * @example
 * ```ts
 * import type { KvKeyPart } from "@x/flashmap/kv";
 *
 * const parts: KvKeyPart[] = ["flags", 1, 2n, true, new Uint8Array([1])];
 * ```
 */
export type KvKeyPart =
  | Uint8Array
  | string
  | number
  | bigint
  | boolean
  | symbol;

/**
 * A KV key: its parts in order (`Deno.KvKey`).
 *
 * @example
 * ```ts
 * import type { KvKey } from "@x/flashmap/kv";
 *
 * const prefix: KvKey = ["tenants", "acme", "flags"];
 * ```
 */
export type KvKey = readonly KvKeyPart[];

/**
 * What `get` and `watch` return for one key: its value and versionstamp,
 * both `null` when the key is absent (`Deno.KvEntryMaybe`).
 *
 * @example
 * ```ts
 * import type { KvEntryMaybe } from "@x/flashmap/kv";
 *
 * const missing: KvEntryMaybe = { key: ["a"], value: null, versionstamp: null };
 * ```
 */
export interface KvEntryMaybe {
  /** The key. */
  readonly key: KvKey;
  /** The value, or `null` when the key is absent. */
  readonly value: unknown;
  /** The versionstamp of the commit that wrote the value, or `null`. */
  readonly versionstamp: string | null;
}

/**
 * One entry of a `list` (`Deno.KvEntry`).
 *
 * @example
 * ```ts
 * import type { KvEntry } from "@x/flashmap/kv";
 *
 * const entry: KvEntry = { key: ["a"], value: 1, versionstamp: "00000000000000010000" };
 * ```
 */
export interface KvEntry {
  /** The key. */
  readonly key: KvKey;
  /** The value. */
  readonly value: unknown;
  /** The versionstamp of the commit that wrote the value. */
  readonly versionstamp: string;
}

/**
 * A condition of an atomic commit: the key still has this versionstamp
 * (`null`: the key is absent).
 *
 * @example
 * ```ts
 * import type { KvCheck } from "@x/flashmap/kv";
 *
 * const absent: KvCheck = { key: ["lock"], versionstamp: null };
 * ```
 */
export interface KvCheck {
  /** The key to check. */
  readonly key: KvKey;
  /** The versionstamp it must have, or `null` for "absent". */
  readonly versionstamp: string | null;
}

/**
 * The atomic operation `KvLike.atomic()` returns (`Deno.AtomicOperation`):
 * checks and mutations committed all together or not at all.
 *
 * @example
 * ```ts
 * import type { KvAtomic } from "@x/flashmap/kv";
 *
 * function claim(atomic: KvAtomic): KvAtomic {
 *   return atomic.check({ key: ["lock"], versionstamp: null }).set(["lock"], 1);
 * }
 * ```
 */
export interface KvAtomic {
  /**
   * Adds conditions: the commit fails (`{ ok: false }`) unless all hold.
   *
   * @param checks The conditions.
   * @returns The operation, for chaining.
   */
  check(...checks: KvCheck[]): KvAtomic;
  /**
   * Adds a write of a key.
   *
   * @param key The key.
   * @param value The value (anything structured-cloneable).
   * @param options `expireIn`: milliseconds after which the key may be deleted.
   * @returns The operation, for chaining.
   */
  set(key: KvKey, value: unknown, options?: { expireIn?: number }): KvAtomic;
  /**
   * Adds a deletion of a key.
   *
   * @param key The key.
   * @returns The operation, for chaining.
   */
  delete(key: KvKey): KvAtomic;
  /**
   * Commits the operation.
   *
   * @returns `{ ok: true, versionstamp }`, or `{ ok: false }` when a check failed.
   */
  commit(): Promise<{ ok: true; versionstamp: string } | { ok: false }>;
}

/**
 * What selects the entries of a `list`: a prefix, or a range.
 *
 * @example
 * ```ts
 * import type { KvListSelector } from "@x/flashmap/kv";
 *
 * const all: KvListSelector = { prefix: ["flags"] };
 * ```
 */
export type KvListSelector =
  | { readonly prefix: KvKey }
  | { readonly start: KvKey; readonly end: KvKey };

/**
 * The part of `Deno.Kv` this module uses. A `Deno.Kv` from
 * `Deno.openKv()` is one, whether it opens a local SQLite file, an
 * in-memory store or a remote database through KV Connect.
 *
 * `watch` is optional: without it, a mirror only polls.
 *
 * @example A `Deno.Kv` is a `KvLike`
 * ```ts
 * import type { KvLike } from "@x/flashmap/kv";
 *
 * function useStore(kv: Deno.Kv): KvLike {
 *   return kv;
 * }
 * ```
 */
export interface KvLike {
  /**
   * Reads one key.
   *
   * @param key The key.
   * @param options The consistency of the read (`"strong"` by default).
   * @returns The entry, with `null` value and versionstamp when absent.
   */
  get(
    key: KvKey,
    options?: { consistency?: "strong" | "eventual" },
  ): Promise<KvEntryMaybe>;
  /**
   * Lists entries in key order.
   *
   * @param selector A prefix or a range.
   * @param options `batchSize`, entries fetched per round trip (at most 1000).
   * @returns The entries.
   */
  list(
    selector: KvListSelector,
    options?: {
      batchSize?: number;
      consistency?: "strong" | "eventual";
    },
  ): AsyncIterable<KvEntry>;
  /**
   * Starts an atomic operation.
   *
   * @returns The operation.
   */
  atomic(): KvAtomic;
  /**
   * Watches up to 10 exact keys: the stream yields their entries now and
   * after they change (changes may be coalesced).
   *
   * @param keys The keys.
   * @returns A stream of their entries.
   */
  watch?(keys: readonly KvKey[]): ReadableStream<readonly KvEntryMaybe[]>;
}
