import { assert, assertEquals } from "@std/assert";
import {
  C_RESIDUAL,
  C_WRITER_PARKED,
  heapStart,
  S_REFCOUNT,
  slotBase,
} from "../src/layout.ts";
import { AtomicsMemory } from "../src/memory.ts";
import {
  awaitResidualReaders,
  departResidual,
  enterGuard,
  leaveGuard,
  lockRegistry,
  publishCopy,
  reclaimReader,
  registerReader,
  residualSlots,
  runBlocking,
  type Step,
  unlockRegistry,
  unregisterReader,
} from "../src/protocol.ts";

function memory(maxReaders = 4): AtomicsMemory {
  return new AtomicsMemory(
    new Int32Array(new SharedArrayBuffer(heapStart(maxReaders) * 4)),
  );
}

/** Runs a generator without waiting; returns its result and the waits it asked for. */
function drive<T>(steps: Generator<Step, T>): { value: T; waits: number } {
  let waits = 0;
  for (;;) {
    const next = steps.next();
    if (next.done) return { value: next.value, waits };
    if (next.value !== undefined) waits++;
  }
}

Deno.test("enterGuard() reports the handle's copy and leaveGuard() spots a flip", () => {
  const mem = memory();
  const slot = drive(registerReader(mem, 4, 0)).value;
  const refcount = slotBase(slot) + S_REFCOUNT;
  assertEquals(enterGuard(mem, refcount), 0);
  assertEquals(leaveGuard(mem, refcount, 0), false);
  assertEquals(enterGuard(mem, refcount), 0);
  assertEquals(drive(publishCopy(mem)).value, 1); // one guard became residual
  assertEquals(mem.load(C_RESIDUAL), 1);
  assertEquals(enterGuard(mem, refcount), 1); // a new guard reads the new copy
  assertEquals(leaveGuard(mem, refcount, 1), false);
  assertEquals(leaveGuard(mem, refcount, 0), true); // the residual one
  drive(departResidual(mem, refcount));
  assertEquals(mem.load(C_RESIDUAL), 0);
});

Deno.test("publishCopy() counts the residual guards of every handle", () => {
  const mem = memory();
  const slots = [0, 1, 2].map(() => drive(registerReader(mem, 4, 0)).value);
  assertEquals(slots, [0, 1, 2]);
  enterGuard(mem, slotBase(0));
  enterGuard(mem, slotBase(0));
  enterGuard(mem, slotBase(2));
  assertEquals(drive(publishCopy(mem)).value, 3);
  assertEquals(mem.load(C_RESIDUAL), 3);
});

Deno.test("departResidual() lets a residual count below zero settle at the writer's add", () => {
  const mem = memory();
  const refcount = slotBase(drive(registerReader(mem, 4, 0)).value);
  // A residual guard leaves before the writer has added its count.
  drive(departResidual(mem, refcount));
  assertEquals(mem.load(C_RESIDUAL), -1);
  mem.add(C_RESIDUAL, 1);
  assertEquals(mem.load(C_RESIDUAL), 0);
  assertEquals(drive(awaitResidualReaders(mem)).waits, 0);
});

Deno.test("awaitResidualReaders() parks on the residual count and clears the flag", () => {
  const mem = memory();
  mem.store(C_RESIDUAL, 2);
  const wait = awaitResidualReaders(mem);
  let step = wait.next();
  while (!step.done && step.value === undefined) step = wait.next();
  assertEquals(step.value, { index: C_RESIDUAL, expected: 2 });
  assertEquals(mem.load(C_WRITER_PARKED), 1);
  mem.store(C_RESIDUAL, 0);
  while (!step.done) step = wait.next();
  assertEquals(mem.load(C_WRITER_PARKED), 0);
});

Deno.test("registerReader() refuses past maxReaders and reuses freed slots", () => {
  const mem = memory(2);
  assertEquals(drive(registerReader(mem, 2, 0)).value, 0);
  assertEquals(drive(registerReader(mem, 2, 0)).value, 1);
  assertEquals(drive(registerReader(mem, 2, 0)).value, -1);
  drive(unregisterReader(mem, 0));
  assertEquals(drive(registerReader(mem, 2, 0)).value, 0);
});

Deno.test("registerReader() starts a handle on the current copy", () => {
  const mem = memory();
  drive(registerReader(mem, 4, 0));
  drive(publishCopy(mem));
  const slot = drive(registerReader(mem, 4, 0)).value;
  assertEquals(enterGuard(mem, slotBase(slot)), 1);
});

Deno.test("lockRegistry() asks to wait while another holder has the lock", () => {
  const mem = memory();
  drive(lockRegistry(mem));
  const second = lockRegistry(mem);
  let step = second.next();
  while (!step.done && step.value === undefined) step = second.next();
  assert(!step.done, "the second locker must wait");
  drive(unlockRegistry(mem)); // contended: resets and notifies
  while (!step.done) step = second.next();
  drive(unlockRegistry(mem));
  assertEquals(drive(lockRegistry(mem)).waits, 0);
});

Deno.test("runBlocking() drives a generator to its result", () => {
  const mem = memory();
  assertEquals(runBlocking(mem, registerReader(mem, 4, 0)), 0);
});

Deno.test("reclaimReader() counts off a dead handle's residual guards and frees its slot", () => {
  const mem = memory(2);
  const dead = drive(registerReader(mem, 2, 0)).value;
  const live = drive(registerReader(mem, 2, 0)).value;
  enterGuard(mem, slotBase(dead));
  enterGuard(mem, slotBase(dead));
  enterGuard(mem, slotBase(live));
  assertEquals(drive(publishCopy(mem)).value, 3);
  assertEquals(residualSlots(mem), [dead, live]);
  assertEquals(drive(reclaimReader(mem, dead)).value, 2);
  assertEquals(mem.load(C_RESIDUAL), 1);
  assertEquals(residualSlots(mem), [live]);
  assertEquals(leaveGuard(mem, slotBase(live), 0), true);
  drive(departResidual(mem, slotBase(live)));
  assertEquals(mem.load(C_RESIDUAL), 0);
  assertEquals(drive(reclaimReader(mem, dead)).value, -1); // already free
  assertEquals(drive(registerReader(mem, 2, 0)).value, dead);
});
