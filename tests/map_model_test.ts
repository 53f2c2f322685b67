/**
 * Property tests of the whole map against a `Map` model: random sequences of
 * writes, publishes and read guards, with a tiny initial capacity so that
 * tables grow and entry memory is reclaimed and reused many times.
 */
import { assert, assertEquals } from "@std/assert";
import fc from "fast-check";
import {
  type Atomic,
  type Codec,
  codecs,
  create,
  type KeyCodec,
  type ReadGuard,
  type WriteGuard,
} from "@x/flashmap";
import { DEFAULT_MAX_COPIES } from "../src/create.ts";
import { snapshot, sorted } from "./utils.ts";

type Op =
  | { op: "insert"; key: number; size: number }
  | { op: "remove"; key: number }
  | { op: "replace"; key: number; size: number }
  | { op: "publish" }
  | { op: "open" }
  | { op: "check"; which: number }
  | { op: "release"; which: number }
  | { op: "synchronize" };

const KEY_SPACE = 48;

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant("insert" as const),
      key: fc.nat(KEY_SPACE),
      size: fc.nat(40),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("remove" as const),
      key: fc.nat(KEY_SPACE),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("replace" as const),
      key: fc.nat(KEY_SPACE),
      size: fc.nat(40),
    }),
  },
  { weight: 3, arbitrary: fc.constant({ op: "publish" as const }) },
  { weight: 2, arbitrary: fc.constant({ op: "open" as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("check" as const),
      which: fc.nat(7),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("release" as const),
      which: fc.nat(7),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: "synchronize" as const }) },
);

/**
 * Runs one sequence. Guards are opened on two read handles; the writer's
 * guard is opened lazily and published by "publish". Guards opened before a
 * publish keep the retired versions they read (and the writer keeps a copy
 * of the index for each) until released. When the next write copy would not
 * fit in `maxCopies`, the writer would wait on this thread, which it cannot
 * (its own thread's guards): the guards of the oldest versions are released
 * first, so every step can run.
 */
function runModel<K>(
  ops: Op[],
  keyCodec: KeyCodec<K>,
  toKey: (n: number) => K,
  maxCopies: number,
): void {
  const [write, read] = create({
    key: keyCodec,
    value: codecs.string,
    capacity: 1,
    maxCopies,
  });
  const other = read.clone();
  const handles = [read, other];
  const model = new Map<K, string>(); // the writer's view
  let published = new Map<K, string>(); // the model as of the last publish
  let version = 0;
  const open: {
    guard: ReadGuard<K, string>;
    expected: Map<K, string>;
    version: number;
    handle: number;
  }[] = [];
  const lastVersion = [0, 0];
  let guard = write.guard();
  /** Whether the write guard changed anything: an unchanged one publishes nothing. */
  let dirty = false;
  let counter = 0;

  const value = (size: number) => `${counter++}:`.padEnd(size + 2, "v");
  /** The retired versions open guards still read, oldest first. */
  const pinned = () =>
    [...new Set(open.map((held) => held.version))]
      .filter((v) => v < version)
      .sort((a, b) => a - b);
  /**
   * Makes room for the next write copy: the current copy, one per pinned
   * version and the write copy must fit in `maxCopies`.
   */
  const makeRoom = () => {
    const pins = pinned();
    while (1 + pins.length + 1 > maxCopies) {
      const oldest = pins.shift();
      for (let i = open.length - 1; i >= 0; i--) {
        if (open[i].version === oldest) {
          open[i].guard.release();
          open.splice(i, 1);
        }
      }
    }
  };
  /** The writer keeps the current copy, its write copy, and the pinned ones. */
  const checkCopies = () => {
    const stats = write.stats();
    assertEquals(stats.version, version);
    assertEquals(stats.pinned.map((p) => p.version), pinned());
    assertEquals(stats.copies, 2 + pinned().length);
    assertEquals(stats.waits, 0);
  };
  const ensureGuard = () => {
    if (!guard.published) return;
    makeRoom();
    guard = write.guard();
    checkCopies();
  };

  for (const step of ops) {
    switch (step.op) {
      case "insert": {
        ensureGuard();
        const key = toKey(step.key);
        const v = value(step.size);
        assertEquals(guard.insert(key, v), model.get(key));
        model.set(key, v);
        dirty = true;
        break;
      }
      case "remove": {
        ensureGuard();
        const key = toKey(step.key);
        assertEquals(guard.remove(key), model.get(key));
        if (model.delete(key)) dirty = true;
        break;
      }
      case "replace": {
        ensureGuard();
        const key = toKey(step.key);
        const v = value(step.size);
        const before = model.get(key);
        assertEquals(guard.replace(key, (old) => old + v), before);
        if (before !== undefined) {
          model.set(key, before + v);
          dirty = true;
        }
        break;
      }
      case "publish": {
        if (guard.published) break;
        assertEquals(snapshot(guard), sorted(model));
        guard.publish();
        published = new Map(model);
        if (dirty) version++;
        dirty = false;
        break;
      }
      case "open": {
        const handle = open.length % 2;
        const view = handles[handle].guard();
        // S3: a guard opened after a publish sees it, and the whole of it (S1).
        assertEquals(snapshot(view), sorted(published));
        open.push({
          guard: view,
          expected: new Map(published),
          version,
          handle,
        });
        lastVersion[handle] = version;
        break;
      }
      case "check": {
        if (open.length === 0) break;
        const held = open[step.which % open.length];
        // S1: a held guard's snapshot never changes.
        assertEquals(snapshot(held.guard), sorted(held.expected));
        assertEquals(held.guard.size, held.expected.size);
        for (const [key, v] of held.expected) {
          assertEquals(held.guard.get(key), v);
        }
        break;
      }
      case "release": {
        if (open.length === 0) break;
        const [held] = open.splice(step.which % open.length, 1);
        held.guard.release();
        break;
      }
      case "synchronize": {
        if (!guard.published) break;
        makeRoom();
        write.synchronize();
        checkCopies();
        ensureGuard();
        break;
      }
    }
  }
  guard.publish();
  for (const held of open) held.guard.release();
  {
    using view = read.guard();
    assertEquals(snapshot(view), sorted(model));
    for (let n = 0; n <= KEY_SPACE; n++) {
      assertEquals(view.get(toKey(n)), model.get(toKey(n)));
    }
  }
  other.close();
  read.close();
  write.close();
}

const runs = { numRuns: 150, endOnFailure: true };

/** 2 copies (the writer gets the retired copy back), a few, and the default. */
const maxCopiesArbitrary = fc.constantFrom(2, 3, DEFAULT_MAX_COPIES);

Deno.test("map matches a Map model under random operations (string keys)", () => {
  fc.assert(
    fc.property(
      fc.array(opArbitrary, { maxLength: 300, size: "max" }),
      maxCopiesArbitrary,
      (ops, maxCopies) => {
        runModel(ops, codecs.string, (n) => `key-${n}`, maxCopies);
      },
    ),
    runs,
  );
});

Deno.test("map matches a Map model under random operations (int32 keys)", () => {
  fc.assert(
    fc.property(
      fc.array(opArbitrary, { maxLength: 300, size: "max" }),
      maxCopiesArbitrary,
      (ops, maxCopies) => {
        runModel(ops, codecs.int32, (n) => n * 7919 - 100_000, maxCopies);
      },
    ),
    runs,
  );
});

const pairCodec: Codec<[number, number]> & { canonical: true } = {
  name: "test.pair",
  canonical: true,
  encode: ([a, b]) => new Uint8Array(new Int32Array([a, b]).buffer),
  decode: (bytes) => {
    const words = new Int32Array(bytes.buffer, bytes.byteOffset, 2);
    return [words[0], words[1]];
  },
};

Deno.test("map matches a Map model under random operations (user codec keys)", () => {
  fc.assert(
    fc.property(
      fc.array(opArbitrary, { maxLength: 200, size: "max" }),
      maxCopiesArbitrary,
      (ops, maxCopies) => {
        // The model compares keys by identity, so keys are cached per number.
        const keys = new Map<number, [number, number]>();
        runModel(ops, pairCodec, (n) => {
          let key = keys.get(n);
          if (key === undefined) keys.set(n, key = [n, 1000 - n]);
          return key;
        }, maxCopies);
      },
    ),
    { numRuns: 60, endOnFailure: true },
  );
});

Deno.test("WriteGuard reuses the memory of replaced and removed entries", () => {
  const [write, read] = create({ capacity: 64, maxBytes: 4 * 1024 * 1024 });
  const buffer = read.share().buffer;
  let grownAfterWarmUp = 0;
  let sizeAfterWarmUp = 0;
  for (let round = 0; round < 400; round++) {
    {
      using guard = write.guard();
      for (let i = 0; i < 64; i++) {
        guard.insert(
          `key ${i}`,
          `value ${round} `.repeat(1 + ((round + i) % 8)),
        );
      }
      if (round % 3 === 0) {
        for (let i = 0; i < 64; i += 2) guard.remove(`key ${i}`);
      }
    }
    if (round === 20) sizeAfterWarmUp = buffer.byteLength;
    if (round > 20 && buffer.byteLength !== sizeAfterWarmUp) grownAfterWarmUp++;
  }
  // 400 rounds write about 25k entries of up to ~100 bytes: without reuse the
  // buffer would have to grow far past its warm-up size.
  assertEquals(grownAfterWarmUp, 0);
  assert(sizeAfterWarmUp < 1024 * 1024);
  using view = read.guard();
  assertEquals(view.size, 32); // the last round (399) removed every other key
});

type CellOp =
  | { op: "insert"; key: number; value: number }
  | { op: "remove"; key: number }
  | { op: "replace"; key: number }
  | { op: "publish" }
  | { op: "open" }
  | { op: "release"; which: number }
  | { op: "check"; which: number }
  | {
    op: "update";
    /** Which guard (an index into the open ones), -1 the write guard, -2 a one-shot read. */
    through: number;
    kind: number;
    key: number;
    value: number;
    other: number;
  };

const CELL_KEYS = 12;
const operand = fc.oneof(
  fc.integer({ min: -4, max: 4 }),
  fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }),
);

const cellOpArbitrary: fc.Arbitrary<CellOp> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("insert" as const),
      key: fc.nat(CELL_KEYS),
      value: operand,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("remove" as const),
      key: fc.nat(CELL_KEYS),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("replace" as const),
      key: fc.nat(CELL_KEYS),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ op: "publish" as const }) },
  { weight: 2, arbitrary: fc.constant({ op: "open" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("release" as const),
      which: fc.nat(7),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("check" as const),
      which: fc.nat(7),
    }),
  },
  {
    weight: 8,
    arbitrary: fc.record({
      op: fc.constant("update" as const),
      through: fc.integer({ min: -2, max: 7 }),
      kind: fc.nat(8),
      key: fc.nat(CELL_KEYS),
      value: operand,
      other: operand,
    }),
  },
);

/** A cell of the model: entries that share one alias it. */
interface ModelCell {
  value: number;
}

/** What the `Atomics` operation `kind` does to `cell`, and returns. */
function modelUpdate(
  cell: ModelCell,
  kind: number,
  value: number,
  other: number,
): number {
  const old = cell.value;
  const next = [
    old + value,
    old - value,
    old & value,
    old | value,
    old ^ value,
    value,
    old === (value | 0) ? other : old,
    old,
    value,
  ][kind];
  cell.value = next | 0;
  return kind === 8 ? value : old;
}

type Cells = Pick<
  ReadGuard<number, Atomic<number>>,
  | "add"
  | "sub"
  | "and"
  | "or"
  | "xor"
  | "exchange"
  | "compareExchange"
  | "load"
  | "store"
>;

/** Runs the operation `kind` through `target`. */
function runUpdate(
  target: Cells,
  kind: number,
  key: number,
  value: number,
  other: number,
): number | undefined {
  switch (kind) {
    case 0:
      return target.add(key, value);
    case 1:
      return target.sub(key, value);
    case 2:
      return target.and(key, value);
    case 3:
      return target.or(key, value);
    case 4:
      return target.xor(key, value);
    case 5:
      return target.exchange(key, value);
    case 6:
      return target.compareExchange(key, value, other);
    case 7:
      return target.load(key);
    default:
      return target.store(key, value);
  }
}

/**
 * Runs one sequence on a map of cells against a model in which each
 * version maps keys to cell objects: a published version shares the cells
 * of the one before for keys it did not write, so an update through any
 * guard that holds the entry shows in every snapshot that holds it.
 */
function runCellModel(ops: CellOp[], maxCopies: number): void {
  const [write, read] = create({
    key: codecs.int32,
    value: codecs.atomicInt32,
    capacity: 1,
    maxCopies,
  });
  const model = new Map<number, ModelCell>();
  let published = new Map<number, ModelCell>();
  const open: {
    guard: ReadGuard<number, Atomic<number>>;
    expected: Map<number, ModelCell>;
  }[] = [];
  let guard = null as WriteGuard<number, Atomic<number>> | null;
  const writeGuard = () => {
    if (guard === null) {
      // The writer's copies: the current one, the write copy, one per held version.
      const versions = new Set(open.map((held) => held.guard.version));
      while (versions.size + 2 > maxCopies) {
        const oldest = Math.min(...versions);
        for (let i = open.length - 1; i >= 0; i--) {
          if (open[i].guard.version === oldest) {
            open[i].guard.release();
            open.splice(i, 1);
          }
        }
        versions.delete(oldest);
      }
      guard = write.guard();
    }
    return guard;
  };
  const values = (cells: Map<number, ModelCell>) =>
    [...cells].map(([key, cell]) => [key, cell.value]).sort((a, b) =>
      a[0] - b[0]
    );
  for (const step of ops) {
    switch (step.op) {
      case "insert": {
        const previous = model.get(step.key);
        assertEquals(
          writeGuard().insert(step.key, step.value),
          previous?.value,
        );
        model.set(step.key, { value: step.value | 0 });
        break;
      }
      case "remove":
        assertEquals(writeGuard().remove(step.key), model.get(step.key)?.value);
        model.delete(step.key);
        break;
      case "replace": {
        const previous = model.get(step.key);
        assertEquals(
          writeGuard().replace(step.key, (old) => old + 1),
          previous?.value,
        );
        if (previous !== undefined) {
          model.set(step.key, { value: (previous.value + 1) | 0 });
        }
        break;
      }
      case "publish":
        guard?.publish();
        guard = null;
        published = new Map(model);
        break;
      case "open":
        if (guard !== null) break; // the writer's thread would wait on itself
        open.push({ guard: read.guard(), expected: new Map(published) });
        break;
      case "release": {
        if (open.length === 0) break;
        const [held] = open.splice(step.which % open.length, 1);
        held.guard.release();
        break;
      }
      case "check": {
        if (open.length === 0) break;
        const held = open[step.which % open.length];
        assertEquals(
          [...held.guard].sort((a, b) => a[0] - b[0]),
          values(held.expected),
        );
        break;
      }
      case "update": {
        let target: Cells;
        let cells: Map<number, ModelCell>;
        if (step.through === -1) {
          target = writeGuard();
          cells = model;
        } else if (step.through === -2 || open.length === 0) {
          target = read;
          cells = guard === null ? model : published;
        } else {
          const held = open[step.through % open.length];
          target = held.guard;
          cells = held.expected;
        }
        const cell = cells.get(step.key);
        const expected = cell === undefined
          ? undefined
          : modelUpdate(cell, step.kind, step.value, step.other);
        assertEquals(
          runUpdate(target, step.kind, step.key, step.value, step.other),
          expected,
        );
        break;
      }
    }
  }
  guard?.publish();
  for (const held of open) held.guard.release();
  {
    using view = read.guard();
    assertEquals([...view].sort((a, b) => a[0] - b[0]), values(model));
  }
  read.close();
  write.close();
}

Deno.test("a map of cells matches a model of shared cells under random operations", () => {
  fc.assert(
    fc.property(
      fc.array(cellOpArbitrary, { maxLength: 300, size: "max" }),
      maxCopiesArbitrary,
      (ops, maxCopies) => runCellModel(ops, maxCopies),
    ),
    runs,
  );
});
