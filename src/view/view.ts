/**
 * A map's read path, chosen once per map in each thread: validate the key,
 * hash it, probe the copy's table, read the value. `ReadGuard`,
 * `ReadHandle` and `WriteGuard` all read through it.
 *
 * Each key kind with inline slots has a class of its own, written as
 * separate source, so that its inline caches see one kind of key: a thread
 * that reads maps of several kinds keeps each one's lookups monomorphic.
 *
 * @module
 */

import type { MapViews } from "../layout.ts";

/** The read path of one map. */
export interface View<V> {
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
