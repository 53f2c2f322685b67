/**
 * Runs the runtime suite (`suite.ts`) in Node, Bun or Deno: once with
 * readers in `node:worker_threads`, and once more with Web Workers where the
 * runtime has a global `Worker` (Bun and Deno; not Node 20). Then the checks
 * of `@x/flashmap/parallel` (`parallel_suite.ts`) on the same kinds of
 * worker. Prints one line per check and a total, and exits non-zero if a
 * check failed.
 *
 * Runs as TypeScript (Deno; Bun and Node 24 on a copy whose library import
 * points at the sources) or bundled to JavaScript by `run.ts`. A worker
 * file sits next to this one, with the same extension.
 *
 * @module
 */

import { runParallelChecks } from "./parallel_suite.ts";
import {
  type Host,
  runSuite,
  type WebWorkerClass,
  webWorkerPort,
  type WorkerPort,
} from "./suite.ts";

interface Runtime {
  name: string;
  version: string;
}

const global = globalThis as unknown as {
  Bun?: { version: string };
  Deno?: { version: { deno: string }; exitCode: number };
  process?: { versions: { node: string }; exitCode?: number };
  Worker?: WebWorkerClass;
};

function runtime(): Runtime {
  if (global.Bun) return { name: "bun", version: global.Bun.version };
  if (global.Deno) return { name: "deno", version: global.Deno.version.deno };
  return { name: "node", version: global.process?.versions.node ?? "?" };
}

const extension = new URL(import.meta.url).pathname.match(/\.[a-z]+$/)?.[0] ??
  ".js";
const here = runtime();
const form = extension === ".ts" ? "TypeScript" : "bundled JS";
const where = `${here.name} ${here.version} (${form})`;

/** Workers in `node:worker_threads` that run `file` (next to this one). */
async function threadsHost(file = "worker_node"): Promise<Host> {
  const { Worker } = await import("node:worker_threads");
  const url = new URL(`./${file}${extension}`, import.meta.url);
  return {
    label: `${where}, worker_threads`,
    canBlock: true,
    startWorker(): WorkerPort {
      const worker = new Worker(url);
      let exited = false;
      return {
        post: (message) => worker.postMessage(message),
        onMessage: (listener) => worker.on("message", listener),
        onError: (listener) => {
          worker.on("error", (error) => listener(String(error)));
          worker.on("exit", (code) => {
            exited = true;
            listener(`exited with code ${code}`);
          });
        },
        terminate: async () => {
          if (!exited) await worker.terminate();
        },
      };
    },
  };
}

/** Web Workers that run `file`, where the runtime has them. */
function webHost(file = "worker_web"): Host | undefined {
  const WebWorker = global.Worker;
  if (typeof WebWorker !== "function") return undefined;
  const url = new URL(`./${file}${extension}`, import.meta.url);
  return {
    label: `${where}, Web Workers`,
    canBlock: true,
    startWorker: (): WorkerPort => webWorkerPort(WebWorker, url),
  };
}

const hosts = [await threadsHost(), webHost()].filter(
  (host): host is Host => host !== undefined,
);
let passed = 0;
let failed = 0;
for (const host of hosts) {
  const summary = await runSuite(host, (line) => console.log(line));
  passed += summary.passed;
  failed += summary.failed;
}
const parallelHosts = [
  await threadsHost("parallel_worker_node"),
  webHost("parallel_worker_web"),
].filter((host): host is Host => host !== undefined);
for (const host of parallelHosts) {
  const summary = await runParallelChecks(host, (line) => console.log(line));
  passed += summary.passed;
  failed += summary.failed;
}
const only = hosts.length < 2 ? " (no global Worker: worker_threads only)" : "";
console.log(`${where}: ${passed} passed, ${failed} failed${only}`);
if (failed > 0) {
  if (global.Deno) global.Deno.exitCode = 1;
  else if (global.process) global.process.exitCode = 1;
}
