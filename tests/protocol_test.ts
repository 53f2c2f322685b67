/**
 * The reader protocol, one thread, step by step on real `Atomics`: entering
 * and leaving guards (the one-exchange fast paths, and the slow paths after
 * the writer changed a handle's word), residual guards and their
 * departures, publishing (every handle flipped to the new copy, its live
 * guards counted on the copy they read, even while guards come and go), the
 * writer's wait for a free copy, reclaiming (a reclaimed handle can never
 * change its words again), ids unique over the map's life, the registry
 * lock with its owner and epoch, and the drivers.
 *
 * @module
 */

import {
  assert,
  assertEquals,
  assertNotEquals,
  assertRejects,
  assertThrows,
} from "@std/assert";
import {
  C_DEPARTURES,
  C_PUBLISHES,
  C_REGISTRY_LOCK,
  C_SLOTS_USED,
  C_WRITER_PARKED,
  copyWord,
  H_CURRENT_COPY,
  heapStart,
  MAX_COPIES,
  S_REFCOUNT,
  S_REGISTRATIONS,
  S_RESIDUAL,
  S_STATE,
  SLOT_FREE,
  SLOT_IN_USE,
  SLOT_RETIRED,
  SLOT_WORDS,
  slotBase,
  T_ORPHANS,
} from "../src/layout.ts";
import { AtomicsMemory } from "../src/memory.ts";
import {
  awaitFreeCopy,
  breakRegistryLock,
  copyIsFree,
  copyOf,
  enterGuard,
  generationOf,
  GUARDS_FULL,
  guardsIn,
  handleId,
  handlesOf,
  type HandleWord,
  ID_SLOTS,
  leaveGuard,
  leaveOrphan,
  leaveResidual,
  LEFT,
  LEFT_RESIDUAL,
  lockRegistry,
  MAX_GUARDS,
  pinningHandles,
  publishCopy,
  RECLAIMED,
  reclaimReader,
  registerReader,
  type Registration,
  registryHolder,
  RESIDUAL_GUARD,
  runAsync,
  runBlocking,
  slotOfId,
  type Step,
  unlockRegistry,
  unregisterReader,
  WAIT_SLICE_MS,
  type WaitRequest,
  WaitTimedOut,
  wakeWriter,
} from "../src/protocol.ts";

/** Tags of the (simulated) threads below; real ones are positive. */
const WRITER = 11;
const READER = 13;
const OTHER = 15;
/** The 11-bit generation's last value. */
const LAST_GENERATION = 2047;
/** The most steps any generator below may take: a bound, never a timing. */
const MAX_STEPS = 100_000;

function memory(maxReaders = 4): AtomicsMemory {
  return new AtomicsMemory(
    new Int32Array(new SharedArrayBuffer(heapStart(maxReaders) * 4)),
  );
}

/** Runs a generator without waiting; returns its result and the waits it asked for. */
function drive<T>(steps: Generator<Step, T>): { value: T; waits: number } {
  let waits = 0;
  for (let step = 0; step < MAX_STEPS; step++) {
    const next = steps.next();
    if (next.done) return { value: next.value, waits };
    if (next.value !== undefined) waits++;
  }
  throw new Error(`the generator did not finish in ${MAX_STEPS} steps`);
}

/** Steps `steps` until `ready()` holds; fails if it finishes or waits first. */
function stepUntil<T>(steps: Generator<Step, T>, ready: () => boolean): void {
  for (let step = 0; step < MAX_STEPS; step++) {
    if (ready()) return;
    const next = steps.next();
    assert(!next.done, "the generator finished before the point looked for");
    assertEquals(next.value, undefined, "the generator asked to wait");
  }
  throw new Error("the generator never reached the point looked for");
}

/** Runs `steps` until it asks to wait; fails if it finishes first. */
function untilWait<T>(steps: Generator<Step, T>): WaitRequest {
  for (let step = 0; step < MAX_STEPS; step++) {
    const next = steps.next();
    assert(!next.done, "expected the generator to ask to wait");
    if (next.value !== undefined) return next.value;
  }
  throw new Error("the generator neither waited nor finished");
}

/** Registers a reader, which must succeed. */
function register(
  mem: AtomicsMemory,
  maxReaders = 4,
  owner = READER,
): Registration {
  const registration = drive(registerReader(mem, maxReaders, owner)).value;
  assert(registration !== null, "a free slot");
  return registration;
}

/** Publishes copy `target`; returns the guards that became residual. */
function publish(mem: AtomicsMemory, target: number): number {
  const { value, waits } = drive(publishCopy(mem, WRITER, target));
  assertEquals(waits, 0, "a publish never waits for readers");
  return value;
}

function reclaim(mem: AtomicsMemory, id: number): number {
  return drive(reclaimReader(mem, id, WRITER)).value;
}

/** Leaves a guard entered on `copy` as the read path does: residual or not. */
function leave(mem: AtomicsMemory, handle: HandleWord, copy: number): number {
  const result = leaveGuard(mem, handle, copy);
  return result === RESIDUAL_GUARD ? leaveResidual(mem, handle, copy) : result;
}

function wordOf(mem: AtomicsMemory, registration: Registration): number {
  return mem.load(registration.word.refcount);
}

/** The residual guards `registration`'s handle has on `copy`. */
function residualOf(
  mem: AtomicsMemory,
  registration: Registration,
  copy: number,
): number {
  return guardsIn(mem.load(registration.word.refcount + S_RESIDUAL + copy));
}

/** All words of a registry slot. */
function slotWords(mem: AtomicsMemory, slot: number): number[] {
  const base = slotBase(slot);
  return Array.from(mem.words.subarray(base, base + SLOT_WORDS));
}

function isFree(mem: AtomicsMemory, copy: number): boolean {
  return copyIsFree(mem, copy);
}

/** `mem`, recording every operation as `name@index`. */
function recording(
  mem: AtomicsMemory,
): { memory: AtomicsMemory; ops: string[] } {
  const ops: string[] = [];
  const recorder = Object.create(mem) as AtomicsMemory;
  const names = [
    "add",
    "sub",
    "load",
    "store",
    "exchange",
    "compareExchange",
    "wait",
    "notify",
  ] as const;
  for (const name of names) {
    const original = mem[name].bind(mem) as (...args: number[]) => unknown;
    Object.defineProperty(recorder, name, {
      value: (...args: number[]) => {
        ops.push(`${name}@${args[0]}`);
        return original(...args);
      },
    });
  }
  return { memory: recorder, ops };
}

/** `mem`, running `before` (once) just before its first exchange on `index`. */
function interposed(
  mem: AtomicsMemory,
  index: number,
  before: () => void,
): AtomicsMemory {
  let done = false;
  const interposer = Object.create(mem) as AtomicsMemory;
  interposer.compareExchange = (at, expected, replacement) => {
    if (at === index && !done) {
      done = true;
      before();
    }
    return mem.compareExchange(at, expected, replacement);
  };
  return interposer;
}

// ------------------------------------------------------------ enter and leave

Deno.test("enterGuard() returns the handle's copy; leaveGuard() of a guard a publish retired returns RESIDUAL_GUARD, changing nothing, and leaveResidual() counts it off", () => {
  const mem = memory();
  const reader = register(mem);
  const handle = reader.word;
  assertEquals(enterGuard(mem, handle), 0);
  assertEquals(leaveGuard(mem, handle, 0), LEFT);
  assertEquals(enterGuard(mem, handle), 0);
  assertEquals(publish(mem, 1), 1); // one guard became residual
  assertEquals(residualOf(mem, reader, 0), 1);
  assertEquals(enterGuard(mem, handle), 1); // a new guard reads the new copy
  assertEquals(leaveGuard(mem, handle, 1), LEFT);
  const before = slotWords(mem, reader.slot);
  assertEquals(leaveGuard(mem, handle, 0), RESIDUAL_GUARD);
  assertEquals(leaveGuard(mem, handle, 0), RESIDUAL_GUARD, "still there");
  assertEquals(slotWords(mem, reader.slot), before);
  assertEquals(leaveResidual(mem, handle, 0), LEFT_RESIDUAL);
  assertEquals(residualOf(mem, reader, 0), 0);
  assertEquals(
    generationOf(mem.load(handle.refcount + S_RESIDUAL)),
    handle.generation,
  );
  assertEquals(mem.load(C_DEPARTURES), 0, "moved on only by wakeWriter()");
  assertEquals(handle.seen, wordOf(mem, reader));
});

Deno.test("enterGuard() and leaveGuard() take one exchange on the fast path, more only after the writer changed the word", () => {
  const mem = memory();
  const reader = register(mem);
  const handle = reader.word;
  const refcount = `compareExchange@${handle.refcount}`;
  const residual0 = handle.refcount + S_RESIDUAL;
  const { memory: rec, ops } = recording(mem);

  // Fast paths: the handle's own last word is the word.
  assertEquals(enterGuard(rec, handle), 0);
  assertEquals(enterGuard(rec, handle), 0);
  assertEquals(leaveGuard(rec, handle, 0), LEFT);
  assertEquals(ops.splice(0), [refcount, refcount, refcount]);

  // The writer flipped the handle: the first exchange fails, the second enters.
  assertEquals(publish(mem, 1), 1);
  assertEquals(enterGuard(rec, handle), 1);
  assertEquals(ops.splice(0), [refcount, refcount]);
  assertEquals(handle.seen, wordOf(mem, reader));

  // A guard on an older copy than the handle's last word: residual, no exchange.
  assertEquals(leaveGuard(rec, handle, 0), RESIDUAL_GUARD);
  assertEquals(ops.splice(0), []);
  assertEquals(leaveResidual(rec, handle, 0), LEFT_RESIDUAL);
  assertEquals(ops.splice(0), [
    `load@${residual0}`,
    `compareExchange@${residual0}`,
  ]);

  // Flipped while the guard was live: the exchange fails, then it is residual.
  assertEquals(publish(mem, 2), 1);
  const flipped = wordOf(mem, reader);
  assertEquals(leaveGuard(rec, handle, 1), RESIDUAL_GUARD);
  assertEquals(ops.splice(0), [refcount]);
  assertEquals(wordOf(mem, reader), flipped);
  assertEquals(leaveResidual(rec, handle, 1), LEFT_RESIDUAL);
  ops.splice(0);
  // Neither residual leave updated the cached word: the next enter takes
  // the slow path once, then the fast path again.
  assertEquals(enterGuard(rec, handle), 2);
  assertEquals(ops.splice(0), [refcount, refcount]);
  assertEquals(leaveGuard(rec, handle, 2), LEFT);
  assertEquals(enterGuard(rec, handle), 2);
  assertEquals(ops.splice(0), [refcount, refcount]);
  assertEquals(handle.seen, wordOf(mem, reader));
});

Deno.test("enterGuard() that throws at its exchange leaves nothing entered", () => {
  const mem = memory();
  const reader = register(mem);
  const failing = Object.create(mem) as AtomicsMemory;
  failing.compareExchange = () => {
    throw new RangeError("Maximum call stack size exceeded");
  };
  const word = wordOf(mem, reader);
  const seen = reader.word.seen;
  assertThrows(() => enterGuard(failing, reader.word), RangeError);
  assertEquals(wordOf(mem, reader), word);
  assertEquals(reader.word.seen, seen);
  assertEquals(enterGuard(mem, reader.word), 0);
});

Deno.test("enterGuard() returns GUARDS_FULL at MAX_GUARDS, changing nothing", () => {
  const mem = memory();
  const reader = register(mem);
  const handle = reader.word;
  for (let i = 0; i < MAX_GUARDS; i++) assertEquals(enterGuard(mem, handle), 0);
  const full = wordOf(mem, reader);
  assertEquals(guardsIn(full), MAX_GUARDS);
  assertEquals(enterGuard(mem, handle), GUARDS_FULL);
  assertEquals(enterGuard(mem, handle), GUARDS_FULL);
  assertEquals(wordOf(mem, reader), full);
  assertEquals(generationOf(full), handle.generation, "no carry");
  assertEquals(copyOf(full), 0);
  // One leaves: one more may enter.
  assertEquals(leaveGuard(mem, handle, 0), LEFT);
  assertEquals(enterGuard(mem, handle), 0);
  assertEquals(enterGuard(mem, handle), GUARDS_FULL);
});

Deno.test("enterGuard() after a publish made a full handle's guards residual enters the new copy, before and after they left (regression: GUARDS_FULL from the stale cached word)", () => {
  const mem = memory();
  const reader = register(mem);
  const handle = reader.word;
  for (let i = 0; i < MAX_GUARDS; i++) enterGuard(mem, handle);
  assertEquals(publish(mem, 1), MAX_GUARDS);
  // Every one of them became residual, and the count fits.
  assertEquals(residualOf(mem, reader, 0), MAX_GUARDS);
  assertEquals(guardsIn(wordOf(mem, reader)), 0);
  assertEquals(guardsIn(handle.seen), MAX_GUARDS, "the cached word is stale");
  // They all leave; the cached word still shows MAX_GUARDS.
  for (let i = 0; i < MAX_GUARDS; i++) {
    assertEquals(leaveGuard(mem, handle, 0), RESIDUAL_GUARD);
    assertEquals(
      leaveResidual(mem, handle, 0),
      i === MAX_GUARDS - 1 ? LEFT_RESIDUAL : LEFT,
    );
  }
  assertEquals(guardsIn(handle.seen), MAX_GUARDS);
  assertEquals(enterGuard(mem, handle), 1);
  assertEquals(guardsIn(wordOf(mem, reader)), 1);
  assertEquals(handle.seen, wordOf(mem, reader));

  // Without leaving first: MAX_GUARDS residual on copy 1 and MAX_GUARDS
  // live on copy 2 at once, all in one handle.
  for (let i = 1; i < MAX_GUARDS; i++) enterGuard(mem, handle);
  assertEquals(enterGuard(mem, handle), GUARDS_FULL);
  assertEquals(publish(mem, 2), MAX_GUARDS);
  for (let i = 0; i < MAX_GUARDS; i++) assertEquals(enterGuard(mem, handle), 2);
  assertEquals(enterGuard(mem, handle), GUARDS_FULL);
  const word = wordOf(mem, reader);
  assertEquals([guardsIn(word), residualOf(mem, reader, 1)], [
    MAX_GUARDS,
    MAX_GUARDS,
  ]);
  assertEquals(generationOf(word), handle.generation);
  assertEquals(copyOf(word), 2);
});

Deno.test("leaveResidual() returns LEFT_RESIDUAL only for the handle's last residual guard on that copy", () => {
  const mem = memory();
  const a = register(mem);
  const b = register(mem);
  for (let i = 0; i < 3; i++) enterGuard(mem, a.word);
  enterGuard(mem, b.word);
  enterGuard(mem, b.word);
  assertEquals(publish(mem, 1), 5);
  enterGuard(mem, a.word); // on copy 1
  assertEquals(publish(mem, 2), 1);
  assertEquals(
    [residualOf(mem, a, 0), residualOf(mem, a, 1), residualOf(mem, b, 0)],
    [3, 1, 2],
  );
  assertEquals(leave(mem, a.word, 0), LEFT);
  assertEquals(leave(mem, b.word, 0), LEFT);
  assertEquals(leave(mem, a.word, 0), LEFT);
  // a's last on copy 0, though b still holds one there.
  assertEquals(leave(mem, a.word, 0), LEFT_RESIDUAL);
  assertEquals(pinningHandles(mem, 0), [b.id]);
  // a's last on copy 1 is another copy's last.
  assertEquals(leave(mem, a.word, 1), LEFT_RESIDUAL);
  assertEquals(leave(mem, b.word, 0), LEFT_RESIDUAL);
  assertEquals(pinningHandles(mem, 0), []);
  assertEquals(pinningHandles(mem, 1), []);
  assert(isFree(mem, 0) && isFree(mem, 1));
});

Deno.test("a handle flipped twice (copy 0, 1, 2) leaves its guards on both retired copies, in either order", () => {
  for (const order of [[0, 1, 2], [1, 0, 2], [2, 1, 0]]) {
    const mem = memory();
    const reader = register(mem);
    const handle = reader.word;
    assertEquals(enterGuard(mem, handle), 0);
    assertEquals(publish(mem, 1), 1);
    assertEquals(enterGuard(mem, handle), 1);
    // Only the live guard becomes residual; copy 0's stays counted there.
    assertEquals(publish(mem, 2), 1);
    assertEquals(enterGuard(mem, handle), 2);
    assertEquals(
      [residualOf(mem, reader, 0), residualOf(mem, reader, 1)],
      [1, 1],
    );
    assertEquals(guardsIn(wordOf(mem, reader)), 1);
    for (const copy of [0, 1, 2]) {
      assertEquals(pinningHandles(mem, copy), [reader.id]);
    }
    for (const copy of order) {
      if (copy === 2) {
        assertEquals(leaveGuard(mem, handle, 2), LEFT);
      } else {
        assertEquals(leaveGuard(mem, handle, copy), RESIDUAL_GUARD);
        assertEquals(leaveResidual(mem, handle, copy), LEFT_RESIDUAL);
        assert(isFree(mem, copy), `copy ${copy} is free`);
      }
      assertEquals(pinningHandles(mem, copy), [], `order ${order}`);
    }
    assertEquals(wordOf(mem, reader), handle.seen);
    assertEquals(copyOf(wordOf(mem, reader)), 2);
    for (let copy = 0; copy < MAX_COPIES; copy++) {
      assertEquals(residualOf(mem, reader, copy), 0);
    }
  }
});

Deno.test("the last copy (the refcount word's sign bit) is entered, left, counted and reclaimed like any other", () => {
  const mem = memory();
  const reader = register(mem);
  const last = MAX_COPIES - 1;
  assertEquals(publish(mem, last), 0);
  assertEquals(enterGuard(mem, reader.word), last);
  assert(wordOf(mem, reader) < 0, "the copy field takes the sign bit");
  assertEquals(leaveGuard(mem, reader.word, last), LEFT);
  assertEquals(enterGuard(mem, reader.word), last);
  assertEquals(pinningHandles(mem, last), [reader.id]);
  assertEquals(publish(mem, 0), 1);
  assertEquals(residualOf(mem, reader, last), 1);
  assertEquals(enterGuard(mem, reader.word), 0);
  assertEquals(leave(mem, reader.word, last), LEFT_RESIDUAL);
  enterGuard(mem, reader.word);
  assertEquals(publish(mem, last), 2);
  assertEquals(reclaim(mem, reader.id), 2);
  const word = mem.load(slotBase(reader.slot) + S_REFCOUNT);
  assertEquals(copyOf(word), last);
  assertEquals(generationOf(word), reader.word.generation + 1);
  assertEquals(guardsIn(word), 0);
});

// ------------------------------------------------------------ publish

Deno.test("publishCopy() makes the target current, flips every handle in use to it and counts their live guards residual on the copy they read", () => {
  const mem = memory();
  const readers = [0, 1, 2, 3].map(() => register(mem));
  assertEquals(readers.map((reader) => reader.slot), [0, 1, 2, 3]);
  assertEquals(readers.map((reader) => reader.id), [0, 1, 2, 3]);
  assertEquals(drive(unregisterReader(mem, readers[3].id, READER)).value, true);
  enterGuard(mem, readers[0].word);
  enterGuard(mem, readers[0].word);
  enterGuard(mem, readers[2].word);
  const freeWord = mem.load(slotBase(3) + S_REFCOUNT);
  assertEquals(publish(mem, 5), 3);
  assertEquals(mem.load(H_CURRENT_COPY), 5);
  assertEquals(mem.load(C_PUBLISHES), 1);
  for (const reader of readers.slice(0, 3)) {
    const word = wordOf(mem, reader);
    assertEquals(copyOf(word), 5);
    assertEquals(guardsIn(word), 0);
    assertEquals(generationOf(word), reader.word.generation);
  }
  assertEquals(mem.load(slotBase(3) + S_REFCOUNT), freeWord, "free: skipped");
  assertEquals(readers.map((reader) => residualOf(mem, reader, 0)), [
    2,
    0,
    1,
    0,
  ]);
  assertEquals(pinningHandles(mem, 0), [readers[0].id, readers[2].id]);
  assertEquals(pinningHandles(mem, 5), []);
  assertEquals(registryHolder(mem).owner, 0, "the lock was released");
  // A publish with nothing new residual adds nothing; the old residual
  // guards stay residual on their copy.
  assertEquals(publish(mem, 1), 0);
  assertEquals(mem.load(C_PUBLISHES), 2);
  assertEquals(readers.map((reader) => residualOf(mem, reader, 0)), [
    2,
    0,
    1,
    0,
  ]);
  assertEquals(readers.map((reader) => residualOf(mem, reader, 5)), [
    0,
    0,
    0,
    0,
  ]);
  // A handle registered now starts on the current copy.
  const fresh = register(mem);
  assertEquals(fresh.slot, 3);
  assertEquals(enterGuard(mem, fresh.word), 1);
});

Deno.test("publishCopy() counts a guard that enters or leaves between raising the residual count and the flip", () => {
  // Enter: two guards counted, a third enters before the flip.
  {
    const mem = memory();
    const reader = register(mem);
    enterGuard(mem, reader.word);
    enterGuard(mem, reader.word);
    const steps = publishCopy(mem, WRITER, 1);
    stepUntil(steps, () => residualOf(mem, reader, 0) === 2);
    assertEquals(copyOf(wordOf(mem, reader)), 0, "not flipped yet");
    assertEquals(enterGuard(mem, reader.word), 0);
    assertEquals(drive(steps).value, 3);
    assertEquals(residualOf(mem, reader, 0), 3);
    assertEquals(guardsIn(wordOf(mem, reader)), 0);
    for (let i = 0; i < 2; i++) assertEquals(leave(mem, reader.word, 0), LEFT);
    assertEquals(leave(mem, reader.word, 0), LEFT_RESIDUAL);
  }
  // Leave: one of two leaves live before the flip; the count is set right.
  {
    const mem = memory();
    const reader = register(mem);
    enterGuard(mem, reader.word);
    enterGuard(mem, reader.word);
    const steps = publishCopy(mem, WRITER, 1);
    stepUntil(steps, () => residualOf(mem, reader, 0) === 2);
    assertEquals(leaveGuard(mem, reader.word, 0), LEFT);
    assertEquals(pinningHandles(mem, 0), [reader.id]);
    assertEquals(drive(steps).value, 1);
    assertEquals(residualOf(mem, reader, 0), 1);
    assertEquals(leave(mem, reader.word, 0), LEFT_RESIDUAL);
    assert(isFree(mem, 0));
  }
  // Both leave before the flip: nothing stays counted.
  {
    const mem = memory();
    const reader = register(mem);
    enterGuard(mem, reader.word);
    enterGuard(mem, reader.word);
    const steps = publishCopy(mem, WRITER, 1);
    stepUntil(steps, () => residualOf(mem, reader, 0) === 2);
    assertEquals(leaveGuard(mem, reader.word, 0), LEFT);
    assertEquals(leaveGuard(mem, reader.word, 0), LEFT);
    assertEquals(drive(steps).value, 0);
    assertEquals(residualOf(mem, reader, 0), 0);
    assertEquals(copyOf(wordOf(mem, reader)), 1);
    assert(isFree(mem, 0));
  }
});

Deno.test("publishCopy() cut at every step by a guard entering or leaving counts every guard exactly once", () => {
  const windows = { enter: 0, leave: 0 };
  for (const action of ["enter", "leave"] as const) {
    let finished = false;
    for (let cut = 0; cut < 200 && !finished; cut++) {
      const mem = memory();
      const reader = register(mem);
      const handle = reader.word;
      const held = [enterGuard(mem, handle), enterGuard(mem, handle)];
      const steps = publishCopy(mem, WRITER, 1);
      let result = -1;
      for (let step = 0; step < cut; step++) {
        const next = steps.next();
        if (next.done) {
          result = next.value;
          finished = true;
          break;
        }
        assertEquals(next.value, undefined, "a publish never waits");
      }
      const flipped = copyOf(wordOf(mem, reader)) === 1;
      if (!flipped && residualOf(mem, reader, 0) > 0) windows[action]++;
      let lastResidual = 0;
      if (action === "enter") {
        const copy = enterGuard(mem, handle);
        assertEquals(copy, flipped ? 1 : 0, `cut ${cut}`);
        held.push(copy);
      } else {
        const copy = held.pop()!;
        const left = leaveGuard(mem, handle, copy);
        assertEquals(left, flipped ? RESIDUAL_GUARD : LEFT, `cut ${cut}`);
        if (left === RESIDUAL_GUARD) {
          assertEquals(leaveResidual(mem, handle, copy), LEFT);
        }
      }
      if (!finished) result = drive(steps).value;
      const onOld = held.filter((copy) => copy === 0).length;
      const onNew = held.filter((copy) => copy === 1).length;
      // Every guard on the old copy is residual, counted once; the
      // publish returned the guards live at the flip.
      assertEquals(residualOf(mem, reader, 0), onOld, `cut ${cut}`);
      assertEquals(guardsIn(wordOf(mem, reader)), onNew, `cut ${cut}`);
      assertEquals(copyOf(wordOf(mem, reader)), 1);
      assertEquals(
        result,
        flipped ? 2 : onOld,
        `cut ${cut}: the guards live at the flip`,
      );
      assertEquals(mem.load(C_PUBLISHES), 1);
      assertEquals(registryHolder(mem).owner, 0);
      for (const copy of held) {
        if (leave(mem, handle, copy) === LEFT_RESIDUAL) lastResidual++;
      }
      assertEquals(lastResidual, 1, `cut ${cut}: one last residual guard`);
      assertEquals(guardsIn(wordOf(mem, reader)), 0);
      for (let copy = 0; copy < MAX_COPIES; copy++) {
        assertEquals(residualOf(mem, reader, copy), 0, `cut ${cut}`);
      }
      assert(isFree(mem, 0));
    }
    assert(finished, "some cut came after the whole publish");
  }
  // Both actions hit the window where the flip must be retried.
  assert(windows.enter > 0 && windows.leave > 0, JSON.stringify(windows));
});

// ------------------------------------------------------------ free copies

Deno.test("copyIsFree() reads the copy's orphans and only the residual words of the slots ever used", () => {
  const mem = memory();
  const a = register(mem);
  const b = register(mem);
  enterGuard(mem, a.word);
  // A live guard on the current copy is not residual: the writer asks only
  // about retired copies.
  assert(isFree(mem, 0));
  assertEquals(pinningHandles(mem, 0), [a.id]);
  enterGuard(mem, b.word);
  assertEquals(publish(mem, 1), 2);
  assert(!isFree(mem, 0));
  assertEquals(leave(mem, a.word, 0), LEFT_RESIDUAL);
  assert(!isFree(mem, 0), "b's guard");
  assertEquals(leave(mem, b.word, 0), LEFT_RESIDUAL);
  assert(isFree(mem, 0));
  // Slots past C_SLOTS_USED are never read.
  assertEquals(mem.load(C_SLOTS_USED), 2);
  mem.store(slotBase(2) + S_RESIDUAL + 0, 1);
  assert(isFree(mem, 0));
  const { memory: rec, ops } = recording(mem);
  assert(copyIsFree(rec, 3));
  assertEquals(ops, [
    `load@${copyWord(3, T_ORPHANS)}`,
    `load@${C_SLOTS_USED}`,
    `load@${slotBase(0) + S_RESIDUAL + 3}`,
    `load@${slotBase(1) + S_RESIDUAL + 3}`,
  ]);
});

Deno.test("awaitFreeCopy() returns a free candidate without waiting or parking", () => {
  const mem = memory();
  const reader = register(mem);
  enterGuard(mem, reader.word);
  assertEquals(publish(mem, 1), 1); // copy 0 pinned
  const { memory: rec, ops } = recording(mem);
  assertEquals(drive(awaitFreeCopy(rec, [0, 2])), { value: 2, waits: 0 });
  assert(!ops.includes(`store@${C_WRITER_PARKED}`), "never parked");
  assertEquals(mem.load(C_WRITER_PARKED), 0);
});

Deno.test("awaitFreeCopy() parks and waits on C_DEPARTURES while every candidate is pinned, and returns the one that came free", () => {
  const mem = memory();
  const a = register(mem);
  const b = register(mem);
  enterGuard(mem, a.word);
  assertEquals(publish(mem, 1), 1);
  enterGuard(mem, b.word);
  assertEquals(publish(mem, 2), 1);
  mem.store(C_DEPARTURES, 41);
  const wait = awaitFreeCopy(mem, [0, 1]);
  assertEquals(untilWait(wait), { index: C_DEPARTURES, expected: 41 });
  assertEquals(mem.load(C_WRITER_PARKED), 1);
  // Nothing changed: it asks again.
  assertEquals(untilWait(wait), { index: C_DEPARTURES, expected: 41 });
  // b's guard leaves: copy 1 comes free.
  assertEquals(leave(mem, b.word, 1), LEFT_RESIDUAL);
  const { memory: rec, ops } = recording(mem);
  drive(wakeWriter(rec));
  assertEquals(mem.load(C_DEPARTURES), 42);
  assert(ops.includes(`notify@${C_DEPARTURES}`), "the parked writer is woken");
  assertEquals(drive(wait).value, 1);
  assertEquals(mem.load(C_WRITER_PARKED), 0, "unparked when it returned");
});

Deno.test("awaitFreeCopy() loses no departure: one after its scan makes its wait return at once, one before it parked is seen by its rescan", () => {
  // After the scan: the count it waits on has moved on.
  {
    const mem = memory();
    const reader = register(mem);
    enterGuard(mem, reader.word);
    assertEquals(publish(mem, 1), 1);
    const wait = awaitFreeCopy(mem, [0]);
    const request = untilWait(wait);
    assertEquals(leave(mem, reader.word, 0), LEFT_RESIDUAL);
    drive(wakeWriter(mem));
    // A driver's wait returns without sleeping (a deadlock guard, never a timing).
    assertEquals(
      mem.wait(request.index, request.expected, 10_000),
      "not-equal",
    );
    assertEquals(drive(wait), { value: 0, waits: 0 });
    assertEquals(mem.load(C_WRITER_PARKED), 0);
  }
  // After its first scan, before the writer parked: the reader sees no
  // parked writer and notifies no one, yet the rescan finds the copy free.
  {
    const mem = memory();
    const reader = register(mem);
    enterGuard(mem, reader.word);
    assertEquals(publish(mem, 1), 1);
    const residual = `load@${reader.word.refcount + S_RESIDUAL}`;
    const { memory: rec, ops } = recording(mem);
    const wait = awaitFreeCopy(rec, [0]);
    stepUntil(wait, () => ops.includes(residual)); // scanned: pinned
    assertEquals(mem.load(C_WRITER_PARKED), 0);
    assertEquals(leave(mem, reader.word, 0), LEFT_RESIDUAL);
    const wake = recording(mem);
    drive(wakeWriter(wake.memory));
    assert(!wake.ops.includes(`notify@${C_DEPARTURES}`), "no notify");
    assertEquals(drive(wait), { value: 0, waits: 0 });
    assertEquals(mem.load(C_WRITER_PARKED), 0);
  }
});

Deno.test("awaitFreeCopy() cut at every step by a departure never sleeps through it", () => {
  const seen = { unparked: 0, parked: 0, sleeping: 0 };
  let finished = false;
  for (let cut = 0; cut < 100 && !finished; cut++) {
    const mem = memory();
    const a = register(mem);
    const b = register(mem);
    enterGuard(mem, a.word);
    assertEquals(publish(mem, 1), 1); // a pins copy 0
    enterGuard(mem, b.word);
    assertEquals(publish(mem, 2), 1); // b pins copy 1
    mem.store(C_DEPARTURES, 7);
    const wait = awaitFreeCopy(mem, [0, 1]);
    // The writer runs `cut` steps; a request it made last is a sleep the
    // departure must end.
    let last: Step = undefined;
    for (let step = 0; step < cut; step++) {
      const next = wait.next();
      assert(!next.done, `cut ${cut}: nothing came free yet`);
      last = next.value;
    }
    const parked = mem.load(C_WRITER_PARKED) === 1;
    const sleeping = last !== undefined &&
      mem.load(last.index) === last.expected;
    assertEquals(leave(mem, a.word, 0), LEFT_RESIDUAL);
    const wake = recording(mem);
    drive(wakeWriter(wake.memory));
    const notified = wake.ops.includes(`notify@${C_DEPARTURES}`);
    assertEquals(notified, parked, `cut ${cut}`);
    if (sleeping) {
      assert(notified, `cut ${cut}: a sleeping writer is woken`);
      seen.sleeping++;
    } else if (parked) seen.parked++;
    else seen.unparked++;
    // From here on, no request may sleep on a count the departure moved on.
    let result = -1;
    for (let step = 0; step < 100 && result < 0; step++) {
      const next = wait.next();
      if (next.done) result = next.value;
      else if (next.value !== undefined) {
        assertNotEquals(
          mem.load(next.value.index),
          next.value.expected,
          `cut ${cut}: a lost departure`,
        );
      }
    }
    assertEquals(result, 0, `cut ${cut}`);
    assertEquals(mem.load(C_WRITER_PARKED), 0, `cut ${cut}`);
    // Cuts past the first wait add nothing new.
    finished = seen.sleeping >= 2;
  }
  assert(
    seen.unparked > 0 && seen.parked > 0 && seen.sleeping > 0,
    JSON.stringify(seen),
  );
});

Deno.test("awaitFreeCopy() loses no departure that lands inside a scan, just after it read the copy pinned", () => {
  for (let pass = 1; pass <= 3; pass++) {
    const mem = memory();
    const reader = register(mem);
    enterGuard(mem, reader.word);
    assertEquals(publish(mem, 1), 1);
    mem.store(C_DEPARTURES, 7);
    // The reader's guard leaves on another thread right after the writer's
    // `pass`-th read of its residual word.
    const residual = reader.word.refcount + S_RESIDUAL;
    let reads = 0;
    const racing = Object.create(mem) as AtomicsMemory;
    racing.load = (index) => {
      const value = mem.load(index);
      if (index === residual && ++reads === pass) {
        assertEquals(guardsIn(value), 1, "read pinned");
        assertEquals(leave(mem, reader.word, 0), LEFT_RESIDUAL);
        drive(wakeWriter(mem));
      }
      return value;
    };
    const wait = awaitFreeCopy(racing, [0]);
    let result = -1;
    for (let step = 0; step < 100 && result < 0; step++) {
      const next = wait.next();
      if (next.done) result = next.value;
      else if (next.value !== undefined && reads >= pass) {
        assertNotEquals(
          mem.load(next.value.index),
          next.value.expected,
          `pass ${pass}: a lost departure`,
        );
      }
    }
    assertEquals(result, 0, `pass ${pass}`);
    assertEquals(reads, pass + 1, `pass ${pass}: one more scan found it free`);
    assertEquals(mem.load(C_WRITER_PARKED), 0);
  }
});

Deno.test("awaitFreeCopy() clears the parked flag when its generator is stopped", () => {
  const mem = memory();
  const reader = register(mem);
  enterGuard(mem, reader.word);
  assertEquals(publish(mem, 1), 1);
  const wait = awaitFreeCopy(mem, [0]);
  untilWait(wait);
  assertEquals(mem.load(C_WRITER_PARKED), 1);
  assertEquals(wait.return(-1), { done: true, value: -1 });
  assertEquals(mem.load(C_WRITER_PARKED), 0);
  // And when a driver gives up at its time limit.
  const error = assertThrows(
    () => runBlocking(mem, awaitFreeCopy(mem, [0]), 20),
    WaitTimedOut,
  );
  assertEquals(error.index, C_DEPARTURES);
  assertEquals(mem.load(C_WRITER_PARKED), 0);
  // Stopped before it parked: the flag was never set.
  const early = awaitFreeCopy(mem, [0]);
  early.next();
  early.return(-1);
  assertEquals(mem.load(C_WRITER_PARKED), 0);
});

Deno.test("wakeWriter() moves the departure count on, and notifies only a parked writer; cut short after its add, the count has moved on", () => {
  const mem = memory();
  {
    const { memory: rec, ops } = recording(mem);
    drive(wakeWriter(rec));
    assertEquals(mem.load(C_DEPARTURES), 1);
    assert(!ops.some((op) => op.startsWith("notify")));
  }
  mem.store(C_WRITER_PARKED, 1);
  {
    const { memory: rec, ops } = recording(mem);
    drive(wakeWriter(rec));
    assertEquals(mem.load(C_DEPARTURES), 2);
    assertEquals(ops.filter((op) => op.startsWith("notify")), [
      `notify@${C_DEPARTURES}`,
    ]);
  }
  // An exception right after the add: a writer waiting on the old count
  // does not sleep (the notify lost costs it at most one wait slice).
  const steps = wakeWriter(mem);
  assertEquals(steps.next(), { done: false, value: undefined });
  steps.return();
  assertEquals(mem.load(C_DEPARTURES), 3);
  assertEquals(mem.wait(C_DEPARTURES, 2, 10_000), "not-equal");
});

Deno.test("pinningHandles() names the open handles with live or residual guards on a copy", () => {
  const mem = memory();
  const [a, b, c, d] = [0, 1, 2, 3].map(() => register(mem));
  enterGuard(mem, a.word);
  enterGuard(mem, d.word);
  assertEquals(publish(mem, 1), 2); // a and d residual on copy 0
  enterGuard(mem, b.word); // live on copy 1
  assertEquals(pinningHandles(mem, 0), [a.id, d.id]);
  assertEquals(pinningHandles(mem, 1), [b.id]);
  assertEquals(pinningHandles(mem, 2), []);
  // A reclaimed handle pins nothing.
  assertEquals(reclaim(mem, d.id), 1);
  assertEquals(pinningHandles(mem, 0), [a.id]);
  assertEquals(leave(mem, a.word, 0), LEFT_RESIDUAL);
  assertEquals(pinningHandles(mem, 0), []);
  assertEquals(leave(mem, b.word, 1), LEFT);
  assertEquals(pinningHandles(mem, 1), []);
  assertEquals(handleId(mem, c.slot), c.id);
});

// ------------------------------------------------------------ registry

Deno.test("registerReader() refuses past maxReaders and reuses freed slots under new ids", () => {
  const mem = memory(2);
  const first = register(mem, 2);
  const second = register(mem, 2);
  assertEquals([first.slot, second.slot], [0, 1]);
  assertEquals(drive(registerReader(mem, 2, READER)).value, null);
  assertEquals(drive(unregisterReader(mem, first.id, READER)).value, true);
  assertEquals(mem.load(slotBase(0) + S_STATE), SLOT_FREE);
  const again = register(mem, 2);
  assertEquals(again.slot, 0);
  assertEquals(again.id, ID_SLOTS); // the slot's second registration
  assertEquals(slotOfId(again.id), 0);
  assertEquals(drive(unregisterReader(mem, again.id, READER)).value, true);
  assertEquals(register(mem, 2).id, 2 * ID_SLOTS);
  assertEquals(mem.load(C_SLOTS_USED), 2);
});

Deno.test("registerReader() starts a handle on the current copy with no guards, in the slot's generation", () => {
  const mem = memory();
  register(mem);
  publish(mem, 3);
  const reader = register(mem);
  const word = wordOf(mem, reader);
  assertEquals([copyOf(word), guardsIn(word), generationOf(word)], [3, 0, 0]);
  assertEquals(reader.word.seen, word);
  assertEquals(reader.word.refcount, slotBase(reader.slot) + S_REFCOUNT);
  assertEquals(mem.load(slotBase(reader.slot) + S_STATE), SLOT_IN_USE);
  assertEquals(enterGuard(mem, reader.word), 3);
});

Deno.test("handlesOf() lists the open handles of one thread tag", () => {
  const mem = memory();
  const a = register(mem, 4, READER);
  const b = register(mem, 4, OTHER);
  const c = register(mem, 4, READER);
  assertEquals(handlesOf(mem, READER), [a.id, c.id]);
  assertEquals(handlesOf(mem, OTHER), [b.id]);
  drive(unregisterReader(mem, a.id, READER));
  assertEquals(handlesOf(mem, READER), [c.id]);
});

Deno.test("lockRegistry() asks to wait while another holder has the lock, and records the holder", () => {
  const mem = memory();
  const epoch = registryHolder(mem).epoch;
  assertEquals(registryHolder(mem).owner, 0);
  drive(lockRegistry(mem, READER));
  assertEquals(registryHolder(mem), { owner: READER, epoch: epoch + 1 });
  const second = lockRegistry(mem, OTHER);
  assertEquals(untilWait(second), { index: C_REGISTRY_LOCK, expected: 2 });
  drive(unlockRegistry(mem)); // contended: resets and notifies
  assertEquals(registryHolder(mem).owner, 0);
  drive(second);
  assertEquals(registryHolder(mem), { owner: OTHER, epoch: epoch + 2 });
  drive(unlockRegistry(mem));
  assertEquals(registryHolder(mem).owner, 0);
  assertEquals(drive(lockRegistry(mem, READER)).waits, 0);
  drive(unlockRegistry(mem));
});

Deno.test("publishCopy() waits for the registry lock, and changes nothing until it has it", () => {
  const mem = memory();
  const reader = register(mem);
  enterGuard(mem, reader.word);
  drive(lockRegistry(mem, OTHER));
  const steps = publishCopy(mem, WRITER, 1);
  assertEquals(untilWait(steps), { index: C_REGISTRY_LOCK, expected: 2 });
  assertEquals(mem.load(H_CURRENT_COPY), 0);
  assertEquals(copyOf(wordOf(mem, reader)), 0);
  drive(unlockRegistry(mem));
  assertEquals(drive(steps).value, 1);
  assertEquals(mem.load(H_CURRENT_COPY), 1);
  assertEquals(registryHolder(mem).owner, 0);
});

Deno.test("breakRegistryLock() takes over a lock only in the epoch its holder got it", () => {
  const mem = memory();
  assertEquals(
    breakRegistryLock(mem, registryHolder(mem).epoch, WRITER),
    false,
  ); // free
  drive(lockRegistry(mem, READER));
  const { epoch } = registryHolder(mem);
  assertEquals(breakRegistryLock(mem, epoch - 1, WRITER), false); // stale
  assertEquals(registryHolder(mem), { owner: READER, epoch });
  assertEquals(breakRegistryLock(mem, epoch, WRITER), true);
  assertEquals(registryHolder(mem), { owner: WRITER, epoch: epoch + 1 });
  assertEquals(breakRegistryLock(mem, epoch, OTHER), false); // already taken over
  drive(unlockRegistry(mem));
  assertEquals(registryHolder(mem).owner, 0);
  // The lock works as before.
  const reader = register(mem);
  assertEquals(reader.slot, 0);
});

Deno.test("unregisterReader() returns false, changing nothing, for a handle that was reclaimed", () => {
  const mem = memory();
  const reader = register(mem);
  assertEquals(reclaim(mem, reader.id), 0);
  const words = slotWords(mem, reader.slot);
  assertEquals(drive(unregisterReader(mem, reader.id, READER)).value, false);
  assertEquals(slotWords(mem, reader.slot), words);
  assertEquals(handlesOf(mem, READER), []);
});

Deno.test("unregisterReader() retires a slot whose registration count has no next value, so ids stay unique", () => {
  const mem = memory(2);
  const base = slotBase(0);
  // As if the slot had held 2^32 - 2 handles already.
  mem.store(base + S_REGISTRATIONS, 0xfffffffe | 0);
  const last = drive(registerReader(mem, 2, READER)).value!;
  assertEquals(last.slot, 0);
  assertEquals(last.id, 0xfffffffe * ID_SLOTS);
  assert(Number.isSafeInteger(last.id));
  assertEquals(drive(unregisterReader(mem, last.id, READER)).value, true);
  assertEquals(mem.load(base + S_STATE), SLOT_RETIRED);
  const next = drive(registerReader(mem, 2, READER)).value!;
  assertEquals(next.slot, 1); // never slot 0 again, whose ids would repeat
  // A stale id of the retired slot frees nothing.
  assertEquals(drive(unregisterReader(mem, last.id, READER)).value, false);
  assertEquals(reclaim(mem, last.id), -1);
});

// ------------------------------------------------------------ reclaim

Deno.test("reclaimReader() moves the generation on in the refcount and every residual word, returns the guards outstanding, frees the slot and wakes the writer", () => {
  const mem = memory(2);
  const dead = register(mem, 2);
  const live = register(mem, 2);
  enterGuard(mem, dead.word);
  enterGuard(mem, dead.word);
  enterGuard(mem, live.word);
  assertEquals(publish(mem, 1), 3);
  enterGuard(mem, dead.word);
  assertEquals(publish(mem, 2), 1);
  enterGuard(mem, dead.word); // live on copy 2
  assertEquals(
    [residualOf(mem, dead, 0), residualOf(mem, dead, 1)],
    [2, 1],
  );
  mem.store(C_WRITER_PARKED, 1);
  const { memory: rec, ops } = recording(mem);
  assertEquals(drive(reclaimReader(rec, dead.id, WRITER)).value, 4);
  assertEquals(mem.load(C_DEPARTURES), 1);
  assert(ops.includes(`notify@${C_DEPARTURES}`), "the parked writer is woken");
  mem.store(C_WRITER_PARKED, 0);
  const base = slotBase(dead.slot);
  const word = mem.load(base + S_REFCOUNT);
  const generation = dead.word.generation + 1;
  assertEquals([generationOf(word), guardsIn(word), copyOf(word)], [
    generation,
    0,
    2,
  ]);
  for (let copy = 0; copy < MAX_COPIES; copy++) {
    assertEquals(mem.load(base + S_RESIDUAL + copy), generation << 16);
  }
  assertEquals(mem.load(base + S_STATE), SLOT_FREE);
  assertEquals(registryHolder(mem).owner, 0);
  assertEquals(pinningHandles(mem, 0), [live.id]);
  assert(isFree(mem, 1));
  assertEquals(leave(mem, live.word, 0), LEFT_RESIDUAL);
  assert(isFree(mem, 0));
  assertEquals(reclaim(mem, dead.id), -1); // already free
  assertEquals(register(mem, 2).slot, dead.slot);
});

Deno.test("reclaimReader() of a handle with no guards wakes no one; of an unknown id returns -1", () => {
  const mem = memory();
  const reader = register(mem);
  enterGuard(mem, reader.word);
  assertEquals(leaveGuard(mem, reader.word, 0), LEFT);
  assertEquals(reclaim(mem, reader.id), 0);
  assertEquals(mem.load(C_DEPARTURES), 0);
  assertEquals(reclaim(mem, reader.id), -1);
  assertEquals(reclaim(mem, 3), -1); // a slot never used
  assertEquals(reclaim(mem, reader.id + ID_SLOTS), -1); // a registration not made
  assertEquals(mem.load(C_DEPARTURES), 0);
  assertEquals(registryHolder(mem).owner, 0);
});

Deno.test("a reclaimed handle's late enterGuard(), leaveGuard() and leaveResidual() return RECLAIMED and change nothing", () => {
  const mem = memory();
  const zombie = register(mem);
  const healthy = register(mem);
  enterGuard(mem, zombie.word); // residual after the publish
  enterGuard(mem, healthy.word);
  assertEquals(publish(mem, 1), 2);
  enterGuard(mem, zombie.word); // live on the new copy
  assertEquals(reclaim(mem, zombie.id), 2);
  const words = slotWords(mem, zombie.slot);
  const healthyWords = slotWords(mem, healthy.slot);
  const departures = mem.load(C_DEPARTURES);

  // The zombie's thread runs on: leaves both guards, enters a new one.
  // (Its guard on copy 0 is older than its cached word: leaveGuard() sends
  // it to leaveResidual() unread, which finds the handle reclaimed.)
  assertEquals(leaveGuard(mem, zombie.word, 1), RECLAIMED);
  const residual = leaveGuard(mem, zombie.word, 0);
  assert(residual === RESIDUAL_GUARD || residual === RECLAIMED);
  assertEquals(leaveResidual(mem, zombie.word, 0), RECLAIMED);
  assertEquals(leaveResidual(mem, zombie.word, 1), RECLAIMED);
  assertEquals(enterGuard(mem, zombie.word), RECLAIMED);
  assertEquals(leave(mem, zombie.word, 0), RECLAIMED);
  assertEquals(leave(mem, zombie.word, 1), RECLAIMED);
  assertEquals(slotWords(mem, zombie.slot), words);
  assertEquals(slotWords(mem, healthy.slot), healthyWords);
  assertEquals(mem.load(C_DEPARTURES), departures);
  // Its unregistration is refused too.
  assertEquals(drive(unregisterReader(mem, zombie.id, READER)).value, false);
  assertEquals(slotWords(mem, zombie.slot), words);

  // The healthy guard still pins its copy, and then not.
  assertEquals(pinningHandles(mem, 0), [healthy.id]);
  assertEquals(leave(mem, healthy.word, 0), LEFT_RESIDUAL);
  assert(isFree(mem, 0));
});

Deno.test("enterGuard(), leaveGuard() and leaveResidual() racing a reclaim between their read and their exchange return RECLAIMED", () => {
  for (const op of ["enter", "leave", "leaveResidual"] as const) {
    const mem = memory();
    const reader = register(mem);
    enterGuard(mem, reader.word);
    if (op === "leaveResidual") assertEquals(publish(mem, 1), 1);
    const index = op === "leaveResidual"
      ? reader.word.refcount + S_RESIDUAL
      : reader.word.refcount;
    const racing = interposed(mem, index, () => {
      assertEquals(reclaim(mem, reader.id), 1);
    });
    const result = op === "enter"
      ? enterGuard(racing, reader.word)
      : op === "leave"
      ? leaveGuard(racing, reader.word, 0)
      : leaveResidual(racing, reader.word, 0);
    assertEquals(result, RECLAIMED, op);
    const base = slotBase(reader.slot);
    assertEquals(guardsIn(mem.load(base + S_REFCOUNT)), 0, op);
    for (let copy = 0; copy < MAX_COPIES; copy++) {
      assertEquals(mem.load(base + S_RESIDUAL + copy), 1 << 16, op);
    }
  }
});

Deno.test("registerReader() in a reclaimed slot keeps the moved-on generation, and the old handle cannot touch the new one", () => {
  const mem = memory(2);
  const zombie = register(mem, 2);
  enterGuard(mem, zombie.word);
  assertEquals(publish(mem, 1), 1);
  assertEquals(reclaim(mem, zombie.id), 1);
  const fresh = register(mem, 2);
  assertEquals(fresh.slot, zombie.slot);
  assert(fresh.id !== zombie.id);
  assertEquals(fresh.word.refcount, zombie.word.refcount);
  assertEquals(fresh.word.generation, zombie.word.generation + 1);
  assertEquals(generationOf(wordOf(mem, fresh)), fresh.word.generation);

  // The new handle holds a guard that becomes residual.
  assertEquals(enterGuard(mem, fresh.word), 1);
  assertEquals(publish(mem, 2), 1);
  assertEquals(residualOf(mem, fresh, 1), 1);
  const words = slotWords(mem, fresh.slot);

  // The zombie's late leaves (on any copy) and enter do nothing to it.
  for (const copy of [0, 1, 2]) {
    assertEquals(leave(mem, zombie.word, copy), RECLAIMED);
    assertEquals(leaveResidual(mem, zombie.word, copy), RECLAIMED);
  }
  assertEquals(enterGuard(mem, zombie.word), RECLAIMED);
  assertEquals(slotWords(mem, fresh.slot), words);
  assertEquals(reclaim(mem, zombie.id), -1); // the stale id
  assertEquals(drive(unregisterReader(mem, zombie.id, READER)).value, false);
  assertEquals(slotWords(mem, fresh.slot), words);
  assertEquals(handlesOf(mem, READER), [fresh.id]);
  assertEquals(pinningHandles(mem, 1), [fresh.id]);

  // The new handle goes on as usual.
  assertEquals(leave(mem, fresh.word, 1), LEFT_RESIDUAL);
  assert(isFree(mem, 1));
  assertEquals(enterGuard(mem, fresh.word), 2);
  assertEquals(leaveGuard(mem, fresh.word, 2), LEFT);
  assertEquals(drive(unregisterReader(mem, fresh.id, READER)).value, true);
});

Deno.test("reclaimReader() stopped at any step leaves the slot in use (never free with its words half reset) and the registry unlocked", () => {
  let completed = false;
  const cuts = { inUse: 0, freed: 0 };
  for (let cut = 1; cut < 200 && !completed; cut++) {
    const mem = memory(2);
    const dead = register(mem, 2);
    enterGuard(mem, dead.word);
    enterGuard(mem, dead.word);
    assertEquals(publish(mem, 1), 2);
    enterGuard(mem, dead.word);
    const base = slotBase(dead.slot);
    const steps = reclaimReader(mem, dead.id, WRITER);
    for (let step = 0; step < cut; step++) {
      const next = steps.next();
      if (next.done) {
        completed = true;
        break;
      }
      assertEquals(next.value, undefined, "a reclaim never waits here");
    }
    if (!completed) steps.return(-2); // an exception here
    assertEquals(registryHolder(mem).owner, 0, `cut ${cut}: unlocked`);
    const generation = dead.word.generation + 1;
    const state = mem.load(base + S_STATE);
    if (state !== SLOT_IN_USE) {
      // Freed only once every word was reset.
      assertEquals(state, SLOT_FREE, `cut ${cut}`);
      cuts.freed++;
      assertEquals(mem.load(base + S_REFCOUNT), (generation << 16) | 1 << 28);
      for (let copy = 0; copy < MAX_COPIES; copy++) {
        assertEquals(mem.load(base + S_RESIDUAL + copy), generation << 16);
      }
      continue;
    }
    // Still in use: a register cannot take the slot, and a reclaim again
    // finishes the job.
    cuts.inUse++;
    assertEquals(handlesOf(mem, READER), [dead.id], `cut ${cut}`);
    const other = register(mem, 2);
    assertEquals(other.slot, 1 - dead.slot, `cut ${cut}`);
    const outstanding = reclaim(mem, dead.id);
    assert(outstanding >= 0 && outstanding <= 3, `cut ${cut}: ${outstanding}`);
    assertEquals(mem.load(base + S_STATE), SLOT_FREE, `cut ${cut}`);
    assertEquals(guardsIn(mem.load(base + S_REFCOUNT)), 0);
    for (let copy = 0; copy < MAX_COPIES; copy++) {
      assertEquals(guardsIn(mem.load(base + S_RESIDUAL + copy)), 0);
    }
    assert(isFree(mem, 0), `cut ${cut}`);
    assertEquals(enterGuard(mem, dead.word), RECLAIMED);
    assertEquals(leave(mem, dead.word, 0), RECLAIMED);
    assertEquals(register(mem, 2).slot, dead.slot);
  }
  assert(completed, "some cut came after the whole reclaim");
  assert(cuts.inUse > 0 && cuts.freed > 0, JSON.stringify(cuts));
});

Deno.test("reclaimReader() retires a slot before its generation comes round, so that no zombie of it can match again", () => {
  const mem = memory(2);
  const first = register(mem, 2);
  assertEquals(first.slot, 0);
  enterGuard(mem, first.word); // a zombie that will try its luck at the end
  assertEquals(publish(mem, 1), 1); // ... with a residual guard
  let reader = first;
  let reclaims = 0;
  while (reader.slot === 0 && reclaims < 2 * LAST_GENERATION) {
    reclaim(mem, reader.id);
    reclaims++;
    reader = register(mem, 2);
  }
  assertEquals(reclaims, LAST_GENERATION);
  assertEquals(reader.slot, 1); // slot 0 is never given out again
  const base = slotBase(0);
  assertEquals(mem.load(base + S_STATE), SLOT_RETIRED);
  const retired = slotWords(mem, 0);
  assertEquals(generationOf(retired[S_REFCOUNT]), LAST_GENERATION);
  assertEquals(guardsIn(retired[S_REFCOUNT]), 0);
  for (let copy = 0; copy < MAX_COPIES; copy++) {
    assertEquals(retired[S_RESIDUAL + copy], LAST_GENERATION << 16);
  }
  assertEquals(drive(registerReader(mem, 2, READER)).value, null);
  // Every handle ever registered in slot 0 is inert, the first one too.
  assertEquals(enterGuard(mem, first.word), RECLAIMED);
  assertEquals(leaveGuard(mem, first.word, 0), RECLAIMED);
  assertEquals(leaveResidual(mem, first.word, 0), RECLAIMED);
  assertEquals(slotWords(mem, 0), retired);
  assertEquals(reclaim(mem, first.id), -1);
  // The other slot still works.
  assertEquals(enterGuard(mem, reader.word), 1);
  assertEquals(leaveGuard(mem, reader.word, 1), LEFT);
  assertEquals(drive(unregisterReader(mem, reader.id, READER)).value, true);
  assertEquals(register(mem, 2).slot, 1);
});

Deno.test("reclaimReader() retires a slot whose registration count has no next value", () => {
  const mem = memory(2);
  const base = slotBase(0);
  mem.store(base + S_REGISTRATIONS, 0xfffffffe | 0);
  const last = drive(registerReader(mem, 2, READER)).value!;
  assertEquals(reclaim(mem, last.id), 0);
  assertEquals(mem.load(base + S_STATE), SLOT_RETIRED);
  assertEquals(drive(registerReader(mem, 2, READER)).value!.slot, 1);
});

Deno.test("reclaimReader() and unregisterReader() refuse a stale id of a slot that was reused", () => {
  const mem = memory(2);
  const old = register(mem, 2);
  assertEquals(drive(unregisterReader(mem, old.id, READER)).value, true);
  const reused = register(mem, 2);
  assertEquals(reused.slot, old.slot);
  enterGuard(mem, reused.word);
  publish(mem, 1);
  const words = slotWords(mem, reused.slot);
  assertEquals(reclaim(mem, old.id), -1);
  assertEquals(drive(unregisterReader(mem, old.id, READER)).value, false);
  assertEquals(slotWords(mem, reused.slot), words);
  assertEquals(pinningHandles(mem, 0), [reused.id]);
  assertEquals(handlesOf(mem, READER), [reused.id]);
  // Ids that never were: another slot's, or one past the registrations.
  assertEquals(reclaim(mem, reused.id + ID_SLOTS), -1);
  assertEquals(reclaim(mem, 1), -1);
  assertEquals(handlesOf(mem, READER), [reused.id]);
});

// ------------------------------------------------------------ drivers

Deno.test("runBlocking() drives a generator to its result", () => {
  const mem = memory();
  const registration = runBlocking(mem, registerReader(mem, 4, READER));
  assertEquals(registration?.slot, 0);
  assertEquals(registration?.id, 0);
});

Deno.test("runBlocking() waits in slices of at most WAIT_SLICE_MS and throws WaitTimedOut at its limit", () => {
  const mem = memory();
  drive(lockRegistry(mem, OTHER)); // a holder that never lets go
  const slices: number[] = [];
  const recorder = Object.create(mem) as AtomicsMemory;
  recorder.wait = (index, expected, timeoutMs) => {
    slices.push(timeoutMs);
    return mem.wait(index, expected, timeoutMs);
  };
  const error = assertThrows(
    () => runBlocking(recorder, lockRegistry(recorder, READER), 120),
    WaitTimedOut,
  );
  assertEquals(error.index, C_REGISTRY_LOCK);
  assert(slices.length >= 1);
  for (const slice of slices) assert(slice > 0 && slice <= WAIT_SLICE_MS);
  assertEquals(registryHolder(mem).owner, OTHER);
  // The holder still unlocks normally, and the lock is free afterwards.
  drive(unlockRegistry(mem));
  assertEquals(drive(lockRegistry(mem, READER)).waits, 0);
  drive(unlockRegistry(mem));
});

Deno.test("runAsync() throws WaitTimedOut at its limit and stops the generator", async () => {
  const mem = memory();
  const reader = register(mem);
  enterGuard(mem, reader.word);
  assertEquals(publish(mem, 1), 1);
  const error = await assertRejects(
    () => runAsync(mem, awaitFreeCopy(mem, [0]), 30),
    WaitTimedOut,
  );
  assertEquals(error.index, C_DEPARTURES);
  assertEquals(mem.load(C_WRITER_PARKED), 0, "the generator's finally ran");
});

Deno.test("runAsync() resumes a wait when a departure wakes it", async () => {
  const mem = memory();
  const reader = register(mem);
  enterGuard(mem, reader.word);
  assertEquals(publish(mem, 1), 1);
  const waiting = runAsync(mem, awaitFreeCopy(mem, [0]));
  assertEquals(mem.load(C_WRITER_PARKED), 1, "it waits");
  assertEquals(leave(mem, reader.word, 0), LEFT_RESIDUAL);
  drive(wakeWriter(mem));
  assertEquals(await waiting, 0);
  assertEquals(mem.load(C_WRITER_PARKED), 0);
});

/** The orphans counted on `copy` (maps of cells). */
function orphansOf(mem: AtomicsMemory, copy: number): number {
  return mem.load(copyWord(copy, T_ORPHANS));
}

Deno.test("reclaimReader() keeping orphans counts the handle's live and residual guards on their copies, which stay pinned until each leaves", () => {
  const mem = memory();
  const zombie = register(mem);
  enterGuard(mem, zombie.word);
  enterGuard(mem, zombie.word);
  assertEquals(publish(mem, 1), 2); // two residual on copy 0
  enterGuard(mem, zombie.word); // live on copy 1
  mem.store(C_WRITER_PARKED, 1);
  assertEquals(drive(reclaimReader(mem, zombie.id, WRITER, true)).value, 3);
  mem.store(C_WRITER_PARKED, 0);
  assertEquals([orphansOf(mem, 0), orphansOf(mem, 1)], [2, 1]);
  assertEquals(mem.load(slotBase(zombie.slot) + S_STATE), SLOT_FREE);
  assertEquals(publish(mem, 2), 0); // the reclaimed slot is not flipped
  assert(!isFree(mem, 0), "a copy with orphans is pinned");
  assert(!isFree(mem, 1), "a copy with orphans is pinned");
  // The zombie's late leaves return RECLAIMED; each is then counted off once.
  assertEquals(leave(mem, zombie.word, 1), RECLAIMED);
  assertEquals(leaveOrphan(mem, 1), true);
  assert(isFree(mem, 1));
  assertEquals(leave(mem, zombie.word, 0), RECLAIMED);
  assertEquals(leaveOrphan(mem, 0), false);
  assert(!isFree(mem, 0));
  assertEquals(leave(mem, zombie.word, 0), RECLAIMED);
  assertEquals(leaveOrphan(mem, 0), true);
  assert(isFree(mem, 0));
  // A new handle takes the slot; the old one cannot touch it.
  const next = register(mem);
  assertEquals(next.slot, zombie.slot);
  assertEquals(enterGuard(mem, zombie.word), RECLAIMED);
});

Deno.test("reclaimReader() without orphans (maps without cells) counts none", () => {
  const mem = memory();
  const zombie = register(mem);
  enterGuard(mem, zombie.word);
  assertEquals(publish(mem, 1), 1);
  enterGuard(mem, zombie.word);
  assertEquals(reclaim(mem, zombie.id), 2);
  for (let copy = 0; copy < MAX_COPIES; copy++) {
    assertEquals(orphansOf(mem, copy), 0);
  }
  assert(isFree(mem, 0));
});

Deno.test("reclaimReader() keeping orphans, cut at every step by one of the handle's guards leaving, counts exactly the guards still out", () => {
  for (const residual of [false, true]) {
    for (let cut = 0; cut < 48; cut++) {
      const mem = memory();
      const zombie = register(mem);
      enterGuard(mem, zombie.word);
      enterGuard(mem, zombie.word);
      if (residual) assertEquals(publish(mem, 1), 2);
      const steps = reclaimReader(mem, zombie.id, WRITER, true);
      let out = 2;
      let done = false;
      for (let step = 0; step < MAX_STEPS && !done; step++) {
        if (step === cut) {
          out--;
          if (leave(mem, zombie.word, 0) === RECLAIMED) leaveOrphan(mem, 0);
        }
        done = steps.next().done === true;
      }
      assert(done, "the reclaim finished");
      assertEquals(orphansOf(mem, 0), out, `cut ${cut}`);
      for (; out > 0; out--) {
        assertEquals(leave(mem, zombie.word, 0), RECLAIMED);
        leaveOrphan(mem, 0);
      }
      assertEquals(orphansOf(mem, 0), 0, `cut ${cut}`);
      assert(isFree(mem, 0), `cut ${cut}`);
    }
  }
});
