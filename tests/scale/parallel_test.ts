/**
 * `@x/flashmap/parallel` for real: `deno serve --parallel` with two
 * isolates hit over HTTP, Workers that call `openParallel()` at the same
 * instant (many rounds), late joiners, a writer whose worker is gone,
 * options that disagree, and bad input.
 *
 * Every loop is bounded and every wait has a deadline (a guard against a
 * hang, never a timing assertion); workers are terminated and the server
 * killed in `finally`.
 *
 * @module
 */

import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { codecs, ReaderLimitError } from "@x/flashmap";
import { openParallel, type ParallelMap } from "@x/flashmap/parallel";
import type { Request } from "./fixtures/parallel_worker.ts";

/** Asserts that `text` contains `part`. */
function assertIncludes(text: string, part: string): void {
  assert(text.includes(part), `expected "${part}" in: ${text}`);
}

/** The deadline of one reply from a worker: a guard against a hang. */
const REPLY_DEADLINE_MS = 30_000;
const WORKER_URL = new URL("./fixtures/parallel_worker.ts", import.meta.url);
const SERVE_URL = new URL("./fixtures/parallel_serve.ts", import.meta.url);

type Body = Request extends infer R ? R extends unknown ? Omit<R, "id"> : never
  : never;

interface Reply {
  id: number;
  error?: { name: string; message: string };
  [field: string]: unknown;
}

/** A fixture worker: requests with ids, each answered once, with deadlines. */
class Member {
  readonly #worker = new Worker(WORKER_URL, { type: "module" });
  readonly #pending = new Map<number, (reply: Reply) => void>();
  #next = 1;
  #failure: string | undefined;
  #terminated = false;

  constructor() {
    this.#worker.onmessage = (event: MessageEvent<Reply>) => {
      this.#pending.get(event.data.id)?.(event.data);
    };
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.#failure ??= event.message;
      for (const settle of this.#pending.values()) {
        settle({ id: 0, error: { name: "Error", message: event.message } });
      }
    };
  }

  /** Sends a request; resolves with the reply, errors included. */
  send(body: Body): Promise<Reply> {
    if (this.#failure !== undefined) {
      return Promise.reject(new Error(`the worker failed: ${this.#failure}`));
    }
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`no reply to ${body.type} in time`));
      }, REPLY_DEADLINE_MS);
      this.#pending.set(id, (reply) => {
        clearTimeout(timer);
        this.#pending.delete(id);
        resolve(reply);
      });
      this.#worker.postMessage({ ...body, id });
    });
  }

  /** Sends a request; rejects if the worker answered with an error. */
  async ask(body: Body): Promise<Reply> {
    const reply = await this.send(body);
    if (reply.error !== undefined) {
      throw new Error(
        `the worker's ${body.type} failed: ${reply.error.name}: ${reply.error.message}`,
      );
    }
    return reply;
  }

  terminate(): void {
    if (this.#terminated) return;
    this.#terminated = true;
    this.#worker.terminate();
  }
}

/**
 * `count` fixture workers, terminated when disposed, each of which has
 * answered once. The first one starts alone, so that the others find its
 * module checked and cached.
 */
async function pool(count: number): Promise<Member[] & Disposable> {
  const members: Member[] = [];
  const all = Object.assign(members, {
    [Symbol.dispose]() {
      for (const member of members) member.terminate();
    },
  });
  try {
    members.push(new Member());
    await members[0].ask({ type: "ping" });
    while (members.length < count) members.push(new Member());
    // Every one loaded before any test starts: a worker still loading (or
    // type-checking, when the cache is cold) would hold up a barrier.
    await Promise.all(members.map((member) => member.ask({ type: "ping" })));
    return all;
  } catch (error) {
    all[Symbol.dispose]();
    throw error;
  }
}

/** A new barrier for `count` workers. */
function barrier(count: number): { cell: Int32Array; count: number } {
  return { cell: new Int32Array(new SharedArrayBuffer(4)), count };
}

/** A fresh map name, so that no round meets another's map. */
function fresh(label: string): string {
  return `${label}-${crypto.randomUUID()}`;
}

Deno.test("workers that call openParallel at the same instant get one map and one writer", async () => {
  using members = await pool(16);
  // Two, eight and sixteen workers in turn, with the default joinTimeoutMs,
  // then eight with a shorter one.
  const rounds: [number, number | undefined][] = [
    ...Array.from(
      { length: 24 },
      (_, i) => [[2, 8, 16][i % 3], undefined] as [number, undefined],
    ),
    ...Array.from({ length: 8 }, () => [8, 100] as [number, number]),
  ];
  for (const [round, [count, joinTimeoutMs]] of rounds.entries()) {
    const group = members.slice(0, count);
    const name = fresh(`instant-${round}`);
    const meet = barrier(count);
    const joined = await Promise.all(group.map((member) =>
      member.ask({
        type: "open",
        name,
        options: { joinTimeoutMs },
        barrier: meet,
        mark: true,
      })
    ));
    const writers = joined.filter((reply) => reply.writer);
    assertEquals(writers.length, 1, `round ${round}: writers`);
    // The writer marked the map before it answered: every worker reads the
    // writer's own id from its handle, so all of them hold its map.
    for (const member of group) {
      const { value } = await member.ask({ type: "read", key: "marker" });
      assertEquals(value, writers[0].worker, `round ${round}: the marker`);
    }
    await Promise.all(group.map((member) => member.ask({ type: "close" })));
  }
});

Deno.test("late joiners get the existing map, also after the writer's worker is gone", async () => {
  using members = await pool(5);
  const name = fresh("late");
  const meet = barrier(3);
  const first = await Promise.all(
    members.slice(0, 3).map((member) =>
      member.ask({ type: "open", name, barrier: meet })
    ),
  );
  const writerAt = first.findIndex((reply) => reply.writer);
  assert(writerAt >= 0 && first.filter((r) => r.writer).length === 1);
  const writer = members[writerAt];
  await writer.ask({ type: "write", key: "k", value: "v1" });

  // One late worker, then a worker and this thread at once.
  assertEquals(
    (await members[3].ask({ type: "open", name })).writer,
    false,
    "a late joiner's write",
  );
  const [late, main] = await Promise.all([
    members[4].ask({ type: "open", name }),
    openParallel(name),
  ]);
  let mainMap: ParallelMap<string, string> | undefined = main;
  try {
    assertEquals(late.writer, false);
    assertEquals(main.write, undefined);
    assertEquals(main.read.get("k"), "v1");
    for (const member of members) {
      assertEquals((await member.ask({ type: "read", key: "k" })).value, "v1");
    }
    await writer.ask({ type: "write", key: "k", value: "v2" });
    assertEquals(main.read.get("k"), "v2", "one map: this thread sees it");
    for (const member of members) {
      assertEquals((await member.ask({ type: "read", key: "k" })).value, "v2");
    }

    // The writer's isolate ends: the others keep the map, and a joiner
    // gets it from a reader, read-only.
    writer.terminate();
    const reader = members[3]; // a late joiner, never the writer
    await reader.ask({ type: "close" });
    assertEquals((await reader.ask({ type: "open", name })).writer, false);
    assertEquals((await reader.ask({ type: "read", key: "k" })).value, "v2");
    const again = await openParallel(name);
    assertEquals(again.write, undefined);
    assertEquals(again.read.get("k"), "v2");
    again.close();

    // Once every caller has left, the next one creates a new map.
    for (const [at, member] of members.entries()) {
      if (at !== writerAt) await member.ask({ type: "close" });
    }
    main.close();
    mainMap = undefined;
    using next = await openParallel(name, { joinTimeoutMs: 50 });
    assert(next.write !== undefined, "a new map, with a writer");
    assertEquals(next.read.get("k"), undefined);
  } finally {
    mainMap?.close();
  }
});

Deno.test("options that disagree are a TypeError in the caller that joins", async () => {
  const name = fresh("options");
  using held = await openParallel(name, {
    value: codecs.number,
    joinTimeoutMs: 50,
  });
  assert(held.write !== undefined);
  held.write.update((guard) => guard.set("a", 1));
  const cases: [Parameters<typeof openParallel>[1], string][] = [
    [{}, 'its value codec is "number", but this call asks for "string"'],
    [
      { key: codecs.int32, value: codecs.number },
      'its key codec is "string", but this call asks for "int32"',
    ],
    [
      { value: codecs.number, maxReaders: 8 },
      "its maxReaders is 256, but this call asks for 8",
    ],
    [
      { value: codecs.number, maxCopies: 2 },
      "its maxCopies is 8, but this call asks for 2",
    ],
    [
      { value: codecs.number, maxBytes: 1 << 20 },
      "its maxBytes is 4294967296, but this call asks for 1048576",
    ],
    [
      { value: codecs.number, capacity: 100 },
      "its capacity is 0, but this call asks for 100",
    ],
    [
      { value: codecs.number, seed: 7 },
      "its seed is a random one, but this call asks for 7",
    ],
  ];
  for (const [options, message] of cases) {
    const error = await assertRejects(
      () => openParallel(name, options as never),
      TypeError,
    );
    assertIncludes(
      error.message,
      `Cannot join the parallel map "${name}"`,
    );
    assertIncludes(error.message, message);
  }

  // In another isolate too, and the map is none the worse for it.
  using members = await pool(1);
  const refused = await members[0].send({
    type: "open",
    name,
    options: { value: "string" },
  });
  assertEquals(refused.error?.name, "TypeError");
  assertIncludes(
    refused.error!.message,
    'its value codec is "number", but this call asks for "string"',
  );
  const joined = await members[0].ask({
    type: "open",
    name,
    options: { value: "number" },
  });
  assertEquals(joined.writer, false);
  assertEquals((await members[0].ask({ type: "read", key: "a" })).value, 1);
  await members[0].ask({ type: "close" });
});

Deno.test("openParallel refuses bad input", async () => {
  const bad: [() => Promise<unknown>, ErrorConstructor, string][] = [
    [() => openParallel(42 as never), TypeError, "name must be a string"],
    [() => openParallel(""), TypeError, "name must not be empty"],
    [() => openParallel("x", null as never), TypeError, "options must be"],
    [
      () => openParallel("x", { joinTimeoutMs: 0 }),
      RangeError,
      "joinTimeoutMs must be above 0",
    ],
    [
      () => openParallel("x", { joinTimeoutMs: Number.NaN }),
      RangeError,
      "joinTimeoutMs must be above 0",
    ],
    [
      () => openParallel("x", { joinTimeoutMs: "5" as never }),
      TypeError,
      "joinTimeoutMs must be a number",
    ],
    [
      () => openParallel("x", { maxReaders: "8" as never }),
      TypeError,
      "maxReaders must be a number, got string",
    ],
    [
      () => openParallel("x", { key: "string" as never }),
      TypeError,
      "key must be a codec",
    ],
    [
      () => openParallel("x", { signal: {} as never }),
      TypeError,
      "signal must be an AbortSignal",
    ],
  ];
  for (const [call, kind, message] of bad) {
    await assertRejects(call, kind, message);
  }

  // An aborted signal: its reason, before and during the join.
  const reason = new Error("stop");
  await assertRejects(
    () => openParallel("x", { signal: AbortSignal.abort(reason) }),
    Error,
    "stop",
  );
  const name = fresh("abort");
  const controller = new AbortController();
  const joining = openParallel(name, {
    joinTimeoutMs: 60_000,
    signal: controller.signal,
  });
  setTimeout(() => controller.abort(reason), 20);
  assertEquals(await joining.catch((error) => error), reason);
  using after = await openParallel(name, { joinTimeoutMs: 50 });
  assert(after.write !== undefined, "the aborted caller left the election");

  // create()'s own checks, in the elected caller; callers with the same
  // options get the same error.
  const invalid = fresh("invalid");
  const both = await Promise.allSettled([
    openParallel(invalid, { maxCopies: 1, joinTimeoutMs: 50 }),
    openParallel(invalid, { maxCopies: 1, joinTimeoutMs: 50 }),
  ]);
  for (const settled of both) {
    assertEquals(settled.status, "rejected");
    const error = (settled as PromiseRejectedResult).reason;
    assert(error instanceof RangeError, String(error));
    assertIncludes(error.message, "maxCopies");
  }

  // No reader slot left for a joiner.
  const full = fresh("full");
  using only = await openParallel(full, { maxReaders: 1, joinTimeoutMs: 50 });
  assert(only.write !== undefined);
  await assertRejects(
    () => openParallel(full, { maxReaders: 1 }),
    ReaderLimitError,
  );
});

Deno.test("close() leaves the map, and can be called again after a live guard held it up", async () => {
  const name = fresh("close");
  const map = await openParallel(name, { joinTimeoutMs: 50 });
  const view = map.read.guard();
  assertThrows(() => map.close(), TypeError);
  view.release();
  map.close();
  map.close(); // twice does nothing
  assert(map.read.closed && map.write?.closed === true);
  // Every caller has left: the next one creates a new map.
  using next = await openParallel(name, { joinTimeoutMs: 50 });
  assert(next.write !== undefined);
});

Deno.test("a map token without its SharedArrayBuffer, or another protocol, is a TypeError", async () => {
  const channelOf = (name: string) =>
    new BroadcastChannel(`@x/flashmap/parallel:${name}`);
  const options = {
    key: "string",
    value: "string",
    capacity: 0,
    maxReaders: 256,
    maxBytes: 4 * 1024 ** 3,
    maxCopies: 8,
    seed: null,
  };
  // What a runtime that copies the buffer, or drops it, would deliver.
  const copied = fresh("copied");
  const fake = channelOf(copied);
  try {
    const joining = openParallel(copied, { joinTimeoutMs: 60_000 });
    fake.postMessage({
      kind: "map",
      protocol: 1,
      from: "fake",
      to: null,
      mapId: "fake",
      token: { kind: "@x/flashmap:read", buffer: new ArrayBuffer(64) },
      options,
    });
    await assertRejects(
      () => joining,
      TypeError,
      "does not carry one",
    );
  } finally {
    fake.close();
  }

  const other = fresh("protocol");
  const future = channelOf(other);
  try {
    const joining = openParallel(other, { joinTimeoutMs: 60_000 });
    future.postMessage({ kind: "ballot", protocol: 99, from: "future" });
    await assertRejects(() => joining, TypeError, "protocol 99");
  } finally {
    future.close();
  }
});

/** `promise`, or a rejection after `ms`: a guard against a hang. */
async function within<T>(promise: Promise<T>, ms: number, what: string) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no ${what} in time`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("malformed messages on the channel are ignored, never thrown from its handler", async () => {
  const name = fresh("malformed");
  const raw = new BroadcastChannel(`@x/flashmap/parallel:${name}`);
  try {
    const joining = openParallel(name, { joinTimeoutMs: 50 });
    // A "map" without its options, a "failed" without options or error,
    // and a "map" whose options lack fields: each threw in the channel's
    // message handler, an uncaught error that ends the isolate.
    raw.postMessage({
      kind: "map",
      protocol: 1,
      from: "a",
      to: null,
      mapId: "m",
      token: { buffer: new SharedArrayBuffer(64) },
    });
    raw.postMessage({ kind: "failed", protocol: 1, from: "b" });
    raw.postMessage({
      kind: "failed",
      protocol: 1,
      from: "c",
      options: { key: "string" },
    });
    using map = await joining;
    assert(map.write !== undefined, "it made the map, ignoring them");
    map.write.update((guard) => guard.set("k", "v"));
    // A holder ignores them too, and still answers a well-formed ballot.
    raw.postMessage({ kind: "map", protocol: 1, from: "d", to: "x" });
    using late = await openParallel(name);
    assertEquals(late.read.get("k"), "v");
  } finally {
    raw.close();
  }
});

Deno.test("a holder answers a caller of another protocol version, which then refuses to join", async () => {
  const name = fresh("versions");
  using held = await openParallel(name, { joinTimeoutMs: 50 });
  assert(held.write !== undefined);
  const raw = new BroadcastChannel(`@x/flashmap/parallel:${name}`);
  try {
    const answer = new Promise<Record<string, unknown>>((resolve) => {
      raw.onmessage = (event) => resolve(event.data);
    });
    // A later version's ballot: the holder must tell it that protocol 1
    // holds the name (it refuses to join, as this one does), or it would
    // hear nothing and make a second map.
    raw.postMessage({
      kind: "ballot",
      protocol: 99,
      from: "future",
      probe: new SharedArrayBuffer(4),
    });
    const reply = await within(answer, 10_000, "answer to the ballot");
    assertEquals(reply.protocol, 1);
    assertEquals(reply.kind, "map");
    assertEquals(reply.to, "future");
  } finally {
    raw.close();
  }
});

// --- deno serve --parallel ---------------------------------------------------

/** A port that was free a moment ago. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/**
 * GET `path` on a new connection (so that the kernel may hand it to either
 * isolate), and parse the JSON body.
 */
async function get(port: number, path: string): Promise<unknown> {
  const connection = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await connection.write(
      new TextEncoder().encode(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
      ),
    );
    let text = "";
    const decoder = new TextDecoder();
    const chunk = new Uint8Array(4096);
    for (let i = 0; i < 1_000; i++) {
      const n = await connection.read(chunk);
      if (n === null) break;
      text += decoder.decode(chunk.subarray(0, n), { stream: true });
    }
    const [head, body] = text.split("\r\n\r\n", 2);
    if (!head.startsWith("HTTP/1.1 200")) {
      throw new Error(`unexpected answer: ${text}`);
    }
    return JSON.parse(body);
  } finally {
    connection.close();
  }
}

interface State {
  isolate: string;
  writer: boolean;
  version: number;
  owner: string | null;
  tick: number | null;
}

Deno.test("deno serve --parallel: every isolate reads one map, one of them writes", async () => {
  const port = freePort();
  const server = new Deno.Command(Deno.execPath(), {
    args: [
      "serve",
      "--parallel",
      "--no-lock",
      "--allow-net=127.0.0.1",
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      SERVE_URL.pathname,
    ],
    env: { DENO_JOBS: "2", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const drain = (stream: ReadableStream<Uint8Array>) =>
    (async () => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        output = (output + text).slice(-10_000);
      }
    })();
  const drained = Promise.all([drain(server.stdout), drain(server.stderr)]);
  let exited = false;
  const status = server.status.then((status) => {
    exited = true;
    return status;
  });
  try {
    // Wait (bounded) until an isolate has joined and listens; the loop
    // below goes on until both answer.
    let ready = false;
    for (let i = 0; i < 600 && !exited && !ready; i++) {
      ready = await get(port, "/").then(() => true, () => false);
      if (!ready) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert(ready, `the server did not start:\n${output}`);

    const seen = new Map<string, State[]>();
    const readerCaughtUp = () =>
      [...seen.values()].some((states) =>
        !states[0].writer && states[states.length - 1].version >= 3
      );
    for (let i = 0; i < 2_000; i++) {
      const state = await get(port, "/") as State;
      const states = seen.get(state.isolate) ?? [];
      states.push(state);
      seen.set(state.isolate, states);
      const enough = seen.size === 2 &&
        [...seen.values()].every((states) => states.length >= 20);
      if (enough && readerCaughtUp()) break;
    }

    assertEquals(seen.size, 2, "answers from both isolates");
    const writers = [...seen.keys()].filter((id) => seen.get(id)![0].writer);
    assertEquals(writers.length, 1, "one isolate writes");
    for (const [isolate, states] of seen) {
      let last = 0;
      for (const state of states) {
        assertEquals(state.writer, isolate === writers[0]);
        assert(state.version >= last, `${isolate}: version went back`);
        last = state.version;
        if (state.version === 0) continue; // before the first publish
        // One map: every isolate sees the writer's id, and a snapshot whose
        // tick matches its version.
        assertEquals(state.owner, writers[0]);
        assertEquals(state.tick, state.version - 1);
      }
    }
    assert(readerCaughtUp(), "the reading isolate saw the writer's publishes");
  } finally {
    try {
      server.kill("SIGKILL");
    } catch {
      // already gone
    }
    await status;
    await drained;
  }
});
