/**
 * The "numbers to reach" that this harness can show, computed from
 * one run's rows (ratios only: absolute times differ between machines and
 * runs). The single-thread targets (get vs Map.get) belong to the micro
 * benchmarks in bench/map_bench.ts.
 *
 * @module
 */

import type { Options } from "./args.ts";
import type { BackendName } from "./backends/types.ts";
import type { BustleRow } from "./bustle.ts";
import type { AttachRow } from "./runs.ts";
import { center, type SingleRow } from "./single.ts";

/** One number to reach. */
export interface Target {
  name: string;
  value: number;
  /** The target, as text (for example ">= 1.8"). */
  target: string;
  met: boolean | undefined;
  detail: string;
}

function find(
  rows: SingleRow[],
  backend: BackendName,
  readers: number,
  rate: number,
  options: Options,
): SingleRow | undefined {
  const c = center(options);
  return rows.find((r) =>
    r.config.backend === backend && r.config.readers === readers &&
    r.config.rate === rate && r.config.dist === c.dist &&
    r.config.k === c.k && r.config.publishEvery === c.publishEvery
  );
}

/** Computes every target whose rows are present. */
export function targets(
  single: SingleRow[],
  attach: AttachRow[],
  bustle: BustleRow[],
  options: Options,
): Target[] {
  const out: Target[] = [];
  const almost = (threads: number) =>
    bustle.find((b) =>
      b.workload === "AlmostReadOnly" && b.backend === "flashmap" &&
      b.threads === threads
    );
  const [one, two] = [almost(1), almost(2)];
  if (one && two) {
    const value = two.readsPerSec / one.readsPerSec;
    out.push({
      name: "2 readers vs 1, writer publishing every ~2500 reads (AlmostReadOnly)",
      value,
      target: ">= 1.8",
      met: value >= 1.8,
      detail: `${(two.readsPerSec / 1e6).toFixed(2)}M vs ${
        (one.readsPerSec / 1e6).toFixed(2)
      }M reads/s`,
    });
  }
  const c = center(options);
  for (const rate of [c.rate, Infinity]) {
    const ours = find(single, "flashmap", 2, rate, options);
    if (!ours) continue;
    for (
      const [backend, goal] of [
        ["locktable", 10],
        ["sharedmap", 10],
        ["lmdb", 4],
      ] as const
    ) {
      const theirs = find(single, backend, 2, rate, options);
      if (!theirs) continue;
      const value = ours.read.readsPerSec / theirs.read.readsPerSec;
      out.push({
        name: `read throughput vs ${backend}, 2 readers + writer at ${
          rate === Infinity ? "max" : rate
        } w/s`,
        value,
        target: `>= ${goal}`,
        met: value >= goal,
        detail: `${(ours.read.readsPerSec / 1e6).toFixed(2)}M vs ${
          (theirs.read.readsPerSec / 1e6).toFixed(3)
        }M reads/s (k=${c.k}, publish every ${c.publishEvery})`,
      });
    }
  }
  const flash = attach.find((a) => a.backend === "flashmap");
  const replica = attach.find((a) => a.backend === "replica");
  if (flash && flash.sharedBytes !== undefined) {
    const perEntry = flash.sharedBytes / flash.entries;
    if (replica) {
      const workers = 4;
      const ours = flash.sharedBytes + workers * Math.max(0, flash.heapDelta);
      const theirs = workers * replica.heapDelta;
      out.push({
        name: `memory of a ${flash.entries}-entry map shared by ${workers} workers vs a Map per worker`,
        value: ours / theirs,
        target: "< 1",
        met: ours < theirs,
        detail: `${perEntry.toFixed(1)} B/entry once (+${
          (flash.heapDelta / 2 ** 20).toFixed(1)
        } MiB heap per worker) vs ${
          (replica.heapDelta / replica.entries).toFixed(1)
        } B/entry per worker: ${(ours / 2 ** 20).toFixed(1)} vs ${
          (theirs / 2 ** 20).toFixed(1)
        } MiB`,
      });
    }
    out.push({
      name: `attach() of a ${flash.entries}-entry map, in the worker`,
      value: flash.attachMs,
      target: "< 1 ms",
      met: flash.attachMs < 1,
      detail: `round trip (post token, attach, answer) ${
        flash.roundTripMs.toFixed(3)
      } ms`,
    });
    if (replica) {
      const value = replica.roundTripMs / flash.roundTripMs;
      out.push({
        name: "cloning the Map into a worker vs attaching (round trips)",
        value,
        target: ">= 100",
        met: value >= 100,
        detail: `${replica.roundTripMs.toFixed(1)} ms vs ${
          flash.roundTripMs.toFixed(3)
        } ms`,
      });
    }
  }
  return out;
}

/** The targets as text lines. */
export function targetLines(list: Target[]): string[] {
  return list.map((t) =>
    `${t.met === undefined ? "    " : t.met ? "[ok]" : "[--]"} ${t.name}: ${
      t.value.toFixed(t.value < 10 ? 2 : 1)
    } (target ${t.target}); ${t.detail}`
  );
}
