/**
 * The reader side of the runtime conformance suite: what a worker does with
 * the requests of `suite.ts`, whatever kind of worker it runs in (a Web
 * Worker, or Node's or Bun's `worker_threads`). `worker_web.ts` and
 * `worker_node.ts` bind it to their runtime's messages.
 *
 * Every request carries an `id` and gets one reply with the same `id`; an
 * error comes back as `{ id, error: { name, message } }`. Every loop here is
 * bounded by a count the request gives.
 *
 * @module
 */

import {
  type Atomic,
  attach,
  type ReadGuard,
  type ReadHandle,
  type ReadToken,
} from "@x/flashmap";

/** What the suite asks a reader worker, without the request's id. */
export type RequestBody =
  | { type: "attach"; token: ReadToken<unknown, unknown> }
  | { type: "snapshot" }
  | { type: "get"; key: unknown }
  | { type: "hold" }
  | { type: "held" }
  | { type: "release" }
  | {
    type: "consistency";
    started: Int32Array;
    until: number;
    maxGuards: number;
    groups: number;
    groupSize: number;
  }
  | { type: "growth"; until: number; maxGuards: number }
  | { type: "changed"; since: number; timeoutMs: number }
  | { type: "versions"; max: number }
  | { type: "add"; key: unknown; times: number }
  | { type: "close" };

/** A request from the suite to a reader worker. */
export type Request = RequestBody & { id: number };

/** A reply to a request: its `id`, and either fields or an error. */
export interface Reply {
  id: number;
  error?: { name: string; message: string };
  [field: string]: unknown;
}

type Entries = [unknown, unknown][];

function sortedEntries(guard: ReadGuard<unknown, unknown>): Entries {
  return [...guard].sort(([a], [b]) =>
    String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0
  );
}

/**
 * Makes the message handler of one reader worker; `post` sends a reply.
 * The worker holds at most one read handle and one held guard.
 */
export function serve(
  post: (reply: Reply) => void,
): (request: Request) => void {
  let read: ReadHandle<unknown, unknown> | undefined;
  let held: ReadGuard<unknown, unknown> | undefined;
  const handle = (): ReadHandle<unknown, unknown> => {
    if (read === undefined) throw new Error("no read handle: attach first");
    return read;
  };

  async function answer(request: Request): Promise<Record<string, unknown>> {
    switch (request.type) {
      case "attach":
        // No codecs given: built-in codecs are found by name.
        read = attach(request.token);
        return { readId: read.id };
      case "snapshot": {
        const guard = handle().guard();
        try {
          return {
            entries: sortedEntries(guard),
            size: guard.size,
            version: guard.version,
          };
        } finally {
          guard.release();
        }
      }
      case "get":
        return { value: handle().get(request.key) ?? null };
      case "hold":
        held = handle().guard();
        return { entries: sortedEntries(held), version: held.version };
      case "held":
        if (held === undefined) throw new Error("no guard held");
        return { entries: sortedEntries(held), version: held.version };
      case "release":
        held?.release();
        held = undefined;
        return {};
      case "consistency":
        return consistency(handle(), request);
      case "growth":
        return growth(handle(), request);
      case "changed":
        return {
          version: await handle().changed(request.since, {
            timeoutMs: request.timeoutMs,
          }),
        };
      case "versions": {
        const seen: number[] = [];
        for await (const version of handle().versions()) {
          seen.push(version);
          if (seen.length >= request.max) break;
        }
        return { seen };
      }
      case "add": {
        // Adds 1 `times` times to a cell: in guards of 64, every fourth
        // batch one-shot through the handle.
        const cells = handle() as ReadHandle<unknown, Atomic<number>>;
        for (let done = 0, batch = 0; done < request.times; batch++) {
          const count = Math.min(64, request.times - done);
          if (batch % 4 === 3) {
            for (let i = 0; i < count; i++) cells.add(request.key, 1);
          } else {
            const guard = cells.guard();
            try {
              for (let i = 0; i < count; i++) guard.add(request.key, 1);
            } finally {
              guard.release();
            }
          }
          done += count;
        }
        return { added: request.times };
      }
      case "close":
        held?.release();
        held = undefined;
        read?.close();
        read = undefined;
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

/**
 * S1 and S2 while the writer publishes: in one guard, every key of every
 * group holds `version * 1000 + group` for the version the "version" key
 * names; across guards, versions never go back. Runs until it has seen
 * version `until`, or after `maxGuards` guards.
 */
function consistency(
  read: ReadHandle<unknown, unknown>,
  request: Extract<Request, { type: "consistency" }>,
): Record<string, unknown> {
  Atomics.add(request.started, 0, 1);
  Atomics.notify(request.started, 0);
  let violations = 0;
  let backwards = 0;
  let last = -1;
  let lastGuardVersion = -1;
  const seen = new Set<number>();
  let guards = 0;
  while (guards < request.maxGuards && last < request.until) {
    guards++;
    const guard = read.guard();
    try {
      const version = (guard.get("version") as number | undefined) ?? 0;
      if (version < last || guard.version < lastGuardVersion) backwards++;
      last = version;
      lastGuardVersion = guard.version;
      seen.add(version);
      for (let g = 0; g < request.groups; g++) {
        for (let k = 0; k < request.groupSize; k++) {
          const value = guard.get(`g${g}:${k}`);
          if (version > 0 && value !== version * 1000 + g) violations++;
        }
      }
    } finally {
      guard.release();
    }
  }
  return { violations, backwards, versions: seen.size, last, guards };
}

/**
 * Reading while the map grows: keys `0 … n-1` map to `"v" + key` in every
 * snapshot of size `n` (the writer inserts in order and publishes in
 * batches). Samples each snapshot, then checks the last one in full.
 */
function growth(
  read: ReadHandle<unknown, unknown>,
  request: Extract<Request, { type: "growth" }>,
): Record<string, unknown> {
  let violations = 0;
  let backwards = 0;
  let last = -1;
  let guards = 0;
  const check = (guard: ReadGuard<unknown, unknown>, key: number) => {
    if (guard.get(key) !== `v${key}`) violations++;
  };
  while (guards < request.maxGuards && last < request.until) {
    guards++;
    const guard = read.guard();
    try {
      const n = guard.size;
      if (n < last) backwards++;
      last = n;
      if (n > 0) {
        check(guard, 0);
        check(guard, n - 1);
        for (let i = 1; i < 64; i++) check(guard, Math.floor((n * i) / 64));
      }
      if (guard.has(n)) violations++;
    } finally {
      guard.release();
    }
  }
  const final = read.guard();
  let size = 0;
  try {
    size = final.size;
    for (let key = 0; key < size; key++) check(final, key);
    let count = 0;
    for (const _ of final.keys()) count++;
    if (count !== size) violations++;
  } finally {
    final.release();
  }
  return { violations, backwards, last, guards, size };
}
