/**
 * `view.add` with 64 adds per guard, int32 keys, against a plain
 * `Atomics.add` at a known index of a shared `Int32Array`, in one process:
 * prints the median of the per-round ratios. Given two checkouts of this
 * repository, it measures both, their rounds interleaved (old, new, then
 * new, old), so that the machine's load falls on both alike.
 *
 * ```sh
 * deno run --allow-read bench/ab_cells.ts .
 * git worktree add /tmp/old <commit>
 * deno run --allow-read bench/ab_cells.ts /tmp/old .
 * ```
 *
 * @module
 */

type Mod = typeof import("../mod.ts");

const trees = Deno.args.length === 0 ? ["."] : Deno.args;
const ENTRIES = 1024;
const OPS = 64;
const GUARDS = 20_000;
const ROUNDS = 15;
const WARM_UP_ROUNDS = 2;
/** Keys in a fixed scattered order; the baseline uses them as indexes. */
const keys = Int32Array.from(
  { length: ENTRIES },
  (_, i) => (i * 7919) % ENTRIES,
);
let sink = 0;

async function load(tree: string): Promise<Mod> {
  const url = new URL(
    `${tree.replace(/\/$/, "")}/mod.ts`,
    `file://${Deno.cwd()}/`,
  );
  return await import(url.href);
}

function counters(mod: Mod) {
  const [write, read] = mod.create({
    key: mod.codecs.int32,
    value: mod.codecs.atomicInt32,
  });
  write.update((guard) => {
    for (let i = 0; i < ENTRIES; i++) guard.insert(i, 0);
  });
  return read;
}

const plain = new Int32Array(new SharedArrayBuffer(4 * ENTRIES));

/** Nanoseconds per plain `Atomics.add`. */
function plainAdds(): number {
  let next = 0;
  const start = performance.now();
  for (let guard = 0; guard < GUARDS; guard++) {
    for (let i = 0; i < OPS; i++) {
      sink += Atomics.add(plain, keys[next], 1);
      next = (next + 1) & (ENTRIES - 1);
    }
  }
  return (performance.now() - start) * 1e6 / (GUARDS * OPS);
}

/** Nanoseconds per `view.add`, 64 per guard. */
function cellAdds(read: ReturnType<typeof counters>): number {
  let next = 0;
  const start = performance.now();
  for (let guard = 0; guard < GUARDS; guard++) {
    const view = read.guard();
    for (let i = 0; i < OPS; i++) {
      sink += view.add(keys[next], 1)!;
      next = (next + 1) & (ENTRIES - 1);
    }
    view.release();
  }
  return (performance.now() - start) * 1e6 / (GUARDS * OPS);
}

const reads = [];
for (const tree of trees) reads.push(counters(await load(tree)));
const baseline: number[] = [];
const times: number[][] = reads.map(() => []);
for (let round = 0; round < ROUNDS + WARM_UP_ROUNDS; round++) {
  const plainTime = plainAdds();
  const order = reads.map((_, i) => i);
  if (round % 2 === 1) order.reverse();
  const results = new Array<number>(reads.length);
  for (const i of order) results[i] = cellAdds(reads[i]);
  if (round < WARM_UP_ROUNDS) continue;
  baseline.push(plainTime);
  results.forEach((time, i) => times[i].push(time));
}

function median(values: number[]): number {
  const sorted = values.slice().sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

console.log(`Atomics.add, known index: ${median(baseline).toFixed(1)} ns`);
trees.forEach((tree, i) => {
  const ratio = median(times[i].map((time, round) => time / baseline[round]));
  console.log(
    `${tree}: view.add ${median(times[i]).toFixed(1)} ns, ${
      ratio.toFixed(2)
    }x Atomics.add`,
  );
});
if (Number.isNaN(sink)) console.log("unexpected NaN");
