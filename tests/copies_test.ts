/**
 * Spare copies (src/copies.ts): a read guard held for long pins the memory
 * of its version, never the writer. The writer replays a retired copy that
 * no guard reads, copies the index into a new copy when guards hold them
 * all, and waits only once `maxCopies` copies exist; entries and copies are
 * freed once nothing reaches them.
 *
 * The first tests drive `CopySet` directly, with fake tables and the real
 * reader protocol on `Atomics`; the rest go through the public API, with
 * workers where a guard must belong to another thread.
 *
 * @module
 */

import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertThrows,
} from "@std/assert";
import fc from "fast-check";
import {
  Builder,
  codecs,
  create,
  DeadlockError,
  type ReadGuard,
  type ReadHandle,
  WaitTimeoutError,
  type WriteHandle,
  type WriteStats,
} from "@x/flashmap";
import { CopySet, type CopyTables } from "../src/copies.ts";
import {
  C_DEPARTURES,
  C_WRITER_PARKED,
  H_CURRENT_COPY,
  heapStart,
} from "../src/layout.ts";
import { AtomicsMemory } from "../src/memory.ts";
import {
  enterGuard,
  leaveGuard,
  leaveResidual,
  LEFT,
  LEFT_RESIDUAL,
  publishCopy,
  registerReader,
  type Registration,
  RESIDUAL_GUARD,
  runBlocking,
  type Step,
  type WaitRequest,
} from "../src/protocol.ts";
import { random, TestWorker, type WorkerReply } from "./utils.ts";

// ------------------------------------------------------------ CopySet alone

/** A CopySet over the real reader protocol, with tables that only log. */
class Harness {
  static readonly READERS = 4;
  readonly memory = new AtomicsMemory(
    new Int32Array(new SharedArrayBuffer(heapStart(Harness.READERS) * 4)),
  );
  readonly calls: string[] = [];
  /** Whether `clone` finds room. */
  room = true;
  now = 0;
  readonly set: CopySet;

  constructor(maxCopies: number) {
    const calls = this.calls;
    const tables: CopyTables = {
      replay: (copy, from) => void calls.push(`replay ${copy} from ${from}`),
      clone: (copy) => {
        calls.push(`clone ${copy}${this.room ? "" : " (no room)"}`);
        return this.room;
      },
      untrack: (copy, from) => void calls.push(`untrack ${copy} from ${from}`),
      destroy: (copy) => void calls.push(`destroy ${copy}`),
    };
    this.set = new CopySet(
      this.memory,
      tables,
      maxCopies,
      0,
      1,
      () => this.now,
    );
  }

  /** A read handle registered in the simulated registry. */
  reader(): Registration {
    const registration = runBlocking(
      this.memory,
      registerReader(this.memory, Harness.READERS, 1),
    );
    assert(registration !== null);
    return registration;
  }

  /** Enters a guard on `reader`: returns the copy it reads. */
  enter(reader: Registration): number {
    const copy = enterGuard(this.memory, reader.word);
    assert(copy >= 0);
    return copy;
  }

  leave(reader: Registration, copy: number): number {
    const result = leaveGuard(this.memory, reader.word, copy);
    if (result !== RESIDUAL_GUARD) return result;
    return leaveResidual(this.memory, reader.word, copy);
  }

  /**
   * Runs `prepare` until it returns or asks to wait. Returns the write
   * copy, or the wait request.
   */
  prepare(): number | WaitRequest {
    this.#pending ??= this.set.prepare();
    for (;;) {
      const next = this.#pending.next();
      if (next.done) {
        this.#pending = null;
        return next.value;
      }
      if (next.value !== undefined) return next.value;
    }
  }
  #pending: Generator<Step, number> | null = null;

  /**
   * Publishes the write copy, as the writer does. Returns what `published()`
   * returns: the next write copy, replayed at once, or -1 when every
   * retired copy is pinned.
   */
  publish(): number {
    const target = this.set.write;
    assert(target >= 0, "no write copy to publish");
    runBlocking(this.memory, publishCopy(this.memory, 1, target));
    return this.set.published();
  }

  /** Prepares (expecting no wait), then publishes. */
  cycle(): number {
    const copy = this.prepare();
    assertEquals(typeof copy, "number");
    this.publish();
    return copy as number;
  }

  /** Every copy's role and version, for whole-state assertions. */
  roles(): string[] {
    const roles: string[] = [];
    for (let copy = 0; copy < this.set.maxCopies; copy++) {
      const role = this.set.role(copy);
      if (role !== "absent") {
        roles.push(`${copy}:${role}@${this.set.versionOf(copy)}`);
      }
    }
    return roles;
  }

  /** The calls made since the last take, then forgets them. */
  take(): string[] {
    return this.calls.splice(0);
  }
}

Deno.test("CopySet starts with copy 0 current and copy 1 written, both at version 0, settled", () => {
  const h = new Harness(4);
  assertEquals(h.roles(), ["0:current@0", "1:writing@0"]);
  assertEquals([h.set.current, h.set.write, h.set.count], [0, 1, 2]);
  assertEquals([h.set.tracking, h.set.settled, h.set.version], [2, true, 0]);
  assertEquals(h.prepare(), 1); // nothing to do
  assertEquals(h.take(), []);
  assertEquals([h.set.replays, h.set.clones], [0, 0]);
});

Deno.test("CopySet replays a retired copy no guard reads, clones while guards read it, then replays the newest free copy and lets the older one go", () => {
  const h = new Harness(4);
  const [a, b] = [h.reader(), h.reader()];
  h.now = 10;
  // Version 1 on copy 1: copy 0, retired with no guard on it, is replayed
  // at once and is the next write copy.
  assertEquals(h.publish(), 0);
  assertEquals(h.take(), ["replay 0 from 0"]);
  assertEquals(h.roles(), ["0:writing@1", "1:current@1"]);
  assertEquals([h.set.write, h.set.settled, h.set.replays], [0, true, 1]);
  assertEquals(h.set.retired(), []);
  assertEquals(h.prepare(), 0); // nothing left to do
  assertEquals(h.take(), []);
  assertEquals(h.publish(), 1); // version 2 on copy 0; copy 1 replayed
  assertEquals(h.take(), ["replay 1 from 1"]);

  // A guard on version 2 (copy 0), held across the next publish.
  assertEquals(h.enter(a), 0);
  h.now = 20;
  assertEquals(h.publish(), -1); // version 3 on copy 1; copy 0 is pinned
  assertEquals(h.take(), []);
  assertEquals(h.roles(), ["0:kept@2", "1:current@3"]);
  assertEquals([h.set.write, h.set.settled, h.set.retiredAt(0)], [
    -1,
    false,
    20, // found pinned by the publish itself
  ]);
  h.now = 30;
  assertEquals(h.prepare(), 2); // copy 0 is pinned: a new copy
  assertEquals(h.take(), ["clone 2"]);
  assertEquals(h.set.retiredAt(0), 20); // taken once
  assertEquals(h.roles(), ["0:kept@2", "1:current@3", "2:writing@3"]);
  assertEquals([h.set.count, h.set.tracking], [3, 3]);
  // Version 4 on copy 2: copy 1 is free, copy 0 still pinned.
  assertEquals(h.publish(), 1);
  assertEquals(h.take(), ["replay 1 from 3"]);
  assertEquals(h.roles(), ["0:kept@2", "1:writing@4", "2:current@4"]);
  // A guard on version 4 (copy 2), held across the next publish too.
  assertEquals(h.enter(b), 2);
  assertEquals(h.publish(), -1); // version 5 on copy 1
  assertEquals(h.take(), []);
  assertEquals(h.set.retired(), [0, 2]); // oldest version first
  assertEquals(h.set.oldestKept(), 2);

  // Both guards leave: copy 0 (version 2) and copy 2 (version 4) are free.
  assertEquals(h.leave(a, 0), LEFT_RESIDUAL);
  assertEquals(h.leave(b, 2), LEFT_RESIDUAL);
  assertEquals(h.prepare(), 2); // the newest free copy: fewest logs
  assertEquals(h.take(), ["untrack 0 from 2", "destroy 0", "replay 2 from 4"]);
  assertEquals(h.roles(), ["1:current@5", "2:writing@5"]);
  assertEquals([h.set.count, h.set.tracking, h.set.settled], [2, 2, true]);
  assertEquals([h.set.replays, h.set.clones], [4, 1]);

  // The same at a publish: the copy just retired is newer than a kept copy
  // that came free meanwhile, which is let go.
  assertEquals(h.enter(a), 1); // version 5
  assertEquals(h.publish(), -1); // version 6 on copy 2; copy 1 pinned
  assertEquals(h.prepare(), 0); // a new copy
  assertEquals(h.leave(a, 1), LEFT_RESIDUAL);
  assertEquals(h.publish(), 2); // version 7 on copy 0
  assertEquals(h.take(), [
    "clone 0",
    "untrack 1 from 5",
    "destroy 1",
    "replay 2 from 6",
  ]);
  assertEquals(h.roles(), ["0:current@7", "2:writing@7"]);
  assertEquals([h.set.count, h.set.tracking, h.set.settled], [2, 2, true]);
  assertEquals([h.set.replays, h.set.clones], [5, 2]);
});

Deno.test("CopySet replays a freed spare copy across every log since its version", () => {
  const h = new Harness(6);
  const [a, b, c] = [h.reader(), h.reader(), h.reader()];
  h.publish(); // version 1 on copy 1
  h.enter(a); // version 1
  h.cycle(); // replay 0; version 2 on copy 0
  h.enter(b); // version 2
  assertEquals(h.cycle(), 2); // clone 2; version 3 on copy 2
  h.enter(c); // version 3
  assertEquals(h.cycle(), 3); // clone 3; version 4 on copy 3
  assertEquals(h.take(), ["replay 0 from 0", "clone 2", "clone 3"]);
  // Copy 1 (version 1) comes free while 0 and 2 stay pinned.
  assertEquals(h.leave(a, 1), LEFT_RESIDUAL);
  assertEquals(h.prepare(), 1);
  assertEquals(h.take(), ["replay 1 from 1"]);
  assertEquals(h.roles(), [
    "0:kept@2",
    "1:writing@4",
    "2:kept@3",
    "3:current@4",
  ]);
  assertEquals([h.set.replays, h.set.clones], [2, 2]);
  assertEquals(h.leave(b, 0), LEFT_RESIDUAL);
  assertEquals(h.leave(c, 2), LEFT_RESIDUAL);
});

Deno.test("CopySet waits only when maxCopies copies exist and guards read every retired one", () => {
  const h = new Harness(3);
  const [a, b] = [h.reader(), h.reader()];
  h.publish(); // version 1 on copy 1
  h.enter(a); // version 1 on copy 1
  h.cycle(); // replay 0; version 2 on copy 0
  h.enter(b); // version 2 on copy 0
  assertEquals(h.prepare(), 2); // clone: the third and last copy
  h.publish(); // version 3 on copy 2
  h.take();
  const request = h.prepare();
  assertEquals(request, {
    index: C_DEPARTURES,
    expected: h.memory.load(C_DEPARTURES),
  });
  assertEquals(h.take(), []); // no fourth copy
  assertEquals(h.memory.load(C_WRITER_PARKED), 1);
  assertEquals(h.set.write, -1);

  // The newer version comes free: the wait ends, and it is replayed.
  assertEquals(h.leave(b, 0), LEFT_RESIDUAL);
  assertEquals(h.prepare(), 0);
  assertEquals(h.take(), ["replay 0 from 2"]);
  assertEquals(h.memory.load(C_WRITER_PARKED), 0);
  assertEquals([h.set.clones, h.set.count], [1, 3]);
  assertEquals(h.leave(a, 1), LEFT_RESIDUAL);
});

Deno.test("CopySet waits for a retired copy when the buffer has no room for a new one", () => {
  const h = new Harness(8);
  const a = h.reader();
  h.publish();
  h.enter(a); // version 1 on copy 1
  h.cycle(); // version 2 on copy 0
  h.take();
  h.room = false;
  const request = h.prepare();
  assert(typeof request === "object");
  assertEquals(h.take(), ["clone 2 (no room)"]);
  assertEquals(h.set.count, 2);
  assertEquals(h.leave(a, 1), LEFT_RESIDUAL);
  assertEquals(h.prepare(), 1);
  assertEquals(h.take(), ["replay 1 from 1"]);
});

Deno.test("CopySet never replays an abandoned copy: it is destroyed once free", () => {
  const h = new Harness(4);
  const a = h.reader();
  h.publish(); // version 1 on copy 1
  h.enter(a);
  h.cycle(); // replay 0; version 2 on copy 0
  h.take();
  h.set.abandon(1); // as when the logs grew past their budget
  assertEquals(h.take(), ["untrack 1 from 1"]);
  assertEquals([h.set.role(1), h.set.tracking], ["abandoned", 1]);
  h.set.abandon(1); // twice: nothing more
  h.set.abandon(0); // not retired: nothing
  assertEquals(h.take(), []);
  assertEquals(h.set.oldestKept(), 2); // no kept copy: the current version
  assertEquals(h.leave(a, 1), LEFT_RESIDUAL);
  assertEquals(h.prepare(), 1); // free, but abandoned: destroyed, then cloned
  assertEquals(h.take(), ["destroy 1", "clone 1"]);
  assertEquals([h.set.replays, h.set.clones], [1, 1]);

  // abandonAll: every kept copy, each untracked once.
  h.publish(); // version 3 on copy 1; copy 0 kept
  h.enter(a);
  assertEquals(h.prepare(), 0);
  h.publish(); // version 4 on copy 0; copy 1 kept (pinned)
  h.take();
  h.set.abandonAll();
  assertEquals(h.take(), ["untrack 1 from 3"]);
  assertEquals(h.leave(a, 1), LEFT_RESIDUAL);
});

Deno.test("CopySet lets a free retired copy go at once when a write copy is ready", () => {
  const h = new Harness(4);
  const a = h.reader();
  h.publish();
  h.enter(a); // version 1 on copy 1
  h.cycle(); // version 2 on copy 0
  h.prepare(); // clone 2 (copy 1 pinned)
  h.take();
  assertEquals(h.leave(a, 1), LEFT_RESIDUAL);
  assertEquals(h.set.settled, false); // copy 1 is still retired
  assertEquals(h.prepare(), 2);
  assertEquals(h.take(), ["untrack 1 from 1", "destroy 1"]);
  assertEquals([h.set.settled, h.set.count], [true, 2]);
  // A guard that leaves before any publish is not residual.
  h.enter(a);
  assertEquals(h.leave(a, 0), LEFT);
  assertEquals(h.memory.load(H_CURRENT_COPY), 0);
});

// ------------------------------------------------------------ public API

type IntWrite = WriteHandle<number, number>;
type IntRead = ReadHandle<number, number>;
type IntGuard = ReadGuard<number, number>;
type Model = Map<number, number>;

/** A map of int32 keys and values, seeded for repeatable layouts. */
/**
 * An int32 map with room for the keys these tests use (below 1,000), so
 * that its copies are replayed and copied, never grown, unless a test says.
 */
function intMap(maxCopies?: number, capacity = 1024): [IntWrite, IntRead] {
  return create({
    key: codecs.int32,
    value: codecs.int32,
    seed: 20261126,
    capacity,
    ...(maxCopies === undefined ? {} : { maxCopies }),
  });
}

/** The entries of a guard, or of a model, sorted by key. */
function contents(source: IntGuard | Model): [number, number][] {
  return [...source].sort(([a], [b]) => a - b);
}

/** Inserts keys `from` to `to - 1` (value: the key) in one publish. */
function fill(write: IntWrite, model: Model, from: number, to: number): void {
  using guard = write.guard();
  for (let key = from; key < to; key++) {
    guard.insert(key, key);
    model.set(key, key);
  }
}

/** One publish of `ops` random inserts, removals and replaces over `keys` keys. */
function churn(
  write: IntWrite,
  model: Model,
  next: () => number,
  ops: number,
  keys: number,
): void {
  using guard = write.guard();
  for (let i = 0; i < ops; i++) {
    const key = Math.floor(next() * keys);
    const roll = next();
    if (roll < 0.5) {
      const value = Math.floor(next() * 1_000_000);
      guard.insert(key, value);
      model.set(key, value);
    } else if (roll < 0.75) {
      guard.remove(key);
      model.delete(key);
    } else {
      guard.replace(key, (old) => old + 1);
      if (model.has(key)) model.set(key, model.get(key)! + 1);
    }
  }
}

/** `stats().pinned` as `[version, readers]` pairs, readers sorted. */
function pinnedOf(stats: WriteStats): [number, number[]][] {
  return stats.pinned.map((
    pin,
  ) => [pin.version, [...pin.readers].sort((a, b) => a - b)]);
}

/** Opens and publishes a write guard that changes nothing. */
function emptyGuard(write: IntWrite): void {
  using _guard = write.guard();
}

Deno.test("copies: one read guard held across 60 publishes: the writer never waits, the guard reads its version whole, new guards the newest", () => {
  const [write, read] = intMap();
  const model: Model = new Map();
  const next = random(1);
  fill(write, model, 0, 300);
  const held = read.guard();
  const heldVersion = write.stats().version;
  const heldContents = contents(model);
  for (let i = 0; i < 60; i++) {
    churn(write, model, next, 20, 400);
    assertEquals(contents(held), heldContents);
    {
      using fresh = read.guard();
      assertEquals(contents(fresh), contents(model));
    }
    const stats = write.stats();
    assertEquals(stats.version, heldVersion + i + 1);
    assertEquals(stats.waits, 0);
    // The current copy, the pinned one, and the write copy: the one retired
    // last, free, replayed at once by the publish. The first publish
    // retired the pinned copy: no write copy until the next guard makes one.
    assertEquals(stats.copies, i === 0 ? 2 : 3);
    // The first guard after the pin copied the index; every publish but the
    // one that retired the pinned copy replayed the copy it retired (the
    // fill's publish too).
    assertEquals([stats.clones, stats.replays], [
      i === 0 ? 0 : 1,
      i === 0 ? 1 : i + 1,
    ]);
    assertEquals(pinnedOf(stats), [[heldVersion, [read.id]]]);
    const { heldMs } = stats.pinned[0];
    assert(typeof heldMs === "number" && Number.isFinite(heldMs));
    assert(heldMs >= 0);
  }
  const before = write.stats();
  assertEquals([before.clones, before.replays], [1, 60]);

  held.release();
  assertEquals(write.stats().pinned, []); // read without waiting for the writer
  assertEquals(write.stats().copies, 3); // freed at the next write guard
  emptyGuard(write);
  const after = write.stats();
  assertEquals([after.copies, after.pinned, after.waits], [2, [], 0]);
  // The write copy was ready: the freed copy is let go, not replayed.
  assertEquals([after.clones, after.replays], [1, 60]);
  using fresh = read.guard();
  assertEquals(contents(fresh), contents(model));
});

Deno.test("copies: two, then three versions pinned at once by several handles; every guard keeps its version; all freed after release", () => {
  const [write, read] = intMap();
  const second = read.clone();
  const third = read.clone();
  const model: Model = new Map();
  const next = random(2);
  const held: [IntGuard, [number, number][]][] = [];
  const hold = (handle: IntRead) => {
    const guard = handle.guard();
    held.push([guard, contents(model)]);
    return guard;
  };
  const checkHeld = () => {
    for (const [guard, expected] of held) {
      if (!guard.released) assertEquals(contents(guard), expected);
    }
  };

  fill(write, model, 0, 200); // version 1
  const g1 = hold(read);
  churn(write, model, next, 30, 300); // version 2
  const g2 = hold(second);
  churn(write, model, next, 30, 300); // version 3
  write.synchronize();
  checkHeld();
  let stats = write.stats();
  assertEquals(pinnedOf(stats), [[1, [read.id]], [2, [second.id]]]);
  assertEquals(stats.copies, 4);

  const g3 = hold(third);
  const g3b = hold(read); // the same handle pins two versions
  churn(write, model, next, 30, 300); // version 4
  write.synchronize();
  checkHeld();
  stats = write.stats();
  assertEquals(pinnedOf(stats), [
    [1, [read.id]],
    [2, [second.id]],
    [3, [read.id, third.id].sort((a, b) => a - b)],
  ]);
  assertEquals([stats.copies, stats.waits], [5, 0]);

  // Release out of order, publishing in between.
  g2.release();
  churn(write, model, next, 30, 300); // version 5
  write.synchronize();
  checkHeld();
  stats = write.stats();
  assertEquals(pinnedOf(stats), [
    [1, [read.id]],
    [3, [read.id, third.id].sort((a, b) => a - b)],
  ]);
  assertEquals(stats.copies, 4);
  g1.release();
  g3.release();
  write.synchronize();
  stats = write.stats();
  assertEquals([pinnedOf(stats), stats.copies], [[[3, [read.id]]], 3]);
  checkHeld();
  g3b.release();
  write.synchronize();
  stats = write.stats();
  assertEquals([stats.pinned, stats.copies, stats.waits], [[], 2, 0]);
  churn(write, model, next, 30, 300);
  for (const handle of [read, second, third]) {
    using guard = handle.guard();
    assertEquals(contents(guard), contents(model));
  }
});

Deno.test("copies: a freed spare copy is reused by replay; a new copy is made only while every retired copy is pinned", () => {
  const [write, read] = intMap();
  const handles = [read, read.clone(), read.clone(), read.clone()];
  const model: Model = new Map();
  const next = random(3);
  const counts = () => {
    const stats = write.stats();
    return [stats.clones, stats.replays];
  };
  // Version 1: the first guard needs no work; the publish finds the copy it
  // retired free and replays it at once.
  fill(write, model, 0, 100);
  assertEquals([...counts(), write.stats().copies], [0, 1, 2]);
  write.synchronize(); // nothing left to do
  assertEquals(counts(), [0, 1]);

  const g1 = handles[0].guard(); // version 1
  churn(write, model, next, 10, 150); // version 2: version 1 pinned
  assertEquals([...counts(), write.stats().copies], [0, 1, 2]);
  write.synchronize(); // no free retired copy: clone
  assertEquals([...counts(), write.stats().copies], [1, 1, 3]);
  churn(write, model, next, 10, 150); // version 3: version 2 free, replayed
  assertEquals(counts(), [1, 2]);
  write.synchronize(); // nothing left to do
  assertEquals(counts(), [1, 2]);
  const g3 = handles[1].guard(); // version 3
  churn(write, model, next, 10, 150); // version 4
  write.synchronize(); // versions 1 and 3 pinned: clone
  assertEquals([...counts(), write.stats().copies], [2, 2, 4]);
  const g4 = handles[2].guard(); // version 4
  churn(write, model, next, 10, 150); // version 5
  const v5 = contents(model);
  const g5 = handles[3].guard(); // version 5: every retired copy will be pinned
  churn(write, model, next, 10, 150); // version 6
  // The guard of version 6 found 1, 3 and 4 pinned: a new copy.
  assertEquals([...counts(), write.stats().copies], [3, 2, 5]);

  // Version 1's copy comes free before the next write guard prepares its
  // copy: it replays the five logs since rather than copying, though more
  // copies would fit.
  g1.release();
  const g6 = handles[0].guard(); // version 6: pins the current copy too
  churn(write, model, next, 10, 150); // version 7
  assertEquals([...counts(), write.stats().copies], [3, 3, 5]);
  assertEquals(
    write.stats().pinned.map((pin) => pin.version),
    [3, 4, 5, 6],
  );
  write.synchronize(); // every retired copy pinned again: a new copy
  assertEquals([...counts(), write.stats().copies], [4, 3, 6]);
  assertEquals(contents(g5), v5);
  // Version 8, written on the new copy: the reused copy, retired free, is
  // replayed at once.
  churn(write, model, next, 10, 150);
  assertEquals([...counts(), write.stats().copies], [4, 4, 6]);
  {
    using fresh = read.guard();
    assertEquals(contents(fresh), contents(model));
  }
  assertEquals(contents(g5), v5);
  for (const guard of [g3, g4, g5, g6]) guard.release();
  write.synchronize();
  const stats = write.stats();
  assertEquals([stats.copies, stats.pinned, stats.waits], [2, [], 0]);
});

Deno.test("copies: a pinned copy whose logs outgrow the budget is abandoned, then freed rather than replayed", () => {
  const [write, read] = intMap();
  const second = read.clone();
  const third = read.clone();
  const model: Model = new Map();
  fill(write, model, 0, 100); // version 1
  const v1 = contents(model);
  const g1 = read.guard();
  // Version 2: 5,000 operations, more than the logs keep for a pinned copy
  // (64, or a quarter of the table's slots).
  {
    using guard = write.guard();
    for (let round = 0; round < 50; round++) {
      for (let key = 0; key < 100; key++) {
        guard.insert(key, round);
        model.set(key, round);
      }
    }
  }
  const v2 = contents(model);
  const g2 = second.guard();
  // Too many logs for version 1's copy: abandoned at once, never to be
  // replayed, and the logs go with it.
  assertEquals(write.stats().loggedOperations, 0);
  // Version 3: version 2's copy is pinned and kept, with a few logs.
  churn(write, model, random(4), 10, 100);
  const logged = write.stats().loggedOperations;
  assert(logged > 0 && logged <= 64, `${logged} operations logged`);
  let stats = write.stats();
  assertEquals(pinnedOf(stats), [[1, [read.id]], [2, [second.id]]]);
  assertEquals(contents(g1), v1);
  const [clones, replays] = [stats.clones, stats.replays];
  g1.release();
  const g3 = third.guard(); // version 3 (current)
  // Version 1's copy is the only retired copy no guard reads, but it is
  // abandoned: it is freed, and the write copy is a new one.
  write.synchronize();
  stats = write.stats();
  assertEquals([stats.clones, stats.replays], [clones + 1, replays]);
  assertEquals([pinnedOf(stats), stats.copies], [[[2, [second.id]]], 3]);
  churn(write, model, random(5), 10, 100); // version 4
  assertEquals(contents(g2), v2);
  stats = write.stats();
  assertEquals(pinnedOf(stats), [[2, [second.id]], [3, [third.id]]]);
  g2.release();
  g3.release();
  write.synchronize();
  stats = write.stats();
  assertEquals([stats.copies, stats.pinned, stats.waits], [2, [], 0]);
  using fresh = read.guard();
  assertEquals(contents(fresh), contents(model));
});

Deno.test("copies: a guard pinned across growth of the tables keeps its version; the memory comes back", () => {
  const [write, read] = intMap();
  const model: Model = new Map();
  fill(write, model, 0, 10);
  const held = read.guard();
  const small = contents(model);
  for (let from = 10; from < 5000; from += 500) {
    fill(write, model, from, from + 500);
    assertEquals(contents(held), small);
  }
  assertEquals(write.stats().waits, 0);
  held.release();
  emptyGuard(write);
  const pinned = write.stats();
  assertEquals([pinned.copies, pinned.pinned], [2, []]);

  // The same writes with no guard held use the same memory.
  const [plain] = intMap();
  fill(plain, new Map(), 0, 10);
  for (let from = 10; from < 5000; from += 500) {
    fill(plain, new Map(), from, from + 500);
  }
  emptyGuard(plain);
  assertEquals(pinned.bytesInUse, plain.stats().bytesInUse);
});

// ------------------------------------------------------------ workers

const PIN_WORKER = new URL("./workers/pin_worker.ts", import.meta.url);

/** A pin worker attached to the map of `read`: its first handle is 0. */
async function pinWorker(
  read: IntRead,
): Promise<{ worker: TestWorker; id: number }> {
  const worker = new TestWorker(PIN_WORKER);
  await worker.next("ready");
  const reply = await worker.request(
    { type: "attach", token: read.share() } as { type: string },
  );
  assertEquals(reply.error, undefined);
  return { worker, id: reply.id as number };
}

/** Sends a request to a pin worker; fails on an error reply. */
async function ask(
  worker: TestWorker,
  request: { type: string; [field: string]: unknown },
): Promise<WorkerReply> {
  const reply = await worker.request(request);
  assertEquals(reply.error, undefined);
  return reply;
}

Deno.test("copies: at maxCopies with guards of another thread on every retired copy, guard({ timeoutMs }) throws a WaitTimeoutError naming them, oldest version first, and guardAsync() resumes once one leaves", async () => {
  const [write, read] = intMap(3);
  const model: Model = new Map();
  const next = random(6);
  const { worker, id: firstId } = await pinWorker(read);
  try {
    // The worker's second handle (the larger id) pins the older version.
    const clone = await ask(worker, { type: "clone", handle: 0 });
    const cloneId = clone.id as number;
    assert(cloneId > firstId);
    fill(write, model, 0, 100); // version 1
    const v1 = contents(model);
    const old = await ask(worker, { type: "hold", handle: clone.handle });
    assertEquals(old.entries, v1);
    churn(write, model, next, 20, 150); // version 2
    const v2 = contents(model);
    const newer = await ask(worker, { type: "hold", handle: 0 });
    churn(write, model, next, 20, 150); // version 3: the third copy
    assertEquals(write.stats().waits, 0);
    assertEquals(write.stats().copies, 3);

    const error = assertThrows(
      () => write.guard({ timeoutMs: 20 }),
      WaitTimeoutError,
    );
    assertEquals(error.readers, [cloneId, firstId]);
    assertEquals(write.stats().waits, 1);
    assertThrows(() => write.synchronize({ timeoutMs: 0 }), WaitTimeoutError);
    assertEquals(write.stats().waits, 2);
    const asyncError = await assertRejects(
      () => write.guardAsync({ timeoutMs: 5 }),
      WaitTimeoutError,
    );
    assertEquals(asyncError.readers, [cloneId, firstId]);
    let stats = write.stats();
    assertEquals([stats.waits, stats.copies], [3, 3]);
    assert(typeof stats.waitMs === "number" && stats.waitMs >= 0);
    assertEquals(pinnedOf(stats), [[1, [cloneId]], [2, [firstId]]]);

    // A wait with no time limit ends when a guard of the worker leaves.
    const pending = write.guardAsync();
    await ask(worker, { type: "release", guard: old.guard });
    {
      using guard = await pending;
      guard.insert(1000, 1);
      model.set(1000, 1);
    }
    stats = write.stats();
    assertEquals(stats.waits, 4);
    assertEquals(pinnedOf(stats), [[2, [firstId]]]);
    assertEquals(
      (await ask(worker, { type: "entries", guard: newer.guard })).entries,
      v2,
    );
    await ask(worker, { type: "release", guard: newer.guard });
    write.synchronize();
    stats = write.stats();
    assertEquals([stats.copies, stats.pinned, stats.waits], [2, [], 4]);
    using fresh = read.guard();
    assertEquals(contents(fresh), contents(model));
  } finally {
    await worker[Symbol.asyncDispose]();
  }
});

Deno.test("copies: at maxCopies with only this thread's guards on the retired copies, guard() and synchronize() throw a DeadlockError while guardAsync() waits for a release", async () => {
  const [write, read] = intMap(3);
  const other = read.clone();
  const model: Model = new Map();
  const next = random(7);
  fill(write, model, 0, 50); // version 1
  const g1 = read.guard();
  churn(write, model, next, 10, 80); // version 2
  const v2 = contents(model);
  const g2 = other.guard();
  churn(write, model, next, 10, 80); // version 3
  assertEquals(write.stats().waits, 0);

  assertThrows(() => write.guard(), DeadlockError);
  assertThrows(() => write.guard({ timeoutMs: 1000 }), DeadlockError);
  assertThrows(() => write.synchronize(), DeadlockError);
  assertThrows(() => write.update(() => {}), DeadlockError);
  const refused = write.stats().waits;
  const error = await assertRejects(
    () => write.guardAsync({ timeoutMs: 5 }),
    WaitTimeoutError,
  );
  assertEquals(error.readers, [read.id, other.id]);
  assertEquals(write.stats().waits, refused + 1);

  const pending = write.guardAsync();
  let opened = false;
  pending.then(() => (opened = true));
  await Promise.resolve();
  assert(!opened);
  setTimeout(() => g1.release(), 5);
  {
    using guard = await pending;
    guard.insert(999, 9);
    model.set(999, 9);
  }
  const stats = write.stats();
  assertEquals(stats.waits, refused + 2);
  assertEquals(pinnedOf(stats), [[2, [other.id]]]);
  assertEquals(contents(g2), v2);
  g2.release();
  write.synchronize();
  assertEquals(write.stats().copies, 2);
  using fresh = read.guard();
  assertEquals(contents(fresh), contents(model));
});

Deno.test("copies: maxCopies 2 is the old behaviour: one pinned version makes the writer wait", async () => {
  const [write, read] = intMap(2);
  const model: Model = new Map();
  fill(write, model, 0, 10);
  const held = read.guard();
  fill(write, model, 10, 20); // publishing never waits
  assertThrows(() => write.guard(), DeadlockError);
  const error = await assertRejects(
    () => write.synchronizeAsync({ timeoutMs: 1 }),
    WaitTimeoutError,
  );
  assertEquals(error.readers, [read.id]);
  held.release();
  fill(write, model, 20, 30);
  const stats = write.stats();
  assertEquals([stats.copies, stats.maxCopies, stats.clones], [2, 2, 0]);
  using fresh = read.guard();
  assertEquals(contents(fresh), contents(model));
});

Deno.test("copies: a terminated worker's pinned guard costs memory, not the writer's time, until reclaim(id)", async () => {
  const [write, read] = intMap();
  const model: Model = new Map();
  const next = random(8);
  fill(write, model, 0, 500); // version 1
  const { worker, id } = await pinWorker(read);
  const held = await ask(worker, { type: "hold", handle: 0 });
  assertEquals(held.entries, contents(model));
  await worker[Symbol.asyncDispose](); // dies holding the guard
  for (let i = 0; i < 50; i++) churn(write, model, next, 20, 600);
  let stats = write.stats();
  assertEquals(stats.waits, 0);
  assertEquals(pinnedOf(stats), [[1, [id]]]);
  assertEquals(stats.copies, 3);

  write.reclaim(id);
  assertEquals(write.stats().pinned, []);
  emptyGuard(write);
  stats = write.stats();
  assertEquals([stats.copies, stats.pinned, stats.waits], [2, [], 0]);
  using fresh = read.guard();
  assertEquals(contents(fresh), contents(model));
});

Deno.test("copies: reclaim(id) of a dead worker ends a wait at maxCopies", async () => {
  const [write, read] = intMap(3);
  const model: Model = new Map();
  const next = random(9);
  fill(write, model, 0, 100); // version 1
  const { worker, id } = await pinWorker(read);
  await ask(worker, { type: "hold", handle: 0 });
  await worker[Symbol.asyncDispose]();
  churn(write, model, next, 10, 120); // version 2
  const held = read.guard(); // this thread pins version 2
  churn(write, model, next, 10, 120); // version 3: three copies
  // Not a deadlock: the dead worker's guard is not this thread's.
  const error = assertThrows(
    () => write.guard({ timeoutMs: 10 }),
    WaitTimeoutError,
  );
  assertEquals(error.readers, [id, read.id]);

  const pending = write.guardAsync();
  setTimeout(() => write.reclaim(id), 5);
  {
    using guard = await pending;
    guard.insert(7, 7);
    model.set(7, 7);
  }
  held.release();
  write.synchronize();
  const stats = write.stats();
  assertEquals([stats.copies, stats.pinned], [2, []]);
  using fresh = read.guard();
  assertEquals(contents(fresh), contents(model));
});

// ------------------------------------------------------------ memory

/**
 * A workload over 4,000 keys: a fill, then 40 publishes of churn. With
 * `pin`, read guards pin versions 1, 10, 20 and 30 on four handles until
 * the end. Then one more write guard. Returns the final stats.
 */
function memoryWorkload(pin: boolean): WriteStats {
  const [write, read] = intMap(undefined, 5000);
  const handles = [read, read.clone(), read.clone(), read.clone()];
  const model: Model = new Map();
  const next = random(10);
  fill(write, model, 0, 4000);
  const held: IntGuard[] = [];
  for (let i = 0; i < 40; i++) {
    if (pin && i % 10 === 0) held.push(handles[i / 10].guard());
    churn(write, model, next, 100, 5000);
  }
  assertEquals(write.stats().pinned.length, pin ? 4 : 0);
  for (const guard of held) guard.release();
  emptyGuard(write);
  const stats = write.stats();
  using fresh = read.guard();
  assertEquals(contents(fresh), contents(model));
  return stats;
}

Deno.test("copies: after the pinning readers leave and one more write guard runs, the bytes in use are within 10% of the same run with no pinning", () => {
  const pinned = memoryWorkload(true);
  const plain = memoryWorkload(false);
  assertEquals([pinned.copies, pinned.pinned, pinned.waits], [2, [], 0]);
  assert(pinned.clones > 0, "the run made spare copies");
  assertEquals(plain.clones, 0);
  const ratio = pinned.bytesInUse / plain.bytesInUse;
  assert(
    Math.abs(ratio - 1) <= 0.1,
    `bytes in use ${pinned.bytesInUse} after pinning, ${plain.bytesInUse} without`,
  );
});

Deno.test("copies: repeated rounds of pinning the same workload do not grow the heap", () => {
  const [write, read] = intMap();
  const handles = [read, read.clone(), read.clone()];
  const model: Model = new Map();
  const next = random(11);
  fill(write, model, 0, 1000);
  const inUse: number[] = [];
  const reserved: number[] = [];
  for (let round = 0; round < 12; round++) {
    const held: IntGuard[] = [];
    for (let i = 0; i < 9; i++) {
      if (i % 3 === 0) held.push(handles[i / 3].guard());
      // The same keys each round: insert 200, then remove them again.
      using guard = write.guard();
      for (let k = 0; k < 50; k++) {
        const key = 1000 + Math.floor(next() * 200);
        if (i < 6) guard.insert(key, round);
        else guard.remove(key);
      }
    }
    {
      using guard = write.guard();
      for (let key = 1000; key < 1200; key++) guard.remove(key);
    }
    for (const guard of held) guard.release();
    write.synchronize();
    const stats = write.stats();
    assertEquals([stats.copies, stats.pinned, stats.waits], [2, [], 0]);
    inUse.push(stats.bytesInUse);
    reserved.push(stats.bytesReserved);
  }
  // The first round may grow the tables; every round after uses the same.
  assertEquals(new Set(inUse.slice(1)).size, 1, `bytes in use: ${inUse}`);
  assertEquals(new Set(reserved.slice(2)).size, 1, `reserved: ${reserved}`);
  using fresh = read.guard();
  assertEquals(contents(fresh), contents(model));
});

// ------------------------------------------------------------ property

type Command =
  | {
    kind: "write";
    ops: { op: "insert" | "remove" | "replace"; key: number; value: number }[];
  }
  | { kind: "open"; handle: number }
  | { kind: "release"; pick: number }
  | { kind: "sync" };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("write" as const),
      ops: fc.array(
        fc.record({
          op: fc.constantFrom(
            "insert" as const,
            "remove" as const,
            "replace" as const,
          ),
          key: fc.integer({ min: 0, max: 40 }),
          value: fc.integer({ min: -1000, max: 1000 }),
        }),
        { minLength: 1, maxLength: 12 },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("open" as const),
      handle: fc.nat({ max: 2 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("release" as const),
      pick: fc.nat(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("sync" as const) }) },
);

/** The most read guards a run holds at once. */
const MAX_LIVE = 6;

interface Live {
  guard: IntGuard;
  handle: IntRead;
  version: number;
  expected: [number, number][];
}

/** Applies one write command to the guard and the model. */
function applyWrite(
  write: IntWrite,
  model: Model,
  command: Extract<Command, { kind: "write" }>,
): void {
  using guard = write.guard();
  for (const { op, key, value } of command.ops) {
    if (op === "insert") {
      guard.insert(key, value);
      model.set(key, value);
    } else if (op === "remove") {
      guard.remove(key);
      model.delete(key);
    } else {
      guard.replace(key, (old) => old + value);
      if (model.has(key)) model.set(key, model.get(key)! + value);
    }
  }
}

/** Every live guard reads its version whole; stats list exactly the pinned ones. */
function checkLive(write: IntWrite, live: Live[]): void {
  const stats = write.stats();
  const expected = new Map<number, Set<number>>();
  for (const entry of live) {
    assertEquals(contents(entry.guard), entry.expected);
    if (entry.version < stats.version) {
      const ids = expected.get(entry.version) ?? new Set();
      ids.add(entry.handle.id);
      expected.set(entry.version, ids);
    }
  }
  assertEquals(
    pinnedOf(stats),
    [...expected].sort(([a], [b]) => a - b).map((
      [version, ids],
    ) => [version, [...ids].sort((a, b) => a - b)]),
  );
  assert(stats.copies <= stats.maxCopies);
}

Deno.test("copies (property): random writes and guards across publishes: each guard reads its version whole, and once all leave nothing stays but what a map with no readers holds", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 8 }),
      fc.array(commandArb, { minLength: 20, maxLength: 80, size: "max" }),
      (maxCopies, commands) => {
        const [write, read] = intMap(maxCopies);
        const handles = [read, read.clone(), read.clone()];
        const model: Model = new Map();
        const live: Live[] = [];
        let deadlocks = 0;
        for (const command of commands) {
          switch (command.kind) {
            case "write": {
              // The writer waits only when maxCopies copies are taken; here
              // all guards are this thread's, so it refuses: release the
              // oldest guard, as a caller would, and try again.
              for (let attempt = 0; attempt <= MAX_LIVE; attempt++) {
                try {
                  applyWrite(write, model, command);
                  break;
                } catch (error) {
                  assertInstanceOf(error, DeadlockError);
                  deadlocks++;
                  const stats = write.stats();
                  assertEquals(stats.copies, maxCopies);
                  assertEquals(stats.pinned.length, maxCopies - 1);
                  live.sort((a, b) => a.version - b.version);
                  live.shift()!.guard.release();
                }
              }
              break;
            }
            case "open":
              if (live.length < MAX_LIVE) {
                const handle = handles[command.handle];
                live.push({
                  guard: handle.guard(),
                  handle,
                  version: write.stats().version,
                  expected: contents(model),
                });
              }
              break;
            case "release":
              if (live.length > 0) {
                live.splice(command.pick % live.length, 1)[0].guard.release();
              }
              break;
            case "sync":
              try {
                write.synchronize();
              } catch (error) {
                assertInstanceOf(error, DeadlockError);
                deadlocks++;
                break;
              }
              assertEquals(
                write.stats().copies,
                write.stats().pinned.length + 2,
              );
              break;
          }
          checkLive(write, live);
        }
        if (maxCopies - 2 >= MAX_LIVE) assertEquals(deadlocks, 0);
        if (deadlocks === 0) assertEquals(write.stats().waits, 0);
        for (const entry of live) entry.guard.release();
        write.synchronize();
        const end = write.stats();
        assertEquals([end.copies, end.pinned], [2, []]);
        {
          using fresh = read.guard();
          assertEquals(contents(fresh), contents(model));
        }

        // The same writes with no reader: the same memory, to the byte.
        const [plain] = intMap(maxCopies);
        const plainModel: Model = new Map();
        for (const command of commands) {
          if (command.kind === "write") applyWrite(plain, plainModel, command);
        }
        plain.synchronize();
        assertEquals(end.bytesInUse, plain.stats().bytesInUse);
      },
    ),
    { numRuns: 150 },
  );
});

// ------------------------------------------------------------ options

Deno.test("copies: maxCopies is checked by create() and Builder.withMaxCopies, and reported by stats()", () => {
  const wrongType = ["4", true, 4n, {}, [3]];
  const outOfRange = [1, 17, 0, -2, 2.5, NaN, Infinity];
  for (const value of wrongType) {
    const maxCopies = value as number;
    assertThrows(() => create({ maxCopies }), TypeError, "maxCopies");
    assertThrows(
      () => new Builder().withMaxCopies(maxCopies).build(),
      TypeError,
      "maxCopies",
    );
  }
  for (const maxCopies of outOfRange) {
    assertThrows(() => create({ maxCopies }), RangeError, "maxCopies");
    assertThrows(
      () => new Builder().withMaxCopies(maxCopies).build(),
      RangeError,
      "maxCopies",
    );
  }
  assertEquals(create()[0].stats().maxCopies, 8);
  assertEquals(create({ maxCopies: undefined })[0].stats().maxCopies, 8);
  for (const maxCopies of [2, 3, 16]) {
    assertEquals(create({ maxCopies })[0].stats().maxCopies, maxCopies);
    const [write] = new Builder().withMaxCopies(maxCopies).build();
    const stats = write.stats();
    assertEquals([stats.maxCopies, stats.copies], [maxCopies, 2]);
  }
});

Deno.test("copies: with maxCopies 16, fourteen versions pinned at once never make the writer wait", () => {
  const [write, read] = intMap(16);
  const model: Model = new Map();
  const next = random(12);
  const held: [IntGuard, [number, number][]][] = [];
  fill(write, model, 0, 50);
  for (let i = 0; i < 14; i++) {
    held.push([read.clone().guard(), contents(model)]);
    churn(write, model, next, 10, 80);
  }
  write.synchronize();
  let stats = write.stats();
  assertEquals([stats.copies, stats.pinned.length, stats.waits], [16, 14, 0]);
  for (const [guard, expected] of held) assertEquals(contents(guard), expected);
  // A fifteenth: all sixteen copies are taken by this thread's guards.
  const last = read.guard();
  churn(write, model, next, 10, 80);
  assertThrows(() => write.synchronize(), DeadlockError);
  last.release();
  write.synchronize();
  stats = write.stats();
  assertEquals([stats.copies, stats.pinned.length], [16, 14]);
  for (const [guard] of held) guard.release();
  write.synchronize();
  assertEquals(write.stats().copies, 2);
});

// ------------------------------------------------------------ synchronize

Deno.test("copies: synchronize() leaves no replay pending: the next write guard opens with no replay and no copy", async () => {
  const [write, read] = intMap();
  const model: Model = new Map();
  const next = random(13);
  fill(write, model, 0, 100);
  churn(write, model, next, 10, 150);
  // Each publish found the copy it retired free and replayed it at once.
  const published = write.stats();
  assertEquals([published.replays, published.clones], [2, 0]);
  write.synchronize(); // nothing left to do
  assertEquals(write.stats().replays, published.replays);

  // A guard on the current copy, held across a publish and then released:
  // the replay is left for synchronize() to do.
  const pin = read.guard();
  churn(write, model, next, 10, 150);
  pin.release();
  const before = write.stats();
  assertEquals([before.replays, before.clones], [published.replays, 0]);
  write.synchronize();
  const synced = write.stats();
  assertEquals([synced.replays, synced.clones, synced.copies], [
    before.replays + 1,
    0,
    2,
  ]);
  write.synchronize(); // nothing left to do
  await write.synchronizeAsync();
  assertEquals(write.stats().replays, synced.replays);
  {
    using guard = write.guard();
    const opened = write.stats();
    assertEquals([opened.replays, opened.clones], [
      synced.replays,
      synced.clones,
    ]);
    guard.insert(1, 1);
    model.set(1, 1);
    assertThrows(() => write.synchronize(), TypeError); // a guard is live
  }
  // The publish replayed the copy it retired; the next guard does nothing.
  assertEquals(write.stats().replays, synced.replays + 1);
  emptyGuard(write);
  assertEquals(write.stats().replays, synced.replays + 1);

  // The same after a spare copy: synchronize() makes it, the guard does not.
  const held = read.guard();
  churn(write, model, next, 10, 150);
  await write.synchronizeAsync();
  const cloned = write.stats();
  assertEquals(cloned.clones, synced.clones + 1);
  assertEquals(cloned.copies, cloned.pinned.length + 2);
  emptyGuard(write);
  assertEquals(write.stats().clones, cloned.clones);
  assertEquals(write.stats().replays, cloned.replays);
  held.release();
  write.synchronize();
  assertEquals(write.stats().copies, 2);
  using fresh = read.guard();
  assertEquals(contents(fresh), contents(model));
});

Deno.test("copies: synchronize() frees every retired copy no guard holds, and keeps the ones guards hold", () => {
  const [write, read] = intMap();
  const handles = [read, read.clone(), read.clone()];
  const model: Model = new Map();
  const next = random(14);
  fill(write, model, 0, 100);
  const guards: IntGuard[] = [];
  for (const handle of handles) {
    guards.push(handle.guard());
    churn(write, model, next, 10, 150);
  }
  write.synchronize();
  let stats = write.stats();
  assertEquals([stats.copies, stats.pinned.length], [5, 3]);
  const bytesPinned = stats.bytesInUse;
  // Each release, then synchronize(): exactly that copy goes.
  for (let i = 0; i < guards.length; i++) {
    guards[i].release();
    assertEquals(write.stats().copies, 5 - i); // not before synchronize()
    write.synchronize();
    stats = write.stats();
    assertEquals([stats.copies, stats.pinned.length], [4 - i, 2 - i]);
  }
  assert(stats.bytesInUse < bytesPinned);
  assertEquals(stats.waits, 0);
  using fresh = read.guard();
  assertEquals(contents(fresh), contents(model));
});

Deno.test("copies: synchronizeAsync() waits at maxCopies for this thread's guards without blocking, where synchronize() refuses", async () => {
  const [write, read] = intMap(3);
  const other = read.clone();
  const model: Model = new Map();
  fill(write, model, 0, 20);
  const g1 = read.guard();
  fill(write, model, 20, 40);
  const g2 = other.guard();
  fill(write, model, 40, 60);
  assertThrows(() => write.synchronize(), DeadlockError);
  const pending = write.synchronizeAsync();
  assertThrows(() => write.guard(), TypeError); // the writer is busy waiting
  setTimeout(() => g2.release(), 5);
  await pending;
  const stats = write.stats();
  assertEquals([stats.copies, pinnedOf(stats)], [3, [[1, [read.id]]]]);
  g1.release();
  write.synchronize();
  assertEquals(write.stats().copies, 2);
  fill(write, model, 60, 80);
  using fresh = read.guard();
  assertEquals(contents(fresh), contents(model));
});
