/**
 * An upper bound of the bytes a value takes in Deno KV, which stores
 * values in V8's serialization format and refuses one of more than
 * 65,536 bytes. The change log packs a batch's operations into entries
 * below that limit with it. For strings, numbers and flat objects the bound
 * is within a few bytes of V8's own count (`node:v8`'s `serialize`, which
 * matches what KV measures, is not imported: it costs 25 ms to load).
 *
 * @module
 */

/** Bytes of a varint that holds any 32-bit length. */
const VARINT = 5;

/** Whether every code unit of the string fits one byte (V8's one-byte strings). */
function isOneByte(text: string): boolean {
  // deno-lint-ignore no-control-regex
  return !/[^\u0000-\u00ff]/.test(text);
}

function stringSize(text: string): number {
  // tag, length, the code units, and one byte of alignment padding
  return 2 + VARINT + (isOneByte(text) ? text.length : 2 * text.length);
}

/**
 * An upper bound of V8's serialized size of `value`, header included.
 *
 * @param value What would be written to KV.
 * @returns Bytes, never fewer than V8 takes (objects met twice count once).
 */
export function serializedSize(value: unknown): number {
  return 2 + measure(value, new Set());
}

function measure(value: unknown, seen: Set<object>): number {
  switch (typeof value) {
    case "string":
      return stringSize(value);
    case "number":
      return 9;
    case "bigint": {
      const bits = (value < 0n ? -value : value).toString(16).length * 4;
      return 1 + VARINT + 8 * Math.ceil(bits / 64);
    }
    case "boolean":
    case "undefined":
      return 1;
    case "object":
      break;
    default:
      return 16; // KV refuses it anyway (functions, symbols)
  }
  if (value === null) return 1;
  if (seen.has(value)) return 1 + VARINT; // a back-reference
  seen.add(value);
  if (ArrayBuffer.isView(value)) {
    // the buffer (tag, length, bytes), then the view (tag, kind, offset, length, flags)
    return 2 + VARINT + value.byteLength + 2 + 3 * VARINT;
  }
  if (value instanceof ArrayBuffer) return 1 + VARINT + value.byteLength;
  if (value instanceof Date) return 9;
  if (value instanceof RegExp) return 1 + stringSize(value.source) + VARINT;
  if (value instanceof Map) {
    let size = 1 + 1 + VARINT;
    for (const [k, v] of value) size += measure(k, seen) + measure(v, seen);
    return size;
  }
  if (value instanceof Set) {
    let size = 1 + 1 + VARINT;
    for (const v of value) size += measure(v, seen);
    return size;
  }
  if (
    (value as { constructor?: { name?: string } }).constructor?.name === "KvU64"
  ) {
    return 32;
  }
  let size = 1 + 1 + 2 * VARINT; // tag, end tag, counts
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) size += measure(value[i], seen);
    return size;
  }
  for (const key of Object.keys(value)) {
    size += stringSize(key) +
      measure((value as Record<string, unknown>)[key], seen);
  }
  return size;
}
