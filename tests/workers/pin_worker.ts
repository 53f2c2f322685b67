/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * A pinning reader worker for tests/copies_test.ts: attaches to an
 * int32-to-int32 map from a token, opens read handles and guards on
 * request, and holds them until told to release them, so that the writer's
 * thread sees versions pinned by another thread (whose guards it may wait
 * for, and whose handles it may reclaim).
 *
 * Every request gets one reply of the same type; an error comes back as
 * `{ error }`. Handles and guards are named by the index they were given.
 */
import {
  attach,
  codecs,
  type ReadGuard,
  type ReadHandle,
  type ReadToken,
} from "@x/flashmap";

type Request =
  | { type: "attach"; token: ReadToken<number, number> }
  | { type: "clone"; handle: number }
  | { type: "hold"; handle: number }
  | { type: "entries"; guard: number }
  | { type: "release"; guard: number }
  | { type: "close"; handle: number };

const handles: ReadHandle<number, number>[] = [];
const guards: (ReadGuard<number, number> | undefined)[] = [];

/** A guard's entries, sorted by key. */
function entries(guard: ReadGuard<number, number>): [number, number][] {
  return [...guard].sort(([a], [b]) => a - b);
}

function reply(type: string, fields: Record<string, unknown> = {}): void {
  self.postMessage({ type, ...fields });
}

self.onmessage = (event: MessageEvent<Request>) => {
  const request = event.data;
  try {
    switch (request.type) {
      case "attach": {
        const read = attach(request.token, {
          key: codecs.int32,
          value: codecs.int32,
        });
        handles.push(read);
        return reply("attach", { handle: handles.length - 1, id: read.id });
      }
      case "clone": {
        const read = handles[request.handle].clone();
        handles.push(read);
        return reply("clone", { handle: handles.length - 1, id: read.id });
      }
      case "hold": {
        const guard = handles[request.handle].guard();
        guards.push(guard);
        return reply("hold", {
          guard: guards.length - 1,
          entries: entries(guard),
        });
      }
      case "entries":
        return reply("entries", { entries: entries(guards[request.guard]!) });
      case "release":
        guards[request.guard]!.release();
        guards[request.guard] = undefined;
        return reply("release");
      case "close":
        handles[request.handle].close();
        return reply("close");
    }
  } catch (error) {
    reply(request.type, { error: String(error) });
  }
};

reply("ready");
