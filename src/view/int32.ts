/**
 * The read path of maps with int32 keys and inline slots: the key's hash
 * is its stored form, so a probe compares one word per slot.
 *
 * @module
 */

import { type MapViews, T_ODD } from "../layout.ts";
import { describe, typeError, type ValueStorage } from "../storage.ts";
import { descriptor, oddSlot } from "../table.ts";
import {
  inlineValue,
  inlineValueKind,
  VALUE_INT32,
  type View,
  VIEW_INT32,
} from "./view.ts";

const INT32_RANGE = "an int32 (an integer from -2147483648 to 2147483647)";

/** Inline int32-keyed maps. */
export class Int32View<V> implements View<V> {
  readonly kind = VIEW_INT32;
  readonly #seed: number;
  readonly #stride: number;
  readonly #valueAt: number;
  readonly #valueKind: number;

  constructor(seed: number, stride: number, values: ValueStorage<V>) {
    this.#seed = seed;
    this.#stride = stride;
    this.#valueAt = stride === 2 ? 1 : 2;
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
    return inlineValue(views, this.#valueKind, at + this.#valueAt) as V;
  }

  /**
   * `locate`, then `value`: the whole of `ReadGuard.get`, written out in
   * one function (through the two calls it measured 1.2 times slower).
   */
  get(
    views: MapViews,
    copy: number,
    table: number,
    mask: number,
    key: unknown,
    action: string,
  ): V | undefined {
    if (typeof key !== "number" || (key | 0) !== key) refuse(key, action);
    const hash = Math.imul((key as number) ^ this.#seed, 0x9e3779b1);
    const i32 = views.i32;
    let at = -1;
    if (hash === 0) {
      if (i32[descriptor(copy, T_ODD)] !== 0) at = oddSlot(copy);
    } else {
      const stride = this.#stride;
      let slot = hash >>> Math.clz32(mask);
      for (let left = mask; left >= 0; left--) {
        const next = table + stride * slot;
        const stored = i32[next];
        if (stored === hash) {
          at = next;
          break;
        }
        if (stored === 0) break;
        slot = (slot + 1) & mask;
      }
    }
    if (at < 0) return undefined;
    const kind = this.#valueKind;
    if (kind === VALUE_INT32) return i32[at + this.#valueAt] as V;
    return inlineValue(views, kind, at + this.#valueAt) as V;
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
