/**
 * Shared helpers of the tests: snapshots of a guard as a sorted `Map`, and
 * reader workers that are always terminated.
 *
 * @module
 */

import type { ReadGuard, WriteGuard, WriteStats } from "@x/flashmap";

/** The entries of a guard as a Map sorted by key, for deep comparison. */
export function snapshot<K, V>(
  guard: ReadGuard<K, V> | WriteGuard<K, V>,
): Map<K, V> {
  return sorted(new Map(guard.entries()));
}

/** A copy of `map` with its entries sorted by key. */
export function sorted<K, V>(map: Map<K, V>): Map<K, V> {
  return new Map(
    [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

/**
 * The ids of the read handles whose guards pin each retired version, oldest
 * version first (`write.stats().pinned`, ids sorted): what the writer's
 * spare copies are kept for.
 */
export function pinnedReaders(write: { stats(): WriteStats }): number[][] {
  return write.stats().pinned.map(({ readers }) =>
    [...readers].sort((a, b) => a - b)
  );
}

/** A message a test worker posts back. */
export interface WorkerReply {
  type: string;
  [field: string]: unknown;
}

/**
 * A worker that posts replies: `next(type)` waits (bounded) for the next
 * reply of that type. The worker is terminated by `[Symbol.asyncDispose]`.
 */
export class TestWorker implements AsyncDisposable {
  readonly worker: Worker;
  readonly #inbox: WorkerReply[] = [];
  readonly #waiting: Array<() => void> = [];
  #error: unknown = null;

  constructor(url: URL) {
    this.worker = new Worker(url, { type: "module" });
    this.worker.onmessage = (event: MessageEvent<WorkerReply>) => {
      this.#inbox.push(event.data);
      for (const wake of this.#waiting.splice(0)) wake();
    };
    this.worker.onerror = (event) => {
      event.preventDefault();
      this.#error = event.message;
      for (const wake of this.#waiting.splice(0)) wake();
    };
  }

  post(message: unknown): void {
    this.worker.postMessage(message);
  }

  /** The next reply of `type`; rejects after `timeoutMs` (a deadlock guard, not a timing assertion). */
  async next(type: string, timeoutMs = 60_000): Promise<WorkerReply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.#error !== null) {
        throw new Error(`worker failed: ${this.#error}`);
      }
      const index = this.#inbox.findIndex((reply) => reply.type === type);
      if (index >= 0) return this.#inbox.splice(index, 1)[0];
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no "${type}" reply from the worker`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.#waiting.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Sends a request and waits for its reply. */
  async request(message: { type: string }, replyType = message.type) {
    this.post(message);
    return await this.next(replyType);
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.worker.terminate();
    return Promise.resolve();
  }
}

/** A seeded xorshift generator of numbers in [0, 1), so a run replays. */
export function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
}
