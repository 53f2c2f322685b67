/**
 * Scenarios for the interleaving explorer: one writer and up to three
 * readers, running the production reader protocol and the production
 * `CopySet` (or mutants of them) on simulated memory, with ghost state that
 * checks the specification at every step:
 *
 * - the writer never writes, replays, copies into or frees a copy that a
 *   live guard reads (S1, S5);
 * - a guard sees the same version on every read (S1);
 * - on one handle, a guard created later never sees an older version (S2);
 * - a guard created after a publish returned sees that publish (S3);
 * - no thread waits for ever (S4, checked by the explorer);
 * - an entry's memory is freed only when no live guard can see it (S5);
 * - the writer sleeps only when `maxCopies` copies exist or the buffer had
 *   no room for another (S6), checked after every step;
 * - in maps of atomic cells, an update through a guard lands in a live
 *   entry: never in one the writer freed, even through the guard of a
 *   reclaimed worker that keeps running (a zombie).
 *
 * The map itself is abstract: version k holds entry k, so entry k can be
 * freed once no copy holds version k any more.
 *
 * @module
 */

import * as layout from "../../src/layout.ts";
import type * as productionCopies from "../../src/copies.ts";
import type { CopyTables } from "../../src/copies.ts";
import type * as productionProtocol from "../../src/protocol.ts";
import type { HandleWord, Step } from "../../src/protocol.ts";
import type { Scenario, Thread, World } from "./explorer.ts";
import { SimMemory } from "./sim_memory.ts";

/** The modules under test: production, or mutants of them. */
export interface Protocol {
  readonly protocol: typeof productionProtocol;
  readonly copies: typeof productionCopies;
}

const MAX_READERS = 3;
/** A word past the registry: set when a reader thread "dies". */
const DEAD = layout.heapStart(MAX_READERS);
/** A word past the registry: set once the writer reclaimed the dead reader. */
const RECLAIMED_WORD = DEAD + 1;
/** A word past the registry: set by the writer after each publish. */
const PUBLISHED_WORD = DEAD + 2;
/** Thread tags, as the registry lock records them. */
const WRITER_TAG = 1;
const READER_TAG = 2;
/** The thread name the S6 check watches. */
const WRITER = "writer";

function wordName(index: number): string {
  const names: Record<number, string> = {
    [layout.H_CURRENT_COPY]: "current",
    [layout.C_DEPARTURES]: "departures",
    [layout.C_WRITER_PARKED]: "parked",
    [layout.C_REGISTRY_LOCK]: "lock",
    [layout.C_SLOTS_USED]: "slotsUsed",
    [layout.C_PUBLISHES]: "publishes",
  };
  if (names[index] !== undefined) return names[index];
  if (index === DEAD) return "dead";
  if (index === RECLAIMED_WORD) return "reclaimed";
  if (index === PUBLISHED_WORD) return "published";
  if (index >= layout.REGISTRY_START) {
    const slot = Math.floor(
      (index - layout.REGISTRY_START) / layout.SLOT_WORDS,
    );
    const field = (index - layout.REGISTRY_START) % layout.SLOT_WORDS;
    const fields = ["refcount", "state", "owner", "registrations"];
    const name = field >= layout.S_RESIDUAL
      ? `residual[${field - layout.S_RESIDUAL}]`
      : fields[field];
    return `slot${slot}.${name}`;
  }
  return `word${index}`;
}

interface GuardGhost {
  readonly name: string;
  readonly copy: number;
  readonly version: number;
}

/** The specification's view of the run. */
class Ghost {
  /** The version each copy's table holds; -1 for a copy with no table. */
  readonly version: number[] = new Array(layout.MAX_COPIES).fill(-1);
  readonly live = new Set<GuardGhost>();
  readonly latest = new Map<string, number>();
  published = 0;

  constructor() {
    this.version[0] = 0;
    this.version[1] = 0;
  }

  enter(handle: string, copy: number): GuardGhost {
    const guard = {
      name: `${handle}'s guard`,
      copy,
      version: this.version[copy],
    };
    if (guard.version < 0) {
      throw new Error(`${guard.name} entered copy ${copy}, which has no table`);
    }
    if (guard.version < this.published) {
      throw new Error(
        `S3: ${guard.name} sees version ${guard.version}, but publish ${this.published} had returned`,
      );
    }
    const before = this.latest.get(handle) ?? 0;
    if (guard.version < before) {
      throw new Error(
        `S2: ${guard.name} sees version ${guard.version} after a guard of the same handle saw ${before}`,
      );
    }
    this.latest.set(handle, guard.version);
    this.live.add(guard);
    return guard;
  }

  read(guard: GuardGhost): void {
    if (this.version[guard.copy] !== guard.version) {
      throw new Error(
        `S1: ${guard.name} saw version ${guard.version}, now reads ${
          this.version[guard.copy]
        }`,
      );
    }
  }

  leave(guard: GuardGhost): void {
    this.live.delete(guard);
  }

  /**
   * The writer changes copy `copy` so that it holds `version` (-1: frees
   * its table): no live guard may be reading it, and the entry of the
   * version it held is freed if no copy holds that version any more.
   */
  write(copy: number, version: number, what: string): void {
    for (const guard of this.live) {
      if (guard.copy === copy) {
        throw new Error(
          `the writer ${what} copy ${copy} while ${guard.name} (version ${guard.version}) reads it`,
        );
      }
    }
    const old = this.version[copy];
    this.version[copy] = version;
    if (old >= 0 && old !== version && !this.version.includes(old)) {
      this.free(old);
    }
  }

  /** Entry `entry` is unreachable from every copy: its memory may be reused. */
  free(entry: number): void {
    for (const guard of this.live) {
      if (guard.version === entry) {
        throw new Error(
          `S5: entry ${entry} is freed while ${guard.name} can still see it`,
        );
      }
    }
  }
}

interface Handle {
  readonly name: string;
  readonly id: number;
  readonly word: HandleWord;
}

interface LiveGuard {
  readonly handle: Handle;
  readonly copy: number;
  readonly ghost: GuardGhost;
}

/** How a scenario's writer is configured. */
export interface WriterOptions {
  /** The `maxCopies` of the map. */
  readonly maxCopies: number;
  /** How many copies the buffer has room for beyond the first two (default: any). */
  readonly room?: number;
  /** A map of atomic cells: reclaims keep a zombie's guards as orphans. */
  readonly cells?: boolean;
}

/** Everything a scenario's threads share. */
export class Setup {
  readonly memory = new SimMemory(PUBLISHED_WORD + 1, wordName);
  readonly ghost = new Ghost();
  readonly protocol: typeof productionProtocol;
  readonly copies: productionCopies.CopySet;
  /** Set when a clone was refused for want of room; cleared when a table is freed. */
  #full = false;
  #room: number;
  readonly #cells: boolean;

  constructor(modules: Protocol, options: WriterOptions) {
    this.protocol = modules.protocol;
    this.#cells = options.cells ?? false;
    this.#room = options.room ?? Infinity;
    const ghost = this.ghost;
    const tables: CopyTables = {
      replay: (copy, from) => {
        ghost.write(
          copy,
          this.copies.version,
          `replays versions ${from}..${this.copies.version} onto`,
        );
      },
      clone: (copy) => {
        if (this.#room <= 0) {
          this.#full = true;
          return false;
        }
        this.#room--;
        ghost.write(copy, this.copies.version, "copies the index into");
        return true;
      },
      untrack: () => {},
      destroy: (copy) => {
        ghost.write(copy, -1, "frees");
        this.#room++;
        this.#full = false;
      },
    };
    this.copies = new modules.copies.CopySet(
      this.memory,
      tables,
      options.maxCopies,
      0,
      1,
      () => 0,
    );
  }

  /** Registers a read handle before the threads start. */
  handle(name: string): Handle {
    const steps = this.protocol.registerReader(
      this.memory,
      MAX_READERS,
      READER_TAG,
    );
    let next = steps.next();
    while (!next.done) next = steps.next();
    if (next.value === null) throw new Error("no reader slot");
    return { name, id: next.value.id, word: next.value.word };
  }

  /** Registers a read handle from a running thread. */
  *register(name: string): Generator<Step, Handle> {
    const registration = yield* this.protocol.registerReader(
      this.memory,
      MAX_READERS,
      READER_TAG,
    );
    if (registration === null) throw new Error(`no reader slot for ${name}`);
    return { name, id: registration.id, word: registration.word };
  }

  /**
   * The writer: `publishes` write guards, each preparing its copy first
   * (replay, copy, or wait), then a final synchronize. `before(version)`
   * runs before guard `version` prepares; `during(version)` while it
   * writes (after it prepared, before it publishes).
   */
  *writer(
    publishes: number,
    hooks: {
      before?: (version: number) => Generator<Step, void>;
      during?: (version: number) => void;
      /**
       * Whether guard `version` grows the table: the kept copies are
       * abandoned while it writes, and the old current one at its publish.
       */
      grows?: (version: number) => boolean;
      /** Tell readers of each publish through the `published` word. */
      announce?: boolean;
    } = {},
  ): Generator<Step, void> {
    const { memory, ghost, protocol, copies } = this;
    for (let version = 1; version <= publishes; version++) {
      if (hooks.before !== undefined) yield* hooks.before(version);
      const copy = yield* copies.prepare();
      yield;
      ghost.write(copy, version, `writes version ${version} on`);
      hooks.during?.(version);
      const grew = hooks.grows?.(version) ?? false;
      if (grew) copies.abandonAll();
      yield* protocol.publishCopy(memory, WRITER_TAG, copy);
      copies.published(grew);
      ghost.published = version;
      if (hooks.announce) {
        yield;
        memory.store(PUBLISHED_WORD, version);
        yield;
        memory.notify(PUBLISHED_WORD, MAX_READERS);
      }
    }
    yield;
    yield* copies.prepare();
  }

  /** Enters a guard; returns what `leave` needs. */
  enter(handle: Handle): LiveGuard {
    const copy = this.protocol.enterGuard(this.memory, handle.word);
    if (copy < 0) {
      throw new Error(`${handle.name} could not enter a guard (${copy})`);
    }
    return { handle, copy, ghost: this.ghost.enter(handle.name, copy) };
  }

  *leave(guard: LiveGuard): Generator<Step, void> {
    const result = yield* this.leaveWords(guard.handle, guard.copy);
    this.ghost.leave(guard.ghost);
    if (result === this.protocol.RECLAIMED) {
      throw new Error(`${guard.handle.name} was reclaimed while it lived`);
    }
    if (result === this.protocol.LEFT_RESIDUAL) {
      yield;
      yield* this.protocol.wakeWriter(this.memory);
    }
  }

  /**
   * Leaves a guard's words, as the read handle does: `leaveGuard`, then,
   * for a residual guard, `leaveResidual` as a step of its own.
   */
  *leaveWords(handle: Handle, copy: number): Generator<Step, number> {
    const { memory, protocol } = this;
    const result = protocol.leaveGuard(memory, handle.word, copy);
    if (result !== protocol.RESIDUAL_GUARD) return result;
    yield;
    return protocol.leaveResidual(memory, handle.word, copy);
  }

  /** One guard with `reads` reads, each a step of its own. */
  *guard(handle: Handle, reads: number): Generator<Step, void> {
    const guard = this.enter(handle);
    for (let i = 0; i < reads; i++) {
      yield;
      this.ghost.read(guard.ghost);
    }
    yield;
    yield* this.leave(guard);
  }

  /**
   * One guard held until the writer has published `version` (it must
   * announce), then read and left.
   */
  *holdUntil(handle: Handle, version: number): Generator<Step, void> {
    const guard = this.enter(handle);
    yield* this.awaitWord(PUBLISHED_WORD, version);
    yield;
    this.ghost.read(guard.ghost);
    yield;
    yield* this.leave(guard);
  }

  /**
   * A reader that enters a guard and dies inside it (its worker terminated):
   * it never leaves, and it tells the writer so through the `dead` word.
   */
  *dieInGuard(handle: Handle): Generator<Step, void> {
    const guard = this.enter(handle);
    yield;
    this.ghost.read(guard.ghost);
    yield;
    this.ghost.leave(guard.ghost); // a dead guard reads nothing more
    this.memory.store(DEAD, 1);
    yield;
    this.memory.notify(DEAD, 1);
  }

  /**
   * Waits until a reader died, then reclaims its handle (which a zombie may
   * have closed first, when `mayBeClosed`).
   */
  *reclaimWhenDead(id: number, mayBeClosed = false): Generator<Step, void> {
    yield* this.awaitWord(DEAD, 1);
    yield;
    const reclaimed = yield* this.protocol.reclaimReader(
      this.memory,
      id,
      WRITER_TAG,
      this.#cells,
    );
    if (reclaimed < 0 && !mayBeClosed) {
      throw new Error(`handle ${id} was not open`);
    }
    yield;
    this.memory.store(RECLAIMED_WORD, 1);
    yield;
    this.memory.notify(RECLAIMED_WORD, MAX_READERS);
  }

  /**
   * The writer of the dead-reader scenarios: `publishes` publishes,
   * reclaiming handle `id` once its reader died, before the second.
   */
  reclaimingWriter(
    id: number,
    mayBeClosed: boolean,
    publishes = 3,
  ): Generator<Step, void> {
    return this.writer(publishes, {
      before: (version) =>
        version === 2 ? this.reclaimWhenDead(id, mayBeClosed) : none(),
    });
  }

  /** Sleeps until word `index` is at least `value`. */
  *awaitWord(index: number, value: number): Generator<Step, void> {
    for (;;) {
      const seen = this.memory.load(index);
      if (seen >= value) return;
      yield;
      yield { index, expected: seen };
    }
  }

  /**
   * A reader that is terminated inside a guard but keeps running (a busy
   * worker after `terminate()`): it tells the writer it is gone, then, with
   * its handle maybe reclaimed under it, leaves its guard late, enters and
   * leaves another, and closes. None of that may disturb anyone else.
   */
  *zombie(handle: Handle, lateGuards: number): Generator<Step, void> {
    const { memory, protocol } = this;
    const copy = protocol.enterGuard(memory, handle.word);
    if (copy < 0) throw new Error(`${handle.name} could not enter a guard`);
    const ghost = this.ghost.enter(handle.name, copy);
    yield;
    this.ghost.read(ghost);
    yield;
    this.ghost.leave(ghost); // from here on, its reads are its own business
    memory.store(DEAD, 1);
    yield;
    memory.notify(DEAD, 1);
    yield;
    yield* this.lateLeave(handle, copy);
    for (let i = 0; i < lateGuards; i++) {
      yield;
      const reclaimed = memory.load(RECLAIMED_WORD) === 1;
      const late = protocol.enterGuard(memory, handle.word);
      if (late === protocol.GUARDS_FULL) throw new Error("guards full");
      if (reclaimed && late !== protocol.RECLAIMED) {
        throw new Error(
          `${handle.name} entered a guard after it was reclaimed`,
        );
      }
      if (late === protocol.RECLAIMED) break;
      yield;
      yield* this.lateLeave(handle, late);
    }
    yield;
    yield* protocol.unregisterReader(memory, handle.id, READER_TAG);
  }

  /**
   * A reader of a map of cells terminated inside a guard that keeps
   * running, and keeps updating cells through the guard after the writer
   * reclaimed its handle: each update must land in a live entry, so its
   * guard stays live in the ghost until it leaves, late, as an orphan.
   */
  *cellZombie(handle: Handle, lateUpdates: number): Generator<Step, void> {
    const { memory, protocol } = this;
    const guard = this.enter(handle);
    yield;
    this.ghost.read(guard.ghost); // an update
    yield;
    memory.store(DEAD, 1);
    yield;
    memory.notify(DEAD, 1);
    for (let i = 0; i < lateUpdates; i++) {
      yield;
      this.ghost.read(guard.ghost);
    }
    yield;
    const reclaimed = memory.load(RECLAIMED_WORD) === 1;
    const result = yield* this.leaveWords(handle, guard.copy);
    this.ghost.leave(guard.ghost);
    if (reclaimed && result !== protocol.RECLAIMED) {
      throw new Error(
        `${handle.name} changed its words after it was reclaimed (${result})`,
      );
    }
    if (result === protocol.RECLAIMED) {
      yield;
      if (protocol.leaveOrphan(memory, guard.copy)) {
        yield;
        yield* protocol.wakeWriter(memory);
      }
    } else if (result === protocol.LEFT_RESIDUAL) {
      yield;
      yield* protocol.wakeWriter(memory);
    }
    yield;
    yield* protocol.unregisterReader(memory, handle.id, READER_TAG);
  }

  /** A zombie's leave: whatever it returns, the accounting must hold. */
  *lateLeave(handle: Handle, copy: number): Generator<Step, void> {
    const reclaimed = this.memory.load(RECLAIMED_WORD) === 1;
    const result = yield* this.leaveWords(handle, copy);
    if (reclaimed && result !== this.protocol.RECLAIMED) {
      throw new Error(
        `${handle.name} changed its words after it was reclaimed (${result})`,
      );
    }
    if (result === this.protocol.LEFT_RESIDUAL) {
      yield;
      yield* this.protocol.wakeWriter(this.memory);
    }
  }

  world(threads: Thread[]): World {
    const { memory, ghost, copies } = this;
    return {
      memory,
      threads,
      check: (sleeping) => {
        if (sleeping.get(WRITER) !== layout.C_DEPARTURES) return;
        if (copies.count < copies.maxCopies && !this.#full) {
          throw new Error(
            `S6: the writer sleeps with ${copies.count} of ${copies.maxCopies} copies in use and room for another`,
          );
        }
      },
      finish() {
        if (ghost.live.size > 0) {
          throw new Error("guards are still live at the end");
        }
        if (memory.words[layout.C_REGISTRY_LOCK] !== 0) {
          throw new Error("the lock is held at the end");
        }
        for (let copy = 0; copy < layout.MAX_COPIES; copy++) {
          const orphans = memory.words[layout.copyWord(copy, layout.T_ORPHANS)];
          if (orphans !== 0) {
            throw new Error(`copy ${copy} ends with ${orphans} orphans`);
          }
        }
        for (let slot = 0; slot < MAX_READERS; slot++) {
          const base = layout.slotBase(slot);
          if (memory.words[base + layout.S_STATE] !== layout.SLOT_IN_USE) {
            continue;
          }
          let counted = memory.words[base + layout.S_REFCOUNT] & 0x3ff;
          for (let copy = 0; copy < layout.MAX_COPIES; copy++) {
            counted += memory.words[base + layout.S_RESIDUAL + copy] & 0x3ff;
          }
          if (counted !== 0) {
            throw new Error(
              `slot ${slot} ends with ${counted} guards or residual guards counted`,
            );
          }
        }
        // Once every guard has left, a synchronize lets go of every retired
        // copy without waiting: only the current and the write copy remain.
        const steps = copies.prepare();
        for (let next = steps.next(); !next.done; next = steps.next()) {
          if (next.value !== undefined) {
            throw new Error("a synchronize after every guard left would wait");
          }
        }
        if (copies.count !== 2) {
          throw new Error(
            `${copies.count} copies remain after a last synchronize`,
          );
        }
      },
    };
  }
}

function* none(): Generator<Step, void> {}

/** A scenario whose threads `build` makes on a fresh {@linkcode Setup}. */
function scenario(
  modules: Protocol,
  name: string,
  options: WriterOptions,
  build: (s: Setup) => Thread[],
  preemptionBound?: number,
): Scenario {
  return {
    name: `${name} (maxCopies ${options.maxCopies}${
      options.room === undefined ? "" : `, room for ${options.room} more`
    })`,
    preemptionBound,
    setup() {
      const s = new Setup(modules, options);
      return s.world(build(s));
    },
  };
}

/** The scenarios, for given protocol and copy-set modules. */
export function scenarios(modules: Protocol): Scenario[] {
  return [
    scenario(
      modules,
      "S2: two publishes against two sequential guards on one handle",
      { maxCopies: 3 },
      (s) => {
        const a = s.handle("A");
        return [
          { name: WRITER, steps: s.writer(2) },
          {
            name: "reader A",
            steps: (function* () {
              yield* s.guard(a, 1);
              yield;
              yield* s.guard(a, 1);
            })(),
          },
        ];
      },
    ),
    scenario(
      modules,
      "nested guards on one handle (outer, middle, inner)",
      { maxCopies: 2 },
      (s) => {
        const a = s.handle("A");
        return [
          { name: WRITER, steps: s.writer(2) },
          {
            name: "reader A",
            steps: (function* () {
              const outer = s.enter(a);
              yield;
              const middle = s.enter(a);
              yield;
              const inner = s.enter(a);
              for (const guard of [inner, middle, outer]) {
                yield;
                s.ghost.read(guard.ghost);
              }
              for (const guard of [inner, middle, outer]) {
                yield;
                yield* s.leave(guard);
              }
            })(),
          },
        ];
      },
    ),
    scenario(
      modules,
      "two handles with one guard each",
      { maxCopies: 3 },
      (s) => {
        const a = s.handle("A");
        const b = s.handle("B");
        return [
          { name: WRITER, steps: s.writer(2) },
          { name: "reader A", steps: s.guard(a, 2) },
          { name: "reader B", steps: s.guard(b, 2) },
        ];
      },
    ),
    scenario(
      modules,
      "S4: the writer at maxCopies parks for a guard held across publishes, and is woken",
      { maxCopies: 2 },
      (s) => {
        const a = s.handle("A");
        return [
          { name: WRITER, steps: s.writer(3) },
          { name: "reader A", steps: s.guard(a, 4) },
        ];
      },
    ),
    scenario(
      modules,
      "a guard held across three publishes while another handle comes and goes",
      { maxCopies: 4 },
      (s) => {
        const a = s.handle("A");
        const { memory, protocol } = s;
        return [
          { name: WRITER, steps: s.writer(3, { announce: true }) },
          {
            name: "reader A",
            steps: (function* () {
              const held = s.enter(a);
              yield* s.awaitWord(PUBLISHED_WORD, 1);
              yield;
              const c = yield* s.register("C");
              yield;
              yield* s.guard(c, 1);
              yield;
              yield* protocol.unregisterReader(memory, c.id, READER_TAG);
              yield* s.awaitWord(PUBLISHED_WORD, 3);
              yield;
              s.ghost.read(held.ghost);
              yield;
              yield* s.leave(held);
            })(),
          },
        ];
      },
    ),
    scenario(
      modules,
      "two versions pinned at once by two handles",
      { maxCopies: 4 },
      (s) => {
        const a = s.handle("A");
        const b = s.handle("B");
        return [
          { name: WRITER, steps: s.writer(3, { announce: true }) },
          {
            name: "reader of A and B",
            steps: (function* () {
              const first = s.enter(a);
              yield* s.awaitWord(PUBLISHED_WORD, 1);
              yield;
              const second = s.enter(b);
              yield* s.awaitWord(PUBLISHED_WORD, 2);
              yield;
              s.ghost.read(first.ghost);
              yield;
              yield* s.leave(first);
              yield* s.awaitWord(PUBLISHED_WORD, 3);
              yield;
              s.ghost.read(second.ghost);
              yield;
              yield* s.leave(second);
            })(),
          },
        ];
      },
    ),
    scenario(
      modules,
      "a spare copy freed by its reader is reused",
      { maxCopies: 3 },
      (s) => {
        const a = s.handle("A");
        return [
          { name: WRITER, steps: s.writer(4, { announce: true }) },
          {
            name: "reader A",
            steps: (function* () {
              yield* s.holdUntil(a, 1);
              yield;
              yield* s.guard(a, 1);
            })(),
          },
        ];
      },
    ),
    scenario(
      modules,
      "the table grows while a copy is pinned (kept copies abandoned, the old current one at the publish)",
      { maxCopies: 3 },
      (s) => {
        const a = s.handle("A");
        return [
          {
            name: WRITER,
            steps: s.writer(3, { grows: (version) => version === 2 }),
          },
          { name: "reader A", steps: s.guard(a, 2) },
        ];
      },
    ),
    scenario(
      modules,
      "the buffer has no room for another copy: the writer waits",
      { maxCopies: 4, room: 0 },
      (s) => {
        const a = s.handle("A");
        return [
          { name: WRITER, steps: s.writer(2) },
          { name: "reader A", steps: s.guard(a, 3) },
        ];
      },
    ),
    scenario(
      modules,
      "handle clone and close while the writer publishes",
      { maxCopies: 2 },
      (s) => {
        const a = s.handle("A");
        const { memory, protocol } = s;
        return [
          { name: WRITER, steps: s.writer(2) },
          { name: "reader A", steps: s.guard(a, 1) },
          {
            name: "clone C",
            steps: (function* () {
              const c = yield* s.register("C");
              yield;
              yield* s.guard(c, 1);
              yield;
              const freed = yield* protocol.unregisterReader(
                memory,
                c.id,
                READER_TAG,
              );
              if (!freed) throw new Error("C's slot was taken from it");
            })(),
          },
        ];
      },
    ),
    scenario(
      modules,
      "S5: reclamation with two handles and three publishes",
      { maxCopies: 3 },
      (s) => {
        const a = s.handle("A");
        const b = s.handle("B");
        return [
          { name: WRITER, steps: s.writer(3) },
          {
            name: "reader A",
            steps: (function* () {
              yield* s.guard(a, 1);
              yield* s.guard(a, 1);
            })(),
          },
          { name: "reader B", steps: s.guard(b, 2) },
        ];
      },
    ),
    scenario(
      modules,
      "a reader dies inside a guard; the writer reclaims its handle",
      { maxCopies: 2 },
      (s) => {
        const a = s.handle("A");
        const b = s.handle("B");
        return [
          { name: WRITER, steps: s.reclaimingWriter(a.id, false) },
          {
            name: "reader A",
            steps: (function* () {
              yield* s.guard(a, 2);
              yield* s.dieInGuard(a);
            })(),
          },
          { name: "reader B", steps: s.guard(b, 2) },
        ];
      },
    ),
    scenario(
      modules,
      "a reader dies inside a guard on a pinned copy; the writer goes on, then reclaims it",
      { maxCopies: 3 },
      (s) => {
        const a = s.handle("A");
        return [
          { name: WRITER, steps: s.reclaimingWriter(a.id, false) },
          { name: "reader A", steps: s.dieInGuard(a) },
        ];
      },
    ),
    scenario(
      modules,
      "a zombie reader leaves its guard late, after the writer reclaimed it",
      { maxCopies: 2 },
      (s) => {
        const a = s.handle("A");
        const b = s.handle("B");
        return [
          { name: WRITER, steps: s.reclaimingWriter(a.id, true) },
          { name: "zombie A", steps: s.zombie(a, 0) },
          { name: "reader B", steps: s.guard(b, 2) },
        ];
      },
    ),
    scenario(
      modules,
      "a zombie reader enters a guard late, while a new handle takes its slot",
      { maxCopies: 2 },
      (s) => {
        const a = s.handle("A");
        return [
          { name: WRITER, steps: s.reclaimingWriter(a.id, true, 2) },
          { name: "zombie A", steps: s.zombie(a, 1) },
          {
            name: "reader C",
            steps: (function* () {
              yield* s.awaitWord(RECLAIMED_WORD, 1);
              yield;
              const c = yield* s.register("C");
              if (c.id === a.id) throw new Error("C was given A's id");
              yield;
              yield* s.guard(c, 1);
            })(),
          },
        ];
      },
    ),
    scenario(
      modules,
      "cells: a zombie updates cells through its guard after it was reclaimed, while another reader updates",
      { maxCopies: 2, cells: true },
      (s) => {
        const a = s.handle("A");
        const b = s.handle("B");
        return [
          { name: WRITER, steps: s.reclaimingWriter(a.id, true, 3) },
          { name: "zombie A", steps: s.cellZombie(a, 1) },
          { name: "reader B", steps: s.guard(b, 1) },
        ];
      },
    ),
    scenario(
      modules,
      "cells: a zombie updates cells through its guard after it was reclaimed, with spare copies",
      { maxCopies: 3, cells: true },
      (s) => {
        const a = s.handle("A");
        return [
          { name: WRITER, steps: s.reclaimingWriter(a.id, true, 3) },
          { name: "zombie A", steps: s.cellZombie(a, 2) },
        ];
      },
    ),
    scenario(
      modules,
      "cells: an update races a removal, its publish and the entry's reclamation (a guard made residual)",
      { maxCopies: 2, cells: true },
      (s) => {
        const a = s.handle("A");
        return [
          // Each version replaces the entry: version k's entry is freed once
          // no copy holds version k.
          { name: WRITER, steps: s.writer(3, { announce: true }) },
          {
            name: "reader A",
            steps: (function* () {
              const held = s.enter(a);
              yield* s.awaitWord(PUBLISHED_WORD, 1);
              yield;
              s.ghost.read(held.ghost); // an update after the publish
              yield;
              yield* s.leave(held);
              yield;
              yield* s.guard(a, 2);
            })(),
          },
        ];
      },
    ),
  ];
}
