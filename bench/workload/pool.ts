/**
 * The main thread's side of the reader workers: spawning them, one request
 * at a time per worker with a deadline, and terminating them. Owners call
 * `terminate()` in `finally`: a live worker keeps `deno run` from exiting.
 *
 * @module
 */

import type { WorkerRequest } from "./reader_worker.ts";

const WORKER_URL = new URL("./reader_worker.ts", import.meta.url);
const SPAWN_TIMEOUT_MS = 60_000;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** A set of reader workers. */
export class Pool {
  readonly workers: Worker[] = [];
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;

  /** Starts `count` workers and waits until each has loaded its module. */
  async grow(count: number): Promise<void> {
    const started: Promise<void>[] = [];
    while (this.workers.length < count) {
      const worker = new Worker(WORKER_URL, { type: "module" });
      this.workers.push(worker);
      started.push(this.#listen(worker));
    }
    await Promise.all(started);
  }

  #listen(worker: Worker): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error("Cannot start a reader worker: no answer")),
        SPAWN_TIMEOUT_MS,
      );
      worker.onmessage = (event: MessageEvent) => {
        const data = event.data;
        if (data.hello) {
          clearTimeout(timer);
          resolve();
          return;
        }
        const pending = this.#pending.get(data.id);
        if (pending === undefined) return;
        this.#pending.delete(data.id);
        clearTimeout(pending.timer);
        if (data.ok) pending.resolve(data.value);
        else pending.reject(new Error(`A reader worker failed: ${data.error}`));
      };
      worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        clearTimeout(timer);
        const error = new Error(`A reader worker crashed: ${event.message}`);
        reject(error);
        this.#failAll(error);
      };
    });
  }

  #failAll(error: Error): void {
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.#pending.clear();
  }

  /** Sends a request to worker `index` and waits for its answer. */
  request<T>(
    index: number,
    request: WorkerRequest,
    transfer: Transferable[] = [],
    timeoutMs = 120_000,
  ): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`A reader worker did not answer "${request.type}"`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: resolve as (value: unknown) => void,
        reject,
        timer,
      });
      this.workers[index].postMessage({ id, request }, transfer);
    });
  }

  /** Terminates every worker; safe to call twice. */
  terminate(): void {
    for (const worker of this.workers) worker.terminate();
    this.workers.length = 0;
    this.#failAll(new Error("The pool was terminated"));
  }
}
