/**
 * Versions as readers see them (src/versions.ts): `ReadGuard.version`,
 * `ReadHandle.version`, `WriteHandle.version`, waiting for a newer version
 * with `changed()`, and following them with `versions()`, in this thread and
 * in real workers (S2: a version seen never goes back; S3: `changed` always
 * sees a publish made after it was called).
 *
 * No test asserts on wall-clock time: the time limits below are deadlock
 * guards, and every loop is bounded.
 */
import {
  assert,
  assertEquals,
  assertGreaterOrEqual,
  assertInstanceOf,
  assertRejects,
  assertStrictEquals,
} from "@std/assert";
import { deadline } from "@std/async";
import {
  attach,
  codecs,
  create,
  type ReadHandle,
  WaitTimeoutError,
  type WriteHandle,
} from "@x/flashmap";
import { TestWorker } from "./utils.ts";

const WORKER = new URL("./workers/version_worker.ts", import.meta.url);

/** Generous: a deadlock guard, never a timing assertion. */
const STUCK_MS = 10_000;

/**
 * `promise`, or a rejection once it has not settled for {@linkcode STUCK_MS}:
 * a wait that misses its wake-up fails its test instead of hanging the run.
 */
function settled<T>(promise: Promise<T>): Promise<T> {
  return deadline(promise, STUCK_MS);
}

/** A map whose writer sets `"version"` to the version each publish makes. */
function versionedMap() {
  return create({ key: codecs.string, value: codecs.number });
}

/** One publish that sets `"version"` to the version it makes. */
function bump(write: WriteHandle<string, number>): number {
  const next = write.version + 1;
  write.update((guard) => guard.set("version", next));
  return next;
}

/** Lets the event loop run (another thread's messages, waits that woke). */
function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

async function startWorker(
  read: ReadHandle<string, number>,
): Promise<TestWorker> {
  const worker = new TestWorker(WORKER);
  await worker.next("ready");
  const reply = await worker.request({
    type: "attach",
    token: read.share(),
  } as { type: string });
  assertEquals(reply.error, undefined);
  return worker;
}

/**
 * `Deno.test` with the op and resource sanitizers on: Deno 2.9 runs tests
 * without them unless asked, and they catch a wait that leaks its timer.
 */
function test(name: string, fn: () => void | Promise<void>): void {
  Deno.test({ name, fn, sanitizeOps: true, sanitizeResources: true });
}

// ------------------------------------------------------------ the versions

test("ReadGuard.version is the publish count of its snapshot", () => {
  const [write, read] = versionedMap();
  const other = read.clone();
  const attached = attach(read.share());
  const held = [read.guard()];
  assertEquals(held[0].version, 0);
  for (let n = 1; n <= 5; n++) {
    bump(write);
    held.push(read.guard(), other.guard());
  }
  // Guards held across later publishes keep their versions.
  assertEquals(held.map((guard) => guard.version), [
    0,
    1,
    1,
    2,
    2,
    3,
    3,
    4,
    4,
    5,
    5,
  ]);
  for (const guard of held) {
    assertEquals(guard.get("version") ?? 0, guard.version);
  }
  {
    using guard = attached.guard();
    assertEquals(guard.version, 5);
  }
  for (const guard of held) guard.release();
  write.synchronize();
  using last = read.guard();
  assertEquals(last.version, 5);
  attached.close();
  other.close();
});

test("ReadGuard.version throws a TypeError once the guard is released", () => {
  const [, read] = versionedMap();
  const guard = read.guard();
  guard.release();
  let error: unknown;
  try {
    guard.version;
  } catch (e) {
    error = e;
  }
  assertInstanceOf(error, TypeError);
});

test("read.version and write.version count publishes; guards that change nothing publish nothing", () => {
  const [write, read] = versionedMap();
  const other = read.clone();
  const versions = () => [write.version, read.version, other.version];
  assertEquals(versions(), [0, 0, 0]);
  bump(write);
  assertEquals(versions(), [1, 1, 1]);
  write.update((guard) => guard.set("a", 1).set("b", 2).delete("a"));
  assertEquals(versions(), [2, 2, 2]);
  // Guards that change nothing.
  {
    using _guard = write.guard();
  }
  write.update(() => {});
  write.update((guard) => guard.remove("missing"));
  write.update((guard) => guard.replace("missing", (n) => n + 1));
  write.update((guard) => guard.delete("missing"));
  {
    using guard = write.guard();
    guard.set("c", 3);
    guard.abort();
  }
  {
    const guard = write.guard();
    guard.publish();
    guard.publish();
  }
  assertEquals(versions(), [2, 2, 2]);
  // A guard published twice counts once.
  {
    const guard = write.guard();
    guard.set("d", 4);
    guard.publish();
    guard.publish();
  }
  assertEquals(versions(), [3, 3, 3]);
  assertEquals(write.stats().version, write.version);
  assertEquals(read.stats().version, read.version);
  // The write guard's own changes are not a version until published.
  {
    using guard = write.guard();
    guard.set("e", 5);
    assertEquals(versions(), [3, 3, 3]);
  }
  assertEquals(versions(), [4, 4, 4]);
  write.close();
  assertEquals(read.version, 4);
  assertEquals(write.version, 4);
  other.close();
});

test("read.version throws a TypeError on a closed handle", () => {
  const [, read] = versionedMap();
  const other = read.clone();
  other.close();
  let error: unknown;
  try {
    other.version;
  } catch (e) {
    error = e;
  }
  assertInstanceOf(error, TypeError);
});

test("read.version never goes back, and a guard opened after it sees it or newer", () => {
  const [write, read] = versionedMap();
  const other = read.clone();
  const held: { release(): void }[] = [];
  let last = [0, 0];
  for (let round = 0; round < 60; round++) {
    if (round % 3 === 0) bump(write);
    // Guards left held pin old versions (the handles' words get residuals).
    if (round % 5 === 0) held.push(read.guard());
    if (round % 7 === 0) held.push(other.guard());
    if (round % 11 === 0) held.splice(0).forEach((guard) => guard.release());
    const now = [read.version, other.version];
    assertGreaterOrEqual(now[0], last[0]);
    assertGreaterOrEqual(now[1], last[1]);
    last = now;
    {
      using guard = read.guard();
      assertGreaterOrEqual(guard.version, now[0]);
      assertEquals(guard.get("version") ?? 0, guard.version);
    }
    {
      using guard = other.guard();
      assertGreaterOrEqual(guard.version, now[1]);
    }
    assertEquals(read.version, write.version);
  }
  held.forEach((guard) => guard.release());
  other.close();
});

// ------------------------------------------------------------ changed()

test("changed() resolves at once when a newer version already exists", async () => {
  const [write, read] = versionedMap();
  bump(write);
  bump(write);
  assertEquals(await read.changed(0), 2);
  assertEquals(await read.changed(1), 2);
  assertEquals(await read.changed(-1), 2);
  // Even with no time to wait, or a signal.
  assertEquals(await read.changed(1, { timeoutMs: 0 }), 2);
  const controller = new AbortController();
  assertEquals(await read.changed(0, { signal: controller.signal }), 2);
  // And after the writer closed.
  write.close();
  assertEquals(await read.changed(1), 2);
});

test("changed() always sees a publish made after it was called", async () => {
  const [write, read] = versionedMap();
  for (let round = 0; round < 50; round++) {
    const since = read.version;
    const next = read.changed(since, { timeoutMs: STUCK_MS });
    if (round % 2 === 1) await tick(); // let it go to sleep first
    const published = bump(write);
    assertEquals(await settled(next), published);
    assertEquals(published, since + 1);
  }
});

test("changed() resolves with the newest version, skipping those published meanwhile", async () => {
  const [write, read] = versionedMap();
  const since = read.version;
  const next = read.changed(since, { timeoutMs: STUCK_MS });
  await tick();
  bump(write);
  bump(write);
  bump(write);
  assertEquals(await settled(next), since + 3);
  // Several waiters of several handles wake on one publish.
  const other = read.clone();
  const waits = [
    read.changed(3, { timeoutMs: STUCK_MS }),
    read.changed(3),
    other.changed(3, { signal: new AbortController().signal }),
  ];
  await tick();
  bump(write);
  assertEquals(await settled(Promise.all(waits)), [4, 4, 4]);
  other.close();
});

test("changed() waits for a version newer than a `since` ahead of the map", async () => {
  const [write, read] = versionedMap();
  const next = read.changed(2, { timeoutMs: STUCK_MS });
  let done = false;
  next.then(() => done = true, () => done = true);
  bump(write);
  await tick();
  bump(write);
  await tick();
  assertEquals(done, false);
  bump(write);
  assertEquals(await settled(next), 3);
});

test("changed() rejects with the signal's reason when it aborts", async () => {
  const [write, read] = versionedMap();
  // Aborted while waiting: an AbortError DOMException by default.
  {
    const controller = new AbortController();
    const next = read.changed(0, { signal: controller.signal });
    await tick();
    controller.abort();
    const error = await assertRejects(() => settled(next), DOMException);
    assertEquals(error.name, "AbortError");
  }
  // The signal's own reason, whatever it is.
  {
    const controller = new AbortController();
    const reason = new Error("mine");
    const next = read.changed(0, { signal: controller.signal });
    await tick();
    controller.abort(reason);
    assertStrictEquals(await settled(next).catch((e) => e), reason);
  }
  {
    const controller = new AbortController();
    const next = read.changed(0, {
      signal: controller.signal,
      timeoutMs: 60_000,
    });
    controller.abort("a string reason");
    assertStrictEquals(await settled(next).catch((e) => e), "a string reason");
  }
  // Already aborted: rejects without waiting.
  {
    const reason = new RangeError("before");
    const next = read.changed(0, { signal: AbortSignal.abort(reason) });
    assertStrictEquals(await settled(next).catch((e) => e), reason);
  }
  // The map works on, and a later wait is not disturbed by the aborted one.
  const next = read.changed(0, { timeoutMs: STUCK_MS });
  bump(write);
  assertEquals(await settled(next), 1);
});

test("changed() rejects with a WaitTimeoutError after timeoutMs", async () => {
  const [write, read] = versionedMap();
  await assertRejects(
    () => read.changed(0, { timeoutMs: 0 }),
    WaitTimeoutError,
  );
  await assertRejects(
    () => read.changed(0, { timeoutMs: 5 }),
    WaitTimeoutError,
  );
  // The signal's abort does not come first.
  await assertRejects(
    () =>
      read.changed(0, {
        timeoutMs: 5,
        signal: new AbortController().signal,
      }),
    WaitTimeoutError,
  );
  // A publish in time wins over a long limit, or none.
  const next = read.changed(0, { timeoutMs: 60_000 });
  bump(write);
  assertEquals(await settled(next), 1);
  const unlimited = read.changed(1, { timeoutMs: Infinity });
  bump(write);
  assertEquals(await settled(unlimited), 2);
});

test("changed() rejects with a TypeError when the write handle closes with no newer version", async () => {
  const [write, read] = versionedMap();
  bump(write);
  const other = read.clone();
  const waits = [read.changed(1), other.changed(1, { timeoutMs: 60_000 })];
  await tick();
  write.close();
  for (const wait of waits) await assertRejects(() => settled(wait), TypeError);
  // Already closed: no wait at all.
  await assertRejects(() => settled(read.changed(1)), TypeError);
  await assertRejects(() => settled(read.changed(5)), TypeError);
  other.close();
});

test("changed() checks its arguments, rejecting rather than throwing", async () => {
  const [, read] = versionedMap();
  const call = (since: unknown, options?: unknown) =>
    read.changed(since as number, options as undefined);
  const cases: [unknown, unknown, typeof TypeError | typeof RangeError][] = [
    [1.5, undefined, TypeError],
    [NaN, undefined, TypeError],
    [Infinity, undefined, TypeError],
    ["1", undefined, TypeError],
    [undefined, undefined, TypeError],
    [null, undefined, TypeError],
    [1n, undefined, TypeError],
    [0, { timeoutMs: "5" }, TypeError],
    [0, { timeoutMs: -1 }, RangeError],
    [0, { timeoutMs: NaN }, RangeError],
    [0, { timeoutMs: -Infinity }, RangeError],
    [0, { signal: {} }, TypeError],
    [0, { signal: "abort" }, TypeError],
    [0, { signal: null }, TypeError],
    [0, null, TypeError],
    [0, "options", TypeError],
  ];
  for (const [since, options, ErrorClass] of cases) {
    let promise: Promise<number> | undefined;
    try {
      promise = call(since, options);
    } catch (error) {
      throw new Error(
        `changed(${String(since)}, ${JSON.stringify(options)}) threw ${error}`,
      );
    }
    assertInstanceOf(promise, Promise);
    await assertRejects(
      () => promise,
      ErrorClass,
      undefined,
      `changed(${String(since)}, ${JSON.stringify(options)})`,
    );
  }
  // A closed handle.
  const other = read.clone();
  other.close();
  const promise = other.changed(0, { timeoutMs: 0 });
  assertInstanceOf(promise, Promise);
  await assertRejects(() => promise, TypeError, "closed");
});

test("changed() settles when its handle is closed while it waits", async () => {
  // ReadHandle.changed's contract: it rejects with a TypeError when "this
  // handle is closed". A wait pending when the handle closes must settle by
  // itself, not keep the thread alive until some later publish.
  const [write, read] = versionedMap();
  const other = read.clone();
  const next = other.changed(0);
  await tick();
  other.close();
  try {
    await assertRejects(() => deadline(next, 2_000), TypeError);
  } finally {
    // Wakes the wait if it did not settle, so that it leaks nothing.
    bump(write);
    await next.catch(() => {});
  }
});

test("changed() in a worker rejects with a TypeError when the writer reclaims its handle", async () => {
  const [write, read] = versionedMap();
  const worker = new TestWorker(WORKER);
  try {
    await worker.next("ready");
    const attached = await worker.request({
      type: "attach",
      token: read.share(),
    } as { type: string });
    assertEquals(attached.error, undefined);
    worker.post({ type: "wait", timeoutMs: STUCK_MS });
    // Reclaiming frees the slot; the sleeping changed() must learn of it
    // without a publish (bounded: the worker's wait gives up after STUCK_MS).
    await tick();
    write.reclaim(attached.id as number);
    const reply = await worker.next("wait");
    assertEquals(reply.rejected, "TypeError", String(reply.message));
    assert(String(reply.message).includes("reclaimed"), String(reply.message));
    assertEquals(read.stats().openHandles, 1);
  } finally {
    await worker[Symbol.asyncDispose]();
  }
});

// ------------------------------------------------------------ versions()

test("versions() yields newer versions, skips missed ones, and ends when the writer closes", async () => {
  const [write, read] = versionedMap();
  bump(write); // before the loop starts: not yielded
  const iterator = read.versions();
  let step = iterator.next(); // the loop starts now, from version 1
  await tick();
  bump(write);
  assertEquals(await settled(step), { value: 2, done: false });
  // Published while the loop body ran: only the newest is yielded.
  bump(write);
  bump(write);
  bump(write);
  assertEquals(await settled(iterator.next()), { value: 5, done: false });
  step = iterator.next();
  await tick();
  bump(write);
  assertEquals(await settled(step), { value: 6, done: false });
  // A version published just before the close is still yielded.
  step = iterator.next();
  bump(write);
  write.close();
  assertEquals(await settled(step), { value: 7, done: false });
  assertEquals(await settled(iterator.next()), {
    value: undefined,
    done: true,
  });
  assertEquals(await settled(iterator.next()), {
    value: undefined,
    done: true,
  });
});

test("versions() ends when the writer closes while it waits, and at once when it is already closed", async () => {
  const [write, read] = versionedMap();
  const seen: number[] = [];
  const loop = (async () => {
    for await (const version of read.versions()) seen.push(version);
  })();
  for (let i = 0; i < 5; i++) {
    bump(write);
    await tick();
  }
  write.close();
  await settled(loop);
  // Each yield is newer than the one before, and the last is the last.
  for (let i = 1; i < seen.length; i++) assert(seen[i] > seen[i - 1]);
  assertGreaterOrEqual(seen.length, 1);
  assertEquals(seen.at(-1), 5);
  // Already closed: ends without a yield.
  const after: number[] = [];
  for await (const version of read.versions()) after.push(version);
  assertEquals(after, []);
});

test("versions(): leaving the loop early leaves nothing waiting", async () => {
  const [write, read] = versionedMap();
  const loop = (async () => {
    const seen: number[] = [];
    for await (const version of read.versions()) {
      seen.push(version);
      if (seen.length === 2) break;
    }
    return seen;
  })();
  await tick();
  bump(write);
  await tick();
  bump(write);
  const seen = await settled(loop);
  assertEquals(seen, [1, 2]);
  // The map still works; the writer is left open (nothing waits on it).
  bump(write);
  assertEquals(read.version, 3);
});

test("versions() on a closed handle rejects with a TypeError", async () => {
  const [, read] = versionedMap();
  const other = read.clone();
  other.close();
  await assertRejects(() => other.versions().next(), TypeError);
});

// ------------------------------------------------------------ workers

test("S2/S3 in workers: followers of changed() see every publish, never going back", async () => {
  const [write, read] = versionedMap();
  const PUBLISHES = 400;
  await using first = await startWorker(read);
  await using second = await startWorker(read);
  first.post({ type: "follow", maxWakes: PUBLISHES + 1 });
  second.post({ type: "follow", maxWakes: PUBLISHES + 1 });
  await tick();
  for (let n = 1; n <= PUBLISHES; n++) {
    bump(write);
    if (n % 10 === 0) await tick();
  }
  write.close();
  for (const worker of [first, second]) {
    const reply = await worker.next("follow");
    assertEquals(reply.error, undefined);
    assertEquals(reply.behind, 0, "a guard opened after changed() was older");
    assertEquals(reply.backwards, 0, "guard versions went back");
    assertEquals(
      reply.mismatched,
      0,
      "a guard's contents were not its version",
    );
    assertEquals(reply.handleBehind, 0, "read.version was behind changed()");
    assertEquals(reply.notNewer, 0, "changed() resolved with no newer version");
    assertEquals(reply.ended, "writer closed");
    assertEquals(reply.last, PUBLISHES);
    assertEquals(reply.final, PUBLISHES);
    assertGreaterOrEqual(reply.wakes as number, 1);
  }
});

test("S3 across threads: a changed() armed before a publish always wakes", async () => {
  const [write, read] = versionedMap();
  await using worker = await startWorker(read);
  for (let round = 0; round < 40; round++) {
    worker.post({ type: "arm" });
    const armed = await worker.next("armed");
    assertEquals(armed.since, write.version);
    if (round % 2 === 1) await tick();
    const published = bump(write);
    const woke = await worker.next("arm");
    assertEquals(woke.error, undefined);
    assertEquals(woke.next, published);
  }
});

test("S2 in a worker: read.version read in a loop never goes back while versions are published", async () => {
  const [write, read] = versionedMap();
  const PUBLISHES = 300;
  await using worker = await startWorker(read);
  worker.post({ type: "spin", until: PUBLISHES, maxSteps: 20_000_000 });
  for (let n = 1; n <= PUBLISHES; n++) {
    bump(write);
    if (n % 25 === 0) await tick();
  }
  const reply = await worker.next("spin");
  assertEquals(reply.error, undefined);
  assertEquals(reply.backwards, 0, "read.version went back");
  assertEquals(reply.behind, 0, "a guard opened after read.version was older");
  assertEquals(reply.mismatched, 0);
  assertEquals(reply.last, PUBLISHES);
});

test("versions() in a worker: increasing versions, ending when the writer closes", async () => {
  const [write, read] = versionedMap();
  const PUBLISHES = 200;
  await using worker = await startWorker(read);
  worker.post({ type: "versions", maxSteps: PUBLISHES + 1 });
  await tick();
  for (let n = 1; n <= PUBLISHES; n++) {
    bump(write);
    if (n % 10 === 0) await tick();
  }
  write.close();
  const reply = await worker.next("versions");
  assertEquals(reply.error, undefined);
  assertEquals(reply.increasing, true);
  assertEquals(reply.mismatched, 0);
  assertEquals(reply.last, PUBLISHES);
  assertGreaterOrEqual(reply.count as number, 1);
});
