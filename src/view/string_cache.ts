/**
 * The per-thread cache of a string-keyed map's view: answers of one version
 * of the map for strings the program looks up again and again, with the
 * policy that decides whether it is used (see {@linkcode StringCache}).
 *
 * @module
 */

/** The bytes a view's cache may take by default (`stringCacheBytes`). */
export const DEFAULT_CACHE_BYTES = 8 * 1024 * 1024;
/** The longest key the cache takes, in UTF-16 code units. */
export const CACHE_KEY_LENGTH = 64;
/** The answer the cache holds for a key the version does not hold. */
export const ABSENT = null;

/**
 * What the cache counts for each key it holds, beside 2 bytes a code unit
 * of the key and of a string value: measured in Deno 2.9.6, a `Map` of
 * 100,000 flat 20-unit one-byte keys to small integers took about 54
 * bytes a key on the heap, a little less than this and 2 bytes a unit.
 */
const CACHED_KEY_BYTES = 40;
/** What a number or bigint answer adds (a heap number or bigint). */
const BOXED_ANSWER_BYTES = 16;
/** What a key of 20 units counts: room for keys, roughly. */
const TYPICAL_KEY_BYTES = 80;
/**
 * The most keys a cache holds, whatever its bytes: a V8 `Map` holds at most
 * 2^24 entries.
 */
const MAX_CACHED_KEYS = 1 << 23;
/** The least room of the miniature, so that a small cache can come back. */
const MIN_MINIATURE_BYTES = 4096;
/** Hash buckets of sighting counts (one byte each). */
const SIGHTING_BUCKETS = 65536;
/**
 * Sightings of a key (misses, counted in its hash bucket) that admit it.
 * The counts are halved every `ADMIT_AFTER` sightings per key the cache
 * has room for (at least one per bucket), so this is a rate.
 */
const ADMIT_AFTER = 4;
/** Consultations of the cache per window: the unit of its decisions. */
const WINDOW = 256;
/**
 * While the cache is off, lookups of the keys whose hash is 0 modulo this
 * consult a miniature of it, with this much less room, whose hit rate is
 * the one the whole cache would have.
 */
const SAMPLE = 256;
/**
 * Windows a cache just taken up gets to fill before its hit rate is
 * weighed: at least this many, and enough for every key it has room for
 * to be sighted `ADMIT_AFTER` times twice over.
 */
const GRACE = 256;
/**
 * One window in this many, while the cache is on, goes around it: timing
 * both says whether the cache is faster than the lookups it saves.
 */
const AROUND_EVERY = 64;
/**
 * A window that took longer than this per lookup (ms) was interrupted or
 * spread over idle time: its timing says nothing about lookups.
 */
const PLAUSIBLE_MS = 0.02;
/** Windows timed with the cache before its timing decides. */
const TIMED_WINDOWS = 8;
/** How much slower than going around the cache must be timed to go off. */
const SLOWER = 1.25;
/** The longest wait, in windows off, before the cache is tried again. */
const MAX_BACKOFF = 64;

/**
 * The clock, taken when the module loads: code that replaces
 * `performance.now` later cannot run inside a lookup.
 */
const now: () => number = performance.now.bind(performance);

/** The cache answers every lookup it takes. */
const ON = 0;
/** On, but this window's lookups go around it, to be timed. */
const AROUND = 1;
/** Off: only the miniature is consulted. */
const OFF = 2;

/**
 * The cache of a string-keyed map's view, one per read handle a thread
 * opens or attaches (shared by its clones).
 *
 * V8 keeps the hash of every string it has hashed, so a `Map` lookup of a
 * string the program already holds never reads its characters; the view
 * must read them all, then the table and the entry. So the cache keeps a
 * `Map` from such strings to what one version of the map holds for them:
 * an answer the view makes (the value itself when it is immutable, or the
 * entry's word offset, or {@linkcode ABSENT}). A hit is one `Map` lookup,
 * as `Map.get` is.
 *
 * - *Validation.* The cache holds the answers of one version of one copy
 *   and is stamped with both, as the guard that looks up read them when it
 *   entered. A lookup uses it only with the stamp's version and copy. Only
 *   lookups of the newest version seen keep answers, and only if the view
 *   says their table is their copy's (a reclaimed handle's guard may read
 *   memory the writer has let go of). The first answer kept for a newer
 *   version empties the cache and stamps it again, unstamped while it is
 *   emptied, so an exception half way leaves a cache that answers nothing.
 * - *Bound.* Keys of at most {@linkcode CACHE_KEY_LENGTH} units, and at
 *   most `capacity` bytes (and 2^23 keys), counted as 40 bytes a key plus 2
 *   a code unit of the key and of a string answer (16 more for a number or
 *   bigint): about what V8 takes for one-byte (Latin-1) strings, up to a
 *   third less than it takes for two-byte ones. A full cache is emptied. Keys of 13 units or
 *   more (which V8 may keep as a slice of a longer string, or a rope) are
 *   kept as flat copies, so the cache holds no string alive but its own.
 *   The miniature takes 1/256 of the room (at least 4 KiB), and the
 *   sighting counts 64 KiB.
 * - *Admission.* Up to half full, the cache keeps every key at its first
 *   miss; then only keys seen about four times (misses counted in 65,536
 *   buckets by hash, halved every four per key it has room for), so that
 *   keys seen once or twice do not churn it.
 * - *When it is used.* The cache is on at first. Every 256 consultations
 *   (a window) it weighs itself. It is timed against the lookups it saves:
 *   one window in 64 goes around it, and windows are timed whole (with
 *   `performance.now()`, twice a window). Strings that are new objects
 *   each time (just parsed or decoded) cost V8's hashing at every
 *   consultation, 100 ns or more, and can make hits slower than lookups
 *   around the cache: then the cache goes off, and its answers are kept
 *   for when it is tried again (after 1, 2, 4 ... 64 windows off). Where
 *   timings are missing (windows spread over idle time), the hit rate
 *   decides: a hit saves at least 40 ns, a miss costs about 30, and an
 *   admission 1 us once the cache is full (before, each key pays it once).
 *   While it is off, one key in 256 (by hash) consults a miniature of it,
 *   whose hit rate the whole cache would have; when that says the cache
 *   would pay twice what it costs, it is taken up again. A cache just
 *   taken up is given time to fill (enough windows for every key it has
 *   room for to be seen eight times) unless it answers nearly every lookup
 *   and is still slower.
 */
export class StringCache {
  /** The longest key the cache takes: -1 when it has no room. */
  readonly maxLength: number;
  readonly #capacity: number;
  /** The cache's answers, and the miniature's (consulted while it is off). */
  readonly #answers = new Answers();
  readonly #miniature = new Answers();
  /** The newest version a lookup has seen: only its lookups keep answers. */
  #newest = 0;
  #seenAny = false;

  readonly #sightings: Uint8Array;
  /** `#sightings` four at a time, to halve them. */
  readonly #sightingWords: Uint32Array;
  readonly #agingPeriod: number;
  #aging: number;

  #mode = ON;
  /** Consultations (lookups, going around) left in this window. */
  #window = WINDOW;
  #misses = 0;
  #admitted = 0;
  /** Windows on since the cache was taken up. */
  #windowsOn = 0;
  readonly #graceWindows: number;
  #grace: number;
  /** Whether the cache was emptied for room since it was taken up. */
  #churns = false;
  /** Windows to wait off before trying again, and those waited. */
  #backoff = 0;
  #windowsOff = 0;
  /** The clock windows are timed with, in ms (`performance.now`). */
  readonly #clock: () => number;
  /** When this window started. */
  #started: number;
  /** Estimated ms per lookup with the cache and around it (-1: unknown). */
  #cachedMs = -1;
  #aroundMs = -1;
  /** Windows timed into each estimate since it was last started again. */
  #cachedWindows = 0;
  #aroundWindows = 0;

  /**
   * @param capacity The bytes the cache may count (`stringCacheBytes`); 0
   * for no cache.
   * @param clock The time in ms (tests pass a clock of their own).
   */
  constructor(capacity: number, clock: () => number = now) {
    this.#clock = clock;
    this.#started = clock();
    this.#capacity = capacity;
    this.maxLength = capacity > 0 ? CACHE_KEY_LENGTH : -1;
    this.#sightings = new Uint8Array(capacity > 0 ? SIGHTING_BUCKETS : 4);
    this.#sightingWords = new Uint32Array(this.#sightings.buffer);
    const keys = capacity / TYPICAL_KEY_BYTES;
    this.#agingPeriod = Math.max(
      this.#sightings.length,
      Math.ceil(keys * ADMIT_AFTER),
    );
    this.#aging = this.#agingPeriod;
    this.#graceWindows = Math.max(
      GRACE,
      Math.ceil(2 * keys * ADMIT_AFTER / WINDOW),
    );
    this.#grace = this.#graceWindows;
  }

  /** Keys in the cache now (for tests). */
  get size(): number {
    return this.#answers.map.size;
  }

  /** The bytes the cache counts now (for tests). */
  get bytes(): number {
    return this.#answers.bytes;
  }

  /** Whether every lookup the cache takes consults it now. */
  get on(): boolean {
    return this.#mode === ON;
  }

  /**
   * The answer for `key` in `version` of `copy`, if the cache is on and
   * holds one, and this is not the window's last consultation (which
   * `consult` counts and times); else `undefined`, and nothing counted.
   */
  hit(key: string, version: number, copy: number): unknown {
    if (this.#mode !== ON || this.#window <= 1) return undefined;
    const answer = this.#answers.get(key, version, copy);
    if (answer !== undefined) this.#window--;
    return answer;
  }

  /**
   * While the cache is on: its answer for `key` in `version` of `copy`, or
   * `undefined` if it has none (the caller then looks up and calls
   * `missed`). Counts a consultation; call `consulted` after.
   */
  consult(key: string, version: number, copy: number): unknown {
    return this.#answers.get(key, version, copy);
  }

  /**
   * Notes the answer of a lookup the cache had none for: `key` (whose hash
   * is `hash`) has `answer` in `version` of `copy`; `own` says whether the
   * lookup's table is its copy's (see the class).
   */
  missed(
    key: string,
    hash: number,
    answer: unknown,
    version: number,
    copy: number,
    own: boolean,
  ): void {
    this.#misses++;
    if (!own || !this.#isNewest(version)) return;
    const sampling = this.#mode === OFF;
    const answers = sampling ? this.#miniature : this.#answers;
    const room = sampling
      ? Math.min(
        this.#capacity,
        Math.max(this.#capacity / SAMPLE, MIN_MINIATURE_BYTES),
      )
      : this.#capacity;
    // Up to half full, every key is taken at its first miss; then only
    // keys seen often, so that keys seen once or twice do not churn it.
    const admitAfter = 2 * answers.bytes < room ? 1 : ADMIT_AFTER;
    if (this.#sight(hash) < admitAfter) return;
    const cost = CACHED_KEY_BYTES + 2 * key.length + answerBytes(answer);
    if (cost > room) return;
    if (answers.keep(key, answer, cost, version, copy, room) && !sampling) {
      this.#churns = true;
    }
    this.#admitted++;
  }

  /** Counts a consultation (of the cache, or of the miniature). */
  consulted(): void {
    if (--this.#window <= 0) this.#endWindow();
  }

  /**
   * Counts a lookup around the cache (while it is off or timed around);
   * returns whether the lookup of a key whose hash is `hash` should then
   * consult the miniature.
   */
  around(hash: number): boolean {
    if (this.#mode === AROUND) {
      if (--this.#window <= 0) this.#endWindow();
      return false;
    }
    return (hash & (SAMPLE - 1)) === 0;
  }

  /** While the cache is off: the miniature's answer for `key`, if any. */
  consultMiniature(key: string, version: number, copy: number): unknown {
    return this.#miniature.get(key, version, copy);
  }

  /** Whether `version` is the newest a lookup has seen (noting it if so). */
  #isNewest(version: number): boolean {
    if (!this.#seenAny || ((version - this.#newest) | 0) > 0) {
      this.#newest = version;
      this.#seenAny = true;
    }
    return version === this.#newest;
  }

  /**
   * Counts a sighting of a key whose hash is `hash`, and returns its
   * bucket's count; all counts are halved every `#agingPeriod` sightings.
   */
  #sight(hash: number): number {
    const sightings = this.#sightings;
    const bucket = hash & (sightings.length - 1);
    const seen = sightings[bucket] + 1;
    if (seen < 16) sightings[bucket] = seen;
    if (--this.#aging === 0) {
      const words = this.#sightingWords;
      for (let i = 0; i < words.length; i++) {
        words[i] = (words[i] >>> 1) & 0x7f7f7f7f;
      }
      this.#aging = this.#agingPeriod;
    }
    return seen;
  }

  /** Ends a window: times it, and decides what the next one does. */
  #endWindow(): void {
    const time = this.#clock();
    const elapsed = time - this.#started;
    const mode = this.#mode;
    if (mode === AROUND) {
      this.#aroundMs = estimate(this.#aroundMs, elapsed / WINDOW);
      this.#aroundWindows++;
      this.#mode = ON;
    } else if (mode === ON) {
      this.#cachedMs = estimate(this.#cachedMs, elapsed / WINDOW);
      this.#cachedWindows++;
      this.#decideOn();
    } else {
      this.#decideOff();
    }
    this.#window = WINDOW;
    this.#misses = 0;
    this.#admitted = 0;
    this.#started = this.#clock();
  }

  /** What the hit rate of this window says: whether the cache pays. */
  #pays(threshold: number): boolean {
    const misses = this.#misses;
    const saved = (WINDOW - misses) * 4;
    const cost = misses * 3 + (this.#churns ? this.#admitted * 100 : 0);
    return saved > 0 && saved >= threshold * cost;
  }

  #decideOn(): void {
    this.#windowsOn++;
    const timed = this.#cachedWindows >= TIMED_WINDOWS &&
      this.#aroundWindows >= 2;
    const slower = timed && this.#cachedMs > SLOWER * this.#aroundMs;
    const answersAll = this.#misses <= WINDOW / 8;
    if (this.#grace > 0) {
      // A cache that answers nearly every lookup and is still slower will
      // not get faster as it fills.
      if (slower && answersAll) this.#grace = 0;
      else if (--this.#grace === 0) {
        // Timings of the filling say nothing of the cache once full.
        this.#cachedMs = -1;
        this.#cachedWindows = 0;
      }
    }
    if (this.#grace === 0 && (timed ? slower : !this.#pays(1))) {
      // Off. A cache that answers yet is slower keeps its answers for the
      // next try (it is tried again later, and less often each time); one
      // that does not hold what is looked up is let go.
      this.#mode = OFF;
      this.#windowsOff = 0;
      if (slower && answersAll) {
        this.#backoff = Math.min(MAX_BACKOFF, Math.max(1, 2 * this.#backoff));
      } else {
        this.#backoff = 0;
        this.#answers.clear();
      }
      return;
    }
    if (this.#windowsOn % AROUND_EVERY === 0) this.#mode = AROUND;
  }

  #decideOff(): void {
    this.#windowsOff++;
    // The miniature must show twice what it costs, so that a cache that
    // would barely pay is not taken up and let go in turn.
    if (this.#windowsOff < this.#backoff || !this.#pays(2)) return;
    this.#mode = ON;
    this.#windowsOn = 0;
    this.#churns = false;
    this.#restartTiming();
    // A cache kept from its last try needs no filling, only time to come
    // back into the processor's caches: about a lookup per key it holds.
    const kept = this.#answers.map.size;
    this.#grace = kept > 0
      ? Math.max(TIMED_WINDOWS, Math.ceil(kept / WINDOW))
      : this.#graceWindows;
  }

  /**
   * Times the cache afresh: what it did before says nothing of it now.
   * Lookups around it are timed afresh too, only while it is on (one
   * window in `AROUND_EVERY`): while it is off, the processor's caches hold
   * the map's table alone, and lookups around the cache are faster than
   * they would be beside it.
   */
  #restartTiming(): void {
    this.#cachedMs = -1;
    this.#cachedWindows = 0;
    this.#aroundMs = -1;
    this.#aroundWindows = 0;
  }
}

/**
 * Answers of one version of one copy, and the bytes they count: the
 * cache's, or its miniature's.
 */
class Answers {
  /** Key → answer, for version `version` of copy `copy` (-1: none). */
  readonly map = new Map<string, unknown>();
  bytes = 0;
  version = 0;
  copy = -1;

  /** The answer for `key` in `version` of `copy`, if held. */
  get(key: string, version: number, copy: number): unknown {
    if (version !== this.version || copy !== this.copy) return undefined;
    return this.map.get(key);
  }

  /**
   * Keeps `answer` for `key` in `version` of `copy`, counting `cost` bytes
   * against `room`: first empties the answers of another version or copy,
   * or all of them if they are full. Returns whether it emptied them for
   * room.
   */
  keep(
    key: string,
    answer: unknown,
    cost: number,
    version: number,
    copy: number,
    room: number,
  ): boolean {
    const map = this.map;
    if (this.version !== version || this.copy !== copy) {
      // Unstamped while it is emptied: an exception half way leaves
      // answers that answer nothing.
      this.copy = -1;
      this.clear();
      this.version = version;
      this.copy = copy;
    }
    const previous = map.get(key);
    if (previous !== undefined) {
      // Held already (a caller that did not consult first): the old answer
      // goes, and the new one counts as a new key.
      map.delete(key);
      this.bytes -= CACHED_KEY_BYTES + 2 * key.length + answerBytes(previous);
    }
    let emptied = false;
    if (this.bytes + cost > room || map.size >= MAX_CACHED_KEYS) {
      this.clear();
      emptied = true;
    }
    map.set(flatCopy(key), answer);
    this.bytes += cost;
    return emptied;
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }
}

/**
 * A running estimate of ms per lookup from windows' timings: anything else
 * the thread did during a window (a collection, a task, idle time) only
 * adds to its time, so the estimate follows a lower sample at once and a
 * higher one by at most 3% a window.
 */
function estimate(previous: number, sample: number): number {
  if (!(sample >= 0 && sample < PLAUSIBLE_MS)) return previous;
  if (previous < 0 || sample < previous) return sample;
  return Math.min(sample, previous * 1.03);
}

/** What an answer adds to the bytes a key counts. */
function answerBytes(answer: unknown): number {
  if (typeof answer === "string") return 2 * answer.length;
  if (typeof answer === "bigint") return BOXED_ANSWER_BYTES;
  if (typeof answer === "number" && (answer | 0) !== answer) {
    return BOXED_ANSWER_BYTES;
  }
  return 0;
}

/**
 * A copy of `key` that holds nothing else alive: a string of 13 or more
 * units may be a slice or a rope that holds a far longer string.
 */
function flatCopy(key: string): string {
  if (key.length < 13) return key;
  return JSON.parse(JSON.stringify(key));
}
