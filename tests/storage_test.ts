import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertNotEquals,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import { hashInt32, hashPair, hashString } from "../src/hash.ts";
import {
  E_HASH,
  E_KEY,
  E_VALUE_LENGTH,
  ENTRY_HEADER_WORDS,
  MapViews,
} from "../src/layout.ts";
import {
  BigIntKeys,
  BigIntValues,
  BooleanKeys,
  BooleanValues,
  ByteKeys,
  ByteValues,
  checkJson,
  describe,
  Int32Keys,
  Int32Values,
  JsonValues,
  type KeyStorage,
  NumberKeys,
  NumberValues,
  readEntryValue,
  readUtf16,
  StringKeys,
  StringValues,
  typeError,
  type ValueStorage,
} from "../src/storage.ts";
import {
  placeSlot,
  SlotFormat,
  slotHolding,
  writeTable,
} from "../src/table.ts";

const SEED = 0x2468ace;
const ACTION = "insert into the map";
const INT32_RANGE = "an int32 (an integer from -2147483648 to 2147483647)";
const INT64_RANGE =
  "a 64-bit signed bigint (from -(2n ** 63n) to 2n ** 63n - 1n)";
const MIN_INT64 = -(2n ** 63n);
const MAX_INT64 = 2n ** 63n - 1n;

function bytesKeys(runsUserCode = false): ByteKeys<Uint8Array> {
  return new ByteKeys(
    (key, action) => {
      if (!(key instanceof Uint8Array)) {
        throw typeError(action, "key", "a Uint8Array", key);
      }
      return key;
    },
    (bytes) => bytes,
    runsUserCode,
  );
}

function bytesValues(): ByteValues<Uint8Array> {
  return new ByteValues(
    (value, action) => {
      if (!(value instanceof Uint8Array)) {
        throw typeError(action, "value", "a Uint8Array", value);
      }
      return value;
    },
    (bytes) => bytes,
  );
}

function views(words = 64 * 1024): MapViews {
  return new MapViews(new SharedArrayBuffer(4 * words));
}

/** The words of a float64, low word first. */
function bitsOf(value: number): [number, number] {
  const words = new Int32Array(new Float64Array([value]).buffer);
  return [words[0], words[1]];
}

/**
 * Writes an entry for `key` and `value` at word `entry` the way the writer
 * does; returns its size in words.
 */
function writeEntry<K, V>(
  map: MapViews,
  keys: KeyStorage<K>,
  values: ValueStorage<V>,
  entry: number,
  key: unknown,
  value: unknown,
): number {
  const k = keys.prepare(key, ACTION);
  const v = values.prepare(value, ACTION);
  const i32 = map.i32;
  i32[entry + E_HASH] = keys.hash(k, SEED);
  i32[entry + E_KEY] = keys.keyField(k);
  i32[entry + E_VALUE_LENGTH] = values.length(v);
  keys.write(map, entry, k);
  values.write(map, entry + ENTRY_HEADER_WORDS + keys.dataWords(k), v);
  return ENTRY_HEADER_WORDS + keys.dataWords(k) + values.dataWords(v);
}

const TABLE = 1024;

/**
 * A 16-slot (or `slots`-slot) entry-slot table of copy 0 holding `keys`
 * (each with value `valueOf(key)`), entries from word 4096. Returns the
 * views and the word index of each key's slot.
 */
function entryTable<K, V>(
  keys: KeyStorage<K>,
  values: ValueStorage<V>,
  entries: [unknown, unknown][],
  slots = 16,
) {
  const map = views();
  const format = new SlotFormat(0, 0, SEED);
  writeTable(map.i32, 0, { offset: TABLE, mask: slots - 1, size: 0 });
  const at = new Map<unknown, number>();
  let next = 4096;
  for (const [key, value] of entries) {
    const entry = next;
    next += writeEntry(map, keys, values, entry, key, value);
    next += next % 2;
    const image = [map.i32[entry + E_HASH], entry];
    placeSlot(map.i32, format, 0, image, 0);
    at.set(key, slotHolding(map.i32, format, 0, image, 0));
  }
  return { map, mask: slots - 1, at };
}

// ------------------------------------------------------------- describe

Deno.test("describe() names what a caller passed, for messages", () => {
  class Point {}
  const cases: [unknown, string][] = [
    [null, "null"],
    [undefined, "undefined"],
    [[1, 2], "an array"],
    [{}, "an object"],
    [Object.create(null), "an object"],
    [new Point(), "an instance of Point"],
    [new Map(), "an instance of Map"],
    ["short", 'string "short"'],
    ["a".repeat(25), `string "${"a".repeat(20)}..."`],
    [5n, "bigint 5n"],
    [-0, "number -0"],
    [1.5, "number 1.5"],
    [NaN, "number NaN"],
    [false, "boolean false"],
    [() => 1, "function"],
    [Symbol("s"), "symbol"],
  ];
  for (const [value, shown] of cases) assertEquals(describe(value), shown);
});

Deno.test("typeError() builds a sentence-case TypeError naming the action and the value", () => {
  const error = typeError("insert into the map", "key", "a string", 5);
  assertInstanceOf(error, TypeError);
  assertEquals(
    error.message,
    "Cannot insert into the map: key must be a string, got number 5",
  );
});

// ------------------------------------------------------------ readUtf16

Deno.test("readUtf16() copies code units out of memory, lone surrogates and long runs included", () => {
  const u16 = new Uint16Array(new SharedArrayBuffer(2 * 40_000));
  const long = Array.from(
    { length: 20_001 },
    (_, i) => String.fromCharCode((i * 7919) % 0x10000),
  ).join("");
  for (
    const text of ["", "a", "ab", "\ud800", "x\udc00y", "héllo wörld", long]
  ) {
    u16.fill(0xffff);
    for (let i = 0; i < text.length; i++) u16[5 + i] = text.charCodeAt(i);
    assertEquals(readUtf16(u16, 5, text.length), text);
  }
  assertEquals(readUtf16(u16, 5, 3), long.slice(0, 3));
});

// -------------------------------------------------------- key prepare

interface Refusal {
  storage: KeyStorage<unknown> | ValueStorage<unknown>;
  name: string;
  input: unknown;
  error: typeof TypeError | typeof RangeError;
  message: string;
}

const keyRefusals: Refusal[] = [
  [
    "int32",
    new Int32Keys(),
    "1",
    TypeError,
    `key must be ${INT32_RANGE}, got string "1"`,
  ],
  [
    "int32",
    new Int32Keys(),
    1n,
    TypeError,
    `key must be ${INT32_RANGE}, got bigint 1n`,
  ],
  [
    "int32",
    new Int32Keys(),
    null,
    TypeError,
    `key must be ${INT32_RANGE}, got null`,
  ],
  [
    "int32",
    new Int32Keys(),
    1.5,
    RangeError,
    `key must be ${INT32_RANGE}, got number 1.5`,
  ],
  [
    "int32",
    new Int32Keys(),
    2 ** 31,
    RangeError,
    `key must be ${INT32_RANGE}, got number 2147483648`,
  ],
  [
    "int32",
    new Int32Keys(),
    -(2 ** 31) - 1,
    RangeError,
    `got number -2147483649`,
  ],
  ["int32", new Int32Keys(), NaN, RangeError, `got number NaN`],
  ["int32", new Int32Keys(), Infinity, RangeError, `got number Infinity`],
  [
    "boolean",
    new BooleanKeys(),
    1,
    TypeError,
    "key must be a boolean, got number 1",
  ],
  [
    "boolean",
    new BooleanKeys(),
    "true",
    TypeError,
    'key must be a boolean, got string "true"',
  ],
  [
    "number",
    new NumberKeys(),
    "1",
    TypeError,
    'key must be a number, got string "1"',
  ],
  [
    "number",
    new NumberKeys(),
    1n,
    TypeError,
    "key must be a number, got bigint 1n",
  ],
  [
    "bigint",
    new BigIntKeys(),
    1,
    TypeError,
    `key must be ${INT64_RANGE}, got number 1`,
  ],
  [
    "bigint",
    new BigIntKeys(),
    2n ** 63n,
    RangeError,
    `key must be ${INT64_RANGE}, got bigint 9223372036854775808n`,
  ],
  [
    "bigint",
    new BigIntKeys(),
    MIN_INT64 - 1n,
    RangeError,
    `got bigint -9223372036854775809n`,
  ],
  [
    "string",
    new StringKeys(),
    1,
    TypeError,
    "key must be a string, got number 1",
  ],
  [
    "string",
    new StringKeys(),
    undefined,
    TypeError,
    "key must be a string, got undefined",
  ],
  [
    "bytes",
    bytesKeys(),
    [1, 2],
    TypeError,
    "key must be a Uint8Array, got an array",
  ],
].map(([name, storage, input, error, message]) => ({
  name,
  storage,
  input,
  error,
  message,
} as Refusal));

Deno.test("KeyStorage.prepare() refuses bad keys: TypeError for a wrong type, RangeError out of range", () => {
  for (const { name, storage, input, error, message } of keyRefusals) {
    const thrown = assertThrows(
      () => storage.prepare(input, ACTION),
      Error,
      undefined,
      `${name} keys took ${describe(input)}`,
    );
    assertInstanceOf(thrown, error, `${name} keys, ${describe(input)}`);
    assert(
      thrown.message.startsWith("Cannot insert into the map: "),
      thrown.message,
    );
    assert(thrown.message.endsWith(message), thrown.message);
  }
});

Deno.test("KeyStorage.prepare() brings keys to their canonical form", () => {
  assert(Object.is(new Int32Keys().prepare(-0, ACTION), 0));
  assertEquals(new Int32Keys().prepare(-(2 ** 31), ACTION), -(2 ** 31));
  assertEquals(new Int32Keys().prepare(2 ** 31 - 1, ACTION), 2 ** 31 - 1);
  assertEquals(new BooleanKeys().prepare(true, ACTION), 1);
  assertEquals(new BooleanKeys().prepare(false, ACTION), 0);
  const numbers = new NumberKeys();
  assert(Object.is(numbers.prepare(-0, ACTION), 0));
  assertEquals(numbers.prepare(-1.25, ACTION), -1.25);
  // A NaN with other bits comes back as the one canonical NaN.
  const odd = new Float64Array(new Int32Array([1, 0x7ff80000]).buffer)[0];
  assert(Number.isNaN(odd));
  assertNotEquals(bitsOf(odd), bitsOf(NaN));
  assertEquals(bitsOf(numbers.prepare(odd, ACTION)), bitsOf(NaN));
  assertEquals(new BigIntKeys().prepare(MIN_INT64, ACTION), MIN_INT64);
  assertEquals(new BigIntKeys().prepare(MAX_INT64, ACTION), MAX_INT64);
  assertEquals(new StringKeys().prepare("\ud800", ACTION), "\ud800");
});

Deno.test("KeyStorage.hash() agrees for keys that are equal once prepared", () => {
  const numbers = new NumberKeys();
  const odd = new Float64Array(new Int32Array([1, 0x7ff80000]).buffer)[0];
  assertEquals(
    numbers.hash(numbers.prepare(odd, ACTION), SEED),
    numbers.hash(numbers.prepare(NaN, ACTION), SEED),
  );
  assertEquals(
    numbers.hash(numbers.prepare(-0, ACTION), SEED),
    numbers.hash(numbers.prepare(0, ACTION), SEED),
  );
  const [low, high] = bitsOf(2.5);
  assertEquals(numbers.hash(2.5, SEED), hashPair(low, high, SEED));
  assertEquals(new Int32Keys().hash(77, SEED), hashInt32(77, SEED));
  assertEquals(new BooleanKeys().hash(1, SEED), hashInt32(1, SEED));
  assertEquals(new StringKeys().hash("abc", SEED), hashString("abc", SEED));
  assertEquals(
    new BigIntKeys().hash(-1n, SEED),
    hashPair(-1, -1, SEED),
  );
});

// ---------------------------------------------------- key round trips

Deno.test("KeyStorage.write() and read() round-trip keys of every kind through an entry", () => {
  const cases: [string, KeyStorage<unknown>, unknown[]][] = [
    ["string", new StringKeys(), [
      "",
      "a",
      "ab",
      "abc",
      "\ud800",
      "é".repeat(9_001),
    ]],
    ["int32", new Int32Keys(), [0, 1, -1, 2 ** 31 - 1, -(2 ** 31)]],
    ["boolean", new BooleanKeys(), [true, false]],
    ["number", new NumberKeys(), [
      0,
      -1.5,
      NaN,
      Infinity,
      -Infinity,
      Number.MIN_VALUE,
    ]],
    ["bigint", new BigIntKeys(), [0n, -1n, MIN_INT64, MAX_INT64]],
    ["bytes", bytesKeys(), [
      new Uint8Array(),
      Uint8Array.of(1),
      Uint8Array.of(1, 2, 3, 4, 5),
    ]],
  ];
  for (const [name, keys, samples] of cases) {
    for (const key of samples) {
      const map = views();
      map.i32.fill(-1);
      const entry = 100;
      const prepared = keys.prepare(key, ACTION);
      const field = keys.keyField(prepared);
      map.i32[entry + E_KEY] = field;
      keys.write(map, entry, prepared);
      const words = keys.dataWords(prepared);
      assertEquals(words % 2, 0, `${name}: data words are even`);
      assertEquals(keys.storedWords(field), words, `${name}: stored words`);
      assertEquals(keys.read(map, entry), key, `${name} ${describe(key)}`);
    }
  }
});

Deno.test("StringKeys.write() pads an odd-length key with a zero unit", () => {
  const map = views();
  map.u16.fill(0xffff);
  const keys = new StringKeys();
  keys.write(map, 100, "abc");
  const start = (100 + ENTRY_HEADER_WORDS) * 2;
  assertEquals([...map.u16.subarray(start, start + 4)], [97, 98, 99, 0]);
});

Deno.test("ByteKeys.prepare() + own() and read() return copies, not the caller's or the map's memory", () => {
  const keys = bytesKeys(true);
  assert(keys.runsUserCode);
  assert(!bytesKeys(false).runsUserCode);
  assert(!new StringKeys().runsUserCode);
  const mine = Uint8Array.of(1, 2, 3);
  const owned = keys.own(keys.prepare(mine, ACTION));
  mine[0] = 9;
  assertEquals([...owned], [1, 2, 3]);
  const map = views();
  map.i32[100 + E_KEY] = 3;
  keys.write(map, 100, owned);
  const read = keys.read(map, 100);
  map.u8[(100 + ENTRY_HEADER_WORDS) * 4] = 7;
  assertEquals([...read], [1, 2, 3]);
});

// -------------------------------------------------- inline key forms

Deno.test("Int32Keys.storeKey() stores a key as its hash, the seed itself as 0", () => {
  const keys = new Int32Keys();
  const out = new Int32Array(3);
  for (const key of [0, 1, -1, 12, 2 ** 31 - 1, -(2 ** 31), SEED]) {
    out.fill(7);
    keys.storeKey(keys.prepare(key, ACTION), SEED, out, 1);
    assertEquals(out[1], hashInt32(key, SEED));
    assertEquals([out[0], out[2]], [7, 7], "only one word is written");
    assertEquals(out[1] === 0, key === SEED, `key ${key}`);
    assertEquals(keys.loadKey(out, 1, SEED), key);
  }
});

Deno.test("BooleanKeys.storeKey() round-trips both keys, false being the odd key of seed 0", () => {
  const keys = new BooleanKeys();
  const out = new Int32Array(1);
  for (const seed of [SEED, 0]) {
    for (const key of [true, false]) {
      keys.storeKey(keys.prepare(key, ACTION), seed, out, 0);
      assertEquals(keys.loadKey(out, 0, seed), key);
      assertEquals(out[0] === 0, seed === 0 && key === false);
    }
  }
});

Deno.test("NumberKeys.storeKey() round-trips every prepared key, none stored as zero words", () => {
  const keys = new NumberKeys();
  const out = new Int32Array(4);
  const samples = [
    0,
    -0,
    1.5,
    -1.5,
    NaN,
    Infinity,
    -Infinity,
    Number.MIN_VALUE,
    -Number.MAX_VALUE,
  ];
  for (const key of samples) {
    const prepared = keys.prepare(key, ACTION);
    keys.storeKey(prepared, SEED, out, 2);
    assert((out[2] | out[3]) !== 0, `${key} is stored as zero words`);
    // The stored form does not depend on the seed.
    const again = new Int32Array(2);
    keys.storeKey(prepared, 1, again, 0);
    assertEquals([...again], [out[2], out[3]]);
    assert(Object.is(keys.loadKey(out, 2), key === 0 ? 0 : key));
  }
  // Only -0, which prepare() never returns, would be all zero.
  keys.storeKey(-0, SEED, out, 0);
  assertEquals([out[0], out[1]], [0, 0]);
});

Deno.test("BigIntKeys.storeKey() stores -(2n ** 63n) as zero words and round-trips every key", () => {
  const keys = new BigIntKeys();
  const out = new Int32Array(2);
  keys.storeKey(MIN_INT64, SEED, out, 0);
  assertEquals([...out], [0, 0]);
  assertEquals(keys.loadKey(out, 0), MIN_INT64);
  keys.storeKey(0n, SEED, out, 0);
  assertEquals([...out], [0, 0x80000000 | 0]);
  for (const key of [0n, 1n, -1n, MIN_INT64 + 1n, MAX_INT64, 1n << 40n]) {
    keys.storeKey(key, SEED, out, 0);
    assert((out[0] | out[1]) !== 0);
    assertEquals(keys.loadKey(out, 0), key);
  }
});

Deno.test("KeyStorage.inlineWords is 1 for int32 and boolean keys, 2 for number and bigint, 0 otherwise", () => {
  assertEquals(new Int32Keys().inlineWords, 1);
  assertEquals(new BooleanKeys().inlineWords, 1);
  assertEquals(new NumberKeys().inlineWords, 2);
  assertEquals(new BigIntKeys().inlineWords, 2);
  assertEquals(new StringKeys().inlineWords, 0);
  assertEquals(bytesKeys().inlineWords, 0);
});

Deno.test("KeyStorage.storeKey() and loadKey() refuse with a TypeError for kinds that are never inline", () => {
  for (const keys of [new StringKeys(), bytesKeys()] as KeyStorage<unknown>[]) {
    assertThrows(
      () => keys.storeKey("a", SEED, new Int32Array(2), 0),
      TypeError,
      "keys of this kind are never inline",
    );
    assertThrows(
      () => keys.loadKey(new Int32Array(2), 0, SEED),
      TypeError,
      "keys of this kind are never inline",
    );
  }
});

// ------------------------------------------------------- key probes

Deno.test("KeyStorage.locate() and find() find every key of an entry-slot table and miss others", () => {
  const cases: [string, KeyStorage<unknown>, unknown[], unknown[]][] = [
    ["string", new StringKeys(), [
      "",
      "a",
      "abc",
      "abcd",
      "\ud800",
      "x".repeat(200),
    ], ["b", "abce", "x".repeat(199)]],
    ["int32", new Int32Keys(), [0, 1, -1, 1000, -(2 ** 31)], [2, 2 ** 31 - 1]],
    ["boolean", new BooleanKeys(), [true], [false]],
    ["number", new NumberKeys(), [0, NaN, 1.5, -Infinity], [-1.5, Infinity]],
    ["bigint", new BigIntKeys(), [0n, MIN_INT64, MAX_INT64, -5n], [5n, -1n]],
    ["bytes", bytesKeys(), [
      new Uint8Array(),
      Uint8Array.of(1),
      Uint8Array.of(1, 2, 3, 4, 5),
    ], [Uint8Array.of(2), Uint8Array.of(1, 2, 3, 4, 6)]],
  ];
  const values = new Int32Values();
  for (const [name, keys, present, absent] of cases) {
    const { map, mask, at } = entryTable(
      keys,
      values,
      present.map((key, i) => [key, i]),
    );
    for (const key of present) {
      const slot = at.get(key)!;
      assertEquals(
        keys.locate(map, TABLE, mask, 2, key, SEED, ACTION),
        slot,
        `${name} ${describe(key)}`,
      );
      const prepared = keys.prepare(key, ACTION);
      assertEquals(
        keys.find(map, TABLE, mask, 2, prepared, keys.hash(prepared, SEED)),
        (slot - TABLE) / 2,
      );
    }
    for (const key of absent) {
      assertEquals(
        keys.locate(map, TABLE, mask, 2, key, SEED, ACTION),
        -1,
        `${name} ${describe(key)} is absent`,
      );
    }
  }
  // Equal once prepared: -0 finds 0, any NaN finds NaN.
  const numbers = new NumberKeys();
  const { map, mask, at } = entryTable(numbers, values, [[0, 1], [NaN, 2]]);
  assertEquals(
    numbers.locate(map, TABLE, mask, 2, -0, SEED, ACTION),
    at.get(0),
  );
  const odd = new Float64Array(new Int32Array([1, 0x7ff80000]).buffer)[0];
  assertEquals(
    numbers.locate(map, TABLE, mask, 2, odd, SEED, ACTION),
    at.get(NaN),
  );
});

Deno.test("KeyStorage.locate() returns -1 for a missing key of a full table", () => {
  const cases: [KeyStorage<unknown>, unknown[], unknown][] = [
    [new StringKeys(), ["a", "b", "c", "d", "e", "f", "g", "h"], "i"],
    [new Int32Keys(), [1, 2, 3, 4, 5, 6, 7, 8], 9],
    [new NumberKeys(), [1, 2, 3, 4, 5, 6, 7, 8], 9],
    [new BigIntKeys(), [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n], 9n],
    [
      bytesKeys(),
      [1, 2, 3, 4, 5, 6, 7, 8].map((n) => Uint8Array.of(n)),
      Uint8Array.of(9),
    ],
  ];
  for (const [keys, present, missing] of cases) {
    const { map } = entryTable(
      keys,
      new Int32Values(),
      present.map((key) => [key, 1]),
      8,
    );
    for (let slot = 0; slot < 8; slot++) {
      assert(map.i32[TABLE + 2 * slot + 1] !== 0);
    }
    assertEquals(keys.locate(map, TABLE, 7, 2, missing, SEED, ACTION), -1);
  }
});

Deno.test("StringKeys.find() finds a key after another key was hashed in between", () => {
  const keys = new StringKeys();
  const { map, mask, at } = entryTable(keys, new Int32Values(), [
    ["alpha", 1],
    ["beta", 2],
  ]);
  const hash = keys.hash("alpha", SEED);
  keys.hash("something else entirely", SEED);
  assertEquals(
    keys.find(map, TABLE, mask, 2, "alpha", hash),
    (at.get("alpha")! - TABLE) / 2,
  );
});

Deno.test("KeyStorage.locate() refuses a bad key as prepare() does", () => {
  const { map } = entryTable(new StringKeys(), new Int32Values(), [["a", 1]]);
  assertThrows(
    () =>
      new StringKeys().locate(map, TABLE, 15, 2, 5, SEED, "get from the map"),
    TypeError,
    "Cannot get from the map: key must be a string, got number 5",
  );
  assertThrows(
    () =>
      new Int32Keys().locate(map, TABLE, 15, 2, 0.5, SEED, "get from the map"),
    RangeError,
    `Cannot get from the map: key must be ${INT32_RANGE}, got number 0.5`,
  );
  assertThrows(
    () =>
      new BigIntKeys().locate(
        map,
        TABLE,
        15,
        2,
        2n ** 64n,
        SEED,
        "get from the map",
      ),
    RangeError,
    "Cannot get from the map: key must be a 64-bit signed bigint",
  );
});

// ------------------------------------------------------------ values

const valueRefusals: Refusal[] = [
  [
    "string",
    new StringValues(),
    1,
    TypeError,
    "value must be a string, got number 1",
  ],
  [
    "number",
    new NumberValues(),
    "1",
    TypeError,
    'value must be a number, got string "1"',
  ],
  [
    "number",
    new NumberValues(),
    1n,
    TypeError,
    "value must be a number, got bigint 1n",
  ],
  [
    "int32",
    new Int32Values(),
    "1",
    TypeError,
    `value must be ${INT32_RANGE}, got string "1"`,
  ],
  [
    "int32",
    new Int32Values(),
    0.5,
    RangeError,
    `value must be ${INT32_RANGE}, got number 0.5`,
  ],
  ["int32", new Int32Values(), 2 ** 31, RangeError, "got number 2147483648"],
  ["int32", new Int32Values(), NaN, RangeError, "got number NaN"],
  [
    "boolean",
    new BooleanValues(),
    0,
    TypeError,
    "value must be a boolean, got number 0",
  ],
  [
    "bigint",
    new BigIntValues(),
    1,
    TypeError,
    `value must be ${INT64_RANGE}, got number 1`,
  ],
  [
    "bigint",
    new BigIntValues(),
    2n ** 63n,
    RangeError,
    `value must be ${INT64_RANGE}, got bigint 9223372036854775808n`,
  ],
  [
    "json",
    new JsonValues(),
    undefined,
    TypeError,
    "value must be JSON data (null, a boolean, a finite number, a string, or arrays and plain objects of those), got undefined",
  ],
  ["json", new JsonValues(), NaN, TypeError, "got number NaN"],
  [
    "bytes",
    bytesValues(),
    "x",
    TypeError,
    'value must be a Uint8Array, got string "x"',
  ],
].map(([name, storage, input, error, message]) => ({
  name,
  storage,
  input,
  error,
  message,
} as Refusal));

Deno.test("ValueStorage.prepare() refuses bad values: TypeError for a wrong type, RangeError out of range", () => {
  for (const { name, storage, input, error, message } of valueRefusals) {
    const thrown = assertThrows(
      () => storage.prepare(input, ACTION),
      Error,
      undefined,
      `${name} values took ${describe(input)}`,
    );
    assertInstanceOf(thrown, error, `${name} values, ${describe(input)}`);
    assert(
      thrown.message.startsWith("Cannot insert into the map: "),
      thrown.message,
    );
    assert(thrown.message.endsWith(message), thrown.message);
  }
});

Deno.test("ValueStorage.write() and read() round-trip values of every kind", () => {
  const cases: [string, ValueStorage<unknown>, unknown[]][] = [
    ["string", new StringValues(), [
      "",
      "a",
      "abc",
      "\udfff",
      "z".repeat(10_000),
    ]],
    ["json", new JsonValues(), [null, 1, "s", [1, [2]], {
      a: { b: [true, null] },
    }]],
    ["number", new NumberValues(), [0, -0, 1.5, NaN, -Infinity]],
    ["int32", new Int32Values(), [0, -1, 2 ** 31 - 1, -(2 ** 31)]],
    ["boolean", new BooleanValues(), [true, false]],
    ["bigint", new BigIntValues(), [0n, MIN_INT64, MAX_INT64]],
    ["bytes", bytesValues(), [new Uint8Array(), Uint8Array.of(1, 2, 3)]],
  ];
  for (const [name, values, samples] of cases) {
    for (const value of samples) {
      const map = views();
      map.i32.fill(-1);
      const prepared = values.prepare(value, ACTION);
      assertEquals(values.dataWords(prepared) % 2, 0);
      values.write(map, 200, prepared);
      const read = values.read(map, 200, values.length(prepared));
      const shown = `${name} ${describe(value)} came back as ${describe(read)}`;
      if (typeof value === "number") assert(Object.is(read, value), shown);
      else assertEquals(read, value, shown);
    }
  }
});

Deno.test("Int32Values and BooleanValues keep the value in the length word, with no data words", () => {
  const ints = new Int32Values();
  assertEquals(ints.length(ints.prepare(-7, ACTION)), -7);
  assertEquals(ints.dataWords(), 0);
  assertEquals(ints.read(views(), 0, -7), -7);
  const booleans = new BooleanValues();
  assertEquals(booleans.length(booleans.prepare(true, ACTION)), 1);
  assertEquals(booleans.read(views(), 0, 0), false);
  assertEquals(booleans.dataWords(), 0);
});

Deno.test("readEntryValue() reads the value that follows an entry's key", () => {
  const map = views();
  const keys = new StringKeys();
  const values = new StringValues();
  writeEntry(map, keys, values, 300, "key of odd length", "the value");
  assertEquals(readEntryValue(map, keys, values, 300), "the value");
  const ints = new Int32Keys();
  const json = new JsonValues();
  writeEntry(map, ints, json, 400, 12, { list: [1, 2] });
  assertEquals(readEntryValue(map, ints, json, 400), { list: [1, 2] });
});

Deno.test("ValueStorage.readAt() reads the value of the entry a slot points at", () => {
  const cases: [ValueStorage<unknown>, unknown][] = [
    [new StringValues(), "text"],
    [new JsonValues(), { a: 1 }],
    [new NumberValues(), 2.25],
    [new Int32Values(), -9],
    [new BooleanValues(), true],
    [new BigIntValues(), -5n],
    [bytesValues(), Uint8Array.of(4, 5)],
  ];
  const keys = new StringKeys();
  for (const [values, value] of cases) {
    const { map, at } = entryTable(keys, values, [["k", value], ["j", value]]);
    assertEquals(values.readAt(map, keys, at.get("k")!), value);
    // A one-shot read: rawAt inside the guard, finish after it.
    assertEquals(values.finish(values.rawAt(map, keys, at.get("j")!)), value);
  }
});

Deno.test("ByteValues.rawAt() copies the stored bytes, decoded only by finish()", () => {
  let decoded = 0;
  const values = new ByteValues<string>(
    (value) => new TextEncoder().encode(value as string),
    (bytes) => {
      decoded++;
      return new TextDecoder().decode(bytes);
    },
  );
  const keys = new StringKeys();
  const { map, at } = entryTable(keys, values, [["k", "héllo"]]);
  const raw = values.rawAt(map, keys, at.get("k")!);
  assertInstanceOf(raw, Uint8Array);
  assertEquals(decoded, 0);
  assertStrictEquals(raw.buffer instanceof SharedArrayBuffer, false);
  assertEquals(values.finish(raw), "héllo");
  assertEquals(decoded, 1);
  // What the map owns of a value is not the caller's array, even from a
  // codec whose encode returns the very array it was given.
  const passThrough = bytesValues();
  const mine = Uint8Array.of(1, 2);
  const owned = passThrough.own(passThrough.prepare(mine, ACTION));
  mine[0] = 0;
  assertEquals([...owned], [1, 2]);
});

Deno.test("ValueStorage.storeValue() and loadValue() round-trip inline values", () => {
  const map = views();
  const i32 = map.i32;
  const cases: [ValueStorage<unknown>, unknown[]][] = [
    [new Int32Values(), [0, -1, 2 ** 31 - 1, -(2 ** 31)]],
    [new BooleanValues(), [true, false]],
    [new NumberValues(), [0, -0, 1.5, NaN, Infinity, Number.MIN_VALUE]],
    [new BigIntValues(), [0n, -1n, MIN_INT64, MAX_INT64]],
  ];
  for (const [values, samples] of cases) {
    for (const value of samples) {
      i32.fill(-1, 0, 16);
      values.storeValue(values.prepare(value, ACTION), i32, 10);
      const loaded = values.loadValue(map, 10);
      assert(
        Object.is(loaded, value),
        `${describe(value)}: ${describe(loaded)}`,
      );
      // Nothing outside the value's words was written.
      assertEquals(i32[9], -1);
      assertEquals(i32[10 + values.inlineWords], -1);
    }
  }
});

Deno.test("ValueStorage.inlineWords is 1 for int32 and boolean, 2 for number and bigint, 0 otherwise", () => {
  assertEquals(new Int32Values().inlineWords, 1);
  assertEquals(new BooleanValues().inlineWords, 1);
  assertEquals(new NumberValues().inlineWords, 2);
  assertEquals(new BigIntValues().inlineWords, 2);
  assertEquals(new StringValues().inlineWords, 0);
  assertEquals(new JsonValues().inlineWords, 0);
  assertEquals(bytesValues().inlineWords, 0);
});

Deno.test("ValueStorage.storeValue() and loadValue() refuse with a TypeError for kinds that are never inline", () => {
  const kinds = [
    new StringValues(),
    new JsonValues(),
    bytesValues(),
  ] as ValueStorage<unknown>[];
  for (const values of kinds) {
    assertThrows(
      () => values.storeValue("a", new Int32Array(2), 0),
      TypeError,
      "values of this kind are never inline",
    );
    assertThrows(
      () => values.loadValue(views(), 0),
      TypeError,
      "values of this kind are never inline",
    );
  }
});

// ----------------------------------------------------------- JSON

Deno.test("checkJson() accepts plain JSON data, shared branches included", () => {
  const shared = { x: 1 };
  const accepted: unknown[] = [
    null,
    true,
    0,
    -0,
    1e300,
    "",
    "text",
    [],
    {},
    [1, "a", null, [false]],
    { a: { b: [1, { c: "d" }] } },
    Object.assign(Object.create(null), { a: 1 }),
    [shared, shared],
    { left: shared, right: [shared] },
  ];
  for (const value of accepted) {
    checkJson(value, [], ACTION, new Set());
  }
});

Deno.test("checkJson() refuses what JSON would not bring back, naming the path", () => {
  class Point {
    x = 1;
  }
  const cases: [unknown, string][] = [
    [
      undefined,
      "value must be JSON data (null, a boolean, a finite number, a string, or arrays and plain objects of those), got undefined",
    ],
    [NaN, "value must be JSON data"],
    [Infinity, "got number Infinity"],
    [1n, "got bigint 1n"],
    [() => 1, "got function"],
    [Symbol("s"), "got symbol"],
    [new Date(0), "got an instance of Date"],
    [new Map(), "got an instance of Map"],
    [new Point(), "got an instance of Point"],
    [[1, undefined], "value[1] must be JSON data"],
    [{ a: [{ b: NaN }] }, "value.a[0].b must be JSON data"],
    [
      { list: [1, 2, { when: new Date(0) }] },
      "value.list[2].when must be JSON data",
    ],
  ];
  for (const [value, message] of cases) {
    const error = assertThrows(
      () => checkJson(value, [], ACTION, new Set()),
      TypeError,
      message,
    );
    assert(error.message.startsWith("Cannot insert into the map: "));
  }
});

Deno.test("checkJson() refuses a cycle with a TypeError naming where it closes", () => {
  const loop: Record<string, unknown> = { a: [1] };
  (loop.a as unknown[]).push(loop);
  assertThrows(
    () => checkJson(loop, [], ACTION, new Set()),
    TypeError,
    "Cannot insert into the map: value.a[1] must be JSON data, got a cycle",
  );
  const self: unknown[] = [];
  self.push(self);
  assertThrows(
    () => new JsonValues().prepare(self, ACTION),
    TypeError,
    "value[0] must be JSON data, got a cycle",
  );
});

Deno.test("JsonValues.prepare() refuses a value nested too deeply with a RangeError", () => {
  let deep: unknown = 1;
  for (let i = 0; i < 200_000; i++) deep = [deep];
  assertThrows(
    () => new JsonValues().prepare(deep, ACTION),
    RangeError,
    "Cannot insert into the map: value is nested too deeply to be stored as JSON",
  );
});

Deno.test("JsonValues.prepare() stores the JSON text of a value", () => {
  const values = new JsonValues();
  const text = values.prepare({ b: [1, "x"], a: null }, ACTION);
  assertEquals(text, '{"b":[1,"x"],"a":null}');
  assertEquals(values.length(text), text.length);
  assertEquals(values.prepare(-0, ACTION), "0");
});
