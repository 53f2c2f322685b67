import { assertEquals } from "@std/assert";
import fc from "fast-check";
import {
  clearSlot,
  placeEntry,
  rehash,
  slotOfEntry,
  slotsFor,
} from "../src/table.ts";

/** Every entry of the table reachable from its home slot without crossing an empty slot. */
function reachable(i32: Int32Array, mask: number): Map<number, number> {
  const found = new Map<number, number>();
  for (let slot = 0; slot <= mask; slot++) {
    const entry = i32[2 * slot + 1];
    if (entry === 0) continue;
    const hash = i32[2 * slot];
    let probe = hash & mask;
    while (i32[2 * probe + 1] !== entry) {
      if (i32[2 * probe + 1] === 0) {
        throw new Error(`entry ${entry} unreachable`);
      }
      probe = (probe + 1) & mask;
    }
    found.set(entry, hash);
  }
  return found;
}

Deno.test("clearSlot() keeps every other entry reachable (random placements and removals)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 31 })), {
        maxLength: 200,
        size: "max",
      }),
      (steps) => {
        const mask = 31;
        const i32 = new Int32Array(64);
        const model = new Map<number, number>(); // entry -> hash
        let next = 1;
        for (const [add, hash] of steps) {
          if (add && model.size < 24) {
            placeEntry(i32, 0, mask, hash, next);
            model.set(next++, hash);
          } else if (model.size > 0) {
            const [entry, entryHash] = [...model][hash % model.size];
            clearSlot(
              i32,
              0,
              mask,
              slotOfEntry(i32, 0, mask, entryHash, entry),
            );
            model.delete(entry);
          }
          assertEquals(reachable(i32, mask), model);
        }
      },
    ),
  );
});

Deno.test("rehash() moves every entry into a larger table", () => {
  // The small table (8 slots) at word 0, the large one (16 slots) at word 16.
  const words = new Int32Array(48);
  const model = new Map<number, number>();
  for (let entry = 1; entry <= 6; entry++) {
    placeEntry(words, 0, 7, entry * 5, entry);
    model.set(entry, entry * 5);
  }
  rehash(words, { offset: 0, mask: 7, size: 6 }, 16, 15);
  assertEquals(reachable(words.subarray(16), 15), model);
});

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
