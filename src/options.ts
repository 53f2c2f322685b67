/**
 * Checking the options of the calls that wait: the write side's
 * `timeoutMs`, and `ReadHandle.changed()`'s `signal` and `timeoutMs`.
 *
 * @module
 */

import type { ChangedOptions } from "./read_api.ts";
import { describe } from "./storage.ts";
import type { WaitOptions } from "./write_api.ts";

/** The time limit of a wait, checked; `fallback` when none is given. */
export function waitLimit(
  options: WaitOptions | undefined,
  action: string,
  fallback = Infinity,
): number {
  if (
    options !== undefined && (typeof options !== "object" || options === null)
  ) {
    throw new TypeError(
      `Cannot ${action}: options must be an object, got ${describe(options)}`,
    );
  }
  // Read once: a getter must not pass the check with one value and be
  // used with another.
  const given = options?.timeoutMs;
  const timeoutMs = given === undefined ? fallback : given;
  if (typeof timeoutMs !== "number") {
    throw new TypeError(
      `Cannot ${action}: timeoutMs must be a number of milliseconds, got ${
        describe(timeoutMs)
      }`,
    );
  }
  if (!(timeoutMs >= 0)) {
    throw new RangeError(
      `Cannot ${action}: timeoutMs must be a number of milliseconds from 0, got ${
        describe(timeoutMs)
      }`,
    );
  }
  return timeoutMs;
}

/** The options of `changed()`, checked: its signal and time limit. */
export function changedOptions(
  options: ChangedOptions | undefined,
  action: string,
): { signal?: AbortSignal; timeoutMs: number } {
  const timeoutMs = waitLimit(options, action);
  const signal = options?.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(
      `Cannot ${action}: signal must be an AbortSignal, got ${
        describe(signal)
      }`,
    );
  }
  return { signal, timeoutMs };
}
