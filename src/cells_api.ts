/**
 * The public contract of atomic cells: the operations that read guards,
 * read handles and write guards of a map of cells share. `read.ts` and
 * `write_ops.ts` implement it; `cells.ts` stores and updates the cells.
 *
 * @module
 */

import type { atomicCell, CellOperand } from "./cells.ts";

/**
 * Updates of atomic cells in place, for maps whose value codec is
 * `codecs.atomicInt32`, `atomicBigInt64`, `atomicInt32Array(n)` or
 * `atomicBigInt64Array(n)`.
 *
 * Each operation finds the key in the snapshot of the guard (or, on a read
 * handle, of a one-shot guard around it), then runs the `Atomics` function
 * of the same name on cell `index` of the entry, and returns what it
 * returns (the cell's previous value; `store` returns `value`). When the key
 * is absent from that snapshot it returns `undefined` and changes nothing.
 * The update is visible at once to every guard of every thread that can see
 * the entry, without a publish: every copy of the map points at the one
 * entry. Operands are checked first: a bad index is a `RangeError` (a
 * `TypeError` if not a number), a value of the wrong type a `TypeError`, out
 * of range a `RangeError`, and nothing changes. On a map whose values are
 * not cells, every operation throws a `TypeError` (and does not type-check).
 *
 * A cell update is not part of a write guard's changes: it takes effect at
 * once, and `abort()` (or an `update()` callback that throws) does not take
 * it back.
 *
 * Entries are replaced, not updated, by `insert`, `set` and `replace`: the
 * new entry has new cells, and updates that other threads make meanwhile
 * through older snapshots go to the old cells and are lost when those are
 * freed. Keep keys, and reset their cells with `store`.
 *
 * @typeParam K The type of the keys.
 * @typeParam V The type of the values (`Atomic<...>` for maps of cells).
 *
 * @example Counters that every worker updates
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { codecs, create } from "@x/flashmap";
 *
 * const [write, read] = create({ key: codecs.string, value: codecs.atomicInt32 });
 * write.update((guard) => {
 *   guard.insert("hits:/api", 0);
 *   guard.insert("hits:/static", 0);
 * });
 * {
 *   using view = read.guard(); // in any worker
 *   view.add("hits:/api", 1);
 *   view.add("hits:/api", 1);
 *   assertEquals(view.get("hits:/api"), 2);
 *   assertEquals(view.compareExchange("hits:/api", 2, 0), 2);
 *   assertEquals(view.add("missing", 1), undefined);
 * }
 * assertEquals(read.load("hits:/api"), 0);
 * ```
 */
export interface AtomicCells<K, V> {
  /**
   * Adds `value` to the cell (wrapping, as `Atomics.add` does).
   *
   * @param key The key.
   * @param value What to add.
   * @param index The cell of the entry (0 for the first).
   * @returns The cell's previous value, or `undefined` if the key is absent.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { codecs, create } from "@x/flashmap";
   *
   * const [write, read] = create({ key: codecs.int32, value: codecs.atomicInt32 });
   * write.update((guard) => guard.insert(1, 10));
   * assertEquals(read.add(1, 5), 10);
   * assertEquals(read.get(1), 15);
   * ```
   */
  add(
    key: K,
    value: CellOperand<V>,
    index?: number,
  ): CellOperand<V> | undefined;
  /**
   * Subtracts `value` from the cell.
   *
   * @param key The key.
   * @param value What to subtract.
   * @param index The cell of the entry (0 for the first).
   * @returns The cell's previous value, or `undefined` if the key is absent.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { codecs, create } from "@x/flashmap";
   *
   * const [write, read] = create({ key: codecs.string, value: codecs.atomicBigInt64 });
   * write.update((guard) => guard.insert("budget", 100n));
   * assertEquals(read.sub("budget", 30n), 100n);
   * assertEquals(read.get("budget"), 70n);
   * ```
   */
  sub(
    key: K,
    value: CellOperand<V>,
    index?: number,
  ): CellOperand<V> | undefined;
  /**
   * Bitwise ANDs `value` into the cell.
   *
   * @param key The key.
   * @param value The mask.
   * @param index The cell of the entry (0 for the first).
   * @returns The cell's previous value, or `undefined` if the key is absent.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { codecs, create } from "@x/flashmap";
   *
   * const [write, read] = create({ key: codecs.string, value: codecs.atomicInt32 });
   * write.update((guard) => guard.insert("flags", 0b111));
   * read.and("flags", 0b101);
   * assertEquals(read.get("flags"), 0b101);
   * ```
   */
  and(
    key: K,
    value: CellOperand<V>,
    index?: number,
  ): CellOperand<V> | undefined;
  /**
   * Bitwise ORs `value` into the cell.
   *
   * @param key The key.
   * @param value The bits to set.
   * @param index The cell of the entry (0 for the first).
   * @returns The cell's previous value, or `undefined` if the key is absent.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { codecs, create } from "@x/flashmap";
   *
   * const [write, read] = create({ key: codecs.string, value: codecs.atomicInt32 });
   * write.update((guard) => guard.insert("flags", 0));
   * read.or("flags", 0b10);
   * assertEquals(read.get("flags"), 0b10);
   * ```
   */
  or(key: K, value: CellOperand<V>, index?: number): CellOperand<V> | undefined;
  /**
   * Bitwise XORs `value` into the cell.
   *
   * @param key The key.
   * @param value The bits to flip.
   * @param index The cell of the entry (0 for the first).
   * @returns The cell's previous value, or `undefined` if the key is absent.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { codecs, create } from "@x/flashmap";
   *
   * const [write, read] = create({ key: codecs.string, value: codecs.atomicInt32 });
   * write.update((guard) => guard.insert("flags", 0b11));
   * read.xor("flags", 0b01);
   * assertEquals(read.get("flags"), 0b10);
   * ```
   */
  xor(
    key: K,
    value: CellOperand<V>,
    index?: number,
  ): CellOperand<V> | undefined;
  /**
   * Stores `value` in the cell and returns what it held.
   *
   * @param key The key.
   * @param value The new value.
   * @param index The cell of the entry (0 for the first).
   * @returns The cell's previous value, or `undefined` if the key is absent.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { codecs, create } from "@x/flashmap";
   *
   * const [write, read] = create({ key: codecs.string, value: codecs.atomicInt32 });
   * write.update((guard) => guard.insert("state", 1));
   * assertEquals(read.exchange("state", 2), 1);
   * ```
   */
  exchange(
    key: K,
    value: CellOperand<V>,
    index?: number,
  ): CellOperand<V> | undefined;
  /**
   * Stores `replacement` in the cell if it holds `expected`.
   *
   * @param key The key.
   * @param expected The value the cell must hold.
   * @param replacement The value to store then.
   * @param index The cell of the entry (0 for the first).
   * @returns The cell's previous value (equal to `expected` when it
   * stored), or `undefined` if the key is absent.
   *
   * @example A lock in a cell
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { codecs, create } from "@x/flashmap";
   *
   * const [write, read] = create({ key: codecs.string, value: codecs.atomicInt32 });
   * write.update((guard) => guard.insert("lock", 0));
   * assertEquals(read.compareExchange("lock", 0, 1), 0); // taken
   * assertEquals(read.compareExchange("lock", 0, 1), 1); // already held
   * read.store("lock", 0); // released
   * ```
   */
  compareExchange(
    key: K,
    expected: CellOperand<V>,
    replacement: CellOperand<V>,
    index?: number,
  ): CellOperand<V> | undefined;
  /**
   * The cell's value, loaded atomically.
   *
   * @param key The key.
   * @param index The cell of the entry (0 for the first).
   * @returns The value, or `undefined` if the key is absent.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { codecs, create } from "@x/flashmap";
   *
   * const [write, read] = create({
   *   key: codecs.string,
   *   value: codecs.atomicInt32Array(2),
   * });
   * write.update((guard) => guard.insert("minmax", [1, 9]));
   * assertEquals(read.load("minmax", 1), 9);
   * ```
   */
  load(
    key: V extends { readonly [atomicCell]: unknown } ? K : never,
    index?: number,
  ): CellOperand<V> | undefined;
  /**
   * Stores `value` in the cell.
   *
   * @param key The key.
   * @param value The new value.
   * @param index The cell of the entry (0 for the first).
   * @returns `value`, as `Atomics.store` returns it, or `undefined` if the
   * key is absent.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { codecs, create } from "@x/flashmap";
   *
   * const [write, read] = create({ key: codecs.string, value: codecs.atomicInt32 });
   * write.update((guard) => guard.insert("hits", 41));
   * read.store("hits", 0); // reset, keeping the key
   * assertEquals(read.get("hits"), 0);
   * ```
   */
  store(
    key: K,
    value: CellOperand<V>,
    index?: number,
  ): CellOperand<V> | undefined;
}
