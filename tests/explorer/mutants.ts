/**
 * Mutants of the production protocol: src/protocol.ts with one deliberate
 * bug each, loaded as modules of their own. The explorer must catch every
 * one, which shows it checks the real protocol code, not a copy of it.
 *
 * @module
 */

import type { Protocol } from "./scenarios.ts";

/** A named bug: the exact text it replaces in src/protocol.ts, and the replacement. */
export interface Mutant {
  readonly name: string;
  readonly find: string;
  readonly replace: string;
}

export const MUTANTS: Mutant[] = [
  {
    name: "the writer skips the wait for residual readers",
    find: "if (residual === 0) break;",
    replace: "break;",
  },
  {
    name: 'the "last residual reader" test is off by one',
    find: "return before === 1;",
    replace: "return before === 2;",
  },
  {
    name: "publish never adds the residual guards",
    find: "memory.add(C_RESIDUAL, residual);",
    replace: "",
  },
  {
    name: "publish leaves the current copy of new handles alone",
    find: "memory.store(H_CURRENT_COPY, memory.load(H_CURRENT_COPY) ^ 1);",
    replace: "",
  },
  {
    name: "a leaving guard never reports itself residual",
    find: "const residual = (expected >>> 31) !== copy;",
    replace: "const residual = false;",
  },
  {
    name: "reclaiming a dead handle forgets its residual guards",
    find: "owed.departures += residualIn(word);",
    replace: "",
  },
  {
    name: "a departing guard forgets its handle's residual count",
    find: "expected - (residual ? RESIDUAL_ONE + 1 : 1);",
    replace: "expected - 1;",
  },
  {
    name: "reclaiming a handle leaves the slot's generation alone",
    find: "((generationOf(word) + 1) << GENERATION_SHIFT);",
    replace: "(generationOf(word) << GENERATION_SHIFT);",
  },
  {
    name: "a late leave ignores that its handle was reclaimed",
    find:
      "if (generationOf(expected) !== handle.generation) return RECLAIMED;\n    const residual",
    replace: "const residual",
  },
  {
    name: "a late enter ignores that its handle was reclaimed",
    find:
      "if (generationOf(expected) !== handle.generation) return RECLAIMED;\n    if ((expected",
    replace: "if ((expected",
  },
  {
    name: "a new handle in a reclaimed slot starts from generation 0",
    find: "const generation = generationOf(memory.load(base + S_REFCOUNT));",
    replace: "const generation = 0;",
  },
];

const SOURCE = new URL("../../src/protocol.ts", import.meta.url);

/** Loads src/protocol.ts with `mutant` applied (it must match exactly once). */
export async function loadMutant(mutant: Mutant): Promise<Protocol> {
  let source = await Deno.readTextFile(SOURCE);
  const at = source.indexOf(mutant.find);
  if (at < 0 || source.indexOf(mutant.find, at + 1) >= 0) {
    throw new Error(
      `mutant "${mutant.name}": its text must occur exactly once in src/protocol.ts`,
    );
  }
  source = source.slice(0, at) + mutant.replace +
    source.slice(at + mutant.find.length);
  // The copy lives at a data: URL, so its relative imports become absolute.
  source = source.replace(
    /from "\.\/([a-z_]+\.ts)"/g,
    (_, file) => `from "${new URL(file, SOURCE).href}"`,
  );
  const bytes = new TextEncoder().encode(source);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return await import(`data:application/typescript;base64,${btoa(binary)}`);
}
