/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * The worker of `cells_messages.ts`, in one of two roles that its first
 * request chooses:
 *
 * - `owner`: owns a `Map<string, number>` of counters, which only it
 *   updates, from the increments the main thread posts (a key per message,
 *   or a batch of keys). A `flush`, posted after the last increment, is
 *   answered with what was applied: message order guarantees it was all.
 * - `adder`: attaches to a map of atomic cells and adds to it directly, in
 *   guards of `perGuard` adds, when told to `run`.
 *
 * Run through `cells_messages.ts`, not on its own.
 *
 * @module
 */

import {
  type Atomic,
  attach,
  type ReadHandle,
  type ReadToken,
} from "@x/flashmap";

/** What the main thread posts. A bare key or array of keys is an increment. */
export type MessagesRequest =
  | string
  | string[]
  | { kind: "owner" }
  | { kind: "flush" }
  | {
    kind: "adder";
    token: ReadToken<number, Atomic<number>>;
    keys: number[];
  }
  | { kind: "run"; increments: number; perGuard: number; offset: number }
  | { kind: "close" };

/** The owner's answer to `flush`: increments applied since the last flush. */
export interface FlushReply {
  kind: "flushed";
  applied: number;
  /** The sum of all counters, which the main thread checks. */
  total: number;
}

/** An adder's answer to `run`: the adds it made that found their key. */
export interface RunReply {
  kind: "ran";
  added: number;
}

const counters = new Map<string, number>();
let applied = 0;
let cells: ReadHandle<number, Atomic<number>> | undefined;
let keys: Int32Array = new Int32Array(0);

/** Adds `increments` to the cells, cycling over `keys` from `offset`. */
function run(increments: number, perGuard: number, offset: number): number {
  let added = 0;
  let k = offset;
  for (let done = 0; done < increments;) {
    const end = Math.min(increments, done + perGuard);
    using view = cells!.guard();
    for (; done < end; done++) {
      if (view.add(keys[k], 1) !== undefined) added++;
      k = k + 1 === keys.length ? 0 : k + 1;
    }
  }
  return added;
}

self.onmessage = (event: MessageEvent<MessagesRequest>) => {
  const request = event.data;
  // The increments first: they are almost every message the owner gets.
  if (typeof request === "string") {
    counters.set(request, (counters.get(request) ?? 0) + 1);
    applied++;
    return;
  }
  if (Array.isArray(request)) {
    for (const key of request) counters.set(key, (counters.get(key) ?? 0) + 1);
    applied += request.length;
    return;
  }
  switch (request.kind) {
    case "owner":
      self.postMessage({ kind: "ready" });
      break;
    case "flush": {
      let total = 0;
      for (const count of counters.values()) total += count;
      const reply: FlushReply = { kind: "flushed", applied, total };
      applied = 0;
      self.postMessage(reply);
      break;
    }
    case "adder":
      cells = attach(request.token);
      keys = Int32Array.from(request.keys);
      self.postMessage({ kind: "ready" });
      break;
    case "run": {
      const added = run(request.increments, request.perGuard, request.offset);
      const reply: RunReply = { kind: "ran", added };
      self.postMessage(reply);
      break;
    }
    case "close":
      cells?.close();
      cells = undefined;
      self.postMessage({ kind: "closed" });
      break;
  }
};
