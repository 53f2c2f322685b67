/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * A reader worker for the tests: attaches to a map from a token and answers
 * requests about what it sees. Every request gets one reply of the same type.
 */
import {
  attach,
  codecs,
  type ReadGuard,
  type ReadHandle,
  type ReadToken,
} from "@x/flashmap";

type Request =
  | { type: "attach"; token: ReadToken<string, number> }
  | { type: "get"; key: string }
  | { type: "snapshot" }
  | { type: "hold" }
  | { type: "held" }
  | { type: "release" }
  | {
    type: "check";
    minGuards: number;
    maxGuards: number;
    minVersions: number;
    groups: number;
    groupSize: number;
  }
  | { type: "close" };

let read: ReadHandle<string, number> | undefined;
let held: ReadGuard<string, number> | undefined;

function entries(guard: ReadGuard<string, number>): [string, number][] {
  return [...guard].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function reply(type: string, fields: Record<string, unknown> = {}): void {
  self.postMessage({ type, ...fields });
}

self.onmessage = (event: MessageEvent<Request>) => {
  const request = event.data;
  try {
    switch (request.type) {
      case "attach":
        read = attach(request.token, {
          key: codecs.string,
          value: codecs.number,
        });
        return reply("attach", { id: read.id });
      case "get":
        return reply("get", { value: read!.get(request.key) ?? null });
      case "snapshot": {
        using guard = read!.guard();
        return reply("snapshot", { entries: entries(guard) });
      }
      case "hold":
        held = read!.guard();
        return reply("hold", { entries: entries(held) });
      case "held":
        return reply("held", { entries: entries(held!) });
      case "release":
        held!.release();
        held = undefined;
        return reply("release");
      case "check": {
        // S1: every key of every group holds the version of the "version"
        // key, in one guard. S2: versions never go back across guards.
        let violations = 0;
        let last = -1;
        let backwards = 0;
        const seen = new Set<number>();
        let guards = 0;
        while (
          guards < request.maxGuards &&
          (guards < request.minGuards || seen.size < request.minVersions)
        ) {
          guards++;
          using guard = read!.guard();
          const version = guard.get("version") ?? 0;
          if (version < last) backwards++;
          last = version;
          seen.add(version);
          for (let g = 0; g < request.groups; g++) {
            for (let k = 0; k < request.groupSize; k++) {
              if (guard.get(`g${g}:${k}`) !== version * 1000 + g) violations++;
            }
          }
        }
        return reply("check", {
          violations,
          backwards,
          versions: seen.size,
          last,
        });
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
