/**
 * A deterministic interleaving explorer for the reader protocol.
 *
 * A scenario is a set of threads, each a generator that runs production
 * protocol code (src/protocol.ts) on a {@linkcode SimMemory} and yields at
 * every shared-memory step. The explorer runs the scenario again and again,
 * choosing at each step which thread moves next:
 *
 * - `exhaustive`: every schedule with at most `preemptions` preemptions
 *   (switching away from a thread that could have continued), depth first,
 *   CHESS-style, by re-running the scenario from the start for each one;
 * - `randomized`: seeded PCT schedules (random thread priorities, a few
 *   random points where the running thread drops to the lowest priority),
 *   which reach deeper preemptions than the exhaustive bound.
 *
 * A failure (a ghost check that throws, a deadlock, a step budget used up) is
 * reported with its schedule, which {@linkcode replay} runs again, and a
 * readable list of the steps each thread took.
 *
 * @module
 */

import type { Step } from "../../src/protocol.ts";
import type { SimMemory } from "./sim_memory.ts";

/** A thread of a scenario. */
export interface Thread {
  readonly name: string;
  readonly steps: Generator<Step, void>;
}

/** One run's world: the memory, the threads, and the checks at the end. */
export interface World {
  readonly memory: SimMemory;
  readonly threads: Thread[];
  /** Checks that must hold once every thread has finished. */
  finish(): void;
  /**
   * Checks that must hold after every step, given the threads that sleep
   * in a wait: their names, and the words they sleep on.
   */
  check?(sleeping: ReadonlyMap<string, number>): void;
}

/** A scenario builds a fresh world for each run. */
export interface Scenario {
  readonly name: string;
  /**
   * The preemption bound of exhaustive runs, when the default would take
   * too long (PCT schedules still go deeper).
   */
  readonly preemptionBound?: number;
  setup(): World;
}

/** The outcome of one run. */
export interface Run {
  /** The thread chosen at each step: replays the run. */
  readonly schedule: number[];
  readonly failure?: string;
  /** One line per step: the thread and the memory operations it made. */
  readonly trace: string[];
}

interface Choice {
  enabled: number[];
  chosen: number;
  previous: number;
  preemptions: number;
}

type Picker = (step: number, enabled: number[], previous: number) => number;

const MAX_STEPS = 5_000;

function execute(
  scenario: Scenario,
  pick: Picker,
): Run & { choices: Choice[] } {
  const world = scenario.setup();
  const { memory, threads } = world;
  const done = threads.map(() => false);
  const blockedOn = threads.map((): number | null => null);
  const queue: number[] = []; // waiting threads, in the order they slept
  memory.onNotify = (index, count) => {
    let woken = 0;
    for (let i = 0; i < queue.length && woken < count;) {
      if (blockedOn[queue[i]] === index) {
        blockedOn[queue[i]] = null;
        queue.splice(i, 1);
        woken++;
      } else i++;
    }
    return woken;
  };
  const schedule: number[] = [];
  const choices: Choice[] = [];
  const trace: string[] = [];
  let previous = -1;
  let preemptions = 0;
  let failure: string | undefined;
  for (let step = 0;; step++) {
    const enabled: number[] = [];
    for (let t = 0; t < threads.length; t++) {
      if (!done[t] && blockedOn[t] === null) enabled.push(t);
    }
    if (enabled.length === 0) {
      const stuck = threads.filter((_, t) => blockedOn[t] !== null);
      if (stuck.length > 0) {
        failure = `deadlock: ${stuck.map((t) => t.name).join(", ")} wait${
          stuck.length === 1 ? "s" : ""
        } for ever (a lost wake-up)`;
        break;
      }
      try {
        memory.thread = "end";
        world.finish();
      } catch (error) {
        failure = `final check: ${(error as Error).message}`;
      }
      break;
    }
    if (step >= MAX_STEPS) {
      failure = `no end after ${MAX_STEPS} steps (a livelock?)`;
      break;
    }
    const chosen = pick(step, enabled, previous);
    choices.push({ enabled, chosen, previous, preemptions });
    if (previous !== -1 && chosen !== previous && enabled.includes(previous)) {
      preemptions++;
    }
    schedule.push(chosen);
    const thread = threads[chosen];
    memory.thread = thread.name;
    const first = memory.events.length;
    let note = "";
    try {
      const next = thread.steps.next();
      if (next.done) {
        done[chosen] = true;
        note = " [done]";
      } else if (next.value !== undefined) {
        const { index, expected } = next.value;
        if (memory.words[index] === expected) {
          blockedOn[chosen] = index;
          queue.push(chosen);
          note = ` [sleeps while word ${index} is ${expected}]`;
        } else {
          note = ` [wait returns at once: word ${index} is not ${expected}]`;
        }
      }
    } catch (error) {
      failure = `${thread.name}: ${(error as Error).message}`;
    }
    const ops = memory.events.slice(first).map((event) => event.text).join(
      "; ",
    );
    trace.push(
      `#${step} ${thread.name}: ${ops || "(no memory operation)"}${note}`,
    );
    if (failure === undefined && world.check !== undefined) {
      try {
        const sleeping = new Map<string, number>();
        threads.forEach((thread, t) => {
          if (blockedOn[t] !== null) sleeping.set(thread.name, blockedOn[t]!);
        });
        world.check(sleeping);
      } catch (error) {
        failure = `after the step: ${(error as Error).message}`;
      }
    }
    if (failure !== undefined) break;
    previous = chosen;
  }
  return { schedule, choices, failure, trace };
}

/** Runs one schedule again (for a failure report to be reproduced). */
export function replay(scenario: Scenario, schedule: number[]): Run {
  return execute(
    scenario,
    (step, enabled, previous) =>
      step < schedule.length ? schedule[step] : keepGoing(enabled, previous),
  );
}

function keepGoing(enabled: number[], previous: number): number {
  return enabled.includes(previous) ? previous : enabled[0];
}

/** What an exploration found. */
export interface Exploration {
  readonly scenario: string;
  readonly schedules: number;
  readonly failure?: Run;
}

/**
 * Every schedule with at most `preemptions` preemptions, until the first
 * failure or `limit` schedules.
 */
export function exhaustive(
  scenario: Scenario,
  preemptions: number,
  limit = 200_000,
): Exploration {
  const pending: number[][] = [[]];
  let schedules = 0;
  while (pending.length > 0 && schedules < limit) {
    const prefix = pending.pop()!;
    const run = execute(
      scenario,
      (step, enabled, previous) =>
        step < prefix.length ? prefix[step] : keepGoing(enabled, previous),
    );
    schedules++;
    if (run.failure !== undefined) {
      return { scenario: scenario.name, schedules, failure: run };
    }
    for (let i = run.choices.length - 1; i >= prefix.length; i--) {
      const choice = run.choices[i];
      for (const alternative of choice.enabled) {
        if (alternative === choice.chosen) continue;
        const preempts = choice.previous !== -1 &&
          alternative !== choice.previous &&
          choice.enabled.includes(choice.previous);
        if (choice.preemptions + (preempts ? 1 : 0) > preemptions) continue;
        pending.push([...run.schedule.slice(0, i), alternative]);
      }
    }
  }
  if (pending.length > 0) {
    throw new Error(
      `${scenario.name}: more than ${limit} schedules; lower the bound`,
    );
  }
  return { scenario: scenario.name, schedules };
}

/** A small seeded generator (mulberry32), so random schedules replay. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `runs` PCT schedules: each thread gets a random priority, the highest
 * enabled one runs, and at `depth` random steps the running thread drops
 * below all others.
 */
export function randomized(
  scenario: Scenario,
  runs: number,
  seed: number,
  depth = 3,
  expectedSteps = 120,
): Exploration {
  for (let r = 0; r < runs; r++) {
    const next = random(seed + r);
    const priority: number[] = [];
    const changes = new Set<number>();
    for (let d = 0; d < depth; d++) {
      changes.add(Math.floor(next() * expectedSteps));
    }
    let lowest = 0;
    const run = execute(scenario, (step, enabled, previous) => {
      for (const t of enabled) {
        if (priority[t] === undefined) priority[t] = 1 + next();
      }
      if (changes.has(step) && previous !== -1) priority[previous] = --lowest;
      return enabled.reduce((
        best,
        t,
      ) => (priority[t] > priority[best] ? t : best));
    });
    if (run.failure !== undefined) {
      return {
        scenario: `${scenario.name} (PCT seed ${seed + r})`,
        schedules: r + 1,
        failure: run,
      };
    }
  }
  return { scenario: scenario.name, schedules: runs };
}

/** A failure as text: what broke, the schedule, and the steps. */
export function report(exploration: Exploration): string {
  const run = exploration.failure;
  if (run === undefined) return `${exploration.scenario}: no failure`;
  return [
    `${exploration.scenario}: ${run.failure}`,
    `schedule (replay with replay(scenario, schedule)): [${
      run.schedule.join(", ")
    }]`,
    ...run.trace,
  ].join("\n");
}
