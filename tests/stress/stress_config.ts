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
}

/** What a reader found. */
export interface StressReport {
  guards: number;
  held: number;
  churned: number;
  versions: number;
  problems: string[];
}

/** The value every key of group `group` holds in version `version`. */
export function expectedValue(version: number, group: number): number {
  return version * 1000 + group;
}
