/**
 * One map per process and name, shared by isolates that share no code:
 * every isolate of `deno serve --parallel`, or Workers of one program, that
 * calls {@linkcode openParallel} with the same name gets a read handle of
 * the same map, and exactly one of them gets its write handle. The callers
 * find each other over a `BroadcastChannel`, elect the one that creates the
 * map, and receive its token: after that, reads and writes go through the
 * shared buffer, without messages. Late callers get the existing map.
 *
 * In a single isolate, as here, the one caller is elected and writes:
 *
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { codecs } from "@x/flashmap";
 * import { openParallel } from "@x/flashmap/parallel";
 *
 * using routes = await openParallel("routes", { value: codecs.json<string[]>() });
 * assert(routes.write !== undefined); // the only caller gets `write`
 * routes.write.update((guard) => guard.set("/api", ["10.0.0.7", "10.0.0.8"]));
 * assertEquals(routes.read.get("/api"), ["10.0.0.7", "10.0.0.8"]);
 * ```
 *
 * @module
 */

export {
  openParallel,
  type ParallelMap,
  type ParallelOptions,
} from "./src/parallel.ts";
