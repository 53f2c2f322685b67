/**
 * Request/response over postMessage: a server worker owns the one `Map`,
 * each reader sends the `k` keys of a batch and waits for the values. No
 * shared memory at all; every lookup pays two messages (amortized over k).
 *
 * @module
 */

import { valueOf } from "../data.ts";
import { PostingWriter, prefilledMap } from "./replica.ts";
import type { LookupReply } from "./rpc_server.ts";
import type {
  ReaderBackend,
  ReaderContext,
  Session,
  SessionContext,
} from "./types.ts";

/** Starts the server worker and hands it the map. */
export function rpcSession(context: SessionContext): Session {
  const server = new Worker(new URL("./rpc_server.ts", import.meta.url), {
    type: "module",
  });
  try {
    const map = prefilledMap(context.data.keys, context.data.live);
    server.postMessage({ type: "init", map });
  } catch (error) {
    server.terminate();
    throw error;
  }
  return {
    name: "rpc",
    writer: new PostingWriter(() => [server]),
    readerInit() {
      const channel = new MessageChannel();
      server.postMessage({ type: "port", port: channel.port1 }, [
        channel.port1,
      ]);
      return { payload: channel.port2, transfer: [channel.port2] };
    },
    sharedBytes: () => undefined,
    // Messages are handled in order: the answer to a ping comes after every
    // batch posted before it.
    settle: () =>
      new Promise<void>((resolve) => {
        server.onmessage = () => resolve();
        server.postMessage({ type: "ping" });
      }),
    note: "one server worker owns the Map",
    close() {
      server.terminate();
    },
  };
}

class RpcReader implements ReaderBackend {
  readonly async = true;
  version = -1;
  bad = 0;
  stream: Int32Array;
  readonly #keys: Int32Array;
  #reply: ((reply: LookupReply) => void) | undefined;
  constructor(readonly port: MessagePort, context: ReaderContext) {
    this.#keys = context.keys;
    this.stream = context.streams.uniform;
    port.onmessage = (event: MessageEvent<LookupReply>) => {
      const resolve = this.#reply;
      this.#reply = undefined;
      resolve?.(event.data);
    };
  }

  async batch(pos: number, k: number, withVersion: boolean): Promise<number> {
    const keys = this.#keys;
    const stream = this.stream;
    const mask = stream.length - 1;
    const request = new Int32Array(k);
    for (let j = 0; j < k; j++) request[j] = keys[stream[(pos + j) & mask]];
    const reply = await new Promise<LookupReply>((resolve) => {
      this.#reply = resolve;
      this.port.postMessage({ keys: request }, [request.buffer]);
    });
    let hits = 0;
    for (let j = 0; j < k; j++) {
      const value = reply.values[j];
      if (value < 0) continue;
      hits++;
      if (value !== valueOf(keys[stream[(pos + j) & mask]])) this.bad++;
    }
    if (withVersion) this.version = reply.version;
    return hits;
  }

  close(): void {
    this.port.close();
  }
}

/** Uses the port to the server that the main thread sent. */
export function rpcReader(context: ReaderContext): ReaderBackend {
  return new RpcReader(context.payload as MessagePort, context);
}
