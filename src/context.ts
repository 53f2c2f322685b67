/**
 * What every handle of one map in one thread shares: the buffer, the
 * control-word memory the protocol runs on, the key and value storage; and
 * the list of this thread's read handles, so that the writer can tell a wait
 * that would never end from one that will.
 *
 * @module
 */

import type { Codec } from "./codecs.ts";
import {
  C_NEXT_TAG,
  H_MAP_ID,
  H_SEED,
  heapStart,
  type MapViews,
} from "./layout.ts";
import { AtomicsMemory } from "./memory.ts";
import {
  type KeyStorage,
  readEntryValue,
  type ValueStorage,
} from "./storage.ts";
import type { TableRef } from "./table.ts";
import type { HandleWord } from "./protocol.ts";

/** The per-thread state of one read handle that its guards update. */
export interface ReaderState extends HandleWord {
  /** The handle's id: its slot and the slot's registration count. */
  readonly id: number;
  /** Live guards of this handle on each copy. */
  readonly live: number[];
  closed: boolean;
  /** Set once the handle learns that the writer reclaimed it. */
  reclaimed: boolean;
}

/** The parts of a map every handle in this thread needs. */
export interface MapContext<K, V> {
  readonly buffer: SharedArrayBuffer;
  /** Fixed views over the header and registry: they never move. */
  readonly control: AtomicsMemory;
  readonly keyCodec: Codec<K>;
  readonly valueCodec: Codec<V>;
  readonly keys: KeyStorage<K>;
  readonly values: ValueStorage<V>;
  readonly seed: number;
  readonly maxReaders: number;
  /** The map's identity, the same in every thread and for every copy of a token. */
  readonly mapId: string;
  /** Words per table slot: 4 when slots keep word-sized values, else 2. */
  readonly stride: number;
  /**
   * The tag this context records in the registry lock while it holds it,
   * and in the slots of the handles it registers: unique in the map, never
   * 0, handed out by the map itself so that two threads never share one.
   */
  readonly tag: number;
}

/**
 * This thread's open read handles, by map identity. Keyed by the identity
 * in the header rather than by the buffer object, because a token cloned in
 * the same thread carries a new buffer object for the same memory.
 */
const localReaders = new Map<string, Set<ReaderState>>();

/** Words per table slot for a map of these values. */
export function slotStride<V>(values: ValueStorage<V>): number {
  return values.inSlot ? 4 : 2;
}

/** Records a read handle opened in this thread. */
export function addLocalReader(mapId: string, reader: ReaderState): void {
  let readers = localReaders.get(mapId);
  if (readers === undefined) localReaders.set(mapId, readers = new Set());
  readers.add(reader);
}

/** Forgets a read handle of this thread that was closed. */
export function removeLocalReader(mapId: string, reader: ReaderState): void {
  const readers = localReaders.get(mapId);
  if (readers === undefined) return;
  readers.delete(reader);
  if (readers.size === 0) localReaders.delete(mapId);
}

/** Builds the context of a map whose header is already written. */
export function mapContext<K, V>(
  buffer: SharedArrayBuffer,
  maxReaders: number,
  keyCodec: Codec<K>,
  valueCodec: Codec<V>,
  keys: KeyStorage<K>,
  values: ValueStorage<V>,
): MapContext<K, V> {
  const control = new AtomicsMemory(
    new Int32Array(buffer, 0, heapStart(maxReaders)),
  );
  const words = control.words;
  return {
    buffer,
    control,
    keyCodec,
    valueCodec,
    keys,
    values,
    seed: control.words[H_SEED],
    maxReaders,
    mapId: `${words[H_MAP_ID]}:${words[H_MAP_ID + 1]}`,
    stride: slotStride(values),
    tag: control.add(C_NEXT_TAG, 1) + 1,
  };
}

/** Whether the read handle `id` belongs to this thread. */
export function isLocalReader(mapId: string, id: number): boolean {
  for (const reader of localReaders.get(mapId) ?? []) {
    if (reader.id === id) return true;
  }
  return false;
}

/** Live guards of this thread's read handles on `copy`. */
export function localGuardsOn<K, V>(
  context: MapContext<K, V>,
  copy: number,
): number {
  let guards = 0;
  for (const reader of localReaders.get(context.mapId) ?? []) {
    guards += reader.live[copy];
  }
  return guards;
}

/** What iteration yields: keys, values, or `[key, value]` pairs. */
export type IterationMode = "keys" | "values" | "entries";

/**
 * Iterates the entries of a table as keys, values or pairs, calling `check`
 * before it reads each entry, so that an iterator outliving its guard throws
 * instead of reading memory that may have been reused. A class rather than
 * a generator: V8 runs it several times faster.
 */
export class TableIterator<K, V, T> implements IterableIterator<T> {
  readonly #views: MapViews;
  readonly #keys: KeyStorage<K>;
  readonly #values: ValueStorage<V>;
  readonly #mode: IterationMode;
  readonly #check: () => void;
  readonly #end: number;
  readonly #stride: number;
  #at: number;

  constructor(
    views: MapViews,
    table: TableRef,
    stride: number,
    keys: KeyStorage<K>,
    values: ValueStorage<V>,
    mode: IterationMode,
    check: () => void,
  ) {
    this.#views = views;
    this.#keys = keys;
    this.#values = values;
    this.#mode = mode;
    this.#check = check;
    this.#stride = stride;
    this.#at = table.offset;
    this.#end = table.offset + stride * (table.mask + 1);
  }

  next(): IteratorResult<T, undefined> {
    const views = this.#views;
    const end = this.#end;
    const stride = this.#stride;
    let at = this.#at;
    while (at < end && views.i32[at + 1] === 0) at += stride;
    if (at >= end) {
      this.#at = end;
      return { done: true, value: undefined };
    }
    this.#check();
    this.#at = at + stride;
    const entry = views.i32[at + 1];
    const keys = this.#keys;
    const mode = this.#mode;
    if (mode === "keys") {
      return { done: false, value: keys.read(views, entry) as unknown as T };
    }
    if (mode === "values") {
      return {
        done: false,
        value: readEntryValue(views, keys, this.#values, entry) as unknown as T,
      };
    }
    const key = keys.read(views, entry);
    // A user codec decoding the key may have ended the guard.
    this.#check();
    const value = readEntryValue(views, keys, this.#values, entry);
    return { done: false, value: [key, value] as T };
  }

  [Symbol.iterator](): this {
    return this;
  }
}
