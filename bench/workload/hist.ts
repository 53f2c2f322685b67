/**
 * A log-linear latency histogram in the spirit of HdrHistogram: 16
 * sub-buckets per power of two (about 6% resolution) from 1 ns to about 2 s,
 * in a Uint32Array that crosses postMessage cheaply and merges by addition.
 *
 * @module
 */

const SUB = 16;
const SUB_BITS = 4;
/** Buckets: values below 16 ns one each, then 16 per power of two up to 2^31 ns. */
export const BUCKETS = SUB + (31 - SUB_BITS) * SUB;

function bucketOf(ns: number): number {
  const v = ns >= 0x7fffffff ? 0x7fffffff : ns < 0 ? 0 : ns | 0;
  if (v < SUB) return v;
  const exponent = 31 - Math.clz32(v); // >= 4
  const mantissa = (v >>> (exponent - SUB_BITS)) & (SUB - 1);
  return SUB + (exponent - SUB_BITS) * SUB + mantissa;
}

/** The lowest value of a bucket, in ns. */
function bucketFloor(bucket: number): number {
  if (bucket < SUB) return bucket;
  const exponent = ((bucket - SUB) >>> SUB_BITS) + SUB_BITS;
  const mantissa = (bucket - SUB) & (SUB - 1);
  return (SUB + mantissa) * 2 ** (exponent - SUB_BITS);
}

/** Counts of durations in ns. */
export class Histogram {
  readonly counts: Uint32Array;
  total = 0;

  constructor(counts?: Uint32Array) {
    this.counts = counts ?? new Uint32Array(BUCKETS);
    for (const c of this.counts) this.total += c;
  }

  /** Records one duration given in milliseconds (what performance.now() returns). */
  recordMs(ms: number): void {
    this.counts[bucketOf(ms * 1e6)]++;
    this.total++;
  }

  /** Adds another histogram's counts. */
  merge(other: Histogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i] += other.counts[i];
    this.total += other.total;
  }

  /** The `q` quantile (0..1) in ns, as the middle of its bucket; NaN when empty. */
  quantile(q: number): number {
    if (this.total === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return (bucketFloor(i) + bucketFloor(i + 1)) / 2;
    }
    return bucketFloor(BUCKETS);
  }
}
