/**
 * The read path of maps with inline slots and boolean, number or bigint
 * keys: the key's stored words, compared slot by slot.
 *
 * @module
 */

import { type MapViews, T_ODD } from "../layout.ts";
import type { KeyStorage, ValueStorage } from "../storage.ts";
import { descriptor, homeSlot, oddSlot, type SlotFormat } from "../table.ts";
import {
  inlineValue,
  inlineValueKind,
  type View,
  VIEW_INLINE,
} from "./view.ts";

/** Inline maps of keys other than int32. */
export class InlineView<K, V> implements View<V> {
  readonly kind = VIEW_INLINE;
  readonly #seed: number;
  readonly #valueKind: number;
  readonly #format: SlotFormat;
  readonly #keys: KeyStorage<K>;
  /** The stored form of the key being looked up. */
  readonly #stored = new Int32Array(2);

  constructor(
    seed: number,
    format: SlotFormat,
    keys: KeyStorage<K>,
    values: ValueStorage<V>,
  ) {
    this.#seed = seed;
    this.#format = format;
    this.#keys = keys;
    this.#valueKind = inlineValueKind(values);
  }

  locate(
    views: MapViews,
    copy: number,
    table: number,
    mask: number,
    key: unknown,
    action: string,
  ): number {
    const format = this.#format;
    const stored = this.#stored;
    this.#keys.storeKey(this.#keys.prepare(key, action), this.#seed, stored, 0);
    const i32 = views.i32;
    if (format.isOdd(stored, 0)) {
      return i32[descriptor(copy, T_ODD)] !== 0 ? oddSlot(copy) : -1;
    }
    const stride = format.stride;
    let slot = homeSlot(format.hashAt(stored, 0), mask);
    // Bounded, so that a guard whose table was freed under it (a reclaimed
    // handle's) cannot spin for ever on reused memory.
    for (let left = mask; left >= 0; left--) {
      const at = table + stride * slot;
      if (format.sameKey(i32, at, stored, 0)) return at;
      if (format.isFree(i32, at)) return -1;
      slot = (slot + 1) & mask;
    }
    return -1;
  }

  value(views: MapViews, at: number): V {
    return inlineValue(
      views,
      this.#valueKind,
      at + this.#format.valueAt,
    ) as V;
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
