/**
 * The runtime checks of `@x/flashmap/parallel` (Node, Bun, Deno; not
 * browsers, where the module does not run): whether this runtime's
 * `BroadcastChannel` carries a `SharedArrayBuffer` between threads, shared
 * and still growable, and that `openParallel()` called by workers at the
 * same instant gives one map and one writer, and the main thread, joining
 * late, the same map. Where the channel does not carry the buffer, every
 * caller must get a `TypeError` instead, never a map of its own.
 *
 * `main.ts` runs the checks on each kind of worker the runtime has; the
 * worker side (`serveParallel`) runs in `parallel_worker_node.ts` and
 * `parallel_worker_web.ts`. Every wait has a deadline and every loop a
 * bound; times are shown, never asserted.
 *
 * @module
 */

import { codecs } from "@x/flashmap";
import { openParallel, type ParallelMap } from "@x/flashmap/parallel";
import type { Host, WorkerPort } from "./suite.ts";

/** What the checks ask a worker, without the request's id. */
export type ParallelRequestBody =
  | { type: "listen"; channel: string }
  | { type: "receive" }
  | {
    type: "open";
    name: string;
    joinTimeoutMs: number;
    barrier: { cell: Int32Array; count: number };
  }
  | { type: "read"; key: string }
  | { type: "close" };

/** A request to a worker, and its reply (`error` if it failed). */
export type ParallelRequest = ParallelRequestBody & { id: number };
/** A worker's reply to one request. */
export interface ParallelReply {
  id: number;
  error?: { name: string; message: string };
  [field: string]: unknown;
}

/** The deadline of one reply: a guard against a hang. */
const DEADLINE_MS = 60_000;

function withDeadline<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: no answer in time`)),
      DEADLINE_MS,
    );
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

// --- The worker side ---------------------------------------------------------

/**
 * Makes the message handler of a worker of these checks; `post` sends a
 * reply.
 */
export function serveParallel(
  post: (reply: ParallelReply) => void,
): (request: ParallelRequest) => void {
  const self = crypto.randomUUID();
  let received: Promise<unknown> | undefined;
  let channel: BroadcastChannel | undefined;
  let map: ParallelMap<string, string> | undefined;

  async function answer(
    request: ParallelRequest,
  ): Promise<Record<string, unknown>> {
    switch (request.type) {
      case "listen":
        channel = new BroadcastChannel(request.channel);
        received = new Promise((resolve) => {
          channel!.onmessage = (event) => resolve(event.data);
          channel!.onmessageerror = () => resolve("messageerror");
        });
        return {};
      case "receive": {
        const data = await withDeadline(received!, "a BroadcastChannel");
        channel?.close();
        const buffer = (data as { buffer?: unknown } | null)?.buffer;
        if (!(buffer instanceof SharedArrayBuffer)) {
          return { shared: false, got: String(data) };
        }
        // Counts in the sender's memory, if it is shared.
        Atomics.add(new Int32Array(buffer), 0, 1);
        return { shared: true, growable: buffer.growable };
      }
      case "open": {
        const { cell, count } = request.barrier;
        if (Atomics.add(cell, 0, 1) + 1 >= count) Atomics.notify(cell, 0);
        for (let i = 0; i < 1_000 && Atomics.load(cell, 0) < count; i++) {
          Atomics.wait(cell, 0, Atomics.load(cell, 0), 20);
        }
        map = await openParallel(request.name, {
          key: codecs.string,
          value: codecs.string,
          joinTimeoutMs: request.joinTimeoutMs,
        });
        map.write?.update((guard) => guard.set("marker", self));
        return { writer: map.write !== undefined, self };
      }
      case "read":
        return { value: map?.read.get(request.key) ?? null };
      case "close":
        map?.close();
        map = undefined;
        return {};
    }
  }

  return (request) => {
    answer(request).then(
      (fields) => post({ ...fields, id: request.id }),
      (error: unknown) =>
        post({
          id: request.id,
          error: error instanceof Error
            ? { name: error.name, message: error.message }
            : { name: "Error", message: String(error) },
        }),
    );
  };
}

// --- The checks --------------------------------------------------------------

/** A started worker of these checks: requests with ids and deadlines. */
class Peer {
  readonly #port: WorkerPort;
  readonly #pending = new Map<number, (reply: ParallelReply) => void>();
  #next = 1;
  readonly ready: Promise<ParallelReply>;

  constructor(host: Host) {
    this.#port = host.startWorker();
    this.ready = this.#expect(0, "start");
    this.#port.onMessage((message) => {
      const reply = message as ParallelReply;
      this.#pending.get(reply.id)?.(reply);
    });
    this.#port.onError((error) => {
      for (const settle of this.#pending.values()) {
        settle({ id: -1, error: { name: "Error", message: error } });
      }
    });
  }

  #expect(id: number, what: string): Promise<ParallelReply> {
    return withDeadline(
      new Promise<ParallelReply>((resolve) => {
        this.#pending.set(id, (reply) => {
          this.#pending.delete(id);
          resolve(reply);
        });
      }),
      `the worker's ${what}`,
    );
  }

  /** Sends a request; resolves with the reply, errors included. */
  send(body: ParallelRequestBody): Promise<ParallelReply> {
    const id = this.#next++;
    const reply = this.#expect(id, body.type);
    this.#port.post({ ...body, id });
    return reply;
  }

  /** Sends a request; rejects if the worker answered with an error. */
  async ask(body: ParallelRequestBody): Promise<ParallelReply> {
    const reply = await this.send(body);
    if (reply.error !== undefined) {
      throw new Error(
        `the worker's ${body.type} failed: ${reply.error.name}: ${reply.error.message}`,
      );
    }
    return reply;
  }

  terminate(): void | Promise<void> {
    return this.#port.terminate();
  }
}

async function withPeers<T>(
  host: Host,
  count: number,
  body: (peers: Peer[]) => Promise<T>,
): Promise<T> {
  const peers: Peer[] = [];
  try {
    for (let i = 0; i < count; i++) peers.push(new Peer(host));
    await Promise.all(peers.map((peer) => peer.ready));
    return await body(peers);
  } finally {
    for (const peer of peers) await peer.terminate();
  }
}

function check(condition: unknown, what: string): asserts condition {
  if (!condition) throw new Error(what);
}

/** Whether a SharedArrayBuffer posted on a BroadcastChannel arrives shared. */
function carries(host: Host): Promise<boolean> {
  return withPeers(host, 3, async (peers) => {
    const name = `flashmap-suite-${crypto.randomUUID()}`;
    for (const peer of peers) await peer.ask({ type: "listen", channel: name });
    const buffer = new SharedArrayBuffer(8, { maxByteLength: 64 });
    const channel = new BroadcastChannel(name);
    try {
      channel.postMessage({ buffer });
    } catch {
      return false; // not even sent
    } finally {
      channel.close();
    }
    const replies = await Promise.all(
      peers.map((peer) => peer.ask({ type: "receive" })),
    );
    if (!replies.every((reply) => reply.shared)) return false;
    check(
      replies.every((reply) => reply.growable),
      "the buffer arrived, but not growable",
    );
    check(
      Atomics.load(new Int32Array(buffer), 0) === 3,
      `the buffer arrived, but as a copy: ${
        Atomics.load(new Int32Array(buffer), 0)
      } of 3 workers' writes seen`,
    );
    return true;
  });
}

/**
 * Rounds of workers that call `openParallel()` at the same instant, then
 * the main thread joining late. Where the channel cannot carry the buffer,
 * every caller must be refused with a TypeError.
 */
function oneMap(host: Host, carried: boolean): Promise<void> {
  const workers = 4;
  const rounds = 3;
  return withPeers(host, workers, async (peers) => {
    for (let round = 0; round < rounds; round++) {
      const name = `suite-${round}-${crypto.randomUUID()}`;
      const barrier = {
        cell: new Int32Array(new SharedArrayBuffer(4)),
        count: workers,
      };
      const replies = await Promise.all(
        peers.map((peer) =>
          peer.send({ type: "open", name, joinTimeoutMs: 100, barrier })
        ),
      );
      if (!carried) {
        check(
          replies.every((reply) => reply.error?.name === "TypeError"),
          `without a shared buffer, every caller must get a TypeError: ${
            JSON.stringify(replies)
          }`,
        );
        continue;
      }
      for (const reply of replies) {
        check(reply.error === undefined, `open: ${reply.error?.message}`);
      }
      const writers = replies.filter((reply) => reply.writer);
      check(writers.length === 1, `round ${round}: ${writers.length} writers`);
      for (const peer of peers) {
        const { value } = await peer.ask({ type: "read", key: "marker" });
        check(
          value === writers[0].self,
          `round ${round}: a worker read marker ${value}, the writer wrote ${
            writers[0].self
          }`,
        );
      }
      // The main thread joins late: the same map, and no write handle.
      const late = await openParallel(name);
      try {
        check(late.write === undefined, "a late joiner got a write handle");
        check(
          late.read.get("marker") === writers[0].self,
          "a late joiner read another map",
        );
      } finally {
        late.close();
      }
      const refused = await openParallel(name, { value: codecs.number })
        .then(() => undefined, (error: unknown) => error);
      check(
        refused instanceof TypeError &&
          refused.message.includes(
            'its value codec is "string", but this call asks for "number"',
          ),
        `other options: ${refused}`,
      );
      for (const peer of peers) await peer.ask({ type: "close" });
    }
  });
}

/**
 * Runs the checks on `host` (whose workers run `serveParallel`); `print`
 * gets one line per check.
 */
export async function runParallelChecks(
  host: Host,
  print: (line: string) => void,
): Promise<{ passed: number; failed: number }> {
  let passed = 0;
  let failed = 0;
  let carried = false;
  const steps: [string, () => Promise<string | void>][] = [
    [
      "BroadcastChannel carries a growable SharedArrayBuffer between threads, shared",
      async () => {
        carried = await carries(host);
        if (!carried) {
          throw new Error(
            "it does not: openParallel() must refuse here, and the README must say so",
          );
        }
      },
    ],
    [
      "openParallel(): workers at the same instant get one map and one writer; late joiners the same map",
      () => oneMap(host, carried),
    ],
  ];
  for (const [name, step] of steps) {
    const start = Date.now(); // shown, never asserted
    try {
      await step();
      passed++;
      print(`ok   ${host.label}: ${name} (${Date.now() - start} ms)`);
    } catch (error) {
      failed++;
      print(
        `FAIL ${host.label}: ${name}\n     ${
          error instanceof Error ? error.message : String(error)
        }`,
      );
    }
  }
  return { passed, failed };
}
