/**
 * A worker of the parallel checks, in `node:worker_threads` (Node, Bun,
 * Deno): binds `serveParallel` of `parallel_suite.ts` to `parentPort`.
 *
 * @module
 */

import { parentPort } from "node:worker_threads";
import {
  type ParallelReply,
  type ParallelRequest,
  serveParallel,
} from "./parallel_suite.ts";

const port = parentPort;
if (port === null) {
  throw new Error("parallel_worker_node.ts runs as a worker thread");
}
const handle = serveParallel((reply: ParallelReply) => port.postMessage(reply));
port.on("message", (request: ParallelRequest) => handle(request));
port.postMessage({ id: 0, ready: true });
