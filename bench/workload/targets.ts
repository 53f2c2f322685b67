/**
 * The issue's "numbers to reach" that this harness can show, computed from
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
  k: number,
  options: Options,
): SingleRow | undefined {
  const c = center(options);
  return rows.find((r) =>
    r.config.backend === backend && r.config.readers === readers &&
    r.config.rate === rate && r.config.dist === c.dist &&
    r.config.k === k && r.config.publishEvery === c.publishEvery
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
  const cores = navigator.hardwareConcurrency;
  // 2 readers vs 1, and the most readers that fit the cores (on a 16-core
  // machine the issue asks for at least 12x at 16).
  const fitting = options.readers.filter((r) => r <= cores);
  const counts = [...new Set([2, Math.max(1, ...fitting)])].filter((r) =>
    r > 1
  );
  const goalFor = (r: number) => r === 2 ? 1.8 : 0.75 * r;
  const one = almost(1);
  for (const r of counts) {
    const many = almost(r);
    if (!one || !many) continue;
    const value = many.readsPerSec / one.readsPerSec;
    out.push({
      name:
        `${r} readers vs 1, writer publishing every ~2500 reads (AlmostReadOnly)`,
      value,
      target: `>= ${goalFor(r)}`,
      met: value >= goalFor(r),
      detail: `${(many.readsPerSec / 1e6).toFixed(2)}M vs ${
        (one.readsPerSec / 1e6).toFixed(2)
      }M reads/s`,
    });
  }
  const c = center(options);
  const alone = find(single, "flashmap", 1, c.rate, c.k, options);
  for (const r of counts) {
    const many = find(single, "flashmap", r, c.rate, c.k, options);
    if (!alone || !many) continue;
    const value = many.read.readsPerSec / alone.read.readsPerSec;
    out.push({
      name:
        `${r} readers vs 1, k=${c.k}, writer ${c.rate} w/s publishing every ${c.publishEvery}`,
      value,
      target: `>= ${goalFor(r)}`,
      met: value >= goalFor(r),
      detail: `${(many.read.readsPerSec / 1e6).toFixed(2)}M vs ${
        (alone.read.readsPerSec / 1e6).toFixed(2)
      }M reads/s`,
    });
  }
  const cases: [number, number][] = [[c.rate, c.k], [Infinity, c.k], [
    c.rate,
    1,
  ]];
  for (const [rate, k] of cases) {
    const ours = find(single, "flashmap", 2, rate, k, options);
    if (!ours) continue;
    for (
      const [backend, goal] of [
        ["locktable", 10],
        ["sharedmap", 10],
        ["lmdb", 4],
      ] as const
    ) {
      const theirs = find(single, backend, 2, rate, k, options);
      if (!theirs) continue;
      const value = ours.read.readsPerSec / theirs.read.readsPerSec;
      out.push({
        name: `reads vs ${backend}, 2 readers, k=${k}, writer ${
          rate === Infinity ? "unthrottled" : `${rate} w/s`
        }`,
        value,
        target: `>= ${goal}`,
        met: value >= goal,
        detail: `${(ours.read.readsPerSec / 1e6).toFixed(2)}M vs ${
          (theirs.read.readsPerSec / 1e6).toFixed(3)
        }M reads/s (publish every ${c.publishEvery})`,
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
        name:
          `memory of a ${flash.entries}-entry map shared by ${workers} workers vs a Map per worker`,
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
