/**
 * How map keys become the last part of a KV key and back, for each key
 * codec; the prefix check; and the identity of a key part.
 *
 * | key codec | KV key part | refused |
 * | --- | --- | --- |
 * | `codecs.string` | string | other types |
 * | `codecs.number` | number (`-0` written as `0`) | other types |
 * | `codecs.int32` | number | non-integers, outside -2^31 .. 2^31 - 1 |
 * | `codecs.bigint` | bigint | outside -2^63 .. 2^63 - 1 |
 * | `codecs.boolean` | boolean | other types |
 * | `codecs.bytes` | `Uint8Array` | other types |
 * | a canonical codec of your own | `Uint8Array`: its `encode` bytes | parts its `decode` refuses |
 * | anything, with a {@linkcode KeyPartMapping} | what the mapping says | what it throws for |
 *
 * @module
 */

import { codecs, type KeyCodec } from "../../mod.ts";
import { describe } from "../storage.ts";
import type { KvKey, KvKeyPart } from "./types.ts";

/**
 * Turns map keys into KV key parts and back, for a key codec the module
 * cannot map by itself (or to choose another part type than the default).
 * Both directions must agree: `fromPart(toPart(key))` is `key`.
 *
 * @typeParam K The type of the map's keys.
 *
 * @example Dates as numbers in KV keys
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import type { KeyPartMapping } from "@x/flashmap/kv";
 *
 * const byTime: KeyPartMapping<Date> = {
 *   toPart: (date) => date.getTime(),
 *   fromPart: (part) => {
 *     if (typeof part !== "number") throw new TypeError("expected a number");
 *     return new Date(part);
 *   },
 * };
 * assertEquals(byTime.fromPart(byTime.toPart(new Date(5))), new Date(5));
 * ```
 */
export interface KeyPartMapping<K> {
  /**
   * The KV key part for a map key.
   *
   * @param key The map key.
   * @returns Its key part (a string, number, bigint, boolean or `Uint8Array`).
   * @throws {TypeError} Or `RangeError`, for a key it cannot map.
   */
  toPart(key: K): KvKeyPart;
  /**
   * The map key for a KV key part.
   *
   * @param part The last part of a KV key under the prefix.
   * @returns The map key.
   * @throws {TypeError} Or `RangeError`, for a part that is no map key.
   */
  fromPart(part: KvKeyPart): K;
}

/** The first key part of the change log's keys; no prefix may start with it. */
export const META_ROOT = "__flashmap";

/** A KV key as error messages show it: `["flags", 42]`. */
export function showKey(key: KvKey): string {
  return `[${
    key.map((part) => {
      if (typeof part === "string") return JSON.stringify(part);
      if (typeof part === "bigint") return `${part}n`;
      if (part instanceof Uint8Array) return `Uint8Array(${part.length})`;
      if (typeof part === "number" && Object.is(part, -0)) return "-0";
      return String(part);
    }).join(", ")
  }]`;
}

/**
 * A string that is equal for two key parts exactly when KV treats them as
 * the same key part (so `0` and `-0` differ, as they do in KV).
 */
export function partId(part: KvKeyPart): string {
  switch (typeof part) {
    case "string":
      return `s${part}`;
    case "number":
      return Object.is(part, -0) ? "n-0" : `n${part}`;
    case "bigint":
      return `b${part}`;
    case "boolean":
      return part ? "t" : "f";
    default: {
      let hex = "u";
      for (const byte of part as Uint8Array) {
        hex += byte.toString(16).padStart(2, "0");
      }
      return hex;
    }
  }
}

/** Whether a value can be a key part (symbols cannot be written by this module). */
export function isKeyPart(value: unknown): value is KvKeyPart {
  const type = typeof value;
  return type === "string" || type === "number" || type === "bigint" ||
    type === "boolean" || value instanceof Uint8Array;
}

/**
 * Checks a prefix: a non-empty array of key parts that does not start with
 * the change log's root. Returns a frozen copy.
 */
export function checkPrefix(prefix: unknown, action: string): KvKey {
  if (!Array.isArray(prefix)) {
    throw new TypeError(
      `Cannot ${action}: the prefix must be an array of KV key parts, got ${
        describe(prefix)
      }`,
    );
  }
  if (prefix.length === 0) {
    throw new RangeError(
      `Cannot ${action}: the prefix must have at least one part (an empty prefix would take in the change log's own keys)`,
    );
  }
  for (const part of prefix) {
    if (!isKeyPart(part)) {
      throw new TypeError(
        `Cannot ${action}: the prefix's parts must be strings, numbers, bigints, booleans or Uint8Arrays, got ${
          describe(part)
        }`,
      );
    }
  }
  if (prefix[0] === META_ROOT) {
    throw new RangeError(
      `Cannot ${action}: the prefix must not start with "${META_ROOT}", where the change logs live`,
    );
  }
  return Object.freeze(
    prefix.map((part) => part instanceof Uint8Array ? part.slice() : part),
  );
}

/**
 * The failed action an error names, or a function that builds it: mirrors
 * name the KV key, which is only worth formatting when something fails.
 */
export type Action = string | (() => string);

function act(action: Action): string {
  return typeof action === "string" ? action : action();
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function expectType<T>(
  part: unknown,
  type: string,
  codec: string,
  action: Action,
  what: string,
): T {
  const actual: string = typeof part;
  if (actual !== type) {
    throw new TypeError(
      `Cannot ${
        act(action)
      }: ${what} must be a ${type} for the key codec "${codec}", got ${
        describe(part)
      }`,
    );
  }
  return part as T;
}

function int32(part: unknown, action: Action, what: string): number {
  const value = expectType<number>(part, "number", "int32", action, what);
  if (!Number.isInteger(value) || value < -(2 ** 31) || value > 2 ** 31 - 1) {
    throw new RangeError(
      `Cannot ${
        act(action)
      }: ${what} must be an integer from -2147483648 to 2147483647 for the key codec "int32", got ${
        describe(value)
      }`,
    );
  }
  return Object.is(value, -0) ? 0 : value;
}

function int64(part: unknown, action: Action, what: string): bigint {
  const value = expectType<bigint>(part, "bigint", "bigint", action, what);
  if (value < INT64_MIN || value > INT64_MAX) {
    throw new RangeError(
      `Cannot ${
        act(action)
      }: ${what} must be a bigint from -2^63 to 2^63 - 1 for the key codec "bigint", got ${
        describe(value)
      }`,
    );
  }
  return value;
}

function bytes(part: unknown, codec: string, action: Action, what: string) {
  if (!(part instanceof Uint8Array)) {
    throw new TypeError(
      `Cannot ${
        act(action)
      }: ${what} must be a Uint8Array for the key codec "${codec}", got ${
        describe(part)
      }`,
    );
  }
  return part;
}

/**
 * A key part mapping with the action named in its errors: `toPart` says
 * "Cannot add to the batch", `fromPart` "Cannot mirror the key".
 */
export interface PartMapper<K> {
  toPart(key: K, action: Action): KvKeyPart;
  fromPart(part: KvKeyPart, action: Action): K;
}

const raw: PartMapper<KvKeyPart> = {
  toPart(key, action) {
    if (!isKeyPart(key)) {
      throw new TypeError(
        `Cannot ${
          act(action)
        }: key must be a string, number, bigint, boolean or Uint8Array (a KV key part), got ${
          describe(key)
        }`,
      );
    }
    return key;
  },
  fromPart(part, action) {
    return raw.toPart(part, action);
  },
};

const builtinMappers = new Map<unknown, PartMapper<unknown>>([
  [codecs.string, {
    toPart: (key, action) => expectType(key, "string", "string", action, "key"),
    fromPart: (part, action) =>
      expectType(part, "string", "string", action, "its last part"),
  }],
  [codecs.number, {
    toPart: (key, action) => {
      const value = expectType<number>(key, "number", "number", action, "key");
      return Object.is(value, -0) ? 0 : value;
    },
    fromPart: (part, action) => {
      const value = expectType<number>(
        part,
        "number",
        "number",
        action,
        "its last part",
      );
      return Object.is(value, -0) ? 0 : value;
    },
  }],
  [codecs.int32, {
    toPart: (key, action) => int32(key, action, "key"),
    fromPart: (part, action) => int32(part, action, "its last part"),
  }],
  [codecs.bigint, {
    toPart: (key, action) => int64(key, action, "key"),
    fromPart: (part, action) => int64(part, action, "its last part"),
  }],
  [codecs.boolean, {
    toPart: (key, action) =>
      expectType(key, "boolean", "boolean", action, "key"),
    fromPart: (part, action) =>
      expectType(part, "boolean", "boolean", action, "its last part"),
  }],
  [codecs.bytes, {
    toPart: (key, action) => bytes(key, "bytes", action, "key").slice(),
    fromPart: (part, action) =>
      bytes(part, "bytes", action, "its last part").slice(),
  }],
]);

function prefixed(action: Action, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  const Kind = error instanceof RangeError ? RangeError : TypeError;
  return new Kind(`Cannot ${act(action)}: ${message}`, { cause: error });
}

/**
 * The mapper for a key codec (or the raw KV key parts when there is none),
 * or the user's mapping when one is given.
 */
export function partMapper<K>(
  codec: KeyCodec<K> | undefined,
  mapping: KeyPartMapping<K> | undefined,
  action: Action,
): PartMapper<K> {
  if (mapping !== undefined) {
    if (
      typeof mapping !== "object" || mapping === null ||
      typeof mapping.toPart !== "function" ||
      typeof mapping.fromPart !== "function"
    ) {
      throw new TypeError(
        `Cannot ${
          act(action)
        }: keyPart must be an object with toPart and fromPart functions, got ${
          describe(mapping)
        }`,
      );
    }
    return {
      toPart(key, action) {
        let part: unknown;
        try {
          part = mapping.toPart(key);
        } catch (error) {
          throw prefixed(action, error);
        }
        return raw.toPart(part as KvKeyPart, action);
      },
      fromPart(part, action) {
        try {
          return mapping.fromPart(part);
        } catch (error) {
          throw prefixed(action, error);
        }
      },
    };
  }
  if (codec === undefined) return raw as PartMapper<K>;
  const builtin = builtinMappers.get(codec);
  if (builtin !== undefined) return builtin as PartMapper<K>;
  if (
    typeof codec !== "object" || codec === null ||
    typeof codec.encode !== "function" || typeof codec.decode !== "function"
  ) {
    throw new TypeError(
      `Cannot ${
        act(action)
      }: the key codec must be a codec ({ name, canonical, encode, decode }), got ${
        describe(codec)
      }`,
    );
  }
  if (codec.canonical !== true) {
    throw new TypeError(
      `Cannot ${
        act(action)
      }: the key codec "${codec.name}" is not canonical (equal keys must encode to equal bytes)`,
    );
  }
  return {
    toPart(key, action) {
      let encoded: unknown;
      try {
        encoded = codec.encode(key);
      } catch (error) {
        throw prefixed(action, error);
      }
      return bytes(encoded, codec.name, action, "the encoded key").slice();
    },
    fromPart(part, action) {
      const checked = bytes(part, codec.name, action, "its last part");
      try {
        return codec.decode(checked.slice());
      } catch (error) {
        throw prefixed(action, error);
      }
    },
  };
}
