/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * The worker of the attach benchmark in `map_bench.ts`. It answers each
 * request with one number once it has what the request brought: a map to
 * attach to, or a cloned `Map`.
 *
 * @module
 */

import { attach, type ReadToken } from "@x/flashmap";

/** What the main thread asks. */
export type AttachRequest =
  /** Reply at once: the cost of the messages alone. */
  | { kind: "ping" }
  /** Attach to the map, read `key`, close the handle; reply the value (-1 if absent). */
  | { kind: "attach"; token: ReadToken<number, number>; key: number }
  /** Reply the size of the `Map`, cloned into this worker by `postMessage`. */
  | { kind: "map"; map: Map<number, number> };

self.onmessage = (event: MessageEvent<AttachRequest>) => {
  const request = event.data;
  switch (request.kind) {
    case "ping":
      self.postMessage(0);
      break;
    case "attach": {
      // Closed before the reply, so that the registry never fills up
      // (maxReaders) and the next attach finds a free slot at once.
      const read = attach(request.token);
      const value = read.get(request.key) ?? -1;
      read.close();
      self.postMessage(value);
      break;
    }
    case "map":
      self.postMessage(request.map.size);
      break;
  }
};
