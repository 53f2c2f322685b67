/**
 * The interleaving explorer run on the production protocol (no failure in
 * any schedule), and on mutants of it (each one caught, with a failing
 * schedule that replays).
 *
 * Quiet when it passes: a caught mutant is the expected outcome, so its
 * failing schedule is not printed. What a failure needs (the schedule and
 * trace of a failing run, or what was searched for a mutant that got away)
 * is in the assertion message.
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
    assertEquals(
      exhaustiveRun.failure,
      undefined,
      `exhaustive search (up to ${bound} preemptions) failed at schedule ${exhaustiveRun.schedules}\n${
        report(exhaustiveRun)
      }`,
    );
    const randomRun = randomized(scenario, PCT_RUNS, PCT_SEED);
    assertEquals(
      randomRun.failure,
      undefined,
      `PCT search (seed ${PCT_SEED}) failed at schedule ${randomRun.schedules}\n${
        report(randomRun)
      }`,
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
        kind: `PCT, seed ${PCT_SEED}`,
        search: () => randomized(scenario, PCT_RUNS, PCT_SEED),
      })),
      ...all.map((scenario) => ({
        scenario,
        kind: `exhaustive, up to ${
          scenario.preemptionBound ?? PREEMPTION_BOUND
        } preemptions`,
        search: () =>
          exhaustive(scenario, scenario.preemptionBound ?? PREEMPTION_BOUND),
      })),
    ];
    // What was searched in vain, for the message if nothing catches it.
    const searched: string[] = [];
    let caught = false;
    for (const { scenario, kind, search } of searches) {
      const found = search();
      if (found.failure === undefined) {
        searched.push(
          `  ${found.scenario}: ${found.schedules} schedules (${kind})`,
        );
        continue;
      }
      // The failing schedule replays to the same failure.
      const again = replay(scenario, found.failure.schedule);
      assertEquals(
        again.failure,
        found.failure.failure,
        `the schedule that caught "${mutant.name}" does not replay to the same failure:\n${
          report(found)
        }`,
      );
      caught = true;
      break;
    }
    assert(
      caught,
      [
        `no scenario caught the mutant "${mutant.name}"; searched:`,
        ...searched,
      ].join("\n"),
    );
  });
}
