/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * The HTTP worker of `serve_worker.ts`. It attaches to the price map from
 * the token the main thread sends, then serves on 127.0.0.1 with
 * `Deno.serve`, on a port the OS picks:
 *
 * - `GET /quote`: opens a read guard, reads the price, then awaits a slow
 *   upstream call with the guard still open, and answers with what the
 *   guard read before and after the await, and what a fresh read sees;
 * - `GET /upstream`: the slow upstream, which answers after
 *   `UPSTREAM_MS`.
 *
 * It tells the main thread when a `/quote` handler holds its guard, so that
 * the main thread publishes while the guard is open.
 *
 * @module
 */

import { attach, type ReadHandle, type ReadToken } from "@x/flashmap";

/** The messages the main thread sends. */
type Command =
  | { kind: "start"; token: ReadToken<string, number> }
  | { kind: "stop" };

/** How long the upstream takes to answer. */
const UPSTREAM_MS = 300;

let prices: ReadHandle<string, number> | undefined;
let server: Deno.HttpServer<Deno.NetAddr> | undefined;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `/quote`: one guard, held across the upstream call. */
async function quote(request: Request): Promise<Response> {
  using view = prices!.guard(); // released when this function returns
  const version = view.get("version");
  const before = view.get("price:apple");
  self.postMessage({ kind: "holding", version });
  // The guard stays open across this await, while the writer publishes.
  const upstream = await fetch(new URL("/upstream", request.url));
  await upstream.body?.cancel();
  return Response.json({
    version,
    before,
    after: view.get("price:apple"), // the guard's snapshot has not moved
    latest: prices!.get("price:apple"), // a fresh read sees the newest
  });
}

async function handle(request: Request): Promise<Response> {
  const path = new URL(request.url).pathname;
  if (path === "/upstream") {
    await delay(UPSTREAM_MS);
    return new Response("ok");
  }
  if (path === "/quote") return await quote(request);
  return new Response("not found", { status: 404 });
}

self.onmessage = async (event: MessageEvent<Command>) => {
  const command = event.data;
  try {
    if (command.kind === "start") {
      prices = attach(command.token);
      server = Deno.serve({
        hostname: "127.0.0.1",
        port: 0, // the OS picks a free port
        onListen() {}, // no banner
      }, handle);
      self.postMessage({
        kind: "started",
        port: server.addr.port,
        readerId: prices.id,
      });
    } else {
      await server?.shutdown();
      prices?.close();
      self.postMessage({ kind: "stopped" });
    }
  } catch (error) {
    self.postMessage({ kind: "failed", error: String(error) });
  }
};
