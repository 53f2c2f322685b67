import { assertEquals } from "@std/assert";
import fc from "fast-check";
import {
  clearSlot,
  homeSlot,
  placeEntry,
  rehash,
  slotOfEntry,
  slotsFor,
} from "../src/table.ts";

/**
 * Every entry of the table reachable from its home slot without crossing an
 * empty slot, with the value words it carries (entry -> "hash/low/high").
 */
function reachable(
  i32: Int32Array,
  mask: number,
  stride: number,
): Map<number, string> {
  const found = new Map<number, string>();
  for (let slot = 0; slot <= mask; slot++) {
    const at = stride * slot;
    const entry = i32[at + 1];
    if (entry === 0) continue;
    const hash = i32[at];
    let probe = homeSlot(hash, mask);
    while (i32[stride * probe + 1] !== entry) {
      if (i32[stride * probe + 1] === 0) {
        throw new Error(`entry ${entry} unreachable`);
      }
      probe = (probe + 1) & mask;
    }
    found.set(
      entry,
      stride === 4 ? `${hash}/${i32[at + 2]}/${i32[at + 3]}` : `${hash}`,
    );
  }
  return found;
}

for (const stride of [2, 4]) {
  Deno.test(`clearSlot() keeps every other entry reachable, values included (stride ${stride})`, () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 31 })), {
          maxLength: 200,
          size: "max",
        }),
        (steps) => {
          const mask = 31;
          const i32 = new Int32Array(32 * stride);
          const model = new Map<number, string>();
          const hashes = new Map<number, number>();
          let next = 1;
          for (const [add, hash] of steps) {
            if (add && model.size < 24) {
              placeEntry(i32, 0, mask, stride, hash, next, next * 7, -next);
              model.set(
                next,
                stride === 4 ? `${hash}/${next * 7}/${-next}` : `${hash}`,
              );
              hashes.set(next++, hash);
            } else if (model.size > 0) {
              const entry = [...model.keys()][hash % model.size];
              const slot = slotOfEntry(
                i32,
                0,
                mask,
                stride,
                hashes.get(entry)!,
                entry,
              );
              clearSlot(i32, 0, mask, stride, slot);
              model.delete(entry);
            }
            assertEquals(reachable(i32, mask, stride), model);
          }
        },
      ),
    );
  });

  Deno.test(`rehash() moves every entry, values included, into a larger table (stride ${stride})`, () => {
    // The small table (8 slots) at word 0, the large one (16 slots) after it.
    const words = new Int32Array(24 * stride);
    const model = new Map<number, string>();
    for (let entry = 1; entry <= 6; entry++) {
      placeEntry(words, 0, 7, stride, entry * 5, entry, entry, entry + 1);
      model.set(
        entry,
        stride === 4 ? `${entry * 5}/${entry}/${entry + 1}` : `${entry * 5}`,
      );
    }
    rehash(words, { offset: 0, mask: 7, size: 6 }, 8 * stride, 15, stride);
    assertEquals(reachable(words.subarray(8 * stride), 15, stride), model);
  });
}

Deno.test("slotsFor() keeps the load at or under three quarters", () => {
  assertEquals(slotsFor(0), 8);
  assertEquals(slotsFor(6), 8);
  assertEquals(slotsFor(7), 16);
  assertEquals(slotsFor(1000), 2048);
  for (let entries = 0; entries < 5000; entries += 37) {
    const slots = slotsFor(entries);
    assertEquals(slots & (slots - 1), 0);
    assertEquals(entries <= slots * 0.75, true);
  }
});
