/**
 * The interleaving explorer run on the production protocol (no failure in
 * any schedule), and on mutants of it (each one caught, with a failing
 * schedule that replays).
 */
import { assert, assertEquals } from "@std/assert";
import * as copies from "../src/copies.ts";
import * as protocol from "../src/protocol.ts";
import { exhaustive, randomized, replay, report } from "./explorer/explorer.ts";
import { loadMutant, MUTANTS } from "./explorer/mutants.ts";
import { scenarios } from "./explorer/scenarios.ts";

/** Preemptions explored exhaustively; PCT schedules go deeper. */
const PREEMPTION_BOUND = 3;
const PCT_RUNS = 1_000;
const PCT_SEED = 20261126;

Deno.test("explorer finds no failing schedule of the production protocol", () => {
  for (const scenario of scenarios({ protocol, copies })) {
    const bound = scenario.preemptionBound ?? PREEMPTION_BOUND;
    const exhaustiveRun = exhaustive(scenario, bound);
    assertEquals(exhaustiveRun.failure, undefined, report(exhaustiveRun));
    const randomRun = randomized(scenario, PCT_RUNS, PCT_SEED);
    assertEquals(randomRun.failure, undefined, report(randomRun));
    console.log(
      `${scenario.name}: ${exhaustiveRun.schedules} schedules with up to ${bound} preemptions, ${randomRun.schedules} PCT schedules`,
    );
  }
});

for (const mutant of MUTANTS) {
  Deno.test(`explorer catches the mutant: ${mutant.name}`, async () => {
    const mutated = await loadMutant(mutant);
    const all = scenarios(mutated);
    // PCT schedules first, over every scenario: they catch most mutants in
    // a few hundred runs; the exhaustive search backs them up.
    const searches = [
      ...all.map((scenario) => ({
        scenario,
        search: () => randomized(scenario, PCT_RUNS, PCT_SEED),
      })),
      ...all.map((scenario) => ({
        scenario,
        search: () =>
          exhaustive(scenario, scenario.preemptionBound ?? PREEMPTION_BOUND),
      })),
    ];
    let caught: string | undefined;
    for (const { scenario, search } of searches) {
      const found = search();
      if (found.failure === undefined) continue;
      // The failing schedule replays to the same failure.
      const again = replay(scenario, found.failure.schedule);
      assertEquals(again.failure, found.failure.failure);
      caught =
        `${found.scenario} after ${found.schedules} schedule(s): ${found.failure.failure}`;
      console.log(`caught "${mutant.name}" in ${caught}`);
      console.log(report(found).split("\n").slice(0, 40).join("\n"));
      break;
    }
    assert(
      caught !== undefined,
      `no scenario caught the mutant "${mutant.name}"`,
    );
  });
}
