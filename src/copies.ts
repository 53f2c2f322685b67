/**
 * The writer's copies of the index, and how it finds each next copy to
 * write without waiting for readers.
 *
 * A map has one current copy, which new guards read, and one write copy,
 * which no guard reads. A publish makes the write copy current and retires
 * the old current copy, which the guards that entered it may keep reading
 * for as long as they like. Before the next write the writer needs a copy
 * no guard reads, brought up to date:
 *
 * 1. a retired copy whose guards have all left, replaying the logs since its
 *    version (the newest such copy, so the fewest logs);
 * 2. else a new copy, a table copied from the current one, while there are
 *    fewer than `maxCopies` copies and the buffer has room;
 * 3. else it waits for a retired copy to come free.
 *
 * Retired copies that come free and are not needed are let go, so that
 * their memory and the entries only they reach are freed. A retired copy is
 * "kept" while the writer keeps its logs to replay, "abandoned" once it
 * stopped (it is let go when it comes free).
 *
 * This class decides; the writer's {@linkcode CopyTables} change the
 * tables. Its waits and scans are protocol generators, so the interleaving
 * explorer runs this very code against simulated readers.
 *
 * @module
 */

import { BufferFullError } from "./errors.ts";
import type { Memory } from "./memory.ts";
import { awaitFreeCopy, copyIsFree, type Step } from "./protocol.ts";

/** What a copy of the index is to the writer. */
export type CopyRole =
  | "absent"
  | "current"
  | "writing"
  | "kept"
  | "abandoned";

/** What the writer does to tables, when {@linkcode CopySet} says so. */
export interface CopyTables {
  /**
   * Brings `copy`, whose table holds version `from`, up to the current
   * version by replaying the logs since. No guard reads it.
   */
  replay(copy: number, from: number): void;
  /**
   * Gives `copy` (which has no table) a table of its own that holds what
   * the current copy holds. Returns `false`, changing nothing, when the
   * buffer has no room for it.
   */
  clone(copy: number): boolean;
  /**
   * Stops counting `copy`, whose table holds version `from`, as a table
   * that will hold the entries logged since: its table stays as it is for
   * the guards that read it, and is never replayed.
   */
  untrack(copy: number, from: number): void;
  /**
   * Lets go of `copy`'s table, which no guard reads and which is counted
   * for no entry logged after its version: its memory and its hold on the
   * entries it holds.
   */
  destroy(copy: number): void;
}

/** One copy's role, the version its table holds, and when it was retired. */
interface CopyState {
  role: CopyRole;
  version: number;
  retiredAt: number;
}

/** The copies of one map's index, from the writer's side. */
export class CopySet {
  readonly #memory: Memory;
  readonly #tables: CopyTables;
  readonly #copies: CopyState[];
  readonly #clock: () => number;
  /** The most copies with a table at once. */
  readonly maxCopies: number;
  #current: number;
  #write: number;
  /** Copies current, writing or kept (see {@linkcode tracking}). */
  #tracking = 2;
  /** Copies kept or abandoned. */
  #retiredCount = 0;
  /** Publishes so far: the version of the current copy. */
  version = 0;
  /** Write copies made by copying the current table rather than by replay. */
  clones = 0;
  /** Write copies brought up to date by replaying logs. */
  replays = 0;

  /**
   * A map whose copy `current` and copy `write` both hold version 0, as
   * `create()` lays them out.
   */
  constructor(
    memory: Memory,
    tables: CopyTables,
    maxCopies: number,
    current: number,
    write: number,
    clock: () => number = Date.now,
  ) {
    this.#memory = memory;
    this.#tables = tables;
    this.maxCopies = maxCopies;
    this.#clock = clock;
    this.#copies = [];
    for (let copy = 0; copy < maxCopies; copy++) {
      this.#copies.push({ role: "absent", version: 0, retiredAt: 0 });
    }
    this.#copies[current].role = "current";
    this.#copies[write].role = "writing";
    this.#current = current;
    this.#write = write;
  }

  /** The copy new guards read. */
  get current(): number {
    return this.#current;
  }

  /** The copy the writer writes, or -1 until {@linkcode prepare} finds one. */
  get write(): number {
    return this.#write;
  }

  /** Whether a write copy is ready and no retired copy is left to let go. */
  get settled(): boolean {
    return this.#write >= 0 && this.#retiredCount === 0;
  }

  /** Copies with a table. */
  get count(): number {
    let count = 0;
    for (const state of this.#copies) if (state.role !== "absent") count++;
    return count;
  }

  /**
   * Copies that hold, or will hold once replayed, an entry the writer
   * creates now: the links a new entry starts with.
   */
  get tracking(): number {
    return this.#tracking;
  }

  /** The role of `copy`. */
  role(copy: number): CopyRole {
    return this.#copies[copy].role;
  }

  /** The version `copy`'s table holds. */
  versionOf(copy: number): number {
    return this.#copies[copy].version;
  }

  /** When `copy` was retired, by the set's clock (retired copies only). */
  retiredAt(copy: number): number {
    return this.#copies[copy].retiredAt;
  }

  /** The retired copies (kept or abandoned), oldest version first. */
  retired(): number[] {
    const copies: number[] = [];
    for (let copy = 0; copy < this.#copies.length; copy++) {
      const role = this.#copies[copy].role;
      if (role === "kept" || role === "abandoned") copies.push(copy);
    }
    return copies.sort((a, b) =>
      this.#copies[a].version - this.#copies[b].version
    );
  }

  /** The kept copy of the oldest version, or -1 if none. */
  oldestKeptCopy(): number {
    let oldest = -1;
    if (this.#retiredCount === 0) return oldest;
    const copies = this.#copies;
    for (let copy = 0; copy < copies.length; copy++) {
      if (
        copies[copy].role === "kept" &&
        (oldest < 0 || copies[copy].version < copies[oldest].version)
      ) oldest = copy;
    }
    return oldest;
  }

  /** The oldest version a kept copy holds, or the current version if none. */
  oldestKept(): number {
    const copy = this.oldestKeptCopy();
    return copy < 0 ? this.version : this.#copies[copy].version;
  }

  /**
   * Makes sure the writer has a copy to write, up to date and read by no
   * guard, and lets go of every retired copy that came free and is not
   * needed. Returns the write copy. Waits only when every copy is taken
   * (`maxCopies`) or the buffer has no room for another.
   */
  *prepare(): Generator<Step, number> {
    for (;;) {
      const copy = this.prepareNow();
      if (copy >= 0) return copy;
      yield;
      yield* awaitFreeCopy(this.#memory, this.retired());
    }
  }

  /**
   * {@linkcode prepare} up to its wait: returns the write copy, or -1 when
   * it must wait for a retired copy to come free. Throws a
   * `BufferFullError` when no copy fits and none could ever come free.
   * With `replayOnly`, it makes no new copy: it returns -1 unless a retired
   * copy is free to replay.
   */
  prepareNow(replayOnly = false): number {
    const copies = this.#copies;
    // The newest kept copy that came free needs the fewest logs.
    let best = -1;
    for (let copy = 0; this.#retiredCount > 0 && copy < copies.length; copy++) {
      const state = copies[copy];
      if (state.role !== "kept" && state.role !== "abandoned") continue;
      if (!copyIsFree(this.#memory, copy)) {
        // Pinned: from when, for `stats()` (read only while pinned, so it
        // is taken here, by the check a publish makes at once).
        if (state.retiredAt === 0) state.retiredAt = this.#clock();
        continue;
      }
      if (
        this.#write >= 0 || state.role === "abandoned" ||
        (best >= 0 && copies[best].version > state.version)
      ) {
        this.#letGo(copy);
        continue;
      }
      if (best >= 0) this.#letGo(best);
      best = copy;
    }
    if (this.#write >= 0) return this.#write;
    if (best >= 0) {
      this.#tables.replay(best, copies[best].version);
      this.#startWriting(best);
      this.replays++;
      return best;
    }
    if (replayOnly) return -1;
    if (this.count < this.maxCopies) {
      const copy = copies.findIndex((state) => state.role === "absent");
      if (this.#tables.clone(copy)) {
        this.#startWriting(copy);
        this.clones++;
        return copy;
      }
    }
    if (this.#retiredCount === 0) {
      throw new BufferFullError(
        "Cannot open a write guard: the buffer has no room for a copy of the index to write (maxBytes)",
      );
    }
    return -1;
  }

  /** Frees a retired copy that no guard reads. */
  #letGo(copy: number): void {
    this.abandon(copy);
    this.#tables.destroy(copy);
    this.#copies[copy].role = "absent";
    this.#retiredCount--;
  }

  #startWriting(copy: number): void {
    const state = this.#copies[copy];
    if (state.role === "absent") this.#tracking++;
    else this.#retiredCount--;
    state.role = "writing";
    state.version = this.version;
    this.#write = copy;
  }

  /**
   * Records a publish of the write copy (which the protocol has just made
   * current): the old current copy is retired, kept for replay, or
   * abandoned when `abandonOld` (its table is too small for the grown
   * one's entries). When no guard is left on it (the usual case), it is
   * replayed at once, as the next write copy: the work the next
   * {@linkcode prepare} would do, done in the stack the publish's probe has
   * just found free. Returns the write copy then, or -1.
   */
  published(abandonOld = false): number {
    const oldCopy = this.#current;
    const old = this.#copies[oldCopy];
    old.role = "kept";
    old.retiredAt = 0;
    this.#retiredCount++;
    this.version++;
    const now = this.#copies[this.#write];
    now.role = "current";
    now.version = this.version;
    this.#current = this.#write;
    this.#write = -1;
    if (abandonOld) this.abandon(oldCopy);
    return this.prepareNow(true);
  }

  /**
   * Stops keeping logs for a kept copy: it will be let go, not replayed,
   * once no guard reads it.
   */
  abandon(copy: number): void {
    const state = this.#copies[copy];
    if (state.role !== "kept") return;
    // Abandoned first, so that the tables no longer count it as kept.
    state.role = "abandoned";
    this.#tracking--;
    this.#tables.untrack(copy, state.version);
  }

  /** Abandons every kept copy. */
  abandonAll(): void {
    for (let copy = 0; copy < this.#copies.length; copy++) this.abandon(copy);
  }
}
