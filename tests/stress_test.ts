/** The short stress run of CI: the soak (`deno task soak`) runs the same longer. */
import { assert, assertEquals } from "@std/assert";
import { runStress } from "./stress/stress.ts";

Deno.test("workers under stress see whole versions, never going back, while handles churn", async () => {
  const result = await runStress({
    readers: 8,
    seconds: 2,
    maxPublishes: 4000,
    maxGuardsPerReader: 200_000,
    groups: 4,
    groupSize: 8,
    holdShare: 0.02,
    holdMs: 3,
    churnShare: 0.05,
    churnKeys: 8,
    seed: 20261126,
  });
  console.log(
    `${result.publishes} publishes, ${result.guards} guards checked (${result.held} held across publishes, ${result.churned} on churned handles), violations: ${result.problems.length}`,
  );
  assertEquals(result.problems, []);
  assert(
    result.publishes > 2 && result.guards > 100,
    "the run did real work",
  );
});
