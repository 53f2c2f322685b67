/**
 * Model-based test of the whole map with fast-check `commands`: writes,
 * publishes, read guards opened, read and released on several handles,
 * handles cloned and closed, synchronizes; checked against a model of the
 * published versions (S1-S3) and of the writer's copies of the index, which
 * predicts the versions guards pin (`stats().pinned`), how many copies the
 * writer keeps, and when it has no copy left and must refuse to wait for
 * this thread's own guards. Runs with `maxCopies` 2, 3 and the default. A
 * shrunk failure prints the command list.
 */
import { assert, assertEquals, assertThrows } from "@std/assert";
import fc from "fast-check";
import {
  codecs,
  create,
  DeadlockError,
  type ReadGuard,
  type ReadHandle,
  type WriteGuard,
  type WriteHandle,
} from "@x/flashmap";
import { DEFAULT_MAX_COPIES } from "../src/create.ts";

interface GuardModel {
  snapshot: Map<number, string>;
  /** Publishes that had happened when the guard opened. */
  flips: number;
}

interface Model {
  /** The map's `maxCopies`. */
  maxCopies: number;
  pending: Map<number, string>;
  published: Map<number, string>;
  flips: number;
  /** Whether the open write guard changed anything (an unchanged one publishes nothing). */
  dirty: boolean;
  writing: boolean;
  /** Whether a publish left the writer without a write copy (the next guard or synchronize prepares one). */
  unsynchronized: boolean;
  handles: ({ guards: GuardModel[] } | null)[];
}

interface Real {
  write: WriteHandle<number, string>;
  guard: WriteGuard<number, string> | null;
  handles: (ReadHandle<number, string> | null)[];
  guards: ReadGuard<number, string>[][];
}

const MAX_READERS = 4;

/**
 * The retired versions that live guards still read, oldest first: each is
 * a copy of the index the writer cannot take back.
 */
function pinnedVersions(m: Readonly<Model>): number[] {
  const versions = new Set<number>();
  for (const handle of m.handles) {
    for (const guard of handle?.guards ?? []) {
      if (guard.flips < m.flips) versions.add(guard.flips);
    }
  }
  return [...versions].sort((a, b) => a - b);
}

/**
 * Whether preparing a write copy now makes the writer wait, which it
 * refuses (DeadlockError) because every guard is this (the only) thread's:
 * no write copy is ready, and the current copy, the pinned ones and a new
 * one would not fit in `maxCopies`.
 */
function wouldDeadlock(m: Readonly<Model>): boolean {
  return m.unsynchronized &&
    1 + pinnedVersions(m).length + 1 > m.maxCopies;
}

/**
 * Checks `write.stats()` against the model: the version, the pinned
 * versions and the handles that pin each. After a prepare (`prepared`)
 * the writer has let go of every retired copy no guard reads: it keeps the
 * current copy, its write copy and one per pinned version.
 */
function checkStats(m: Readonly<Model>, r: Real, prepared: boolean): void {
  const stats = r.write.stats();
  assertEquals(stats.version, m.flips);
  assertEquals(stats.maxCopies, m.maxCopies);
  const pinned = pinnedVersions(m).map((version) => ({
    version,
    readers: m.handles.flatMap((handle, at) =>
      handle !== null && handle.guards.some((g) => g.flips === version)
        ? [r.handles[at]!.id]
        : []
    ).sort((a, b) => a - b),
  }));
  assertEquals(
    stats.pinned.map(({ version, readers }) => ({
      version,
      readers: [...readers].sort((a, b) => a - b),
    })),
    pinned,
  );
  assert(stats.copies <= m.maxCopies, `${stats.copies} copies`);
  if (prepared) assertEquals(stats.copies, 2 + pinned.length);
}

/** Opens the write guard if needed; returns false when the model predicts a DeadlockError (checked). */
function ensureWriting(m: Model, r: Real): boolean {
  if (m.writing) return true;
  if (wouldDeadlock(m)) {
    assertThrows(() => r.write.guard(), DeadlockError);
    checkStats(m, r, false);
    return false;
  }
  r.guard = r.write.guard();
  m.writing = true;
  m.dirty = false;
  m.unsynchronized = false;
  checkStats(m, r, true);
  return true;
}

class Insert implements fc.Command<Model, Real> {
  constructor(readonly key: number, readonly value: string) {}
  check = () => true;
  run(m: Model, r: Real) {
    if (!ensureWriting(m, r)) return;
    assertEquals(
      r.guard!.insert(this.key, this.value),
      m.pending.get(this.key),
    );
    m.pending.set(this.key, this.value);
    m.dirty = true;
  }
  toString = () => `insert(${this.key}, "${this.value}")`;
}

class Remove implements fc.Command<Model, Real> {
  constructor(readonly key: number) {}
  check = () => true;
  run(m: Model, r: Real) {
    if (!ensureWriting(m, r)) return;
    assertEquals(r.guard!.remove(this.key), m.pending.get(this.key));
    if (m.pending.delete(this.key)) m.dirty = true;
  }
  toString = () => `remove(${this.key})`;
}

class Replace implements fc.Command<Model, Real> {
  constructor(readonly key: number, readonly suffix: string) {}
  check = () => true;
  run(m: Model, r: Real) {
    if (!ensureWriting(m, r)) return;
    const before = m.pending.get(this.key);
    assertEquals(
      r.guard!.replace(this.key, (old) => old + this.suffix),
      before,
    );
    if (before !== undefined) {
      m.pending.set(this.key, before + this.suffix);
      m.dirty = true;
    }
  }
  toString = () => `replace(${this.key}, + "${this.suffix}")`;
}

class Publish implements fc.Command<Model, Real> {
  check = (m: Readonly<Model>) => m.writing;
  run(m: Model, r: Real) {
    assertEquals(new Map(r.guard!.entries()), m.pending);
    r.guard!.publish();
    r.guard = null;
    m.writing = false;
    if (m.dirty) {
      m.published = new Map(m.pending);
      m.flips++;
      m.unsynchronized = true;
    }
    checkStats(m, r, false);
  }
  toString = () => "publish()";
}

class Synchronize implements fc.Command<Model, Real> {
  check = (m: Readonly<Model>) => !m.writing;
  run(m: Model, r: Real) {
    if (wouldDeadlock(m)) {
      assertThrows(() => r.write.synchronize(), DeadlockError);
      checkStats(m, r, false);
      return;
    }
    r.write.synchronize();
    m.unsynchronized = false;
    checkStats(m, r, true);
  }
  toString = () => "synchronize()";
}

class OpenGuard implements fc.Command<Model, Real> {
  constructor(readonly handle: number) {}
  check = (m: Readonly<Model>) =>
    m.handles[this.handle % m.handles.length] !== null;
  run(m: Model, r: Real) {
    const at = this.handle % m.handles.length;
    const guard = r.handles[at]!.guard();
    // S1 and S3: the whole of the latest published version.
    assertEquals(new Map(guard.entries()), m.published);
    r.guards[at].push(guard);
    m.handles[at]!.guards.push({
      snapshot: new Map(m.published),
      flips: m.flips,
    });
  }
  toString = () => `openGuard(handle ${this.handle})`;
}

class ReadInGuard implements fc.Command<Model, Real> {
  constructor(
    readonly handle: number,
    readonly guard: number,
    readonly key: number,
  ) {}
  check = (m: Readonly<Model>) =>
    (m.handles[this.handle % m.handles.length]?.guards.length ?? 0) > 0;
  run(m: Model, r: Real) {
    const at = this.handle % m.handles.length;
    const guards = m.handles[at]!.guards;
    const which = this.guard % guards.length;
    const real = r.guards[at][which];
    // S1: a live guard keeps its snapshot whatever was published since.
    assertEquals(real.get(this.key), guards[which].snapshot.get(this.key));
    assertEquals(real.has(this.key), guards[which].snapshot.has(this.key));
    assertEquals(real.size, guards[which].snapshot.size);
  }
  toString = () =>
    `readInGuard(handle ${this.handle}, guard ${this.guard}, key ${this.key})`;
}

class ReleaseGuard implements fc.Command<Model, Real> {
  constructor(readonly handle: number, readonly guard: number) {}
  check = (m: Readonly<Model>) =>
    (m.handles[this.handle % m.handles.length]?.guards.length ?? 0) > 0;
  run(m: Model, r: Real) {
    const at = this.handle % m.handles.length;
    const which = this.guard % m.handles[at]!.guards.length;
    r.guards[at][which].release();
    r.guards[at].splice(which, 1);
    m.handles[at]!.guards.splice(which, 1);
    checkStats(m, r, false);
  }
  toString = () => `releaseGuard(handle ${this.handle}, guard ${this.guard})`;
}

class CloneHandle implements fc.Command<Model, Real> {
  constructor(readonly handle: number) {}
  check = (m: Readonly<Model>) =>
    m.handles[this.handle % m.handles.length] !== null &&
    m.handles.filter((h) => h !== null).length < MAX_READERS;
  run(m: Model, r: Real) {
    const clone = r.handles[this.handle % m.handles.length]!.clone();
    r.handles.push(clone);
    r.guards.push([]);
    m.handles.push({ guards: [] });
  }
  toString = () => `cloneHandle(${this.handle})`;
}

class CloseHandle implements fc.Command<Model, Real> {
  constructor(readonly handle: number) {}
  check = (m: Readonly<Model>) =>
    m.handles[this.handle % m.handles.length] !== null;
  run(m: Model, r: Real) {
    const at = this.handle % m.handles.length;
    if (m.handles[at]!.guards.length > 0) {
      assertThrows(() => r.handles[at]!.close(), TypeError);
      return;
    }
    r.handles[at]!.close();
    assert(r.handles[at]!.closed);
    r.handles[at] = null;
    m.handles[at] = null;
  }
  toString = () => `closeHandle(${this.handle})`;
}

const key = fc.integer({ min: 0, max: 40 });
const commands = [
  fc.tuple(key, fc.string({ maxLength: 12 })).map(([k, v]) => new Insert(k, v)),
  key.map((k) => new Remove(k)),
  fc.tuple(key, fc.string({ maxLength: 4 })).map(([k, s]) => new Replace(k, s)),
  fc.constant(new Publish()),
  fc.constant(new Synchronize()),
  fc.nat(7).map((h) => new OpenGuard(h)),
  fc.tuple(fc.nat(7), fc.nat(7), key).map(([h, g, k]) =>
    new ReadInGuard(h, g, k)
  ),
  fc.tuple(fc.nat(7), fc.nat(7)).map(([h, g]) => new ReleaseGuard(h, g)),
  fc.nat(7).map((h) => new CloneHandle(h)),
  fc.nat(7).map((h) => new CloseHandle(h)),
];

for (const maxCopies of [2, 3, undefined]) {
  Deno.test(
    `map follows a model of published versions and copies under random commands (maxCopies ${
      maxCopies ?? "default"
    })`,
    () => {
      fc.assert(
        fc.property(
          fc.commands(commands, { maxCommands: 250, size: "max" }),
          (cmds) => {
            const [write, read] = create({
              key: codecs.int32,
              value: codecs.string,
              capacity: 1,
              maxReaders: MAX_READERS,
              maxCopies,
            });
            const model: Model = {
              maxCopies: maxCopies ?? DEFAULT_MAX_COPIES,
              pending: new Map(),
              published: new Map(),
              flips: 0,
              dirty: false,
              writing: false,
              unsynchronized: false,
              handles: [{ guards: [] }],
            };
            const real: Real = {
              write,
              guard: null,
              handles: [read],
              guards: [[]],
            };
            fc.modelRun(() => ({ model, real }), cmds);
            // Clean up, so that the next run starts from nothing.
            real.guard?.publish();
            for (const guards of real.guards) {
              for (const guard of guards) {
                guard.release();
              }
            }
            for (const handle of real.handles) handle?.close();
            write.close();
          },
        ),
        { numRuns: 150 },
      );
    },
  );
}
