/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * The reader worker of `dead_worker.ts`: it attaches to the map from the
 * token the main thread sends, opens a read guard, and reports its handle's
 * id and the version the guard reads. It never releases the guard nor
 * closes the handle: the main thread terminates it first.
 *
 * @module
 */

import { attach, type ReadToken } from "@x/flashmap";

self.onmessage = (event: MessageEvent<ReadToken<string, number>>) => {
  const read = attach<string, number>(event.data);
  const view = read.guard(); // never released
  self.postMessage({ id: read.id, version: view.get("version") });
};
