/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * A stress reader: checks S1 (one whole version per guard, every hit the
 * expected value, the checksum right) and S2 (versions never go back on a
 * handle) in every guard, while the writer publishes. Some guards are held
 * across publishes; some handles are cloned and closed as it goes. With
 * `config.longHolds`, some guards are held for long spans of publishes,
 * alongside the reader's other guards, and checked whole each time round.
 */
import {
  attach,
  type ReadGuard,
  type ReadHandle,
  type ReadToken,
} from "@x/flashmap";
import { random } from "../utils.ts";
import {
  CONTROL_STOP,
  CONTROL_TOKENS,
  CONTROL_VERSION,
  expectedValue,
  type StressConfig,
  type StressReport,
} from "./stress_config.ts";

interface Start {
  token: ReadToken<string, number>;
  control: SharedArrayBuffer;
  config: StressConfig;
  index: number;
}

function check(
  guard: ReadGuard<string, number>,
  config: StressConfig,
  problems: string[],
): number {
  const version = guard.get("version");
  if (version === undefined) {
    problems.push("no version key");
    return -1;
  }
  let sum = 0;
  for (let g = 0; g < config.groups; g++) {
    for (let k = 0; k < config.groupSize; k++) {
      const value = guard.get(`g${g}:${k}`);
      if (value !== expectedValue(version, g)) {
        problems.push(`S1: version ${version} has g${g}:${k} = ${value}`);
        return version;
      }
      sum += value;
    }
  }
  if (guard.get("checksum") !== sum) {
    problems.push(
      `S1: version ${version} has checksum ${
        guard.get("checksum")
      }, sum ${sum}`,
    );
  }
  return version;
}

/** A guard held for long: the version it reads, and when to release it. */
interface LongHold {
  guard: ReadGuard<string, number>;
  version: number;
  /** Released once the writer has published this version. */
  until: number;
}

/** Takes one long-hold token if any is left (a bounded number of tries). */
function takeToken(control: Int32Array): boolean {
  let left = Atomics.load(control, CONTROL_TOKENS);
  for (let tries = 0; tries < 16 && left > 0; tries++) {
    const seen = Atomics.compareExchange(
      control,
      CONTROL_TOKENS,
      left,
      left - 1,
    );
    if (seen === left) return true;
    left = seen;
  }
  return false;
}

/**
 * Checks every guard held for long, and releases (returning its token)
 * each one the writer has published far enough past, or all with `all`.
 */
function serviceLongHolds(
  holds: LongHold[],
  control: Int32Array,
  config: StressConfig,
  report: StressReport,
  all: boolean,
): void {
  for (let i = holds.length - 1; i >= 0; i--) {
    const hold = holds[i];
    if (check(hold.guard, config, report.problems) !== hold.version) {
      report.problems.push(
        `S1: a guard held for long moved from version ${hold.version}`,
      );
    }
    report.longChecks++;
    const published = Atomics.load(control, CONTROL_VERSION);
    if (all || published >= hold.until) {
      report.longestSpan = Math.max(
        report.longestSpan,
        published - hold.version,
      );
      hold.guard.release();
      holds.splice(i, 1);
      Atomics.add(control, CONTROL_TOKENS, 1);
    }
  }
}

self.onmessage = (event: MessageEvent<Start>) => {
  const { token, control, config, index } = event.data;
  const stop = new Int32Array(control);
  const long = config.longHolds;
  const holds: LongHold[] = [];
  const next = random(config.seed * 7919 + index);
  const problems: string[] = [];
  const report: StressReport = {
    guards: 0,
    held: 0,
    churned: 0,
    versions: 0,
    longHeld: 0,
    longestSpan: 0,
    longChecks: 0,
    problems,
  };
  const read: ReadHandle<string, number> = attach(token);
  self.postMessage("started");
  const deadline = performance.now() + config.seconds * 1000 + 5000;
  let last = -1;
  const seen = new Set<number>();
  try {
    while (
      Atomics.load(stop, CONTROL_STOP) === 0 &&
      report.guards < config.maxGuardsPerReader &&
      performance.now() < deadline && problems.length === 0
    ) {
      if (long !== undefined) {
        serviceLongHolds(holds, stop, config, report, false);
        if (next() < long.share && takeToken(stop)) {
          const guard = read.guard();
          const version = check(guard, config, problems);
          if (version < last) {
            problems.push(`S2: version ${version} after ${last}`);
          }
          last = version;
          seen.add(version);
          holds.push({
            guard,
            version,
            until: version + 1 + Math.floor(next() * long.maxSpan),
          });
          report.longHeld++;
          report.guards++;
        }
      }
      const roll = next();
      if (roll < config.churnShare) {
        // Churn: a fresh handle's first guard must not go back either.
        using clone = read.clone();
        using guard = clone.guard();
        const version = check(guard, config, problems);
        if (version < last) {
          problems.push(`S2: a new handle saw ${version} after ${last}`);
        }
        report.churned++;
        report.guards++;
        continue;
      }
      using guard = read.guard();
      const version = check(guard, config, problems);
      if (version < last) problems.push(`S2: version ${version} after ${last}`);
      last = version;
      seen.add(version);
      report.guards++;
      if (roll > 1 - config.holdShare) {
        // Hold the guard across publishes, checking it again and again.
        report.held++;
        const until = performance.now() + config.holdMs;
        while (performance.now() < until && problems.length === 0) {
          if (check(guard, config, problems) !== version) {
            problems.push(`S1: a held guard moved from version ${version}`);
          }
        }
      }
    }
    serviceLongHolds(holds, stop, config, report, true);
  } catch (error) {
    problems.push(`error: ${error}`);
  } finally {
    // After an error: release what is still held, so that the handle closes.
    for (const hold of holds.splice(0)) {
      hold.guard.release();
      Atomics.add(stop, CONTROL_TOKENS, 1);
    }
  }
  report.versions = seen.size;
  read.close();
  self.postMessage(report);
};

self.postMessage("ready");
