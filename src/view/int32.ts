/**
 * The read path of maps with int32 keys and inline slots: the key's hash
 * is its stored form, so a probe compares one word per slot.
 *
 * @module
 */

import type { MapViews } from "../layout.ts";
import type { ValueStorage } from "../storage.ts";
import { describe, typeError } from "../storage.ts";
import { oddSlot } from "../table.ts";
import { T_ODD } from "../layout.ts";
import { descriptor } from "../table.ts";
import type { View } from "./view.ts";

const INT32_RANGE = "an int32 (an integer from -2147483648 to 2147483647)";

/** Inline int32-keyed maps. */
export class Int32View<V> implements View<V> {
  readonly #seed: number;
  readonly #stride: number;
  readonly #valueAt: number;
  readonly #valueWords: number;
  readonly #values: ValueStorage<V>;

  constructor(seed: number, stride: number, values: ValueStorage<V>) {
    this.#seed = seed;
    this.#stride = stride;
    this.#valueAt = stride === 2 ? 1 : 2;
    this.#valueWords = values.inlineWords;
    this.#values = values;
  }

  locate(
    views: MapViews,
    copy: number,
    table: number,
    mask: number,
    key: unknown,
    action: string,
  ): number {
    if (typeof key !== "number" || (key | 0) !== key) refuse(key, action);
    const hash = Math.imul((key as number) ^ this.#seed, 0x9e3779b1);
    const i32 = views.i32;
    if (hash === 0) {
      return i32[descriptor(copy, T_ODD)] !== 0 ? oddSlot(copy) : -1;
    }
    const stride = this.#stride;
    let slot = hash >>> Math.clz32(mask);
    // Bounded, so that a guard whose table was freed under it (a reclaimed
    // handle's) cannot spin for ever on reused memory.
    for (let left = mask; left >= 0; left--) {
      const at = table + stride * slot;
      const stored = i32[at];
      if (stored === hash) return at;
      if (stored === 0) return -1;
      slot = (slot + 1) & mask;
    }
    return -1;
  }

  value(views: MapViews, at: number): V {
    if (this.#valueWords === 1 && this.#stride === 2) {
      return this.#values.loadValue(views, at + 1);
    }
    return this.#values.loadValue(views, at + this.#valueAt);
  }
}

function refuse(key: unknown, action: string): never {
  if (typeof key === "number") {
    throw new RangeError(
      `Cannot ${action}: key must be ${INT32_RANGE}, got ${describe(key)}`,
    );
  }
  throw typeError(action, "key", INT32_RANGE, key);
}
