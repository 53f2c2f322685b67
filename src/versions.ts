/**
 * Versions as readers see them: which version a read handle's next guard
 * would read, and waiting, without polling, until a newer one is published.
 *
 * The version of a copy is the publish count written into its descriptor
 * (`T_VERSION`) before the publish that makes it current. A handle's
 * version is that of the copy its refcount word points its new guards at,
 * so it agrees with the guards it opens: it never goes back, and a guard
 * opened after it was read sees it or a newer one.
 *
 * @module
 */

import { WaitTimeoutError } from "./errors.ts";
import {
  C_PUBLISHES,
  C_VERSION_WAITERS,
  H_WRITER_CLOSED,
  T_VERSION,
} from "./layout.ts";
import type { AtomicsMemory } from "./memory.ts";
import { copyOf, generationOf } from "./protocol.ts";
import { descriptor } from "./table.ts";

/**
 * The version that a guard opened now on `handle` would read, or -1 if the
 * handle was reclaimed. The word is read again after the descriptor: if it
 * still points at the same copy, the copy was current (or just replaced)
 * all along, so its version was not being rewritten for a later publish.
 */
export function handleVersion(
  control: AtomicsMemory,
  handle: { readonly refcount: number; readonly generation: number },
): number {
  let word = control.load(handle.refcount);
  for (;;) {
    if (generationOf(word) !== handle.generation) return -1;
    const version = control.load(descriptor(copyOf(word), T_VERSION));
    const again = control.load(handle.refcount);
    if (copyOf(again) === copyOf(word)) return version;
    word = again;
  }
}

/**
 * Rejects once `signal` aborts, and wakes the sleepers on the publish count
 * so that the abandoned `Atomics.waitAsync` settles rather than stay queued
 * (the others find nothing new and sleep again); `stop()` removes the
 * listener.
 */
function abortion(signal: AbortSignal, words: Int32Array): {
  promise: Promise<never>;
  stop(): void;
} {
  let stop = () => {};
  const promise = new Promise<never>((_, reject) => {
    const onAbort = () => {
      reject(signal.reason);
      Atomics.notify(words, C_PUBLISHES);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    stop = () => signal.removeEventListener("abort", onAbort);
  });
  promise.catch(() => {});
  return { promise, stop: () => stop() };
}

/**
 * Waits until `version()` is newer than `since`, sleeping with
 * `Atomics.waitAsync` on the publish count: a publish moves it on once every
 * handle points at the new version, and wakes the sleepers. The count is
 * read before the version, so a publish in between makes the wait return at
 * once. Rejects with a `TypeError` once the writer is closed with no newer
 * version to come.
 */
export async function waitForVersion(
  control: AtomicsMemory,
  since: number,
  version: () => number,
  options: { signal?: AbortSignal; timeoutMs: number },
): Promise<number> {
  const { signal, timeoutMs } = options;
  signal?.throwIfAborted();
  const deadline = performance.now() + timeoutMs;
  const words = control.words;
  const aborted = signal === undefined ? undefined : abortion(signal, words);
  // Deno does not count a pending `Atomics.waitAsync` as work that keeps
  // the event loop alive (denoland/deno#15358): a timer holds it meanwhile.
  const keepAlive = setInterval(() => {}, 1 << 30);
  control.add(C_VERSION_WAITERS, 1);
  try {
    for (;;) {
      const published = control.load(C_PUBLISHES);
      const now = version();
      if (now > since) return now;
      if (control.load(H_WRITER_CLOSED) !== 0) {
        throw new TypeError(
          `Cannot wait for a version newer than ${since}: the write handle is closed, and version ${now} is the last`,
        );
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new WaitTimeoutError(
          `Cannot wait for a version newer than ${since}: none was published within ${timeoutMs} ms`,
          [],
        );
      }
      const wait = Atomics.waitAsync(words, C_PUBLISHES, published, left);
      if (!wait.async) continue;
      await (aborted === undefined
        ? wait.value
        : Promise.race([wait.value, aborted.promise]));
    }
  } finally {
    control.sub(C_VERSION_WAITERS, 1);
    clearInterval(keepAlive);
    aborted?.stop();
  }
}
