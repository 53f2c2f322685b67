import { assertEquals, assertStrictEquals, assertThrows } from "@std/assert";
import { changedOptions, waitLimit } from "../src/options.ts";
import type { WaitOptions } from "../src/write_api.ts";

const ACTION = "open a write guard";

Deno.test("waitLimit() returns the fallback when no time limit is given", () => {
  assertEquals(waitLimit(undefined, ACTION), Infinity);
  assertEquals(waitLimit({}, ACTION), Infinity);
  assertEquals(waitLimit(undefined, ACTION, 2_000), 2_000);
  assertEquals(waitLimit({}, ACTION, 2_000), 2_000);
  assertEquals(waitLimit({ timeoutMs: undefined }, ACTION, 7), 7);
});

Deno.test("waitLimit() returns a given timeoutMs from 0 up, fractions and Infinity included", () => {
  assertEquals(waitLimit({ timeoutMs: 0 }, ACTION, 5), 0);
  assertEquals(waitLimit({ timeoutMs: 10.5 }, ACTION), 10.5);
  assertEquals(waitLimit({ timeoutMs: 1e9 }, ACTION, 5), 1e9);
  assertEquals(waitLimit({ timeoutMs: Infinity }, ACTION, 5), Infinity);
});

Deno.test("waitLimit() refuses options that are not an object with a TypeError", () => {
  const cases: [unknown, string][] = [
    [null, "null"],
    [5, "number 5"],
    ["fast", 'string "fast"'],
    [true, "boolean true"],
  ];
  for (const [options, shown] of cases) {
    assertThrows(
      () => waitLimit(options as WaitOptions, ACTION),
      TypeError,
      `Cannot open a write guard: options must be an object, got ${shown}`,
    );
  }
});

Deno.test("waitLimit() refuses a timeoutMs that is not a number with a TypeError", () => {
  const cases: [unknown, string][] = [
    ["5", 'string "5"'],
    [null, "null"],
    [5n, "bigint 5n"],
  ];
  for (const [timeoutMs, shown] of cases) {
    assertThrows(
      () => waitLimit({ timeoutMs } as WaitOptions, "synchronize the map"),
      TypeError,
      `Cannot synchronize the map: timeoutMs must be a number of milliseconds, got ${shown}`,
    );
  }
});

Deno.test("waitLimit() refuses a negative or NaN timeoutMs with a RangeError", () => {
  for (
    const [timeoutMs, shown] of [[-1, "-1"], [-Infinity, "-Infinity"], [
      NaN,
      "NaN",
    ]] as const
  ) {
    assertThrows(
      () => waitLimit({ timeoutMs }, ACTION),
      RangeError,
      `Cannot open a write guard: timeoutMs must be a number of milliseconds from 0, got number ${shown}`,
    );
  }
  // A bad fallback is refused too: the check applies to what would be used.
  assertThrows(() => waitLimit(undefined, ACTION, -5), RangeError);
});

Deno.test("waitLimit() reads timeoutMs once, so a getter cannot pass the check with another value", () => {
  let reads = 0;
  const options = {
    get timeoutMs() {
      reads++;
      return reads === 1 ? 25 : -1;
    },
  };
  assertEquals(waitLimit(options, ACTION), 25);
  assertEquals(reads, 1);
});

Deno.test("changedOptions() returns no signal and no limit for no options", () => {
  assertEquals(changedOptions(undefined, "wait for a change"), {
    signal: undefined,
    timeoutMs: Infinity,
  });
  assertEquals(changedOptions({}, "wait for a change"), {
    signal: undefined,
    timeoutMs: Infinity,
  });
});

Deno.test("changedOptions() passes an AbortSignal and a time limit through", () => {
  const controller = new AbortController();
  const checked = changedOptions(
    { signal: controller.signal, timeoutMs: 40 },
    "wait for a change",
  );
  assertStrictEquals(checked.signal, controller.signal);
  assertEquals(checked.timeoutMs, 40);
  const aborted = AbortSignal.abort();
  assertStrictEquals(
    changedOptions({ signal: aborted }, "wait for a change").signal,
    aborted,
  );
});

Deno.test("changedOptions() refuses a signal that is not an AbortSignal with a TypeError", () => {
  const cases: [unknown, string][] = [
    [{}, "an object"],
    [null, "null"],
    [{ aborted: false }, "an object"],
    [new EventTarget(), "an instance of EventTarget"],
  ];
  for (const [signal, shown] of cases) {
    assertThrows(
      () =>
        changedOptions(
          { signal } as unknown as { signal: AbortSignal },
          "wait for a change",
        ),
      TypeError,
      `Cannot wait for a change: signal must be an AbortSignal, got ${shown}`,
    );
  }
});

Deno.test("changedOptions() checks timeoutMs and the options object as waitLimit() does", () => {
  assertThrows(
    () => changedOptions({ timeoutMs: -3 }, "wait for a change"),
    RangeError,
    "Cannot wait for a change: timeoutMs must be a number of milliseconds from 0, got number -3",
  );
  assertThrows(
    () => changedOptions({ timeoutMs: "1" as unknown as number }, "wait"),
    TypeError,
    "timeoutMs must be a number of milliseconds",
  );
  assertThrows(
    () => changedOptions(7 as unknown as undefined, "wait for a change"),
    TypeError,
    "Cannot wait for a change: options must be an object, got number 7",
  );
});
