/**
 * A worker of the parallel checks, as a Web Worker (Deno, Bun): binds
 * `serveParallel` of `parallel_suite.ts` to `self.onmessage` and
 * `postMessage`.
 *
 * @module
 */

import {
  type ParallelReply,
  type ParallelRequest,
  serveParallel,
} from "./parallel_suite.ts";

const scope = globalThis as unknown as {
  postMessage(message: unknown): void;
  onmessage: ((event: { data: ParallelRequest }) => void) | null;
};
const handle = serveParallel((reply: ParallelReply) =>
  scope.postMessage(reply)
);
scope.onmessage = (event) => handle(event.data);
scope.postMessage({ id: 0, ready: true });
