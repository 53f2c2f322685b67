/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * The server of the request/response baseline: one worker owns the `Map`,
 * applies the writer's batches, and answers lookups that readers send over
 * their own MessagePorts.
 *
 * @module
 */

import { VERSION_KEY } from "../data.ts";
import { applyBatch, type ApplyMessage } from "./replica.ts";

/** A lookup: the keys of one batch. */
export interface LookupRequest {
  keys: Int32Array;
}

/** The answer: the values (-1 for a miss) and the map's version. */
export interface LookupReply {
  values: Int32Array;
  version: number;
}

type ServerMessage =
  | { type: "init"; map: Map<number, number> }
  | { type: "ping" }
  | { type: "port"; port: MessagePort }
  | ApplyMessage;

let map = new Map<number, number>();

function serve(port: MessagePort): void {
  port.onmessage = (event: MessageEvent<LookupRequest>) => {
    const keys = event.data.keys;
    const values = new Int32Array(keys.length);
    for (let i = 0; i < keys.length; i++) values[i] = map.get(keys[i]) ?? -1;
    const reply: LookupReply = { values, version: map.get(VERSION_KEY) ?? -1 };
    port.postMessage(reply, [values.buffer]);
  };
}

self.onmessage = (event: MessageEvent<ServerMessage>) => {
  const message = event.data;
  if (message.type === "init") map = message.map;
  else if (message.type === "port") serve(message.port);
  else if (message.type === "ping") self.postMessage("pong");
  else applyBatch(map, message);
};
