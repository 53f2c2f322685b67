/**
 * The memory interface the reader protocol is written against.
 *
 * Production code runs it on `Atomics` over the map's shared control words;
 * a test scheduler can run the very same protocol code on a simulated memory
 * whose every operation is a scheduling point. Indexes are 32-bit word
 * indexes into the map's buffer.
 *
 * @module
 */

/** Sequentially consistent operations on 32-bit words of shared memory. */
export interface Memory {
  /** Atomically adds `value`; returns the previous value. */
  add(index: number, value: number): number;
  /** Atomically subtracts `value`; returns the previous value. */
  sub(index: number, value: number): number;
  /** Atomically reads the word. */
  load(index: number): number;
  /** Atomically writes the word. */
  store(index: number, value: number): void;
  /** Atomically writes `value`; returns the previous value. */
  exchange(index: number, value: number): number;
  /** Atomically replaces `expected` with `replacement`; returns the previous value. */
  compareExchange(index: number, expected: number, replacement: number): number;
  /**
   * Blocks while the word holds `expected`, for at most `timeoutMs`.
   * Returns `"ok"` when woken, `"not-equal"`, or `"timed-out"`.
   */
  wait(
    index: number,
    expected: number,
    timeoutMs: number,
  ): "ok" | "not-equal" | "timed-out";
  /** Wakes up to `count` waiters on the word; returns how many woke. */
  notify(index: number, count: number): number;
}

/** {@linkcode Memory} on real shared memory, through `Atomics`. */
export class AtomicsMemory implements Memory {
  /** The words, as a fixed-length view: never a length-tracking one. */
  readonly words: Int32Array;

  constructor(words: Int32Array) {
    this.words = words;
  }

  add(index: number, value: number): number {
    return Atomics.add(this.words, index, value);
  }

  sub(index: number, value: number): number {
    return Atomics.sub(this.words, index, value);
  }

  load(index: number): number {
    return Atomics.load(this.words, index);
  }

  store(index: number, value: number): void {
    Atomics.store(this.words, index, value);
  }

  exchange(index: number, value: number): number {
    return Atomics.exchange(this.words, index, value);
  }

  compareExchange(
    index: number,
    expected: number,
    replacement: number,
  ): number {
    return Atomics.compareExchange(this.words, index, expected, replacement);
  }

  /**
   * `Atomics.wait`; on a thread that may not block (a browser's main
   * thread), a `TypeError` that says what to use instead.
   */
  wait(
    index: number,
    expected: number,
    timeoutMs: number,
  ): "ok" | "not-equal" | "timed-out" {
    try {
      return Atomics.wait(this.words, index, expected, timeoutMs);
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      throw new TypeError(
        "Cannot wait on this thread: it may not block (Atomics.wait is not allowed here, as on a browser's main thread); use the async variants, guardAsync(), synchronizeAsync() or updateAsync(), which wait without blocking",
        { cause: error },
      );
    }
  }

  /**
   * Waits without blocking the thread. Deno's event loop does not count a
   * pending `Atomics.waitAsync` as work (denoland/deno#15358), so a timer is
   * held for as long as the wait lasts.
   */
  async waitAsync(
    index: number,
    expected: number,
    timeoutMs: number,
  ): Promise<"ok" | "not-equal" | "timed-out"> {
    const result = Atomics.waitAsync(this.words, index, expected, timeoutMs);
    if (!result.async) return result.value;
    const keepAlive = setInterval(() => {}, 1 << 30);
    try {
      return await result.value;
    } finally {
      clearInterval(keepAlive);
    }
  }

  notify(index: number, count: number): number {
    return Atomics.notify(this.words, index, count);
  }
}
