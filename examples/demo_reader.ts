/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * The reader worker of `demo.ts`. It attaches to the map from the token the
 * main thread sends, then answers the main thread's requests one at a time:
 *
 * - `hold`: open a read guard and keep it across messages;
 * - `check`: read the held guard again, open a fresh guard, release both;
 * - `run`: read the map in a loop bounded by time and count, checking in
 *   every guard that all flags carry the same version (a snapshot) and that
 *   versions never go back (per-handle monotonicity).
 *
 * @module
 */

import {
  attach,
  type ReadGuard,
  type ReadHandle,
  type ReadToken,
} from "@x/flashmap";

/** One feature flag; the demo's writer gives every flag the same version. */
interface Flag {
  enabled: boolean;
  rollout: number;
  version: number;
}

/** The messages the main thread sends. */
type Request =
  | { kind: "attach"; token: ReadToken<string, Flag> }
  | { kind: "hold" }
  | { kind: "check" }
  | { kind: "run"; ms: number; maxGuards: number; names: string[] }
  | { kind: "close" };

let read: ReadHandle<string, Flag> | undefined;
let held: ReadGuard<string, Flag> | undefined;

/** The version of a snapshot, checking that every flag agrees on it. */
function versionOf(view: ReadGuard<string, Flag>, names: string[]): number {
  const version = view.get(names[0])!.version;
  for (let i = 1; i < names.length; i++) {
    if (view.get(names[i])!.version !== version) return -1; // a torn read
  }
  return version;
}

function handle(request: Request): unknown {
  switch (request.kind) {
    case "attach": {
      const start = performance.now();
      read = attach<string, Flag>(request.token);
      const attachMs = performance.now() - start;
      return { attachMs, version: read.get("dark-mode")?.version };
    }
    case "hold":
      held = read!.guard();
      return { version: held.get("dark-mode")!.version };
    case "check": {
      const heldVersion = held!.get("dark-mode")!.version;
      using fresh = read!.guard();
      const freshVersion = fresh.get("dark-mode")!.version;
      held!.release();
      held = undefined;
      return { held: heldVersion, fresh: freshVersion };
    }
    case "run": {
      const { ms, maxGuards, names } = request;
      const end = performance.now() + ms;
      const start = performance.now();
      let guards = 0;
      let torn = 0;
      let backwards = 0;
      let last = 0;
      const seen = new Set<number>();
      while (
        guards < maxGuards && (guards % 64 !== 0 || performance.now() < end)
      ) {
        using view = read!.guard(); // released at the end of each iteration
        const version = versionOf(view, names);
        guards++;
        if (version < 0) torn++;
        else {
          if (version < last) backwards++;
          last = version;
          seen.add(version);
        }
      }
      const seconds = (performance.now() - start) / 1000;
      return {
        guards,
        lookups: guards * names.length,
        perSecond: (guards * names.length) / seconds,
        versions: [...seen].sort((a, b) => a - b),
        torn,
        backwards,
      };
    }
    case "close":
      held?.release();
      read?.close();
      return { closed: true };
  }
}

self.onmessage = (event: MessageEvent<Request>) => {
  try {
    self.postMessage({ ok: true, value: handle(event.data) });
  } catch (error) {
    self.postMessage({ ok: false, error: String(error) });
  }
};
