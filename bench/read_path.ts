/**
 * The read-path numbers of issue 11: lookups on 100,000 keys against
 * `Map.get` on the same keys in the same run, and the cost of megamorphism.
 *
 * ```sh
 * deno run --allow-read=. bench/read_path.ts [--rounds N] [--json FILE]
 * ```
 *
 * Options: `--rounds N` timed rounds per case (default 21), `--lookups N`
 * lookups per side per round in the int32 and reused-string cases (default
 * 2^21), `--fresh N` fresh strings per side per round (default 2^17),
 * `--capacity N` the `capacity` hint for the maps (default none), `--only
 * int32|strings|mega` one part, and `--json FILE` also writes the results as
 * JSON (`--json -` prints them; a file needs `--allow-write=FILE`).
 *
 * How it measures:
 *
 * - Every part runs in a worker of its own, so the map's inline caches see
 *   only the key kinds of that part (the main thread only orchestrates and
 *   makes the megamorphism maps). One part runs at a time: single thread.
 * - Maps: `create({ key, value: codecs.int32 })`, no `capacity` hint,
 *   filled with one write guard per 1000 inserts, published, then
 *   `synchronize()`d; key i → value i. The baseline is a `Map` with the same
 *   keys → values, read by the same kind of loop.
 * - Keys: 100,000 distinct int32s drawn at random from [0, 2^30) (V8 small
 *   integers), or 20-character flat strings (`session:` + 12 base-36
 *   digits). Lookups go in shuffled order (shuffles of all keys, one after
 *   another), every one a hit.
 * - Each round times each case and its `Map` baseline back to back (which
 *   goes first alternates) over the same lookups; two warm-up rounds are
 *   not recorded. Reported: the median ns per lookup of each side, and the
 *   median of the per-round ratios flashmap / `Map` (with its quartiles).
 *   Every round checks that both sides summed the same values; the sums go
 *   to a sink printed at the end.
 * - Guards are left with `release()`, as a hot loop would (not `using`).
 * - Fresh strings: every round parses new copies of the keys from JSON
 *   (flat strings V8 has not hashed yet), separately for the map and for
 *   `Map`, in batches of 8192 outside the timed part; each copy is looked
 *   up once, so `Map` pays for hashing every key too. (In Deno 2.9.6 that
 *   first hash is dear: on a 2-core AMD EPYC, `Map.get` of a fresh key of
 *   this 100,000-key `Map` took 600-700 ns, against 30-40 ns for a reused
 *   one.)
 * - Reused strings: the very string objects that filled both maps, looked
 *   up again and again (V8 keeps their hash), drawn from a Zipf
 *   distribution (s = 1, ranks given to keys at random) or uniformly.
 * - Megamorphism: the main thread makes an int32 → int32 map and five more
 *   with string, number, bigint, boolean and bytes keys (int32 values; a
 *   third worker reads five with mixed value codecs). Workers `attach()`
 *   to them from `read.share()` tokens, as readers in workers do. The
 *   "one map" worker reads only the int32 map; the "six kinds" workers read
 *   all six in a warm-up (guarded get and has, one-shot get; each kind
 *   through its own loop functions, so only the map's code is shared), the
 *   int32 map as the one-map worker does, and a little of the other five
 *   before every round. Each round times the int32 case, 64 per guard, against
 *   `Map.get`; the workers take their rounds in turn. Reported: the median
 *   over rounds of (six-kind ratio / one-map ratio), target <= 1.1.
 *
 * @module
 */

import {
  type CaseTimes,
  codecsFor,
  type Config,
  fill,
  type KeyKind,
  KEYS,
  keysOf,
  median,
  OTHER_KINDS,
  quantile,
  type Reply,
  type Request,
  type RoundTimes,
} from "./read_path_data.ts";
import { create, type ReadHandle, type WriteHandle } from "@x/flashmap";

// ------------------------------------------------------------ arguments

const USAGE =
  "usage: deno run --allow-read=. bench/read_path.ts [--rounds N] [--lookups N] [--fresh N] [--capacity N] [--only int32|strings|mega] [--json FILE]";

function parseArguments(args: readonly string[]): Map<string, string> {
  const options = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const match = /^--([a-z]+)(?:=(.*))?$/.exec(arg);
    if (match === null) {
      throw new TypeError(`unknown argument ${arg}\n${USAGE}`);
    }
    const [, name, inline] = match;
    const value = inline ?? args[++i];
    if (value === undefined) throw new TypeError(`--${name} needs a value`);
    options.set(name, value);
  }
  for (const name of options.keys()) {
    if (
      !["rounds", "lookups", "fresh", "capacity", "only", "json"].includes(name)
    ) {
      throw new TypeError(`unknown option --${name}\n${USAGE}`);
    }
  }
  return options;
}

function positive(
  options: Map<string, string>,
  name: string,
  fallback: number,
): number {
  const given = options.get(name);
  if (given === undefined) return fallback;
  const value = Number(given);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`--${name} needs a positive integer, got ${given}`);
  }
  return value;
}

const options = parseArguments(Deno.args);
const config: Config = {
  rounds: positive(options, "rounds", 21),
  warmUpRounds: 2,
  lookups: Math.ceil(positive(options, "lookups", 1 << 21) / 64) * 64,
  fresh: positive(options, "fresh", 1 << 17),
  capacity: options.has("capacity")
    ? positive(options, "capacity", KEYS)
    : undefined,
};
const only = options.get("only");
if (only !== undefined && !["int32", "strings", "mega"].includes(only)) {
  throw new TypeError(`--only takes int32, strings or mega, got ${only}`);
}
const jsonFile = options.get("json");

// ------------------------------------------------------------ workers

const TARGETS: Record<string, number> = {
  "int32 get, 64 per guard": 0.6,
  "int32 get, 1 per guard": 1.5,
  "one-shot read.get, int32": 1.5,
  "fresh string keys, 64 per guard": 0.8,
  "fresh string keys, 1 per guard": 1.2,
  "reused string keys, Zipf (s = 1), 64 per guard": 2.0,
  "reused string keys, uniform, 64 per guard": 4.0,
};
const MEGA_TARGET = 1.1;

let sink = 0;

/** A worker that answers one request at a time. */
class Helper {
  readonly #worker = new Worker(
    new URL("./read_path_worker.ts", import.meta.url),
    { type: "module" },
  );
  ask(request: Request): Promise<Reply> {
    return new Promise((resolve, reject) => {
      this.#worker.onmessage = (event: MessageEvent<Reply>) => {
        const reply = event.data;
        if (reply.kind === "error") reject(new Error(reply.message));
        else resolve(reply);
      };
      this.#worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
      this.#worker.postMessage(request);
    });
  }
  terminate(): void {
    this.#worker.terminate();
  }
}

/** What a case reports. */
interface CaseResult {
  readonly name: string;
  readonly target: number;
  readonly flashNs: number;
  readonly mapNs: number;
  /** The median of the per-round ratios flashmap / `Map`. */
  readonly ratio: number;
  readonly ratioP25: number;
  readonly ratioP75: number;
  readonly met: boolean;
  readonly rounds: RoundTimes[];
}

function summarize(times: CaseTimes, target: number): CaseResult {
  const ratios = times.rounds.map((r) => r.flashNs / r.mapNs);
  const ratio = median(ratios);
  return {
    name: times.name,
    target,
    flashNs: median(times.rounds.map((r) => r.flashNs)),
    mapNs: median(times.rounds.map((r) => r.mapNs)),
    ratio,
    ratioP25: quantile(ratios, 0.25),
    ratioP75: quantile(ratios, 0.75),
    met: ratio <= target,
    rounds: times.rounds,
  };
}

async function group(name: "int32" | "strings"): Promise<CaseResult[]> {
  const helper = new Helper();
  try {
    const reply = await helper.ask({ kind: "group", group: name, config });
    if (reply.kind !== "group") throw new Error(`unexpected ${reply.kind}`);
    sink += reply.sink;
    console.error(
      `  ${name}: ${reply.cases.length} cases, ${
        (reply.ms / 1000).toFixed(1)
      } s`,
    );
    return reply.cases.map((c) => summarize(c, TARGETS[c.name]));
  } finally {
    helper.terminate();
  }
}

// ------------------------------------------------------------ megamorphism

/** A map the main thread made for the megamorphism workers. */
interface Made {
  readonly kind: KeyKind;
  readonly write: WriteHandle<unknown, unknown>;
  readonly read: ReadHandle<unknown, unknown>;
}

/** Makes and fills a map of `kind` keys; `mixed` picks a value codec per kind. */
function make(kind: KeyKind, mixed: boolean): Made {
  const { key, value, valueOf } = codecsFor(kind, mixed);
  const [write, read] = create<unknown, unknown>({
    key,
    value,
    capacity: config.capacity,
  });
  fill(write, keysOf(kind), valueOf);
  return { kind, write, read };
}

/** One megamorphism worker's rounds. */
interface MegaSide {
  readonly name: string;
  readonly flashNs: number;
  readonly mapNs: number;
  readonly ratio: number;
  readonly warmUpMs: number;
  readonly rounds: RoundTimes[];
}

/** What the megamorphism part reports. */
interface MegaResult {
  readonly sides: MegaSide[];
  /** Median over rounds of (six-kind ratio / one-map ratio), per six-kind worker. */
  readonly ratios: {
    name: string;
    ratio: number;
    p25: number;
    p75: number;
    flashNsRatio: number;
    met: boolean;
  }[];
  readonly target: number;
}

async function megamorphism(): Promise<MegaResult> {
  const int32 = make("int32", false);
  const plain = OTHER_KINDS.map((kind) => make(kind, false));
  const mixed = OTHER_KINDS.map((kind) => make(kind, true));
  const share = (made: Made[]) =>
    made.map(({ kind, read }) => ({ kind, token: read.share() as unknown }));
  const workers = [
    { name: "one int32 map", others: [] as Made[] },
    { name: "six key kinds, int32 values", others: plain },
    { name: "six key kinds, mixed value codecs", others: mixed },
  ].map((w) => ({ ...w, helper: new Helper(), rounds: [] as RoundTimes[] }));
  const warmUpMs: number[] = [];
  try {
    for (const w of workers) {
      const reply = await w.helper.ask({
        kind: "mega-setup",
        config,
        int32: int32.read.share(),
        others: share(w.others),
      });
      if (reply.kind !== "ready") throw new Error(`unexpected ${reply.kind}`);
      warmUpMs.push(reply.warmUpMs);
    }
    const total = config.warmUpRounds + config.rounds;
    for (let round = 0; round < total; round++) {
      // The workers take their turns in a rotating order.
      for (let i = 0; i < workers.length; i++) {
        const w = workers[(round + i) % workers.length];
        const reply = await w.helper.ask({
          kind: "mega-round",
          mapFirst: (round + i) % 2 === 1,
        });
        if (reply.kind !== "round") throw new Error(`unexpected ${reply.kind}`);
        if (round >= config.warmUpRounds) w.rounds.push(reply.times);
      }
    }
    for (const w of workers) {
      const reply = await w.helper.ask({ kind: "close" });
      if (reply.kind === "closed") sink += reply.sink;
    }
  } finally {
    for (const w of workers) w.helper.terminate();
    for (const made of [int32, ...plain, ...mixed]) {
      made.read.close();
      made.write.close();
    }
  }
  const sides = workers.map((w, i) => ({
    name: w.name,
    flashNs: median(w.rounds.map((r) => r.flashNs)),
    mapNs: median(w.rounds.map((r) => r.mapNs)),
    ratio: median(w.rounds.map((r) => r.flashNs / r.mapNs)),
    warmUpMs: warmUpMs[i],
    rounds: w.rounds,
  }));
  const [one, ...many] = workers;
  const ratios = many.map((w) => {
    const perRound = w.rounds.map((r, i) =>
      (r.flashNs / r.mapNs) / (one.rounds[i].flashNs / one.rounds[i].mapNs)
    );
    const ratio = median(perRound);
    return {
      name: w.name,
      ratio,
      p25: quantile(perRound, 0.25),
      p75: quantile(perRound, 0.75),
      flashNsRatio: median(
        w.rounds.map((r, i) => r.flashNs / one.rounds[i].flashNs),
      ),
      met: ratio <= MEGA_TARGET,
    };
  });
  return { sides, ratios, target: MEGA_TARGET };
}

// ------------------------------------------------------------ report

const pad = (text: string | number, width: number) =>
  String(text).padStart(width);
const x = (ratio: number) => `${ratio.toFixed(2)}x`;

function printCases(cases: readonly CaseResult[]): void {
  const width = Math.max(...cases.map((c) => c.name.length), 4);
  console.log(
    `| ${
      "case".padEnd(width)
    } | flashmap ns | Map ns | ratio (median of rounds) | ratio p25-p75 | target  | met |`,
  );
  console.log(
    `| ${
      "-".repeat(width)
    } | ----------: | -----: | -----------------------: | ------------- | ------: | --- |`,
  );
  for (const c of cases) {
    console.log(
      `| ${c.name.padEnd(width)} | ${pad(c.flashNs.toFixed(1), 11)} | ${
        pad(c.mapNs.toFixed(1), 6)
      } | ${pad(x(c.ratio), 24)} | ${
        `${x(c.ratioP25)}-${x(c.ratioP75)}`.padEnd(13)
      } | ${pad(`<= ${c.target}`, 7)} | ${c.met ? "yes" : "NO "} |`,
    );
  }
}

function printMega(mega: MegaResult): void {
  const width = Math.max(...mega.sides.map((s) => s.name.length));
  console.log(
    `| ${
      "worker".padEnd(width)
    } | flashmap ns | Map ns | ratio (median of rounds) | warm-up ms |`,
  );
  console.log(
    `| ${
      "-".repeat(width)
    } | ----------: | -----: | -----------------------: | ---------: |`,
  );
  for (const s of mega.sides) {
    console.log(
      `| ${s.name.padEnd(width)} | ${pad(s.flashNs.toFixed(1), 11)} | ${
        pad(s.mapNs.toFixed(1), 6)
      } | ${pad(x(s.ratio), 24)} | ${pad(s.warmUpMs.toFixed(0), 10)} |`,
    );
  }
  console.log();
  for (const r of mega.ratios) {
    console.log(
      `megamorphism, ${r.name} / one int32 map: ${
        x(r.ratio)
      } (median of per-round ratios of ratios; p25-p75 ${x(r.p25)}-${
        x(r.p75)
      }; flashmap ns alone ${x(r.flashNsRatio)}), target <= ${mega.target}: ${
        r.met ? "met" : "NOT met"
      }`,
    );
  }
}

console.log(
  `flashmap read path: ${KEYS} keys, shuffled lookups, ratios to Map.get in the same run; ${config.rounds} rounds (+${config.warmUpRounds} warm-up), ${config.lookups} lookups per side per round (fresh strings: ${config.fresh}), capacity hint ${
    config.capacity ?? "none"
  } (${navigator.hardwareConcurrency} CPUs, Deno ${Deno.version.deno}, V8 ${Deno.version.v8})`,
);
const started = performance.now();
const cases: CaseResult[] = [];
if (only === undefined || only === "int32") cases.push(...await group("int32"));
if (only === undefined || only === "strings") {
  cases.push(...await group("strings"));
}
let mega: MegaResult | undefined;
if (only === undefined || only === "mega") {
  const start = performance.now();
  mega = await megamorphism();
  console.error(
    `  megamorphism: ${((performance.now() - start) / 1000).toFixed(1)} s`,
  );
}

console.log();
if (cases.length > 0) printCases(cases);
if (mega !== undefined) {
  if (cases.length > 0) console.log();
  printMega(mega);
}
console.log();
console.log(
  `total ${((performance.now() - started) / 1000).toFixed(1)} s; sink ${sink}`,
);

if (jsonFile !== undefined) {
  const json = JSON.stringify(
    {
      benchmark: "read_path",
      date: new Date().toISOString(),
      cpus: navigator.hardwareConcurrency,
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      keys: KEYS,
      config,
      cases,
      megamorphism: mega,
    },
    null,
    2,
  );
  if (jsonFile === "-") console.log(json);
  else Deno.writeTextFileSync(jsonFile, json + "\n");
}
