/**
 * A local stand-in for `jsr:@std/testing/types`, with the same names and
 * signatures. Pointing `@std/testing` in deno.json at `jsr:@std/testing@^1`
 * replaces it.
 *
 * @module
 */

/** Checks at compile time that `expectTrue` is `true`. */
export function assertType<T extends true | false>(_expectTrue: T): void {}

/** `true` when `T` and `U` are exactly the same type. */
export type IsExact<T, U> = (<G>() => G extends T ? 1 : 2) extends
  (<G>() => G extends U ? 1 : 2) ? true : false;
