/**
 * A map's read path, chosen once per map in each thread: validate the key,
 * hash it, probe the copy's table, read the value. `ReadGuard`,
 * `ReadHandle` and `WriteGuard` all read through it.
 *
 * Each key kind has a class of its own, written as separate source, and
 * the guards and handles call it through a switch on its {@linkcode
 * View.kind}, so that every call site sees one class: a thread that reads
 * maps of several kinds keeps each one's lookups monomorphic (a method call
 * through one shared site measured 1.6 to 2.2 times slower per int32
 * lookup in a worker reading six kinds of keys).
 *
 * @module
 */

import type { MapViews } from "../layout.ts";
import {
  BigIntValues,
  BooleanValues,
  Int32Values,
  NumberValues,
  type ValueStorage,
} from "../storage.ts";

/** `View.kind` of inline maps with int32 keys (`Int32View`). */
export const VIEW_INT32 = 1;
/** `View.kind` of inline maps with other keys (`InlineView`). */
export const VIEW_INLINE = 2;
/** `View.kind` of maps whose slots point at entries (`EntryView`). */
export const VIEW_ENTRY = 3;
/** `View.kind` of maps whose keys are built-in strings (`StringView`). */
export const VIEW_STRING = 4;

/** How an inline value is read out of its slot. */
export const VALUE_INT32 = 1;
export const VALUE_BOOLEAN = 2;
export const VALUE_NUMBER = 3;
export const VALUE_BIGINT = 4;

/** The {@linkcode VALUE_INT32}-style code of an inline value kind. */
export function inlineValueKind<V>(values: ValueStorage<V>): number {
  if (values instanceof Int32Values) return VALUE_INT32;
  if (values instanceof BooleanValues) return VALUE_BOOLEAN;
  if (values instanceof NumberValues) return VALUE_NUMBER;
  if (values instanceof BigIntValues) return VALUE_BIGINT;
  throw new TypeError("values of this kind are never inline");
}

/**
 * The inline value at word `at` (8-byte aligned for two-word kinds), read
 * by a switch rather than a call, so that it inlines into each view.
 */
export function inlineValue(
  views: MapViews,
  kind: number,
  at: number,
): unknown {
  switch (kind) {
    case VALUE_INT32:
      return views.i32[at];
    case VALUE_BOOLEAN:
      return views.i32[at] !== 0;
    case VALUE_NUMBER:
      return views.f64[at >> 1];
    default:
      return views.i64[at >> 1];
  }
}

/** The read path of one map. */
export interface View<V> {
  /** Which class this is: one of the `VIEW_` codes. */
  readonly kind: number;
  /**
   * Word index of the slot of `copy` (whose table is at `table`, `mask`)
   * holding `key`, or -1. Throws, as the key kind's checks do, for a bad
   * key.
   */
  locate(
    views: MapViews,
    copy: number,
    table: number,
    mask: number,
    key: unknown,
    action: string,
  ): number;
  /** The value of the slot at word `at`. */
  value(views: MapViews, at: number): V;
}
