/**
 * `@x/flashmap/kv` against real Deno KV: writer processes on one SQLite
 * file, a mirror and reader workers in this process, a writer killed in
 * its loop, resyncs, the watch path, key mappings, refusals and failures.
 *
 * Needs `--unstable-kv --allow-read --allow-write --allow-run --allow-env`
 * (`deno task test:scale`).
 */
import {
  assert,
  assertEquals,
  assertGreaterOrEqual,
  assertInstanceOf,
  assertRejects,
  assertThrows,
} from "@std/assert";
import {
  type Codec,
  codecs,
  create,
  type KeyCodec,
  type ReadHandle,
  WaitTimeoutError,
} from "@x/flashmap";
import {
  type KvAtomic,
  type KvCheck,
  type KvKey,
  type KvLike,
  type KvListSelector,
  type KvMirror,
  kvWrite,
  mirrorKv,
} from "@x/flashmap/kv";
import type { Report, Start } from "./fixtures/kv_reader.ts";

const PREFIX = ["scale"];
const WRITER = new URL("./fixtures/kv_writer.ts", import.meta.url);
const READER = new URL("./fixtures/kv_reader.ts", import.meta.url);

/** A temporary directory with a KV file in it, removed afterwards. */
async function withStore(
  fn: (path: string, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "flashmap_kv_" });
  try {
    await fn(`${dir}/kv.sqlite`, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Starts `kv_writer.ts` in a process of its own. */
function startWriter(
  path: string,
  dir: string,
  name: string,
  batches: number,
  keys: number,
  retentionMs = 600_000,
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--unstable-kv",
      `--allow-read=${dir}`,
      `--allow-write=${dir}`,
      WRITER.href,
      path,
      name,
      String(batches),
      String(keys),
      String(retentionMs),
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Waits for a writer to end, and fails with its stderr if it failed. */
async function finished(child: Deno.ChildProcess): Promise<string> {
  const output = await child.output();
  const stdout = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(
      `The writer failed (${output.code}): ${
        new TextDecoder().decode(output.stderr)
      }`,
    );
  }
  return stdout;
}

/** Kills a child if it still runs, and waits for it. */
async function stopChild(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch {
    // already gone
  }
  await child.output().catch(() => {});
}

/** Sorted `[key, value]` pairs of the data under a prefix, as KV lists them. */
async function listed(
  kv: Deno.Kv,
  prefix: KvKey = PREFIX,
): Promise<[unknown, unknown][]> {
  const entries: [unknown, unknown][] = [];
  for await (const entry of kv.list({ prefix: prefix as Deno.KvKey })) {
    entries.push([entry.key[prefix.length], entry.value]);
  }
  return entries.sort(byKey);
}

/** Sorted `[key, value]` pairs of a map's latest version. */
function mapped<K, V>(read: ReadHandle<K, V>): [K, V][] {
  using view = read.guard();
  return [...view].sort(byKey);
}

function byKey(a: [unknown, unknown], b: [unknown, unknown]): number {
  const x = String(a[0]);
  const y = String(b[0]);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The batches in the log of `["scale"]`, in key order: `{ sequence, ops }`. */
async function logged(
  kv: Deno.Kv,
): Promise<{ sequence: number; ops: unknown[][] }[]> {
  const batches: { sequence: number; ops: unknown[][] }[] = [];
  for await (
    const entry of kv.list<{ ops: unknown[][] }>({
      prefix: ["__flashmap", ...PREFIX, "log"],
    })
  ) {
    const sequence = entry.key[entry.key.length - 2] as number;
    if (batches.at(-1)?.sequence !== sequence) {
      batches.push({ sequence, ops: [] });
    }
    batches.at(-1)!.ops.push(...entry.value.ops);
  }
  return batches;
}

async function sequenceOf(kv: Deno.Kv): Promise<number> {
  return (await kv.get<number>(["__flashmap", ...PREFIX, "seq"])).value ?? 0;
}

/** A worker running `kv_reader.ts` on a mirror's token. */
class Reader {
  readonly #worker = new Worker(READER, { type: "module" });
  #next: ((data: unknown) => void) | undefined;

  constructor() {
    this.#worker.onmessage = (event) => this.#next?.(event.data);
  }

  #ask(message: unknown): Promise<unknown> {
    return new Promise((resolve) => {
      this.#next = resolve;
      this.#worker.postMessage(message);
    });
  }

  async start(start: Start): Promise<void> {
    assertEquals(await this.#ask(start), { kind: "ready" });
  }

  async stop(): Promise<Report> {
    return await this.#ask("stop") as Report;
  }

  terminate(): void {
    this.#worker.terminate();
  }
}

/** Checks that every writer's keys agree with its count (no partial batch). */
function assertWholeBatches(
  entries: [unknown, unknown][],
  writers: string[],
  keys: number,
): Record<string, number> {
  const data = new Map(entries);
  const counts: Record<string, number> = {};
  for (const writer of writers) {
    const count = (data.get(`${writer}:count`) as number | undefined) ?? 0;
    for (let j = 0; j < keys; j++) {
      assertEquals(data.get(`${writer}:k${j}`) ?? 0, count, `${writer}:k${j}`);
    }
    assertEquals(
      data.get(`${writer}:toggle`),
      count > 0 && count % 2 === 0 ? count : undefined,
      `${writer}:toggle`,
    );
    counts[writer] = count;
  }
  return counts;
}

/** The counts each writer's batches carry in the log, in log order. */
function countsInLog(
  batches: { sequence: number; ops: unknown[][] }[],
  writer: string,
): number[] {
  const counts: number[] = [];
  for (const batch of batches) {
    for (const op of batch.ops) {
      if (op[0] === `${writer}:count`) counts.push(op[1] as number);
    }
  }
  return counts;
}

Deno.test({
  name:
    "kvWrite() from two processes, mirrorKv() here: no batch lost or reordered, workers read through tokens",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withStore(async (path, dir) => {
      const BATCHES = 250;
      const KEYS = 6;
      const writers = ["left", "right"];
      const kv = await Deno.openKv(path);
      let mirror: KvMirror<string, number> | undefined;
      const reader = new Reader();
      const children: Deno.ChildProcess[] = [];
      try {
        mirror = await mirrorKv(kv, PREFIX, {
          key: codecs.string,
          value: codecs.int32,
          pollMs: 2,
          rescanMs: 0,
        });
        await reader.start({ token: mirror.read.share(), writers, keys: KEYS });
        for (const name of writers) {
          children.push(startWriter(path, dir, name, BATCHES, KEYS));
        }
        // The mirror's sequence, as seen here while the writers run, never goes back.
        const seen: number[] = [];
        const outputs = Promise.all(children.map(finished));
        let running = true;
        outputs.finally(() => running = false).catch(() => {});
        for (let i = 0; i < 10_000 && running; i++) {
          seen.push(mirror.status().sequence);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        for (const line of await outputs) assert(line.includes('"batches"'));

        const final = await sequenceOf(kv);
        assertEquals(final, 2 * BATCHES, "one sequence number per batch");
        await mirror.waitFor(final, { timeoutMs: 20_000 });
        for (let i = 1; i < seen.length; i++) {
          assertGreaterOrEqual(seen[i], seen[i - 1]);
        }

        // Nothing lost, nothing reordered: the log holds every batch of
        // each writer once, in the order the writer committed them.
        const batches = await logged(kv);
        assertEquals(
          batches.map((batch) => batch.sequence),
          Array.from({ length: final }, (_, i) => i + 1),
        );
        const expected = Array.from({ length: BATCHES }, (_, i) => i + 1);
        for (const writer of writers) {
          assertEquals(countsInLog(batches, writer), expected);
        }

        // The final map equals kv.list, and holds whole batches.
        const entries = await listed(kv);
        assertEquals(mapped(mirror.read), entries);
        assertEquals(assertWholeBatches(entries, writers, KEYS), {
          left: BATCHES,
          right: BATCHES,
        });

        // The worker saw only whole batches, counts never going back.
        const report = await reader.stop();
        assertEquals(report.violations, []);
        assertEquals(report.counts, { left: BATCHES, right: BATCHES });
        assertGreaterOrEqual(report.versions, 2);
        const status = mirror.status();
        assertEquals(status.sequence, final);
        assertEquals(status.resyncs, 0);
        // The only errors allowed: SQLite's lock, more times in a row than
        // a read retries it (the next check then catches up).
        assert(
          status.lastError === undefined ||
            status.lastError.message.includes("database is locked"),
          String(status.lastError),
        );
        assertGreaterOrEqual(status.batches, 1);
      } finally {
        reader.terminate();
        for (const child of children) await stopChild(child);
        await mirror?.close();
        kv.close();
      }
    });
  },
});

Deno.test({
  name:
    "kvWrite() in a process killed by SIGKILL in its loop leaves no partial batch",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withStore(async (path, dir) => {
      const KEYS = 20;
      const kv = await Deno.openKv(path);
      let mirror: KvMirror<string, number> | undefined;
      const children: Deno.ChildProcess[] = [];
      try {
        mirror = await mirrorKv(kv, PREFIX, {
          key: codecs.string,
          value: codecs.int32,
          pollMs: 2,
          rescanMs: 0,
        });
        // A steady writer keeps the file's lock contended meanwhile.
        const steady = startWriter(path, dir, "steady", 0, 2);
        children.push(steady);
        const victims: string[] = [];
        for (let round = 0; round < 3; round++) {
          const name = `victim${round}`;
          victims.push(name);
          const victim = startWriter(path, dir, name, 0, KEYS);
          children.push(victim);
          const goal = 10 + 7 * round;
          let count = 0;
          for (let i = 0; i < 3_000 && count < goal; i++) {
            await new Promise((resolve) => setTimeout(resolve, 5));
            count =
              (await kv.get<number>([...PREFIX, `${name}:count`])).value ?? 0;
          }
          assertGreaterOrEqual(count, goal, `${name} committed batches`);
          victim.kill("SIGKILL");
          const status = await victim.status;
          assertEquals(status.signal, "SIGKILL");
        }
        await stopChild(steady);

        const entries = await listed(kv);
        const counts = assertWholeBatches(entries, [...victims, "steady"], 0);
        assertWholeBatches(entries, victims, KEYS);
        const batches = await logged(kv);
        assertEquals(
          batches.map((batch) => batch.sequence),
          Array.from({ length: await sequenceOf(kv) }, (_, i) => i + 1),
        );
        for (const name of victims) {
          // Every batch that committed is logged whole, in order.
          assertEquals(
            countsInLog(batches, name),
            Array.from({ length: counts[name] }, (_, i) => i + 1),
          );
          for (const batch of batches) {
            const ops = batch.ops.filter((op) =>
              String(op[0]).startsWith(`${name}:`)
            );
            if (ops.length > 0) assertEquals(ops.length, KEYS + 2);
          }
        }
        await mirror.waitFor(await sequenceOf(kv), { timeoutMs: 20_000 });
        assertEquals(mapped(mirror.read), entries);
      } finally {
        for (const child of children) await stopChild(child);
        await mirror?.close();
        kv.close();
      }
    });
  },
});

Deno.test("mirrorKv() lists the prefix again when the log it needs has expired", async () => {
  await withStore(async (path) => {
    const kv = await Deno.openKv(path);
    const mirror = await mirrorKv(kv, PREFIX, {
      value: codecs.int32,
      watch: false,
      pollMs: 3_600_000, // only refresh() checks
      rescanMs: 0,
    });
    try {
      await kvWrite(kv, PREFIX, (batch) => batch.set("kept", 1).set("gone", 1));
      await mirror.refresh();
      assertEquals(mirror.read.get("gone"), 1);
      for (let i = 2; i <= 6; i++) {
        await kvWrite(kv, PREFIX, (batch) => {
          batch.set("kept", i).set(`new${i}`, i).delete("gone");
        }, { retentionMs: 1 });
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
      // Opening the file sweeps out expired keys at once (a running store
      // sweeps every 60 s).
      (await Deno.openKv(path)).close();
      assertEquals(await logged(kv), [
        { sequence: 1, ops: [["kept", 1], ["gone", 1]] },
      ]);
      const status = await mirror.refresh();
      assertEquals(status.resyncs, 1);
      assertEquals(status.sequence, 6);
      assertEquals(mapped(mirror.read), await listed(kv));
      assertEquals(mirror.read.get("kept"), 6);
      assertEquals(mirror.read.has("gone"), false);
      assertEquals(status.errors, 0);
    } finally {
      await mirror.close();
      kv.close();
    }
  });
});

Deno.test("mirrorKv() lists the prefix again when the sequence goes back (a restored store)", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await kvWrite(kv, PREFIX, (batch) => batch.set("a", "1").set("b", "2"));
    await kvWrite(kv, PREFIX, (batch) => batch.set("c", "3"));
    await using mirror = await mirrorKv(kv, PREFIX, {
      watch: false,
      pollMs: 3_600_000,
      rescanMs: 0,
    });
    assertEquals(mirror.status().sequence, 2);
    // "Restore" an older state: sequence 1, without "c".
    await kv.delete([...PREFIX, "c"]);
    await kv.set(["__flashmap", ...PREFIX, "seq"], 1);
    const before = mirror.read.version;
    const status = await mirror.refresh();
    assertEquals(status.sequence, 1);
    assertEquals(status.resyncs, 1);
    assertEquals(mapped(mirror.read), [["a", "1"], ["b", "2"]]);
    assert(mirror.read.version > before, "versions only go forward");
  } finally {
    kv.close();
  }
});

Deno.test("mirrorKv() picks up plain kv.set and kv.delete with rescanMs and rescan()", async () => {
  await withStore(async (path) => {
    const kv = await Deno.openKv(path);
    await kv.set([...PREFIX, "old"], "1");
    const mirror = await mirrorKv(kv, PREFIX, {
      watch: false,
      pollMs: 5,
      rescanMs: 50,
    });
    try {
      assertEquals(mapped(mirror.read), [["old", "1"]]);
      const version = mirror.read.version;
      await kv.set([...PREFIX, "plain"], "2");
      await kv.delete([...PREFIX, "old"]);
      let seen = version;
      for (let i = 0; i < 100 && mirror.read.has("old"); i++) {
        seen = await mirror.read.changed(seen, { timeoutMs: 10_000 });
      }
      assertEquals(mapped(mirror.read), [["plain", "2"]]);
      assertGreaterOrEqual(mirror.status().resyncs, 1);

      // A rescan publishes only when something changed. (A rescan that
      // rescanMs made due may run just before the one asked for.)
      const before = mirror.status();
      const after = await mirror.rescan();
      assertEquals(after.version, before.version);
      assertGreaterOrEqual(after.resyncs, before.resyncs + 1);
    } finally {
      await mirror.close();
      kv.close();
    }
  });
});

Deno.test("mirrorKv() follows kvWrite() through kv.watch in the same process", async () => {
  await withStore(async (path) => {
    const kv = await Deno.openKv(path);
    const mirror = await mirrorKv(kv, PREFIX, {
      value: codecs.int32,
      pollMs: 3_600_000, // no polling: only the watch wakes it
      rescanMs: 0,
    });
    try {
      for (let i = 0; i < 50 && !mirror.status().watching; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert(mirror.status().watching);
      for (let i = 1; i <= 3; i++) {
        const version = mirror.read.version;
        await kvWrite(kv, PREFIX, (batch) => batch.set("n", i));
        await mirror.read.changed(version, { timeoutMs: 10_000 });
        assertEquals(mirror.read.get("n"), i);
      }
      const status = mirror.status();
      assertEquals(status.sequence, 3);
      assertGreaterOrEqual(status.batches, 1);
      assert(status.commitLagMs !== undefined);
    } finally {
      await mirror.close();
      kv.close();
    }
  });
});

Deno.test("kvWrite() and mirrorKv() map KV key parts to every key codec", async () => {
  const kv = await Deno.openKv(":memory:");
  const date: KeyCodec<Date> = {
    name: "test.date",
    canonical: true,
    encode: (value) => codecs.number.encode(value.getTime()),
    decode: (bytes) => new Date(codecs.number.decode(bytes)),
  };
  // deno-lint-ignore no-explicit-any
  const cases: [KeyCodec<any>, unknown[], unknown][] = [
    [codecs.string, ["a", ""], "a"],
    [codecs.number, [1.5, -0, NaN, Infinity], 1.5],
    [codecs.int32, [-(2 ** 31), 7], 7],
    [codecs.bigint, [2n ** 63n - 1n, -5n], -5n],
    [codecs.boolean, [true, false], true],
    [
      codecs.bytes,
      [new Uint8Array([1, 2]), new Uint8Array()],
      new Uint8Array(),
    ],
    [date, [new Date(0), new Date(86_400_000)], new Date(0)],
  ];
  try {
    for (const [codec, keys, removed] of cases) {
      const prefix = ["codec", codec.name];
      await kvWrite(kv, prefix, (batch) => {
        for (const key of keys) batch.set(key, String(key));
      }, { key: codec });
      await using mirror = await mirrorKv(kv, prefix, {
        key: codec,
        watch: false,
        rescanMs: 0,
      });
      assertEquals(mirror.read.size, keys.length, codec.name);
      for (const key of keys) {
        assertEquals(mirror.read.get(key), String(key), codec.name);
      }
      const { sequence } = await kvWrite(kv, prefix, (batch) => {
        batch.delete(removed);
      }, { key: codec });
      await mirror.waitFor(sequence, { timeoutMs: 10_000 });
      assertEquals(mirror.read.has(removed), false, codec.name);
      assertEquals(mirror.read.size, keys.length - 1, codec.name);
    }
    // -0 is written as 0 for the number codec, which holds them as one key.
    assertEquals(
      (await kv.get(["codec", "number", 0])).value,
      "0",
    );
    // A custom codec's keys are its bytes.
    assertEquals(
      (await kv.get(["codec", "test.date", date.encode(new Date(86_400_000))]))
        .value,
      String(new Date(86_400_000)),
    );
    // Bigint values may be KvU64 in KV.
    await kv.set(["u64", "hits"], new Deno.KvU64(42n));
    await using counters = await mirrorKv(kv, ["u64"], {
      value: codecs.bigint,
      watch: false,
    });
    assertEquals(counters.read.get("hits"), 42n);
  } finally {
    kv.close();
  }
});

Deno.test("kvWrite() refuses keys, values, prefixes, options and batches it cannot write", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await assertRejects(
      () =>
        kvWrite(kv, PREFIX, (batch) => batch.set(1.5, 1), {
          key: codecs.int32,
        }),
      RangeError,
      "Cannot add to the batch: key must be an integer from -2147483648 to 2147483647",
    );
    await assertRejects(
      () =>
        kvWrite(kv, PREFIX, (batch) => batch.set(2n ** 64n, 1), {
          key: codecs.bigint,
        }),
      RangeError,
      "Cannot add to the batch: key must be a bigint from -2^63",
    );
    await assertRejects(
      () =>
        kvWrite(kv, PREFIX, (batch) => batch.set(5 as unknown as string, "x"), {
          key: codecs.string,
        }),
      TypeError,
      'Cannot add to the batch: key must be a string for the key codec "string", got number 5',
    );
    await assertRejects(
      () => kvWrite(kv, PREFIX, (batch) => batch.set(Symbol("s"), "x")),
      TypeError,
      "Cannot add to the batch: key must be a string, number, bigint, boolean or Uint8Array",
    );
    await assertRejects(
      () =>
        kvWrite(kv, PREFIX, (batch) => batch.set("a", 1.5), {
          value: codecs.int32,
        }),
      RangeError,
      'Cannot add to the batch: the value codec "int32" refuses the value of key ["a"]',
    );
    await assertRejects(
      () => kvWrite(kv, [], (batch) => batch.set("a", 1)),
      RangeError,
      "Cannot write the batch: the prefix must have at least one part",
    );
    await assertRejects(
      () => kvWrite(kv, ["__flashmap"], (batch) => batch.set("a", 1)),
      RangeError,
      'must not start with "__flashmap"',
    );
    await assertRejects(
      () =>
        kvWrite(kv, "flags" as unknown as KvKey, (batch) => batch.set("a", 1)),
      TypeError,
      "Cannot write the batch: the prefix must be an array of KV key parts",
    );
    await assertRejects(
      () =>
        kvWrite(kv, PREFIX, (batch) => batch.set("a", 1), { retentionMs: 0 }),
      RangeError,
      "Cannot write the batch: retentionMs must be an integer of at least 1, got 0",
    );
    await assertRejects(
      () =>
        kvWrite(kv, PREFIX, (batch) => {
          for (let i = 0; i < 1000; i++) batch.set(i, i);
        }),
      RangeError,
      "Cannot write the batch: it needs 1003 mutations",
    );
    await assertRejects(
      () =>
        kvWrite(kv, PREFIX, (batch) => {
          for (let i = 0; i < 20; i++) batch.set(i, "x".repeat(60_000));
        }),
      RangeError,
      "Cannot write the batch: it does not fit one KV transaction",
    );
    // A callback that throws writes nothing; a kept batch refuses late calls.
    let kept: { set(key: string, value: number): unknown } | undefined;
    await assertRejects(
      () =>
        kvWrite(kv, PREFIX, (batch) => {
          batch.set("a", 1);
          throw new Error("changed my mind");
        }),
      Error,
      "changed my mind",
    );
    await kvWrite(kv, PREFIX, (batch) => {
      kept = batch;
    });
    assertThrows(
      () => kept!.set("late", 1),
      TypeError,
      "Cannot add to the batch: the kvWrite callback has returned",
    );
    assertEquals(await listed(kv), []);
    assertEquals(await sequenceOf(kv), 0);
    // An empty batch writes nothing and returns the current sequence.
    assertEquals(await kvWrite(kv, PREFIX, () => {}), {
      sequence: 0,
      versionstamp: null,
      attempts: 0,
      operations: 0,
    });
    // The last operation on a key wins.
    const result = await kvWrite(kv, PREFIX, (batch) => {
      batch.set("a", 1).delete("a").set("b", 1).set("b", 2).set("c", 3);
      batch.delete("c");
    });
    assertEquals(result.operations, 3);
    assertEquals(await listed(kv), [["b", 2]]);
    assertEquals((await logged(kv))[0].ops, [["a"], ["b", 2], ["c"]]);
  } finally {
    kv.close();
  }
});

Deno.test("mirrorKv() refuses keys and values it cannot map, or skips them with skipUnmappable", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await kv.set([...PREFIX, "ok"], 1);
    await kv.set([...PREFIX, 42], 2);
    await assertRejects(
      () => mirrorKv(kv, PREFIX, { value: codecs.int32, watch: false }),
      TypeError,
      'Cannot mirror key ["scale", 42]: its last part must be a string for the key codec "string", got number 42',
    );
    await kv.delete([...PREFIX, 42]);
    await kv.set([...PREFIX, "deep", "er"], 3);
    await assertRejects(
      () => mirrorKv(kv, PREFIX, { value: codecs.int32, watch: false }),
      TypeError,
      'Cannot mirror key ["scale", "deep", "er"]: it is 2 parts below the prefix ["scale"]',
    );
    await kv.set([...PREFIX, "text"], "not a number");
    const errors: Error[] = [];
    await using quiet = await mirrorKv(kv, PREFIX, {
      value: codecs.int32,
      watch: false,
      skipUnmappable: true,
      rescanMs: 0,
    });
    assertEquals(mapped(quiet.read), [["ok", 1]]);
    assertEquals(quiet.status().skipped, 2);
    assertEquals(quiet.status().lastError, undefined);

    await kv.delete([...PREFIX, "deep", "er"]);
    await kv.delete([...PREFIX, "text"]);
    await using loud = await mirrorKv(kv, PREFIX, {
      value: codecs.int32,
      watch: false,
      rescanMs: 0,
      onError: (error) => errors.push(error),
    });
    // Once running, what cannot be mapped is left out and reported.
    const { sequence } = await kvWrite(kv, PREFIX, (batch) => {
      batch.set("bad", "x").set("good", 5);
    });
    await loud.waitFor(sequence, { timeoutMs: 10_000 });
    assertEquals(mapped(loud.read), [["good", 5], ["ok", 1]]);
    const status = loud.status();
    assertEquals(status.skipped, 1);
    assertInstanceOf(status.lastError, TypeError);
    assert(
      status.lastError.message.startsWith(
        'Cannot mirror key ["scale", "bad"]: the value codec "int32" refuses its value',
      ),
      status.lastError.message,
    );
    assertEquals(errors, [status.lastError]);
    assertEquals(status.consecutiveErrors, 0);

    await assertRejects(
      () => mirrorKv(kv, PREFIX, { pollMs: 0 }),
      RangeError,
      "Cannot mirror the prefix: pollMs must be at least 1, got 0",
    );
    await assertRejects(
      () =>
        mirrorKv(kv, PREFIX, {
          key: codecs.json() as unknown as KeyCodec<unknown>,
        }),
      TypeError,
      "is not canonical",
    );
  } finally {
    kv.close();
  }
});

/** A KV that fails on demand, around a real one. */
class FlakyKv implements KvLike {
  /** While true, every read fails. */
  down = false;
  /** Commits that fail with "database is locked" before reaching KV. */
  lockedCommits = 0;
  /** Commits that go through, then fail with "database is locked" anyway. */
  lostAnswers = 0;
  commits = 0;
  readonly #kv: Deno.Kv;

  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  get(key: KvKey) {
    if (this.down) return Promise.reject(new Error("connection refused"));
    return this.#kv.get(key as Deno.KvKey);
  }

  list(selector: KvListSelector, options?: { batchSize?: number }) {
    if (this.down) {
      return (async function* () {
        yield* [];
        throw new Error("connection refused");
      })();
    }
    return this.#kv.list(selector as Deno.KvListSelector, options);
  }

  atomic(): KvAtomic {
    const real = this.#kv.atomic();
    // deno-lint-ignore no-this-alias
    const flaky = this;
    const atomic: KvAtomic = {
      check(...checks: KvCheck[]) {
        real.check(...(checks as Deno.AtomicCheck[]));
        return atomic;
      },
      set(key: KvKey, value: unknown, options?: { expireIn?: number }) {
        real.set(key as Deno.KvKey, value, options);
        return atomic;
      },
      delete(key: KvKey) {
        real.delete(key as Deno.KvKey);
        return atomic;
      },
      async commit() {
        flaky.commits++;
        if (flaky.lockedCommits > 0) {
          flaky.lockedCommits--;
          throw new TypeError("database is locked");
        }
        const result = await real.commit();
        if (flaky.lostAnswers > 0) {
          flaky.lostAnswers--;
          throw new TypeError("database is locked");
        }
        return result;
      },
    };
    return atomic;
  }
}

Deno.test("kvWrite() retries on database is locked, and writes a batch once when an answer is lost", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const flaky = new FlakyKv(kv);
    flaky.lockedCommits = 2;
    const first = await kvWrite(flaky, PREFIX, (batch) => batch.set("a", 1));
    assertEquals(first.attempts, 3);
    assertEquals(first.sequence, 1);

    flaky.lostAnswers = 1;
    const second = await kvWrite(flaky, PREFIX, (batch) => batch.set("b", 2));
    assertEquals(second.sequence, 2, "found its own commit through the marker");
    assertEquals(second.attempts, 2);
    assertEquals(await sequenceOf(kv), 2);
    assertEquals((await logged(kv)).map((batch) => batch.sequence), [1, 2]);

    flaky.lockedCommits = 1_000_000;
    await assertRejects(
      () =>
        kvWrite(flaky, PREFIX, (batch) => batch.set("c", 3), { timeoutMs: 30 }),
      Error,
      "Cannot write the batch: gave up after",
    );
    const controller = new AbortController();
    controller.abort(new Error("stop now"));
    await assertRejects(
      () =>
        kvWrite(flaky, PREFIX, (batch) => batch.set("c", 3), {
          signal: controller.signal,
        }),
      Error,
      "stop now",
    );
    assertEquals(await sequenceOf(kv), 2);
  } finally {
    kv.close();
  }
});

Deno.test("mirrorKv() keeps serving the last good map while KV fails, backs off, and reports it", async () => {
  const kv = await Deno.openKv(":memory:");
  const flaky = new FlakyKv(kv);
  await kvWrite(kv, PREFIX, (batch) => batch.set("a", "1"));
  const mirror = await mirrorKv(flaky, PREFIX, {
    pollMs: 5,
    maxBackoffMs: 40,
    rescanMs: 0,
  });
  try {
    flaky.down = true;
    await kvWrite(kv, PREFIX, (batch) => batch.set("a", "2"));
    await assertRejects(() => mirror.refresh(), Error, "connection refused");
    const firstFailure = performance.now();
    for (let i = 0; i < 500 && mirror.status().consecutiveErrors < 5; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const failing = mirror.status();
    assertGreaterOrEqual(failing.consecutiveErrors, 5);
    assertEquals(failing.lastError?.message, "connection refused");
    assertEquals(mirror.read.get("a"), "1"); // the last good map
    // Backing off: after failure n the loop waits at least half of
    // min(maxBackoffMs, pollMs * 2^n), so failures 2 to 5 came no sooner
    // than 5 + 10 + 20 + 20 ms after the first (checking every pollMs, it
    // would be 20 ms). A lower bound: a slow machine only adds to it.
    const elapsed = performance.now() - firstFailure;
    assertGreaterOrEqual(elapsed, 50, `${elapsed} ms for 4 failures`);

    flaky.down = false;
    const recovered = await mirror.refresh();
    assertEquals(recovered.consecutiveErrors, 0);
    assertEquals(recovered.sequence, 2);
    assertEquals(mirror.read.get("a"), "2");
    assertEquals(recovered.lastError?.message, "connection refused");
  } finally {
    await mirror.close();
    kv.close();
  }
});

Deno.test("mirrorKv() with into mirrors into a map it does not own", async () => {
  const kv = await Deno.openKv(":memory:");
  const [write, read] = create({ key: codecs.string, value: codecs.number });
  try {
    write.update((guard) => guard.set("stale", 1));
    await kvWrite(kv, PREFIX, (batch) => batch.set("x", 1.5));
    const mirror = await mirrorKv(kv, PREFIX, {
      into: { read, write },
      watch: false,
    });
    assertEquals(mapped(read), [["x", 1.5]]); // the listing replaced "stale"
    assertEquals(mirror.read, read);
    const { sequence } = await kvWrite(
      kv,
      PREFIX,
      (batch) => batch.set("y", 2),
    );
    await mirror.waitFor(sequence, { timeoutMs: 10_000 });
    assertEquals(read.get("y"), 2);
    await mirror.close();
    assertEquals(write.closed, false);
    assertEquals(read.closed, false);

    await assertRejects(
      () =>
        mirrorKv(kv, PREFIX, {
          into: { read, write },
          key: codecs.int32 as unknown as KeyCodec<string>,
        }),
      TypeError,
      'Cannot mirror the prefix: the map\'s key codec is "string", but the key option is "int32"',
    );
    const date: Codec<Date> = {
      name: "test.date-value",
      canonical: true,
      encode: (value) => codecs.number.encode(value.getTime()),
      decode: (bytes) => new Date(codecs.number.decode(bytes)),
    };
    const [write2, read2] = create({ value: date });
    await assertRejects(
      () => mirrorKv(kv, PREFIX, { into: { read: read2, write: write2 } }),
      TypeError,
      'the map\'s value codec "test.date-value" is not built in: pass it as the value option',
    );
    write2.close();
    read2.close();
  } finally {
    write.close();
    read.close();
    kv.close();
  }
});

Deno.test("kvWrite() splits a large batch's log entry into chunks the mirror reads back", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await using mirror = await mirrorKv(kv, PREFIX, {
      watch: false,
      rescanMs: 0,
    });
    const { sequence } = await kvWrite(kv, PREFIX, (batch) => {
      for (let i = 0; i < 12; i++) batch.set(`big${i}`, "é".repeat(30_000));
      batch.set("wide", "\u4e00".repeat(20_000)); // two bytes per character
    });
    let chunks = 0;
    for await (
      const _ of kv.list({ prefix: ["__flashmap", ...PREFIX, "log"] })
    ) {
      chunks++;
    }
    assertGreaterOrEqual(chunks, 7);
    await mirror.waitFor(sequence, { timeoutMs: 10_000 });
    assertEquals(mapped(mirror.read), await listed(kv));
    assertEquals(mirror.status().resyncs, 0);
  } finally {
    kv.close();
  }
});

Deno.test("KvMirror.waitFor() times out, aborts, and rejects once the mirror is closed", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const mirror = await mirrorKv(kv, PREFIX, { watch: false, rescanMs: 0 });
    assertEquals(await mirror.waitFor(0), mirror.read.version);
    await assertRejects(
      () => mirror.waitFor(5, { timeoutMs: 20 }),
      WaitTimeoutError,
      "Cannot wait for sequence 5: the map still shows 0 after 20 ms",
    );
    const controller = new AbortController();
    const aborted = mirror.waitFor(5, { signal: controller.signal });
    controller.abort(new Error("no longer needed"));
    await assertRejects(() => aborted, Error, "no longer needed");
    await assertRejects(() => mirror.waitFor(-1), RangeError);
    const pending = mirror.waitFor(5);
    await mirror.close();
    await assertRejects(() => pending, TypeError, "the mirror was closed");
    await assertRejects(() => mirror.refresh(), TypeError, "it is closed");
    assertEquals(mirror.status().closed, true);
    assertEquals(mirror.read.closed, true);
  } finally {
    kv.close();
  }
});

/**
 * A KV around a real one whose `list()` of the data prefix runs `hook.run`
 * once, after it has read `hook.after` entries and before it reads more
 * (one per round trip, so that what the hook writes shows in the rest of
 * the listing), and then throws `hook.fail` if there is one (every
 * listing, with `hook.keep`). While `hideLog` is true,
 * the change log reads as empty (its entries expired).
 */
class HookedKv implements KvLike {
  hook:
    | { after: number; run: () => Promise<void>; fail?: Error; keep?: boolean }
    | undefined;
  hideLog = false;
  readonly #kv: Deno.Kv;

  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  get(key: KvKey) {
    return this.#kv.get(key as Deno.KvKey);
  }

  atomic(): KvAtomic {
    return this.#kv.atomic() as unknown as KvAtomic;
  }

  list(selector: KvListSelector, options?: { batchSize?: number }) {
    const kv = this.#kv;
    if (!("prefix" in selector)) {
      const hidden = this.hideLog;
      return (async function* () {
        if (!hidden) yield* kv.list(selector as Deno.KvListSelector, options);
      })();
    }
    const hook = this.hook;
    if (!hook?.keep) this.hook = undefined;
    if (hook === undefined) {
      return kv.list(selector as Deno.KvListSelector, options);
    }
    return (async function* () {
      const entries = kv.list(selector as Deno.KvListSelector, {
        batchSize: 1,
      });
      for (let yielded = 0;; yielded++) {
        if (yielded === hook.after) {
          await hook.run();
          if (hook.fail) throw hook.fail;
        }
        const next = await entries.next();
        if (next.done) return;
        yield next.value;
      }
    })();
  }
}

Deno.test("a resync keeps a plain kv.set that came after a batch committed during the listing", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await kvWrite(kv, PREFIX, (batch) => batch.set("a", "1"));
    const hooked = new HookedKv(kv);
    await using mirror = await mirrorKv(hooked, PREFIX, {
      watch: false,
      pollMs: 3_600_000,
      rescanMs: 0,
    });
    // While the mirror lists: a logged batch sets "a", then a plain
    // kv.set overwrites it. The listing sees the plain write, and the
    // batch, replayed from the log on top of it, must not undo it.
    hooked.hook = {
      after: 0,
      run: async () => {
        await kvWrite(kv, PREFIX, (batch) => batch.set("a", "2"));
        await kv.set([...PREFIX, "a"], "3");
      },
    };
    const status = await mirror.rescan();
    assertEquals(status.sequence, 2);
    assertEquals(mapped(mirror.read), await listed(kv));
    assertEquals(mirror.read.get("a"), "3");
  } finally {
    kv.close();
  }
});

Deno.test("a resync whose listing saw part of a batch the log no longer holds lists again", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await kvWrite(kv, PREFIX, (batch) => batch.set("a", "1").set("b", "1"));
    const hooked = new HookedKv(kv);
    await using mirror = await mirrorKv(hooked, PREFIX, {
      watch: false,
      pollMs: 3_600_000,
      rescanMs: 0,
    });
    // After the listing read "a", a batch sets both keys, and its log
    // entry is gone before the mirror can read it: the listing holds
    // "a" from before the batch and "b" from after it.
    hooked.hook = {
      after: 1,
      run: async () => {
        await kvWrite(kv, PREFIX, (batch) => batch.set("a", "2").set("b", "2"));
        hooked.hideLog = true;
      },
    };
    const status = await mirror.rescan();
    assertEquals(status.sequence, 2);
    assertEquals(mapped(mirror.read), [["a", "2"], ["b", "2"]]);
  } finally {
    kv.close();
  }
});

Deno.test("a resync gives up, changing nothing, when every listing meets a batch the log no longer holds", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await kvWrite(kv, PREFIX, (batch) => batch.set("a", "1").set("b", "1"));
    const hooked = new HookedKv(kv);
    await using mirror = await mirrorKv(hooked, PREFIX, {
      watch: false,
      pollMs: 3_600_000,
      rescanMs: 0,
    });
    const version = mirror.read.version;
    let n = 1;
    hooked.hideLog = true;
    hooked.hook = {
      after: 1,
      keep: true,
      run: async () => {
        n++;
        await kvWrite(
          kv,
          PREFIX,
          (batch) => batch.set("a", `${n}`).set("b", `${n}`),
        );
      },
    };
    await assertRejects(
      () => mirror.rescan(),
      Error,
      "3 listings in a row met batches",
    );
    assertEquals(n, 4, "three listings");
    assertEquals(mirror.read.version, version, "nothing published");
    assertEquals(mapped(mirror.read), [["a", "1"], ["b", "1"]]);
    assertEquals(mirror.status().sequence, 1);
    // Once the writes pause, the next check lists once more and catches up.
    hooked.hook = undefined;
    const status = await mirror.refresh();
    assertEquals(status.sequence, 4);
    assertEquals(mapped(mirror.read), [["a", "4"], ["b", "4"]]);
  } finally {
    kv.close();
  }
});

Deno.test("a listing retried after a lock error forgets what the failed try saw", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await kvWrite(kv, PREFIX, (batch) => batch.set("a", "1").set("b", "1"));
    const hooked = new HookedKv(kv);
    await using mirror = await mirrorKv(hooked, PREFIX, {
      watch: false,
      pollMs: 3_600_000,
      rescanMs: 0,
    });
    // The first try sees "a", which a plain kv.delete then removes, and
    // fails with SQLite's lock error; the retry lists "b" alone.
    hooked.hook = {
      after: 1,
      run: () => kv.delete([...PREFIX, "a"]),
      fail: new TypeError("database is locked"),
    };
    await mirror.rescan();
    assertEquals(mapped(mirror.read), [["b", "1"]]);
  } finally {
    kv.close();
  }
});

Deno.test("a value a custom codec refuses with a plain Error is left out, and the mirror goes on", async () => {
  const kv = await Deno.openKv(":memory:");
  const picky: Codec<string> = {
    name: "test.picky",
    canonical: true,
    encode: (value) => {
      if (value === "bad") throw new Error("picky refuses it");
      return codecs.string.encode(value);
    },
    decode: (bytes) => codecs.string.decode(bytes),
  };
  try {
    let calls = 0;
    await using mirror = await mirrorKv(kv, PREFIX, {
      value: picky,
      watch: false,
      pollMs: 3_600_000,
      rescanMs: 0,
      onError: () => {
        calls++;
        throw new Error("a failing onError must not stop the mirror");
      },
    });
    // Written without the codec, so kvWrite does not check the values.
    await kvWrite(kv, PREFIX, (batch) => batch.set("x", "bad").set("y", "ok"));
    const status = await mirror.refresh();
    assertEquals(status.sequence, 1);
    assertEquals(mapped(mirror.read), [["y", "ok"]]);
    assertEquals(status.skipped, 1);
    assertInstanceOf(status.lastError, TypeError);
    assert(
      status.lastError.message.includes("picky refuses it"),
      status.lastError.message,
    );
    assertEquals(calls, 1);
    // The next batch goes in: the mirror is not stuck on the refused one.
    await kvWrite(kv, PREFIX, (batch) => batch.set("z", "ok"));
    assertEquals((await mirror.refresh()).sequence, 2);
    assertEquals(mirror.read.get("z"), "ok");
  } finally {
    kv.close();
  }
});

Deno.test("waitFor(), kvWrite() and mirrorKv() refuse bad options with a TypeError or RangeError", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await using mirror = await mirrorKv(kv, PREFIX, {
      watch: false,
      rescanMs: 0,
    });
    await assertRejects(
      () => mirror.waitFor(5, { timeoutMs: -1 }),
      RangeError,
      "Cannot wait for sequence 5: timeoutMs must be",
    );
    await assertRejects(
      () => mirror.waitFor(5, { timeoutMs: Number.NaN }),
      RangeError,
      "timeoutMs must be",
    );
    await assertRejects(
      () => mirror.waitFor(5, { timeoutMs: "5" as never }),
      TypeError,
      "timeoutMs must be a number",
    );
    await assertRejects(
      () => mirror.waitFor(5, { signal: {} as never }),
      TypeError,
      "signal must be an AbortSignal",
    );
    await assertRejects(
      () => kvWrite(kv, PREFIX, (batch) => batch.set("a", 1), null as never),
      TypeError,
      "Cannot write the batch: options must be an object",
    );
    await assertRejects(
      () =>
        kvWrite(kv, PREFIX, (batch) => batch.set("a", 1), {
          signal: {} as never,
        }),
      TypeError,
      "Cannot write the batch: signal must be an AbortSignal",
    );
    await assertRejects(
      () => kvWrite({} as never, PREFIX, (batch) => batch.set("a", 1)),
      TypeError,
      "Cannot write the batch: kv must be a Deno.Kv",
    );
    await assertRejects(
      () => mirrorKv(kv, PREFIX, { watch: "no" as never }),
      TypeError,
      "Cannot mirror the prefix: watch must be a boolean",
    );
    assertEquals(await listed(kv), []);
    assertEquals(await sequenceOf(kv), 0);
  } finally {
    kv.close();
  }
});

Deno.test("close() while a resync is in flight waits for it, then closes the map", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await kvWrite(kv, PREFIX, (batch) => batch.set("a", "1"));
    const hooked = new HookedKv(kv);
    const mirror = await mirrorKv(hooked, PREFIX, {
      watch: false,
      pollMs: 3_600_000,
      rescanMs: 0,
    });
    let listing!: () => void;
    const listed = new Promise<void>((resolve) => listing = resolve);
    let resume!: () => void;
    const resumed = new Promise<void>((resolve) => resume = resolve);
    hooked.hook = {
      after: 0,
      run: async () => {
        listing();
        await resumed;
        await kvWrite(kv, PREFIX, (batch) => batch.set("a", "2"));
      },
    };
    const rescan = mirror.rescan();
    await listed; // the resync is under way, its guard open
    const waiting = mirror.waitFor(99);
    const closing = mirror.close();
    assert(mirror.closed);
    await assertRejects(() => mirror.refresh(), TypeError, "it is closed");
    assertEquals(mirror.read.closed, false, "not while the resync runs");
    resume();
    await closing;
    // The resync that was under way finished, and published, first.
    assertEquals((await rescan).sequence, 2);
    await assertRejects(() => waiting, TypeError, "the mirror was closed");
    assert(mirror.read.closed, "the map's handles are closed");
    assertEquals(mirror.status().closed, true);
  } finally {
    kv.close();
  }
});
