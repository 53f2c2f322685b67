/**
 * A local stand-in for the parts of `jsr:@std/assert` the tests use, built on
 * `node:assert/strict` with the same names and signatures. JSR cannot be
 * reached from the build machines; pointing the `@std/assert` import in
 * deno.json at `jsr:@std/assert@^1` replaces it.
 *
 * @module
 */

import nodeAssert from "node:assert/strict";

/** Thrown by every assertion here, as in `@std/assert`. */
export class AssertionError extends Error {
  /** @param message What failed. */
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

function rethrow(error: unknown, message?: string): never {
  const text = error instanceof Error ? error.message : String(error);
  throw new AssertionError(message ? `${message}: ${text}` : text);
}

/** Asserts that `expr` is truthy. */
export function assert(expr: unknown, msg = ""): asserts expr {
  if (!expr) throw new AssertionError(msg || "Expected expression to be true");
}

/** Asserts that `actual` and `expected` are deeply equal. */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  try {
    nodeAssert.deepStrictEqual(actual, expected);
  } catch (error) {
    rethrow(error, msg);
  }
}

/** Asserts that `actual` and `expected` are not deeply equal. */
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  try {
    nodeAssert.notDeepStrictEqual(actual, expected);
  } catch (error) {
    rethrow(error, msg);
  }
}

/** Asserts that `actual` and `expected` are the same value (`Object.is`). */
export function assertStrictEquals<T>(
  actual: unknown,
  expected: T,
  msg?: string,
): asserts actual is T {
  try {
    nodeAssert.strictEqual(actual, expected);
  } catch (error) {
    rethrow(error, msg);
  }
}

/** Asserts that `actual` is neither `null` nor `undefined`. */
export function assertExists<T>(
  actual: T,
  msg?: string,
): asserts actual is NonNullable<T> {
  if (actual === undefined || actual === null) {
    throw new AssertionError(
      msg ?? `Expected actual: "${actual}" to not be null or undefined.`,
    );
  }
}

/** Asserts that `actual >= expected`. */
export function assertGreaterOrEqual<T>(
  actual: T,
  expected: T,
  msg?: string,
): void {
  if (!(actual >= expected)) {
    throw new AssertionError(msg ?? `Expect ${actual} >= ${expected}`);
  }
}

/** Asserts that `actual < expected`. */
export function assertLess<T>(actual: T, expected: T, msg?: string): void {
  if (!(actual < expected)) {
    throw new AssertionError(msg ?? `Expect ${actual} < ${expected}`);
  }
}

// deno-lint-ignore no-explicit-any
type AnyConstructor = new (...args: any[]) => any;

/** Asserts that `actual` is an instance of `expectedType`. */
export function assertInstanceOf<T extends AnyConstructor>(
  actual: unknown,
  expectedType: T,
  msg = "",
): asserts actual is InstanceType<T> {
  if (!(actual instanceof expectedType)) {
    throw new AssertionError(
      msg ||
        `Expected object to be an instance of "${expectedType.name}" but was "${
          (actual as { constructor?: { name?: string } })?.constructor?.name ??
            typeof actual
        }".`,
    );
  }
}

function checkError<E extends Error>(
  error: unknown,
  ErrorClass?: abstract new (...args: never[]) => E,
  msgIncludes?: string,
  msg?: string,
): E {
  if (ErrorClass && !(error instanceof ErrorClass)) {
    throw new AssertionError(
      `${
        msg ? msg + ": " : ""
      }Expected error to be instance of "${ErrorClass.name}", but was "${
        (error as Error)?.name
      }": ${(error as Error)?.message}`,
    );
  }
  if (msgIncludes !== undefined) {
    const message = (error as Error)?.message ?? String(error);
    if (!message.includes(msgIncludes)) {
      throw new AssertionError(
        `${
          msg ? msg + ": " : ""
        }Expected error message to include "${msgIncludes}", but got "${message}".`,
      );
    }
  }
  return error as E;
}

/** Asserts that `fn` throws; returns what it threw. */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  ErrorClass?: abstract new (...args: any[]) => E,
  msgIncludes?: string,
  msg?: string,
): E {
  try {
    fn();
  } catch (error) {
    return checkError(error, ErrorClass, msgIncludes, msg);
  }
  throw new AssertionError(
    `${msg ? msg + ": " : ""}Expected function to throw.`,
  );
}

/** Asserts that the promise from `fn` rejects; returns the reason. */
export async function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  // deno-lint-ignore no-explicit-any
  ErrorClass?: abstract new (...args: any[]) => E,
  msgIncludes?: string,
  msg?: string,
): Promise<E> {
  try {
    await fn();
  } catch (error) {
    return checkError(error, ErrorClass, msgIncludes, msg);
  }
  throw new AssertionError(
    `${msg ? msg + ": " : ""}Expected function to reject.`,
  );
}

/** Always fails. */
export function fail(msg?: string): never {
  throw new AssertionError(`Failed assertion${msg ? `: ${msg}` : "."}`);
}
