/**
 * `deno serve --parallel` with one map of routes for every isolate,
 * mirrored from Deno KV.
 *
 * Run it with
 * `deno serve --parallel --unstable-kv -A examples/serve_parallel.ts`
 * (`DENO_JOBS=4` before it for four isolates), then try:
 *
 * ```sh
 * curl http://127.0.0.1:8000/api           # the route, and which isolate answered
 * curl -X PUT -d 10.0.0.8:8080 http://127.0.0.1:8000/_routes/api
 * curl -X DELETE http://127.0.0.1:8000/_routes/static
 * curl http://127.0.0.1:8000/_status       # versions, and the mirror's status
 * ```
 *
 * Every isolate calls `openParallel("routes")`: each gets a read handle of
 * one map in this process, and exactly one of them also gets its write
 * handle. That isolate opens the KV store and mirrors the prefix
 * `["routes"]` into the map (`mirrorKv`'s `into`), so every isolate answers
 * from memory, with no KV read per request. A `PUT` or `DELETE` on
 * `/_routes/…`, in whichever isolate it lands, writes KV with `kvWrite`
 * (each isolate opens the store for that) and answers once its own isolate
 * reads the change; another server process on the same store (or, through
 * KV Connect, on another machine) would pick it up by polling the same way.
 *
 * The store is a file in the temporary directory, unless
 * `FLASHMAP_ROUTES_KV` names one. Stop the server with Ctrl-C: the
 * mirroring isolate closes the mirror and the store, removes the file it
 * created, and exits.
 *
 * @module
 */

import { codecs } from "@x/flashmap";
import { type KvMirror, kvWrite, mirrorKv } from "@x/flashmap/kv";
import { openParallel } from "@x/flashmap/parallel";

/** Where requests for a path go. */
interface Route {
  upstream: string;
  weight: number;
}

const PREFIX = ["routes"];
const CODECS = { key: codecs.string, value: codecs.json<Route>() };
const OWN_FILE = Deno.env.get("FLASHMAP_ROUTES_KV") === undefined;
const TMP = Deno.env.get("TMPDIR") ?? "/tmp";
/** One file per server process: every isolate of it computes the same path. */
const KV_PATH = Deno.env.get("FLASHMAP_ROUTES_KV") ??
  `${TMP}/flashmap-serve-parallel-${Deno.pid}.sqlite`;
/** Names this isolate in answers. */
const ISOLATE = crypto.randomUUID().slice(0, 8);

const { read, write } = await openParallel("routes", CODECS);

let kv: Deno.Kv | undefined;
/** This isolate's handle of the store, opened when first needed. */
async function store(): Promise<Deno.Kv> {
  return kv ??= await Deno.openKv(KV_PATH);
}

let mirror: KvMirror<string, Route> | undefined;
if (write !== undefined) {
  // This isolate holds the write handle: it mirrors KV into the shared map.
  const kv = await store();
  let empty = true;
  for await (const _ of kv.list({ prefix: PREFIX }, { limit: 1 })) {
    empty = false;
  }
  if (empty) {
    await kvWrite(kv, PREFIX, (batch) => {
      batch.set("/api", { upstream: "10.0.0.7:8080", weight: 3 });
      batch.set("/static", { upstream: "10.0.0.9:80", weight: 1 });
    }, CODECS);
  }
  mirror = await mirrorKv(kv, PREFIX, { ...CODECS, into: { read, write } });
  console.log(
    `isolate ${ISOLATE} mirrors ${KV_PATH} (${mirror.status().size} routes)`,
  );
  const stop = async () => {
    await mirror?.close();
    kv.close();
    if (OWN_FILE) {
      for (const suffix of ["", "-wal", "-shm"]) {
        await Deno.remove(KV_PATH + suffix).catch(() => {});
      }
    }
    console.log(`isolate ${ISOLATE} closed the mirror and the store`);
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}

function json(body: unknown, status = 200): Response {
  return Response.json(body, { status });
}

/** Waits (at most 2 s) until this isolate's reads show `path` as `route`. */
async function visible(path: string, route: Route | undefined) {
  const same = () =>
    read.get(path)?.upstream === route?.upstream &&
    read.has(path) === (route !== undefined);
  const deadline = performance.now() + 2_000;
  while (!same()) {
    const timeoutMs = deadline - performance.now();
    if (timeoutMs <= 0) break;
    try {
      await read.changed(read.version, { timeoutMs });
    } catch {
      break; // out of time (or the handle closed)
    }
  }
  return same();
}

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/_status") {
      return json({
        isolate: ISOLATE,
        version: read.version,
        routes: read.size,
        mirror: mirror?.status() ?? "in another isolate",
      });
    }
    if (url.pathname.startsWith("/_routes/")) {
      const path = url.pathname.slice("/_routes".length);
      let route: Route | undefined;
      if (request.method === "PUT") {
        route = { upstream: (await request.text()).trim(), weight: 1 };
      } else if (request.method !== "DELETE") {
        return json({ error: "use PUT or DELETE" }, 405);
      }
      const { sequence } = await kvWrite(await store(), PREFIX, (batch) => {
        if (route) batch.set(path, route);
        else batch.delete(path);
      }, CODECS);
      return json({
        isolate: ISOLATE,
        sequence,
        visibleHere: await visible(path, route),
      });
    }
    using view = read.guard(); // one snapshot for this request
    const route = view.get(url.pathname);
    return route === undefined
      ? json({ isolate: ISOLATE, error: "no route" }, 404)
      : json({ isolate: ISOLATE, version: view.version, route });
  },
} satisfies Deno.ServeDefaultExport;
