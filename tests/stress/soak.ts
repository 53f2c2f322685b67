/**
 * The long stress run: `deno task soak [seconds] [readers] [seed]`
 * (defaults: 60 s, 16 readers, a seed from the clock, printed so that a
 * failing run can be repeated). Exits with 1 if any violation was found.
 */
import { runStress } from "./stress.ts";

const [seconds = "60", readers = "16", seed = String(Date.now() % 2 ** 31)] =
  Deno.args;
const config = {
  readers: Number(readers),
  seconds: Number(seconds),
  maxPublishes: Number.MAX_SAFE_INTEGER,
  maxGuardsPerReader: Number.MAX_SAFE_INTEGER,
  groups: 8,
  groupSize: 8,
  holdShare: 0.01,
  holdMs: 5,
  churnShare: 0.05,
  churnKeys: 16,
  seed: Number(seed),
  // Guards held across up to a thousand publishes, four at a time.
  longHolds: { tokens: 4, share: 0.01, maxSpan: 1000 },
};
console.log(
  `soak: ${config.readers} readers for ${config.seconds} s, seed ${config.seed}`,
);
const result = await runStress(config);
console.log(`publishes:        ${result.publishes}`);
console.log(`guards checked:   ${result.guards}`);
console.log(`  held across publishes: ${result.held}`);
console.log(`  on churned handles:    ${result.churned}`);
console.log(`  held for long:         ${result.longHeld}`);
console.log(`  longest, in publishes: ${result.longestSpan}`);
console.log(`fewest versions one reader saw: ${result.minVersionsSeen}`);
console.log(`most versions pinned at once: ${result.maxPinned}`);
console.log(`most copies of the index at once: ${result.maxCopies}`);
console.log(
  `writer waits: ${result.stats.waits} (${
    result.stats.waitMs.toFixed(0)
  } ms); copies made by copying: ${result.stats.clones}, by replay: ${result.stats.replays}`,
);
console.log(
  `writer time in guards (waits included): ${
    result.writerWaitedMs.toFixed(0)
  } ms`,
);
console.log(`violations:       ${result.problems.length}`);
for (const problem of result.problems.slice(0, 20)) console.log(`  ${problem}`);
if (result.problems.length > 0) Deno.exit(1);
