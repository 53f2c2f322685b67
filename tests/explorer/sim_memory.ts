/**
 * A simulated shared memory for the interleaving explorer: plain words, with
 * every operation logged under the name of the thread that made it. Waiting
 * and waking are the scheduler's business: `wait` is never called here (the
 * protocol asks to wait by yielding a request), and `notify` hands the wake-up
 * to the scheduler.
 *
 * @module
 */

import type { Memory } from "../../src/memory.ts";

/** One logged memory operation. */
export interface MemoryEvent {
  thread: string;
  text: string;
}

/** Names of the words a scenario uses, for readable traces. */
export type WordNames = (index: number) => string;

/** {@linkcode Memory} over plain words, one operation at a time. */
export class SimMemory implements Memory {
  readonly words: Int32Array;
  readonly events: MemoryEvent[] = [];
  /** The thread whose step is running. */
  thread = "setup";
  /** Called by `notify`: wakes up to `count` waiters, returns how many. */
  onNotify: (index: number, count: number) => number = () => 0;
  readonly #name: WordNames;

  constructor(size: number, name: WordNames) {
    this.words = new Int32Array(size);
    this.#name = name;
  }

  #log(op: string, index: number, detail: string): void {
    this.events.push({
      thread: this.thread,
      text: `${op}(${this.#name(index)}${detail})`,
    });
  }

  add(index: number, value: number): number {
    const old = this.words[index];
    this.words[index] = old + value;
    this.#log("add", index, `, ${hex(value)}) -> ${hex(old)}`);
    return old;
  }
  sub(index: number, value: number): number {
    const old = this.words[index];
    this.words[index] = old - value;
    this.#log("sub", index, `, ${hex(value)}) -> ${hex(old)}`);
    return old;
  }
  load(index: number): number {
    const value = this.words[index];
    this.#log("load", index, `) -> ${hex(value)}`);
    return value;
  }
  store(index: number, value: number): void {
    this.words[index] = value;
    this.#log("store", index, `, ${hex(value)})`);
  }
  exchange(index: number, value: number): number {
    const old = this.words[index];
    this.words[index] = value;
    this.#log("exchange", index, `, ${hex(value)}) -> ${hex(old)}`);
    return old;
  }
  compareExchange(
    index: number,
    expected: number,
    replacement: number,
  ): number {
    const old = this.words[index];
    if (old === expected) this.words[index] = replacement;
    this.#log(
      "compareExchange",
      index,
      `, ${hex(expected)}, ${hex(replacement)}) -> ${hex(old)}`,
    );
    return old;
  }
  wait(): "ok" | "not-equal" | "timed-out" {
    throw new Error(
      "SimMemory.wait: the protocol must yield a wait request instead",
    );
  }
  notify(index: number, count: number): number {
    const woken = this.onNotify(index, count);
    this.#log("notify", index, `, ${count}) -> ${woken}`);
    return woken;
  }
}

function hex(value: number): string {
  return value < 0 || value > 9
    ? `0x${(value >>> 0).toString(16)}`
    : String(value);
}
