/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * A reader worker for tests/spare_copies_attack_test.ts: attaches to an
 * int32-to-string map, holds read guards on request, and releases them on
 * request: at once, or only once the writer's thread is parked in a wait
 * for a copy to come free (`C_WRITER_PARKED`), so that the release lands
 * inside that wait, never before it. The wait for the flag is bounded (a
 * deadlock guard).
 *
 * Every request gets one reply of the same type; an error comes back as
 * `{ error }`. Guards are named by the index they were given.
 */
import {
  attach,
  codecs,
  type ReadGuard,
  type ReadHandle,
  type ReadToken,
} from "@x/flashmap";
import { C_WRITER_PARKED } from "../../src/layout.ts";

type Request =
  | { type: "attach"; token: ReadToken<number, string> }
  | { type: "hold" }
  | { type: "release"; guard: number }
  | { type: "releaseWhenParked"; guard: number }
  | { type: "close" };

/** The longest the worker waits for the writer to park (a deadlock guard). */
const PARK_WAIT_MS = 10_000;

let read: ReadHandle<number, string> | undefined;
let words: Int32Array | undefined;
const guards: ReadGuard<number, string>[] = [];

function reply(type: string, fields: Record<string, unknown> = {}): void {
  self.postMessage({ type, ...fields });
}

self.onmessage = (event: MessageEvent<Request>) => {
  const request = event.data;
  try {
    switch (request.type) {
      case "attach": {
        read = attach(request.token, {
          key: codecs.int32,
          value: codecs.string,
        });
        words = new Int32Array(request.token.buffer);
        return reply("attach", { id: read.id });
      }
      case "hold": {
        const guard = read!.guard();
        guards.push(guard);
        return reply("hold", { guard: guards.length - 1, size: guard.size });
      }
      case "release":
        guards[request.guard].release();
        return reply("release");
      case "releaseWhenParked": {
        const deadline = Date.now() + PARK_WAIT_MS;
        while (
          Atomics.load(words!, C_WRITER_PARKED) === 0 && Date.now() < deadline
        ) {
          Atomics.wait(words!, C_WRITER_PARKED, 0, 20);
        }
        const parked = Atomics.load(words!, C_WRITER_PARKED) === 1;
        guards[request.guard].release();
        return reply("releaseWhenParked", { parked });
      }
      case "close":
        read!.close();
        return reply("close");
    }
  } catch (error) {
    reply(request.type, { error: String(error) });
  }
};

reply("ready");
