/**
 * The reader protocol, one thread, step by step on real `Atomics`: copy
 * reporting, residual counting, reclaiming (a reclaimed handle's word can
 * never be changed by it again), ids unique over the map's life, the
 * registry lock with its owner and epoch, and the blocking driver.
 *
 * @module
 */

import { assert, assertEquals, assertThrows } from "@std/assert";
import {
  C_REGISTRY_LOCK,
  C_RESIDUAL,
  C_WRITER_PARKED,
  heapStart,
  S_REFCOUNT,
  S_REGISTRATIONS,
  S_STATE,
  SLOT_RETIRED,
  slotBase,
} from "../src/layout.ts";
import { AtomicsMemory } from "../src/memory.ts";
import {
  awaitResidualReaders,
  breakRegistryLock,
  COPY_BIT,
  departResidual,
  enterGuard,
  generationOf,
  GUARDS_FULL,
  guardsIn,
  handlesOf,
  ID_SLOTS,
  leaveGuard,
  LEFT,
  LEFT_RESIDUAL,
  lockRegistry,
  MAX_GUARDS,
  publishCopy,
  RECLAIMED,
  reclaimReader,
  registerReader,
  type Registration,
  registryHolder,
  residualHandles,
  residualIn,
  runBlocking,
  type Step,
  unlockRegistry,
  unregisterReader,
  WAIT_SLICE_MS,
  WaitTimedOut,
} from "../src/protocol.ts";

/** Tags of the (simulated) threads below; real ones are positive. */
const WRITER = 11;
const READER = 13;
const OTHER = 15;

function memory(maxReaders = 4): AtomicsMemory {
  return new AtomicsMemory(
    new Int32Array(new SharedArrayBuffer(heapStart(maxReaders) * 4)),
  );
}

/** Runs a generator without waiting; returns its result and the waits it asked for. */
function drive<T>(steps: Generator<Step, T>): { value: T; waits: number } {
  let waits = 0;
  for (let step = 0; step < 100_000; step++) {
    const next = steps.next();
    if (next.done) return { value: next.value, waits };
    if (next.value !== undefined) waits++;
  }
  throw new Error("the generator did not finish in 100000 steps");
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

function publish(mem: AtomicsMemory): number {
  return drive(publishCopy(mem, WRITER)).value;
}

function reclaim(
  mem: AtomicsMemory,
  id: number,
  owed = { departures: 0 },
): number {
  return drive(reclaimReader(mem, id, WRITER, owed)).value;
}

/** Runs `steps` until it asks to wait; fails if it finishes first. */
function untilWait<T>(steps: Generator<Step, T>): Step {
  for (let step = 0; step < 100_000; step++) {
    const next = steps.next();
    assert(!next.done, "expected the generator to ask to wait");
    if (next.value !== undefined) return next.value;
  }
  throw new Error("the generator neither waited nor finished");
}

function wordOf(mem: AtomicsMemory, registration: Registration): number {
  return mem.load(registration.word.refcount);
}

Deno.test("enterGuard() reports the handle's copy and leaveGuard() spots a flip", () => {
  const mem = memory();
  const reader = register(mem);
  const handle = reader.word;
  assertEquals(enterGuard(mem, handle), 0);
  assertEquals(leaveGuard(mem, handle, 0), LEFT);
  assertEquals(enterGuard(mem, handle), 0);
  assertEquals(publish(mem), 1); // one guard became residual
  assertEquals(mem.load(C_RESIDUAL), 1);
  assertEquals(enterGuard(mem, handle), 1); // a new guard reads the new copy
  assertEquals(leaveGuard(mem, handle, 1), LEFT);
  assertEquals(handle.departures, 0);
  assertEquals(leaveGuard(mem, handle, 0), LEFT_RESIDUAL); // the residual one
  assertEquals(handle.departures, 1);
  assertEquals(mem.load(C_RESIDUAL), 1, "counted off only by departResidual");
  drive(departResidual(mem, handle));
  assertEquals(handle.departures, 0);
  assertEquals(mem.load(C_RESIDUAL), 0);
  assertEquals(handle.seen, wordOf(mem, reader));
});

Deno.test("publishCopy() counts the residual guards of every handle, and residualHandles() names them", () => {
  const mem = memory();
  const readers = [0, 1, 2].map(() => register(mem));
  assertEquals(readers.map((reader) => reader.slot), [0, 1, 2]);
  assertEquals(readers.map((reader) => reader.id), [0, 1, 2]);
  enterGuard(mem, readers[0].word);
  enterGuard(mem, readers[0].word);
  enterGuard(mem, readers[2].word);
  assertEquals(publish(mem), 3);
  assertEquals(mem.load(C_RESIDUAL), 3);
  const word = wordOf(mem, readers[0]);
  assertEquals([guardsIn(word), residualIn(word)], [2, 2]);
  assertEquals(word & COPY_BIT, COPY_BIT);
  assertEquals(residualHandles(mem), [readers[0].id, readers[2].id]);
  // A publish with nothing new residual adds nothing, and the old residual
  // guards stay residual.
  assertEquals(publish(mem), 3);
  assertEquals(mem.load(C_RESIDUAL), 6);
});

Deno.test("departResidual() lets a residual count below zero settle at the writer's add", () => {
  const mem = memory();
  // A residual guard leaves before the writer has added its count.
  const handle = { departures: 1 };
  drive(departResidual(mem, handle));
  assertEquals(mem.load(C_RESIDUAL), -1);
  assertEquals(handle.departures, 0);
  mem.add(C_RESIDUAL, 1);
  assertEquals(mem.load(C_RESIDUAL), 0);
  assertEquals(drive(awaitResidualReaders(mem)).waits, 0);
});

Deno.test("departResidual() counts a departure off exactly once when an exception comes between leaving and counting off", () => {
  const mem = memory();
  const reader = register(mem);
  const handle = reader.word;
  enterGuard(mem, handle);
  enterGuard(mem, handle);
  assertEquals(publish(mem), 2);
  // The guards leave the word; the thread throws before counting them off.
  assertEquals(leaveGuard(mem, handle, 0), LEFT_RESIDUAL);
  assertEquals(leaveGuard(mem, handle, 0), LEFT_RESIDUAL);
  assertEquals(handle.departures, 2);
  assertEquals(mem.load(C_RESIDUAL), 2);
  assertEquals(residualIn(wordOf(mem, reader)), 0);
  // Counting off, interrupted after the first subtract (the memory throws
  // on the second): the first is recorded done.
  let subs = 0;
  const failing = Object.create(mem) as AtomicsMemory;
  failing.sub = (index: number, value: number) => {
    if (++subs === 2) throw new RangeError("Maximum call stack size exceeded");
    return mem.sub(index, value);
  };
  assertThrows(() => drive(departResidual(failing, handle)), RangeError);
  assertEquals(handle.departures, 1);
  assertEquals(mem.load(C_RESIDUAL), 1);
  // Later, the rest; and again, nothing.
  drive(departResidual(mem, handle));
  assertEquals(handle.departures, 0);
  assertEquals(mem.load(C_RESIDUAL), 0);
  drive(departResidual(mem, handle));
  assertEquals(mem.load(C_RESIDUAL), 0);
});

Deno.test("departResidual() interrupted after its last subtract has counted it off", () => {
  const mem = memory();
  mem.store(C_RESIDUAL, 1);
  mem.store(C_WRITER_PARKED, 1);
  const handle = { departures: 1 };
  const steps = departResidual(mem, handle);
  assertEquals(steps.next().done, false); // subtracted, before the notify
  steps.return(); // an exception here
  assertEquals(handle.departures, 0);
  assertEquals(mem.load(C_RESIDUAL), 0);
  drive(departResidual(mem, handle));
  assertEquals(mem.load(C_RESIDUAL), 0);
});

Deno.test("awaitResidualReaders() parks on the residual count and clears the flag", () => {
  const mem = memory();
  mem.store(C_RESIDUAL, 2);
  const wait = awaitResidualReaders(mem);
  assertEquals(untilWait(wait), { index: C_RESIDUAL, expected: 2 });
  assertEquals(mem.load(C_WRITER_PARKED), 1);
  mem.store(C_RESIDUAL, 0);
  drive(wait);
  assertEquals(mem.load(C_WRITER_PARKED), 0);
});

Deno.test("registerReader() refuses past maxReaders and reuses freed slots under new ids", () => {
  const mem = memory(2);
  const first = register(mem, 2);
  const second = register(mem, 2);
  assertEquals([first.slot, second.slot], [0, 1]);
  assertEquals(drive(registerReader(mem, 2, READER)).value, null);
  assertEquals(drive(unregisterReader(mem, first.id, READER)).value, true);
  const again = register(mem, 2);
  assertEquals(again.slot, 0);
  assertEquals(again.id, ID_SLOTS); // the slot's second registration
  assertEquals(drive(unregisterReader(mem, again.id, READER)).value, true);
  assertEquals(register(mem, 2).id, 2 * ID_SLOTS);
});

Deno.test("registerReader() starts a handle on the current copy", () => {
  const mem = memory();
  register(mem);
  publish(mem);
  const reader = register(mem);
  assertEquals(enterGuard(mem, reader.word), 1);
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

Deno.test("enterGuard() returns GUARDS_FULL at MAX_GUARDS, changing nothing", () => {
  const mem = memory();
  const reader = register(mem);
  const handle = reader.word;
  for (let i = 0; i < MAX_GUARDS; i++) assertEquals(enterGuard(mem, handle), 0);
  const full = wordOf(mem, reader);
  assertEquals(guardsIn(full), MAX_GUARDS);
  assertEquals(enterGuard(mem, handle), GUARDS_FULL);
  assertEquals(wordOf(mem, reader), full);
  assertEquals(generationOf(full), reader.word.generation, "no carry");
  // Every one of them can become residual, and the count still fits.
  assertEquals(publish(mem), MAX_GUARDS);
  assertEquals(residualIn(wordOf(mem, reader)), MAX_GUARDS);
  assertEquals(enterGuard(mem, handle), GUARDS_FULL);
  assertEquals(leaveGuard(mem, handle, 0), LEFT_RESIDUAL);
  assertEquals(enterGuard(mem, handle), 1);
  const word = wordOf(mem, reader);
  assertEquals([guardsIn(word), residualIn(word)], [
    MAX_GUARDS,
    MAX_GUARDS - 1,
  ]);
  assertEquals(generationOf(word), reader.word.generation);
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
  const recording = Object.create(mem) as AtomicsMemory;
  recording.wait = (index, expected, timeoutMs) => {
    slices.push(timeoutMs);
    return mem.wait(index, expected, timeoutMs);
  };
  const error = assertThrows(
    () => runBlocking(recording, lockRegistry(recording, READER), 120),
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

Deno.test("reclaimReader() counts off a dead handle's residual guards and frees its slot", () => {
  const mem = memory(2);
  const dead = register(mem, 2);
  const live = register(mem, 2);
  enterGuard(mem, dead.word);
  enterGuard(mem, dead.word);
  enterGuard(mem, live.word);
  assertEquals(publish(mem), 3);
  assertEquals(residualHandles(mem), [dead.id, live.id]);
  const owed = { departures: 0 };
  assertEquals(reclaim(mem, dead.id, owed), 2);
  assertEquals(owed.departures, 0);
  assertEquals(mem.load(C_RESIDUAL), 1);
  assertEquals(residualHandles(mem), [live.id]);
  assertEquals(leaveGuard(mem, live.word, 0), LEFT_RESIDUAL);
  drive(departResidual(mem, live.word));
  assertEquals(mem.load(C_RESIDUAL), 0);
  assertEquals(reclaim(mem, dead.id), -1); // already free
  assertEquals(register(mem, 2).slot, dead.slot);
});

Deno.test("reclaimReader() counts off only the residual guards still on the word", () => {
  const mem = memory();
  const dead = register(mem);
  enterGuard(mem, dead.word);
  enterGuard(mem, dead.word);
  enterGuard(mem, dead.word);
  assertEquals(publish(mem), 3);
  enterGuard(mem, dead.word); // a live guard on the new copy
  assertEquals(leaveGuard(mem, dead.word, 0), LEFT_RESIDUAL);
  drive(departResidual(mem, dead.word));
  assertEquals(mem.load(C_RESIDUAL), 2);
  assertEquals(reclaim(mem, dead.id), 2);
  assertEquals(mem.load(C_RESIDUAL), 0);
});

Deno.test("reclaimReader() interrupted before counting off leaves what it owes in owed.departures", () => {
  const mem = memory();
  const dead = register(mem);
  enterGuard(mem, dead.word);
  assertEquals(publish(mem), 1);
  const owed = { departures: 0 };
  const steps = reclaimReader(mem, dead.id, WRITER, owed);
  // Run to the step after the registry section, then "throw".
  for (let step = 0; step < 1000 && owed.departures === 0; step++) {
    assertEquals(steps.next().done, false);
  }
  assertEquals(owed.departures, 1);
  assertEquals(registryHolder(mem).owner, 0, "the lock was released");
  steps.return(0);
  assertEquals(mem.load(C_RESIDUAL), 1);
  drive(departResidual(mem, owed));
  assertEquals(mem.load(C_RESIDUAL), 0);
  assertEquals(owed.departures, 0);
});

Deno.test("enterGuard() and leaveGuard() of a reclaimed handle change nothing", () => {
  const mem = memory();
  const zombie = register(mem);
  const healthy = register(mem);
  enterGuard(mem, zombie.word); // residual after the publish
  enterGuard(mem, healthy.word);
  assertEquals(publish(mem), 2);
  enterGuard(mem, zombie.word); // live on the new copy
  assertEquals(reclaim(mem, zombie.id), 1);
  assertEquals(mem.load(C_RESIDUAL), 1); // the healthy guard's
  const word = wordOf(mem, zombie);
  assertEquals(generationOf(word), zombie.word.generation + 1);
  assertEquals([guardsIn(word), residualIn(word)], [0, 0]);
  const healthyWord = wordOf(mem, healthy);

  // The zombie's thread runs on: leaves both guards, enters a new one.
  assertEquals(leaveGuard(mem, zombie.word, 0), RECLAIMED);
  assertEquals(leaveGuard(mem, zombie.word, 1), RECLAIMED);
  assertEquals(enterGuard(mem, zombie.word), RECLAIMED);
  assertEquals(zombie.word.departures, 0);
  drive(departResidual(mem, zombie.word)); // owes nothing
  assertEquals(wordOf(mem, zombie), word);
  assertEquals(wordOf(mem, healthy), healthyWord);
  assertEquals(mem.load(C_RESIDUAL), 1);
  // Its unregistration is refused too.
  assertEquals(drive(unregisterReader(mem, zombie.id, READER)).value, false);
  assertEquals(mem.load(C_RESIDUAL), 1);

  // The healthy guard is still waited for, and then not.
  assertEquals(leaveGuard(mem, healthy.word, 0), LEFT_RESIDUAL);
  drive(departResidual(mem, healthy.word));
  assertEquals(mem.load(C_RESIDUAL), 0);
});

Deno.test("registerReader() in a reclaimed slot keeps the moved-on generation, and the old handle cannot touch the new one", () => {
  const mem = memory(2);
  const zombie = register(mem, 2);
  enterGuard(mem, zombie.word);
  assertEquals(publish(mem), 1);
  assertEquals(reclaim(mem, zombie.id), 1);
  const fresh = register(mem, 2);
  assertEquals(fresh.slot, zombie.slot);
  assert(fresh.id !== zombie.id);
  assertEquals(fresh.word.refcount, zombie.word.refcount);
  assertEquals(fresh.word.generation, zombie.word.generation + 1);
  assertEquals(generationOf(wordOf(mem, fresh)), fresh.word.generation);

  // The new handle holds a guard that becomes residual.
  assertEquals(enterGuard(mem, fresh.word), 1);
  assertEquals(publish(mem), 1);
  assertEquals(mem.load(C_RESIDUAL), 1);
  const word = wordOf(mem, fresh);
  assertEquals([guardsIn(word), residualIn(word)], [1, 1]);

  // The zombie's late leave (on either copy) and enter do nothing to it.
  assertEquals(leaveGuard(mem, zombie.word, 0), RECLAIMED);
  assertEquals(leaveGuard(mem, zombie.word, 1), RECLAIMED);
  assertEquals(enterGuard(mem, zombie.word), RECLAIMED);
  assertEquals(wordOf(mem, fresh), word);
  assertEquals(mem.load(C_RESIDUAL), 1);
  assertEquals(reclaim(mem, zombie.id), -1); // the stale id
  assertEquals(drive(unregisterReader(mem, zombie.id, READER)).value, false);
  assertEquals(wordOf(mem, fresh), word);
  assertEquals(handlesOf(mem, READER), [fresh.id]);

  // The new handle goes on as usual.
  assertEquals(leaveGuard(mem, fresh.word, 1), LEFT_RESIDUAL);
  drive(departResidual(mem, fresh.word));
  assertEquals(mem.load(C_RESIDUAL), 0);
  assertEquals(enterGuard(mem, fresh.word), 0);
  assertEquals(leaveGuard(mem, fresh.word, 0), LEFT);
  assertEquals(drive(unregisterReader(mem, fresh.id, READER)).value, true);
});

Deno.test("reclaimReader() retires a slot before its generation comes round, so that no zombie of it can match again", () => {
  const mem = memory(2);
  const LAST_GENERATION = 2047; // the 11-bit generation's last value
  const first = register(mem, 2);
  assertEquals(first.slot, 0);
  enterGuard(mem, first.word); // a zombie that will try its luck at the end
  let reader = first;
  let reclaims = 0;
  while (reader.slot === 0 && reclaims < 2 * LAST_GENERATION) {
    reclaim(mem, reader.id);
    reclaims++;
    reader = register(mem, 2);
  }
  assertEquals(reclaims, LAST_GENERATION);
  assertEquals(reader.slot, 1); // slot 0 is never given out again
  const retired = mem.load(slotBase(0) + S_REFCOUNT);
  assertEquals(generationOf(retired), LAST_GENERATION);
  assertEquals([guardsIn(retired), residualIn(retired)], [0, 0]);
  assertEquals(drive(registerReader(mem, 2, READER)).value, null);
  // Every handle ever registered in slot 0 is inert, the first one too.
  assertEquals(enterGuard(mem, first.word), RECLAIMED);
  assertEquals(leaveGuard(mem, first.word, 0), RECLAIMED);
  assertEquals(mem.load(slotBase(0) + S_REFCOUNT), retired);
  assertEquals(reclaim(mem, first.id), -1);
  // The other slot still works.
  assertEquals(enterGuard(mem, reader.word), 0);
  assertEquals(leaveGuard(mem, reader.word, 0), LEFT);
  assertEquals(drive(unregisterReader(mem, reader.id, READER)).value, true);
  assertEquals(register(mem, 2).slot, 1);
});

Deno.test("reclaimReader() and unregisterReader() refuse a stale id of a slot that was reused", () => {
  const mem = memory(2);
  const old = register(mem, 2);
  assertEquals(drive(unregisterReader(mem, old.id, READER)).value, true);
  const reused = register(mem, 2);
  assertEquals(reused.slot, old.slot);
  enterGuard(mem, reused.word);
  publish(mem);
  const word = wordOf(mem, reused);
  assertEquals(reclaim(mem, old.id), -1);
  assertEquals(drive(unregisterReader(mem, old.id, READER)).value, false);
  assertEquals(wordOf(mem, reused), word);
  assertEquals(mem.load(C_RESIDUAL), 1);
  assertEquals(handlesOf(mem, READER), [reused.id]);
  // Ids that never were: another slot's, or one past the registrations.
  assertEquals(reclaim(mem, reused.id + ID_SLOTS), -1);
  assertEquals(reclaim(mem, 1), -1);
  assertEquals(handlesOf(mem, READER), [reused.id]);
});

Deno.test("unregisterReader() returns false, changing nothing, for a handle that was reclaimed", () => {
  const mem = memory();
  const reader = register(mem);
  assertEquals(reclaim(mem, reader.id), 0);
  const word = mem.load(slotBase(reader.slot) + S_REFCOUNT);
  assertEquals(drive(unregisterReader(mem, reader.id, READER)).value, false);
  assertEquals(mem.load(slotBase(reader.slot) + S_REFCOUNT), word);
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
  assertEquals(
    drive(reclaimReader(mem, last.id, WRITER, { departures: 0 })).value,
    -1,
  );
});

Deno.test("reclaimReader() retires a slot whose registration count has no next value", () => {
  const mem = memory(2);
  const base = slotBase(0);
  mem.store(base + S_REGISTRATIONS, 0xfffffffe | 0);
  const last = drive(registerReader(mem, 2, READER)).value!;
  assertEquals(
    drive(reclaimReader(mem, last.id, WRITER, { departures: 0 })).value,
    0,
  );
  assertEquals(mem.load(base + S_STATE), SLOT_RETIRED);
  assertEquals(drive(registerReader(mem, 2, READER)).value!.slot, 1);
});
