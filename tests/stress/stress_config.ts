/** What a stress run is told, and what each reader reports. */

/** Settings of a stress run. */
export interface StressConfig {
  readers: number;
  seconds: number;
  maxPublishes: number;
  maxGuardsPerReader: number;
  groups: number;
  groupSize: number;
  /** Share of guards held across publishes. */
  holdShare: number;
  holdMs: number;
  /** Share of guards opened on a fresh clone that is closed right after. */
  churnShare: number;
  /** Extra keys inserted and removed per publish, so tables grow and memory is reused. */
  churnKeys: number;
  seed: number;
  /** The map's `maxCopies` option (default: the map's default). */
  maxCopies?: number;
  /** Guards held for long spans of publishes (none by default). */
  longHolds?: LongHolds;
}

/**
 * Guards held for long, measured in publishes, not time. A reader holds
 * such a guard while it goes on with its other guards (on the same
 * handle), checking it whole each time round, and releases it once the
 * writer has published `span` versions past it, `span` drawn from 1 to
 * `maxSpan`. A reader takes one of `tokens` shared tokens for each such
 * guard, so that at most `tokens` are held at once across all readers:
 * with one other guard per reader at a time, at most `readers + tokens`
 * versions are pinned at once.
 */
export interface LongHolds {
  /** Guards held for long at once, across all readers. */
  tokens: number;
  /** Chance, each time round, that a reader tries to take a token. */
  share: number;
  /** The longest span, in publishes. */
  maxSpan: number;
}

/**
 * Words of the shared control buffer: set by the writer to stop the
 * readers; the version the writer published last; tokens left for long
 * holds.
 */
export const CONTROL_STOP = 0;
export const CONTROL_VERSION = 1;
export const CONTROL_TOKENS = 2;
export const CONTROL_WORDS = 4;

/** What a reader found. */
export interface StressReport {
  guards: number;
  held: number;
  churned: number;
  versions: number;
  /** Guards held for long (see {@linkcode LongHolds}). */
  longHeld: number;
  /** The most publishes one guard held for long was held across. */
  longestSpan: number;
  /** Whole-guard checks of guards held for long. */
  longChecks: number;
  problems: string[];
}

/** The value every key of group `group` holds in version `version`. */
export function expectedValue(version: number, group: number): number {
  return version * 1000 + group;
}
