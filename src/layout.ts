/**
 * Where everything lives in the map's one growable SharedArrayBuffer.
 *
 * ```text
 * word 0   header line: magic, layout, buffer size, current copy, seed
 *          (read by readers, written by the writer)
 * word 32  control line: departure count, writer-parked flag, registry lock
 *          and its owner, slots in use, publish count (written by the protocol)
 * word 64  copy descriptors, one 64-byte line each: where each copy of the
 *          index keeps its table, and the version it holds (MAX_COPIES)
 * word 320 reader registry: one 128-byte line (32 words) per read handle
 * ...      the key and value codec names (UTF-16), written once by create()
 * ...      heap: entries and index tables, allocated by the writer
 * ```
 *
 * All offsets are 32-bit word indexes. Entries and tables start on even
 * words, so float64 and bigint data inside them is 8-byte aligned.
 *
 * @module
 */

/** "FLMP": marks a buffer that holds a map of this library. */
export const MAGIC = 0x464c4d50;
/** Bumped whenever the layout below changes; tokens of other versions are refused. */
export const LAYOUT_VERSION = 6;

/** Header line (read-mostly). */
export const H_MAGIC = 0;
export const H_LAYOUT = 1;
/** The buffer's size in words, as the writer last grew it. */
export const H_BUFFER_WORDS = 2;
/** The copy that read handles registered now must start on. */
export const H_CURRENT_COPY = 3;
export const H_SEED = 4;
export const H_MAX_READERS = 5;
/** 1 once the write handle is closed. */
export const H_WRITER_CLOSED = 6;
/** The most copies of the index the writer may keep (the `maxCopies` option). */
export const H_MAX_COPIES = 7;
/** A random identity of the map (two words), the same in every thread. */
export const H_MAP_ID = 16;
/**
 * Where the codec names are: word offset and length in UTF-16 units of the
 * key codec's name, then of the value codec's. `attach()` refuses codecs
 * whose names differ, so a token cannot make a buffer read as another kind.
 */
export const H_KEY_CODEC_NAME = 18;
export const H_KEY_CODEC_LENGTH = 19;
export const H_VALUE_CODEC_NAME = 20;
export const H_VALUE_CODEC_LENGTH = 21;
/** The most copies of the index a map may have: the copy field of a refcount word has 4 bits. */
export const MAX_COPIES = 16;
/** Descriptor of copy c: `COPIES_START + COPY_WORDS * c` + one of the T_ offsets. */
export const COPIES_START = 64;
export const COPY_WORDS = 16;
/** Word index of the table's slot array (0 while the copy has no table). */
export const T_OFFSET = 0;
/** Slot count minus one (the slot count is a power of two). */
export const T_MASK = 1;
/** Entries in the table. */
export const T_SIZE = 2;
/** The version (publish count) whose entries the table holds. */
export const T_VERSION = 3;
/**
 * Maps with inline slots: 1 while the copy holds the one key whose stored
 * form is all zero words, the mark of a free slot. That key lives in the
 * descriptor's own slot, at {@linkcode T_ODD_SLOT}, instead of the table.
 */
export const T_ODD = 4;
/** The descriptor's slot for the odd key (four words, 8-byte aligned). */
export const T_ODD_SLOT = 8;
/**
 * Maps of atomic cells: guards on this copy of handles that were reclaimed
 * while the guards lived (orphans). A reclaimed worker may still be running
 * and updating cells through them, so the copy stays pinned until each has
 * left; written by reclaims (the writer) and by the orphans' late leaves.
 */
export const T_ORPHANS = 5;

/** Word index of field `field` of copy `copy`'s descriptor. */
export function copyWord(copy: number, field: number): number {
  return COPIES_START + COPY_WORDS * copy + field;
}

/**
 * Control line (written by the protocol). The departure count moves on
 * whenever a handle's last residual guard on some copy leaves, or a handle
 * is reclaimed: a writer waiting for a copy to come free sleeps on it.
 */
export const C_DEPARTURES = 32;
export const C_WRITER_PARKED = 33;
export const C_REGISTRY_LOCK = 34;
/** The tag of the registry lock's holder (0 when free), for diagnostics and recovery. */
export const C_REGISTRY_OWNER = 37;
/** Counts registry lock acquisitions: a holder that never moves it on is stuck. */
export const C_REGISTRY_EPOCH = 38;
/** Hands out the tags that registry operations record (see `MapContext.tag`). */
export const C_NEXT_TAG = 39;
/** One past the highest registry slot ever used. */
export const C_SLOTS_USED = 35;
/**
 * Number of publishes so far: the version readers of the current copy see.
 * It moves on once every handle is flipped, so a reader woken by it finds
 * its handle on the new version; `ReadHandle.changed()` sleeps on it.
 */
export const C_PUBLISHES = 36;
/** Readers sleeping on `C_PUBLISHES` (`changed()`): a publish wakes them. */
export const C_VERSION_WAITERS = 40;

export const REGISTRY_START = COPIES_START + MAX_COPIES * COPY_WORDS;
/** Words per registry slot: 128 bytes, so two readers never share a cache line. */
export const SLOT_WORDS = 32;
/**
 * Refcount word of a slot, changed only by compare-and-exchange: bits 28-31
 * are the copy the handle's new guards read, bits 16-26 the slot's
 * generation (it moves on when the slot is reclaimed, so a handle that was
 * reclaimed can never change the word again), bits 0-9 its live guards.
 */
export const S_REFCOUNT = 0;
/** Free, in use by a read handle, or retired (see `SLOT_RETIRED`). */
export const S_STATE = 1;
/** The tag of the context that registered the slot's handle (`MapContext.tag`). */
export const S_OWNER = 2;
/**
 * How many handles have been registered in the slot: with the slot number,
 * it makes the handle's id, unique over the map's life.
 */
export const S_REGISTRATIONS = 3;
/**
 * Residual words, one per copy (`S_RESIDUAL + copy`): bits 16-26 the slot's
 * generation, as in the refcount word, bits 0-9 the handle's guards on that
 * copy that a publish made residual and that have not left yet.
 */
export const S_RESIDUAL = 4;

export const SLOT_FREE = 0;
export const SLOT_IN_USE = 1;
/**
 * A slot reclaimed so often that its generation went round: never used
 * again, so that no handle reclaimed from it long ago can pass for a new one.
 */
export const SLOT_RETIRED = 2;

/** Word index of registry slot `slot`. */
export function slotBase(slot: number): number {
  return REGISTRY_START + slot * SLOT_WORDS;
}

/** The first heap word of a map with `maxReaders` registry slots. */
export function heapStart(maxReaders: number): number {
  return REGISTRY_START + maxReaders * SLOT_WORDS;
}

/** Words of an entry's header: hash, key length (or the key), value length, meta. */
export const ENTRY_HEADER_WORDS = 4;
export const E_HASH = 0;
export const E_KEY = 1;
export const E_VALUE_LENGTH = 2;
/**
 * Writer-only: `sizeInWords << LINK_BITS | links`, links = the copies whose
 * tables hold the entry or will hold it once the log is replayed onto them.
 */
export const E_META = 3;
/** Bits of the entry meta word that count links: enough for `MAX_COPIES`. */
export const LINK_BITS = 5;

/**
 * Fixed-length typed-array views over a prefix of the growable buffer.
 *
 * Length-tracking views over a growable buffer are an order of magnitude
 * slower in optimized code, so every thread keeps fixed-length views and
 * rebuilds them when the header says the buffer grew.
 */
export class MapViews {
  readonly buffer: SharedArrayBuffer;
  /** Words covered by the views. */
  words = 0;
  i32!: Int32Array;
  u16!: Uint16Array;
  u8!: Uint8Array;
  f64!: Float64Array;
  i64!: BigInt64Array;

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.remap();
  }

  /** Rebuilds the views over the whole buffer as this thread sees it now. */
  remap(): void {
    const buffer = this.buffer;
    // Even words keep the float64 view whole.
    const words = Math.floor(buffer.byteLength / 8) * 2;
    this.words = words;
    this.i32 = new Int32Array(buffer, 0, words);
    this.u16 = new Uint16Array(buffer, 0, words * 2);
    this.u8 = new Uint8Array(buffer, 0, words * 4);
    this.f64 = new Float64Array(buffer, 0, words / 2);
    this.i64 = new BigInt64Array(buffer, 0, words / 2);
  }
}
