/**
 * Old against new in one process: two checkouts of this repository loaded
 * side by side, their rounds interleaved (old, new, then new, old), so that
 * the machine's load falls on both alike. Prints the median of each
 * measure and the ratio new/old, for maps of 2^10 and 2^20 int32 keys.
 *
 * ```sh
 * git worktree add /tmp/old <commit>
 * deno run --allow-read bench/ab.ts /tmp/old . [rounds]
 * ```
 *
 * @module
 */

type Mod = typeof import("../mod.ts");

const [oldTree, newTree, roundsArgument] = Deno.args;
if (oldTree === undefined || newTree === undefined) {
  console.error(
    "usage: deno run --allow-read bench/ab.ts OLD_TREE NEW_TREE [ROUNDS]",
  );
  Deno.exit(2);
}
const ROUNDS = Number(roundsArgument ?? 15);
const WARM_UP_ROUNDS = 2;
const N = 4096;
let sink = 0;

async function load(tree: string): Promise<Mod> {
  const url = new URL(
    `${tree.replace(/\/$/, "")}/mod.ts`,
    `file://${Deno.cwd()}/`,
  );
  return await import(url.href);
}

function setup(mod: Mod, entries: number) {
  const [write, read] = mod.create({
    key: mod.codecs.int32,
    value: mod.codecs.number,
    capacity: entries,
  });
  write.update((guard) => {
    for (let key = 0; key < entries; key++) guard.insert(key, key);
  });
  write.synchronize();
  const fresh = Array.from({ length: N }, (_, i) => 2 * entries + i);
  const keys = Array.from(
    { length: N },
    (_, i) => (i * 2654435761 >>> 0) % entries,
  );
  return { write, read, fresh, keys };
}
type Subject = ReturnType<typeof setup>;

/**
 * Writes `N` keys, `perPublish` to a write guard, then synchronizes: ns per
 * write. Inserted keys are removed again afterwards, out of the timing.
 */
function write(
  s: Subject,
  op: "insert" | "set",
  perPublish: number,
): number {
  const keys = op === "insert" ? s.fresh : s.keys;
  const start = performance.now();
  for (let i = 0; i < N;) {
    const guard = s.write.guard();
    for (const stop = i + perPublish; i < stop; i++) guard[op](keys[i], i);
    guard.publish();
  }
  s.write.synchronize();
  const ms = performance.now() - start;
  if (op === "insert") {
    s.write.update((guard) => {
      for (const key of keys) guard.remove(key);
    });
    s.write.synchronize();
  }
  return ms * 1e6 / N;
}

/** Each measure returns nanoseconds per operation. */
const measures: Record<string, (s: Subject) => number> = {
  "publish: guard, 1 insert, publish (per publish)": (s) =>
    write(s, "insert", 1),
  "publish: guard, 1 set, publish (per publish)": (s) => write(s, "set", 1),
  "insert: 64 per publish (per insert)": (s) => write(s, "insert", 64),
  "read: ReadGuard.get, 64 per guard (per get)": (s) => {
    const start = performance.now();
    for (let r = 0; r < 8; r++) {
      for (let i = 0; i < N;) {
        const guard = s.read.guard();
        for (const stop = i + 64; i < stop; i++) {
          sink += guard.get(s.keys[i]) ?? 0;
        }
        guard.release();
      }
    }
    return (performance.now() - start) * 1e6 / (8 * N);
  },
  "read: ReadGuard.get, 1 per guard (per get)": (s) => {
    const start = performance.now();
    for (let r = 0; r < 8; r++) {
      for (let i = 0; i < N; i++) {
        const guard = s.read.guard();
        sink += guard.get(s.keys[i]) ?? 0;
        guard.release();
      }
    }
    return (performance.now() - start) * 1e6 / (8 * N);
  },
  "read: ReadHandle.get (per get)": (s) => {
    const start = performance.now();
    for (let r = 0; r < 8; r++) {
      for (let i = 0; i < N; i++) sink += s.read.get(s.keys[i]) ?? 0;
    }
    return (performance.now() - start) * 1e6 / (8 * N);
  },
  "read: guard() + release() (per pair)": (s) => {
    const start = performance.now();
    for (let i = 0; i < 100_000; i++) s.read.guard().release();
    return (performance.now() - start) * 1e6 / 100_000;
  },
};

function median(values: number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
}

const trees = { old: await load(oldTree), new: await load(newTree) };
for (const entries of [1 << 10, 1 << 20]) {
  const subjects = {
    old: setup(trees.old, entries),
    new: setup(trees.new, entries),
  };
  const results: Record<string, { old: number[]; new: number[] }> = {};
  for (const name of Object.keys(measures)) {
    results[name] = { old: [], new: [] };
  }
  for (let round = 0; round < ROUNDS + WARM_UP_ROUNDS; round++) {
    const order = round % 2 === 0
      ? ["old", "new"] as const
      : ["new", "old"] as const;
    for (const [name, measure] of Object.entries(measures)) {
      for (const tree of order) {
        const ns = measure(subjects[tree]);
        if (round >= WARM_UP_ROUNDS) results[name][tree].push(ns);
      }
    }
  }
  console.log(
    `\n${entries} entries, median of ${ROUNDS} interleaved rounds (ns per operation)`,
  );
  console.log(
    "| measure | old | new | new/old |\n| --- | ---: | ---: | ---: |",
  );
  for (const [name, result] of Object.entries(results)) {
    const before = median(result.old);
    const after = median(result.new);
    console.log(
      `| ${name} | ${before.toFixed(1)} | ${after.toFixed(1)} | ${
        (after / before).toFixed(2)
      } |`,
    );
  }
}
if (Number.isNaN(sink)) console.log("NaN");
