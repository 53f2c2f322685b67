/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * A reader worker. It answers the main thread's requests in order:
 * `init` opens a backend's reader (timed: the attach cost), `mem` reports
 * this isolate's heap, `run` runs one measured run, `close` closes the
 * reader. Messages without an id (replica updates) go to the reader.
 *
 * Backends load on demand, so that a worker of one backend never loads
 * another's packages (lmdb's native addon, for example).
 *
 * @module
 */

import type {
  BackendName,
  ReaderBackend,
  ReaderContext,
} from "./backends/types.ts";
import type { Distribution } from "./data.ts";
import { runReader, type RunRequest } from "./reader_loop.ts";

/** The requests of the pool. */
export type WorkerRequest =
  | {
    type: "init";
    backend: BackendName;
    keys: Int32Array;
    streams: Record<Distribution, Int32Array>;
    ctl: Int32Array;
    payload: unknown;
  }
  | { type: "load"; backend: BackendName }
  | { type: "mem" }
  | ({ type: "run" } & RunRequest)
  | { type: "close" };

/** What `init` answers. */
export interface InitReply {
  /** The first attach in this worker (cold code). */
  attachMs: number;
  /** A second attach, when the backend can make one (warm code). */
  reattachMs: number | undefined;
  heapUsed: number;
}

type Factory = (
  context: ReaderContext,
) => ReaderBackend | Promise<ReaderBackend>;

async function readerFactory(backend: BackendName): Promise<Factory> {
  switch (backend) {
    case "flashmap":
      return (await import("./backends/flashmap.ts")).flashmapReader;
    case "map":
    case "replica":
      return (await import("./backends/replica.ts")).replicaReader;
    case "rpc":
      return (await import("./backends/rpc.ts")).rpcReader;
    case "locktable":
      return (await import("./backends/locktable.ts")).lockTableReader;
    case "sharedmap":
      return (await import("./backends/sharedmap.ts")).sharedMapReader;
    case "lmdb":
      return (await import("./backends/lmdb.ts")).lmdbReader;
  }
}

let factory: Factory | undefined;
let reader: ReaderBackend | undefined;
let streams: Record<Distribution, Int32Array> | undefined;
let ctl: Int32Array | undefined;

async function handle(request: WorkerRequest): Promise<unknown> {
  switch (request.type) {
    case "load":
      // Loading apart from `init`, so that `init` times the attach alone.
      factory = await readerFactory(request.backend);
      return null;
    case "init": {
      streams = request.streams;
      ctl = request.ctl;
      factory ??= await readerFactory(request.backend);
      const start = performance.now();
      reader = await factory({
        keys: request.keys,
        streams: request.streams,
        ctl: request.ctl,
        payload: request.payload,
      });
      const attachMs = performance.now() - start;
      const reply: InitReply = {
        attachMs,
        reattachMs: reader.reattach?.(),
        heapUsed: Deno.memoryUsage().heapUsed,
      };
      return reply;
    }
    case "mem":
      return Deno.memoryUsage().heapUsed;
    case "run": {
      if (reader === undefined) throw new Error("run before init");
      reader.stream = streams![request.dist];
      const result = await runReader(reader, ctl!, request);
      return result;
    }
    case "close":
      await reader?.close();
      reader = undefined;
      return null;
  }
}

self.onmessage = async (event: MessageEvent) => {
  const { id, request } = event.data as {
    id?: number;
    request?: WorkerRequest;
  };
  if (id === undefined) {
    reader?.onMessage?.(event.data);
    return;
  }
  try {
    const value = await handle(request!);
    // The latency histogram moves back instead of being copied.
    const transfer: Transferable[] = value !== null &&
        typeof value === "object" && "latency" in value
      ? [(value as { latency: Uint32Array<ArrayBuffer> }).latency.buffer]
      : [];
    self.postMessage({ id, ok: true, value }, transfer);
  } catch (error) {
    self.postMessage({
      id,
      ok: false,
      error: error instanceof Error ? `${error.stack ?? error}` : `${error}`,
    });
  }
};

self.postMessage({ hello: true });
