/**
 * What every handle of one map in one thread shares: the buffer, the
 * control-word memory the protocol runs on, the key and value storage; and
 * the list of this thread's read handles, so that the writer can tell a wait
 * that would never end from one that will.
 *
 * @module
 */

import { CellValues } from "./cells.ts";
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
  Int32Keys,
  type KeyStorage,
  readEntryValue,
  StringKeys,
  type ValueStorage,
} from "./storage.ts";
import { EntryView } from "./view/entry.ts";
import { InlineView } from "./view/inline.ts";
import { Int32View } from "./view/int32.ts";
import { DEFAULT_CACHE_BYTES, StringView } from "./view/string.ts";
import type { View } from "./view/view.ts";
import { holdsOdd, oddSlot, readTable, SlotFormat } from "./table.ts";
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
  /** How table slots are laid out: inline, or pointing at entries. */
  readonly format: SlotFormat;
  /** Words per table slot (`format.stride`). */
  readonly stride: number;
  /** The read path: key checks, hashing, probing, value reads. */
  readonly view: View<V>;
  /** `view.kind`, kept here so that a switch on it loads one shape. */
  readonly viewKind: number;
  /** The values as atomic cells, or `null` when they are not cells. */
  readonly cells: CellValues<V> | null;
  /** Whether the keys are `codecs.int32` (cell updates find them inline). */
  readonly int32Keys: boolean;
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

/**
 * The slot format of a map of these keys and values: inline when both fit
 * in a word or two, else slots that point at entries.
 */
export function slotFormat<K, V>(
  keys: KeyStorage<K>,
  values: ValueStorage<V>,
  seed: number,
): SlotFormat {
  return keys.inlineWords !== 0 && values.inlineWords !== 0
    ? new SlotFormat(keys.inlineWords, values.inlineWords, seed)
    : new SlotFormat(0, 0, seed);
}

/**
 * The read path of a map of these keys, values and slots (string keys with
 * a cache of at most `stringCacheBytes`).
 */
function makeView<K, V>(
  keys: KeyStorage<K>,
  values: ValueStorage<V>,
  format: SlotFormat,
  seed: number,
  stringCacheBytes: number,
): View<V> {
  if (keys instanceof StringKeys) {
    return new StringView(seed, values, stringCacheBytes);
  }
  if (!format.inline) return new EntryView(seed, keys, values);
  if (keys instanceof Int32Keys) {
    return new Int32View(seed, format.stride, values);
  }
  return new InlineView(seed, format, keys, values);
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
  stringCacheBytes: number = DEFAULT_CACHE_BYTES,
): MapContext<K, V> {
  const control = new AtomicsMemory(
    new Int32Array(buffer, 0, heapStart(maxReaders)),
  );
  const words = control.words;
  const format = slotFormat(keys, values, words[H_SEED]);
  const view = makeView(keys, values, format, words[H_SEED], stringCacheBytes);
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
    format,
    stride: format.stride,
    view,
    viewKind: view.kind,
    cells: values instanceof CellValues ? values : null,
    int32Keys: keys instanceof Int32Keys,
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
 * Iterates the slots of a copy's table as keys, values or pairs, calling
 * `check` before it reads each slot, so that an iterator outliving its
 * guard throws instead of reading memory that may have been reused. A class
 * rather than a generator: V8 runs it several times faster.
 */
export class TableIterator<K, V, T> implements IterableIterator<T> {
  readonly #views: MapViews;
  readonly #context: MapContext<K, V>;
  readonly #mode: IterationMode;
  readonly #check: () => void;
  readonly #end: number;
  #at: number;
  /** Whether the odd-key slot is still to come. */
  #odd: number;

  constructor(
    views: MapViews,
    copy: number,
    context: MapContext<K, V>,
    mode: IterationMode,
    check: () => void,
  ) {
    this.#views = views;
    this.#context = context;
    this.#mode = mode;
    this.#check = check;
    const table = readTable(views.i32, copy);
    this.#at = table.offset;
    this.#end = table.offset + context.stride * (table.mask + 1);
    this.#odd = context.format.inline && holdsOdd(views.i32, copy)
      ? oddSlot(copy)
      : -1;
  }

  next(): IteratorResult<T, undefined> {
    const views = this.#views;
    const format = this.#context.format;
    let at = this.#odd;
    if (at >= 0) {
      this.#odd = -1;
    } else {
      const end = this.#end;
      const stride = format.stride;
      at = this.#at;
      while (at < end && format.isFree(views.i32, at)) at += stride;
      if (at >= end) {
        this.#at = end;
        return { done: true, value: undefined };
      }
      this.#at = at + stride;
    }
    this.#check();
    const mode = this.#mode;
    if (mode === "keys") {
      return { done: false, value: this.#key(at) as unknown as T };
    }
    if (mode === "values") {
      return { done: false, value: this.#value(at) as unknown as T };
    }
    const key = this.#key(at);
    // A user codec decoding the key may have ended the guard.
    this.#check();
    return { done: false, value: [key, this.#value(at)] as T };
  }

  #key(at: number): K {
    const { format, keys, seed } = this.#context;
    const views = this.#views;
    return format.inline
      ? keys.loadKey(views.i32, at, seed)
      : keys.read(views, views.i32[at + 1]);
  }

  #value(at: number): V {
    const { format, keys, values } = this.#context;
    const views = this.#views;
    return format.inline
      ? values.loadValue(views, at + format.valueAt)
      : readEntryValue(views, keys, values, views.i32[at + 1]);
  }

  [Symbol.iterator](): this {
    return this;
  }
}
