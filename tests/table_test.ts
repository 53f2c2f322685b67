import { assert, assertEquals } from "@std/assert";
import { hashInt32 } from "../src/hash.ts";
import { MapViews } from "../src/layout.ts";
import {
  clearSlot,
  forEachSlot,
  holdsOdd,
  homeSlot,
  oddSlot,
  placeSlot,
  readTable,
  rehash,
  SlotFormat,
  slotHolding,
  slotsFor,
  writeTable,
} from "../src/table.ts";

const SEED = 12345;
const TABLE = 2048;

/** A random generator with a fixed seed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (Math.imul(state, 1103515245) + 12345) | 0;
    return (state >>> 8) / 2 ** 24;
  };
}

/** A slot image of `format` for key number `key` (value `value`). */
function imageOf(format: SlotFormat, key: number, value: number): Int32Array {
  const image = new Int32Array(format.stride);
  if (format.keyWords === 0) {
    image[0] = hashInt32(key, SEED) & 0xff00ff; // collisions on purpose
    image[1] = 16 + key * 2; // an entry offset, unique per key
  } else if (format.keyWords === 1) {
    image[0] = hashInt32(key, SEED);
  } else {
    image[0] = key;
    image[1] = key * 7;
  }
  image[format.stride === 2 ? 1 : 2] ||= value;
  if (format.keyWords === 0) image[1] = 16 + key * 2;
  return image;
}

/** Whether a probe from the key's home reaches it before a free slot. */
function reachable(
  i32: Int32Array,
  format: SlotFormat,
  image: Int32Array,
): boolean {
  if (format.isOdd(image, 0)) return holdsOdd(i32, 0);
  const { offset, mask } = readTable(i32, 0);
  let slot = homeSlot(format.hashAt(image, 0), mask);
  for (let left = mask; left >= 0; left--) {
    const at = offset + format.stride * slot;
    if (format.sameKey(i32, at, image, 0)) return true;
    if (format.isFree(i32, at)) return false;
    slot = (slot + 1) & mask;
  }
  return false;
}

const formats: [string, SlotFormat][] = [
  ["entry slots", new SlotFormat(0, 0, SEED)],
  ["inline, 1-word key and value", new SlotFormat(1, 1, SEED)],
  ["inline, 1-word key, 2-word value", new SlotFormat(1, 2, SEED)],
  ["inline, 2-word key", new SlotFormat(2, 1, SEED)],
];

for (const [name, format] of formats) {
  Deno.test(`clearSlot() keeps every other key reachable (${name})`, () => {
    const next = random(7);
    for (let round = 0; round < 20; round++) {
      const i32 = new Int32Array(TABLE + 64 * format.stride);
      writeTable(i32, 0, { offset: TABLE, mask: 63, size: 0 });
      const model = new Map<number, Int32Array>();
      for (let step = 0; step < 300; step++) {
        const key = Math.floor(next() * 60);
        const present = model.get(key);
        if (present === undefined) {
          if (model.size >= 50) continue;
          const image = imageOf(format, key, step + 1);
          placeSlot(i32, format, 0, image, 0);
          model.set(key, image);
        } else {
          clearSlot(i32, format, 0, slotHolding(i32, format, 0, present, 0));
          model.delete(key);
        }
        for (const image of model.values()) {
          assert(reachable(i32, format, image), `round ${round} step ${step}`);
        }
        let occupied = 0;
        forEachSlot(i32, format, 0, () => occupied++);
        assertEquals(occupied, model.size);
      }
    }
  });

  Deno.test(`rehash() moves every slot into a larger table (${name})`, () => {
    const i32 = new Int32Array(TABLE + 48 * format.stride);
    writeTable(i32, 0, { offset: TABLE, mask: 15, size: 0 });
    const images = [3, 9, 27, 31, 40, 41].map((key) =>
      imageOf(format, key, key + 100)
    );
    for (const image of images) placeSlot(i32, format, 0, image, 0);
    const to = TABLE + 16 * format.stride;
    rehash(i32, format, readTable(i32, 0), to, 31);
    writeTable(i32, 0, { offset: to, mask: 31, size: images.length });
    for (const image of images) assert(reachable(i32, format, image));
    let occupied = 0;
    forEachSlot(i32, format, 0, () => occupied++);
    assertEquals(occupied, images.length);
  });
}

Deno.test("placeSlot() keeps the odd key, whose stored form is all zero, in the descriptor", () => {
  const format = new SlotFormat(2, 2, SEED);
  const i32 = new MapViews(new SharedArrayBuffer(4 * (TABLE + 64))).i32;
  writeTable(i32, 0, { offset: TABLE, mask: 15, size: 0 });
  const odd = new Int32Array([0, 0, 5, 6]);
  placeSlot(i32, format, 0, odd, 0);
  assert(holdsOdd(i32, 0));
  assertEquals(slotHolding(i32, format, 0, odd, 0), oddSlot(0));
  assertEquals([...i32.subarray(oddSlot(0), oddSlot(0) + 4)], [0, 0, 5, 6]);
  // No table slot was taken.
  let inTable = 0;
  for (let at = TABLE; at < TABLE + 64; at += 4) {
    if (!format.isFree(i32, at)) inTable++;
  }
  assertEquals(inTable, 0);
  clearSlot(i32, format, 0, oddSlot(0));
  assert(!holdsOdd(i32, 0));
});

Deno.test("slotsFor() keeps tables at most 80% full", () => {
  assertEquals(slotsFor(0), 8);
  assertEquals(slotsFor(6), 8);
  assertEquals(slotsFor(7), 16);
  assertEquals(slotsFor(100_000), 131_072);
  assertEquals(slotsFor(105_000), 262_144);
});
