/**
 * The single-writer mode and its baselines: which configurations to run,
 * and running them backend by backend (one session and one worker pool per
 * backend, reused by all its configurations).
 *
 * @module
 */

import type { Options } from "./args.ts";
import type { BackendName, Session } from "./backends/types.ts";
import { createControl } from "./control.ts";
import { type Dataset, type Distribution, Rng } from "./data.ts";
import { Pool } from "./pool.ts";
import {
  type AttachRow,
  closeReaders,
  initReaders,
  type ReadSummary,
  runWithReaders,
  summarizeReads,
} from "./runs.ts";
import { openSession, sessionOf } from "./sessions.ts";
import {
  runWriter,
  type WriterResult,
  type WriterState,
} from "./writer_loop.ts";

/** One configuration of the single-writer workload. */
export interface SingleConfig {
  backend: BackendName;
  readers: number;
  dist: Distribution;
  k: number;
  /** Writes per second: 0 none, Infinity unthrottled. */
  rate: number;
  publishEvery: number;
  /** Which sweeps this configuration belongs to (for the report and charts). */
  sweeps: string[];
}

/** One measured configuration. */
export interface SingleRow {
  config: SingleConfig;
  oversubscribed: boolean;
  read: ReadSummary;
  writer: WriterResult;
}

function pick<T>(values: T[], preferred: T): T {
  return values.includes(preferred) ? preferred : values[0];
}

/** The center of the sweeps: uniform, 16 per guard, 10k writes/s, publish every 64. */
export function center(options: Options) {
  return {
    dist: pick(options.dists, "uniform"),
    k: pick(options.ks, 16),
    rate: pick(options.rates, 10_000),
    publishEvery: pick(options.publishEvery, 64),
  };
}

/** Reader counts that fit the cores (1 and 2 here), for the secondary sweeps. */
function fewReaders(options: Options): number[] {
  const few = options.readers.filter((r) => r <= 2);
  return few.length > 0 ? few : [options.readers[0]];
}

/**
 * The configurations of the requested modes, without duplicates. By
 * default each list is swept with the others at the center (the full grid
 * of 288 would take ten minutes per backend); `--grid` runs every
 * combination for flashmap.
 */
export function planSingle(options: Options): SingleConfig[] {
  const plan = new Map<string, SingleConfig>();
  const add = (
    backend: BackendName,
    readers: number,
    dist: Distribution,
    k: number,
    rate: number,
    publishEvery: number,
    sweep: string,
  ) => {
    const key = JSON.stringify([backend, readers, dist, k, rate, publishEvery]);
    const found = plan.get(key);
    if (found !== undefined) {
      if (!found.sweeps.includes(sweep)) found.sweeps.push(sweep);
      return;
    }
    plan.set(key, {
      backend,
      readers,
      dist,
      k,
      rate,
      publishEvery,
      sweeps: [sweep],
    });
  };
  const c = center(options);
  const few = fewReaders(options);
  const fastest = options.rates.includes(Infinity) ? Infinity : c.rate;
  if (options.modes.includes("single")) {
    if (options.grid) {
      for (const r of options.readers) {
        for (const d of options.dists) {
          for (const k of options.ks) {
            for (const rate of options.rates) {
              for (const n of options.publishEvery) {
                add("flashmap", r, d, k, rate, n, "grid");
              }
            }
          }
        }
      }
    }
    for (const d of options.dists) {
      for (const r of options.readers) {
        add("flashmap", r, d, c.k, c.rate, c.publishEvery, "readers");
      }
    }
    for (const r of few) {
      for (const k of options.ks) {
        add("flashmap", r, c.dist, k, c.rate, c.publishEvery, "k");
      }
      for (const rate of options.rates) {
        add("flashmap", r, c.dist, c.k, rate, c.publishEvery, "rate");
      }
      for (const n of options.publishEvery) {
        add("flashmap", r, c.dist, c.k, fastest, n, "publishEvery");
      }
    }
  }
  if (options.modes.includes("baselines")) {
    const backends: BackendName[] = [
      "flashmap",
      ...options.baselines.filter((b) => b !== "map"),
    ];
    for (const backend of backends) {
      for (const r of options.readers) {
        add(backend, r, c.dist, c.k, c.rate, c.publishEvery, "baselines");
      }
      for (const r of few) {
        add(backend, r, c.dist, c.k, Infinity, c.publishEvery, "unthrottled");
        // One lookup per guard: the lock (or guard) is no longer amortized.
        if (options.ks.includes(1) && c.k !== 1) {
          add(backend, r, c.dist, 1, c.rate, c.publishEvery, "baselines-k1");
        }
      }
    }
    if (options.baselines.includes("map")) {
      for (const d of options.dists) {
        add("map", 1, d, c.k, 0, c.publishEvery, "ceiling");
        add("flashmap", 1, d, c.k, 0, c.publishEvery, "ceiling");
      }
    }
  }
  return [...plan.values()];
}

/** A failure of one backend, reported instead of its rows. */
export interface BackendError {
  backend: BackendName;
  error: string;
}

/** Runs the plan, grouped by session. */
export async function runSingle(
  plan: SingleConfig[],
  options: Options,
  data: Dataset,
  log: (line: string) => void,
): Promise<{ rows: SingleRow[]; attach: AttachRow[]; errors: BackendError[] }> {
  const rows: SingleRow[] = [];
  const attach: AttachRow[] = [];
  const errors: BackendError[] = [];
  const groups = new Map<BackendName, SingleConfig[]>();
  for (const config of plan) {
    const name = sessionOf(config.backend);
    groups.set(name, [...groups.get(name) ?? [], config]);
  }
  const cores = navigator.hardwareConcurrency;
  const ctl = createControl();
  for (const [name, configs] of groups) {
    const pool = new Pool();
    let session: Session | undefined;
    try {
      await pool.grow(Math.max(...configs.map((c) => c.readers)));
      const t0 = performance.now();
      session = await openSession(name, {
        data,
        ctl,
        workers: () => pool.workers,
      });
      log(
        `${name}: prefilled ${data.live} keys in ${
          (performance.now() - t0).toFixed(0)
        } ms`,
      );
      attach.push(await initReaders(pool, session, name, data, ctl));
      const state: WriterState = { version: 0, rng: new Rng(options.seed + 7) };
      for (const config of configs) {
        const [writer, results] = await runWithReaders(
          pool,
          ctl,
          state.version,
          {
            readers: config.readers,
            dist: config.dist,
            k: config.k,
            maxGuards: Math.ceil(options.maxOps / config.k),
            ms: options.ms,
          },
          () =>
            runWriter(
              session!.writer,
              ctl,
              {
                rate: config.rate,
                publishEvery: config.publishEvery,
                ms: options.ms,
                maxWrites: options.maxOps,
              },
              data.keys,
              data.live,
              state,
            ),
        );
        const row: SingleRow = {
          config,
          oversubscribed: config.readers > cores,
          read: summarizeReads(results),
          writer,
        };
        rows.push(row);
        log(describe(row));
        await settle(pool, session);
      }
      await closeReaders(pool);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      errors.push({ backend: name, error: message });
      log(`${name}: FAILED: ${message}`);
    } finally {
      pool.terminate();
      try {
        await session?.close();
      } catch (error) {
        log(`${name}: close failed: ${error}`);
      }
    }
  }
  return { rows, attach, errors };
}

/**
 * Waits until every worker has handled what the writer posted (replicas
 * and the RPC server fall behind an unthrottled writer), so that a backlog
 * does not slow down the next run.
 */
async function settle(pool: Pool, session: Session): Promise<void> {
  await Promise.all(
    pool.workers.map((_, i) => pool.request(i, { type: "mem" })),
  );
  await session.settle?.();
}

function describe(row: SingleRow): string {
  const c = row.config;
  const rate = c.rate === Infinity ? "max" : String(c.rate);
  return `  ${c.backend} R=${c.readers} ${c.dist} k=${c.k} rate=${rate} N=${c.publishEvery}: ${
    (row.read.readsPerSec / 1e6).toFixed(2)
  } M reads/s`;
}
