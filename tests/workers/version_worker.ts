/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * A version-following reader worker for tests/versions_test.ts: attaches to
 * a string-to-number map whose writer sets `"version"` to each publish's
 * version, and follows the versions with `changed()` and `versions()`,
 * checking what its guards see. Every request gets one reply of the same
 * type (`arm` gets `armed` first, then `arm`); an error comes back as
 * `{ error }`, but `wait` reports how its `changed()` rejected.
 */
import { attach, type ReadHandle, type ReadToken } from "@x/flashmap";

type Request =
  | { type: "attach"; token: unknown }
  | { type: "follow"; maxWakes: number }
  | { type: "arm" }
  | { type: "wait"; timeoutMs: number }
  | { type: "spin"; until: number; maxSteps: number }
  | { type: "versions"; maxSteps: number }
  | { type: "close" };

let read: ReadHandle<string, number> | undefined;

/** Generous: a deadlock guard, never a timing assertion. */
const STUCK_MS = 30_000;

function reply(type: string, fields: Record<string, unknown> = {}): void {
  self.postMessage({ type, ...fields });
}

/**
 * Waits with `changed()` until the writer closes (a `TypeError` once no
 * newer version can come), opening a guard after each wake: the guard must
 * see at least the version `changed()` resolved with (S3), guards must never
 * go back (S2), and each guard's `"version"` entry must be its version.
 */
async function follow(maxWakes: number) {
  const handle = read!;
  let seen = handle.version;
  let lastGuard = -1;
  let wakes = 0;
  let behind = 0;
  let backwards = 0;
  let mismatched = 0;
  let handleBehind = 0;
  let notNewer = 0;
  let ended = "limit";
  while (wakes < maxWakes) {
    let next: number;
    try {
      next = await handle.changed(seen, { timeoutMs: STUCK_MS });
    } catch (error) {
      ended = error instanceof TypeError ? "writer closed" : String(error);
      break;
    }
    wakes++;
    if (!(next > seen)) notNewer++;
    if (handle.version < next) handleBehind++;
    using guard = handle.guard();
    if (guard.version < next) behind++;
    if (guard.version < lastGuard) backwards++;
    if ((guard.get("version") ?? 0) !== guard.version) mismatched++;
    lastGuard = guard.version;
    seen = next;
  }
  return {
    wakes,
    behind,
    backwards,
    mismatched,
    handleBehind,
    notNewer,
    ended,
    last: seen,
    final: handle.version,
  };
}

/**
 * Reads `version` in a loop until it reaches `until` (at most `maxSteps`
 * reads): it must never go back, and a guard opened after a read must see
 * that version or a newer one.
 */
function spin(until: number, maxSteps: number) {
  const handle = read!;
  let last = -1;
  let backwards = 0;
  let behind = 0;
  let mismatched = 0;
  let steps = 0;
  const distinct = new Set<number>();
  while (steps < maxSteps && last < until) {
    steps++;
    const version = handle.version;
    if (version < last) backwards++;
    last = version;
    distinct.add(version);
    if (steps % 8 === 0) {
      using guard = handle.guard();
      if (guard.version < version) behind++;
      if ((guard.get("version") ?? 0) !== guard.version) mismatched++;
    }
  }
  return { backwards, behind, mismatched, last, distinct: distinct.size };
}

/** Collects what `versions()` yields until the writer closes. */
async function collect(maxSteps: number) {
  const seen: number[] = [];
  let mismatched = 0;
  for await (const version of read!.versions()) {
    seen.push(version);
    using guard = read!.guard();
    if (guard.version < version) mismatched++;
    if (seen.length >= maxSteps) break;
  }
  let increasing = true;
  for (let i = 1; i < seen.length; i++) {
    if (!(seen[i] > seen[i - 1])) increasing = false;
  }
  return {
    count: seen.length,
    first: seen[0] ?? null,
    last: seen.at(-1) ?? null,
    increasing,
    mismatched,
  };
}

self.onmessage = async (event: MessageEvent<Request>) => {
  const request = event.data;
  try {
    switch (request.type) {
      case "attach":
        // The token carries no types after postMessage: name them once.
        read = attach(request.token as ReadToken<string, number>);
        return reply("attach", { id: read.id, version: read.version });
      case "follow":
        return reply("follow", await follow(request.maxWakes));
      case "arm": {
        // S3 across threads: the writer publishes only after "armed".
        const since = read!.version;
        const next = read!.changed(since, { timeoutMs: STUCK_MS });
        reply("armed", { since });
        return reply("arm", { since, next: await next });
      }
      case "wait": {
        // One changed() from the current version; the error, if any, as text.
        const since = read!.version;
        try {
          const next = await read!.changed(since, {
            timeoutMs: request.timeoutMs,
          });
          return reply("wait", { since, next });
        } catch (error) {
          return reply("wait", {
            since,
            rejected: error instanceof Error ? error.name : typeof error,
            message: String(error),
          });
        }
      }
      case "spin":
        return reply("spin", spin(request.until, request.maxSteps));
      case "versions":
        return reply("versions", await collect(request.maxSteps));
      case "close":
        read!.close();
        return reply("close");
    }
  } catch (error) {
    reply(request.type, { error: String(error) });
  }
};

reply("ready");
