/**
 * The memory numbers of issue 11: the map's buffer bytes per entry with no
 * `capacity` hint, at 10^5, 3×10^5 and 10^6 entries.
 *
 * ```sh
 * deno run --allow-read=. bench/memory.ts
 * ```
 *
 * For each size, a new map (`create({ key, value: codecs.int32 })`, no
 * `capacity`) is filled with one write guard per 1000 inserts, each
 * published; no read guard is held. Then `read.share().buffer.byteLength`
 * (the bytes the growable `SharedArrayBuffer` has grown to) is divided by
 * the map's size:
 *
 * - int32 keys (distinct, drawn at random from [0, 2^30)) → int32 values:
 *   bytes per entry; target at most 48 on average over the three sizes, and
 *   at most 64 at each;
 * - 20-character string keys → int32 values: bytes per entry beyond the
 *   keys' UTF-16 bytes, `(byteLength - Σ 2 × key.length) / size`; target at
 *   most 56 on average.
 *
 * Also printed: `write.stats().bytesInUse` (the bytes that hold the map now)
 * per entry, the same after `write.synchronize()`, and, when the garbage
 * collector is exposed (`--v8-flags=--expose-gc`), what a `Map` replica of
 * the same entries adds to the JS heap per entry (keys not counted: they
 * already exist), as a reference.
 *
 * @module
 */

import { codecs, create, type KeyCodec } from "@x/flashmap";
import { FILL_BATCH, int32Keys, stringKeys } from "./read_path_data.ts";

const SIZES = [100_000, 300_000, 1_000_000];

/** One map measured at one size. */
interface Row {
  readonly size: number;
  /** `read.share().buffer.byteLength` after the last publish. */
  readonly byteLength: number;
  /** The keys' UTF-16 bytes (0 for int32 keys). */
  readonly keyBytes: number;
  /** Buffer bytes per entry, beyond the keys' UTF-16 bytes. */
  readonly perEntry: number;
  /** `stats().bytesInUse` per entry, beyond the keys, after the last publish. */
  readonly inUsePerEntry: number;
  /** `byteLength` per entry, beyond the keys, after `synchronize()`. */
  readonly syncedPerEntry: number;
  /** What a `Map` of the same entries adds to the heap, per entry (if measured). */
  readonly replicaPerEntry: number | undefined;
  readonly fillMs: number;
}

const gc = (globalThis as { gc?: () => void }).gc;

/** Heap bytes a `Map` of `keys[i] → i` adds, per entry; undefined without `gc`. */
function replica<K>(keys: ArrayLike<K>): number | undefined {
  if (gc === undefined) return undefined;
  gc();
  const before = Deno.memoryUsage().heapUsed;
  const map = new Map<K, number>();
  for (let i = 0; i < keys.length; i++) map.set(keys[i], i);
  gc();
  const after = Deno.memoryUsage().heapUsed;
  if (map.size !== keys.length) throw new Error("replica lost entries");
  return (after - before) / keys.length;
}

function measure<K>(
  key: KeyCodec<K>,
  keys: ArrayLike<K>,
  keyBytes: number,
): Row {
  const [write, read] = create({ key, value: codecs.int32 });
  const start = performance.now();
  for (let at = 0; at < keys.length; at += FILL_BATCH) {
    const guard = write.guard();
    for (
      let i = at, end = Math.min(at + FILL_BATCH, keys.length);
      i < end;
      i++
    ) {
      guard.insert(keys[i], i);
    }
    guard.publish();
  }
  const fillMs = performance.now() - start;
  const size = read.size;
  if (size !== keys.length) {
    throw new Error(`the map holds ${size} entries, not ${keys.length}`);
  }
  const byteLength = read.share().buffer.byteLength;
  const inUse = write.stats().bytesInUse;
  write.synchronize();
  const synced = read.share().buffer.byteLength;
  read.close();
  write.close();
  return {
    size,
    byteLength,
    keyBytes,
    perEntry: (byteLength - keyBytes) / size,
    inUsePerEntry: (inUse - keyBytes) / size,
    syncedPerEntry: (synced - keyBytes) / size,
    replicaPerEntry: replica(keys),
    fillMs,
  };
}

const pad = (text: string | number, width: number) =>
  String(text).padStart(width);
const MIB = 1024 * 1024;

function print(
  title: string,
  rows: readonly Row[],
  target: { average: number; each?: number },
): void {
  console.log(`\n${title}`);
  console.log(
    "| entries   | byteLength  | per entry | target | bytesInUse/entry | after synchronize | Map replica/entry | fill ms |",
  );
  console.log(
    "| --------: | ----------: | --------: | -----: | ---------------: | ----------------: | ----------------: | ------: |",
  );
  for (const row of rows) {
    console.log(
      `| ${pad(row.size.toLocaleString("en-US"), 9)} | ${
        pad(`${(row.byteLength / MIB).toFixed(1)} MiB`, 11)
      } | ${pad(row.perEntry.toFixed(1), 9)} | ${
        pad(target.each === undefined ? "-" : `<= ${target.each}`, 6)
      } | ${pad(row.inUsePerEntry.toFixed(1), 16)} | ${
        pad(row.syncedPerEntry.toFixed(1), 17)
      } | ${
        pad(
          row.replicaPerEntry === undefined
            ? "n/a"
            : row.replicaPerEntry.toFixed(1),
          17,
        )
      } | ${pad(row.fillMs.toFixed(0), 7)} |`,
    );
  }
  const average = rows.reduce((sum, row) => sum + row.perEntry, 0) /
    rows.length;
  const eachMet = target.each === undefined ||
    rows.every((row) => row.perEntry <= target.each!);
  console.log(
    `average over the sizes: ${
      average.toFixed(1)
    } bytes per entry (target <= ${target.average}): ${
      average <= target.average ? "met" : "NOT met"
    }${
      target.each === undefined
        ? ""
        : `; each <= ${target.each}: ${eachMet ? "met" : "NOT met"}`
    }`,
  );
}

console.log(
  `flashmap memory: buffer bytes per entry, no capacity hint, ${FILL_BATCH} inserts per published write guard, no read guard held (${navigator.hardwareConcurrency} CPUs, Deno ${Deno.version.deno})`,
);
if (gc === undefined) {
  console.log(
    "(Map replica column: run with --v8-flags=--expose-gc to measure it)",
  );
}

const int32Rows = SIZES.map((size) =>
  measure(codecs.int32, int32Keys(size), 0)
);
print("int32 → int32 (bytes per entry)", int32Rows, { average: 48, each: 64 });

const stringRows = SIZES.map((size) => {
  const keys = stringKeys(size);
  const keyBytes = keys.reduce((sum, key) => sum + 2 * key.length, 0);
  return measure(codecs.string, keys, keyBytes);
});
print(
  "20-character string keys → int32 (bytes per entry beyond the keys' 40 UTF-16 bytes)",
  stringRows,
  { average: 56 },
);
