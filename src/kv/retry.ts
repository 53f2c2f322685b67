/**
 * When to retry a KV call, and how long to wait before the next try.
 *
 * Two processes writing one SQLite file take turns at its write lock, and
 * the one that finds it taken gets `TypeError: database is locked` at once:
 * three processes committing in a loop here met it several times per commit.
 * It changes nothing, so the call can simply be made again. Waits grow
 * exponentially and are drawn at random below the cap ("full jitter"), so
 * that processes that collided once do not collide again in step.
 *
 * @module
 */

/**
 * Whether an error from KV means "nothing was done, try again": SQLite's
 * lock or busy errors.
 */
export function isRetryable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return /database is locked|database is busy|SQLITE_BUSY|SQLITE_LOCKED/i
    .test(error.message);
}

/**
 * A random wait before try `attempt + 1` (1-based): up to
 * `min(capMs, baseMs * 2^(attempt - 1))` milliseconds.
 */
export function jitteredDelay(
  attempt: number,
  baseMs: number,
  capMs: number,
): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt - 1, 30));
  return Math.random() * ceiling;
}

/**
 * Waits `ms` milliseconds; rejects with the signal's reason when it aborts.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Runs a KV read, trying it again (up to `attempts` times in all, with
 * short jittered waits) while it fails with a lock error.
 */
export async function retryLocked<T>(
  read: () => Promise<T>,
  attempts = 20,
): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await read();
    } catch (error) {
      if (attempt >= attempts || !isRetryable(error)) throw error;
    }
    await sleep(jitteredDelay(attempt, 1, 50));
  }
}
