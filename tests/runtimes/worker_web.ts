/**
 * A reader worker of the runtime suite, as a Web Worker (browsers, Deno,
 * Bun): binds `worker_core.ts` to `self.onmessage` and `postMessage`.
 *
 * @module
 */

import { type Reply, type Request, serve } from "./worker_core.ts";

const scope = globalThis as unknown as {
  postMessage(message: unknown): void;
  onmessage: ((event: { data: Request }) => void) | null;
};
const handle = serve((reply: Reply) => scope.postMessage(reply));
scope.onmessage = (event) => handle(event.data);
scope.postMessage({ id: 0, ready: true });
