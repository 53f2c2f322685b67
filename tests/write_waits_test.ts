import { assert, assertEquals, assertInstanceOf } from "@std/assert";
import { codecs, create, DeadlockError, WaitTimeoutError } from "@x/flashmap";
import { CopySet, type CopyTables } from "../src/copies.ts";
import { AtomicsMemory } from "../src/memory.ts";
import { type Step, WaitTimedOut } from "../src/protocol.ts";
import { observeWaits, timedOut } from "../src/write_waits.ts";

/** A generator that waits `waits` times (yields a step), then returns 7. */
function* waiting(waits: number): Generator<Step, number> {
  for (let i = 0; i < waits; i++) {
    yield undefined; // a check, not a wait
    yield { index: 0, expected: 0 };
  }
  return 7;
}

Deno.test("observeWaits() calls beforeWait before each wait, first only once, and afterWait once with the time", () => {
  const seen: boolean[] = [];
  const spent: number[] = [];
  const steps = observeWaits(
    waiting(3),
    (first) => seen.push(first),
    (ms) => spent.push(ms),
  );
  let next = steps.next();
  let yielded = 0;
  while (!next.done && yielded < 100) {
    yielded++;
    next = steps.next();
  }
  assertEquals(next.value, 7);
  assertEquals(seen, [true, false, false]);
  assertEquals(spent.length, 1);
  assert(spent[0] >= 0);
});

Deno.test("observeWaits() reports no time when nothing waited, and ends the inner steps when it is ended early", () => {
  const spent: number[] = [];
  let ended = false;
  function* inner(): Generator<Step, number> {
    try {
      yield { index: 0, expected: 0 };
      return 1;
    } finally {
      ended = true;
    }
  }
  const none = observeWaits(waiting(0), () => {}, (ms) => spent.push(ms));
  assertEquals(none.next(), { done: true, value: 7 });
  assertEquals(spent, []);
  const early = observeWaits(inner(), () => {}, (ms) => spent.push(ms));
  early.next();
  early.return(0);
  assert(ended);
  assertEquals(spent.length, 1);
});

Deno.test("timedOut() passes other errors through and names maxCopies when every copy is taken", () => {
  const tables: CopyTables = {
    replay() {},
    clone: () => true,
    untrack() {},
    destroy() {},
  };
  const [, read] = create({ key: codecs.int32, value: codecs.int32 });
  const context = {
    control: new AtomicsMemory(
      new Int32Array(new SharedArrayBuffer(64 * 1024)),
    ),
  } as unknown as Parameters<typeof timedOut>[0];
  const copies = new CopySet(
    new AtomicsMemory(new Int32Array(new SharedArrayBuffer(64 * 1024))),
    tables,
    2,
    0,
    1,
  );
  const other = new TypeError("not a timeout");
  assertEquals(
    timedOut(context, copies, other, "open a write guard", 5, 1),
    other,
  );
  const error = timedOut(
    context,
    copies,
    new WaitTimedOut(0),
    "open a write guard",
    5,
    1024,
  );
  assertInstanceOf(error, WaitTimeoutError);
  assertEquals((error as WaitTimeoutError).readers, []);
  assert((error as Error).message.startsWith("Cannot open a write guard: "));
  assert((error as Error).message.includes("after 5 ms"));
  assert((error as Error).message.includes("(maxCopies) are taken"));
  read.close();
});

Deno.test("refuseDeadlock() is reached through a blocking guard() that only this thread's guards could unblock", () => {
  const [write, read] = create({
    key: codecs.int32,
    value: codecs.int32,
    maxCopies: 2,
  });
  const held = read.guard();
  write.update((guard) => guard.insert(1, 1));
  let thrown: unknown;
  try {
    write.guard({ timeoutMs: 1000 });
  } catch (error) {
    thrown = error;
  }
  assertInstanceOf(thrown, DeadlockError);
  held.release();
  write.update((guard) => guard.insert(2, 2));
  assertEquals(read.get(2), 2);
});
