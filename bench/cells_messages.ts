/**
 * Counters shared by threads, three ways, timed in one run: atomic cells of
 * a flashmap, updated in place from any thread; a `Map` that one worker
 * owns and updates from the increments other threads post to it; and, as
 * the floor, `Atomics.add` on a plain shared `Int32Array` at an index known
 * in advance (no key to look up).
 *
 * It prints the time per increment of each, the median of {@linkcode ROUNDS}
 * rounds, and its ratio to the floor:
 *
 * - (a) `Atomics.add` at a known index;
 * - (b) flashmap `view.add`, int32 keys, 64 adds per guard;
 * - (c) flashmap `view.add`, string keys, 64 adds per guard;
 * - (d) `Map` in an owner worker: one message per increment, and batches of
 *   64 increments per message, timed until the owner has applied the last;
 * - (e) flashmap `view.add` from 4 workers at once on the same 4 keys:
 *   total throughput, wall time over all their increments. The final sums
 *   are checked to be exact, and printed.
 *
 * Run with `deno run --allow-read=. bench/cells_messages.ts` (a few
 * seconds). It is no `deno bench` file because the message and worker
 * candidates must be timed until other threads finish, not per call.
 *
 * @module
 */

import { type Atomic, codecs, create, type ReadHandle } from "@x/flashmap";
import { range, shuffled } from "./map_suite.ts";
import type {
  FlushReply,
  MessagesRequest,
  RunReply,
} from "./cells_messages_worker.ts";

const ROUNDS = 7;
/** Adds per guard, for (b), (c) and (e). */
const PER_GUARD = 64;
/** Entries of the maps; (a) has as many cells. */
const ENTRIES = 1024;
/** Increments per round for the in-thread candidates (a), (b), (c). */
const LOCAL = 64 * 2048;
/** Increments per round for the owner worker, one per message. */
const MESSAGES = 16_384;
/** Increments per round for the owner worker, in batches of {@linkcode PER_GUARD}. */
const BATCHED = 64 * 1024;
/** Workers adding at once in (e), the keys they share, and each one's adds. */
const ADDERS = 4;
const HOT_KEYS = [0, 1, 2, 3];
const PER_ADDER = 64 * 2048;
/** How long a worker may take to answer before the run fails. */
const ANSWER_TIMEOUT_MS = 30_000;

const order = shuffled(range(0, ENTRIES));
const intKeys = Int32Array.from(order);
// Parsed, not built: flat strings, as a request handler would have them.
const stringKeys: string[] = JSON.parse(
  JSON.stringify(order.map((i) => `hits:/route/${i}`)),
);

// ------------------------------------------------------------ in-thread kernels
//
// One function per candidate, so that each call site sees one kind of key
// and one kind of array.

const plain = new Int32Array(new SharedArrayBuffer(4 * ENTRIES));

function plainAdds(count: number): number {
  let sum = 0;
  for (let i = 0; i < count; i++) {
    sum += Atomics.add(plain, intKeys[i & (ENTRIES - 1)], 1);
  }
  return sum;
}

function intAdds(read: ReadHandle<number, Atomic<number>>, count: number) {
  let sum = 0;
  for (let from = 0; from < count; from += PER_GUARD) {
    using view = read.guard();
    for (let i = from, end = from + PER_GUARD; i < end; i++) {
      sum += view.add(intKeys[i & (ENTRIES - 1)], 1)!;
    }
  }
  return sum;
}

function stringAdds(read: ReadHandle<string, Atomic<number>>, count: number) {
  let sum = 0;
  for (let from = 0; from < count; from += PER_GUARD) {
    using view = read.guard();
    for (let i = from, end = from + PER_GUARD; i < end; i++) {
      sum += view.add(stringKeys[i & (ENTRIES - 1)], 1)!;
    }
  }
  return sum;
}

/** Sum of every counter of a map, read in one guard. */
function totalOf<K>(read: ReadHandle<K, Atomic<number>>): number {
  using view = read.guard();
  let total = 0;
  for (const value of view.values()) total += value;
  return total;
}

// ------------------------------------------------------------ workers

/**
 * Rejects when any worker fails, even one that no request is waiting on:
 * every wait races it, so a failure ends the run instead of hanging it.
 */
let fail: (error: Error) => void = () => {};
const failure = new Promise<never>((_, reject) => fail = reject);
failure.catch(() => {}); // reported through the wait that races it

function startWorker(): Worker {
  const worker = new Worker(
    new URL("./cells_messages_worker.ts", import.meta.url),
    { type: "module" },
  );
  worker.addEventListener("error", (event) => {
    event.preventDefault();
    fail(new Error(`a worker failed: ${event.message}`));
  });
  return worker;
}

/** Posts `request` and resolves with the worker's next message. */
function answer<T>(worker: Worker, request: MessagesRequest): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const reply = new Promise<T>((resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error("a worker did not answer")),
      ANSWER_TIMEOUT_MS,
    );
    worker.addEventListener("message", (event: MessageEvent<T>) => {
      resolve(event.data);
    }, { once: true });
    worker.postMessage(request);
  });
  return Promise.race([reply, failure]).finally(() => clearTimeout(timer));
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`Wrong result: ${what}`);
}

// ------------------------------------------------------------ the run

type Row = { label: string; ns: number[] };

async function main(workers: Worker[]): Promise<void> {
  const [intWrite, ints] = create({
    key: codecs.int32,
    value: codecs.atomicInt32,
    capacity: ENTRIES,
  });
  const [stringWrite, strings] = create({
    key: codecs.string,
    value: codecs.atomicInt32,
    capacity: ENTRIES,
  });
  // (e) has a map of its own, so that resetting its hot keys leaves the
  // totals of (b) to check.
  const [hotWrite, hot] = create({
    key: codecs.int32,
    value: codecs.atomicInt32,
    capacity: ENTRIES,
    maxReaders: ADDERS + 2,
  });
  intWrite.update((g) => {
    for (let i = 0; i < ENTRIES; i++) g.insert(i, 0);
  });
  stringWrite.update((g) => {
    for (let i = 0; i < ENTRIES; i++) g.insert(`hits:/route/${i}`, 0);
  });
  hotWrite.update((g) => {
    for (let i = 0; i < ENTRIES; i++) g.insert(i, 0);
  });

  for (let i = 0; i < ADDERS + 1; i++) workers.push(startWorker());
  const [owner, ...adders] = workers;
  await answer(owner, { kind: "owner" });
  for (const adder of adders) {
    await answer(adder, {
      kind: "adder",
      token: hot.share(),
      keys: HOT_KEYS,
    });
  }

  const rows: Row[] = [
    { label: "(a) Atomics.add, known index", ns: [] },
    { label: "(b) flashmap view.add, int32 keys", ns: [] },
    { label: "(c) flashmap view.add, string keys", ns: [] },
    { label: "(d) Map in owner worker, 1 msg/increment", ns: [] },
    { label: "(d) Map in owner worker, 64 increments/msg", ns: [] },
    {
      label:
        `(e) flashmap view.add, ${ADDERS} workers, ${HOT_KEYS.length} keys`,
      ns: [],
    },
  ];
  let sink = 0;
  let ownerTotal = 0;
  const batches = Array.from(
    { length: ENTRIES / PER_GUARD },
    (_, b) => stringKeys.slice(b * PER_GUARD, (b + 1) * PER_GUARD),
  );
  const hotSums: number[] = [];

  // Round 0 warms up every candidate (the compilers, the workers) and is
  // not counted.
  for (let round = 0; round <= ROUNDS; round++) {
    const times: number[] = [];
    let start = performance.now();
    sink += plainAdds(LOCAL);
    times.push((performance.now() - start) / LOCAL);

    start = performance.now();
    sink += intAdds(ints, LOCAL);
    times.push((performance.now() - start) / LOCAL);

    start = performance.now();
    sink += stringAdds(strings, LOCAL);
    times.push((performance.now() - start) / LOCAL);

    start = performance.now();
    for (let i = 0; i < MESSAGES; i++) {
      owner.postMessage(stringKeys[i & (ENTRIES - 1)]);
    }
    let flushed = await answer<FlushReply>(owner, { kind: "flush" });
    times.push((performance.now() - start) / MESSAGES);
    ownerTotal += MESSAGES;
    check(flushed.applied === MESSAGES, "the owner missed increments");

    start = performance.now();
    for (let i = 0; i < BATCHED / PER_GUARD; i++) {
      owner.postMessage(batches[i % batches.length]);
    }
    flushed = await answer<FlushReply>(owner, { kind: "flush" });
    times.push((performance.now() - start) / BATCHED);
    ownerTotal += BATCHED;
    check(flushed.applied === BATCHED, "the owner missed batched increments");
    check(flushed.total === ownerTotal, "the owner's counters do not add up");

    // Reset, not re-insert: a new entry would have new cells.
    for (const key of HOT_KEYS) hot.store(key, 0);
    start = performance.now();
    const ran = await Promise.all(
      adders.map((adder, i) =>
        answer<RunReply>(adder, {
          kind: "run",
          increments: PER_ADDER,
          perGuard: PER_GUARD,
          offset: i % HOT_KEYS.length,
        })
      ),
    );
    times.push((performance.now() - start) / (ADDERS * PER_ADDER));
    check(ran.every((r) => r.added === PER_ADDER), "an adder missed a key");
    hotSums.length = 0;
    for (const key of HOT_KEYS) hotSums.push(hot.get(key)!);
    const expected = (ADDERS * PER_ADDER) / HOT_KEYS.length;
    check(
      hotSums.every((sum) => sum === expected),
      `hot keys hold ${hotSums.join(", ")}, not ${expected} each`,
    );

    if (round > 0) times.forEach((t, i) => rows[i].ns.push(t * 1e6));
  }

  const rounds = ROUNDS + 1;
  check(totalOf(ints) === rounds * LOCAL, "int32-key totals");
  check(totalOf(strings) === rounds * LOCAL, "string-key totals");
  if (Number.isNaN(sink)) console.log("unexpected NaN in the sink");

  const median = (xs: number[]) => xs.toSorted((x, y) => x - y)[xs.length >> 1];
  const floor = median(rows[0].ns);
  const width = Math.max(...rows.map((r) => r.label.length));
  console.log(
    `time per increment, median of ${ROUNDS} rounds (${navigator.hardwareConcurrency} cores)`,
  );
  console.log(`${"candidate".padEnd(width)}  ns/increment  ratio to (a)`);
  for (const row of rows) {
    const ns = median(row.ns);
    console.log(
      `${row.label.padEnd(width)}  ${ns.toFixed(1).padStart(12)}  ${
        (ns / floor).toFixed(2).padStart(11)
      }x`,
    );
  }
  console.log(
    `(e) final sums of keys ${HOT_KEYS.join(", ")}: ${hotSums.join(", ")} ` +
      `(${ADDERS} workers x ${PER_ADDER} adds each = ${
        hotSums.reduce((x, y) => x + y, 0)
      }, exact)`,
  );
  console.log(
    `(b), (c) totals: ${rounds * LOCAL} each over ${rounds} rounds, exact; ` +
      `(d) owner applied ${ownerTotal}, exact`,
  );

  for (const adder of adders) await answer(adder, { kind: "close" });
  ints.close();
  strings.close();
  hot.close();
  intWrite.close();
  stringWrite.close();
  hotWrite.close();
}

const workers: Worker[] = [];
let failed = false;
try {
  await main(workers);
} catch (error) {
  console.error(error);
  failed = true;
} finally {
  // A live worker keeps `deno run` from exiting.
  for (const worker of workers) worker.terminate();
}
if (failed) Deno.exit(1);
