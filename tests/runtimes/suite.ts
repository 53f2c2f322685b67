/**
 * The runtime conformance suite: the same checks on every runtime the
 * library claims (Deno, Node, Bun, browsers), with reader workers of each
 * kind the runtime has. It uses no runtime's API of its own: a `Host` says
 * how to start a reader worker (`worker_core.ts`) and whether this thread
 * may block. The entry points (`main.ts` for Node, Bun and Deno,
 * `browser.ts` for a page) make the hosts and print the results; `run.ts`
 * bundles them with the library and runs each runtime.
 *
 * The checks assert what happened, never how long it took; every wait has a
 * deadline (a guard against a hang, not a timing assertion) and every loop
 * a bound.
 *
 * @module
 */

import {
  attach,
  BufferFullError,
  codecs,
  create,
  DeadlockError,
  ReaderLimitError,
  WaitTimeoutError,
  type WriteHandle,
} from "@x/flashmap";
import type { Reply, RequestBody } from "./worker_core.ts";

/** A started worker, whatever its kind. */
export interface WorkerPort {
  /** Posts a message; a `SharedArrayBuffer` in it is shared, not copied. */
  post(message: unknown): void;
  /** Calls `listener` with each message the worker posts. */
  onMessage(listener: (message: unknown) => void): void;
  /** Calls `listener` when the worker fails or exits. */
  onError(listener: (error: string) => void): void;
  /** Stops the worker. */
  terminate(): void | Promise<void>;
}

/** What the suite uses of a Web Worker, in every runtime that has one. */
export interface WebWorker {
  postMessage(message: unknown): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror:
    | ((event: { message?: string; preventDefault(): void }) => void)
    | null;
  terminate(): void;
}

/** A runtime's `Worker` constructor, as the suite uses it. */
export type WebWorkerClass = new (
  url: URL,
  options: { type: "module" },
) => WebWorker;

/** A {@linkcode WorkerPort} over a Web Worker running `url` as a module. */
export function webWorkerPort(
  WebWorker: WebWorkerClass,
  url: URL,
): WorkerPort {
  const worker = new WebWorker(url, { type: "module" });
  const errors: ((error: string) => void)[] = [];
  worker.onerror = (event) => {
    event.preventDefault();
    for (const listener of errors) listener(event.message ?? "error");
  };
  return {
    post: (message) => worker.postMessage(message),
    onMessage: (listener) => {
      worker.onmessage = (event) => listener(event.data);
    },
    onError: (listener) => errors.push(listener),
    terminate: () => worker.terminate(),
  };
}

/** Where the suite runs: a runtime, and one kind of worker in it. */
export interface Host {
  /** Says where, as in "node 20.20.2, worker_threads". */
  label: string;
  /** Whether this thread may block in `Atomics.wait` (not a page's main thread). */
  canBlock: boolean;
  /** Starts a reader worker that runs `worker_core.ts`. */
  startWorker(): WorkerPort;
}

/** What one check gave. */
export interface CheckResult {
  name: string;
  ok: boolean;
  error?: string;
}

/** What the suite gave on one host. */
export interface Summary {
  label: string;
  passed: number;
  failed: number;
  results: CheckResult[];
}

/** The deadline of one reply from a worker: a guard against a hang. */
const REPLY_DEADLINE_MS = 60_000;

/** Fails with `message`. */
export class CheckError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CheckError";
  }
}

function show(value: unknown): string {
  return JSON.stringify(
    value,
    (_, v) => typeof v === "bigint" ? `${v}n` : v,
  ) ?? String(value);
}

function equal(actual: unknown, expected: unknown, what: string): void {
  if (show(actual) !== show(expected)) {
    throw new CheckError(
      `${what}: expected ${show(expected)}, got ${show(actual)}`,
    );
  }
}

function ok(condition: unknown, what: string): asserts condition {
  if (!condition) throw new CheckError(what);
}

function isError<E extends Error>(
  error: unknown,
  kind: abstract new (...args: never[]) => E,
  what: string,
  includes = "",
): E {
  if (!(error instanceof kind)) {
    throw new CheckError(
      `${what}: expected a ${kind.name}, got ${
        error instanceof Error ? `${error.name}: ${error.message}` : show(error)
      }`,
    );
  }
  if (!error.message.includes(includes)) {
    throw new CheckError(
      `${what}: the ${kind.name}'s message lacks "${includes}": ${error.message}`,
    );
  }
  return error;
}

function throws<E extends Error>(
  fn: () => unknown,
  kind: abstract new (...args: never[]) => E,
  what: string,
  includes = "",
): E {
  try {
    fn();
  } catch (error) {
    return isError(error, kind, what, includes);
  }
  throw new CheckError(`${what}: expected a ${kind.name}, nothing was thrown`);
}

async function rejects<E extends Error>(
  promise: Promise<unknown>,
  kind: abstract new (...args: never[]) => E,
  what: string,
): Promise<E> {
  try {
    await promise;
  } catch (error) {
    return isError(error, kind, what);
  }
  throw new CheckError(`${what}: expected a ${kind.name}, it resolved`);
}

/**
 * A reader worker: requests with ids, each answered once, each with a
 * deadline. `close()` terminates it.
 */
class Reader {
  readonly #port: WorkerPort;
  readonly #pending = new Map<
    number,
    { resolve: (reply: Reply) => void; reject: (error: Error) => void }
  >();
  #next = 1;
  #failure: string | undefined;
  readonly ready: Promise<Reply>;

  constructor(host: Host) {
    this.#port = host.startWorker();
    this.ready = this.#expect(0);
    this.#port.onMessage((message) => {
      const reply = message as Reply;
      const waiter = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      waiter?.resolve(reply);
    });
    this.#port.onError((error) => {
      this.#failure ??= error;
      for (const { reject } of this.#pending.values()) {
        reject(new CheckError(`the worker failed: ${error}`));
      }
      this.#pending.clear();
    });
  }

  #expect(id: number): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      if (this.#failure !== undefined) {
        reject(new CheckError(`the worker failed: ${this.#failure}`));
        return;
      }
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new CheckError(`no reply from the worker to request ${id} in time`),
        );
      }, REPLY_DEADLINE_MS);
      this.#pending.set(id, {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
  }

  /** Sends a request; resolves with the reply, or `{ error }` as it came. */
  send(request: RequestBody): Promise<Reply> {
    const id = this.#next++;
    const reply = this.#expect(id);
    this.#port.post({ ...request, id });
    return reply;
  }

  /** Sends a request; rejects if the worker answered with an error. */
  async ask(request: RequestBody): Promise<Reply> {
    const reply = await this.send(request);
    if (reply.error !== undefined) {
      throw new CheckError(
        `the worker's "${request.type}" failed: ${reply.error.name}: ${reply.error.message}`,
      );
    }
    return reply;
  }

  async close(): Promise<void> {
    for (const { reject } of this.#pending.values()) {
      reject(new CheckError("the worker was closed"));
    }
    this.#pending.clear();
    await this.#port.terminate();
  }
}

/** Starts `count` reader workers, runs `body`, and always terminates them. */
async function withReaders<T>(
  host: Host,
  count: number,
  body: (readers: Reader[]) => Promise<T>,
): Promise<T> {
  const readers: Reader[] = [];
  try {
    for (let i = 0; i < count; i++) readers.push(new Reader(host));
    await Promise.all(readers.map((reader) => reader.ready));
    return await body(readers);
  } finally {
    for (const reader of readers) await reader.close();
  }
}

/** Lets the event loop run (messages, timers) before going on. */
function tick(ms = 0): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function publish(
  write: WriteHandle<string, number>,
  entries: Record<string, number>,
): void {
  const guard = write.guard();
  for (const [key, value] of Object.entries(entries)) guard.insert(key, value);
  guard.publish();
}

type Check = (host: Host) => Promise<void>;

/** The README's quick example, without `using` (Node 20 lacks it). */
const quickExample: Check = () => {
  const [write, read] = create({ key: codecs.string, value: codecs.number });
  const guard = write.guard();
  guard.insert("timeout-ms", 2500);
  guard.insert("retries", 3);
  equal(read.get("retries"), undefined, "before the publish");
  guard[Symbol.dispose](); // what leaving a `using` block does: publish
  equal(read.get("retries"), 3, "after the publish");
  const view = read.guard();
  equal(view.size, 2, "snapshot size");
  equal(view.get("timeout-ms"), 2500, "snapshot get");
  equal(view.version, 1, "snapshot version");
  view[Symbol.dispose]();
  ok(view.released, "disposing a read guard releases it");
  write.close();
  read.close();
  return Promise.resolve();
};

/** Two workers attach from tokens and check snapshots, then S1/S2 under publishes. */
const workersSnapshots: Check = (host) => {
  const [write, read] = create({ key: codecs.string, value: codecs.number });
  publish(write, { a: 1, b: 2 });
  return withReaders(host, 2, async (readers) => {
    const ids = new Set<number>([read.id]);
    for (const reader of readers) {
      const { readId } = await reader.ask({
        type: "attach",
        token: read.share(),
      });
      ids.add(readId as number);
    }
    equal(ids.size, 3, "read handle ids are distinct");
    equal(read.stats().openHandles, 3, "open handles");
    for (const reader of readers) {
      const reply = await reader.ask({ type: "snapshot" });
      equal(reply.entries, [["a", 1], ["b", 2]], "a worker's first snapshot");
      equal(reply.version, 1, "its version");
    }
    publish(write, { a: 10, c: 3 });
    for (const reader of readers) {
      const reply = await reader.ask({ type: "snapshot" });
      equal(
        reply.entries,
        [["a", 10], ["b", 2], ["c", 3]],
        "a worker's snapshot after a publish",
      );
      equal((await reader.ask({ type: "get", key: "c" })).value, 3, "get");
    }

    // Both workers read in loops while the writer publishes: every guard
    // sees one whole version (S1), and versions never go back (S2).
    const groups = 4;
    const groupSize = 8;
    const versions = 200;
    const started = new Int32Array(new SharedArrayBuffer(4));
    const checks = readers.map((reader) =>
      reader.ask({
        type: "consistency",
        started,
        until: versions,
        maxGuards: 2_000_000,
        groups,
        groupSize,
      })
    );
    for (let i = 0; i < 10_000 && Atomics.load(started, 0) < 2; i++) {
      await tick(1);
    }
    for (let version = 1; version <= versions; version++) {
      const guard = write.guard();
      guard.insert("version", version);
      for (let g = 0; g < groups; g++) {
        for (let k = 0; k < groupSize; k++) {
          guard.insert(`g${g}:${k}`, version * 1000 + g);
        }
      }
      guard.publish();
      if (version % 20 === 0) await tick();
    }
    for (const reply of await Promise.all(checks)) {
      equal(reply.violations, 0, "keys of another version inside one guard");
      equal(reply.backwards, 0, "guards that went back a version");
      equal(reply.last, versions, "the last version a worker saw");
    }
    for (const reader of readers) await reader.ask({ type: "close" });
    equal(read.stats().openHandles, 1, "open handles after the workers closed");
  });
};

/** A worker's guard held across publishes keeps its snapshot; the writer never waits. */
const heldGuard: Check = (host) => {
  const [write, read] = create({ key: codecs.string, value: codecs.number });
  publish(write, { mode: 1 });
  return withReaders(host, 1, async ([reader]) => {
    const { readId } = await reader.ask({
      type: "attach",
      token: read.share(),
    });
    const hold = await reader.ask({ type: "hold" });
    equal(hold.entries, [["mode", 1]], "the held snapshot");
    for (const mode of [2, 3, 4]) publish(write, { mode }); // never waits
    const stats = write.stats();
    equal(stats.waits, 0, "writer waits");
    equal(stats.pinned.length, 1, "pinned versions");
    equal(stats.pinned[0].version, 1, "the pinned version");
    equal(stats.pinned[0].readers, [readId], "who pins it");
    ok(stats.copies > 2, "the writer made a spare copy");
    const held = await reader.ask({ type: "held" });
    equal(held.entries, [["mode", 1]], "the held guard after 3 publishes");
    equal(held.version, 1, "its version");
    const fresh = await reader.ask({ type: "snapshot" });
    equal(fresh.entries, [["mode", 4]], "a new guard in the same worker");
    await reader.ask({ type: "release" });
    publish(write, { mode: 5 });
    equal(write.stats().pinned, [], "pinned after the release");
    equal(read.get("mode"), 5, "the writer's reader");
    await reader.ask({ type: "close" });
  });
};

/** The map grows (tables and buffer) while workers read it. */
const growthWhileReading: Check = (host) => {
  const [write, read] = create({
    key: codecs.int32,
    value: codecs.string,
    capacity: 4,
  });
  const bytesBefore = write.stats().bytesReserved;
  const total = 20_000;
  return withReaders(host, 2, async (readers) => {
    for (const reader of readers) {
      await reader.ask({ type: "attach", token: read.share() });
    }
    const first = readers.map((reader) =>
      reader.ask({ type: "growth", until: total, maxGuards: 200_000 })
    );
    for (let start = 0; start < total; start += 500) {
      const guard = write.guard();
      for (let key = start; key < start + 500; key++) {
        guard.insert(key, `v${key}`);
      }
      guard.publish();
      await tick();
    }
    for (const reply of await Promise.all(first)) {
      equal(reply.violations, 0, "wrong entries seen while growing");
      equal(reply.backwards, 0, "snapshots that shrank");
    }
    for (const reader of readers) {
      const reply = await reader.ask({
        type: "growth",
        until: total,
        maxGuards: 1,
      });
      equal(reply.size, total, "the final size a worker sees");
      equal(reply.violations, 0, "wrong entries in the final snapshot");
    }
    ok(
      write.stats().bytesReserved > bytesBefore,
      "the buffer grew while workers read it",
    );
    equal(read.size, total, "size");
  });
};

/**
 * With `maxCopies: 2` and a worker holding the retired copy: timeouts name
 * the worker's handle; `guardAsync()` waits until it releases.
 */
const guardAsyncAndTimeouts: Check = (host) => {
  const [write, read] = create({
    key: codecs.string,
    value: codecs.number,
    maxCopies: 2,
  });
  publish(write, { a: 1 });
  return withReaders(host, 1, async ([reader]) => {
    const { readId } = await reader.ask({
      type: "attach",
      token: read.share(),
    });
    await reader.ask({ type: "hold" }); // pins version 1's copy
    publish(write, { a: 2 }); // the other copy: no wait
    if (host.canBlock) {
      const error = throws(
        () => write.guard({ timeoutMs: 20 }),
        WaitTimeoutError,
        "a blocking guard() past its timeout",
      );
      equal(error.readers, [readId], "WaitTimeoutError.readers");
    } else {
      throws(
        () => write.guard({ timeoutMs: 20 }),
        TypeError,
        "a blocking guard() on a thread that may not block",
        "guardAsync()",
      );
    }
    const timedOut = await rejects(
      write.guardAsync({ timeoutMs: 20 }),
      WaitTimeoutError,
      "guardAsync() past its timeout",
    );
    equal(timedOut.readers, [readId], "WaitTimeoutError.readers (async)");
    await rejects(
      write.synchronizeAsync({ timeoutMs: 20 }),
      WaitTimeoutError,
      "synchronizeAsync() past its timeout",
    );

    const waiting = write.guardAsync({ timeoutMs: REPLY_DEADLINE_MS });
    await reader.ask({ type: "release" });
    const guard = await waiting;
    guard.insert("a", 3);
    guard.publish();
    equal((await reader.ask({ type: "snapshot" })).entries, [["a", 3]], "seen");
    ok(write.stats().waits >= 1, "the writer counted its wait");

    await write.updateAsync((g) => g.insert("a", 4)); // no wait needed
    if (host.canBlock) {
      // A blocking wait that another thread's release ends.
      await reader.ask({ type: "hold" }); // pins version 4
      publish(write, { a: 5 });
      const released = reader.ask({ type: "release" });
      const blocked = write.guard({ timeoutMs: REPLY_DEADLINE_MS });
      blocked.insert("a", 6);
      blocked.publish();
      await released;
      equal(read.get("a"), 6, "after a blocking wait");
    }
    await reader.ask({ type: "close" });
  });
};

/** `changed()` and `versions()` in a worker wake on the writer's publishes. */
const versionsAcrossThreads: Check = (host) => {
  const [write, read] = create({ key: codecs.string, value: codecs.number });
  return withReaders(host, 1, async ([reader]) => {
    await reader.ask({ type: "attach", token: read.share() });
    const since = write.version;
    const changed = reader.ask({
      type: "changed",
      since,
      timeoutMs: REPLY_DEADLINE_MS,
    });
    await tick(5);
    publish(write, { a: 1 });
    equal((await changed).version, since + 1, "changed() in a worker");

    const versions = reader.ask({ type: "versions", max: 1_000 });
    for (let value = 2; value <= 4; value++) {
      await tick(5);
      publish(write, { a: value });
    }
    await tick(5);
    write.close(); // ends the worker's loop
    const seen = (await versions).seen as number[];
    ok(
      seen.every((version, i) => i === 0 || version > seen[i - 1]),
      `versions() went back: ${show(seen)}`,
    );
    ok(
      seen.length === 0 || seen[seen.length - 1] <= 4,
      `versions() past the last publish: ${show(seen)}`,
    );
    await reader.ask({ type: "close" });
  });
};

/** Bad input, limits and deadlocks throw the documented errors. */
const errors: Check = (host) => {
  throws(() => create({ maxCopies: 1 }), RangeError, "maxCopies: 1");
  throws(() => create({ maxCopies: 17 }), RangeError, "maxCopies: 17");
  throws(() => create({ maxReaders: 0 }), RangeError, "maxReaders: 0");
  throws(() => create({ capacity: -1 }), RangeError, "capacity: -1");
  throws(
    () => create({ key: codecs.json() as never }),
    TypeError,
    "a json key codec",
  );

  const [write, read] = create({ key: codecs.int32, value: codecs.string });
  const guard = write.guard();
  throws(() => guard.insert(1.5, "x"), RangeError, "an int32 key of 1.5");
  throws(
    () => guard.insert("1" as never, "x"),
    TypeError,
    "a string int32 key",
  );
  throws(() => guard.insert(1, 2 as never), TypeError, "a number value");
  guard.insert(1, "one");
  guard.publish();
  throws(() => guard.insert(2, "two"), TypeError, "a published guard");
  const view = read.guard();
  view.release();
  throws(() => view.get(1), TypeError, "a released read guard");
  const clone = read.clone();
  clone.close();
  throws(() => clone.get(1), TypeError, "a closed read handle");
  throws(() => attach({} as never), TypeError, "attach() of a non-token");
  throws(
    () =>
      attach(read.share() as never, {
        key: codecs.string,
        value: codecs.string,
      }),
    TypeError,
    "attach() with other codecs",
  );
  equal(read.get(1), "one", "the map after refused input");

  const [small] = create({ maxBytes: 1 << 16 });
  throws(
    () => {
      for (let i = 0; i < 10_000; i++) {
        small.update((g) => g.insert(`k${i}`, "v".repeat(100)));
      }
    },
    BufferFullError,
    "inserting past maxBytes",
  );
  const full = small.stats().bytesReserved;
  equal(full, 1 << 16, "bytes reserved at maxBytes");
  small.update((g) => g.delete("k0")); // still usable

  // The README's DeadlockError example, with maxReaders: 1.
  const [w2, r2] = create({ key: codecs.int32, maxReaders: 1, maxCopies: 2 });
  throws(() => r2.clone(), ReaderLimitError, "clone() past maxReaders");
  ok(new ReaderLimitError("x") instanceof RangeError, "ReaderLimitError");
  w2.update((g) => g.insert(1, "one"));
  const held = r2.guard();
  w2.update((g) => g.insert(2, "two"));
  throws(() => w2.guard(), DeadlockError, "guard() waiting for its own thread");
  throws(() => w2.synchronize(), DeadlockError, "synchronize() likewise");
  equal(held.get(2), undefined, "the snapshot predates the insert");
  held.release();
  equal(r2.get(2), "two", "after the release");

  // ReaderLimitError across threads: a worker's attach() counts.
  const [, r3] = create({ maxReaders: 2 });
  return withReaders(host, 2, async ([first, second]) => {
    await first.ask({ type: "attach", token: r3.share() });
    const refused = await second.send({ type: "attach", token: r3.share() });
    equal(refused.error?.name, "ReaderLimitError", "a third handle's attach()");
    throws(() => r3.clone(), ReaderLimitError, "clone() past maxReaders");
    await first.ask({ type: "close" });
    await second.ask({ type: "attach", token: r3.share() });
    await second.ask({ type: "close" });
  });
};

/** The checks, in order. */
/**
 * Two workers add to cells while the writer publishes and grows the map:
 * the sums are exact, and a map without cells refuses the operations.
 */
const atomicCells: Check = (host) => {
  const [write, read] = create({
    key: codecs.string,
    value: codecs.atomicInt32,
  });
  const hits = write.guard();
  hits.insert("hits", 0);
  hits.publish();
  return withReaders(host, 2, async (readers) => {
    for (const reader of readers) {
      await reader.ask({ type: "attach", token: read.share() });
    }
    const times = 20_000;
    const adding = readers.map((reader) =>
      reader.ask({ type: "add", key: "hits", times })
    );
    for (let round = 0; round < 50; round++) {
      const guard = write.guard();
      for (let i = 0; i < 40; i++) guard.insert(`other ${round} ${i}`, i);
      guard.add("hits", 1);
      guard.publish();
      await tick();
    }
    await Promise.all(adding);
    equal(read.get("hits"), 2 * times + 50, "the sum of every add");
    equal(read.store("hits", 0), 0, "store returns its value");
    equal(read.add("missing", 1), undefined, "an absent key");
    const [plainWrite, plain] = create();
    throws(
      () => (plain as unknown as typeof read).add("x", 1),
      TypeError,
      "a map without cells",
    );
    plainWrite.close();
    plain.close();
    write.close();
    read.close();
  });
};

export const checks: [string, Check][] = [
  ["the README's quick example", quickExample],
  ["two workers attach from tokens and check snapshots", workersSnapshots],
  ["a held guard across publishes (spare copies)", heldGuard],
  ["growth while reading", growthWhileReading],
  ["guardAsync() and the timeouts (maxCopies: 2)", guardAsyncAndTimeouts],
  ["changed() and versions() in a worker", versionsAcrossThreads],
  ["the errors", errors],
  ["atomic cells updated from two workers", atomicCells],
];

/**
 * Runs every check on `host`, one after another; `print` gets one line per
 * check ("ok" or "FAIL", then where and what).
 */
export async function runSuite(
  host: Host,
  print: (line: string) => void,
): Promise<Summary> {
  const results: CheckResult[] = [];
  for (const [name, check] of checks) {
    const start = Date.now(); // shown, never asserted
    try {
      await check(host);
      results.push({ name, ok: true });
      print(`ok   ${host.label}: ${name} (${Date.now() - start} ms)`);
    } catch (error) {
      const text = error instanceof Error
        ? `${error.name}: ${error.message}`
        : String(error);
      results.push({ name, ok: false, error: text });
      print(`FAIL ${host.label}: ${name}\n     ${text}`);
    }
  }
  const passed = results.filter((result) => result.ok).length;
  return {
    label: host.label,
    passed,
    failed: results.length - passed,
    results,
  };
}
