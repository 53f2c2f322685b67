/**
 * The stress run with readers that hold guards for long: spans of up to
 * hundreds of publishes, alongside their other guards, checked whole each
 * time round, while the writer publishes thousands of times. With the
 * default `maxCopies` (8) the writer can have to wait only once seven
 * versions are pinned at once (every retired copy pinned, and no eighth
 * copy to make); here each of 3 readers holds one other guard at a time
 * and 2 tokens bound the guards held for long, so at most 5 versions are
 * pinned at once, and the writer never waits.
 *
 * Bounded by counts: the writer stops after `maxPublishes` publishes (the
 * time limits in the config are only a backstop for a hang).
 */
import { assert, assertEquals } from "@std/assert";
import { runStress } from "./stress/stress.ts";

const READERS = 3;
const TOKENS = 2;
const MAX_COPIES = 8;

Deno.test("stress: readers hold guards across hundreds of publishes; the writer publishes thousands of times and never waits", async () => {
  assert(READERS + TOKENS <= MAX_COPIES - 2);
  const result = await runStress({
    readers: READERS,
    seconds: 120, // a backstop only: the run ends after maxPublishes
    maxPublishes: 3000,
    maxGuardsPerReader: 1_000_000,
    groups: 4,
    groupSize: 8,
    holdShare: 0,
    holdMs: 0,
    churnShare: 0.05,
    churnKeys: 8,
    seed: 20261202,
    maxCopies: MAX_COPIES,
    longHolds: { tokens: TOKENS, share: 0.02, maxSpan: 400 },
  });
  console.log(
    `${result.publishes} publishes, ${result.guards} guards checked, ${result.longHeld} held for long (longest across ${result.longestSpan} publishes), at most ${result.maxPinned} versions pinned and ${result.maxCopies} copies at once, ${result.stats.clones} copies made by copying, violations: ${result.problems.length}`,
  );
  assertEquals(result.problems, []);
  assertEquals(result.publishes, 3000);
  assertEquals(result.stats.waits, 0);
  assertEquals(result.stats.waitMs, 0);
  assert(result.maxPinned <= READERS + TOKENS);
  assert(result.maxCopies <= MAX_COPIES);
  assert(result.longHeld > 0, "guards were held for long");
  assert(
    result.longestSpan >= 100,
    `a guard was held across hundreds of publishes (longest: ${result.longestSpan})`,
  );
  assert(result.maxPinned >= 1 && result.stats.clones > 0);
  // Every reader closed its handle: the spare copies are gone.
  assertEquals([result.stats.copies, result.stats.pinned], [2, []]);
});
