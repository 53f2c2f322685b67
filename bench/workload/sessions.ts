/**
 * Opens a backend's main-thread session. The npm baselines load only when
 * asked for, so that a run without them never loads their packages.
 *
 * @module
 */

import { flashmapSession } from "./backends/flashmap.ts";
import { lockTableSession } from "./backends/locktable.ts";
import { replicaSession } from "./backends/replica.ts";
import { rpcSession } from "./backends/rpc.ts";
import type { BackendName, Session, SessionContext } from "./backends/types.ts";

/** The session that serves a backend: "map" runs on the replica session. */
export function sessionOf(backend: BackendName): BackendName {
  return backend === "map" ? "replica" : backend;
}

/** Creates the session of `backend` (data prefilled). */
export async function openSession(
  backend: BackendName,
  context: SessionContext,
): Promise<Session> {
  switch (sessionOf(backend)) {
    case "flashmap":
      return flashmapSession(context);
    case "locktable":
      return lockTableSession(context);
    case "sharedmap":
      return (await import("./backends/sharedmap.ts")).sharedMapSession(
        context,
      );
    case "lmdb":
      try {
        return await (await import("./backends/lmdb.ts")).lmdbSession(context);
      } catch (error) {
        throw new Error(`${error}${lmdbHint()}`);
      }
    case "rpc":
      return rpcSession(context);
    default:
      return replicaSession(context);
  }
}

/**
 * lmdb looks for its prebuilt native addon in Deno's npm cache; without
 * read permission there it fails with a puzzling "id" TypeError.
 */
function lmdbHint(): string {
  const read = Deno.permissions.querySync({ name: "read" }).state;
  const ffi = Deno.permissions.querySync({ name: "ffi" }).state;
  if (read !== "granted") {
    return " (lmdb reads its native addon from Deno's npm cache: run with --allow-read, not only --allow-read=.)";
  }
  if (ffi !== "granted") return " (lmdb needs --allow-ffi)";
  return "";
}
