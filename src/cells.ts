/**
 * Atomic cells: values that any worker updates in place, with `Atomics` on
 * the shared buffer, through any guard that can see their entry.
 *
 * A cell lives in its entry's value data, out of line, and every copy of
 * the index points at the one entry: an update through any copy is seen
 * through all of them at once, without the writer or a publish. An entry
 * holds `length` cells of 32 or 64 bits, 8-byte aligned.
 *
 * @module
 */

import { E_KEY, ENTRY_HEADER_WORDS, type MapViews } from "./layout.ts";
import type { AtomicCells } from "./cells_api.ts";
import {
  describe,
  type KeyStorage,
  readEntryValue,
  typeError,
  type ValueStorage,
} from "./storage.ts";

/** The cell operations, as {@linkcode CellValues.apply} takes them. */
export const CELL_ADD = 0;
export const CELL_SUB = 1;
export const CELL_AND = 2;
export const CELL_OR = 3;
export const CELL_XOR = 4;
export const CELL_EXCHANGE = 5;
export const CELL_COMPARE_EXCHANGE = 6;
export const CELL_LOAD = 7;
export const CELL_STORE = 8;

/** What each operation is called in error messages. */
export const CELL_ACTIONS: readonly string[] = [
  "add to a cell",
  "subtract from a cell",
  "and a cell",
  "or a cell",
  "xor a cell",
  "exchange a cell",
  "compare and exchange a cell",
  "load a cell",
  "store a cell",
];

const INT32_OPERAND =
  "an integer from -2147483648 to 4294967295 (an int32, or its unsigned form)";
const INT64_OPERAND =
  "a bigint from -(2n ** 63n) to 2n ** 64n - 1n (an int64, or its unsigned form)";
/**
 * `%TypedArray%.prototype[Symbol.toStringTag]`'s getter: the name of a
 * real typed array's kind, `undefined` for anything else, running no user
 * code (`instanceof` and `Symbol.toStringTag` can be faked).
 */
const typedArrayKind = Object.getOwnPropertyDescriptor(
  Object.getPrototypeOf(Int32Array.prototype),
  Symbol.toStringTag,
)!.get!;
const MIN_INT32 = -2147483648;
const MAX_UINT32 = 4294967295;

/**
 * Atomic cells as a value kind: `length` cells of int32 or int64 per entry.
 * A value is one cell's number or bigint for the single-cell codecs, or a
 * typed array of all of them for the array codecs (a fresh copy on every
 * read, each cell loaded atomically: not one snapshot of them all).
 */
export class CellValues<V>
  implements ValueStorage<V, Int32Array | BigInt64Array> {
  /** `true` for 64-bit cells (`BigInt64Array`), `false` for 32-bit ones. */
  readonly wide: boolean;
  /** Cells per entry. */
  readonly count: number;
  /** Whether a value is a typed array of the cells, rather than one cell. */
  readonly array: boolean;
  readonly inlineWords = 0;

  constructor(wide: boolean, count: number, array: boolean) {
    this.wide = wide;
    this.count = count;
    this.array = array;
  }

  /** Checks an operand of a cell operation; returns it as the cells take it. */
  operand(value: unknown, action: string, what = "value"): number | bigint {
    if (this.wide) {
      if (typeof value !== "bigint") {
        throw typeError(action, what, INT64_OPERAND, value);
      }
      if (
        BigInt.asIntN(64, value) !== value &&
        BigInt.asUintN(64, value) !== value
      ) {
        throw new RangeError(
          `Cannot ${action}: ${what} must be ${INT64_OPERAND}, got ${
            describe(value)
          }`,
        );
      }
      return value;
    }
    if (typeof value !== "number") {
      throw typeError(action, what, INT32_OPERAND, value);
    }
    if ((value | 0) === value) return value;
    if (!Number.isInteger(value) || value < MIN_INT32 || value > MAX_UINT32) {
      throw new RangeError(
        `Cannot ${action}: ${what} must be ${INT32_OPERAND}, got ${
          describe(value)
        }`,
      );
    }
    return value;
  }

  /** The checked first operand of `op` (0 for `load`, which has none). */
  first(op: number, value: unknown, action: string): number | bigint {
    if (op === CELL_LOAD) return 0;
    return this.operand(
      value,
      action,
      op === CELL_COMPARE_EXCHANGE ? "expected" : "value",
    );
  }

  /** The checked replacement of a `compareExchange` (0 for the others). */
  second(op: number, replacement: unknown, action: string): number | bigint {
    if (op !== CELL_COMPARE_EXCHANGE) return 0;
    return this.operand(replacement, action, "replacement");
  }

  /** Checks a cell index (`undefined` is the first cell). */
  index(index: unknown, action: string): number {
    if (index === undefined) return 0;
    if (typeof index !== "number") {
      throw typeError(action, "index", "a number", index);
    }
    if (!Number.isInteger(index) || index < 0 || index >= this.count) {
      throw new RangeError(
        `Cannot ${action}: index must be an integer from 0 to ${
          this.count - 1
        }, got ${describe(index)}`,
      );
    }
    return index;
  }

  /**
   * The word index of cell `index` of `entry` (for 64-bit cells, the
   * element index in the `BigInt64Array` view).
   */
  cellOf(
    views: MapViews,
    keys: KeyStorage<unknown>,
    entry: number,
    index: number,
  ): number {
    const data = entry + ENTRY_HEADER_WORDS +
      keys.storedWords(views.i32[entry + E_KEY]);
    return this.wide ? (data >> 1) + index : data + index;
  }

  /**
   * Runs operation `op` on the cell at `cell` with checked operands: what
   * the matching `Atomics` function returns.
   */
  apply(
    views: MapViews,
    cell: number,
    op: number,
    value: number | bigint,
    replacement: number | bigint,
  ): number | bigint {
    // One typed array per width, so that each `Atomics` call sees one kind.
    if (this.wide) return applyWide(views.i64, cell, op, value, replacement);
    return applyNarrow(views.i32, cell, op, value as number, replacement);
  }

  // ---------------------------------------------------- as a value kind

  /** The initial cells of an entry: a number or bigint, or their array. */
  prepare(value: unknown, action: string): Int32Array | BigInt64Array {
    const length = this.count;
    const cells = this.wide
      ? new BigInt64Array(length)
      : new Int32Array(length);
    if (!this.array) {
      cells[0] = this.operand(value, action) as never;
      return cells;
    }
    const kind = this.wide ? BigInt64Array : Int32Array;
    const kindName = this.wide ? "BigInt64Array" : "Int32Array";
    if (typedArrayKind.call(value) === kindName) {
      // The constructor copies a real typed array by its internal slots,
      // running no user code.
      const copy = new kind(value as never);
      if (copy.length !== length) {
        throw new RangeError(
          `Cannot ${action}: value must hold ${length} cells, got ${copy.length}`,
        );
      }
      return copy;
    }
    if (!Array.isArray(value)) {
      throw typeError(
        action,
        "value",
        `${this.wide ? "a" : "an"} ${kindName} or an array of ${length} cells`,
        value,
      );
    }
    if (value.length !== length) {
      throw new RangeError(
        `Cannot ${action}: value must hold ${length} cells, got ${value.length}`,
      );
    }
    for (let i = 0; i < length; i++) {
      cells[i] = this.operand(value[i], action, `value[${i}]`) as never;
    }
    return cells;
  }
  own(cells: Int32Array | BigInt64Array): Int32Array | BigInt64Array {
    return cells;
  }
  /** The value-length word holds the cell count. */
  length(): number {
    return this.count;
  }
  dataWords(): number {
    return this.wide ? 2 * this.count : ((this.count + 1) >> 1) << 1;
  }
  write(views: MapViews, at: number, cells: Int32Array | BigInt64Array): void {
    if (this.wide) views.i64.set(cells as BigInt64Array, at >> 1);
    else views.i32.set(cells as Int32Array, at);
  }
  read(views: MapViews, at: number): V {
    const length = this.count;
    if (this.wide) {
      const i64 = views.i64;
      const first = at >> 1;
      if (!this.array) return Atomics.load(i64, first) as V;
      const out = new BigInt64Array(length);
      for (let i = 0; i < length; i++) out[i] = Atomics.load(i64, first + i);
      return out as V;
    }
    const i32 = views.i32;
    if (!this.array) return Atomics.load(i32, at) as V;
    const out = new Int32Array(length);
    for (let i = 0; i < length; i++) out[i] = Atomics.load(i32, at + i);
    return out as V;
  }
  readAt(views: MapViews, keys: KeyStorage<unknown>, at: number): V {
    return readEntryValue(views, keys, this, views.i32[at + 1]);
  }
  rawAt(views: MapViews, keys: KeyStorage<unknown>, at: number): unknown {
    return this.readAt(views, keys, at);
  }
  finish(raw: unknown): V {
    return raw as V;
  }
  storeValue(): void {
    throw new TypeError("cells are never inline");
  }
  loadValue(): V {
    throw new TypeError("cells are never inline");
  }
}

function applyNarrow(
  i32: Int32Array,
  cell: number,
  op: number,
  value: number,
  replacement: number | bigint,
): number {
  switch (op) {
    case CELL_ADD:
      return Atomics.add(i32, cell, value);
    case CELL_SUB:
      return Atomics.sub(i32, cell, value);
    case CELL_AND:
      return Atomics.and(i32, cell, value);
    case CELL_OR:
      return Atomics.or(i32, cell, value);
    case CELL_XOR:
      return Atomics.xor(i32, cell, value);
    case CELL_EXCHANGE:
      return Atomics.exchange(i32, cell, value);
    case CELL_COMPARE_EXCHANGE:
      return Atomics.compareExchange(i32, cell, value, replacement as number);
    case CELL_LOAD:
      return Atomics.load(i32, cell);
    default:
      return Atomics.store(i32, cell, value);
  }
}

function applyWide(
  i64: BigInt64Array,
  cell: number,
  op: number,
  value: number | bigint,
  replacement: number | bigint,
): bigint {
  const operand = value as bigint;
  switch (op) {
    case CELL_ADD:
      return Atomics.add(i64, cell, operand);
    case CELL_SUB:
      return Atomics.sub(i64, cell, operand);
    case CELL_AND:
      return Atomics.and(i64, cell, operand);
    case CELL_OR:
      return Atomics.or(i64, cell, operand);
    case CELL_XOR:
      return Atomics.xor(i64, cell, operand);
    case CELL_EXCHANGE:
      return Atomics.exchange(i64, cell, operand);
    case CELL_COMPARE_EXCHANGE:
      return Atomics.compareExchange(
        i64,
        cell,
        operand,
        replacement as bigint,
      );
    case CELL_LOAD:
      return Atomics.load(i64, cell);
    default:
      return Atomics.store(i64, cell, operand);
  }
}

/**
 * A map's cells (`MapContext.cells`), or a `TypeError` for `action` when
 * its values are not cells (its value codec is `codec`).
 */
export function cellsOf<V>(
  cells: CellValues<V> | null,
  action: string,
  codec: string,
): CellValues<V> {
  if (cells !== null) return cells;
  throw new TypeError(
    `Cannot ${action}: the map's values are not atomic cells (its value codec is "${codec}"; use codecs.atomicInt32, atomicBigInt64, atomicInt32Array or atomicBigInt64Array)`,
  );
}

/**
 * The mark that {@linkcode Atomic} puts on a value type (a type only: no
 * such value exists at run time).
 *
 * @example Telling maps of cells apart in your own types
 * ```ts
 * import type { Atomic, atomicCell } from "@x/flashmap";
 *
 * type IsCell<V> = V extends { readonly [atomicCell]: unknown } ? true : false;
 * const yes: IsCell<Atomic<number>> = true;
 * const no: IsCell<number> = false;
 * ```
 */
export declare const atomicCell: unique symbol;

/**
 * The type of a map's values when they are atomic cells: `T` (a `number`,
 * `bigint`, `Int32Array` or `BigInt64Array`), marked so that the cell
 * operations (`add`, `compareExchange`, ...) type-check only on maps of
 * cells. Reads return it, and it is used as a plain `T`; writes take a plain
 * `T`.
 *
 * @typeParam T What the cells read as.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { type Atomic, codecs, create } from "@x/flashmap";
 *
 * const [write, read] = create({ key: codecs.string, value: codecs.atomicInt32 });
 * write.update((guard) => guard.insert("hits", 0));
 * read.add("hits", 2);
 * const hits: Atomic<number> | undefined = read.get("hits");
 * const total: number = (hits ?? 0) + 1;
 * assertEquals(total, 3);
 * ```
 */
export type Atomic<T> = T & { readonly [atomicCell]: T };

/**
 * What a map whose values are `V` takes in writes: `V`, or for cells, the
 * plain number or bigint they hold, or a typed array or array of them.
 *
 * @typeParam V The map's value type.
 *
 * @example
 * ```ts
 * import type { Atomic, ValueInput } from "@x/flashmap";
 *
 * const counter: ValueInput<Atomic<number>> = 0;
 * const pair: ValueInput<Atomic<Int32Array>> = [1, 2];
 * const text: ValueInput<string> = "plain maps take their values";
 * ```
 */
export type ValueInput<V> =
  | V
  | (V extends { readonly [atomicCell]: infer T } ? CellInput<T> : never);

/**
 * What cells that read as `T` take in writes: a number or bigint, or a
 * typed array or plain array of them.
 *
 * @typeParam T What the cells read as.
 *
 * @example
 * ```ts
 * import type { CellInput } from "@x/flashmap";
 *
 * const cells: CellInput<BigInt64Array> = [1n, 2n];
 * ```
 */
export type CellInput<T> = T extends Int32Array ? Int32Array | readonly number[]
  : T extends BigInt64Array ? BigInt64Array | readonly bigint[]
  : T;

/**
 * The operand and result type of cell operations on a map whose values are
 * `V`: `number` for 32-bit cells, `bigint` for 64-bit ones, and `never`
 * (a compile-time error) for maps whose values are not cells.
 *
 * @typeParam V The map's value type.
 *
 * @example
 * ```ts
 * import type { Atomic, CellOperand } from "@x/flashmap";
 *
 * const narrow: CellOperand<Atomic<Int32Array>> = 1;
 * const wide: CellOperand<Atomic<bigint>> = 1n;
 * ```
 */
export type CellOperand<V> = V extends { readonly [atomicCell]: infer T }
  ? (T extends bigint | BigInt64Array ? bigint : number)
  : never;

/**
 * The key of the one method through which {@linkcode CellMethods} runs
 * every cell operation: a symbol of this module, so that no caller
 * outside the library reaches it.
 */
export const runCell: unique symbol = Symbol("run a cell operation");

/**
 * The cell operations of `AtomicCells`, each handed to `[runCell]` with its
 * code: read guards, read handles and write guards extend it.
 */
export abstract class CellMethods<K, V> implements AtomicCells<K, V> {
  /**
   * Runs cell operation `op` (a `CELL_` code) on `key`'s cell `index`, with
   * its unchecked operands.
   */
  abstract [runCell](
    op: number,
    key: K,
    value: unknown,
    replacement: unknown,
    index: number | undefined,
  ): CellOperand<V> | undefined;

  add(
    key: K,
    value: CellOperand<V>,
    index?: number,
  ): CellOperand<V> | undefined {
    return this[runCell](CELL_ADD, key, value, 0, index);
  }
  sub(
    key: K,
    value: CellOperand<V>,
    index?: number,
  ): CellOperand<V> | undefined {
    return this[runCell](CELL_SUB, key, value, 0, index);
  }
  and(
    key: K,
    value: CellOperand<V>,
    index?: number,
  ): CellOperand<V> | undefined {
    return this[runCell](CELL_AND, key, value, 0, index);
  }
  or(
    key: K,
    value: CellOperand<V>,
    index?: number,
  ): CellOperand<V> | undefined {
    return this[runCell](CELL_OR, key, value, 0, index);
  }
  xor(
    key: K,
    value: CellOperand<V>,
    index?: number,
  ): CellOperand<V> | undefined {
    return this[runCell](CELL_XOR, key, value, 0, index);
  }
  exchange(
    key: K,
    value: CellOperand<V>,
    index?: number,
  ): CellOperand<V> | undefined {
    return this[runCell](CELL_EXCHANGE, key, value, 0, index);
  }
  compareExchange(
    key: K,
    expected: CellOperand<V>,
    replacement: CellOperand<V>,
    index?: number,
  ): CellOperand<V> | undefined {
    return this[runCell](
      CELL_COMPARE_EXCHANGE,
      key,
      expected,
      replacement,
      index,
    );
  }
  load(key: K, index?: number): CellOperand<V> | undefined {
    return this[runCell](CELL_LOAD, key, 0, 0, index);
  }
  store(
    key: K,
    value: CellOperand<V>,
    index?: number,
  ): CellOperand<V> | undefined {
    return this[runCell](CELL_STORE, key, value, 0, index);
  }
}
