/**
 * The read path of maps whose slots point at out-of-line entries (string,
 * bytes, json and custom-codec keys or values): the key kind's own probe.
 *
 * @module
 */

import type { MapViews } from "../layout.ts";
import type { KeyStorage, ValueStorage } from "../storage.ts";
import { type View, VIEW_ENTRY } from "./view.ts";

/** Maps with entry slots. */
export class EntryView<K, V> implements View<V> {
  readonly kind = VIEW_ENTRY;
  readonly #seed: number;
  readonly #keys: KeyStorage<K>;
  readonly #values: ValueStorage<V>;

  constructor(seed: number, keys: KeyStorage<K>, values: ValueStorage<V>) {
    this.#seed = seed;
    this.#keys = keys;
    this.#values = values;
  }

  locate(
    views: MapViews,
    _copy: number,
    table: number,
    mask: number,
    key: unknown,
    action: string,
  ): number {
    return this.#keys.locate(views, table, mask, 2, key, this.#seed, action);
  }

  value(views: MapViews, at: number): V {
    return this.#values.readAt(views, this.#keys, at);
  }

  /** `locate`, then `value`: the whole of `ReadGuard.get`. */
  get(
    views: MapViews,
    copy: number,
    table: number,
    mask: number,
    key: unknown,
    action: string,
  ): V | undefined {
    const at = this.locate(views, copy, table, mask, key, action);
    return at < 0 ? undefined : this.value(views, at);
  }
}

/**
 * The entry of int32 key `key` in the entry-slot table at `table`, or 0:
 * `WordKeys.locate` written out for a caller that has checked the key, so
 * that a cell update with int32 keys makes no call on its way to the cell.
 */
export function int32Entry(
  i32: Int32Array,
  table: number,
  mask: number,
  key: number,
  seed: number,
): number {
  const hash = Math.imul(key ^ seed, 0x9e3779b1);
  let slot = hash >>> Math.clz32(mask);
  // Bounded, so that a guard whose table was freed under it cannot spin.
  for (let left = mask; left >= 0; left--) {
    const at = table + 2 * slot;
    const entry = i32[at + 1];
    if (entry === 0) return 0;
    if (i32[at] === hash) return entry;
    slot = (slot + 1) & mask;
  }
  return 0;
}
