/**
 * A local stand-in for the parts of `jsr:@std/async` the tests use, with the
 * same names and signatures. Pointing the `@std/async` import in deno.json at
 * `jsr:@std/async@^1` replaces it.
 *
 * @module
 */

/** Resolves after `ms` milliseconds. */
export function delay(
  ms: number,
  options: { signal?: AbortSignal } = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    const abort = () => {
      clearTimeout(timer);
      reject(options.signal?.reason);
    };
    const timer = setTimeout(() => {
      options.signal?.removeEventListener("abort", abort);
      resolve();
    }, ms);
    options.signal?.addEventListener("abort", abort, { once: true });
  });
}

/** Thrown by {@linkcode deadline} when the time is up. */
export class DeadlineError extends Error {
  /** @param message What timed out. */
  constructor(message = "Deadline") {
    super(message);
    this.name = "TimeoutError";
  }
}

/** Rejects with {@linkcode DeadlineError} if `promise` takes longer than `ms`. */
export function deadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
