/**
 * How long a batch takes from `kvWrite` to a worker: the time from the
 * moment `kvWrite` resolves (the commit is durable) to the moment a read
 * guard opened by a worker of the mirror's process first shows it.
 *
 * `deno run --unstable-kv -A bench/kv_latency.ts [--samples N] [--json]`
 *
 * Three paths, on a SQLite KV file in a temporary directory:
 *
 * - **watch, in-process**: the writer is this process, so `kv.watch` of the
 *   sequence key wakes the mirror (polling is off: `pollMs` one hour);
 * - **poll, other process**: the writer is a child process, whose commits a
 *   watch here never sees (denoland/deno#21640), so the mirror finds them
 *   by reading the sequence key every `pollMs` (the default, 100 ms, and
 *   10 ms).
 *
 * The worker waits with `read.changed()` and stamps each batch number it
 * sees into shared memory; both sides stamp with
 * `performance.timeOrigin + performance.now()`, which agree across the
 * threads and processes of one machine to well under a millisecond. The
 * writer leaves a random gap between batches so that commits fall at every
 * phase of the poll.
 *
 * @module
 */

import { codecs } from "@x/flashmap";
// Imported by path: bench/deno.json (used by `deno task check`) maps only
// "@x/flashmap".
import { kvWrite, mirrorKv } from "../kv.ts";

const PREFIX = ["bench"];
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

if (Deno.args[0] === "--writer") {
  // The child: write batches 1..count, print each commit time.
  const [, path, countArg, gapArg] = Deno.args;
  const kv = await Deno.openKv(path);
  const lines: string[] = [];
  for (let n = 1; n <= Number(countArg); n++) {
    await sleep(Math.random() * Number(gapArg));
    await kvWrite(kv, PREFIX, (batch) => batch.set("n", n), {
      value: codecs.int32,
    });
    lines.push(`${n} ${now()}`);
  }
  kv.close();
  console.log(lines.join("\n"));
  Deno.exit(0);
}

/** The worker: stamps `seen[n]` when a fresh guard first shows batch `n`. */
const WORKER = `
import { attach } from ${
  JSON.stringify(new URL("../mod.ts", import.meta.url).href)
};
self.onmessage = async (event) => {
  const { token, seen } = event.data;
  const read = attach(token);
  const stamps = new Float64Array(seen);
  let version = -1;
  let last = 0;
  self.postMessage("ready");
  for (;;) {
    const view = read.guard();
    const t = performance.timeOrigin + performance.now();
    const n = view.get("n") ?? 0;
    version = view.version;
    view.release();
    for (let i = last + 1; i <= n && i < stamps.length; i++) stamps[i] = t;
    last = Math.max(last, n);
    await read.changed(version);
  }
};
`;

interface Row {
  path: string;
  pollMs: number | string;
  samples: number;
  medianMs: number;
  p99Ms: number;
  maxMs: number;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function row(path: string, pollMs: number | string, latencies: number[]): Row {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    path,
    pollMs,
    samples: sorted.length,
    medianMs: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
    maxMs: sorted[sorted.length - 1],
  };
}

/** A mirror of a fresh store, with a worker stamping what it sees. */
async function withMirror<T>(
  path: string,
  samples: number,
  options: { pollMs: number; watch: boolean },
  run: (kv: Deno.Kv, seen: Float64Array) => Promise<T>,
): Promise<T> {
  const kv = await Deno.openKv(path);
  const mirror = await mirrorKv(kv, PREFIX, {
    value: codecs.int32,
    rescanMs: 0,
    ...options,
  });
  const seen = new Float64Array(
    new SharedArrayBuffer(8 * (samples + 1)),
  );
  const url = URL.createObjectURL(
    new Blob([WORKER], { type: "application/javascript" }),
  );
  const worker = new Worker(url, { type: "module" });
  try {
    await new Promise((resolve) => {
      worker.onmessage = resolve;
      worker.postMessage({ token: mirror.read.share(), seen: seen.buffer });
    });
    return await run(kv, seen);
  } finally {
    worker.terminate();
    URL.revokeObjectURL(url);
    await mirror.close();
    kv.close();
  }
}

/** Waits (bounded) until the worker has stamped batch `n`. */
async function seenBy(seen: Float64Array, n: number): Promise<void> {
  for (let i = 0; i < 20_000 && seen[n] === 0; i++) await sleep(0.5);
  if (seen[n] === 0) throw new Error(`The worker never saw batch ${n}`);
}

async function inProcess(dir: string, samples: number) {
  const commits: number[] = [];
  const latencies = await withMirror(
    `${dir}/watch.sqlite`,
    samples,
    { pollMs: 3_600_000, watch: true },
    async (kv, seen) => {
      const latencies: number[] = [];
      for (let n = 1; n <= samples; n++) {
        await sleep(Math.random() * 5);
        const before = now();
        await kvWrite(kv, PREFIX, (batch) => batch.set("n", n), {
          value: codecs.int32,
        });
        const committed = now();
        commits.push(committed - before);
        await seenBy(seen, n);
        latencies.push(Math.max(0, seen[n] - committed));
      }
      return latencies;
    },
  );
  return { latencies, commits };
}

async function otherProcess(dir: string, samples: number, pollMs: number) {
  const path = `${dir}/poll${pollMs}.sqlite`;
  return await withMirror(
    path,
    samples,
    { pollMs, watch: true },
    async (_kv, seen) => {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--unstable-kv",
          `--allow-read=${dir}`,
          `--allow-write=${dir}`,
          import.meta.url,
          "--writer",
          path,
          String(samples),
          String(Math.max(20, pollMs / 2)),
        ],
        stdout: "piped",
        stderr: "inherit",
      }).output();
      const output = await child;
      if (!output.success) throw new Error("The writer process failed");
      await seenBy(seen, samples);
      const latencies: number[] = [];
      for (const line of new TextDecoder().decode(output.stdout).split("\n")) {
        const [n, committed] = line.split(" ").map(Number);
        if (n > 0) latencies.push(Math.max(0, seen[n] - committed));
      }
      return latencies;
    },
  );
}

const samplesAt = Deno.args.indexOf("--samples");
const samples = samplesAt >= 0 ? Number(Deno.args[samplesAt + 1]) : 300;
const json = Deno.args.includes("--json");
const dir = await Deno.makeTempDir({ prefix: "flashmap_kv_bench_" });
try {
  const rows: Row[] = [];
  const watch = await inProcess(dir, samples);
  rows.push(row("watch, in-process", "off", watch.latencies));
  for (const pollMs of [100, 10]) {
    rows.push(
      row(
        "poll, other process",
        pollMs,
        await otherProcess(dir, samples, pollMs),
      ),
    );
  }
  const commit = row("kvWrite itself (commit)", "-", watch.commits);
  if (json) {
    console.log(JSON.stringify({ rows, commit }, null, 2));
  } else {
    const fmt = (ms: number) => ms.toFixed(2).padStart(9);
    console.log(
      `commit to a worker's new guard, ${samples} batches per path (Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs)\n`,
    );
    console.log(
      "| path                     | pollMs | samples | median ms |    p99 ms |    max ms |",
    );
    console.log(
      "| ------------------------ | -----: | ------: | --------: | --------: | --------: |",
    );
    for (const r of [...rows, commit]) {
      console.log(
        `| ${r.path.padEnd(24)} | ${String(r.pollMs).padStart(6)} | ${
          String(r.samples).padStart(7)
        } | ${fmt(r.medianMs)} | ${fmt(r.p99Ms)} | ${fmt(r.maxMs)} |`,
      );
    }
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
