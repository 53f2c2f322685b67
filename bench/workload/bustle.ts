/**
 * The bustle / conc-map-bench workloads, scaled to this machine (capacity
 * 2^20, prefill 75%). flashmap has one writer, so the mix is split: reader
 * workers do the reads, paced against the main thread, which does the
 * inserts, removes and updates, publishing after every write (bustle checks
 * that each thread reads its own writes, which needs exactly that). "inline"
 * runs the whole mix on one thread, as bustle does with one thread.
 *
 * Keys: a shuffled universe of `capacity` keys; the live ones are a sliding
 * window of it (inserts take the next key, removes the oldest); reads pick
 * uniformly from the whole universe, so about 25% miss.
 *
 * @module
 */

import type { Options, WorkloadName } from "./args.ts";
import { flashmapReader } from "./backends/flashmap.ts";
import { lockTableReader } from "./backends/locktable.ts";
import { prefilledMap, replicaReader } from "./backends/replica.ts";
import type {
  BackendName,
  ReaderBackend,
  Session,
  WriterBackend,
} from "./backends/types.ts";
import { createControl, progressWord, sleep, STOP, WRITES } from "./control.ts";
import {
  type Dataset,
  Rng,
  sampleKeys,
  uniformStream,
  valueOf,
} from "./data.ts";
import { Pool } from "./pool.ts";
import {
  closeReaders,
  initReaders,
  type ReadSummary,
  runWithReaders,
  summarizeReads,
} from "./runs.ts";
import { openSession } from "./sessions.ts";
import type { BackendError } from "./single.ts";

/** Percentages of the mix (bustle's definitions; AlmostReadOnly reconstructed). */
const MIXES: Record<
  WorkloadName,
  { read: number; insert: number; remove: number; update: number }
> = {
  ReadHeavy: { read: 98, insert: 1, remove: 1, update: 0 },
  AlmostReadOnly: { read: 4998, insert: 1, remove: 1, update: 0 },
  Exchange: { read: 10, insert: 40, remove: 40, update: 10 },
};

const PREFILL = 0.75;
const INSERT = 0;
const REMOVE = 1;
const UPDATE = 2;

/** One measured bustle run. */
export interface BustleRow {
  workload: WorkloadName;
  backend: BackendName;
  /** Reader workers, or 0 for the inline (one thread) run. */
  threads: number;
  oversubscribed: boolean;
  ops: number;
  reads: number;
  writes: number;
  opsPerSec: number;
  readsPerSec: number;
  hitRate: number;
  bad: number;
  /** The share of reads actually done (pacing keeps it near the mix). */
  readShare: number;
  wallMs: number;
  read?: ReadSummary;
}

/** The sliding window of live keys, carried across the runs of a session. */
class Window {
  oldest = 0;
  next: number;
  readonly #rng: Rng;
  readonly #cycle: number[];
  #at = 0;
  constructor(
    readonly keys: Int32Array,
    live: number,
    mix: (typeof MIXES)[WorkloadName],
    seed: number,
  ) {
    this.next = live;
    this.#rng = new Rng(seed);
    // The write ops in a shuffled cycle, in the mix's proportions.
    const cycle = [
      ...Array(mix.insert).fill(INSERT),
      ...Array(mix.remove).fill(REMOVE),
      ...Array(mix.update).fill(UPDATE),
    ];
    for (let i = cycle.length - 1; i > 0; i--) {
      const j = this.#rng.below(i + 1);
      [cycle[i], cycle[j]] = [cycle[j], cycle[i]];
    }
    this.#cycle = cycle;
  }

  /** One write, published on its own. */
  write(writer: WriterBackend): void {
    const n = this.keys.length;
    const op = this.#cycle[this.#at++ % this.#cycle.length];
    writer.begin();
    if (op === INSERT && this.next - this.oldest < n) {
      const key = this.keys[this.next++ % n];
      writer.insert(key, valueOf(key));
    } else if (op === REMOVE && this.next > this.oldest) {
      writer.remove(this.keys[this.oldest++ % n]);
    } else {
      const span = Math.max(1, this.next - this.oldest);
      const key = this.keys[(this.oldest + this.#rng.below(span)) % n];
      writer.insert(key, valueOf(key));
    }
    writer.publish(-1);
  }
}

function bustleDataset(capacity: number, seed: number): Dataset {
  const stream = uniformStream(capacity, seed + 11);
  return {
    keys: sampleKeys(capacity, 20, seed + 10),
    live: Math.floor(capacity * PREFILL),
    streams: { uniform: stream, zipf: stream },
  };
}

/** A backend of the inline run: a reader and a writer on this thread. */
interface Inline {
  reader: ReaderBackend;
  writer: WriterBackend;
}

function inlineMap(data: Dataset, ctl: Int32Array): Inline {
  const map = prefilledMap(data.keys, data.live);
  const reader = replicaReader({ ...data, ctl, payload: map });
  const writer: WriterBackend = {
    waitMs: 0,
    begin() {},
    insert: (key, value) => void map.set(key, value),
    remove: (key) => void map.delete(key),
    publish() {},
  };
  return { reader, writer };
}

async function inlineOf(
  session: Session,
  data: Dataset,
  ctl: Int32Array,
): Promise<Inline> {
  const { payload } = await session.readerInit(0);
  const context = { ...data, ctl, payload };
  const reader = session.name === "flashmap"
    ? flashmapReader(context)
    : lockTableReader(context);
  return { reader, writer: session.writer };
}

/** Runs the whole mix on this thread; a read is one batch of one lookup. */
function runInline(
  inline: Inline,
  window: Window,
  mix: (typeof MIXES)[WorkloadName],
  ops: number,
  ms: number,
) {
  const total = mix.read + mix.insert + mix.remove + mix.update;
  const { reader } = inline;
  const mask = reader.stream.length - 1;
  let reads = 0;
  let writes = 0;
  let hits = 0;
  let pos = 0;
  const start = performance.now();
  const end = start + ms;
  for (let i = 0; i < ops; i++) {
    if ((i & 1023) === 0 && performance.now() > end) break;
    if (i % total < mix.read) {
      hits += reader.batch(pos, 1, false) as number;
      pos = (pos + 1) & mask;
      reads++;
    } else {
      window.write(inline.writer);
      writes++;
    }
  }
  return { reads, writes, hits, wallMs: performance.now() - start };
}

/** The paced writer of a run with reader workers. */
function runPacedWriter(
  writer: WriterBackend,
  window: Window,
  ctl: Int32Array,
  readers: number,
  readsPerWrite: number,
  ops: number,
  ms: number,
) {
  const start = performance.now();
  const end = start + ms;
  let writes = 0;
  for (;;) {
    let reads = 0;
    for (let i = 0; i < readers; i++) {
      reads += Atomics.load(ctl, progressWord(i));
    }
    if (reads + writes >= ops || performance.now() >= end) break;
    if (writes < reads / readsPerWrite + LEAD_WRITES) {
      window.write(writer);
      Atomics.store(ctl, WRITES, ++writes);
    } else {
      sleep(ctl, 0.02);
    }
  }
  Atomics.store(ctl, STOP, 1);
  return { writes, wallMs: performance.now() - start };
}

/** Writes the writer may run ahead of the readers' share (and they of it). */
const LEAD_WRITES = 64;

/** Runs the bustle workloads for flashmap, the lock table and (inline) Map. */
export async function runBustle(
  options: Options,
  log: (line: string) => void,
): Promise<{ rows: BustleRow[]; errors: BackendError[] }> {
  const rows: BustleRow[] = [];
  const errors: BackendError[] = [];
  const cores = navigator.hardwareConcurrency;
  const ctl = createControl();
  const ops = Math.max(
    1,
    Math.round(options.capacity * options.opsPerCapacity),
  );
  const data = bustleDataset(options.capacity, options.seed);
  for (const workload of options.workloads) {
    const mix = MIXES[workload];
    const writeShare = mix.insert + mix.remove + mix.update;
    const readsPerWrite = mix.read / writeShare;
    const row = (
      backend: BackendName,
      threads: number,
      reads: number,
      writes: number,
      hits: number,
      bad: number,
      wallMs: number,
      read?: ReadSummary,
    ): BustleRow => ({
      workload,
      backend,
      threads,
      oversubscribed: threads > cores,
      ops: reads + writes,
      reads,
      writes,
      opsPerSec: (reads + writes) / (wallMs / 1000),
      readsPerSec: reads / (wallMs / 1000),
      hitRate: hits / reads,
      bad,
      readShare: reads / (reads + writes),
      wallMs,
      read,
    });
    {
      const inline = inlineMap(data, ctl);
      const window = new Window(data.keys, data.live, mix, options.seed);
      const r = runInline(inline, window, mix, ops, options.ms);
      rows.push(
        row("map", 0, r.reads, r.writes, r.hits, inline.reader.bad, r.wallMs),
      );
      log(
        `  ${workload} map inline: ${
          (rows.at(-1)!.opsPerSec / 1e6).toFixed(2)
        } M ops/s`,
      );
    }
    for (const backend of ["flashmap", "locktable"] as const) {
      const pool = new Pool();
      let session: Session | undefined;
      try {
        await pool.grow(Math.max(...options.readers));
        session = await openSession(backend, {
          data,
          ctl,
          workers: () => pool.workers,
        });
        const window = new Window(data.keys, data.live, mix, options.seed);
        const inline = await inlineOf(session, data, ctl);
        const r = runInline(inline, window, mix, ops, options.ms);
        rows.push(
          row(
            backend,
            0,
            r.reads,
            r.writes,
            r.hits,
            inline.reader.bad,
            r.wallMs,
          ),
        );
        await inline.reader.close();
        log(
          `  ${workload} ${backend} inline: ${
            (rows.at(-1)!.opsPerSec / 1e6).toFixed(2)
          } M ops/s`,
        );
        await initReaders(pool, session, backend, data, ctl);
        for (const threads of options.readers) {
          const [w, results] = await runWithReaders(pool, ctl, 0, {
            readers: threads,
            dist: "uniform",
            k: 1,
            maxGuards: ops,
            ms: options.ms,
            pace: { readsPerWrite, threads, leadWrites: LEAD_WRITES },
          }, () =>
            runPacedWriter(
              session!.writer,
              window,
              ctl,
              threads,
              readsPerWrite,
              ops,
              options.ms,
            ));
          const read = summarizeReads(results);
          const wallMs = Math.max(w.wallMs, read.wallMs);
          rows.push(row(
            backend,
            threads,
            read.reads,
            w.writes,
            Math.round(read.hitRate * read.reads),
            read.bad,
            wallMs,
            read,
          ));
          log(
            `  ${workload} ${backend} T=${threads}: ${
              (rows.at(-1)!.opsPerSec / 1e6).toFixed(2)
            } M ops/s`,
          );
        }
        await closeReaders(pool);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        errors.push({ backend, error: `${workload}: ${message}` });
        log(`  ${workload} ${backend}: FAILED: ${message}`);
      } finally {
        pool.terminate();
        await session?.close();
      }
    }
  }
  return { rows, errors };
}
