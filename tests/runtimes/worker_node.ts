/**
 * A reader worker of the runtime suite, in `node:worker_threads` (Node, Bun,
 * Deno): binds `worker_core.ts` to `parentPort`.
 *
 * @module
 */

import { parentPort } from "node:worker_threads";
import { type Reply, type Request, serve } from "./worker_core.ts";

const port = parentPort;
if (port === null) throw new Error("worker_node.ts runs as a worker thread");
const handle = serve((reply: Reply) => port.postMessage(reply));
port.on("message", (request: Request) => handle(request));
port.postMessage({ id: 0, ready: true });
