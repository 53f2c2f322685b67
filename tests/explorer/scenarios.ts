/**
 * Scenarios for the interleaving explorer: one writer and one or two
 * readers, running the production protocol (or a mutant of it) on simulated
 * memory, with ghost state that checks S1-S5 at every step:
 *
 * - the writer never touches a copy that a live guard reads (S1, S5);
 * - a guard sees the same version on every read (S1);
 * - on one handle, a guard created later never sees an older version (S2);
 * - a guard created after a publish returned sees that publish (S3);
 * - no thread waits for ever (S4, checked by the explorer);
 * - an entry's memory is freed only when no live guard can see it (S5).
 *
 * The map itself is abstract: version k holds entry k, so the write of
 * version k removes entry k - 1, which is freed when the replay takes it out
 * of the second copy.
 *
 * @module
 */

import * as layout from "../../src/layout.ts";
import type * as production from "../../src/protocol.ts";
import type { Copy, HandleWord, Step } from "../../src/protocol.ts";
import type { Scenario, Thread, World } from "./explorer.ts";
import { SimMemory } from "./sim_memory.ts";

/** The protocol module under test: production, or a mutant of it. */
export type Protocol = typeof production;

const MAX_READERS = 3;
/** A word past the registry: set when a reader thread "dies". */
const DEAD = layout.heapStart(MAX_READERS);
/** A word past the registry: set once the writer reclaimed the dead reader. */
const RECLAIMED_WORD = DEAD + 1;
/** Zombie scenarios have many steps: two preemptions keep them to seconds. */
const ZOMBIE_PREEMPTIONS = 2;
/** Thread tags, as the registry lock records them. */
const WRITER_TAG = 1;
const READER_TAG = 2;

function wordName(index: number): string {
  const names: Record<number, string> = {
    [layout.H_CURRENT_COPY]: "current",
    [layout.C_RESIDUAL]: "residual",
    [layout.C_WRITER_PARKED]: "parked",
    [layout.C_REGISTRY_LOCK]: "lock",
    [layout.C_SLOTS_USED]: "slotsUsed",
    [layout.C_PUBLISHES]: "publishes",
  };
  if (names[index] !== undefined) return names[index];
  if (index === DEAD) return "dead";
  if (index === RECLAIMED_WORD) return "reclaimed";
  if (index >= layout.REGISTRY_START) {
    const slot = Math.floor(
      (index - layout.REGISTRY_START) / layout.SLOT_WORDS,
    );
    const field = (index - layout.REGISTRY_START) % layout.SLOT_WORDS;
    const fields = ["refcount", "state", "owner", "registrations"];
    return `slot${slot}.${fields[field] ?? field}`;
  }
  return `word${index}`;
}

interface GuardGhost {
  readonly name: string;
  readonly copy: Copy;
  readonly version: number;
}

/** The specification's view of the run. */
class Ghost {
  readonly version = [0, 0];
  readonly live = new Set<GuardGhost>();
  readonly latest = new Map<string, number>();
  published = 0;

  enter(handle: string, copy: Copy): GuardGhost {
    const guard = {
      name: `${handle}'s guard`,
      copy,
      version: this.version[copy],
    };
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

  /** The writer changes a copy: no live guard may be reading it. */
  write(copy: Copy, version: number, what: string): void {
    for (const guard of this.live) {
      if (guard.copy === copy) {
        throw new Error(
          `the writer ${what} on copy ${copy} while ${guard.name} (version ${guard.version}) reads it`,
        );
      }
    }
    this.version[copy] = version;
  }

  /** Entry `entry` leaves the second copy: its memory may be reused. */
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

/** Everything a scenario's threads share. */
export class Setup {
  readonly memory = new SimMemory(RECLAIMED_WORD + 1, wordName);
  /** Residual guards the writer's reclaims still owe. */
  readonly owed = { departures: 0 };
  readonly ghost = new Ghost();
  readonly protocol: Protocol;

  constructor(protocol: Protocol) {
    this.protocol = protocol;
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
   * The writer: `publishes` write guards, each waiting and replaying first,
   * then a final synchronize. `before.steps` runs before guard
   * `before.version` waits.
   */
  *writer(
    publishes: number,
    before?: { version: number; steps: () => Generator<Step, void> },
  ): Generator<Step, void> {
    const { memory, ghost, protocol } = this;
    let copy: Copy = 1;
    const synchronize = function* (version: number): Generator<Step, void> {
      yield;
      yield* protocol.awaitResidualReaders(memory);
      yield;
      ghost.write(copy, version, `replays version ${version}`);
      ghost.free(version - 1);
    };
    for (let version = 1; version <= publishes; version++) {
      if (version === before?.version) yield* before.steps();
      if (version > 1) yield* synchronize(version - 1);
      yield;
      ghost.write(copy, version, `writes version ${version}`);
      yield* protocol.publishCopy(memory, WRITER_TAG);
      ghost.published = version;
      copy = (copy ^ 1) as Copy;
    }
    yield* synchronize(publishes);
  }

  /** Enters a guard; returns what `leave` needs. */
  enter(handle: Handle): { handle: Handle; copy: Copy; ghost: GuardGhost } {
    const copy = this.protocol.enterGuard(this.memory, handle.word);
    if (copy < 0) {
      throw new Error(`${handle.name} could not enter a guard (${copy})`);
    }
    return {
      handle,
      copy: copy as Copy,
      ghost: this.ghost.enter(handle.name, copy as Copy),
    };
  }

  *leave(
    guard: { handle: Handle; copy: Copy; ghost: GuardGhost },
  ): Generator<Step, void> {
    const result = this.protocol.leaveGuard(
      this.memory,
      guard.handle.word,
      guard.copy,
    );
    this.ghost.leave(guard.ghost);
    if (result === this.protocol.RECLAIMED) {
      throw new Error(`${guard.handle.name} was reclaimed while it lived`);
    }
    if (result === this.protocol.LEFT_RESIDUAL) {
      yield;
      yield* this.protocol.departResidual(this.memory, guard.handle.word);
    }
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
    yield* this.awaitWord(DEAD);
    yield;
    const reclaimed = yield* this.protocol.reclaimReader(
      this.memory,
      id,
      WRITER_TAG,
      this.owed,
    );
    if (reclaimed < 0 && !mayBeClosed) {
      throw new Error(`handle ${id} was not open`);
    }
    yield;
    this.memory.store(RECLAIMED_WORD, 1);
    yield;
    this.memory.notify(RECLAIMED_WORD, 1);
  }

  /**
   * The writer of the dead-reader scenarios: three publishes, reclaiming
   * handle `id` once its reader died, before the second.
   */
  reclaimingWriter(id: number, mayBeClosed: boolean): Generator<Step, void> {
    return this.writer(3, {
      version: 2,
      steps: () => this.reclaimWhenDead(id, mayBeClosed),
    });
  }

  /** Sleeps until `index` is no longer 0. */
  *awaitWord(index: number): Generator<Step, void> {
    while (this.memory.load(index) === 0) {
      yield;
      yield { index, expected: 0 };
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
    const ghost = this.ghost.enter(handle.name, copy as Copy);
    yield;
    this.ghost.read(ghost);
    yield;
    this.ghost.leave(ghost); // from here on, its reads are its own business
    memory.store(DEAD, 1);
    yield;
    memory.notify(DEAD, 1);
    yield;
    yield* this.lateLeave(handle, copy as Copy);
    for (let i = 0; i < lateGuards; i++) {
      yield;
      const late = protocol.enterGuard(memory, handle.word);
      if (late === protocol.GUARDS_FULL) throw new Error("guards full");
      if (late === protocol.RECLAIMED) break;
      yield;
      yield* this.lateLeave(handle, late as Copy);
    }
    yield;
    yield* protocol.unregisterReader(memory, handle.id, READER_TAG);
  }

  /** A zombie's leave: whatever it returns, the accounting must hold. */
  *lateLeave(handle: Handle, copy: Copy): Generator<Step, void> {
    const result = this.protocol.leaveGuard(this.memory, handle.word, copy);
    if (result === this.protocol.LEFT_RESIDUAL) {
      yield;
      yield* this.protocol.departResidual(this.memory, handle.word);
    }
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

  world(threads: Thread[]): World {
    const { memory, ghost } = this;
    return {
      memory,
      threads,
      finish() {
        if (ghost.live.size > 0) {
          throw new Error("guards are still live at the end");
        }
        if (memory.words[layout.C_RESIDUAL] !== 0) {
          throw new Error(
            `residual is ${memory.words[layout.C_RESIDUAL]} at the end`,
          );
        }
        if (memory.words[layout.C_REGISTRY_LOCK] !== 0) {
          throw new Error("the lock is held at the end");
        }
        for (let slot = 0; slot < MAX_READERS; slot++) {
          const base = layout.slotBase(slot);
          const word = memory.words[base + layout.S_REFCOUNT];
          if (
            memory.words[base + layout.S_STATE] === layout.SLOT_IN_USE &&
            (word & 0xfffff) !== 0
          ) {
            throw new Error(
              `slot ${slot} ends with guards or residual guards counted (word ${
                word >>> 0
              })`,
            );
          }
        }
      },
    };
  }
}

/** A scenario whose threads `build` makes on a fresh {@linkcode Setup}. */
function scenario(
  protocol: Protocol,
  name: string,
  build: (s: Setup) => Thread[],
  preemptionBound?: number,
): Scenario {
  return {
    name,
    preemptionBound,
    setup() {
      const s = new Setup(protocol);
      return s.world(build(s));
    },
  };
}

/** The scenarios of the issue, for a given protocol module. */
export function scenarios(protocol: Protocol): Scenario[] {
  return [
    scenario(
      protocol,
      "S2: two publishes against two sequential guards on one handle",
      (s) => {
        const a = s.handle("A");
        return [
          { name: "writer", steps: s.writer(2) },
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
      protocol,
      "nested guards on one handle (outer, middle, inner)",
      (s) => {
        const a = s.handle("A");
        return [
          { name: "writer", steps: s.writer(2) },
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
    scenario(protocol, "two handles with one guard each", (s) => {
      const a = s.handle("A");
      const b = s.handle("B");
      return [
        { name: "writer", steps: s.writer(2) },
        { name: "reader A", steps: s.guard(a, 2) },
        { name: "reader B", steps: s.guard(b, 2) },
      ];
    }),
    scenario(
      protocol,
      "S4: a guard held across three publishes (the writer parks and is woken)",
      (s) => {
        const a = s.handle("A");
        return [
          { name: "writer", steps: s.writer(3) },
          { name: "reader A", steps: s.guard(a, 4) },
        ];
      },
    ),
    scenario(
      protocol,
      "handle clone and close while the writer publishes",
      (s) => {
        const a = s.handle("A");
        const { memory } = s;
        return [
          { name: "writer", steps: s.writer(2) },
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
      protocol,
      "S5: reclamation with two handles and three publishes",
      (s) => {
        const a = s.handle("A");
        const b = s.handle("B");
        return [
          { name: "writer", steps: s.writer(3) },
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
      protocol,
      "a reader dies inside a guard; the writer reclaims its handle",
      (s) => {
        const a = s.handle("A");
        const b = s.handle("B");
        return [
          { name: "writer", steps: s.reclaimingWriter(a.id, false) },
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
      protocol,
      "a zombie reader leaves its guard late, after the writer reclaimed it",
      (s) => {
        const a = s.handle("A");
        const b = s.handle("B");
        return [
          { name: "writer", steps: s.reclaimingWriter(a.id, true) },
          { name: "zombie A", steps: s.zombie(a, 0) },
          { name: "reader B", steps: s.guard(b, 2) },
        ];
      },
      ZOMBIE_PREEMPTIONS,
    ),
    scenario(
      protocol,
      "a zombie reader enters a guard late, while a new handle takes its slot",
      (s) => {
        const a = s.handle("A");
        return [
          { name: "writer", steps: s.reclaimingWriter(a.id, true) },
          { name: "zombie A", steps: s.zombie(a, 1) },
          {
            name: "reader C",
            steps: (function* () {
              yield* s.awaitWord(RECLAIMED_WORD);
              yield;
              const c = yield* s.register("C");
              if (c.id === a.id) throw new Error("C was given A's id");
              yield;
              yield* s.guard(c, 2);
              yield;
              yield* s.guard(c, 1);
            })(),
          },
        ];
      },
      ZOMBIE_PREEMPTIONS,
    ),
  ];
}
